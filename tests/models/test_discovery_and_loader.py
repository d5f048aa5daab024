"""Checkpoint discovery, the loader's checks on broken folders, the fingerprint, device choice."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from daemon.models import discovery
from daemon.models.checkpoint_files import model_fingerprint
from daemon.models.device import attention_candidates, resolve_device, resolve_dtype
from daemon.models.loader import load_dit, load_silence_latent, load_text_encoder, load_vae
from shared.errors import CheckpointError, SettingsError

CPU = torch.device("cpu")


def test_discovery_lists_checkpoints_with_their_vae_and_text_encoder(tmp_path, demo_checkpoints):
    found = discovery.discover([str(demo_checkpoints), str(demo_checkpoints), str(tmp_path / "missing")])
    assert [c.name for c in found] == ["acestep-v15-demo"]  # listed once, missing roots ignored
    info = found[0]
    assert info.kind == "turbo" and info.is_turbo and info.model_version == "v15-demo"
    assert info.size_bytes > (demo_checkpoints / "acestep-v15-demo" / "model.safetensors").stat().st_size
    assert info.vae == str(demo_checkpoints / "vae")
    assert info.text_encoder == str(demo_checkpoints / "Qwen3-Embedding-0.6B")


def test_discovery_by_model_type_kind_by_name_and_an_install_folder(tmp_path):
    install = tmp_path / "ACE-Step-1.5"
    merged = install / "checkpoints" / "my-merged-model"
    base = install / "checkpoints" / "acestep-v15-base"
    for folder, config in ((merged, {"model_type": "acestep", "is_turbo": True}), (base, {})):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps(config))
    (install / "checkpoints" / "not-a-model").mkdir()
    (install / "checkpoints" / "acestep-5Hz-lm-0.6B").mkdir()
    found = {c.name: c for c in discovery.discover([str(install)])}
    assert set(found) == {"my-merged-model", "acestep-v15-base"}
    assert found["acestep-v15-base"].kind == "base" and found["my-merged-model"].kind == "turbo"
    assert found["acestep-v15-base"].vae is None


def test_user_roots_are_persisted_and_listed_with_their_source(tmp_path, demo_checkpoints):
    home = tmp_path / "home"
    home.mkdir()
    added = discovery.add_root(home, str(demo_checkpoints))
    roots = discovery.checkpoint_roots(["./checkpoints"], home, str(tmp_path / "demo"))
    assert [r["source"] for r in roots] == ["configured", "user", "demo"]
    assert roots[1]["path"] == added and roots[1]["exists"]
    assert json.loads((home / "checkpoint_roots.json").read_text())["roots"] == [added]
    with pytest.raises(CheckpointError, match="not a folder"):
        discovery.add_root(home, str(tmp_path / "nowhere"))
    discovery.remove_root(home, str(demo_checkpoints))
    assert discovery.user_roots(home) == []
    with pytest.raises(CheckpointError, match="not among"):
        discovery.remove_root(home, str(demo_checkpoints))


def test_find_by_name_or_path(demo_checkpoints):
    by_name = discovery.find_checkpoint("acestep-v15-demo", [str(demo_checkpoints)])
    by_path = discovery.find_checkpoint(str(demo_checkpoints / "acestep-v15-demo"), [])
    assert by_name.path == by_path.path
    with pytest.raises(CheckpointError, match="acestep-v15-demo"):  # the message lists what exists
        discovery.find_checkpoint("acestep-v15-turbo", [str(demo_checkpoints)])


def test_loaders_give_the_documented_shapes(demo_checkpoints):
    dit = demo_checkpoints / "acestep-v15-demo"
    model, attn = load_dit(dit, CPU, torch.float32)
    assert attn == "sdpa" and not model.training
    assert not any(p.requires_grad for p in model.parameters())
    silence = load_silence_latent(dit, CPU, torch.float32)
    assert silence.shape[0] == 1 and silence.shape[2] == 64 and silence.shape[1] >= 750
    tokenizer, encoder = load_text_encoder(demo_checkpoints / "Qwen3-Embedding-0.6B", CPU, torch.float32)
    assert encoder.config.hidden_size == model.config.text_hidden_dim
    assert tokenizer.eos_token == "<|endoftext|>"


def _break(folder, how):
    if how == "missing config":
        (folder / "config.json").unlink()
        return "config.json"
    if how == "missing weights":
        (folder / "model.safetensors").unlink()
        return "model.safetensors"
    if how == "truncated weights":
        path = folder / "model.safetensors"
        path.write_bytes(path.read_bytes()[:-1000])
        return "model.safetensors"
    if how == "garbage weights":
        (folder / "model.safetensors").write_bytes(b"\xff" * 4096)
        return "model.safetensors"
    if how == "wrong model_type":
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "model_type": "qwen3"}))
        return "config.json"
    if how == "missing code":
        (folder / "modeling_acestep_v15_turbo.py").unlink()
        return "modeling_acestep_v15_turbo.py"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["missing config", "missing weights", "truncated weights", "garbage weights",
                                 "wrong model_type", "missing code"])
def test_broken_dit_folder_names_the_file(broken_root, how):
    folder = broken_root / "acestep-v15-demo"
    filename = _break(folder, how)
    with pytest.raises(CheckpointError) as err:
        load_dit(folder, CPU, torch.float32)
    assert str(folder / filename) in str(err.value)


def test_broken_vae_text_encoder_and_silence_latent_name_the_file(broken_root):
    vae_weights = broken_root / "vae" / "diffusion_pytorch_model.safetensors"
    vae_weights.write_bytes(vae_weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=str(vae_weights)):
        load_vae(broken_root / "vae", CPU, torch.float32)
    (broken_root / "Qwen3-Embedding-0.6B" / "tokenizer.json").unlink()
    with pytest.raises(CheckpointError, match="tokenizer.json"):
        load_text_encoder(broken_root / "Qwen3-Embedding-0.6B", CPU, torch.float32)
    silence = broken_root / "acestep-v15-demo" / "silence_latent.pt"
    silence.write_bytes(b"not a tensor")
    with pytest.raises(CheckpointError, match=str(silence)):
        load_silence_latent(silence.parent, CPU, torch.float32)


def test_fingerprint_is_stable_and_follows_config_and_weights(tmp_path, demo_checkpoints):
    original = demo_checkpoints / "acestep-v15-demo"
    fingerprint = model_fingerprint(original)
    assert len(fingerprint) == 16 and int(fingerprint, 16) >= 0
    copy = tmp_path / "renamed-copy"
    shutil.copytree(original, copy)
    assert model_fingerprint(copy) == fingerprint  # by content, not by folder name
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "timestep_mu": -0.5}))
    assert model_fingerprint(copy) != fingerprint


def test_device_and_dtype_choice_on_this_machine():
    device = resolve_device("auto")
    if not torch.cuda.is_available():
        assert device.type in ("cpu", "mps", "xpu")
    assert resolve_dtype(CPU, "auto") == torch.float32
    assert resolve_dtype(CPU, "bfloat16") == torch.bfloat16
    assert attention_candidates(CPU) == ["sdpa", "eager"]
    with pytest.raises(SettingsError, match="daemon.dtype"):
        resolve_dtype(CPU, "int8")
    if not torch.cuda.is_available():
        with pytest.raises(SettingsError, match="not available"):
            resolve_device("cuda")
