"""From samples to batches: the epoch's order, buckets by length, crops, and accumulation groups.

A sample is a dict of tensors in the training-tensor format (docs/ARCHITECTURE.md):
`target_latents` [T,64], `attention_mask` [T], `encoder_hidden_states` [L,H],
`encoder_attention_mask` [L], `context_latents` [T,128]. A dataset is anything with `len()` and
`[index]` giving such a dict.

Batches carry no frame padding: the real decoder ignores masks, so padding would enter every
attention (docs/TRAINING.md, "Batches without padding"). Samples are grouped by length (buckets)
and every member of a batch is cut to the shortest one (or to crop_frames); only the condition
sequences are padded, when their lengths differ, and `Batch.condition_pad_tokens` counts that.

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
    condition_pad_tokens: int = 0  # condition tokens added to even out the rows' lengths

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
            condition_pad_tokens=self.condition_pad_tokens,
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

    def frames(self, index: int) -> int:
        """Latent frames of sample `index`, from the manifest when it records them."""
        recorded = self.folder.samples[index].frames
        return recorded if recorded is not None else int(self[index]["target_latents"].shape[0])

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


def sample_frames(source: SampleSource, index: int) -> int:
    """Latent frames of one sample, without loading it when the source knows (FolderSamples)."""
    frames = getattr(source, "frames", None)
    return frames(index) if callable(frames) else int(source[index]["target_latents"].shape[0])


def crop_lengths(source: SampleSource, indices: list[int], crop_frames: int) -> dict[int, int]:
    """Each sample's length as training sees it: its frames, at most crop_frames (0: no limit)."""
    lengths = {}
    for index in indices:
        frames = sample_frames(source, index)
        lengths[index] = min(frames, crop_frames) if crop_frames > 0 else frames
    return lengths


def epoch_batches(indices: list[int], batch_size: int, seed: int, epoch: int,
                  lengths: dict[int, int] | None = None) -> list[list[int]]:
    """The epoch's batches of dataset indices, deterministic from (seed, epoch); the last may be smaller.

    The order is shuffled; given `lengths` (crop_lengths) and batches of more than one, samples are
    then grouped by length (a stable sort keeps the shuffle among equal lengths), cut into batches,
    and the batches shuffled, so each batch loses little when its members are cut to the shortest."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = [indices[i] for i in torch.randperm(len(indices), generator=generator).tolist()]
    if lengths is None or batch_size == 1:
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    order.sort(key=lambda index: lengths[index])
    buckets = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    return [buckets[i] for i in torch.randperm(len(buckets), generator=generator).tolist()]


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


def crop_batch(samples: list[dict[str, torch.Tensor]], crop_frames: int,
               generator: torch.Generator | None = None) -> list[dict[str, torch.Tensor]]:
    """Every member cut to one length, the shortest member's (or crop_frames when smaller), each at
    its own random window, so the batch needs no frame padding."""
    length = min(s["target_latents"].shape[0] for s in samples)
    if crop_frames > 0:
        length = min(length, crop_frames)
    return [random_crop(s, length, generator) for s in samples]


def collate(samples: list[dict[str, torch.Tensor]]) -> Batch:
    """Stack the samples; rows of other lengths are padded to the longest (load_batch's rows all have
    one length of frames; their condition sequences may differ and are then padded and counted)."""
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
        condition_pad_tokens=sum(tokens - s["encoder_hidden_states"].shape[0] for s in samples),
    )


def load_batch(source: SampleSource, indices: list[int], crop_frames: int) -> Batch:
    """Read, cut to one length (torch's global RNG picks the windows) and stack one batch."""
    return collate(crop_batch([source[i] for i in indices], crop_frames))
