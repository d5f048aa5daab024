"""The `preprocess` and `tensors` verbs: flags from the settings registry, absolute paths, the listing."""
from __future__ import annotations

import pytest
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
    with pytest.raises(SystemExit) as exit:
        build_parser().parse_args(["preprocess", "d.json", "-o", "out", "--normalize", "rms"])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert "'rms' is not one of ['none', 'peak', 'lufs', 'peak_lufs']" in err and "--normalize" in err


def table_rows(text: str, first_header: str) -> list[dict[str, str]]:
    """The rows of the table whose header line starts with `first_header`, by column name."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first_header))
    header = lines[start].split()
    rows = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        rows.append(dict(zip(header, line.split(None, len(header) - 1), strict=True)))
    return rows


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
    [row] = table_rows(out, "FILE ")
    assert (row["FILE"], row["FRAMES"], row["CONDITION_TOKENS"]) == ("x.safetensors", "50", "70")
    assert "1 file(s) skipped" in out
    skipped = table_rows(out.split("skipped:", 1)[1], "FILE ")
    assert skipped == [{"FILE": "bad.wav", "REASON": "bad.wav: the file is empty"}]
    assert main(["tensors", str(tmp_path / "missing")]) == 1
    assert "missing: not a folder of training tensors (no such folder)" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["tensors", str(tmp_path / "empty")]) == 1
    assert "no manifest.json and no tensor files" in capsys.readouterr().err
