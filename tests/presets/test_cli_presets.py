"""Presets, advice and profiles from the command line: `train --preset auto`, `--advise-epochs`,
`--profile`, `profile save|show` (in-process `main`, the same parser the `acestep-studio` script runs)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.cli import main
from shared.preset_advice import EPOCH_TABLE, advise_epochs
from shared.presets import load_preset
from shared.tensor_manifest import MANIFEST_FORMAT, MANIFEST_VERSION

GIB = 2**30


def studio_folder(folder: Path, samples: int) -> Path:
    """A tensor folder's manifest listing `samples` files (the CLI counts them without loading any)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = [{"path": f"clip{i}.safetensors", "shapes": {"target_latents": [50, 64]}} for i in range(samples)]
    (folder / "manifest.json").write_text(json.dumps({"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION,
                                                      "files": files, "model": {"name": "demo"}}))
    return folder


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def gpu_reply(gib: float) -> dict:
    device = {"index": 0, "name": "Test GPU", "memory_total": int(gib * GIB), "memory_used": 0}
    return {"available": True, "driver": "test", "devices": [device]}


@pytest.mark.parametrize("gib, expected", [(8, "vram_8gb"), (12, "vram_12gb"), (16, "vram_16gb"),
                                           (24, "vram_24gb_plus"), (80, "vram_24gb_plus"),
                                           (7.6, "vram_8gb"), (11.8, "vram_12gb")])
def test_train_preset_auto_picks_by_the_daemons_gpu_memory(tmp_path, capsys, monkeypatch, gib, expected):
    monkeypatch.setattr("shared.cli.train._gpu", lambda args: gpu_reply(gib))
    tensors = studio_folder(tmp_path / "t", 4)
    code, out, err = run_cli(capsys, "--home", str(tmp_path / "home"), "--json", "train", "--tensors", str(tensors),
                             "--preset", "auto", "--dry-run")
    assert code == 0
    settings = json.loads(out)["settings"]
    wanted = load_preset(expected, "lora").settings.to_dict()
    assert {k: settings[k] for k in ("rank", "optimizer", "crop_frames", "batch_size")} == \
        {k: wanted[k] for k in ("rank", "optimizer", "crop_frames", "batch_size")}
    assert f"preset {expected} chosen for this machine (Test GPU with" in err  # said out loud


def test_train_preset_auto_without_a_gpu_asks_the_real_daemon(daemon, tmp_path, capsys):
    if daemon.request("gpu", {})["available"]:
        pytest.skip("this machine has a GPU: the parametrized test covers the sizes")
    tensors = studio_folder(tmp_path / "t", 2)
    code, out, err = run_cli(capsys, "--home", str(daemon.home), "--json", "train", "--tensors", str(tensors),
                             "--preset", "auto", "--set", "adapter_type=lokr", "--dry-run")
    assert code == 0
    assert json.loads(out)["settings"] == {**load_preset("quick_test", "lokr").settings.to_dict(),
                                           "tensors_dir": str(tensors)}
    assert "preset quick_test chosen for this machine (no GPU" in err


def test_preset_auto_without_a_daemon_says_how_to_go_on(tmp_path, capsys):
    code, _out, err = run_cli(capsys, "--home", str(tmp_path), "--timeout", "0.5", "train", "--tensors",
                              str(tmp_path), "--preset", "auto", "--dry-run")
    assert code == 1 and "--preset auto asks the daemon" in err and "name a preset" in err


def test_epoch_advice_follows_the_table_at_its_edges():
    assert [(n, advise_epochs(n).epochs, advise_epochs(n).save_every_epochs)
            for n in (1, 3, 4, 6, 7, 10, 11, 20, 21, 50, 51, 500)] == [
        (1, 1500, 200), (3, 1500, 200), (4, 1000, 200), (6, 1000, 200), (7, 700, 100), (10, 700, 100),
        (11, 500, 100), (20, 500, 100), (21, 300, 50), (50, 300, 50), (51, 200, 50), (500, 200, 50)]
    assert EPOCH_TABLE[-1][0] is None


def test_advise_epochs_only_when_asked_and_set_wins(tmp_path, capsys):
    tensors = studio_folder(tmp_path / "t", 8)
    base = ["--json", "train", "--tensors", str(tensors), "--preset", "recommended", "--dry-run"]
    _code, out, err = run_cli(capsys, *base)
    assert json.loads(out)["settings"]["epochs"] == load_preset("recommended").settings.epochs and err == ""
    _code, out, err = run_cli(capsys, *base, "--advise-epochs")
    settings = json.loads(out)["settings"]
    assert (settings["epochs"], settings["save_every_epochs"]) == (700, 100)
    assert "epoch advice applied: 700 epochs, a checkpoint every 100 (advised for 8 samples)" in err
    _code, out, err = run_cli(capsys, *base, "--advise-epochs", "--set", "epochs=40")
    settings = json.loads(out)["settings"]
    assert (settings["epochs"], settings["save_every_epochs"]) == (40, 100) and "--set epochs wins" in err


def test_profile_save_show_and_train_round_trip(tmp_path, capsys):
    tensors = studio_folder(tmp_path / "t", 3)
    profile = tmp_path / "mine.json"
    code, _out, _err = run_cli(capsys, "profile", "save", str(profile), "--preset", "vram_12gb", "--tensors",
                               str(tensors), "--set", "adapter_type=lokr", "--set", "dataset_repeats=3",
                               "--dataset", "/data/songs/dataset.json")
    assert code == 0
    _code, out, _err = run_cli(capsys, "--json", "profile", "show", str(profile))
    shown = json.loads(out)
    expected = {**load_preset("vram_12gb", "lokr").settings.to_dict(), "tensors_dir": str(tensors),
                "dataset_repeats": 3}
    assert shown == {"dataset": "/data/songs/dataset.json", "settings": expected, "unknown": []}
    _code, out, err = run_cli(capsys, "--json", "train", "--profile", str(profile), "--dry-run")
    assert json.loads(out)["settings"] == expected and err == ""  # tensors from the profile
    _code, out, _err = run_cli(capsys, "--json", "train", "--profile", str(profile), "--set", "rank=8", "--dry-run")
    assert json.loads(out)["settings"]["rank"] == 8

    code, _out, err = run_cli(capsys, "profile", "save", str(profile), "--preset", "quick_test")
    assert code == 1 and "exists" in err and "--replace" in err
    assert json.loads(profile.read_text())["settings"]["dataset_repeats"] == 3  # not overwritten
    code, _out, err = run_cli(capsys, "train", "--profile", str(profile), "--preset", "quick_test", "--dry-run")
    assert code == 1 and "choose one" in err
