"""LoKr at the real model's width (2048): the presets' values give a real low-rank Kronecker
decomposition, and values that do not (LyCORIS's "full matrix mode") are explained in the
pre-flight notes with the factors that would."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from daemon.train.adapters import target_suffixes
from daemon.train.adapters.lokr import LycorisAdapter

PRESETS = sorted(Path(__file__).resolve().parents[2].joinpath("presets").glob("*.json"))


@pytest.fixture(scope="module")
def wide_decoder():
    """One decoder layer at the real widths (hidden 2048, 16 heads, 8 kv heads of 128)."""
    from daemon.models.acestep_demo.modeling_acestep_v15_turbo import AceStepDiTModel
    from daemon.models.demo_checkpoint import demo_config

    config = demo_config()
    for key, value in dict(hidden_size=2048, intermediate_size=64, num_hidden_layers=1, num_attention_heads=16,
                           num_key_value_heads=8, head_dim=128).items():
        setattr(config, key, value)
    torch.manual_seed(0)
    return AceStepDiTModel(config).requires_grad_(False)


def _inject(decoder, dim: int, alpha: int, factor: int) -> LycorisAdapter:
    adapter = LycorisAdapter("lokr", dim, alpha, factor, False, False, 0.0, target_suffixes("both", False))
    adapter.inject(decoder)
    return adapter


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_every_lokr_preset_decomposes_at_width_2048(wide_decoder, preset):
    values = json.loads(preset.read_text())["variants"]["lokr"]
    adapter = _inject(wide_decoder, values["lokr_linear_dim"], values["lokr_linear_alpha"], values["lokr_factor"])
    try:
        assert adapter.notes == []
        names = [n for n, _ in adapter.trainable_parameters()]
        assert any(n.endswith("lokr_w2_a") for n in names) and not any(n.endswith("lokr_w2") for n in names)
    finally:
        adapter.remove()


def test_full_matrix_mode_is_explained_with_the_factors_that_decompose(wide_decoder):
    adapter = _inject(wide_decoder, 64, 128, -1)
    try:
        (note,) = adapter.notes
    finally:
        adapter.remove()
    assert "linear_dim 64 is too large" in note and "2048 split as 32 x 64" in note
    assert "have no effect" in note and "factor 8: linear_dim below 128" in note
