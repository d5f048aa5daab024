"""Merge (SM-4) and export (SM-5) on the demo checkpoint: the merged folder is listed by discovery
and loads through the real loader with the decoder of base + adapter; the ComfyUI file has the key
names and alpha tensors ComfyUI reads, and applying it as ComfyUI does gives the merged weights."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from daemon.export.comfyui import comfyui_tensors
from daemon.export.merge import merged_model, write_merged_checkpoint
from daemon.models import discovery
from daemon.models.loader import load_dit
from daemon.train.adapters import load_adapter
from shared.errors import ExportError

from .conftest import make_adapter_folder

PREFIX = "diffusion_model.decoder"
CPU = torch.device("cpu")


def _probe(frames: int = 20) -> dict:
    g = torch.Generator().manual_seed(3)
    t = torch.tensor([0.7])
    return dict(hidden_states=torch.randn(1, frames, 64, generator=g), timestep=t, timestep_r=t,
                attention_mask=torch.ones(1, frames), encoder_hidden_states=torch.randn(1, 6, 128, generator=g),
                encoder_attention_mask=torch.ones(1, 6, dtype=torch.bool),
                context_latents=torch.randn(1, frames, 128, generator=g))


def checkpoint_root(dit_dir: Path, root: Path) -> Path:
    """A checkpoints folder holding the demo's VAE and text encoder (links), for merged DiTs."""
    root.mkdir()
    for name in ("vae", "Qwen3-Embedding-0.6B"):
        os.symlink(dit_dir.parent / name, root / name)
    return root


@pytest.mark.parametrize("kind", ["lora", "lokr"])
def test_merged_checkpoint_is_listed_loads_and_matches_base_plus_adapter(kind, dit_dir, request, tmp_path):
    adapter = request.getfixturevalue(f"{kind}_folder")
    root = checkpoint_root(dit_dir, tmp_path / "checkpoints")
    info = write_merged_checkpoint(dit_dir, adapter, 1.0, root / "acestep-v15-merged-test")

    (listed,) = discovery.discover([str(root)])
    assert listed.name == "acestep-v15-merged-test" and listed.vae and listed.text_encoder
    assert sorted(p.name for p in Path(info["checkpoint"]).iterdir()) == sorted(
        p.name for p in dit_dir.iterdir() if not p.name.startswith("."))
    merged, _ = load_dit(Path(info["checkpoint"]), CPU, torch.float32)
    base, _ = load_dit(dit_dir, CPU, torch.float32)
    with torch.no_grad():
        load_adapter(base.decoder, adapter, strength=1.0)
        expected = base.decoder(**_probe())[0]
        got = merged.decoder(**_probe())[0]
    assert (got - expected).abs().max() < 1e-4
    assert info["changed_tensors"] == 16  # q, k, v, o of self and cross attention in the demo's 2 layers
    with safe_open(str(dit_dir / "model.safetensors"), "pt") as old, \
            safe_open(str(root / "acestep-v15-merged-test" / "model.safetensors"), "pt") as new:
        assert set(old.keys()) == set(new.keys())
        for key in old.keys():
            if not key.startswith("decoder."):
                assert torch.equal(old.get_tensor(key), new.get_tensor(key)), key


def test_merge_never_replaces_an_existing_folder(dit_dir, lora_folder, tmp_path):
    target = tmp_path / "acestep-v15-mine"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="already exists"):
        write_merged_checkpoint(dit_dir, lora_folder, 1.0, target)
    assert [p.name for p in target.iterdir()] == ["keep.txt"]


def _base_weight(dit_dir: Path, path: str) -> torch.Tensor:
    with safe_open(str(dit_dir / "model.safetensors"), "pt") as fh:
        return fh.get_tensor(f"decoder.{path}.weight").float()


