"""The tensor folder: atomic sample files, manifest, moved/symlinked folders, legacy .pt, fingerprints."""
from __future__ import annotations

import argparse
import json
import shutil

import pytest
import torch

from daemon.preprocess.tensor_folder import (
    MANIFEST_FORMAT,
    check_fingerprint,
    open_tensor_folder,
    read_sample_header,
    write_manifest,
    write_sample,
)
from shared.errors import TensorFolderError
from shared.tensor_manifest import manifest_rows, read_manifest


def sample_tensors(frames: int = 12, length: int = 20, hidden: int = 32) -> dict:
    return {
        "target_latents": torch.randn(frames, 64), "attention_mask": torch.ones(frames),
        "encoder_hidden_states": torch.randn(length, hidden),
        "encoder_attention_mask": torch.ones(length, dtype=torch.bool),
        "context_latents": torch.randn(frames, 128),
    }


def studio_folder(root, names=("a", "b"), fingerprint="fp-demo", model="acestep-v15-demo"):
    root.mkdir(parents=True, exist_ok=True)
    entries = [write_sample(root / f"{n}.safetensors", sample_tensors(), {"filename": f"{n}.wav", "duration": 0.5})
               for n in names]
    write_manifest(root, {"format": MANIFEST_FORMAT, "version": 1, "files": entries,
                          "model": {"name": model, "fingerprint": fingerprint}, "settings": {"normalize": "none"}})
    return root


def test_write_sample_roundtrip_with_contract_dtypes(tmp_path):
    tensors = sample_tensors()
    tensors["attention_mask"] = torch.ones(12, dtype=torch.long)  # cast to the contract's float32
    entry = write_sample(tmp_path / "s.safetensors", tensors, {"caption": "piano", "bpm": 120})
    assert entry["dtypes"] == {"target_latents": "float32", "attention_mask": "float32",
                               "encoder_hidden_states": "float32", "encoder_attention_mask": "bool",
                               "context_latents": "float32"}
    assert entry["shapes"]["context_latents"] == [12, 128]
    assert [p.name for p in tmp_path.iterdir()] == ["s.safetensors"]  # no temporary left
    header = read_sample_header(tmp_path / "s.safetensors")
    assert header["metadata"] == {"caption": "piano", "bpm": 120} and header["sha256"] == entry["sha256"]


@pytest.mark.parametrize("key, bad, message", [
    ("target_latents", torch.full((12, 64), float("nan")), "NaN"),
    ("context_latents", torch.randn(11, 128), "context_latents has shape"),
    ("encoder_attention_mask", torch.ones(19, dtype=torch.bool), "encoder_attention_mask"),
])
def test_write_sample_refuses_bad_tensors_and_leaves_no_file(tmp_path, key, bad, message):
    tensors = {**sample_tensors(), key: bad}
    with pytest.raises(TensorFolderError, match=message):
        write_sample(tmp_path / "s.safetensors", tensors, {})
    assert list(tmp_path.iterdir()) == []


def test_open_load_and_verify_checksums(tmp_path):
    folder = open_tensor_folder(studio_folder(tmp_path / "t"))
    assert folder.kind == "studio" and len(folder) == 2 and folder.names() == ["a.safetensors", "b.safetensors"]
    assert [s.frames for s in folder.samples] == [12, 12]
    sample = folder.load("b.safetensors", verify=True)
    assert sample["metadata"]["filename"] == "b.wav" and sample["encoder_attention_mask"].dtype == torch.bool
    folder.verify()
    with open(folder.samples[0].path, "r+b") as fh:  # flip bits of one byte of tensor data
        fh.seek(-3, 2)
        byte = fh.read(1)[0]
        fh.seek(-3, 2)
        fh.write(bytes([byte ^ 0xFF]))
    with pytest.raises(TensorFolderError, match="checksum"):
        folder.verify()


def test_moved_folder_and_symlinked_path_still_work(tmp_path):
    original = studio_folder(tmp_path / "orig")
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    shutil.move(str(original), str(moved))
    link = tmp_path / "link"
    link.symlink_to(moved, target_is_directory=True)
    for path in (moved, link):
        folder = open_tensor_folder(path)
        assert folder.root == moved.resolve()
        folder.verify()
        assert folder.load(0)["target_latents"].shape == (12, 64)
    assert [row["frames"] for row in manifest_rows(read_manifest(link))] == [12, 12]


def test_missing_listed_file_is_named(tmp_path):
    root = studio_folder(tmp_path / "t")
    (root / "a.safetensors").unlink()
    with pytest.raises(TensorFolderError, match="a.safetensors"):
        open_tensor_folder(root)


@pytest.mark.parametrize("with_manifest", [False, True])
def test_legacy_pt_folder_is_read(tmp_path, with_manifest):
    root = tmp_path / "legacy"
    root.mkdir()
    for name in ("x", "y"):
        data = {**sample_tensors(frames=10), "metadata": {"audio_path": f"/data/{name}.wav", "filename": f"{name}.wav",
                                                        "caption": "lofi", "duration": 0.4, "bpm": 90}}
        data["target_latents"] = data["target_latents"].to(torch.bfloat16)
        torch.save(data, root / f"{name}.pt")
    torch.save({**sample_tensors(frames=10), "context_latents": torch.full((10, 128), float("nan"))}, root / "z.pt")
    if with_manifest:
        (root / "manifest.json").write_text(json.dumps({"samples": ["x.pt", "y.pt"], "num_samples": 2}))
    else:
        problems = open_tensor_folder(root).problems()
        assert [(p["file"], "NaN" in p["reason"]) for p in problems] == [("z.pt", True)]
        (root / "z.pt").unlink()
    folder = open_tensor_folder(root)
    assert folder.kind == "legacy" and len(folder) == 2 and folder.fingerprint is None
    sample = folder.load(1)
    assert sample["target_latents"].dtype == torch.float32 and sample["metadata"]["caption"] == "lofi"
    assert check_fingerprint(folder, "any", "acestep-v15-turbo") is False  # nothing to compare: allowed


def test_legacy_pt_with_code_objects_is_refused(tmp_path):
    root = tmp_path / "evil"
    root.mkdir()
    torch.save({**sample_tensors(), "metadata": {"x": argparse.Namespace(code="not a tensor")}}, root / "e.pt")
    with pytest.raises(TensorFolderError, match="weights_only"):
        open_tensor_folder(root).load(0)


def test_another_models_folder_is_refused_naming_both(tmp_path):
    folder = open_tensor_folder(studio_folder(tmp_path / "t", fingerprint="aaaa1111", model="acestep-v15-base"))
    assert check_fingerprint(folder, "aaaa1111", "acestep-v15-base") is True
    with pytest.raises(TensorFolderError) as caught:
        check_fingerprint(folder, "bbbb2222", "acestep-v15-turbo")
    assert "acestep-v15-base" in str(caught.value) and "acestep-v15-turbo" in str(caught.value)


def test_empty_folder_is_refused(tmp_path):
    with pytest.raises(TensorFolderError, match="no training tensors"):
        open_tensor_folder(tmp_path)
