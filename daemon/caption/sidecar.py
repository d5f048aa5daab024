"""`<stem>.json` sidecars as a caption run writes them: labels the dataset scan reads, and a block
that makes a stopped batch resumable.

    {"caption": "...", "genre": "pop", "bpm": 120, "keyscale": "C major", "timesignature": "4",
     "language": "en", "lyrics": "[Verse]\\n...", "is_instrumental": false,
     "acestep_studio_caption": {"version": 1, "done": {"caption": "local", "lyrics": "local"},
                                "written": {...the labels this block's run wrote...},
                                "signal": {...}, "caption": {...answer...}, "lyrics": {...answer...}}}

The scan (`shared.dataset_scan`) reads the label keys and ignores the block. Keys the file had are
kept. Before a value that someone else wrote (not a value of the block's `written`) is replaced,
the file is copied to `<stem>.json.bak` (once, the first such file is kept), and so is a file that
is not valid JSON. Writes are atomic.
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from shared.atomic import write_json_atomic
from shared.dataset import Sample
from shared.dataset_scan import apply_sidecars, sidecar_names

log = logging.getLogger(__name__)

BLOCK = "acestep_studio_caption"
VERSION = 1
LABEL_KEYS = ("caption", "genre", "bpm", "keyscale", "timesignature", "language", "lyrics", "is_instrumental")


def sidecar_path(audio: Path) -> Path:
    return audio.with_name(sidecar_names(audio.name)["json"])


def read_block(audio: Path) -> dict:
    """This studio's block of the file's sidecar ({} when there is none or it is unreadable)."""
    data = _read(sidecar_path(audio))
    block = data.get(BLOCK) if isinstance(data, dict) else None
    return block if isinstance(block, dict) and block.get("version") == VERSION else {}


def labels_on_disk(audio: Path) -> dict[str, Any]:
    """The labels the dataset scan would read for `audio` from all its sidecars (JSON and text)."""
    sample = Sample(audio=audio.name)
    if audio.parent.is_dir():
        apply_sidecars(sample, audio)
    return {name: getattr(sample, name) for name in LABEL_KEYS}


def write_sidecar(audio: Path, labels: dict[str, Any], block: dict) -> Path:
    """Write `labels` and this studio's `block` into the audio's `<stem>.json`, keeping its other keys."""
    path = sidecar_path(audio)
    data = _read(path)
    if data is None:  # there, but not JSON we can keep: save it before replacing it
        _backup(path)
        data = {}
    values = {name: labels.get(name) for name in LABEL_KEYS}
    if values.get("is_instrumental"):
        values["lyrics"] = "[Instrumental]"
    earlier = data.get(BLOCK) if isinstance(data.get(BLOCK), dict) else {}
    ours = earlier.get("written") or {}
    if any(data.get(k) not in (None, "", "unknown", False, values[k], ours.get(k)) for k in LABEL_KEYS):
        _backup(path)  # a value someone else wrote is replaced
    data.update(values)
    data[BLOCK] = {**block, "version": VERSION}
    write_json_atomic(path, data)
    return path


def _read(path: Path) -> dict | None:
    """The sidecar's JSON object; {} when there is no file, None when it is there but unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _backup(path: Path) -> None:
    backup = path.with_name(path.name + ".bak")
    if path.is_file() and not backup.exists():
        shutil.copy2(path, backup)
        log.info("kept the earlier %s as %s", path.name, backup.name)
