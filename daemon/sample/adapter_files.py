"""Adapter folders as users name them: a run's final/, best/ or checkpoints/epoch_N, or any folder
holding a saved LoRA/DoRA (PEFT) or LoKr/LoHa (LyCORIS) adapter. No torch here.
"""
from __future__ import annotations

import json
from pathlib import Path

from shared.errors import AdapterError

CONFIG_FILES = {"adapter_config.json": "peft", "lokr_config.json": "lokr", "loha_config.json": "loha"}


def adapter_folder(path: str | Path) -> Path:
    """The absolute adapter folder, or AdapterError saying what is missing."""
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise AdapterError(f"{folder}: no such adapter folder (give a run's final/, best/ or a checkpoint folder)")
    if saved_kind(folder) is None:
        raise AdapterError(f"{folder}: no adapter here (expected adapter_config.json, lokr_config.json or "
                          f"loha_config.json)")
    return folder


def saved_kind(folder: Path) -> str | None:
    """"peft", "lokr" or "loha" by the config file present, else None."""
    for name, family in CONFIG_FILES.items():
        if (folder / name).is_file():
            return family
    return None


def adapter_config(folder: Path) -> dict:
    """The adapter's JSON config (with the studio's trigger word, fingerprint...), {} if unreadable."""
    for name in CONFIG_FILES:
        path = folder / name
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return {}
            return data if isinstance(data, dict) else {}
    return {}


def run_of(folder: Path, runs_dir: Path) -> Path | None:
    """The run folder an adapter lies in (`<runs>/<id>/final`, `.../checkpoints/epoch_N`), else None."""
    try:
        relative = folder.resolve().relative_to(Path(runs_dir).resolve())
    except ValueError:
        return None
    return Path(runs_dir).resolve() / relative.parts[0] if len(relative.parts) > 1 else None


def adapter_files(folder: Path) -> list[Path]:
    """The files that make up the adapter (its config and weights; not a checkpoint's training state)."""
    family = saved_kind(folder)
    names = ("adapter_config.json", "adapter_model.safetensors") if family == "peft" else (
        f"{family}_config.json", f"{family}_weights.safetensors")
    missing = [name for name in names if not (folder / name).is_file()]
    if family is None or missing:
        raise AdapterError(f"{folder}: the adapter is incomplete (missing {', '.join(missing) or 'its config'})")
    return [folder / name for name in names]


def adapter_label(folder: Path, run_dir: Path | None) -> str:
    """How the Samples page names an adapter: `final`, `best`, `checkpoints/epoch_10`, or the path."""
    if run_dir is None:
        return str(folder)
    return str(folder.resolve().relative_to(run_dir.resolve()))
