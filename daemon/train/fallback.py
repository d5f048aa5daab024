"""Every preset starts: an optimizer this machine cannot run is replaced before step 0, out loud.

The presets for 8 and 12 GB cards choose 8-bit AdamW, which needs a CUDA GPU and bitsandbytes;
Prodigy needs prodigyopt. Before anything is built, the chosen optimizer is built once on one
parameter of the training device (so the check is optim.py's own rule, not a copy of it). When
that fails, the run trains with Adafactor (ships with transformers, the smallest optimizer state
of the four) and gradient checkpointing, and says so: a note in the pre-flight, a warning in the
job's log, and the settings actually used in config.json and every checkpoint.
"""
from __future__ import annotations

import logging

import torch

from daemon.train.metrics import Reporter
from daemon.train.optim import build_optimizer
from shared.errors import TrainingError
from shared.train_settings import TrainSettings

log = logging.getLogger(__name__)

FALLBACK_OPTIMIZER = "adafactor"


def runnable_settings(settings: TrainSettings, device: torch.device, reporter: Reporter,
                      notes: list[str]) -> TrainSettings:
    """The settings, with the optimizer replaced (and the user told) when it cannot run here."""
    probe = torch.nn.Parameter(torch.zeros(1, device=device))
    try:
        build_optimizer(settings, [probe], device)
        return settings
    except TrainingError as err:
        reason = str(err)
    changes: dict = {"optimizer": FALLBACK_OPTIMIZER, "gradient_checkpointing": True}
    if settings.optimizer == "prodigy":  # Prodigy's learning rate of 1.0 would make Adafactor diverge
        changes["learning_rate"] = TrainSettings().learning_rate
    note = (f"optimizer {settings.optimizer} cannot run here ({reason}); training with Adafactor and "
            f"gradient checkpointing instead" +
            (f", learning rate {changes['learning_rate']:g}" if "learning_rate" in changes else ""))
    log.warning(note)
    notes.append(note)
    reporter.event("log", level="warning", message=note)
    return settings.replace(**changes)
