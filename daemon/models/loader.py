"""Load ACE-Step components exactly as ACE-Step does (ACESTEP_INTERFACE.md section 1).

- DiT: `AutoModel.from_pretrained(folder, trust_remote_code=True, attn_implementation=...,
  dtype=...)`, trying flash_attention_2, sdpa, eager in turn (device.attention_candidates).
- VAE: `diffusers.AutoencoderOobleck.from_pretrained(folder)`.
- Text encoder: `AutoTokenizer` + `AutoModel` on the `Qwen3-Embedding-0.6B` folder.
- Silence latent: `torch.load(silence_latent.pt, weights_only=True)` [1, 64, T] -> [1, T, 64].

Each loader checks the folder first (checkpoint_files) so a broken folder raises CheckpointError
naming the file. Loaded modules are in eval mode with gradients off; adapters add their own.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from daemon.models.checkpoint_files import (
    validate_dit_folder,
    validate_text_encoder_folder,
    validate_vae_folder,
)
from daemon.models.device import attention_candidates
from shared.errors import CheckpointError

log = logging.getLogger(__name__)

SILENCE_FILE = "silence_latent.pt"


def load_dit(folder: Path, device: torch.device, dtype: torch.dtype,
             compute_device: torch.device | None = None) -> tuple[Any, str]:
    """The DiT (AceStepConditionGenerationModel) on `device`, and the attention implementation used.

    The attention implementation suits `compute_device` (default `device`): the manager loads
    on the CPU and moves the model to the GPU afterwards."""
    from transformers import AutoModel

    folder = Path(folder)
    validate_dit_folder(folder)
    errors = []
    for attn in attention_candidates(compute_device or device):
        try:
            model = AutoModel.from_pretrained(str(folder), trust_remote_code=True,
                                              attn_implementation=attn, dtype=dtype)
        except Exception as err:  # any failure here means: try the next implementation
            log.warning("loading %s with attn_implementation=%s failed: %s", folder, attn, err)
            errors.append(f"{attn}: {type(err).__name__}: {err}")
            continue
        _check_dit_layout(model, folder)
        model.to(device).eval().requires_grad_(False)
        log.info("loaded DiT %s (%s, %s, attention %s)", folder.name, device, dtype, attn)
        return model, attn
    raise CheckpointError(f"{folder}: the DiT could not be loaded ({'; '.join(errors)})")


def _check_dit_layout(model: Any, folder: Path) -> None:
    missing = [name for name in ("decoder", "encoder", "null_condition_emb") if not hasattr(model, name)]
    if missing:
        raise CheckpointError(f"{folder / 'config.json'}: the model it names has no {', '.join(missing)}")


def load_vae(folder: Path, device: torch.device, dtype: torch.dtype) -> Any:
    """The AutoencoderOobleck VAE on `device` in `dtype`."""
    from diffusers import AutoencoderOobleck

    folder = Path(folder)
    validate_vae_folder(folder)
    try:
        vae = AutoencoderOobleck.from_pretrained(str(folder), torch_dtype=dtype)
    except Exception as err:
        raise CheckpointError(f"{folder}: the VAE could not be loaded ({type(err).__name__}: {err})") from None
    vae.to(device).eval().requires_grad_(False)
    log.info("loaded VAE %s (%s, %s)", folder, device, dtype)
    return vae


def load_text_encoder(folder: Path, device: torch.device, dtype: torch.dtype,
                      compute_device: torch.device | None = None) -> tuple[Any, Any]:
    """(tokenizer, text encoder model) from a Qwen3-Embedding folder, the model on `device`."""
    from transformers import AutoModel, AutoTokenizer

    folder = Path(folder)
    validate_text_encoder_folder(folder)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
    except Exception as err:
        raise CheckpointError(f"{folder}: the tokenizer could not be loaded ({type(err).__name__}: {err})") from None
    errors = []
    for attn in attention_candidates(compute_device or device):
        try:
            model = AutoModel.from_pretrained(str(folder), attn_implementation=attn, dtype=dtype)
            break
        except Exception as err:
            errors.append(f"{attn}: {type(err).__name__}: {err}")
    else:
        raise CheckpointError(f"{folder}: the text encoder could not be loaded ({'; '.join(errors)})")
    model.to(device).eval().requires_grad_(False)
    log.info("loaded text encoder %s (%s, %s)", folder, device, dtype)
    return tokenizer, model


def load_silence_latent(folder: Path, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """silence_latent.pt of a DiT folder as [1, T, 64] on `device`."""
    path = Path(folder) / SILENCE_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: missing (ACE-Step DiT folders ship a silence latent)")
    try:
        latent = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path}: cannot be read ({type(err).__name__}: {err})") from None
    if not isinstance(latent, torch.Tensor) or latent.dim() != 3 or latent.shape[0] != 1:
        shape = tuple(latent.shape) if isinstance(latent, torch.Tensor) else type(latent).__name__
        raise CheckpointError(f"{path}: expected a tensor [1, 64, T], got {shape}")
    return latent.transpose(1, 2).contiguous().to(device=device, dtype=dtype)
