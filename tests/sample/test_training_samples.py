"""Samples while training (SM-1): clips land in samples/epoch_N at the right epochs (and on sample
now), with events and spectrograms; a run with samples trains bitwise the same adapter as one
without; out of memory (or any failure) while sampling skips the sample, never the run."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from daemon.sample.during_training import TrainingSamples, training_prompts
from daemon.train.loop import train
from tests.train.conftest import RecordingReporter, encode_samples, small_settings

TRIGGER = {"trigger_word": "sks", "tag_position": "prepend"}
FIRST_META = {"caption": "warm lofi beat", "duration": 48.0, "bpm": 90.0, "keyscale": "A minor",
              "timesignature": "4", "language": "en", "lyrics": "la la la", "is_instrumental": False}


@pytest.fixture(scope="module")
def training_samples(demo_manager) -> list[dict]:
    samples = encode_samples(demo_manager.get("dit"), [24, 31, 40, 24])
    samples[0] = {**samples[0], "metadata": FIRST_META}
    return samples


def _train(manager, samples, run_dir, reporter, hook_settings=None, **changes):
    settings = small_settings(**{"epochs": 3, **changes})
    hook = TrainingSamples(settings, manager, TRIGGER) if hook_settings else None
    result = train(settings, manager.get("dit"), samples, run_dir, reporter, info=TRIGGER, sample_hook=hook)
    return result, load_file(str(run_dir / "final" / "adapter_model.safetensors"))


def test_samples_at_the_right_epochs_and_the_same_adapter_as_without(demo_manager, training_samples, tmp_path):
    plain, plain_weights = _train(demo_manager, training_samples, tmp_path / "plain", RecordingReporter())
    reporter = RecordingReporter(actions=("sample_now",))
    result, weights = _train(demo_manager, training_samples, tmp_path / "sampled", reporter, hook_settings=True,
                             sample_every_epochs=2, sample_strengths=[0.5, 1.5], sample_seconds=2.0)

    assert weights.keys() == plain_weights.keys()
    for key in weights:  # bitwise: sampling never touched the training's random stream or weights
        assert torch.equal(weights[key], plain_weights[key]), key
    assert result["global_step"] == plain["global_step"]

    samples = tmp_path / "sampled" / "samples"
    assert sorted(p.name for p in samples.iterdir()) == ["epoch_2", "epoch_3", "step_1"]
    for group in ("step_1", "epoch_2", "epoch_3"):
        names = sorted(p.name for p in (samples / group).iterdir())
        assert names == ["p0_s0.5.flac", "p0_s0.5.json", "p0_s0.5.png", "p0_s1.5.flac", "p0_s1.5.json",
                         "p0_s1.5.png"], group
    written = reporter.of("sample_written")
    assert [(e["group"], e["strength"]) for e in written] == [
        ("step_1", 0.5), ("step_1", 1.5), ("epoch_2", 0.5), ("epoch_2", 1.5), ("epoch_3", 0.5), ("epoch_3", 1.5)]
    assert [e["epoch"] for e in reporter.of("samples_done")] == [0, 2, 3]
    import json

    sidecar = json.loads((samples / "epoch_2" / "p0_s1.5.json").read_text())
    assert sidecar["prompt"] == "sks, warm lofi beat" and sidecar["bpm"] == 90 and sidecar["key"] == "A minor"
    assert sidecar["lyrics"] == "la la la" and sidecar["strength"] == 1.5 and sidecar["epoch"] == 2


@pytest.mark.parametrize("failure", [torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"),
                                     ValueError("the VAE fell over")])
def test_a_failing_sample_never_stops_the_run(failure, demo_manager, training_samples, tmp_path, monkeypatch):
    def broken_denoise(*args, **kwargs):
        raise failure

    monkeypatch.setattr("daemon.sample.render.denoise", broken_denoise)
    reporter = RecordingReporter()
    result, _ = _train(demo_manager, training_samples, tmp_path, reporter, hook_settings=True, epochs=2,
                       sample_every_epochs=1, sample_strengths=[1.0], sample_seconds=2.0)

    assert result["outcome"] == "completed" and (tmp_path / "final").is_dir()
    warnings = reporter.of("sample_skipped" if isinstance(failure, torch.OutOfMemoryError) else "sample_failed")
    assert [w["epoch"] for w in warnings] == [1, 2] and all(w["level"] == "warning" for w in warnings)
    if isinstance(failure, torch.OutOfMemoryError):
        assert "out of memory" in warnings[0]["reason"]
    assert not reporter.of("sample_written")


def test_prompts_default_to_the_first_training_sample_capped_at_30_seconds():
    first = {"target_latents": torch.zeros(1500, 64), "metadata": FIRST_META}
    (prompt,) = training_prompts(small_settings(), first, TRIGGER)
    assert prompt.caption == "sks, warm lofi beat" and prompt.seconds == 30.0
    assert (prompt.lyrics, prompt.bpm, prompt.key, prompt.timesignature) == ("la la la", 90, "A minor", "4")

    chosen = small_settings(sample_prompts="sks, jazz trio | sks, synthwave", sample_seconds=12.0,
                            sample_lyrics="", sample_bpm=120)
    prompts = training_prompts(chosen, {"target_latents": torch.zeros(100, 64)}, TRIGGER)
    assert [p.caption for p in prompts] == ["sks, jazz trio", "sks, synthwave"]
    assert {(p.seconds, p.lyrics, p.bpm) for p in prompts} == {(12.0, "", 120)}


def test_sample_every_defaults_to_the_checkpoint_interval_and_zero_turns_it_off(demo_manager):
    assert TrainingSamples(small_settings(save_every_epochs=5), demo_manager).every == 5
    assert TrainingSamples(small_settings(save_every_epochs=5, sample_every_epochs=2), demo_manager).every == 2
    assert TrainingSamples(small_settings(sample_every_epochs=0), demo_manager).every == 0
