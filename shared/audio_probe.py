"""Read one audio file's header safely: regular files only, on a worker thread with a timeout.

    info, why_not = probe_audio(path)        # (AudioInfo, "") or (None, "a named pipe, not a file")

A scan meets whatever lies in a folder: a named pipe called `x.wav` blocks forever when opened,
a file on a stalled network mount may never answer. So `file_problem` refuses anything but a
regular file before it is opened, and the header is read on a daemon worker thread that the
caller stops waiting for after `timeout` seconds (a stuck worker is abandoned, a new one started).
soundfile is imported lazily so `shared` stays light.
"""
from __future__ import annotations

import logging
import os
import queue
import stat
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path

from shared.wording import readable

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 10.0
_KINDS = {stat.S_IFIFO: "a named pipe", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a folder"}


@dataclass(frozen=True)
class AudioInfo:
    """What a header says: frames, rate, channels and the container format."""

    frames: int
    samplerate: int
    channels: int
    format: str


def file_problem(path: Path) -> str | None:
    """Why `path` must not be opened as audio (a broken link, not a regular file), or None."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            target = os.path.normpath(os.path.join(path.parent, os.readlink(path)))
            return f"a link to {readable(target)}, which does not exist"
        return "not found"
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    if stat.S_ISREG(mode):
        return None
    kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
    return f"{kind}, not a regular file; skipped without opening it"


def probe_audio(path: Path, timeout: float | None = None) -> tuple[AudioInfo | None, str]:
    """The header of the regular file at `path`, or (None, why not); never blocks past `timeout`
    seconds (PROBE_TIMEOUT_S by default)."""
    timeout = PROBE_TIMEOUT_S if timeout is None else timeout
    problem = file_problem(path)
    if problem:
        return None, problem
    try:
        return _PROBER.run(path, timeout), ""
    except FutureTimeout:
        return None, (f"no answer within {timeout:g} s (a file on a stalled network drive, or one "
                      "being written?); skipped")
    except _Unreadable as err:
        return None, str(err)


class _Unreadable(Exception):
    """The file was opened but is not audio this program reads; the message says why."""


def _read_header(path: Path) -> AudioInfo:
    import soundfile  # lazily: keeps `import shared.audio_probe` cheap

    try:  # opened here: the reason is then ours, and a name that is not UTF-8 works too
        handle = open(path, "rb")  # noqa: SIM115 (closed below, after soundfile is done)
    except PermissionError:
        raise _Unreadable("cannot be read: permission denied (check the file's permissions)") from None
    except OSError as err:
        raise _Unreadable(f"cannot be read ({err.strerror or err})") from None
    with handle:
        try:
            info = soundfile.info(handle)
        except (RuntimeError, OSError, ValueError) as err:  # LibsndfileError is a RuntimeError
            raise _Unreadable(_format_problem(path, err)) from None
    return AudioInfo(int(info.frames), int(info.samplerate), int(info.channels), str(info.format))


def _format_problem(path: Path, err: Exception) -> str:
    """A readable regular file libsndfile refused: the data is not what the name says."""
    ext = path.suffix.lower() or "audio"
    detail = str(err).strip().splitlines()[0].rsplit(": ", 1)[-1].rstrip(".") if str(err).strip() else ""
    # libsndfile blames pipes and "System error" for data it cannot parse; we know it is a file
    misleading = not detail or "pipe" in detail or "System error" in detail
    why = "" if misleading else f" ({detail[:160].lower()})"
    return f"not a valid {ext} file{why}: corrupt, or another format under this name"


class _Prober:
    """One daemon thread reading headers; a thread stuck past its timeout is left behind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue | None = None

    def run(self, path: Path, timeout: float) -> AudioInfo:
        future: Future = Future()
        with self._lock:
            if self._jobs is None:
                self._jobs = queue.SimpleQueue()
                threading.Thread(target=_work, args=(self._jobs,), name="audio-probe", daemon=True).start()
            jobs = self._jobs
        jobs.put((path, future))
        try:
            return future.result(timeout)
        except FutureTimeout:
            with self._lock:
                if self._jobs is jobs:  # the worker is stuck on this file: the next probe gets a new one
                    self._jobs = None
            jobs.put(None)  # ...and the stuck one ends if the file ever answers
            log.warning("%s: no answer within %g s; skipped", path, timeout)
            raise


def _work(jobs: queue.SimpleQueue) -> None:
    while (job := jobs.get()) is not None:
        path, future = job
        if not future.set_running_or_notify_cancel():
            continue
        try:
            future.set_result(_read_header(path))
        except BaseException as err:  # handed to the caller, which decides
            future.set_exception(err)


_PROBER = _Prober()
