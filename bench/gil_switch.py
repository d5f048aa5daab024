#!/usr/bin/env python3
"""What bounds a request's latency while a job runs: the interpreter lock's switch interval.

The daemon's socket thread gives up Python's lock around every ZeroMQ call (a request is about 13
receives and sends of one frame each) and must take it back from the job thread each time. A job
thread running Python keeps it until the switch interval runs out (5 ms by default), so one request
could wait that long several times over. This measures 13 such round trips on an in-process socket
pair while another thread runs pure Python, for Python's default and the daemon's setting
(`switch_interval_ms`, default 0.5), as p50 / p99 and the ratio against the default.
"""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import zmq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.config import DaemonSettings  # noqa: E402

FRAMES = 13
SAMPLES = 400


def busy_python(stop: threading.Event) -> None:
    x = 0
    while not stop.is_set():
        for i in range(1000):
            x += i


def measure(interval_s: float) -> tuple[float, float]:
    ctx = zmq.Context.instance()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    a.bind(f"inproc://gil-{interval_s}")
    b.connect(f"inproc://gil-{interval_s}")
    previous = sys.getswitchinterval()
    sys.setswitchinterval(interval_s)
    stop = threading.Event()
    job = threading.Thread(target=busy_python, args=(stop,))
    job.start()
    times = []
    try:
        time.sleep(0.05)
        for _ in range(SAMPLES):
            t0 = time.perf_counter()
            for _ in range(FRAMES):
                b.send(b"x")
                a.recv()
            times.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.002)  # the socket thread idles between requests, as in the daemon
    finally:
        stop.set()
        job.join()
        sys.setswitchinterval(previous)
        a.close(0)
        b.close(0)
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.99)]


def main() -> int:
    ours = DaemonSettings().switch_interval_ms
    rows = [(5.0, *measure(0.005)), (ours, *measure(ours / 1000))]
    base_p99 = rows[0][2]
    print(f"{FRAMES} socket calls while another thread runs Python ({SAMPLES} samples):")
    for interval, p50, p99 in rows:
        print(f"  switch interval {interval:4.1f} ms: p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  "
              f"(p99 x{p99 / base_p99:.3f} of Python's default)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
