"""What an adapter folder says about itself, and where (docs/ADAPTER_FORMATS.md).

The studio's metadata (trigger word, tag position, model fingerprint and name, training settings,
epoch, step, created_by...) goes to three places:

- `training_info.json` beside the weights: all of it, the file the studio itself reads;
- the weights file's safetensors header: all of it (ComfyUI and friends keep only the one file);
- the adapter's JSON config (`adapter_config.json`, `lokr_config.json`): only the trigger word and
  tag position, which ace-lora-trainer readers look for there. Anything else there, PEFT reports
  as "Unexpected keyword arguments ... upgrade PEFT" when ACE-Step loads the LoRA.
"""
from __future__ import annotations

import json
from pathlib import Path

TRAINING_INFO = "training_info.json"
CONFIG_KEYS = ("trigger_word", "tag_position")  # the studio metadata the adapter's JSON config keeps
ADAPTER_CONFIGS = ("adapter_config.json", "lokr_config.json", "loha_config.json")


def config_fields(metadata: dict) -> dict:
    """The part of the studio metadata that goes into the adapter's JSON config."""
    return {key: metadata[key] for key in CONFIG_KEYS if key in metadata}


def header_metadata(metadata: dict) -> dict[str, str]:
    """Safetensors header metadata is str -> str: nested values as JSON."""
    out = {"format": "pt"}
    for key, value in metadata.items():
        out[key] = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return out


def write_training_info(folder: Path, metadata: dict) -> Path:
    """`training_info.json`: every studio field of the adapter."""
    path = folder / TRAINING_INFO
    path.write_text(json.dumps(metadata, indent=2, sort_keys=True, default=str), encoding="utf-8")
    return path


def read_training_info(folder: str | Path) -> dict:
    """The studio fields of a saved adapter; adapters saved before `training_info.json` existed kept
    them in their JSON config, so that is read instead. {} when neither is there."""
    folder = Path(folder)
    for name in (TRAINING_INFO, *ADAPTER_CONFIGS):
        try:
            return json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    return {}
