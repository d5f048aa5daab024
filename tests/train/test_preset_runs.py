"""Every shipped preset starts on this machine (an optimizer it lacks is replaced, out loud), and
the two settings taken over from Side-Step are real: dataset_repeats and gradient_checkpointing_ratio."""
from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from daemon.train.loop import train
from shared.presets import list_presets, load_preset

from .conftest import RecordingReporter, small_settings


def cannot_run_8bit() -> bool:
    return not torch.cuda.is_available() or importlib.util.find_spec("bitsandbytes") is None


@pytest.mark.parametrize("variant", ["lora", "lokr"])
def test_every_shipped_preset_starts_a_one_step_run(fresh_model, samples, tmp_path, variant):
    model = fresh_model()  # train() gives the decoder back as it was, so one model serves every preset
    for info in (p for p in list_presets() if p.source == "shipped"):
        # One optimizer step of one micro-batch: the preset's adapter, optimizer, precision and
        # checkpointing all start; accumulating 8 batches would only make the test slower.
        settings = load_preset(info.name, variant).settings.replace(max_steps=1, gradient_accumulation=1)
        reporter = RecordingReporter()
        result = train(settings, model, samples[:2], tmp_path / info.name, reporter)
        assert result["global_step"] == 1 and result["outcome"] == "max_steps", info.name
        used = json.loads((tmp_path / info.name / "config.json").read_text())
        notes = reporter.of("train_preflight")[0]["notes"]
        if settings.optimizer == "adamw8bit" and cannot_run_8bit():
            assert used["settings"]["optimizer"] == "adafactor" and used["settings"]["gradient_checkpointing"]
            assert any(n.startswith("optimizer adamw8bit cannot run here") for n in notes), notes
            assert any(w["level"] == "warning" and "Adafactor" in w["message"] for w in reporter.of("log"))
        else:
            assert used["settings"]["optimizer"] == settings.optimizer, info.name


def test_prodigy_without_its_package_falls_back_with_a_sane_learning_rate(fresh_model, samples, tmp_path):
    if importlib.util.find_spec("prodigyopt") is not None:
        pytest.skip("prodigyopt is installed here")
    reporter = RecordingReporter()
    train(small_settings(optimizer="prodigy", learning_rate=1.0, max_steps=1), fresh_model(), samples,
          tmp_path, reporter)
    used = json.loads((tmp_path / "config.json").read_text())["settings"]
    assert (used["optimizer"], used["learning_rate"]) == ("adafactor", 1e-4)


def test_dataset_repeats_show_every_sample_that_many_times_per_epoch(fresh_model, samples, tmp_path):
    reporter = RecordingReporter()
    settings = small_settings(epochs=2, batch_size=1, gradient_accumulation=1, dataset_repeats=3)
    result = train(settings, fresh_model(), samples[:2], tmp_path, reporter)
    preflight = reporter.of("train_preflight")[0]
    assert (preflight["steps_per_epoch"], preflight["dataset_repeats"]) == (6, 3)
    assert result["global_step"] == 12 and result["epochs"] == 2


@pytest.mark.parametrize("ratio", [1.0, 0.5, 0.0])
def test_gradient_checkpointing_ratio_recomputes_only_that_share_of_layers(fresh_model, samples, tmp_path, ratio):
    model = fresh_model()
    layers = list(model.decoder.layers)
    calls = [0] * len(layers)
    hooks = [layer.register_forward_pre_hook(lambda _m, _a, i=i: calls.__setitem__(i, calls[i] + 1))
             for i, layer in enumerate(layers)]
    reporter = RecordingReporter()
    settings = small_settings(gradient_checkpointing=True, gradient_checkpointing_ratio=ratio, epochs=1,
                              batch_size=1, max_steps=1)
    train(settings, model, samples[:1], tmp_path, reporter)
    for hook in hooks:
        hook.remove()
    share = round(ratio * len(layers))
    assert calls == [2] * share + [1] * (len(layers) - share)  # a recomputed layer runs forward twice
    facts = reporter.of("train_preflight")[0]["facts"]
    assert (f"gradient checkpointing on {share} of {len(layers)} decoder layers" in facts) == (ratio < 1.0)
