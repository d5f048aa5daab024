"""Batches without padding: buckets by length, every member cut to the shortest, the condition padded
only when lengths differ (and counted), the order fixed by (seed, epoch); on the demo DiT a sample's
loss in a batch of 4 is its loss alone."""
from __future__ import annotations

import json

import pytest
import torch

from daemon.train import batching
from daemon.train.loop import train
from daemon.train.objective import Draws, flow_matching_losses
from daemon.train.synthetic import synthetic_samples

from .conftest import RecordingReporter, load_dit, small_settings


@pytest.fixture(scope="module")
def model(dit_dir):
    return load_dit(dit_dir)


@pytest.fixture(scope="module")
def even_condition(model) -> list[dict]:
    """Four samples of 24, 31, 40 and 27 frames whose condition sequences have one length (12)."""
    return [synthetic_samples(model, [frames], seed=k)[0] for k, frames in enumerate((24, 31, 40, 27))]


def _draws(size: int, frames: int) -> Draws:
    gen = torch.Generator().manual_seed(8)
    return Draws(torch.rand(size, generator=gen) * 0.9 + 0.05, torch.randn(size, frames, 64, generator=gen),
                 torch.zeros(size, dtype=torch.bool))


def test_a_sample_has_the_same_loss_in_a_batch_of_4_as_alone(model, even_condition):
    torch.manual_seed(3)  # the crop windows
    batch = batching.load_batch(even_condition, [0, 1, 2, 3], crop_frames=0)
    assert batch.target_latents.shape == (4, 24, 64) and bool((batch.attention_mask == 1).all())
    assert batch.condition_pad_tokens == 0
    draws = _draws(4, 24)
    null = model.null_condition_emb.detach()
    with torch.no_grad():
        together = flow_matching_losses(model.decoder, batch, draws, null, torch.float32)
        alone = torch.cat([
            flow_matching_losses(model.decoder, batching.collate([_row(batch, i)]),
                                 Draws(draws.t[i:i + 1], draws.noise[i:i + 1], draws.drop[i:i + 1]),
                                 null, torch.float32)
            for i in range(4)])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)
    assert abs(float(together.mean()) - float(alone.mean())) < 1e-6


def _row(batch: batching.Batch, i: int) -> dict:
    return {"target_latents": batch.target_latents[i], "attention_mask": batch.attention_mask[i],
            "encoder_hidden_states": batch.encoder_hidden_states[i],
            "encoder_attention_mask": batch.encoder_attention_mask[i], "context_latents": batch.context_latents[i]}


def test_padding_would_change_a_samples_loss(model, even_condition):
    """Why batches are cut: the real decoder attends to padded frames (docs/DEMO_MODEL.md)."""
    short, long_ = even_condition[0], even_condition[2]
    padded = batching.collate([short, long_])
    alone = batching.collate([short])
    draws = _draws(2, 40)
    null = model.null_condition_emb.detach()
    with torch.no_grad():
        in_padded = flow_matching_losses(model.decoder, padded, draws, null, torch.float32)[0]
        by_itself = flow_matching_losses(model.decoder, alone, Draws(draws.t[:1], draws.noise[:1, :24],
                                                                       draws.drop[:1]), null, torch.float32)[0]
    assert abs(float(in_padded) - float(by_itself)) > 1e-4


def test_members_are_cut_to_the_shortest_or_to_crop_frames(even_condition):
    torch.manual_seed(0)
    cut = batching.crop_batch(even_condition[1:3], crop_frames=0)  # 31 and 40 frames
    assert [s["target_latents"].shape[0] for s in cut] == [31, 31]
    assert cut[0] is even_condition[1]  # the shortest is taken whole
    limited = batching.crop_batch(even_condition[1:3], crop_frames=20)
    assert [s["context_latents"].shape[0] for s in limited] == [20, 20]
    long_ = even_condition[2]["target_latents"]
    window = limited[1]["target_latents"]
    starts = [i for i in range(41 - 20) if torch.equal(long_[i:i + 20], window)]
    assert len(starts) == 1  # a real window of the clip, not padding


def test_condition_is_padded_only_when_lengths_differ_and_counted():
    def sample(tokens: int) -> dict:
        return {"target_latents": torch.zeros(8, 64), "attention_mask": torch.ones(8),
                "encoder_hidden_states": torch.ones(tokens, 16), "encoder_attention_mask": torch.ones(tokens).bool(),
                "context_latents": torch.zeros(8, 128)}

    same = batching.collate([sample(12), sample(12)])
    assert same.encoder_hidden_states.shape == (2, 12, 16) and same.condition_pad_tokens == 0
    mixed = batching.collate([sample(12), sample(15), sample(14)])
    assert mixed.encoder_hidden_states.shape == (3, 15, 16) and mixed.condition_pad_tokens == 3 + 1
    assert mixed.to("cpu").condition_pad_tokens == 4


def test_buckets_group_similar_lengths_deterministically():
    lengths = {i: length for i, length in enumerate([10, 50, 12, 48, 11, 49, 30, 31, 29])}
    indices = list(lengths)
    batches = batching.epoch_batches(indices, 3, seed=4, epoch=2, lengths=lengths)
    assert sorted(i for b in batches for i in b) == indices
    assert sorted(sorted(lengths[i] for i in b) for b in batches) == [[10, 11, 12], [29, 30, 31], [48, 49, 50]]
    assert batching.epoch_batches(indices, 3, seed=4, epoch=2, lengths=lengths) == batches
    orders = {tuple(map(tuple, batching.epoch_batches(indices, 3, seed=4, epoch=e, lengths=lengths)))
              for e in range(6)}
    assert len(orders) > 1  # the epoch changes the order of the buckets and within them
    remainder = batching.epoch_batches(indices[:8], 3, seed=4, epoch=0, lengths=lengths)
    assert sorted(len(b) for b in remainder) == [2, 3, 3]
    # Batches of one are not bucketed: the order is the plain shuffle it always was.
    assert batching.epoch_batches(indices, 1, 4, 2, lengths) == batching.epoch_batches(indices, 1, 4, 2)


def test_crop_lengths_use_the_manifest_and_the_crop_limit(samples):
    assert batching.crop_lengths(samples, [0, 1, 2], crop_frames=0) == {0: 24, 1: 31, 2: 40}
    assert batching.crop_lengths(samples, [0, 1, 2], crop_frames=30) == {0: 24, 1: 30, 2: 30}


def test_training_reports_the_condition_padding_per_step(fresh_model, samples, tmp_path):
    # `samples` have condition lengths 12 to 15: batches of 2 pad some of them.
    result = train(small_settings(batch_size=2, epochs=1), fresh_model(), samples, tmp_path, RecordingReporter())
    assert result["outcome"] == "completed"
    points = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    pads = [p["condition_pad_tokens"] for p in points if "loss" in p]
    assert len(pads) == 4 and sum(pads) > 0 and all(p >= 0 for p in pads)
