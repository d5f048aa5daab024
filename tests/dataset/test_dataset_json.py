"""Saving and loading the dataset file: lossless, relative paths, atomic, clear errors (DS-6)."""
from __future__ import annotations

import json
import shutil

import pytest

from shared.dataset import load_dataset, save_dataset
from shared.dataset_scan import scan_folder
from shared.errors import DatasetError


def labelled(audio_folder):
    dataset = scan_folder(audio_folder).dataset
    dataset.options = dataset.options.replace(
        name="my set", trigger_word="zq style", tag_position="append", genre_ratio=0.35,
        genre_ratio_seed=1234, language_override="ja")
    a, b, g = dataset.samples
    a.genre, a.bpm, a.keyscale, a.timesignature, a.language = "ballad", 72, "F# minor", "3", "en"
    b.is_instrumental, b.prompt_override, b.custom_tag = True, "genre", "own tag"
    g.caption, g.lyrics, g.labeled = "ünïcode ✓ caption", "line 1\nline 2", True
    return dataset


def test_round_trip_is_lossless_genre_ratio_included(audio_folder):
    dataset = labelled(audio_folder)
    path = audio_folder / "dataset.json"
    saved = save_dataset(dataset, path)
    loaded = load_dataset(path)
    assert loaded == saved
    assert loaded.options.genre_ratio == 0.35 and loaded.options.genre_ratio_seed == 1234
    assert loaded.options.tag_position == "append" and loaded.options.language_override == "ja"
    assert loaded.samples == dataset.samples
    # and again: saving what was loaded gives the same bytes
    text = path.read_text(encoding="utf-8")
    save_dataset(loaded, path)
    assert path.read_text(encoding="utf-8") == text


def test_file_is_versioned_and_paths_are_relative_to_it(audio_folder, tmp_path):
    dataset = labelled(audio_folder)
    elsewhere = tmp_path / "projects" / "one" / "dataset.json"
    save_dataset(dataset, elsewhere)
    data = json.loads(elsewhere.read_text(encoding="utf-8"))
    assert data["format"] == "acestep-studio-dataset" and data["version"] == 1
    assert data["samples"][2]["audio"] == "../../songs/sub/gamma.wav"
    loaded = load_dataset(elsewhere)
    assert all(loaded.audio_path(s).is_file() for s in loaded.samples)
    assert loaded.key(loaded.samples[2]) == "sub/gamma.wav"


def test_a_moved_dataset_folder_still_loads(audio_folder, tmp_path):
    save_dataset(labelled(audio_folder), audio_folder / "dataset.json")
    moved = shutil.move(str(audio_folder), str(tmp_path / "moved"))
    loaded = load_dataset(f"{moved}/dataset.json")
    assert [s.audio for s in loaded.samples] == ["alpha.wav", "beta.wav", "sub/gamma.wav"]
    assert all(loaded.audio_path(s).is_file() for s in loaded.samples)


def test_a_failed_save_leaves_the_old_file_untouched(audio_folder):
    path = audio_folder / "dataset.json"
    dataset = labelled(audio_folder)
    save_dataset(dataset, path)
    before = path.read_bytes()
    dataset.samples[0].duration = float("nan")
    with pytest.raises(DatasetError, match="nothing was written"):
        save_dataset(dataset, path)
    assert path.read_bytes() == before
    assert [p.name for p in audio_folder.iterdir() if p.name.endswith(".tmp")] == []


def test_saving_onto_a_folder_is_refused(audio_folder):
    with pytest.raises(DatasetError, match="is a folder"):
        save_dataset(scan_folder(audio_folder).dataset, audio_folder)


@pytest.mark.parametrize("content, message", [
    ("{broken", r"not valid JSON \(line 1"),
    ('{"format": "something else"}', "not an ACE-Step Studio dataset"),
    ('{"format": "acestep-studio-dataset", "version": 99, "samples": []}', "newer than this program"),
    ('{"format": "acestep-studio-dataset", "version": 1, "genre_ratio": 2.0}', "Genre ratio: 2.0 is above"),
    ('{"format": "acestep-studio-dataset", "version": 1, "tag_position": "middle"}', "Tag position: 'middle'"),
    ('{"format": "acestep-studio-dataset", "version": 1, "samples": [{"audio": "a.wav"}, {"audio": "b.wav", '
     '"bpm": "fast"}]}', r"samples\[1\]\.bpm"),
    ('{"format": "acestep-studio-dataset", "version": 1, "samples": [{"audio": "a.wav", "keyscale": "H"}]}',
     r"samples\[0\]\.keyscale"),
    ('{"format": "acestep-studio-dataset", "version": 1, "samples": [{"caption": "x"}]}', "'audio'"),
])
def test_load_errors_name_the_file_and_the_field(tmp_path, content, message):
    path = tmp_path / "dataset.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DatasetError, match=message) as err:
        load_dataset(path)
    assert str(path) in str(err.value)


def test_missing_file_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(tmp_path / "nope.json")


def test_the_dataset_modules_stay_light():
    """shared/ must import without torch, numpy, soundfile or pandas (they load lazily, where used)."""
    import subprocess
    import sys

    code = ("import sys, shared.dataset, shared.dataset_scan, shared.dataset_csv, shared.dataset_acestep, "
            "shared.prompt, shared.labels, shared.cli.dataset, shared.split_settings\n"
            "print([m for m in ('torch', 'numpy', 'soundfile', 'pandas') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
