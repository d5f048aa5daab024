"""Merge an adapter into the base DiT (SM-4), written as a checkpoint folder in ACE-Step's layout.

    info = write_merged_checkpoint(base_folder, adapter_folder, strength, target_folder)

The base DiT is loaded on the CPU in float32 through the real loader (a private copy: the daemon's
loaded model is never touched), the adapter is opened on its decoder and folded in at `strength`
(LoRA: W + alpha/r x strength x B@A; DoRA: PEFT's merge; LoKr/LoHa: LyCORIS's merge), and every
tensor is written back in the dtype the base file had. Config, code files and silence latent are
copied, so discovery lists the folder and the loader loads it like any checkpoint. The folder is
written under a hidden name and renamed into place last; an existing folder is never replaced.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from daemon.models.checkpoint_files import weight_files
from shared.errors import AdapterError, ExportError

log = logging.getLogger(__name__)

CPU = torch.device("cpu")
MERGE_NOTE = "acestep_studio_merge"  # what config.json says about where the weights came from


def merged_model(checkpoint: Path, adapter_folder: Path, strength: float) -> Any:
    """The base DiT (float32, CPU) with the adapter folded into its decoder at `strength`."""
    from daemon.models.loader import load_dit
    from daemon.train.adapters import load_adapter

    model, _attn = load_dit(Path(checkpoint), CPU, torch.float32)
    try:
        adapter = load_adapter(model.decoder, adapter_folder)
    except Exception as err:
        raise AdapterError(f"{adapter_folder}: the adapter does not fit {Path(checkpoint).name} "
                          f"({type(err).__name__}: {err})") from None
    with torch.no_grad():
        adapter.merge(strength)
    return model


def write_merged_checkpoint(checkpoint: Path, adapter_folder: Path, strength: float, target: Path,
                            progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Write `target` (a new DiT folder); returns what was written."""
    checkpoint, target = Path(checkpoint), Path(target)
    if target.exists():
        raise ExportError(f"{target}: already exists; choose another checkpoint name (nothing was replaced)")
    report = progress or (lambda done, total, message: None)
    report(0, 3, "loading the base model and the adapter")
    model = merged_model(checkpoint, adapter_folder, strength)
    report(1, 3, "writing the merged weights")
    tmp = target.parent / f".tmp-{target.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _copy_folder_files(checkpoint, tmp)
        _note_in_config(tmp / "config.json", checkpoint, adapter_folder, strength)
        changed = _write_weights(model, checkpoint, tmp / "model.safetensors")
        report(2, 3, "moving the checkpoint into place")
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report(3, 3, "done")
    log.info("merged %s into %s at strength %s: %s", adapter_folder, target, strength, changed)
    return {"checkpoint": str(target), "base": str(checkpoint), "adapter": str(adapter_folder),
            "strength": strength, "changed_tensors": changed}


def _copy_folder_files(checkpoint: Path, tmp: Path) -> None:
    """Config, code files, silence latent and anything else that is not the weights."""
    for path in checkpoint.iterdir():
        weights = path.name.startswith("model") and (path.suffix == ".safetensors" or path.name.endswith(".index.json"))
        if path.is_file() and not weights and not path.name.startswith("."):
            shutil.copy2(path, tmp / path.name)


def _note_in_config(config_path: Path, checkpoint: Path, adapter_folder: Path, strength: float) -> None:
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config[MERGE_NOTE] = {"base": checkpoint.name, "adapter": str(adapter_folder), "strength": strength}
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")


def _write_weights(model: Any, checkpoint: Path, path: Path) -> int:
    """The merged model's tensors under the base file's names and dtypes; returns how many changed."""
    state = model.state_dict()
    out, changed = {}, 0
    for source in weight_files(checkpoint, "model"):
        with safe_open(str(source), framework="pt") as fh:
            for key in fh.keys():
                original = fh.get_tensor(key)
                if key not in state:  # not a tensor of the model's modules: kept as it was
                    out[key] = original
                    continue
                out[key] = state[key].detach().to(original.dtype).contiguous()
                changed += int(key.startswith("decoder.") and not torch.equal(original, out[key]))
    save_file(out, str(path), metadata={"format": "pt"})
    return changed
