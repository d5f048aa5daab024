"""Resuming a run from a checkpoint folder: everything back (weights verified, optimizer, schedule,
policies, progress, RNG) with this run's learning rate and weight decay, and the best model carried
along so final/ can still be the best.

Settings a resume may change (unless `strict_resume`): the optimizer's hyper-parameters apply from
the next step on and the change is reported in the `resumed` event.
"""
from __future__ import annotations

import logging
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
from shared.train_settings import TrainSettings, batch_changes

if TYPE_CHECKING:
    from daemon.train.loop import Policies, Progress

log = logging.getLogger(__name__)

NOT_COMPARED = ("resume_from", "strict_resume")
# The epoch's batches come from these and the global batch (shared/train_settings.batch_changes):
# with one changed, a position inside the epoch (counted in the old run's batches) points at other
# samples, so such a resume starts its epoch over.
EPOCH_ORDER_SETTINGS = ("gradient_accumulation", "seed")


def resume(folder: Path, settings: TrainSettings, adapter: Adapter, optimizer: torch.optim.Optimizer,
           rules: "Policies", progress: "Progress", reporter: Reporter, notes: list[str]) -> dict:
    """Everything but the schedule back from a checkpoint: weights (verified), optimizer, policies,
    progress and, last, the RNG states, so the next draw is the one the interrupted run would have
    made. Returns the checkpoint's state for `resume_schedule`; what the user should know goes to
    `notes` (the pre-flight report)."""
    state, tensors = read_checkpoint(folder)
    check_resume_settings(state["settings"], settings.to_dict(), settings.strict_resume)
    adapter.load(folder)
    verify_adapter(adapter, state, folder)
    optimizer.load_state_dict(unflatten_optimizer(state["optimizer"], tensors))
    rules.load_state_dict(state["policies"])
    for key in asdict(progress):
        setattr(progress, key, state[key])
    restore_rng(state["rng"], tensors)
    changed = changed_settings(state["settings"], settings.to_dict())
    if changed:
        log.info("resuming %s with changed settings: %s", folder, changed)
    reordered = batch_changes(state["settings"], settings.to_dict())
    reordered += [name for name in EPOCH_ORDER_SETTINGS if name in changed]
    restarted = restart_epoch_if_reordered(progress, reordered, notes)
    reporter.event("resumed", path=str(folder), step=progress.global_step, epoch=progress.epoch,
                   batch_in_epoch=progress.batch_in_epoch, changed=changed, restarted_epoch=restarted)
    return state


def restart_epoch_if_reordered(progress: "Progress", reordered: list[str], notes: list[str]) -> bool:
    """Start the unfinished epoch over when its batches are no longer the saved run's (`reordered`
    names the settings that made them differ); True if so."""
    if not reordered or progress.batch_in_epoch == 0:
        return False
    notes.append(f"resumed at the start of the unfinished epoch (after {progress.epoch} finished epochs): "
                 f"{', '.join(reordered)} changed, so its batches differ from the checkpoint's and the "
                 f"{progress.batch_in_epoch} batches done in it are trained again")
    progress.batch_in_epoch = 0
    progress.epoch_loss_sum, progress.epoch_samples = 0.0, 0
    return True


def resume_schedule(scheduler: Any, state: dict, settings: TrainSettings) -> None:
    """The saved position in the schedule, at this run's learning rate and weight decay: the saved
    base rates and param groups must not win over a changed setting."""
    scheduler.load_state_dict(state["scheduler"])
    scheduler.base_lrs = [settings.learning_rate for _ in scheduler.optimizer.param_groups]
    for group, factor in zip(scheduler.optimizer.param_groups, scheduler.lr_lambdas):
        group["initial_lr"] = settings.learning_rate
        group["weight_decay"] = settings.weight_decay
        group["lr"] = settings.learning_rate * factor(scheduler.last_epoch)  # as LambdaLR computes it
    scheduler._last_lr = [group["lr"] for group in scheduler.optimizer.param_groups]


def changed_settings(saved: dict, current: dict) -> dict[str, list]:
    """{name: [checkpoint's value, this run's]} of every setting this resume changes."""
    return {name: [saved.get(name), value] for name, value in current.items()
            if name not in NOT_COMPARED and saved.get(name) != value}


def carry_best(checkpoint: Path, run_dir: Path, best: policies.BestTracker) -> None:
    """The resumed run's best/ comes along, so final/ can still be the best model."""
    source = checkpoint.resolve().parents[1] / "best"
    if best.best_epoch is not None and source.is_dir() and source != run_dir / "best":
        shutil.copytree(source, run_dir / "best", dirs_exist_ok=True)
