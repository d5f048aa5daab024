"""Adapter strength is really applied (SM-1 trap: strengths clamped to 0..1, then ignored): on the
demo checkpoint, strength 0 is exactly the base model, and 0.5, 1.0 and 1.5 differ from it and from
each other, for LoRA (scaling alpha/r x strength) and LoKr (LyCORIS multiplier); in the clips
written (LoRA, through the renderer) and in the sampled latents (both kinds)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from daemon.preprocess.models import PreprocessModels
from daemon.sample.conditions import ClipPrompt, build_condition
from daemon.sample.denoise import denoise, initial_noise
from daemon.sample.render import ClipRenderer, SamplingOptions
from daemon.sample.schedules import timesteps_for
from daemon.train.adapters import load_adapter

from .conftest import Events, read_audio

PROMPT = ClipPrompt("sks, warm lofi beat with soft keys", bpm=90, key="A minor", timesignature="4", seconds=2)
STRENGTHS = (0.0, 0.5, 1.0, 1.5)


def _assert_strengths_apply(outputs: dict, base) -> None:
    """0 equals the base exactly; the others differ from it and from each other."""
    np.testing.assert_array_equal(np.asarray(outputs[0.0]), np.asarray(base))
    for strength in (0.5, 1.0, 1.5):
        assert np.abs(np.asarray(outputs[strength]) - np.asarray(base)).max() > 1e-3, f"{strength} is the base"
    for a, b in [(0.5, 1.0), (1.0, 1.5), (0.5, 1.5)]:
        assert np.abs(np.asarray(outputs[a]) - np.asarray(outputs[b])).max() > 1e-3, f"{a} and {b} are the same"


@pytest.mark.parametrize("kind", ["lora", "lokr"])
def test_strength_scales_the_adapter_in_the_sampled_latents(kind, demo_manager, request):
    folder = request.getfixturevalue(f"{kind}_folder")
    condition = build_condition(PreprocessModels(demo_manager), PROMPT)
    noise, steps = initial_noise(5, PROMPT.frames), timesteps_for(True)
    null = demo_manager.get("dit").null_condition_emb
    with demo_manager.use("decoder") as decoder, torch.no_grad():
        base = denoise(decoder, condition, noise, steps, null)
        adapter = load_adapter(decoder, folder)
        try:
            latents = {}
            for strength in STRENGTHS:
                adapter.set_strength(strength)
                latents[strength] = denoise(adapter.decoder, condition, noise, steps, null)
        finally:
            adapter.remove()
    _assert_strengths_apply(latents, base)


def test_clips_at_strength_zero_sound_like_the_base_and_the_others_differ(demo_manager, lora_folder, tmp_path):
    events = Events()
    renderer = ClipRenderer(demo_manager, events)
    options = SamplingOptions(seed=5, format="wav")
    (base,) = renderer.render([PROMPT], [1.0], options, tmp_path / "base")
    with demo_manager.use("decoder") as decoder:
        before = {name for name, _ in decoder.named_modules()}
        adapter = load_adapter(decoder, lora_folder)
        try:
            clips = renderer.render([PROMPT], list(STRENGTHS), options, tmp_path / "lora", adapter)
        finally:
            adapter.remove()
        assert {name for name, _ in decoder.named_modules()} == before  # the shared decoder given back
    audio = {c["strength"]: read_audio(tmp_path / "lora" / c["audio"]) for c in clips}
    assert base["strength"] is None and sorted(audio) == list(STRENGTHS)
    _assert_strengths_apply(audio, read_audio(tmp_path / "base" / base["audio"]))
    assert [e["strength"] for e in events.of("sample_written")] == [None, *STRENGTHS]


def test_with_offloading_the_sampling_models_go_back_after_each_clip(demo_root, tmp_path):
    """SV-2 trap (device mismatch after offloading): with offloading on, each model is brought to the
    device for its step and put back after; a second clip works the same."""
    from daemon.models.manager import ModelManager
    from shared.config import DaemonSettings

    config = DaemonSettings(checkpoint_roots=[str(demo_root / "checkpoints")], demo_root="", offload=True)
    manager = ModelManager(config, home=tmp_path)
    manager.select("acestep-v15-demo")
    try:
        renderer = ClipRenderer(manager, Events())
        for seed in (1, 2):
            renderer.render([PROMPT], [1.0], SamplingOptions(seed=seed, format="wav"), tmp_path / f"s{seed}")
            components = manager.snapshot()["components"]
            assert components["vae"]["offloaded"] == ["vae"]
            assert components["text_encoder"]["offloaded"] == ["text_encoder"]
            assert "encoder" in components["dit"]["offloaded"]
            assert components["dit"]["placement"]["encoder"] == "cpu"
    finally:
        manager.close()
