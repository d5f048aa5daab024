"""The flow-matching objective on the decoder: one micro-batch's random draws and per-sample losses,
the gradients of an accumulation group, and the validation loss with fixed draws.

Convention (as ACE-Step trains, docs/TRAINING.md): x_t = t * noise + (1 - t) * x0, the decoder predicts the
velocity noise - x0, and r = t (no mean-flow term).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Iterable

import torch

from daemon.train import batching
from daemon.train.losses import per_sample_loss, weighted_loss
from daemon.train.timesteps import TimestepSampler, apply_cfg_dropout, cfg_dropout_mask
from shared.train_settings import TrainSettings


@dataclass
class Draws:
    """The random draws of one micro-batch: timesteps, noise and which rows drop the condition."""

    t: torch.Tensor
    noise: torch.Tensor
    drop: torch.Tensor

    @classmethod
    def sample(cls, batch: batching.Batch, sampler: TimestepSampler, cfg_dropout: float) -> "Draws":
        device = batch.target_latents.device
        t = sampler.sample(batch.size, device)
        drop = cfg_dropout_mask(batch.size, cfg_dropout)
        # Padded frames get no noise: x_t is then zero there, as the decoder's own odd-length padding.
        noise = torch.randn(batch.target_latents.shape, device=device) * batch.attention_mask.unsqueeze(-1)
        return cls(t, noise, drop)


Shard = Callable[[batching.Batch, Draws], tuple[batching.Batch, Draws, float]]


def flow_matching_losses(decoder: Any, batch: batching.Batch, draws: Draws, null_condition_emb: torch.Tensor,
                         dtype: torch.dtype) -> torch.Tensor:
    """Per-sample flow-matching losses [B] (float32, masked to real frames). r = t."""
    x0 = batch.target_latents
    tt = draws.t.view(-1, 1, 1)
    x_t = tt * draws.noise + (1.0 - tt) * x0
    condition = apply_cfg_dropout(batch.encoder_hidden_states, draws.drop, null_condition_emb)
    t = draws.t.to(dtype)
    prediction = decoder(
        hidden_states=x_t.to(dtype), timestep=t, timestep_r=t, attention_mask=batch.attention_mask.to(dtype),
        encoder_hidden_states=condition, encoder_attention_mask=batch.encoder_attention_mask,
        context_latents=batch.context_latents,
    )[0]
    return per_sample_loss(prediction, draws.noise - x0, batch.attention_mask)


def accumulate_gradients(fabric: Any, module: Any, micro_batches: Iterable[batching.Batch], count: int,
                         group_samples: float, draw: Callable[[batching.Batch], Draws],
                         null_condition_emb: torch.Tensor, dtype: torch.dtype,
                         settings: TrainSettings, shard: Shard | None = None) -> torch.Tensor:
    """Backward over one optimizer step's micro-batches; the gradient is that of the mean per-sample
    loss over all `group_samples`, however they are split. Returns the summed (weighted) losses.
    `shard` keeps one rank's rows of each batch and its draws, with their weight (distributed.py)."""
    loss_sum: Any = 0.0
    for position, batch in enumerate(micro_batches):
        draws = draw(batch)
        weight = 1.0
        if shard is not None:
            batch, draws, weight = shard(batch, draws)
        losses = flow_matching_losses(module, batch, draws, null_condition_emb, dtype)
        losses = weighted_loss(losses, draws.t, settings.loss_weighting, settings.snr_gamma) * weight
        with fabric.no_backward_sync(module, enabled=fabric.world_size > 1 and position < count - 1):
            fabric.backward(losses.sum() / group_samples)
        loss_sum = loss_sum + losses.detach().sum()  # stays on the device: one sync per step, later
    return loss_sum


@torch.no_grad()
def validation_loss(module: Any, samples: batching.SampleSource, indices: list[int],
                    settings: TrainSettings, sampler: TimestepSampler, null_condition_emb: torch.Tensor,
                    device: torch.device, dtype: torch.dtype) -> float:
    """Mean loss on the held-out samples with noise and timesteps fixed by the seed (comparable
    between epochs); its own generator leaves the training RNG untouched."""
    was_training = module.training
    module.eval()
    generator = torch.Generator().manual_seed(settings.seed + 104_729)
    total = 0.0
    for index in indices:
        sample = dict(samples[index])
        if settings.crop_frames:
            for key in batching.FRAME_KEYS:
                sample[key] = sample[key][: settings.crop_frames]
        batch = batching.collate([sample]).to(device, dtype)
        t = sampler.sample(1, generator=generator).to(device)
        noise = torch.randn(batch.target_latents.shape, generator=generator).to(device)
        noise = noise * batch.attention_mask.unsqueeze(-1)
        draws = Draws(t, noise, torch.zeros(1, dtype=torch.bool))
        total += float(flow_matching_losses(module, batch, draws, null_condition_emb, dtype).sum())
    module.train(was_training)
    return total / len(indices)
