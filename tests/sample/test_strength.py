"""Adapter strength is really applied (SM-1 trap: strengths clamped to 0..1, then ignored): on the
demo checkpoint, strength 0 sounds exactly like the base model, and 0.5, 1.0 and 1.5 differ from it
and from each other, for LoRA (scaling alpha/r x strength) and LoKr (LyCORIS multiplier)."""
from __future__ import annotations

import numpy as np
import pytest

from daemon.sample.conditions import ClipPrompt
from daemon.sample.render import ClipRenderer, SamplingOptions
from daemon.train.adapters import load_adapter

from .conftest import Events, read_audio

PROMPT = ClipPrompt("sks, warm lofi beat with soft keys", bpm=90, key="A minor", timesignature="4", seconds=2)


@pytest.mark.parametrize("kind", ["lora", "lokr"])
def test_strength_zero_is_the_base_model_and_other_strengths_differ(kind, demo_manager, request, tmp_path):
    folder = request.getfixturevalue(f"{kind}_folder")
    events = Events()
    renderer = ClipRenderer(demo_manager, events)
    options = SamplingOptions(seed=5, format="wav")
    (base,) = renderer.render([PROMPT], [1.0], options, tmp_path / "base")
    with demo_manager.use("decoder") as decoder:
        adapter = load_adapter(decoder, folder)
        try:
            clips = renderer.render([PROMPT], [0.0, 0.5, 1.0, 1.5], options, tmp_path / kind, adapter)
        finally:
            adapter.remove()

    audio = {c["strength"]: read_audio(tmp_path / kind / c["audio"]) for c in clips}
    base_audio = read_audio(tmp_path / "base" / base["audio"])
    assert base["strength"] is None and sorted(audio) == [0.0, 0.5, 1.0, 1.5]
    np.testing.assert_array_equal(audio[0.0], base_audio)
    for strength in (0.5, 1.0, 1.5):
        assert np.abs(audio[strength] - base_audio).max() > 1e-3, f"strength {strength} sounds like the base"
    for a, b in [(0.5, 1.0), (1.0, 1.5), (0.5, 1.5)]:
        assert np.abs(audio[a] - audio[b]).max() > 1e-3, f"strengths {a} and {b} sound the same"
    written = events.of("sample_written")
    assert [e["strength"] for e in written] == [None, 0.0, 0.5, 1.0, 1.5]


def test_the_decoder_is_given_back_without_the_adapter(demo_manager, lora_folder, tmp_path):
    """After a generation the shared decoder has no LoRA layers left and is back in its mode."""
    with demo_manager.use("decoder") as decoder:
        before = {name for name, _ in decoder.named_modules()}
        adapter = load_adapter(decoder, lora_folder)
        ClipRenderer(demo_manager, Events()).render([PROMPT], [1.5], SamplingOptions(format="wav"), tmp_path, adapter)
        adapter.remove()
        assert {name for name, _ in decoder.named_modules()} == before
        assert not any("lora" in name for name, _ in decoder.named_parameters())
