"""An adapter as the one `.safetensors` ComfyUI loads (SM-5, ACESTEP_INTERFACE.md section 7).

ComfyUI ignores `adapter_config.json` and metadata, so everything it needs is in the tensors:
- LoRA: `<prefix>.<module>.lora_down.weight` / `.lora_up.weight` and a scalar `<prefix>.<module>.alpha`
  that makes ComfyUI's scale alpha / rank equal PEFT's (lora_alpha / r; lora_alpha / sqrt(r) under
  rsLoRA), so the file plays at the trained strength (without it, rank 64 alpha 128 plays at half).
- DoRA: the merged weight difference `<prefix>.<module>.diff` (PEFT's magnitude is per output row,
  ComfyUI's per input column, so the factors cannot be carried over).
- LoKr / LoHa: LyCORIS's own tensors (`.lokr_w1`, `.lokr_w2_a`..., `.alpha`) under the prefix; the
  module paths come from the checkpoint's real module names (underscores cannot be turned back into
  dots blindly: `self_attn`, `time_embed_r`).

`<prefix>` is `diffusion_model.decoder` (every ComfyUI build), `base_model.model` (newer builds) or,
for LyCORIS adapters, `lycoris` (their saved names, `lycoris_layers_0_self_attn_q_proj`).
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from daemon.models.checkpoint_files import weight_files
from daemon.sample.adapter_files import adapter_config, adapter_files, saved_kind
from shared.errors import ExportError

LYCORIS_PREFIX = "lycoris"
_PEFT_KEY = re.compile(r"base_model\.model\.(?P<path>.+)\.lora_(?P<part>[AB])\.weight")


def comfyui_tensors(folder: Path, key_prefix: str, checkpoint: Path | None) -> dict[str, torch.Tensor]:
    """The ComfyUI tensors of the adapter in `folder`; `checkpoint` (the base DiT) is needed for DoRA
    and for LyCORIS adapters under a dotted prefix."""
    family = saved_kind(folder)
    config = adapter_config(folder)
    if family == "peft":
        if key_prefix == LYCORIS_PREFIX:
            raise ExportError("export.key_prefix: lycoris names are for LoKr/LoHa adapters; this one is PEFT "
                              "(use diffusion_model.decoder)")
        if config.get("use_dora"):
            return dora_differences(folder, key_prefix, _need(checkpoint, "DoRA"))
        return lora_tensors(load_file(str(adapter_files(folder)[1])), config, key_prefix)
    weights = load_file(str(adapter_files(folder)[1]))
    if key_prefix == LYCORIS_PREFIX:
        return weights
    return lycoris_tensors(weights, key_prefix, decoder_module_paths(_need(checkpoint, "LoKr/LoHa key names")))


def lora_tensors(weights: dict[str, torch.Tensor], config: dict, prefix: str) -> dict[str, torch.Tensor]:
    """PEFT LoRA pairs as lora_down / lora_up with an alpha tensor per module."""
    out: dict[str, torch.Tensor] = {}
    for key, tensor in weights.items():
        match = _PEFT_KEY.fullmatch(key)
        if match is None:
            raise ExportError(f"adapter_model.safetensors: unexpected tensor {key!r} (not a LoRA A/B weight)")
        path, part = match["path"], match["part"]
        out[f"{prefix}.{path}.lora_{'down' if part == 'A' else 'up'}.weight"] = tensor
        if part == "A":
            out[f"{prefix}.{path}.alpha"] = torch.tensor(comfyui_alpha(path, int(tensor.shape[0]), config))
    return out


def comfyui_alpha(path: str, rank: int, config: dict) -> float:
    """The alpha ComfyUI needs for PEFT's scale: lora_alpha, times sqrt(r) under rsLoRA."""
    alpha = float(config.get("lora_alpha", rank))
    for pattern, value in (config.get("alpha_pattern") or {}).items():
        if path == pattern or path.endswith("." + pattern):
            alpha = float(value)
    return alpha * math.sqrt(rank) if config.get("use_rslora") else alpha


def lycoris_tensors(weights: dict[str, torch.Tensor], prefix: str, paths: dict[str, str]) -> dict[str, torch.Tensor]:
    """`lycoris_<module with underscores>.<tensor>` renamed to `<prefix>.<dotted module>.<tensor>`."""
    out = {}
    for key, tensor in weights.items():
        module, _, name = key.partition(".")
        underscored = module.removeprefix(LYCORIS_PREFIX + "_")
        if underscored not in paths:
            raise ExportError(f"{key}: no decoder module {underscored!r} in the checkpoint (was the adapter "
                              f"trained on another model?)")
        out[f"{prefix}.{paths[underscored]}.{name}"] = tensor
    return out


def decoder_module_paths(checkpoint: Path) -> dict[str, str]:
    """Underscored -> dotted module paths of the checkpoint's decoder, from its weight names."""
    paths = {}
    for source in weight_files(Path(checkpoint), "model"):
        with safe_open(str(source), framework="pt") as fh:
            for key in fh.keys():
                if key.startswith("decoder.") and "." in key[len("decoder."):]:
                    module = key[len("decoder."):].rsplit(".", 1)[0]
                    paths[module.replace(".", "_")] = module
    return paths


def dora_differences(folder: Path, prefix: str, checkpoint: Path) -> dict[str, torch.Tensor]:
    """`<prefix>.<module>.diff` = merged weight - base weight, in the base file's dtype."""
    from daemon.export.merge import merged_model

    targets = {m["path"] for key in load_file(str(adapter_files(folder)[1]))
               if (m := _PEFT_KEY.fullmatch(key))}
    merged = merged_model(checkpoint, folder, 1.0).decoder.state_dict()
    out = {}
    for source in weight_files(Path(checkpoint), "model"):
        with safe_open(str(source), framework="pt") as fh:
            for path in sorted(targets):
                key = f"decoder.{path}.weight"
                if key in fh.keys():
                    base = fh.get_tensor(key)
                    out[f"{prefix}.{path}.diff"] = (merged[f"{path}.weight"] - base.float()).to(base.dtype)
    if len(out) != len(targets):
        raise ExportError(f"{folder}: DoRA modules missing in {checkpoint.name}: "
                          f"{sorted(targets - {k[len(prefix) + 1:-5] for k in out})[:3]}")
    return out


def _need(checkpoint: Path | None, what: str) -> Path:
    if checkpoint is None:
        raise ExportError(f"export.checkpoint: {what} needs the checkpoint the adapter was trained on")
    return checkpoint
