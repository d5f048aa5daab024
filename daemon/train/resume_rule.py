"""Which checkpoints a run can resume from, and with which settings: the rule, written once.

Free of torch, so the `runs` commands (daemon/runs.py) answer without loading the engine; the
resume itself (daemon/train/resume.py) applies the same rule through `check_resume_settings`.
"""
from __future__ import annotations

import json
from pathlib import Path

from shared.train_settings import ADAPTER_SHAPE_SETTINGS, OPTIMIZER_SETTINGS, adapter_family, batch_changes

STATE_JSON = "training_state.json"
STATE_TENSORS = "training_state.safetensors"
STATE_FORMAT = "acestep-studio-training-state"
STATE_VERSION = 1


def read_state_json(folder: str | Path) -> dict | None:
    """A checkpoint folder's training_state.json when the folder is complete and this studio reads
    its format; None otherwise (not a checkpoint, cut short, or from a newer studio)."""
    folder = Path(folder)
    if not (folder / STATE_TENSORS).is_file():
        return None
    try:
        state = json.loads((folder / STATE_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        return None
    if state.get("version", 0) > STATE_VERSION or not isinstance(state.get("settings"), dict):
        return None
    return state


def resume_differences(saved: dict, current: dict, strict: bool = False) -> list[str]:
    """The settings that keep a resume from starting, as "name: saved -> current" (empty: it may).

    The adapter's shape must always match the checkpoint's; with `strict`, the optimizer settings
    and the batch shape (unless only the split across GPUs changed) too.
    """
    family = adapter_family(str(current.get("adapter_type", "lora")))
    names = ADAPTER_SHAPE_SETTINGS[family] + (OPTIMIZER_SETTINGS if strict else ())
    if strict:
        names += tuple(batch_changes(saved, current))
    return [f"{n}: {saved.get(n)!r} -> {current.get(n)!r}" for n in names if saved.get(n) != current.get(n)]
