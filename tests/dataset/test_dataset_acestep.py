"""Opening dataset files written by ACE-Step's own Dataset Builder (percent genre ratio, absolute paths)."""
from __future__ import annotations

import json

from shared.dataset import load_dataset, save_dataset
from shared.prompt import training_captions


def acestep_file(audio_folder, **metadata):
    samples = [
        {"id": "1", "audio_path": str(audio_folder / "alpha.wav"), "filename": "alpha.wav", "caption": "piano",
         "genre": "ballad", "lyrics": "[verse]\nhi", "bpm": 72, "keyscale": "Dm", "timesignature": "3",
         "duration": 1.0, "language": "en", "is_instrumental": False, "custom_tag": "mytag", "labeled": True,
         "prompt_override": None},
        {"id": "2", "audio_path": "/elsewhere/beta.wav", "filename": "beta.wav", "caption": "drone",
         "genre": "ambient", "lyrics": "[Instrumental]", "bpm": None, "keyscale": "", "timesignature": "4",
         "duration": 2.0, "language": "instrumental", "is_instrumental": True, "custom_tag": "own",
         "labeled": True, "prompt_override": "genre"},
        {"id": "3", "audio_path": str(audio_folder / "sub" / "gamma.wav"), "filename": "gamma.wav",
         "caption": "x", "bpm": "fast", "keyscale": "Q", "language": "en", "labeled": False},
    ]
    meta = {"name": "builder set", "custom_tag": "mytag", "tag_position": "append", "genre_ratio": 50,
            "all_instrumental": False, "created_at": "2026-01-01T00:00:00", "num_samples": 3, **metadata}
    path = audio_folder / "acestep.json"
    path.write_text(json.dumps({"metadata": meta, "samples": samples}), encoding="utf-8")
    return path


def test_an_acestep_builder_file_opens_with_its_options_and_labels(audio_folder, caplog):
    dataset = load_dataset(acestep_file(audio_folder))
    o = dataset.options
    assert (o.name, o.trigger_word, o.tag_position, o.genre_ratio) == ("builder set", "mytag", "append", 0.5)
    alpha, beta, gamma = dataset.samples
    assert alpha.audio == "alpha.wav" and beta.audio == "beta.wav"  # found by file name next to the JSON
    assert gamma.audio == "sub/gamma.wav" and dataset.audio_dir == "."
    assert (alpha.keyscale, alpha.bpm, alpha.timesignature, alpha.custom_tag) == ("D minor", 72, "3", "")
    assert beta.is_instrumental and beta.language == "unknown" and beta.lyrics == ""
    assert beta.custom_tag == "own" and beta.prompt_override == "genre"
    assert gamma.bpm is None and gamma.keyscale == "" and "'fast' is not a BPM" in caplog.text
    # half of the two samples that follow the ratio use their genre; only alpha has one
    assert training_captions(dataset) == ["ballad, mytag", "ambient, own", "x, mytag"]


def test_an_acestep_file_saves_as_ours_and_round_trips(audio_folder):
    dataset = load_dataset(acestep_file(audio_folder))
    saved = save_dataset(dataset, audio_folder / "dataset.json")
    assert load_dataset(audio_folder / "dataset.json") == saved
