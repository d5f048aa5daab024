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
`describe_folder` also lists folders made by ACE-Step's own trainer or without a manifest.
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


# -- folders from other tools ----------------------------------------------------------------
# ACE-Step's own preprocessing writes `{"metadata": {dataset options, custom_tag...}, "samples":
# [absolute .pt paths], "num_samples": N}`; Side-Step and ace-lora-trainer folders may have no
# manifest at all. None of them records the model the tensors were made with.

TENSOR_SUFFIXES = (".safetensors", ".pt")


def no_fingerprint_warning(folder: str | os.PathLike) -> str:
    """What the user is told about a folder that records no model (pre-flight, CLI, daemon log)."""
    return (f"{folder} records no model fingerprint (a legacy folder, e.g. from ACE-Step's own trainer): "
            "assuming its tensors were made with the model this run trains. If they were not, the adapter "
            "learns noise; preprocess the dataset again in the studio to be sure.")


def is_acestep_manifest(data: Any) -> bool:
    """True for the manifest ACE-Step's preprocessing writes (a `samples` list, no `format`)."""
    return isinstance(data, dict) and "format" not in data and isinstance(data.get("samples"), list)


def _tensor_files(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix in TENSOR_SUFFIXES
                  and not p.name.startswith("."))


def holds_tensors(folder: str | os.PathLike) -> bool:
    """A folder with a manifest or tensor files in it (what describe_folder describes)."""
    root = Path(folder).expanduser()
    return root.is_dir() and (manifest_path(root).is_file() or bool(_tensor_files(root)))


def describe_folder(folder: str | os.PathLike) -> dict:
    """What a tensor folder of any origin holds, without loading a tensor: its kind ("studio",
    "acestep", "legacy"), model, trigger word, one row per sample and warnings.
    TensorFolderError when it is not a folder or holds no tensors at all."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise TensorFolderError(f"{folder}: not a folder of training tensors (no such folder)")
    manifest = read_manifest(root)
    if is_studio_manifest(manifest):
        model = manifest.get("model") or {}
        return {"kind": "studio", "folder": str(root), "model": model.get("name"),
                "fingerprint": model.get("fingerprint"), "trigger_word": None,
                "dataset": manifest.get("dataset_file_absolute") or manifest.get("dataset_file"),
                "samples": manifest_rows(manifest), "errors": manifest_errors(manifest), "warnings": [],
                "complete": manifest.get("complete")}
    if is_acestep_manifest(manifest):
        meta = manifest.get("metadata") if isinstance(manifest.get("metadata"), dict) else {}
        rows = [_file_row(root, entry) for entry in manifest["samples"]]
        warnings = [no_fingerprint_warning(root)]
        missing = [r["file"] for r in rows if not r["exists"]]
        if missing:
            warnings.append(f"{len(missing)} sample file(s) listed in {root / MANIFEST_NAME} are missing: "
                            + ", ".join(missing[:5]))
        if manifest.get("num_samples") not in (None, len(rows)):
            warnings.append(f"{root / MANIFEST_NAME} says num_samples {manifest['num_samples']} but lists "
                            f"{len(rows)}")
        return {"kind": "acestep", "folder": str(root), "model": None, "fingerprint": None,
                "trigger_word": str(meta.get("custom_tag") or "") or None,
                "tag_position": meta.get("tag_position"), "dataset": meta.get("name"),
                "samples": rows, "errors": [], "warnings": warnings}
    files = _tensor_files(root)
    if not files:
        raise TensorFolderError(f"{root}: no manifest.json and no tensor files (.safetensors or .pt)")
    return {"kind": "legacy", "folder": str(root), "model": None, "fingerprint": None, "trigger_word": None,
            "dataset": None, "samples": [_file_row(root, str(p)) for p in files], "errors": [],
            "warnings": [no_fingerprint_warning(root)]}


def _file_row(root: Path, entry: Any) -> dict:
    """A listed sample file: found as written, or by its name in the folder (moved folders)."""
    written = Path(str(entry.get("path") if isinstance(entry, dict) else entry))
    local = root / written.name
    path = written if written.is_absolute() and written.is_file() else local
    exists = path.is_file()
    return {"file": written.name, "exists": exists, "mb": round(path.stat().st_size / 1e6, 3) if exists else None}


def sample_count(folder: str | os.PathLike) -> int:
    """How many samples a tensor folder of any origin holds (listed and present, or its files)."""
    return present_samples(describe_folder(folder))


def present_samples(described: dict) -> int:
    """The samples of a `describe_folder` answer that are there (listed and present, or files)."""
    return sum(1 for row in described["samples"] if row.get("exists", True))
