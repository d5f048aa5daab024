"""How the daemon's threads ask Linux's scheduler for their turn, so that a job that keeps every
core busy does not delay the answers to polling pages (bench/daemon_latency.py).

    ask_for_quick_turns(slice_us)      # the thread that answers requests, before it starts any other
    run_below_requests(nice, slice_ms) # the job worker, first thing

Two levers, both Linux only and both inherited by the threads and processes a thread starts:
- nice: the job worker (torch's CPU threads, a distributed run's ranks) gets a smaller share of
  the cores than the socket thread;
- the time slice (Linux 6.12 and newer; older kernels take the call and ignore it): a thread that
  wakes with a shorter slice than the one running preempts it at once, instead of waiting for the
  running thread's slice or the next scheduler tick (4 ms here). The socket thread and ZeroMQ's I/O
  threads ask for a short one; the job worker gives it back and asks for a long one.
Nothing here needs a privilege; anything refused leaves the thread as it was.
"""
from __future__ import annotations

import ctypes
import logging
import os
import platform
import struct
import sys
import threading

log = logging.getLogger(__name__)

# sched_setattr(2) has no wrapper in Python's os module; its number differs by architecture.
SCHED_SETATTR = {"x86_64": 314, "amd64": 314, "aarch64": 274, "arm64": 274}
SCHED_ATTR = struct.Struct("IIQiIQQQII")  # struct sched_attr, version 1 (56 bytes)
SCHED_OTHER = 0


def _setattr(nice: int, slice_ns: int) -> bool:
    """Set the calling thread's policy to SCHED_OTHER at `nice` with a slice of `slice_ns` (0: the
    kernel's default). False where the call is not available or refused."""
    number = SCHED_SETATTR.get(platform.machine().lower())
    if not sys.platform.startswith("linux") or number is None:
        return False
    attr = ctypes.create_string_buffer(SCHED_ATTR.pack(SCHED_ATTR.size, SCHED_OTHER, 0, nice, 0,
                                                       slice_ns, 0, 0, 0, 0))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(number, 0, attr, 0) != 0:
        log.debug("sched_setattr refused: %s", os.strerror(ctypes.get_errno()))
        return False
    return True


def _own_nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def ask_for_quick_turns(slice_us: float) -> bool:
    """A short slice for the calling thread and the threads it starts from now on (ZeroMQ's I/O
    threads among them); 0 keeps the kernel's default."""
    if slice_us <= 0 or not sys.platform.startswith("linux"):
        return False
    return _setattr(_own_nice(), int(slice_us * 1000))


def run_below_requests(nice_steps: int, slice_ms: float) -> None:
    """The job worker: `nice_steps` nice levels lower and a slice of `slice_ms` (0: the kernel's
    default, which also gives back a short slice inherited from the thread that started it)."""
    if not sys.platform.startswith("linux"):
        return  # elsewhere a thread's id would name the whole process
    nice = _own_nice()
    if nice_steps > 0:
        try:
            nice = min(19, nice + nice_steps)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except OSError as err:  # a sandbox that forbids it: the jobs run as before
            log.debug("could not lower the job worker's priority: %s", err)
            nice = _own_nice()
    _setattr(nice, int(max(0.0, slice_ms) * 1_000_000))
