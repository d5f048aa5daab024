"""The loop's data handling on the demo DiT: accumulation, remainder flush, batch-size check, random
crops, NaN guard and the pre-flight report (batches and padding: test_batching.py)."""
from __future__ import annotations

import json

import pytest
import torch

from daemon.train import batching
from daemon.train.adapters import build_adapter
from daemon.train.loop import plan_steps, train
from daemon.train.objective import Draws, accumulate_gradients, flow_matching_losses
from daemon.train.runtime import make_fabric
from daemon.train.state import read_checkpoint
from daemon.train.synthetic import synthetic_samples
from shared.errors import TrainingError

from .conftest import RecordingReporter, small_settings


def _content_draws(batch: batching.Batch) -> Draws:
    """Draws that depend only on each sample's own content, so any batching gives the same ones."""
    x = batch.target_latents
    t = torch.sigmoid(x[:, :4].mean(dim=(1, 2)) * 3)
    noise = torch.sin(7 * x + 1) * batch.attention_mask.unsqueeze(-1)
    return Draws(t, noise, torch.zeros(batch.size, dtype=torch.bool))


def _injected(model, settings):
    adapter = build_adapter(settings)
    decoder = adapter.inject(model.decoder)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # non-zero B so every adapter tensor gets a gradient
        for _, p in adapter.trainable_parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    return adapter, decoder


@pytest.mark.parametrize("adapter_type", ["lora", "lokr"])
def test_batch_4_equals_batch_1_with_accumulation_4(fresh_model, adapter_type):
    settings = small_settings(adapter_type=adapter_type)
    fabric, _ = make_fabric(settings, torch.device("cpu"))
    # As load_batch makes them: cut to one length; conditions of one length, so nothing is padded.
    base = fresh_model()
    four = batching.crop_batch([synthetic_samples(base, [f], seed=k)[0] for k, f in enumerate((24, 31, 40, 24))], 0)
    grads = []
    for split in ([four], [[s] for s in four]):
        model = fresh_model()
        adapter, decoder = _injected(model, settings)
        micro = [batching.collate(chunk) for chunk in split]
        total = accumulate_gradients(fabric, fabric.setup_module(decoder), iter(micro), len(micro), 4, _content_draws,
                                     model.null_condition_emb.detach(), torch.float32, settings)
        grads.append([p.grad.clone() for _, p in adapter.trainable_parameters()])
        grads[-1].append(total / 4)
    for a, b in zip(*grads):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-7)


def test_epoch_remainder_is_flushed_as_its_own_step(fresh_model, samples, reporter, tmp_path):
    assert [list(g) for g in batching.accumulation_groups(5, 2)] == [[0, 1], [2, 3], [4]]
    settings = small_settings(batch_size=1, gradient_accumulation=2, epochs=2)
    assert plan_steps(5, settings) == (3, 6)
    result = train(settings, fresh_model(), samples[:5], tmp_path, reporter)
    assert result["global_step"] == 6 and result["outcome"] == "completed"
    steps = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    steps = [p for p in steps if "loss" in p]
    assert len(steps) == 6 and not any(p["skipped"] for p in steps)
    # Throughput counts each step's own samples: the remainder step has one, the others two.
    assert [round(p["samples_per_s"] * p["step_time"], 6) for p in steps] == [2, 2, 1, 2, 2, 1]


def test_batch_larger_than_the_dataset_fails_before_training(fresh_model, samples, reporter, tmp_path):
    with pytest.raises(TrainingError, match="batch_size 4 is larger than the 3"):
        train(small_settings(batch_size=4), fresh_model(), samples[:3], tmp_path, reporter)
    assert not (tmp_path / "metrics.jsonl").exists()
    assert batching.epoch_batches([0, 1, 2], 2, 0, 0)[-1] != []  # the last batch is smaller, never empty


def test_random_crop_cuts_target_context_and_mask_alike():
    frames = 50
    sample = {"target_latents": torch.arange(frames).float()[:, None].expand(frames, 64),
              "attention_mask": torch.arange(frames).float(),
              "context_latents": torch.arange(frames).float()[:, None].expand(frames, 128),
              "encoder_hidden_states": torch.zeros(3, 8), "encoder_attention_mask": torch.ones(3, dtype=torch.bool)}
    cropped = batching.random_crop(sample, 20, torch.Generator().manual_seed(5))
    start = int(cropped["attention_mask"][0])
    assert cropped["target_latents"].shape == (20, 64) and cropped["context_latents"].shape == (20, 128)
    assert torch.equal(cropped["target_latents"][:, 0], torch.arange(start, start + 20).float())
    assert torch.equal(cropped["context_latents"][:, 0], torch.arange(start, start + 20).float())
    assert cropped["encoder_hidden_states"] is sample["encoder_hidden_states"]
    assert batching.random_crop(sample, 0) is sample and batching.random_crop(sample, 60) is sample


def _with_nan(sample):
    bad = dict(sample)
    bad["target_latents"] = sample["target_latents"].clone()
    bad["target_latents"][3, 5] = float("nan")
    return bad


def test_an_injected_nan_is_skipped(fresh_model, samples, reporter, tmp_path):
    data = list(samples[:4]) + [_with_nan(samples[4])]
    result = train(small_settings(batch_size=1, epochs=2, nan_halt=3), fresh_model(), data, tmp_path, reporter)
    assert result["outcome"] == "completed"
    points = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    skipped = [p for p in points if p.get("skipped")]
    assert len(skipped) == 2  # the bad sample, once per epoch
    from safetensors.torch import load_file

    weights = load_file(str(tmp_path / "final" / "adapter_model.safetensors"))
    assert all(bool(torch.isfinite(w).all()) for w in weights.values())


