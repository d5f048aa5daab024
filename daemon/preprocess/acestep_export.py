"""The `export_tensors` job: a studio tensor folder written in ACE-Step's own layout, so a user can
take their data to ACE-Step's trainer (layout: shared/tensor_export.py).

Each sample becomes a `.pt` dict of the five tensors (CPU, plain tensors) and `metadata` (built-in
types only), written atomically, so `torch.load(path, weights_only=True)` loads it; the manifest
lists the files by absolute path. Registered here without importing torch: the daemon starts at once.
The `tensors {folder}` command describes a tensor folder on the daemon's machine for the pages.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from daemon.jobs import JobContext
from daemon.registry import command, job_kind
from shared.atomic import write_json_atomic
from shared.errors import ProtocolError, TensorFolderError
from shared.tensor_export import TensorExportSettings, acestep_manifest, acestep_sample_metadata
from shared.tensor_manifest import MANIFEST_NAME, describe_folder, holds_tensors


@job_kind("export_tensors", TensorExportSettings, "A tensor folder in ACE-Step's own layout (.pt dicts + manifest).")
def run_export_job(ctx: JobContext, settings: TensorExportSettings) -> dict:
    """Write every sample and the manifest; the result names the folder and the files."""
    return export_acestep(settings, ctx)


def export_acestep(settings: TensorExportSettings, ctx: JobContext | None = None) -> dict:
    """Export `settings.tensors_dir` to `settings.output_dir` in ACE-Step's layout."""
    from daemon.preprocess.tensor_folder import open_tensor_folder
    from daemon.train.run import dataset_options

    if not settings.tensors_dir or not settings.output_dir:
        raise TensorFolderError("export_tensors: give the tensor folder and the output folder")
    folder = open_tensor_folder(settings.tensors_dir)
    out = Path(settings.output_dir).expanduser().absolute()
    if out.resolve() == folder.root:
        raise TensorFolderError(f"{out}: export into another folder than the tensors' own")
    if out.is_dir() and any(out.iterdir()) and not settings.overwrite:
        raise TensorFolderError(f"{out} is not empty; choose an empty folder or allow overwrite")
    out.mkdir(parents=True, exist_ok=True)
    written, instrumental = [], []
    for index, sample in enumerate(folder.samples):
        data = folder.load(index, verify=True)
        metadata = acestep_sample_metadata(data.pop("metadata") or {})
        target = out / f"{Path(sample.relative).stem}.pt"
        _save(target, {**{k: v.contiguous() for k, v in data.items()}, "metadata": metadata})
        written.append(str(target))
        instrumental.append(metadata["is_instrumental"])
        if ctx is not None:
            ctx.progress(index + 1, len(folder), f"wrote {target.name}")
    options = dataset_options(folder)
    write_json_atomic(out / MANIFEST_NAME, acestep_manifest(written, options, bool(instrumental) and all(instrumental)))
    if ctx is not None:
        ctx.log(f"{len(written)} samples written to {out} in ACE-Step's layout")
    return {"output_dir": str(out), "samples": len(written), "format": settings.format}


def _save(path: Path, data: dict) -> None:
    """torch.save to a temporary name, then rename: a crash never leaves half a sample."""
    import torch

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(data, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@command("tensors")
def describe_tensors(_ctx: Any, content: dict) -> dict:
    """What a tensor folder on the daemon's machine holds (shared.tensor_manifest.describe_folder):
    pages ask this, so they work against a daemon on another machine. TensorFolderError says why a
    folder cannot be read; with `missing_ok`, a folder not written yet (none, or nothing in it) is
    {"kind": None} instead."""
    folder = content.get("folder")
    if not isinstance(folder, str) or not folder.strip():
        raise ProtocolError(f"content.folder: expected a folder of training tensors, got {folder!r}")
    if content.get("missing_ok") and not holds_tensors(folder.strip()):
        return {"kind": None, "folder": folder.strip()}
    return describe_folder(folder.strip())
