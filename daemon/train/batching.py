"""From samples to batches: the epoch's order, random crops, padding and accumulation groups.

A sample is a dict of tensors in the training-tensor format (docs/ARCHITECTURE.md):
`target_latents` [T,64], `attention_mask` [T], `encoder_hidden_states` [L,H],
`encoder_attention_mask` [L], `context_latents` [T,128]. A dataset is anything with `len()` and
`[index]` giving such a dict.

The epoch's order depends only on (seed, epoch), so a resume in the middle of an epoch rebuilds
the same order and skips the batches already done.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch

from shared.errors import TrainingError

FRAME_KEYS = ("target_latents", "attention_mask", "context_latents")


class SampleSource(Protocol):
    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]: ...


@dataclass
class Batch:
    target_latents: torch.Tensor  # [B, T, 64] float32
    attention_mask: torch.Tensor  # [B, T] float32, 1 on real frames
    encoder_hidden_states: torch.Tensor  # [B, L, H]
    encoder_attention_mask: torch.Tensor  # [B, L] bool
    context_latents: torch.Tensor  # [B, T, 128]

    @property
    def size(self) -> int:
        return self.target_latents.shape[0]

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> "Batch":
        """On `device`; the model's inputs in `dtype` (targets and masks stay float32 for the loss)."""
        def move(x: torch.Tensor, cast: bool) -> torch.Tensor:
            return x.to(device=device, dtype=dtype if cast and dtype is not None else x.dtype,
                        non_blocking=True)

        return Batch(
            target_latents=move(self.target_latents, False),
            attention_mask=move(self.attention_mask, False),
            encoder_hidden_states=move(self.encoder_hidden_states, True),
            encoder_attention_mask=move(self.encoder_attention_mask, False),
            context_latents=move(self.context_latents, True),
        )


class FolderSamples:
    """A tensor folder (daemon.preprocess.tensor_folder) as a SampleSource: each sample is read once
    and kept in memory while the total stays under `cache_mb`; beyond that it is read per use."""

    def __init__(self, folder: Any, cache_mb: float = 4096.0) -> None:
        self.folder = folder
        self.cache_bytes = cache_mb * 2**20
        self._cache: dict[int, dict] = {}
        self._cached_bytes = 0

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if index in self._cache:
            return self._cache[index]
        sample = self.folder.load(index)
        size = sum(v.numel() * v.element_size() for v in sample.values() if isinstance(v, torch.Tensor))
        if self._cached_bytes + size <= self.cache_bytes:
            self._cache[index] = sample
            self._cached_bytes += size
        return sample


def split_validation(n: int, share: float, seed: int) -> tuple[list[int], list[int]]:
    """(train indices, held-out indices): a fixed share, chosen by seed, at least one each."""
    if share <= 0 or n < 2:
        return list(range(n)), []
    held = min(max(1, round(n * share)), n - 1)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 7919)).tolist()
    return sorted(order[held:]), sorted(order[:held])


def check_batch_size(n_samples: int, batch_size: int) -> None:
    """A batch larger than the dataset is an error before training, never an empty epoch."""
    if n_samples == 0:
        raise TrainingError("the tensor folder has no training samples")
    if batch_size > n_samples:
        raise TrainingError(
            f"batch_size {batch_size} is larger than the {n_samples} training sample(s); "
            f"set batch_size to {n_samples} or less"
        )


def epoch_batches(indices: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The epoch's batches of dataset indices, shuffled by (seed, epoch); the last may be smaller."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = [indices[i] for i in torch.randperm(len(indices), generator=generator).tolist()]
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def accumulation_groups(num_batches: int, accumulation: int) -> list[range]:
    """Batch positions per optimizer step; the end-of-epoch remainder is its own (smaller) group."""
    return [range(i, min(i + accumulation, num_batches)) for i in range(0, num_batches, accumulation)]


def random_crop(sample: dict[str, torch.Tensor], crop_frames: int,
                generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """A window of `crop_frames` frames, the same for target, context and mask; short clips as they are."""
    frames = sample["target_latents"].shape[0]
    if crop_frames <= 0 or frames <= crop_frames:
        return sample
    start = int(torch.randint(frames - crop_frames + 1, (1,), generator=generator))
    out = dict(sample)
    for key in FRAME_KEYS:
        out[key] = sample[key][start:start + crop_frames]
    return out


def collate(samples: list[dict[str, torch.Tensor]]) -> Batch:
    """Pad every sample to the batch's longest latent and longest condition."""
    frames = max(s["target_latents"].shape[0] for s in samples)
    tokens = max(s["encoder_hidden_states"].shape[0] for s in samples)

    def pad(key: str, length: int, dtype: torch.dtype) -> torch.Tensor:
        rows = []
        for s in samples:
            x = s[key].to(dtype)
            missing = length - x.shape[0]
            if missing:
                x = torch.cat([x, x.new_zeros((missing, *x.shape[1:]))])
            rows.append(x)
        return torch.stack(rows)

    return Batch(
        target_latents=pad("target_latents", frames, torch.float32),
        attention_mask=pad("attention_mask", frames, torch.float32),
        encoder_hidden_states=pad("encoder_hidden_states", tokens, torch.float32),
        encoder_attention_mask=pad("encoder_attention_mask", tokens, torch.bool),
        context_latents=pad("context_latents", frames, torch.float32),
    )


def load_batch(source: SampleSource, indices: list[int], crop_frames: int) -> Batch:
    """Read, crop (torch's global RNG) and pad one batch."""
    return collate([random_crop(source[i], crop_frames) for i in indices])
