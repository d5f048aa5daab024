#!/usr/bin/env python3
"""The daemon under load: `status` latency and what polling pages cost a training job.

Starts its own daemon on the demo model (ACESTEP_DEMO_ROOT, or one written to a temporary folder)
and measures, each against a baseline in the same run:

1. status round trip (as a polling page asks: metrics since its last seq), idle, then while a real
   training job runs: p50 / p99 (target p99 < 2 ms while training);
2. training steps/s with no client, then with 4 client processes polling status at 10 Hz as four
   open dashboards would, alternated twice (target: < 5 % slower with the pollers), and the
   daemon's CPU time per training step in each phase (what the pollers cost the daemon itself,
   which other load on the machine disturbs less than steps/s).

Steps/s are counted from the job's own metric events (their time stamps), so the measuring adds no
requests of its own. BENCH_DAEMON_ARGS adds daemon flags, e.g. "--request-slice-us 0 --job-slice-ms 0"
for the kernel's default time slices, "--job-nice 0 --switch-interval-ms 5" for Python's defaults.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.client import StudioClient  # noqa: E402
from tests.conftest import DaemonProcess  # noqa: E402

PHASE_S = 12.0
POLLERS = 4
POLL_HZ = 10.0
TRAIN = dict(rank=4, alpha=8, dropout=0.0, epochs=100_000, batch_size=2, gradient_accumulation=1,
             warmup_steps=0, scheduler="constant", save_every_epochs=0, keep_last=0, crop_frames=0,
             best_warmup_epochs=100_000, learning_rate=1e-4)


def demo_root(tmp: Path) -> Path:
    from daemon.models.demo_checkpoint import ensure_demo_checkpoint

    root = Path(os.environ.get("ACESTEP_DEMO_ROOT") or tmp / "demo")
    ensure_demo_checkpoint(root / "checkpoints")
    return root


def tensor_folder(root: Path, out: Path) -> Path:
    from daemon.models.checkpoint_files import model_fingerprint
    from tests.train.conftest import encode_samples, load_dit, write_tensor_folder

    dit = root / "checkpoints" / "acestep-v15-demo"
    samples = encode_samples(load_dit(dit), [40, 36, 40, 32, 40, 36, 40, 32])
    return write_tensor_folder(out, samples, fingerprint=model_fingerprint(dit), model_name="acestep-v15-demo")


def poll(home: str, stop: mp.Event, counts: mp.Array, index: int) -> None:
    """One open dashboard: status at POLL_HZ, asking for the metric points after the last one it has."""
    client = StudioClient(home)
    since = 0
    while not stop.is_set():
        t0 = time.monotonic()
        snap = client.status(metrics_since=since)
        if snap["metrics"]:
            since = snap["metrics"][-1]["seq"]
        counts[index] += 1
        time.sleep(max(0.0, 1 / POLL_HZ - (time.monotonic() - t0)))


def round_trips(client: StudioClient, n: int, pace_s: float = 0.005) -> list[float]:
    times, since = [], client.status(metrics_limit=0)["last_seq"]
    for _ in range(n):
        t0 = time.perf_counter()
        snap = client.status(metrics_since=since)
        times.append((time.perf_counter() - t0) * 1000)
        if snap["metrics"]:
            since = snap["metrics"][-1]["seq"]
        time.sleep(pace_s)
    return sorted(times)


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p))]


def step_times(events_file: Path, start: float, end: float) -> list[float]:
    times = []
    for line in events_file.read_text().splitlines():
        event = json.loads(line)
        if event["type"] == "metric" and start <= event["time"] < end and "loss" in event["data"]:
            times.append(event["time"])
    return times


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        root = demo_root(tmp)
        tensors = tensor_folder(root, tmp / "tensors")
        proc = DaemonProcess(tmp / "home", "--demo-root", str(root), *os.environ.get("BENCH_DAEMON_ARGS", "").split())
        proc.home.mkdir()
        client = proc.start()
        try:
            round_trips(client, 50)
            idle = round_trips(client, 1000)
            job_id = client.submit("train", {**TRAIN, "tensors_dir": str(tensors)})
            while not client.status(metrics_limit=1)["metrics"]:
                time.sleep(0.5)  # the model is loaded and steps are running
            time.sleep(3.0)
            busy = round_trips(client, 1500)
            phases = []
            ctx = mp.get_context("spawn")
            for with_pollers in (False, True, False, True):
                stop, counts = ctx.Event(), ctx.Array("i", POLLERS)
                workers = [ctx.Process(target=poll, args=(str(proc.home), stop, counts, i))
                           for i in range(POLLERS)] if with_pollers else []
                for w in workers:
                    w.start()
                time.sleep(3.0 if workers else 0.0)  # let the pollers start up (imports) before counting
                start, cpu_start = time.time(), cpu_seconds(proc.proc.pid)
                time.sleep(PHASE_S)
                end, cpu_end = time.time(), cpu_seconds(proc.proc.pid)
                stop.set()
                for w in workers:
                    w.join(10)
                phases.append((with_pollers, start, end, cpu_end - cpu_start,
                               sum(counts) / (end - start + 3.0) if workers else 0.0))
            client.stop(job_id)
            client.wait(job_id, timeout=120)
            events = proc.home / "runs" / job_id / "events.jsonl"
            rates = []
            for with_pollers, start, end, cpu, hz in phases:
                times = step_times(events, start, end)
                rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
                rates.append((with_pollers, rate, hz, cpu * 1000 / max(len(times), 1)))
        finally:
            proc.stop()
    print(f"status round trip (metrics since last seq), idle:     p50 {pct(idle, .5):.2f} ms  "
          f"p99 {pct(idle, .99):.2f} ms")
    print(f"status round trip while training (demo model, CPU): p50 {pct(busy, .5):.2f} ms  "
          f"p99 {pct(busy, .99):.2f} ms  mean {statistics.mean(busy):.2f} ms  "
          f"(ratio p99 busy/idle {pct(busy, .99) / pct(idle, .99):.2f}; target p99 < 2 ms: "
          f"{'met' if pct(busy, .99) < 2 else 'NOT met'})")
    for with_pollers, rate, hz, cpu_per_step in rates:
        label = f"{POLLERS} pollers ({hz:.0f} status/s)" if with_pollers else "no poller"
        print(f"training, {label:<26} {rate:6.2f} steps/s   daemon CPU {cpu_per_step:7.1f} ms per step")
    alone = statistics.mean(r for w, r, _, _ in rates if not w)
    polled = statistics.mean(r for w, r, _, _ in rates if w)
    slower = (1 - polled / alone) * 100 if alone else float("nan")
    cpu_alone = statistics.mean(c for w, _, _, c in rates if not w)
    cpu_polled = statistics.mean(c for w, _, _, c in rates if w)
    print(f"ratio polled/alone: steps/s {polled / alone:.3f} ({slower:+.1f} % slower; target < 5 %: "
          f"{'met' if slower < 5 else 'NOT met'}), daemon CPU per step {cpu_polled / cpu_alone:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
