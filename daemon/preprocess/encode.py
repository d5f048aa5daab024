"""The tensor steps of ACESTEP_INTERFACE.md section 4, each a function of the models it needs.

- `vae_encode(vae, audio)`: [2, S] 48 kHz audio to target latents [T, 64], tiled beyond a tile
  length with the overlap discarded, so memory stays flat with duration; `vae_encode_batch` for
  several clips of one length at once (a GPU gets busier, the latents are the same).
- `encode_text(model, tokenizer, prompt)`: text encoder `last_hidden_state` [Lt, 1024] + mask.
- `embed_lyrics(model, tokenizer, prompt)`: the token embedding table only [Ll, 1024] + mask.
- `condition(encoder, ...)`: the DiT's `model.encoder(...)`, one zero reference -> [L, H] + bool mask.
- `context_latents(silence_latent, T)`: concat(silence[:T], ones) -> [T, 128].

Everything runs under `torch.inference_mode()`; results come back on the CPU in float32.
"""
from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

from shared.errors import AudioError

log = logging.getLogger(__name__)

HOP = 1920  # 48 kHz samples per latent frame (25 frames per second)
FRAMES_PER_SECOND = 25
LATENT_CHANNELS = 64


@dataclass(frozen=True)
class Tiling:
    """VAE tiling in latent frames: core length and the overlap encoded on each side, then dropped."""

    tile_frames: int
    overlap_frames: int

    @classmethod
    def from_seconds(cls, tile_seconds: float, overlap_seconds: float) -> "Tiling":
        return cls(int(tile_seconds * FRAMES_PER_SECOND), int(overlap_seconds * FRAMES_PER_SECOND))

    def windows(self, total_frames: int) -> list[tuple[int, int, int, int]]:
        """(window start, window end, core start, core end) in frames; one window when short enough."""
        if total_frames <= self.tile_frames:
            return [(0, total_frames, 0, total_frames)]
        core = max(1, self.tile_frames - 2 * self.overlap_frames)
        out = []
        for start in range(0, total_frames, core):
            end = min(start + core, total_frames)
            out.append((max(0, start - self.overlap_frames), min(total_frames, end + self.overlap_frames), start, end))
        return out


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter (CPU for a module without any)."""
    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def module_dtype(module: torch.nn.Module) -> torch.dtype:
    param = next(module.parameters(), None)
    return param.dtype if param is not None else torch.float32


def latent_frames(samples: int) -> int:
    """Latent frames of a clip of `samples` at 48 kHz: floor(samples / 1920), as ACE-Step's own
    preprocessing gets them (its VAE's strided convolutions floor at every stage); a partial frame
    at the end is dropped, never padded into one more frame."""
    return samples // HOP


def crop_to_frames(audio: np.ndarray | torch.Tensor) -> torch.Tensor:
    """[2, S] as a float tensor cut to a whole number of latent frames (AudioError when under one)."""
    tensor = torch.as_tensor(audio, dtype=torch.float32)
    frames = latent_frames(tensor.shape[-1])
    if frames == 0:
        raise AudioError(f"the clip is {tensor.shape[-1]} samples long, shorter than one latent frame "
                         f"({HOP} samples, 40 ms at 48 kHz)")
    return tensor[..., :frames * HOP]


def vae_encode(
    vae: torch.nn.Module, audio: np.ndarray | torch.Tensor, tiling: Tiling, generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Target latents [T, 64] (float32, CPU) sampled from the VAE's latent distribution, tiled."""
    wave = crop_to_frames(audio)
    total = wave.shape[-1] // HOP
    device, dtype = module_device(vae), module_dtype(vae)
    pieces = []
    with torch.inference_mode():
        for w0, w1, c0, c1 in tiling.windows(total):
            chunk = wave[:, w0 * HOP:w1 * HOP].unsqueeze(0).to(device, dtype)
            latents = sample_latents(vae.encode(chunk).latent_dist, 0, generator)  # [frames, 64]
            pieces.append(latents[c0 - w0:c1 - w0])
    out = torch.cat(pieces, dim=0)
    if out.shape[0] != total:
        raise RuntimeError(f"VAE returned {out.shape[0]} latent frames for {total} expected")
    return out


def vae_encode_batch(
    vae: torch.nn.Module, audios: list[np.ndarray], generators: list[torch.Generator | None],
) -> list[torch.Tensor]:
    """Clips of one length (within one tile) in a single VAE call; each sampled with its own generator,
    so a clip gets the same latents batched or alone."""
    waves = torch.stack([crop_to_frames(audio) for audio in audios])
    device, dtype = module_device(vae), module_dtype(vae)
    with torch.inference_mode():
        dist = vae.encode(waves.to(device, dtype)).latent_dist
        return [sample_latents(dist, i, gen) for i, gen in enumerate(generators)]


def sample_latents(dist, index: int, generator: torch.Generator | None) -> torch.Tensor:
    """mean + std * noise for one batch row as [T, 64] float32 on the CPU; noise drawn on the CPU so
    the same seed gives the same latents on every device."""
    mean, std = dist.mean[index], dist.std[index]
    noise = torch.randn(mean.shape, generator=generator, dtype=torch.float32)
    return (mean.float() + std.float() * noise.to(mean.device)).transpose(0, 1).cpu()


def seeded_generator(key: str, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator seeded from a sample's name: the same file encodes to the same latents."""
    seed = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "little") & (2**63 - 1)
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


def encode_text(model: torch.nn.Module, tokenizer, prompt: str, max_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Text encoder `last_hidden_state` [Lt, D] (float32, CPU) and its mask [Lt] for one prompt."""
    device = module_device(model)
    tokens = tokenizer(prompt, max_length=max_tokens, truncation=True, return_tensors="pt")
    ids, mask = tokens["input_ids"].to(device), tokens["attention_mask"].to(device)
    with torch.inference_mode():
        hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
    return hidden[0].float().cpu(), mask[0].cpu()


def embed_lyrics(model: torch.nn.Module, tokenizer, prompt: str, max_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The lyrics prompt through the token embedding table only (no transformer pass): [Ll, D] + mask."""
    embed = model.get_input_embeddings()
    device = module_device(embed)
    tokens = tokenizer(prompt, max_length=max_tokens, truncation=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = embed(tokens["input_ids"].to(device))
    return hidden[0].float().cpu(), tokens["attention_mask"][0].cpu()


def condition(
    encoder: torch.nn.Module, text_hidden: torch.Tensor, text_mask: torch.Tensor,
    lyric_hidden: torch.Tensor, lyric_mask: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The condition encoder (`model.encoder`) with one zero reference [1,1,64]: [L, H] + bool mask [L]."""
    device, dtype = module_device(encoder), module_dtype(encoder)
    refer = torch.zeros(1, 1, LATENT_CHANNELS, device=device, dtype=dtype)
    with torch.inference_mode():
        hidden, mask = encoder(
            text_hidden_states=text_hidden.unsqueeze(0).to(device, dtype),
            text_attention_mask=text_mask.unsqueeze(0).to(device),
            lyric_hidden_states=lyric_hidden.unsqueeze(0).to(device, dtype),
            lyric_attention_mask=lyric_mask.unsqueeze(0).to(device),
            refer_audio_acoustic_hidden_states_packed=refer,
            refer_audio_order_mask=torch.zeros(1, dtype=torch.long, device=device),
        )[:2]
    return hidden[0].float().cpu(), mask[0].bool().cpu()


def context_latents(silence_latent: torch.Tensor, frames: int) -> torch.Tensor:
    """concat(silence_latent[:T], ones[T, 64]) -> [T, 128]; the silence latent is tiled if too short."""
    silence = silence_latent.float().cpu()
    if silence.ndim == 3:
        silence = silence[0]
    if silence.shape[-1] != LATENT_CHANNELS and silence.shape[0] == LATENT_CHANNELS:
        silence = silence.transpose(0, 1)  # stored [64, T_sil]
    if silence.shape[0] < frames:
        silence = silence.repeat(math.ceil(frames / silence.shape[0]), 1)
    return torch.cat([silence[:frames], torch.ones(frames, LATENT_CHANNELS)], dim=1)
