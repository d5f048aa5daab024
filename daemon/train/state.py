"""Checkpoints that resume with everything, written atomically, never pickled (TR-9, TR-10).

A checkpoint folder (`checkpoints/epoch_N/` or `checkpoints/step_N/`) holds:
- the adapter's own files, flat (adapter_config.json + adapter_model.safetensors, or LyCORIS's);
- `training_state.json`: progress (step, epoch, position in the epoch), settings, optimizer
  hyper-parameters and scalar state, scheduler state, Python and NumPy RNG states, policy states,
  loss history, and a sha256 of every trainable adapter tensor;
- `training_state.safetensors`: the optimizer's state tensors, flattened, and torch's RNG states.

Everything is written into a hidden temporary folder that takes the checkpoint's place last
(shared/atomic.py), so a kill during a save leaves the previous checkpoint as it was.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from daemon.train.resume_rule import STATE_FORMAT, STATE_JSON, STATE_TENSORS, STATE_VERSION, resume_differences
from shared.atomic import write_folder_atomic
from shared.errors import TrainingError


# -- RNG --------------------------------------------------------------------------------------
def capture_rng() -> tuple[dict, dict[str, torch.Tensor]]:
    """(JSON part, tensor part) of the Python, NumPy, torch and CUDA generators."""
    version, state, gauss = random.getstate()
    np_state = np.random.get_state()
    as_json = {
        "python": [version, list(state), gauss],
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
    }
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    return as_json, tensors


def restore_rng(as_json: dict, tensors: dict[str, torch.Tensor]) -> None:
    version, state, gauss = as_json["python"]
    random.setstate((version, tuple(state), gauss))
    name, keys, pos, has_gauss, cached = as_json["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted((k for k in tensors if k.startswith("rng.cuda.")),
                                       key=lambda k: int(k.rsplit(".", 1)[1]))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])


# -- optimizer ---------------------------------------------------------------------------------
def flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict, dict[str, torch.Tensor]]:
    """The optimizer's state_dict split into JSON (hyper-parameters, scalars) and tensors."""
    sd = optimizer.state_dict()
    scalars: dict[str, dict] = {}
    tensors: dict[str, torch.Tensor] = {}
    for index, entries in sd["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    return {"param_groups": sd["param_groups"], "scalars": scalars}, tensors


def unflatten_optimizer(as_json: dict, tensors: dict[str, torch.Tensor]) -> dict:
    state: dict[int, dict] = {}
    for index, entries in as_json["scalars"].items():
        state.setdefault(int(index), {}).update(entries)
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": as_json["param_groups"]}


# -- adapter checksums ---------------------------------------------------------------------------
def adapter_checksums(parameters: list[tuple[str, torch.nn.Parameter]]) -> dict[str, str]:
    """sha256 of every trainable tensor's bytes, to prove a resume continues from the saved weights."""
    out = {}
    for name, param in parameters:
        data = param.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy()
        out[name] = hashlib.sha256(data.tobytes()).hexdigest()
    return out


# -- save / load ---------------------------------------------------------------------------------
def save_checkpoint(target: Path, *, adapter: Any, adapter_metadata: dict, optimizer: torch.optim.Optimizer,
                    scheduler: Any, progress: dict, policies: dict, settings: dict) -> Path:
    """Write a complete checkpoint folder atomically; returns its path."""
    optim_json, optim_tensors = flatten_optimizer(optimizer)
    rng_json, rng_tensors = capture_rng()
    params = adapter.trainable_parameters()
    state = {
        "format": STATE_FORMAT, "version": STATE_VERSION, **progress, "settings": settings,
        "optimizer": optim_json, "scheduler": scheduler.state_dict(), "rng": rng_json,
        "policies": policies, "adapter_kind": adapter.kind, "adapter_checksums": adapter_checksums(params),
    }

    def write(folder: Path) -> None:
        adapter.save(folder, adapter_metadata)
        save_file({**optim_tensors, **rng_tensors}, str(folder / STATE_TENSORS))
        (folder / STATE_JSON).write_text(json.dumps(state, default=_json_default))

    return write_folder_atomic(target, write)


def _json_default(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def read_checkpoint(folder: str | os.PathLike) -> tuple[dict, dict[str, torch.Tensor]]:
    """(training_state.json, training_state.safetensors) of a checkpoint folder, checked."""
    folder = Path(folder)
    if not (folder / STATE_JSON).is_file() or not (folder / STATE_TENSORS).is_file():
        raise TrainingError(f"{folder}: not a complete training checkpoint (no {STATE_JSON} / {STATE_TENSORS})")
    state = json.loads((folder / STATE_JSON).read_text())
    if state.get("format") != STATE_FORMAT or state.get("version", 0) > STATE_VERSION:
        raise TrainingError(f"{folder / STATE_JSON}: not a training state this studio reads")
    return state, load_file(str(folder / STATE_TENSORS))


def check_resume_settings(saved: dict, current: dict, strict: bool) -> None:
    """Refuse a resume that the rule (daemon/train/resume_rule.py) does not allow."""
    changed = resume_differences(saved, current, strict)
    if changed:
        what = "optimizer or adapter settings" if strict else "adapter settings"
        raise TrainingError(f"cannot resume: the {what} differ from the checkpoint's ({'; '.join(changed)})")


def verify_adapter(adapter: Any, state: dict, folder: Path) -> None:
    """Refuse to go on unless the loaded adapter equals what was saved (trap: fresh weights resumed)."""
    expected = state["adapter_checksums"]
    actual = adapter_checksums(adapter.trainable_parameters())
    if set(expected) != set(actual):
        raise TrainingError(f"{folder}: the checkpoint's adapter tensors do not match this adapter's")
    differ = [name for name in expected if expected[name] != actual[name]]
    if differ:
        raise TrainingError(f"{folder}: adapter weights differ from the saved ones after loading ({differ[0]}...)")
