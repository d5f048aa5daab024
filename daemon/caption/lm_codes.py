"""Audio to the 5 Hz codes the LM reads, with the selected DiT's own audio tokenizer
(ACESTEP_INTERFACE.md section 8).

    codes = audio_codes(manager, Path("song.flac"), max_seconds=600)   # [int 0..63999], 5 per second

Steps: decode to 48 kHz stereo (the preprocessing decoder, so a broken file fails with the same
AudioError); VAE-encode to 25 Hz latents [T25, 64] sampled from the latent distribution, as
ACE-Step does (the preprocessing encoder, tiled, seeded from the file name so the same file gives
the same codes); pad T25 to a multiple of 5 with frames of the checkpoint's silence latent; view as
[T5, 5, 64]; the DiT's `tokenizer` (projection, attention pooler over each 5-frame patch, residual
FSQ) gives one index per patch. The models come from the daemon's model manager.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from daemon.audio.decode import load_audio
from daemon.preprocess.encode import Tiling, module_dtype, seeded_generator, vae_encode
from shared.errors import CheckpointError

log = logging.getLogger(__name__)

PATCH_FRAMES = 5  # 25 Hz latent frames per 5 Hz code
TILING = Tiling.from_seconds(30.0, 2.0)  # the preprocessing defaults: flat VAE memory on long songs


def pad_to_patches(latents: torch.Tensor, silence: torch.Tensor) -> torch.Tensor:
    """[T25, 64] padded with silence-latent frames to a multiple of 5, viewed as [T5, 5, 64]."""
    missing = (-latents.shape[0]) % PATCH_FRAMES
    if missing:
        latents = torch.cat([latents, silence[:missing].to(latents.dtype)], dim=0)
    return latents.reshape(-1, PATCH_FRAMES, latents.shape[-1])


def tokenize_latents(dit: Any, patches: torch.Tensor) -> list[int]:
    """The DiT tokenizer's index for each 5-frame patch of [T5, 5, 64] latents."""
    tokenizer = getattr(dit, "tokenizer", None)
    if tokenizer is None:
        raise CheckpointError("the selected DiT has no audio tokenizer (`tokenizer`), so it cannot make 5 Hz codes")
    param = next(tokenizer.parameters())
    with torch.inference_mode():
        _, indices = tokenizer(patches.unsqueeze(0).to(param.device, module_dtype(tokenizer.audio_acoustic_proj)))
    return [int(code) for code in indices[0, :, 0].tolist()]


def latents_of(manager: Any, path: Path, max_seconds: float | None) -> tuple[torch.Tensor, float]:
    """(25 Hz latents [T25, 64] of at most `max_seconds` of the file, the file's duration in seconds)."""
    decoded = load_audio(path, max_duration=max_seconds)
    with manager.use("vae") as vae:
        latents = vae_encode(vae, decoded.audio, TILING, seeded_generator(Path(path).name))
    return latents, decoded.source_duration


def audio_codes(manager: Any, path: Path, max_seconds: float | None = None) -> tuple[list[int], float]:
    """(the 5 Hz codes of at most `max_seconds` of `path`, the file's whole duration in seconds)."""
    latents, duration = latents_of(manager, path, max_seconds)
    silence = manager.get("silence_latent")[0]  # [T, 64]
    patches = pad_to_patches(latents, silence.float().cpu())
    codes = tokenize_latents(manager.get("dit"), patches)
    log.info("%s: %d codes (%.1f s of %.1f s)", Path(path).name, len(codes), len(codes) / 5, duration)
    return codes, duration
