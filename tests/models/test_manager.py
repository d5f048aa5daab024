"""The model manager: lazy, one copy, thread-safe, offloading that really moves, unloading."""
from __future__ import annotations

import threading

import pytest
import torch

from shared.errors import CheckpointError, StudioError


def test_nothing_loads_until_asked_then_only_what_is_asked(make_manager):
    manager = make_manager()
    snap = manager.snapshot()
    assert snap["components"] == {} and snap["selected"] is None and snap["device"] is None
    manager.select("acestep-v15-demo")
    fingerprint = manager.fingerprint()  # the fingerprint needs no loading either
    assert manager.snapshot()["components"] == {} and manager.snapshot()["fingerprint"] == fingerprint
    tokenizer = manager.get("tokenizer")
    assert tokenizer.eos_token == "<|endoftext|>"
    assert set(manager.snapshot()["components"]) == {"text_encoder"}
    silence = manager.get("silence_latent")
    assert silence.shape[0] == 1 and silence.shape[2] == 64
    assert set(manager.snapshot()["components"]) == {"text_encoder", "silence_latent"}


def test_default_checkpoint_is_selected_when_it_is_the_only_one(make_manager, tmp_path):
    manager = make_manager()
    dit = manager.get("dit")
    assert type(dit).__name__ == "AceStepConditionGenerationModel"
    assert manager.selected.name == "acestep-v15-demo"
    snap = manager.snapshot()["components"]["dit"]
    assert snap["placement"] == {"dit": "cpu", "encoder": "cpu"} and snap["attn_implementation"] == "sdpa"
    assert snap["bytes"] > 0
    empty = make_manager(checkpoint_roots=[str(tmp_path / "nothing")])
    with pytest.raises(CheckpointError, match="no checkpoint selected"):
        empty.get("dit")


def test_one_copy_across_threads(make_manager):
    manager = make_manager()
    got, errors = [], []

    def worker():
        try:
            got.append(manager.get("decoder"))
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(got) == 4 and all(d is got[0] for d in got)
    assert manager.get("dit").decoder is got[0]


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _where(module, skip: str = "quantizer") -> set[tuple[str, torch.dtype]]:
    """The (device type, dtype) of the parameters of `module` (the FSQ quantizer stays float32)."""
    return {(p.device.type, p.dtype) for name, p in module.named_parameters() if skip not in name}


@pytest.mark.parametrize("device", DEVICES)
def test_offloading_moves_to_cpu_between_uses_and_back_before_use(make_manager, device):
    # bf16 everywhere: the dtype is checked for real on any machine, the device on one with a GPU.
    manager = make_manager(offload=True, device=device, dtype="bfloat16")
    compute = (manager.device.type, torch.bfloat16)
    offloaded = ("cpu", torch.bfloat16)
    manager.load(["vae", "dit"])
    snap = manager.snapshot()["components"]
    assert snap["vae"]["offloaded"] == ["vae"] and snap["dit"]["offloaded"] == ["encoder"]
    dit = manager._loaded["dit"].obj
    vae = manager._loaded["vae"].obj
    assert _where(vae) == {offloaded} and _where(dit.encoder) == {offloaded}
    assert _where(dit.decoder) == {compute}
    with manager.use("vae") as used:
        assert used is vae and _where(vae) == {compute}
        assert manager.snapshot()["components"]["vae"]["offloaded"] == []
        assert manager.snapshot()["in_use"] == {"vae": 1}
        with pytest.raises(StudioError, match="in use"):
            manager.unload(["vae"])
        assert manager.offload("vae") is False  # never while in use
        assert _where(vae) == {compute}
    assert _where(vae) == {offloaded}
    after = manager.snapshot()["components"]["vae"]
    assert after["offloaded"] == ["vae"] and after["placement"]["vae"] == "cpu"
    with manager.use("encoder") as encoder:
        assert encoder is dit.encoder and _where(encoder) == {compute}
        assert manager.snapshot()["components"]["dit"]["offloaded"] == []
    assert _where(dit.encoder) == {offloaded} and _where(dit.decoder) == {compute}
    assert manager.snapshot()["components"]["dit"]["offloaded"] == ["encoder"]
    assert manager.get("dit") is dit  # the whole DiT, encoder included, comes back for a direct get
    assert _where(dit) == {compute} and manager.snapshot()["components"]["dit"]["offloaded"] == []


def test_without_offloading_use_leaves_components_in_place(make_manager):
    manager = make_manager(offload=False)
    with manager.use("vae"):
        pass
    assert manager.snapshot()["components"]["vae"]["offloaded"] == []
    assert manager.offload("vae") is True  # an explicit offload still works
    assert manager.snapshot()["components"]["vae"]["offloaded"] == ["vae"]


def test_unload_and_switching_checkpoints_free_components(make_manager, broken_root):
    manager = make_manager(checkpoint_roots=[str(broken_root)])
    manager.load(["dit", "silence_latent", "text_encoder"])
    assert manager.unload(["silence_latent"]) == ["silence_latent"]
    assert set(manager.snapshot()["components"]) == {"dit", "text_encoder"}
    first = manager.fingerprint()
    copy = broken_root / "acestep-v15-copy"
    copy.mkdir()
    for item in (broken_root / "acestep-v15-demo").iterdir():
        (copy / item.name).write_bytes(item.read_bytes())
    manager.select("acestep-v15-copy")  # same VAE and text encoder folders: those stay loaded
    assert set(manager.snapshot()["components"]) == {"text_encoder"}
    assert manager.fingerprint() == first  # same content, same fingerprint
    assert manager.unload() == ["text_encoder"] and manager.snapshot()["components"] == {}
    with pytest.raises(StudioError, match="unknown model component"):
        manager.unload(["vocoder"])  # ("lm" is the 5 Hz LM now)


def test_failed_load_leaves_the_manager_usable(make_manager, broken_root):
    (broken_root / "vae" / "config.json").unlink()
    manager = make_manager(checkpoint_roots=[str(broken_root)])
    with pytest.raises(CheckpointError, match="vae"):
        manager.get("vae")
    assert manager.snapshot()["components"] == {}
    assert manager.get("silence_latent").shape[2] == 64
