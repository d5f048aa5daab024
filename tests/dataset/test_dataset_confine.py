"""A dataset file's audio paths are confined to its folder, unless the user allows one more folder
(issue 10 item 10). Preprocessing's refusal is tested in tests/preprocess/test_pipeline.py."""
from __future__ import annotations

import json

import pytest

from shared.cli import main
from shared.confine import refused_samples
from shared.dataset import Dataset, Sample, load_dataset, save_dataset
from shared.errors import DatasetError
from tests.dataset.conftest import write_audio
from tests.dataset.test_dataset_page import open_page


def hostile_file(folder, tmp_path):
    """dataset.json listing a file inside, one beside the folder, system files and a link out."""
    write_audio(folder / "inside.wav")
    write_audio(tmp_path / "outside" / "secret.wav")
    (folder / "link.wav").symlink_to(tmp_path / "outside" / "secret.wav")
    data = {"format": "acestep-studio-dataset", "version": 1, "samples": [
        {"audio": a} for a in ("inside.wav", "../outside/secret.wav", "/etc/passwd", "/etc/shadow", "link.wav")]}
    (folder / "dataset.json").write_text(json.dumps(data))
    return folder / "dataset.json"


def test_paths_outside_the_folder_are_refused(tmp_path):
    path = hostile_file(tmp_path / "songs", tmp_path)
    dataset = load_dataset(path)
    refused = {s.audio: reason for s, reason in refused_samples(dataset)}
    assert list(refused) == ["../outside/secret.wav", "/etc/passwd", "/etc/shadow", "link.wav"]
    assert refused["/etc/passwd"].startswith(f"/etc/passwd lies outside the dataset folder {tmp_path / 'songs'}")
    dataset.options = dataset.options.replace(audio_root=str(tmp_path / "outside"))
    assert [s.audio for s, _ in refused_samples(dataset)] == ["/etc/passwd", "/etc/shadow"]


def test_the_allowed_root_must_be_absolute():
    with pytest.raises(DatasetError, match="Allowed audio root: 'music' is not an absolute folder path"):
        from shared.dataset import dataset_from_dict

        dataset_from_dict({"format": "acestep-studio-dataset", "version": 1, "audio_root": "music"}, "/tmp")


def test_saving_a_dataset_away_from_its_audio_allows_that_folder_by_name(tmp_path):
    write_audio(tmp_path / "songs" / "a.wav")
    dataset = Dataset(root=tmp_path / "songs", samples=[Sample(audio="a.wav")])
    saved = save_dataset(dataset, tmp_path / "elsewhere" / "dataset.json")
    assert saved.samples[0].audio == "../songs/a.wav" and saved.options.audio_root == str(tmp_path / "songs")
    assert refused_samples(load_dataset(tmp_path / "elsewhere" / "dataset.json")) == []


def test_cli_show_names_the_refused_files(tmp_path, capsys):
    path = hostile_file(tmp_path / "songs", tmp_path)
    assert main(["dataset", "show", str(path)]) == 0
    err = capsys.readouterr().err
    assert err.count("refused: ") == 4 and "refused: /etc/shadow lies outside" in err


def test_the_page_lists_them_and_never_plays_them(tmp_path, monkeypatch):
    path = hostile_file(tmp_path / "songs", tmp_path)
    at = open_page(monkeypatch, tmp_path / "home", path)
    [refused] = [d.value for d in at.dataframe if list(d.value.columns) == ["file"]]
    assert list(refused["file"]) == ["../outside/secret.wav", "/etc/passwd", "/etc/shadow", "link.wav"]
    assert at.get("audio"), "the sample inside is played"
    at.selectbox(key="dataset.pick").set_value(3).run()
    assert not at.get("audio") and any("/etc/shadow lies outside" in w.value for w in at.warning)
