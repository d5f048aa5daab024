"""A studio LoKr loads in ACE-Step as trained: ACE-Step's loader (tests/train/acestep_lokr_loader.py,
run in a fresh process) rebuilds the network from the file's `lokr_config` and gives the decoder
output of the studio's own LoKr, for every shape the presets use."""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from daemon.train.adapters import target_suffixes
from daemon.train.adapters.lokr import LycorisAdapter

from .conftest import load_dit

LOADER = Path(__file__).with_name("acestep_lokr_loader.py")
ROOT = Path(__file__).resolve().parents[2]
SHAPES = list(itertools.product((2, 16, 64), (-1, 4, 8)))  # (linear_dim, factor)


def _probe(model) -> dict:
    gen = torch.Generator().manual_seed(21)
    frames, tokens, hidden = 30, 12, model.config.hidden_size
    t = torch.tensor([0.4, 0.9])
    return dict(hidden_states=torch.randn(2, frames, 64, generator=gen), timestep=t, timestep_r=t,
                attention_mask=torch.ones(2, frames),
                encoder_hidden_states=torch.randn(2, tokens, hidden, generator=gen),
                encoder_attention_mask=torch.ones(2, tokens, dtype=torch.bool),
                context_latents=torch.randn(2, frames, 128, generator=gen))


def _save_studio_lokr(model, folder: Path, linear_dim: int, factor: int, probe: dict) -> torch.Tensor:
    """A studio LoKr with random (trained-looking) weights saved to `folder`; returns its output."""
    adapter = LycorisAdapter("lokr", linear_dim, 2 * linear_dim, factor, False, False, 0.0,
                             target_suffixes("both", False))
    adapter.inject(model.decoder)
    try:
        gen = torch.Generator().manual_seed(linear_dim * 10 + factor)
        with torch.no_grad():
            for _, param in adapter.trainable_parameters():
                param.copy_(torch.randn(param.shape, generator=gen) * 0.05)
            expected = model.decoder(**probe)[0]
        adapter.save(folder, {"trigger_word": "zxq", "tag_position": "prepend"})
    finally:
        adapter.remove()
    return expected


@pytest.fixture(scope="module")
def acestep_loaded(tmp_path_factory, dit_dir):
    """(studio outputs, what ACE-Step's loader made of each saved adapter) for every shape."""
    tmp = tmp_path_factory.mktemp("lokr-acestep")
    model = load_dit(dit_dir)
    probe = _probe(model)
    with torch.no_grad():
        base = model.decoder(**probe)[0]
    expected, folders = {}, {}
    for linear_dim, factor in SHAPES:
        folder = tmp / f"dim{linear_dim}_factor{factor}"
        expected[(linear_dim, factor)] = _save_studio_lokr(model, folder, linear_dim, factor, probe)
        folders[(linear_dim, factor)] = str(folder)
    torch.save(probe, tmp / "inputs.pt")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, str(LOADER), str(dit_dir), str(tmp / "inputs.pt"), str(tmp / "out.pt"),
                    *folders.values()], check=True, env=env, cwd=tmp, timeout=300)
    loaded = torch.load(tmp / "out.pt", weights_only=True)
    return base, expected, {shape: loaded[folder] for shape, folder in folders.items()}


@pytest.mark.parametrize("linear_dim,factor", SHAPES)
def test_acestep_rebuilds_the_trained_lokr(acestep_loaded, linear_dim, factor):
    base, expected, loaded = acestep_loaded
    report = loaded[(linear_dim, factor)]
    # Strict on what the file holds: every tensor found a place of its shape, and every module the
    # adapter trained is complete. (ACE-Step wraps every Linear and Conv1d of the decoder whatever
    # the targets; the modules the studio did not train keep LyCORIS's zero-delta start.)
    assert report["unexpected"] == []
    trained = {key.split(".")[0] for key in report["file_keys"]}
    assert not [key for key in report["missing"] if key.split(".")[0] in trained]
    assert trained <= set(report["wrapped"])
    want = expected[(linear_dim, factor)]
    assert not torch.allclose(want, base, atol=1e-4)  # the adapter does something
    torch.testing.assert_close(report["output"], want, atol=2e-5, rtol=1e-4)


def test_weights_header_carries_acestep_lokr_config_and_the_studio_metadata(acestep_loaded, tmp_path, fresh_model):
    model = fresh_model()
    _save_studio_lokr(model, tmp_path, 16, 4, _probe(model))
    with safe_open(str(tmp_path / "lokr_weights.safetensors"), framework="pt") as handle:
        header = handle.metadata()
    config = json.loads(header["lokr_config"])
    assert config == {"algo": "lokr", "linear_dim": 16, "linear_alpha": 32, "factor": 4, "decompose_both": False,
                      "use_tucker": False, "use_scalar": False, "weight_decompose": False, "full_matrix": False,
                      "bypass_mode": False, "rs_lora": False, "unbalanced_factorization": False,
                      "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}
    assert header["trigger_word"] == "zxq" and header["tag_position"] == "prepend"
