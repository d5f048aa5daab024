"""One sample's tensors in two stages, shared by the single-pass and the two-pass runs.

- `first_stage`: VAE (tiled, or batched for clips of one length) + text encoder + lyric embedding,
  the pass-1 models.
- `second_stage`: condition encoder + context latents, giving the five training tensors.
"""
from __future__ import annotations

import torch

from daemon.preprocess.encode import (
    Tiling,
    condition,
    context_latents,
    embed_lyrics,
    encode_text,
    latent_frames,
    seeded_generator,
    vae_encode,
    vae_encode_batch,
)
from daemon.preprocess.run import Prepared, PreprocessRun
from shared.errors import StudioError
from shared.preprocess_settings import PreprocessSettings


def first_stage(batch: list[Prepared], vae: torch.nn.Module, text_model: torch.nn.Module, tokenizer,
                tiling: Tiling, settings: PreprocessSettings) -> list[dict[str, torch.Tensor]]:
    """Per prepared sample: target latents, text hidden states, lyric embeddings (with masks).

    Several samples are VAE-encoded in one call (they have one length, see `batch_key`); fills the
    frames and token counts into each sample's metadata."""
    generators = [seeded_generator(p.item.key) for p in batch]
    if len(batch) == 1:
        latents = [vae_encode(vae, batch[0].audio, tiling, generators[0])]
    else:
        latents = vae_encode_batch(vae, [p.audio for p in batch], generators)
    halves = []
    for prepared, target in zip(batch, latents):
        text_hidden, text_mask = encode_text(text_model, tokenizer, prepared.text_prompt, settings.max_text_tokens)
        lyric_hidden, lyric_mask = embed_lyrics(text_model, tokenizer, prepared.lyrics_prompt,
                                                settings.max_lyric_tokens)
        prepared.metadata.update(frames=int(target.shape[0]), text_tokens=int(text_mask.sum()),
                                 lyric_tokens=int(lyric_mask.sum()))
        halves.append({"target_latents": target, "text_hidden": text_hidden, "text_mask": text_mask,
                       "lyric_hidden": lyric_hidden, "lyric_mask": lyric_mask})
    return halves


def batch_key(prepared: Prepared, tiling: Tiling) -> int | None:
    """Samples with the same key may share a VAE call: their length in frames, if within one tile."""
    frames = latent_frames(prepared.audio.shape[-1])
    return frames if frames <= tiling.tile_frames else None


def second_stage(half: dict[str, torch.Tensor], encoder: torch.nn.Module,
                 silence: torch.Tensor) -> dict[str, torch.Tensor]:
    """The five training tensors (ACESTEP_INTERFACE.md section 4 step 7) from a first-stage result."""
    hidden, mask = condition(encoder, half["text_hidden"], half["text_mask"], half["lyric_hidden"], half["lyric_mask"])
    frames = half["target_latents"].shape[0]
    return {
        "target_latents": half["target_latents"], "attention_mask": torch.ones(frames),
        "encoder_hidden_states": hidden, "encoder_attention_mask": mask,
        "context_latents": context_latents(silence, frames),
    }


def vae_batch_size(settings: PreprocessSettings, device) -> int:
    """The VAE batch: as set, else 4 on an accelerator and 1 on the CPU (batching gains nothing there)."""
    if settings.batch_size is not None:
        return settings.batch_size
    return 1 if torch.device(device).type == "cpu" else 4


def first_stage_or_report(run: PreprocessRun, batch: list, vae, text_model, tokenizer,
                          tiling: Tiling) -> list[dict | None]:
    """First-stage results per batch entry, None where decoding or encoding failed (reported)."""
    ready = [(item, prepared) for item, prepared in batch if not isinstance(prepared, Exception)]
    for item, prepared in batch:
        if isinstance(prepared, Exception):
            run.fail(item, prepared)
    if not ready:
        return [None] * len(batch)
    try:
        halves = iter(first_stage([p for _, p in ready], vae, text_model, tokenizer, tiling, run.settings))
    except Exception as err:  # one file's (or batch's) failure never aborts the run
        for item, _ in ready:
            run.fail(item, err, model_side=not isinstance(err, StudioError))
        return [None] * len(batch)
    return [None if isinstance(prepared, Exception) else next(halves) for _, prepared in batch]
