"""Resuming a run from a checkpoint folder: everything back (weights verified, optimizer, scheduler,
policies, progress, RNG), and the best model carried along so final/ can still be the best.
"""
from __future__ import annotations

import shutil
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from daemon.train import policies
from daemon.train.adapters import Adapter
from daemon.train.metrics import Reporter
from daemon.train.state import (
    check_resume_settings, read_checkpoint, restore_rng, unflatten_optimizer, verify_adapter,
)
from shared.train_settings import TrainSettings

if TYPE_CHECKING:
    from daemon.train.loop import Policies, Progress


def resume(folder: Path, settings: TrainSettings, adapter: Adapter, optimizer: torch.optim.Optimizer,
           scheduler: Any, rules: "Policies", progress: "Progress", reporter: Reporter) -> None:
    """Everything back from a checkpoint: weights (verified), optimizer, scheduler, policies, progress
    and, last, the RNG states, so the next draw is the one the interrupted run would have made."""
    state, tensors = read_checkpoint(folder)
    check_resume_settings(state["settings"], settings.to_dict(), settings.strict_resume)
    adapter.load(folder)
    verify_adapter(adapter, state, folder)
    optimizer.load_state_dict(unflatten_optimizer(state["optimizer"], tensors))
    scheduler.load_state_dict(state["scheduler"])
    rules.load_state_dict(state["policies"])
    for key in asdict(progress):
        setattr(progress, key, state[key])
    restore_rng(state["rng"], tensors)
    reporter.event("resumed", path=str(folder), step=progress.global_step, epoch=progress.epoch,
                   batch_in_epoch=progress.batch_in_epoch)


def carry_best(checkpoint: Path, run_dir: Path, best: policies.BestTracker) -> None:
    """The resumed run's best/ comes along, so final/ can still be the best model."""
    source = checkpoint.resolve().parents[1] / "best"
    if best.best_epoch is not None and source.is_dir() and source != run_dir / "best":
        shutil.copytree(source, run_dir / "best", dirs_exist_ok=True)
