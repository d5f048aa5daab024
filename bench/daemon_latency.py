#!/usr/bin/env python3
"""p50 / p99 round trip of `status` on loopback while a selftest job runs (target: p99 < 5 ms).

Starts its own daemon in a temporary studio home; prints the idle figures as the baseline and the
figures under load, with their ratio.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import DaemonProcess  # noqa: E402


def measure(client, n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        client.status()
        times.append((time.perf_counter() - t0) * 1000)
    return sorted(times)


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p))]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        proc = DaemonProcess(Path(tmp))
        client = proc.start()
        try:
            measure(client, 50)  # warm-up
            idle = measure(client, 1000)
            client.submit("selftest", {"steps": 100_000, "step_seconds": 0.01, "matrix_size": 128})
            time.sleep(0.5)
            busy = measure(client, 2000)
            client.stop()
        finally:
            proc.stop()
    print(f"status round trip, idle:           p50 {pct(idle, .5):.2f} ms  p99 {pct(idle, .99):.2f} ms")
    print(f"status round trip, selftest busy:  p50 {pct(busy, .5):.2f} ms  p99 {pct(busy, .99):.2f} ms  "
          f"mean {statistics.mean(busy):.2f} ms")
    print(f"ratio busy/idle p99: {pct(busy, .99) / pct(idle, .99):.2f}  target p99 < 5 ms: "
          f"{'met' if pct(busy, .99) < 5 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
