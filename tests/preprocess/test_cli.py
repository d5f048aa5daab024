"""The `preprocess` and `tensors` verbs: flags from the settings registry, absolute paths, the listing."""
from __future__ import annotations

import torch

from daemon.preprocess.tensor_folder import MANIFEST_FORMAT, write_manifest, write_sample
from shared.cli import build_parser, main
from shared.cli.preprocess import settings_from_args


def test_flags_become_settings_with_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["preprocess", "data/dataset.json", "-o", "out", "--normalize", "lufs",
                                      "--max-duration", "30", "--two-pass", "--checkpoint", "acestep-v15-base",
                                      "--long-clips", "keep"])
    settings = settings_from_args(args)
    assert settings.dataset == str(tmp_path / "data" / "dataset.json") and settings.output_dir == str(tmp_path / "out")
    assert (settings.normalize, settings.max_duration, settings.two_pass) == ("lufs", 30.0, True)
    assert (settings.checkpoint, settings.long_clips, settings.target_lufs) == ("acestep-v15-base", "keep", -14.0)


def test_bad_flag_values_are_refused(capsys):
    try:
        build_parser().parse_args(["preprocess", "d.json", "-o", "out", "--normalize", "rms"])
    except SystemExit as exit:
        assert exit.code == 2
    assert "rms" in capsys.readouterr().err


def test_tensors_lists_files_and_errors(tmp_path, capsys):
    tensors = {"target_latents": torch.zeros(50, 64), "attention_mask": torch.ones(50),
               "encoder_hidden_states": torch.zeros(70, 16), "encoder_attention_mask": torch.ones(70, dtype=torch.bool),
               "context_latents": torch.zeros(50, 128)}
    entry = write_sample(tmp_path / "x.safetensors", tensors, {})
    errors = [{"file": "bad.wav", "reason": "bad.wav: the file is empty"}]
    write_manifest(tmp_path, {"format": MANIFEST_FORMAT, "version": 1, "model": {"name": "acestep-v15-demo"},
                              "files": [entry], "errors": errors})
    assert main(["tensors", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "x.safetensors" in out and "50" in out and "bad.wav: the file is empty" in out
    assert main(["tensors", str(tmp_path / "missing")]) == 1
