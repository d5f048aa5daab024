"""Optimizers and learning-rate schedules (TR-3).

A missing optional package is a TrainingError naming it, never a silent fallback to another
optimizer. Schedules are LambdaLR over plain functions, so their state is JSON (state.py).
"""
from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Iterable

import torch

from shared.errors import TrainingError
from shared.train_settings import TrainSettings

MIN_LR_FRACTION = 0.01  # cosine and restarts never go below 1% of the learning rate


def build_optimizer(settings: TrainSettings, params: Iterable[torch.nn.Parameter],
                    device: torch.device) -> torch.optim.Optimizer:
    """The optimizer named in the settings over the adapter's parameters."""
    params = list(params)
    lr, wd = settings.learning_rate, settings.weight_decay
    name = settings.optimizer
    reason = unavailable_reason(name, device)
    if reason:
        raise TrainingError(reason)
    if name == "adamw":
        # Fused on CUDA: one kernel for all adapter tensors instead of a few per tensor group.
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd, fused=device.type == "cuda")
    if name == "adamw8bit":
        import bitsandbytes as bnb

        return bnb.optim.AdamW8bit(params, lr=lr, weight_decay=wd)
    if name == "adafactor":
        from transformers.optimization import Adafactor

        return Adafactor(params, lr=lr, weight_decay=wd, scale_parameter=False, relative_step=False,
                         warmup_init=False)
    if name == "prodigy":
        from prodigyopt import Prodigy

        return Prodigy(params, lr=lr, weight_decay=wd, safeguard_warmup=True, use_bias_correction=True)
    raise TrainingError(f"unknown optimizer {name!r}")


def unavailable_reason(name: str, device: torch.device) -> str | None:
    """Why optimizer `name` cannot train on `device` here, in words for the user; None when it can.
    Both optional packages are default dependencies where they install (Linux x86-64 for
    bitsandbytes, everywhere for prodigyopt)."""
    if name == "adamw8bit":
        if device.type != "cuda":
            return f"optimizer adamw8bit needs a CUDA GPU (bitsandbytes); this run is on {device.type}: use adamw"
        if importlib.util.find_spec("bitsandbytes") is None:
            return ("optimizer adamw8bit needs the bitsandbytes package, which installs on Linux x86-64 and "
                    "Windows: pip install bitsandbytes (or choose adamw or adafactor)")
    if name == "prodigy" and importlib.util.find_spec("prodigyopt") is None:
        return "optimizer prodigy needs the prodigyopt package: pip install prodigyopt (or choose adamw)"
    return None


def lr_lambda(scheduler: str, warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """The learning-rate multiplier at optimizer step `step` (0-based). A warm-up longer than the run
    is cut to the run's length (else the run would end far below its learning rate)."""
    total = max(total_steps, 1)
    warmup = 0 if scheduler == "constant" else min(warmup_steps, total)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = min((step - warmup) / max(total - warmup, 1), 1.0)
        if scheduler in ("constant", "constant_with_warmup"):
            return 1.0
        if scheduler == "linear":
            return max(1.0 - progress, 0.0)
        if scheduler == "cosine":
            return _cosine(progress)
        if scheduler == "cosine_with_restarts":
            return _cosine(restart_progress(step - warmup, total - warmup))
        raise TrainingError(f"unknown scheduler {scheduler!r}")

    return factor


def restart_progress(step: int, steps: int) -> float:
    """Progress inside the current restart cycle: the first a quarter of the steps, each next double."""
    cycle = max(steps // 4, 1)
    while step >= cycle:
        step -= cycle
        cycle *= 2
    return step / cycle


def restart_cycle_lengths(steps: int) -> list[int]:
    """The cycle lengths that cover `steps` (for display and tests)."""
    lengths, cycle, covered = [], max(steps // 4, 1), 0
    while covered < steps:
        lengths.append(cycle)
        covered += cycle
        cycle *= 2
    return lengths


def _cosine(progress: float) -> float:
    return MIN_LR_FRACTION + (1.0 - MIN_LR_FRACTION) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(settings: TrainSettings, optimizer: torch.optim.Optimizer,
                    total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(settings.scheduler, settings.warmup_steps, total_steps)
    )
