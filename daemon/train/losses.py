"""The flow-matching loss per sample, masked to real frames, optionally min-SNR weighted.

x_t = t * noise + (1 - t) * x0, target velocity = noise - x0 (ACESTEP_INTERFACE.md section 5).
Each sample's loss is the mean over its own real frames and channels, so padding a sample into a
longer batch changes nothing, and every sample counts the same whatever its length.
"""
from __future__ import annotations

import torch


def noisy_latents(target_latents: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t for t of shape [B]."""
    tt = t.view(-1, 1, 1).to(target_latents.dtype)
    return tt * noise + (1.0 - tt) * target_latents


def min_snr_weight(t: torch.Tensor, gamma: float) -> torch.Tensor:
    """min(snr, gamma) / snr with snr = ((1 - t) / t)^2."""
    t = t.float()
    snr = ((1.0 - t) / t) ** 2
    # snr = 0 (t = 1): the sample is pure noise, min(0, gamma)/0 -> its limit, 1.
    return torch.where(snr > 0, torch.clamp(snr, max=gamma) / snr.clamp_min(1e-12), torch.ones_like(snr))


def per_sample_loss(prediction: torch.Tensor, target_velocity: torch.Tensor,
                    frame_mask: torch.Tensor) -> torch.Tensor:
    """Masked MSE in float32, one value per sample: [B]."""
    err = (prediction.float() - target_velocity.float()) ** 2  # [B, T, C]
    mask = frame_mask.float().unsqueeze(-1)  # [B, T, 1]
    frames = mask.sum(dim=(1, 2)).clamp_min(1.0)
    return (err * mask).sum(dim=(1, 2)) / (frames * err.shape[-1])


def weighted_loss(losses: torch.Tensor, t: torch.Tensor, weighting: str, gamma: float) -> torch.Tensor:
    """The per-sample losses after the chosen weighting ("none" or "min_snr")."""
    if weighting == "min_snr":
        return losses * min_snr_weight(t, gamma).to(losses.device)
    return losses