def test_n_nans_in_a_row_halt_with_a_diagnosis_and_a_saved_state(fresh_model, samples, reporter, tmp_path):
    data = [_with_nan(s) for s in samples[:4]]
    with pytest.raises(TrainingError, match="3 non-finite losses or gradients in a row"):
        train(small_settings(batch_size=1, nan_halt=3), fresh_model(), data, tmp_path, reporter)
    assert reporter.of("nan_halt")
    saved = tmp_path / "checkpoints" / "step_3"
    state, _ = read_checkpoint(saved)
    assert state["global_step"] == 3 and state["policies"]["nan"]["in_a_row"] == 3


def test_preflight_is_reported_before_the_first_step(fresh_model, samples, reporter, tmp_path):
    train(small_settings(epochs=1, validation_share=0.25), fresh_model(), samples, tmp_path, reporter,
          info={"model_fingerprint": "abc", "fingerprint_match": True})
    names = [t for t, _ in reporter.events]
    assert names.index("train_preflight") < names.index("train_finished")
    pre = reporter.of("train_preflight")[0]
    assert pre["trainable_parameters"] > 0 and pre["train_samples"] == 6 and pre["validation_samples"] == 2
    assert pre["memory_estimate_mb"] > 0 and pre["fingerprint_match"] is True
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["settings"]["rank"] == 4
    assert (tmp_path / "tensorboard").is_dir()
    assert reporter.metrics and "lr" in reporter.metrics[0]


@pytest.mark.parametrize("adapter_type", ["lora", "lokr"])
def test_the_shared_decoder_is_given_back_as_it_was(fresh_model, samples, tmp_path, adapter_type):
    model = fresh_model()
    batch = batching.collate(samples[:2])
    draws = _content_draws(batch)
    null = model.null_condition_emb.detach()
    with torch.no_grad():
        before = flow_matching_losses(model.decoder, batch, draws, null, torch.float32)
    names = [n for n, _ in model.decoder.named_modules()]
    settings = small_settings(adapter_type=adapter_type, learning_rate=1e-2, gradient_checkpointing=True)
    train(settings, model, samples, tmp_path, RecordingReporter())
    assert [n for n, _ in model.decoder.named_modules()] == names
    assert not model.decoder.training and not any(p.requires_grad for p in model.decoder.parameters())
    assert not model.decoder.is_gradient_checkpointing
    with torch.no_grad():
        assert torch.equal(flow_matching_losses(model.decoder, batch, draws, null, torch.float32), before)


@pytest.mark.parametrize("adapter_type", ["lora", "lokr"])
def test_gradient_checkpointing_trains_the_same_weights(fresh_model, samples, tmp_path, adapter_type):
    from safetensors.torch import load_file

    name = "adapter_model.safetensors" if adapter_type == "lora" else "lokr_weights.safetensors"
    weights = []
    for checkpointing in (False, True):
        settings = small_settings(adapter_type=adapter_type, gradient_checkpointing=checkpointing, dropout=0.1)
        train(settings, fresh_model(), samples, tmp_path / str(checkpointing), RecordingReporter())
        weights.append(load_file(str(tmp_path / str(checkpointing) / "final" / name)))
    for key in weights[0]:
        assert torch.allclose(weights[0][key], weights[1][key], atol=1e-6), key


def test_validation_loss_is_fixed_and_leaves_the_training_rng_alone(fresh_model, samples):
    from daemon.train.objective import validation_loss
    from daemon.train.timesteps import TimestepSampler

    model = fresh_model()
    adapter, decoder = _injected(model, small_settings())
    settings = small_settings(crop_frames=20)
    decoder.train()
    args = (decoder, samples, [0, 3, 5], settings, TimestepSampler("model"),
            model.null_condition_emb.detach(), torch.device("cpu"), torch.float32)
    torch.manual_seed(123)
    first = validation_loss(*args)
    after_first = torch.rand(1)
    torch.manual_seed(123)
    assert validation_loss(*args) == first
    assert torch.equal(torch.rand(1), after_first)
    assert decoder.training  # back in training mode


def test_save_now_writes_a_checkpoint_at_the_next_step(fresh_model, samples, tmp_path):
    reporter = RecordingReporter(actions=("save_now",))
    train(small_settings(epochs=1), fresh_model(), samples, tmp_path, reporter)
    assert (tmp_path / "checkpoints" / "step_1" / "training_state.json").is_file()
    assert reporter.of("checkpoint_saved")[0]["step"] == 1


def test_a_warm_up_longer_than_the_run_is_capped_at_the_run_length(fresh_model, samples, reporter, tmp_path):
    settings = small_settings(scheduler="constant_with_warmup", warmup_steps=100, epochs=2)  # an 8-step run
    train(settings, fresh_model(), samples, tmp_path, reporter)
    used = [p["lr"] for p in map(json.loads, (tmp_path / "metrics.jsonl").read_text().splitlines()) if "loss" in p]
    assert used == pytest.approx([1e-3 * (k + 1) / 9 for k in range(8)])  # reaches 8/9 of the rate, not 8/101
    notes = reporter.of("train_preflight")[0]["notes"]
    assert any("warm-up" in note and "100" in note and "8 steps" in note for note in notes), notes
