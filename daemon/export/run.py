"""The `merge` and `export` jobs' work: where outputs go, and writing them without ever replacing
what is there (an existing file or folder is an error that names it; nothing is deleted).

Default places: an adapter inside a run folder exports to `<run>/exports/`, others to the job's own
run folder; a merged checkpoint goes beside the base checkpoint (its VAE and text encoder are there,
so discovery lists it and it loads like any checkpoint).
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path

from daemon.export.comfyui import LYCORIS_PREFIX, comfyui_tensors
from daemon.export.merge import write_merged_checkpoint
from daemon.jobs import JobContext
from daemon.sample.adapter_files import (
    adapter_config, adapter_files, adapter_folder, adapter_label, run_of, saved_kind,
)
from shared.errors import ExportError
from shared.export_settings import ExportSettings, MergeSettings

log = logging.getLogger(__name__)

EXPORTS_DIR = "exports"


def run_merge(ctx: JobContext, settings: MergeSettings) -> dict:
    folder = adapter_folder(_required(settings.adapter, "merge.adapter"))
    base = _base_checkpoint(ctx, settings.checkpoint)
    run = run_of(folder, ctx.run_dir.parent)
    strength = "" if settings.strength == 1.0 else f"-s{settings.strength:g}"
    name = settings.name or f"acestep-v15-merged-{_stem(folder, run)}{strength}"
    if "/" in name or name.startswith("."):
        raise ExportError(f"merge.name: {name!r} is not a folder name")
    target = Path(settings.checkpoints_dir).expanduser().resolve() if settings.checkpoints_dir else base.parent
    ctx.log(f"merging {folder} into {base.name} at strength {settings.strength:g} as {target / name}")
    result = write_merged_checkpoint(base, folder, settings.strength, target / name,
                                     progress=lambda done, total, message: ctx.progress(done, total, message))
    return {**result, "files": [result["checkpoint"]]}


def run_export(ctx: JobContext, settings: ExportSettings) -> dict:
    folder = adapter_folder(_required(settings.adapter, "export.adapter"))
    run = run_of(folder, ctx.run_dir.parent)
    slug = _stem(folder, run)
    exports = (run or ctx.run_dir) / EXPORTS_DIR
    if settings.format == "copy":
        target = Path(settings.output).expanduser().resolve() if settings.output else exports / slug
        files = copy_adapter(folder, target)
    else:
        target = (Path(settings.output).expanduser().resolve() if settings.output
                  else exports / f"{slug}_comfyui.safetensors")
        ctx.progress(0, 2, "converting the adapter")
        checkpoint = _base_checkpoint(ctx, settings.checkpoint) if _needs_checkpoint(folder, settings) else None
        tensors = comfyui_tensors(folder, settings.key_prefix, checkpoint)
        ctx.progress(1, 2, "writing")
        files = [write_new_safetensors(target, tensors, _header(folder))]
    ctx.progress(1, 1, "done")
    ctx.log(f"exported {folder} as {settings.format}: {', '.join(map(str, files))}")
    return {"files": [str(f) for f in files], "format": settings.format, "adapter": str(folder)}


def copy_adapter(folder: Path, target: Path) -> list[Path]:
    """The adapter's files into `target` (created if needed); refuses before copying anything when a
    file of the same name is there already."""
    sources = adapter_files(folder)
    clashes = [target / s.name for s in sources if (target / s.name).exists()]
    if clashes:
        raise ExportError(f"{', '.join(map(str, clashes))}: already there; choose another folder (nothing was "
                          f"copied or replaced)")
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sources:
        tmp = target / f".{source.name}.{os.getpid()}.tmp"
        shutil.copy2(source, tmp)
        os.link(tmp, target / source.name)  # fails if the name appeared meanwhile: never replaces
        tmp.unlink()
        written.append(target / source.name)
    return written


def write_new_safetensors(path: Path, tensors: dict, metadata: dict[str, str]) -> Path:
    """A new .safetensors file at `path`; an existing one is never replaced."""
    from safetensors.torch import save_file

    if path.exists():
        raise ExportError(f"{path}: already exists; choose another file name (nothing was replaced)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise ExportError(f"{path}: already exists; choose another file name (nothing was replaced)") from None
    finally:
        tmp.unlink()
    return path


def _needs_checkpoint(folder: Path, settings: ExportSettings) -> bool:
    """DoRA differences need the base weights; LyCORIS names under a dotted prefix its module names."""
    if saved_kind(folder) == "peft":
        return bool(adapter_config(folder).get("use_dora"))
    return settings.key_prefix != LYCORIS_PREFIX


def _base_checkpoint(ctx: JobContext, checkpoint: str) -> Path:
    from daemon.models.manager import manager_from

    manager = manager_from(ctx.services)
    if checkpoint:
        manager.select(checkpoint)
    manager.fingerprint()  # selects the default checkpoint when none is
    return Path(manager.selected.path)


def _header(folder: Path) -> dict[str, str]:
    """What the file says about itself (ComfyUI ignores it; people and other tools read it)."""
    config = adapter_config(folder)
    keep = {k: config.get(k) for k in ("trigger_word", "tag_position", "model_name", "model_fingerprint", "epoch")}
    return {"format": "pt", "source_adapter": str(folder),
            **{k: v if isinstance(v, str) else json.dumps(v) for k, v in keep.items() if v not in (None, "")}}


def _stem(folder: Path, run: Path | None) -> str:
    """How outputs are named: `<run id>-final`, `<run id>-checkpoints-epoch_10`, or the folder's name."""
    text = f"{run.name}-{adapter_label(folder, run)}" if run else folder.name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def _required(value: str, field: str) -> str:
    if not value:
        raise ExportError(f"{field}: choose an adapter folder (a run's final/, best/ or a checkpoint)")
    return value
