"""Live training metrics (TR-12): every step to metrics.jsonl and TensorBoard, a few per second to
the reporter (the job's events), with moving average, samples/s, memory and ETA derived here.
"""
from __future__ import annotations

import collections
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Protocol

import torch

log = logging.getLogger(__name__)

MOVING_AVERAGE_STEPS = 20
REPORT_INTERVAL_S = 0.3
TB_EVERY_STEP = ("loss", "loss_ma", "lr", "grad_norm")
TB_WHEN_REPORTED = ("step_time", "samples_per_s", "memory_mb")


class Reporter(Protocol):
    """What the engine reports to: JobContext has these; tests and bench pass their own."""

    def event(self, type: str, **data: Any) -> Any: ...

    def metric(self, **values: Any) -> None: ...

    def progress(self, done: int, total: int, message: str = "", **extra: Any) -> None: ...

    def take_action(self, name: str) -> bool: ...


class MetricsLogger:
    """Epochs count finished epochs everywhere (steps, epoch points, progress), as checkpoints do."""

    def __init__(self, run_dir: Path, reporter: Reporter, total_steps: int, device: torch.device,
                 tensorboard: bool = True, interval_s: float = REPORT_INTERVAL_S, epochs: int = 0) -> None:
        self.reporter, self.total_steps, self.device = reporter, total_steps, device
        self.epochs = epochs
        self.interval_s = interval_s
        self.recent: collections.deque[float] = collections.deque(maxlen=MOVING_AVERAGE_STEPS)
        self.step_times: collections.deque[float] = collections.deque(maxlen=50)
        self._last_report = 0.0
        self._memory: float | None = None
        # line-buffered: the `run_metrics` command reads every step while the run goes on
        self._jsonl = open(run_dir / "metrics.jsonl", "a", encoding="utf-8", buffering=1)
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(run_dir / "tensorboard"))
            except ImportError:  # tensorboard is a dependency; a broken install only loses the charts
                log.warning("tensorboard is not importable; TensorBoard logs are off")

    def step(self, *, step: int, epoch: int, loss: float, lr: float, grad_norm: float, step_time: float,
             samples: int, skipped: bool = False, condition_pad_tokens: int = 0) -> dict:
        """Record one optimizer step; the reporter hears of it at most every `interval_s`."""
        if not skipped:
            self.recent.append(loss)
        self.step_times.append(step_time)
        now = time.monotonic()
        report = now - self._last_report >= self.interval_s or step >= self.total_steps
        if report:  # memory is sampled when reported; the steps in between repeat the last sample
            self._memory = memory_mb(self.device)
        point = {
            "step": step, "epoch": epoch, "loss": loss,
            "loss_ma": sum(self.recent) / len(self.recent) if self.recent else None,
            "lr": lr, "grad_norm": grad_norm, "step_time": step_time,
            "samples_per_s": samples / step_time if step_time > 0 else None,
            "memory_mb": self._memory,
            "eta_s": max(self.total_steps - step, 0) * sum(self.step_times) / len(self.step_times),
            "skipped": skipped,
            "condition_pad_tokens": condition_pad_tokens,  # the only padding a batch may have
        }
        self._jsonl.write(json.dumps(point) + "\n")
        if self._tb is not None:
            keys = TB_EVERY_STEP + (TB_WHEN_REPORTED if report else ())
            for key in keys:
                if point[key] is not None:
                    self._tb.add_scalar(f"train/{key}", point[key], step)
        if report:
            self._last_report = now
            self.reporter.metric(**point)
            self.reporter.progress(step, self.total_steps, self._message(step, epoch))
        return point

    def epoch(self, *, epoch: int, step: int, loss: float, moving_average: float | None,
              val_loss: float | None) -> None:
        point = {"epoch": epoch, "step": step, "epoch_loss": loss, "epoch_loss_ma5": moving_average,
                 "val_loss": val_loss}
        self._jsonl.write(json.dumps(point) + "\n")
        self._jsonl.flush()
        if self._tb is not None:
            self._tb.add_scalar("epoch/loss", loss, epoch)
            if moving_average is not None:
                self._tb.add_scalar("epoch/loss_ma5", moving_average, epoch)
            if val_loss is not None:
                self._tb.add_scalar("epoch/val_loss", val_loss, epoch)
        self.reporter.metric(**point)
        self.reporter.progress(step, self.total_steps, self._message(step, epoch))

    def _message(self, step: int, finished_epochs: int) -> str:
        return f"step {step}, {finished_epochs} of {self.epochs} epochs done"

    def close(self) -> None:
        self._jsonl.close()
        if self._tb is not None:
            self._tb.close()


def memory_mb(device: torch.device) -> float | None:
    """Peak GPU memory allocated, or the process's resident memory on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        with open(f"/proc/{os.getpid()}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return None


def free_memory_mb(device: torch.device) -> float | None:
    """Free memory on the training device (MemAvailable on CPU)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return free / 2**20
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None
