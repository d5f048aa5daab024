"""Where a training step's time goes, for bench/gpu_train.py --profile: torch.profiler over a few
optimizer steps after the measured ones, summarised as GPU busy time against wall time per step,
kernel launches per step, and the top operations by GPU and by CPU time (issue 14: the step is
launch-bound when the GPU idles most of the wall time).

    profiler = StepProfiler(first=13, steps=2)  # profile optimizer steps 14 and 15
    train(..., should_stop=lambda step: profiler.on_step(step) or False)
    summary = profiler.write(OUT / "profile_engine_lora_compiled.txt", title)
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import torch


class StepProfiler:
    """Profiles optimizer steps first+1 .. first+steps (on_step is called after each step ends)."""

    def __init__(self, first: int, steps: int = 2) -> None:
        self.first, self.steps = first, steps
        self.profile: torch.profiler.profile | None = None
        self.started = self.ended = 0.0

    def on_step(self, step: int) -> None:
        if step == self.first:
            activities = [torch.profiler.ProfilerActivity.CPU]
            if torch.cuda.is_available():
                activities.append(torch.profiler.ProfilerActivity.CUDA)
            self.profile = torch.profiler.profile(activities=activities)
            self.profile.__enter__()
            self.started = time.perf_counter()
        elif step == self.first + self.steps and self.profile is not None and not self.ended:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.ended = time.perf_counter()
            self.profile.__exit__(None, None, None)

    def write(self, path: Path, title: str) -> str:
        """The summary line (also the first lines of `path`, followed by the two tables)."""
        if self.profile is None or not self.ended:
            return "profile: the run ended before the profiled steps"
        wall_ms = (self.ended - self.started) * 1e3 / self.steps
        kernels = [e for e in self.profile.events() if e.device_type == torch.autograd.DeviceType.CUDA]
        busy_ms = _union_us([(e.time_range.start, e.time_range.end) for e in kernels]) / 1e3 / self.steps
        summary = (f"profile of {self.steps} steps: {wall_ms:.1f} ms wall per step, GPU busy {busy_ms:.1f} ms "
                   f"({busy_ms / wall_ms:.0%}), {len(kernels) / self.steps:.0f} kernels per step")
        averages = self.profile.key_averages()
        sort_gpu = "self_cuda_time_total" if kernels else "self_cpu_time_total"
        text = [title, summary, "", "top operations by GPU time (all profiled steps):",
                averages.table(sort_by=sort_gpu, row_limit=25, max_name_column_width=70), "",
                "top operations by CPU time (host: Python, dispatch, launches):",
                averages.table(sort_by="self_cpu_time_total", row_limit=25, max_name_column_width=70)]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(text) + "\n")
        return summary


def _union_us(ranges: list[tuple[float, float]]) -> float:
    """Total length of the union of [start, end) intervals (kernels on several streams overlap)."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(ranges):
        if start > end:
            total += stop - start
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return total


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
