"""Taking a studio tensor folder to ACE-Step's own trainer: the `export_tensors` job's settings and
the layout ACE-Step reads (no torch here; the daemon's daemon/preprocess/acestep_export.py writes).

ACE-Step's trainer (`PreprocessedTensorDataset`) reads `manifest["samples"]` (absolute paths of
`.pt` files) and loads each with `torch.load(weights_only=True)`: a dict of the five tensors and
`metadata`. Its preprocessing writes the manifest as

    {"metadata": {"name", "custom_tag", "tag_position", "created_at", "num_samples",
                  "all_instrumental", "genre_ratio" (percent)},
     "samples": ["/abs/out/<id>.pt", ...], "num_samples": N}

and each sample's metadata with audio_path, filename, caption, lyrics ("[Instrumental]" when
empty), duration, bpm, keyscale, timesignature, language, is_instrumental, preprocess_mode.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from shared.settings import SettingsGroup, setting

EXPORT_FORMATS = ("acestep",)
INSTRUMENTAL_LYRICS = "[Instrumental]"


@dataclass
class TensorExportSettings(SettingsGroup):
    group_name = "export_tensors"

    tensors_dir: str = setting("", "The studio tensor folder to export.", section="Export")
    output_dir: str = setting("", "Folder to write (created; must be empty unless overwrite).", section="Export")
    format: str = setting("acestep", "Layout to write: acestep (ACE-Step's own trainer: .pt dicts and its "
                          "manifest).", section="Export", choices=EXPORT_FORMATS)
    overwrite: bool = setting(False, "Write into a folder that already holds files (same names are replaced).",
                              section="Export")


def plain(value: Any) -> Any:
    """Built-in types only (what `torch.load(weights_only=True)` accepts besides tensors)."""
    return json.loads(json.dumps(value, default=str))


def acestep_sample_metadata(ours: dict) -> dict:
    """A sample's metadata as ACE-Step writes it, over the studio's own keys (kept, plain)."""
    lyrics = str(ours.get("lyrics") or "").strip()
    return plain({
        **ours,
        "audio_path": ours.get("audio_path_absolute") or ours.get("audio_path") or "",
        "filename": ours.get("filename") or "",
        "caption": ours.get("caption") or "",
        "lyrics": lyrics if lyrics and not ours.get("is_instrumental") else INSTRUMENTAL_LYRICS,
        "duration": ours.get("duration"),
        "bpm": ours.get("bpm"),
        "keyscale": ours.get("keyscale") or "",
        "timesignature": ours.get("timesignature") or "",
        "language": ours.get("language") or "unknown",
        "is_instrumental": bool(ours.get("is_instrumental")),
        "preprocess_mode": "lora",
    })


def acestep_manifest(samples: list[str], options: dict, all_instrumental: bool) -> dict:
    """ACE-Step's manifest.json: the dataset's options in its names, and the absolute sample paths."""
    metadata = {
        "name": options.get("name") or "dataset",
        "custom_tag": options.get("trigger_word") or "",
        "tag_position": options.get("tag_position") or "prepend",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "num_samples": len(samples),
        "all_instrumental": all_instrumental,
        "genre_ratio": int(round(float(options.get("genre_ratio") or 0.0) * 100)),  # ACE-Step: percent
    }
    return {"metadata": metadata, "samples": list(samples), "num_samples": len(samples)}
