"""The `manifest.json` of a training-tensor folder, read and written as plain JSON (no torch).

The daemon's `daemon.preprocess.tensor_folder` writes and validates the tensors; this module owns
the manifest's layout so the dashboard and the CLI can show a folder without importing torch:

    {"format": "acestep-studio-tensors", "version": 1, "created": "...",
     "model": {"name": "acestep-v15-turbo", "fingerprint": "..."},
     "settings": {...every preprocessing setting...}, "dataset_file": "../data/dataset.json",
     "dataset_file_absolute": "/abs/data/dataset.json",
     "files": [{"path": "song-1a2b3c4d.safetensors", "shapes": {...}, "dtypes": {...},
                "sha256": "...", "bytes": 123, "summary": {"filename": ..., "duration": ...}}],
     "errors": [{"file": "bad.wav", "reason": "..."}]}

Paths in `files` are relative to the folder, so a moved or symlinked folder still reads.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from shared.atomic import write_json_atomic
from shared.errors import TensorFolderError

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "acestep-studio-tensors"
MANIFEST_VERSION = 1


def manifest_path(folder: str | os.PathLike) -> Path:
    return Path(folder).expanduser() / MANIFEST_NAME


def read_manifest(folder: str | os.PathLike) -> dict | None:
    """The folder's manifest as a dict, None when there is none; TensorFolderError when unreadable."""
    path = manifest_path(folder)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise TensorFolderError(f"{path}: the manifest is not readable JSON ({err})") from None
    return data


def is_studio_manifest(data: Any) -> bool:
    """True for a manifest this project wrote (legacy trainers write other shapes)."""
    return isinstance(data, dict) and data.get("format") == MANIFEST_FORMAT


def write_manifest(folder: str | os.PathLike, manifest: dict) -> Path:
    """Write the manifest atomically (temp name + os.replace); a reader never sees half a file."""
    return write_json_atomic(manifest_path(folder), manifest)


def manifest_rows(manifest: dict) -> list[dict]:
    """One row per produced file for tables: file, source, duration, frames, text/lyric tokens."""
    rows = []
    for entry in manifest.get("files", []):
        shapes = entry.get("shapes", {})
        summary = entry.get("summary", {})
        rows.append({
            "file": entry.get("path"),
            "source": summary.get("filename"),
            "duration_s": summary.get("duration"),
            "frames": (shapes.get("target_latents") or [None])[0],
            "condition_tokens": (shapes.get("encoder_hidden_states") or [None])[0],
            "text_tokens": summary.get("text_tokens"),
            "lyric_tokens": summary.get("lyric_tokens"),
            "loudness": summary.get("loudness"),
            "mb": round(entry.get("bytes", 0) / 1e6, 3),
        })
    return rows


def manifest_errors(manifest: dict) -> list[dict]:
    """The files the run skipped, each with its reason."""
    return list(manifest.get("errors", []))