def test_comfyui_lora_has_pairs_and_alpha_and_applies_as_peft_merges(dit_dir, lora_folder):
    tensors = comfyui_tensors(lora_folder, PREFIX, None)
    modules = sorted({k[len(PREFIX) + 1:].rsplit(".", 2)[0] for k in tensors if k.endswith(".lora_down.weight")})
    assert "layers.0.self_attn.q_proj" in modules and "layers.1.cross_attn.o_proj" in modules
    assert set(tensors) == {f"{PREFIX}.{m}.{s}" for m in modules for s in ("lora_down.weight", "lora_up.weight",
                                                                           "alpha")}
    merged = merged_model(dit_dir, lora_folder, 1.0).decoder.state_dict()
    for module in modules:
        alpha = tensors[f"{PREFIX}.{module}.alpha"]
        down, up = tensors[f"{PREFIX}.{module}.lora_down.weight"], tensors[f"{PREFIX}.{module}.lora_up.weight"]
        assert alpha.ndim == 0 and float(alpha) == 8.0  # lora_alpha: alpha / rank = 8 / 4 as PEFT scales
        comfy = _base_weight(dit_dir, module) + float(alpha) / down.shape[0] * (up.float() @ down.float())
        torch.testing.assert_close(comfy, merged[f"{module}.weight"], atol=1e-5, rtol=1e-5)


def test_comfyui_lora_alpha_under_rslora_and_other_prefixes(lora_folder):
    from daemon.export.comfyui import comfyui_alpha

    assert comfyui_alpha("layers.0.self_attn.q_proj", 64, {"lora_alpha": 128}) == 128.0
    assert comfyui_alpha("layers.0.self_attn.q_proj", 64, {"lora_alpha": 128, "use_rslora": True}) == 1024.0
    newer = comfyui_tensors(lora_folder, "base_model.model", None)
    assert "base_model.model.layers.0.self_attn.q_proj.lora_up.weight" in newer
    with pytest.raises(ExportError, match="LoKr/LoHa"):
        comfyui_tensors(lora_folder, "lycoris", None)


def test_comfyui_lokr_keys_use_real_module_names_and_apply_as_lycoris_merges(dit_dir, lokr_folder):
    as_saved = comfyui_tensors(lokr_folder, "lycoris", None)
    assert "lycoris_layers_0_self_attn_q_proj.lokr_w1" in as_saved
    assert "lycoris_layers_0_self_attn_q_proj.alpha" in as_saved
    tensors = comfyui_tensors(lokr_folder, PREFIX, dit_dir)
    assert len(tensors) == len(as_saved)
    module = "layers.0.self_attn.q_proj"
    w1, w2a, w2b = (tensors[f"{PREFIX}.{module}.{n}"] for n in ("lokr_w1", "lokr_w2_a", "lokr_w2_b"))
    alpha = float(tensors[f"{PREFIX}.{module}.alpha"])
    # ComfyUI's LoKr: W + kron(w1, w2_a @ w2_b) x alpha / dim, dim = the rank of the decomposed factor
    comfy = _base_weight(dit_dir, module) + torch.kron(w1, w2a @ w2b) * alpha / w2b.shape[0]
    merged = merged_model(dit_dir, lokr_folder, 1.0).decoder.state_dict()
    torch.testing.assert_close(comfy, merged[f"{module}.weight"], atol=1e-5, rtol=1e-5)
    with pytest.raises(ExportError, match="checkpoint"):
        comfyui_tensors(lokr_folder, PREFIX, None)


def test_comfyui_dora_is_the_merged_weight_difference(dit_dir, tmp_path):
    folder = make_adapter_folder(dit_dir, tmp_path / "dora", "dora", seed=2, scale=0.05)
    tensors = comfyui_tensors(folder, PREFIX, dit_dir)
    assert tensors and all(k.endswith(".diff") for k in tensors)
    merged = merged_model(dit_dir, folder, 1.0).decoder.state_dict()
    module = "layers.1.self_attn.v_proj"
    torch.testing.assert_close(_base_weight(dit_dir, module) + tensors[f"{PREFIX}.{module}.diff"],
                               merged[f"{module}.weight"], atol=1e-6, rtol=1e-6)
