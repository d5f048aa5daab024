"""The training policies, each a small object with one or two methods and a JSON state (TR-7, TR-8).

- NanGuard: skip non-finite steps, halt after N in a row with a diagnosis.
- CheckpointSchedule: is a checkpoint due after this step / epoch.
- Retention: keep the last K checkpoints found in the folder (older runs' leftovers count too).
- BestTracker: best model by the 5-epoch moving average after a warm-up, with a minimum improvement.
- EarlyStopping: stop after `patience` epochs without improvement.
"""
from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path


class NanGuard:
    """Counts non-finite steps; `observe` says whether to go on, skip the step or halt."""

    def __init__(self, halt_after: int) -> None:
        self.halt_after = halt_after
        self.in_a_row = 0
        self.total = 0
        self.last_bad: dict | None = None

    def observe(self, finite: bool, *, step: int = 0, epoch: int = 0, detail: str = "") -> str:
        """"ok", "skip" (drop this step's gradients) or "halt"."""
        if finite:
            self.in_a_row = 0
            return "ok"
        self.in_a_row += 1
        self.total += 1
        self.last_bad = {"step": step, "epoch": epoch, "detail": detail}
        if self.halt_after and self.in_a_row >= self.halt_after:
            return "halt"
        return "skip"

    def diagnosis(self) -> str:
        where = self.last_bad or {}
        return (
            f"{self.in_a_row} non-finite losses or gradients in a row ({self.total} in all; last at "
            f"step {where.get('step')}, {where.get('epoch')} epochs done: {where.get('detail', '')}). Likely "
            f"causes: learning rate too high, exploding gradients (set max_grad_norm), corrupt "
            f"tensors (NaN/Inf in the inputs) or fp16 overflow (use bf16 or 32-bit precision)."
        )

    def state_dict(self) -> dict:
        return {"in_a_row": self.in_a_row, "total": self.total, "last_bad": self.last_bad}

    def load_state_dict(self, state: dict) -> None:
        self.in_a_row, self.total, self.last_bad = state["in_a_row"], state["total"], state["last_bad"]


class CheckpointSchedule:
    """Checkpoints every N epochs and/or every M optimizer steps (0 turns either off)."""

    def __init__(self, every_epochs: int, every_steps: int) -> None:
        self.every_epochs, self.every_steps = every_epochs, every_steps

    def due_after_step(self, step: int) -> bool:
        return self.every_steps > 0 and step > 0 and step % self.every_steps == 0

    def due_after_epoch(self, epoch: int) -> bool:
        """`epoch` counts finished epochs from 1."""
        return self.every_epochs > 0 and epoch % self.every_epochs == 0


CHECKPOINT_NAME = re.compile(r"^(epoch|step)_(\d+)$")


def checkpoint_step(folder: Path) -> int:
    """The optimizer step a checkpoint folder was saved at (its training_state.json, else its name)."""
    try:
        return int(json.loads((folder / "training_state.json").read_text())["global_step"])
    except (OSError, ValueError, KeyError):
        match = CHECKPOINT_NAME.match(folder.name)
        return int(match.group(2)) if match else -1


def list_checkpoints(checkpoints_dir: Path) -> list[Path]:
    """Complete checkpoint folders, oldest first (temporary folders of interrupted saves excluded)."""
    if not checkpoints_dir.is_dir():
        return []
    found = [p for p in checkpoints_dir.iterdir() if p.is_dir() and CHECKPOINT_NAME.match(p.name)]
    return sorted(found, key=lambda p: (checkpoint_step(p), p.stat().st_mtime))


class Retention:
    """Keeps the newest `keep_last` checkpoints (0 keeps all), found by scanning the folder."""

    def __init__(self, keep_last: int) -> None:
        self.keep_last = keep_last

    def prune(self, checkpoints_dir: Path, protect: tuple[Path, ...] = ()) -> list[Path]:
        """Delete the older checkpoints; returns what was deleted."""
        if self.keep_last <= 0:
            return []
        found = list_checkpoints(checkpoints_dir)
        protected = {p.resolve() for p in protect}
        doomed = [p for p in found[:-self.keep_last] if p.resolve() not in protected]
        for path in doomed:
            shutil.rmtree(path, ignore_errors=True)
        return doomed


class BestTracker:
    """Best model by the moving average of the last `window` epoch losses, after a warm-up."""

    def __init__(self, warmup_epochs: int, min_delta: float, window: int = 5) -> None:
        self.warmup_epochs, self.min_delta, self.window = warmup_epochs, min_delta, window
        self.epoch_losses: list[float] = []
        self.best_ma: float | None = None
        self.best_epoch: int | None = None

    @property
    def moving_average(self) -> float | None:
        recent = [x for x in self.epoch_losses[-self.window:] if math.isfinite(x)]
        return sum(recent) / len(recent) if recent else None

    def update(self, epoch: int, epoch_loss: float) -> bool:
        """Record a finished epoch's loss; True when it sets a new best moving average."""
        self.epoch_losses.append(float(epoch_loss))
        ma = self.moving_average
        if ma is None or epoch < self.warmup_epochs:
            return False
        if self.best_ma is None or ma < self.best_ma - self.min_delta:
            self.best_ma, self.best_epoch = ma, epoch
            return True
        return False

    def state_dict(self) -> dict:
        return {"epoch_losses": self.epoch_losses, "best_ma": self.best_ma, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.epoch_losses = [float(x) for x in state["epoch_losses"]]
        self.best_ma, self.best_epoch = state["best_ma"], state["best_epoch"]


class EarlyStopping:
    """Stop after `patience` tracked epochs without a new best (0 = never)."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.epochs_without_improvement = 0

    def update(self, improved: bool, tracking: bool = True) -> bool:
        """True when training should stop. Epochs before tracking starts don't count."""
        if improved:
            self.epochs_without_improvement = 0
        elif tracking:
            self.epochs_without_improvement += 1
        return self.patience > 0 and self.epochs_without_improvement >= self.patience

    def state_dict(self) -> dict:
        return {"epochs_without_improvement": self.epochs_without_improvement}

    def load_state_dict(self, state: dict) -> None:
        self.epochs_without_improvement = int(state["epochs_without_improvement"])
