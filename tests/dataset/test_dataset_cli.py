"""`acestep-studio dataset ...` verbs, run in-process through shared.cli.main."""
from __future__ import annotations

import json

from shared.cli import main
from shared.dataset import load_dataset


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_scan_set_show_export_import(audio_folder, tmp_path, capsys):
    dataset_file = audio_folder / "dataset.json"
    code, out, _ = run(capsys, "dataset", "scan", str(audio_folder))
    assert code == 0 and "3 samples" in out and dataset_file.is_file()

    code, out, _ = run(capsys, "dataset", "set", str(dataset_file), "--trigger-word", "zqx",
                       "--tag-position", "append", "--genre-ratio", "0.5", "--language-override", "ja")
    assert code == 0 and load_dataset(dataset_file).options.genre_ratio == 0.5
    assert "language override ja" in out
    run(capsys, "dataset", "set", str(dataset_file), "--no-language-override")
    assert load_dataset(dataset_file).options.language_override is None

    code, out, _ = run(capsys, "--json", "dataset", "show", str(dataset_file))
    shown = json.loads(out)
    assert shown["trigger_word"] == "zqx" and shown["training_captions"][0] == "warm piano ballad, zqx"

    csv = tmp_path / "labels.csv"
    assert run(capsys, "dataset", "export-csv", str(dataset_file), str(csv))[0] == 0
    csv.write_text(csv.read_text().replace("beta.wav,,", "beta.wav,new caption,"))
    code, out, _ = run(capsys, "dataset", "import-csv", str(dataset_file), str(csv))
    assert code == 0 and "3 samples updated" in out
    assert load_dataset(dataset_file).samples[1].caption == "new caption"

    code, out, _ = run(capsys, "dataset", "show", str(dataset_file))
    assert "new caption, zqx" in out and "sub/gamma.wav" in out


def test_import_problems_exit_non_zero_and_strict_saves_nothing(audio_folder, tmp_path, capsys):
    dataset_file = audio_folder / "dataset.json"
    run(capsys, "dataset", "scan", str(audio_folder))
    csv = tmp_path / "bad.csv"
    csv.write_text("file,caption,bpm\nalpha.wav,changed,fast\n")
    before = dataset_file.read_bytes()
    code, _, err = run(capsys, "dataset", "import-csv", "--strict", str(dataset_file), str(csv))
    assert code == 1 and "row 2, bpm" in err and dataset_file.read_bytes() == before
    code, out, _ = run(capsys, "--json", "dataset", "import-csv", str(dataset_file), str(csv))
    assert code == 1 and json.loads(out)["issues"][0]["column"] == "bpm"
    assert load_dataset(dataset_file).samples[0].caption == "changed"


def test_rescan_keeps_labels_and_errors_are_messages(audio_folder, tmp_path, capsys):
    dataset_file = audio_folder / "dataset.json"
    run(capsys, "dataset", "scan", str(audio_folder))
    run(capsys, "dataset", "set", str(dataset_file), "--trigger-word", "keep")
    code, out, _ = run(capsys, "--json", "dataset", "scan", str(audio_folder))
    assert code == 0 and json.loads(out)["samples"] == 3
    assert load_dataset(dataset_file).options.trigger_word == "keep"
    code, _, err = run(capsys, "dataset", "show", str(tmp_path / "nope.json"))
    assert code == 1 and "not found" in err


def test_split_without_a_daemon_says_so(audio_folder, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ACESTEP_STUDIO_HOME", str(tmp_path / "home"))
    code, _, err = run(capsys, "dataset", "split", str(audio_folder), str(tmp_path / "out"))
    assert code == 1 and "no daemon" in err


def test_split_through_the_daemon(daemon, audio_folder, tmp_path, capsys):
    code, out, _ = run(capsys, "--home", str(daemon.home), "--json", "dataset", "split", str(audio_folder),
                       str(tmp_path / "out"), "--segment-seconds", "1", "--wait")
    assert code == 0
    written = sorted(p.name for p in (tmp_path / "out").iterdir() if p.suffix in (".wav", ".flac"))
    assert written == ["alpha.wav", "beta_part01.flac", "beta_part02.flac"]  # 1 s copied whole, 2 s split
