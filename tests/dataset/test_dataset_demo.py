"""The demo dataset: deterministic synthetic clips, labelled through the CSV import and sidecars."""
from __future__ import annotations


import soundfile as sf

from daemon.dataset_demo import CLIPS, TRIGGER_WORD, write_demo_dataset
from shared.dataset import load_dataset
from shared.prompt import training_captions


def test_demo_dataset_is_complete_and_deterministic(tmp_path):
    path = write_demo_dataset(tmp_path / "a", seed=0)
    assert path == tmp_path / "a" / "dataset.json"
    dataset = load_dataset(path)
    assert len(dataset.samples) == len(CLIPS) == 8
    assert dataset.options.trigger_word == TRIGGER_WORD and dataset.options.tag_position == "prepend"
    for sample in dataset.samples:
        info = sf.info(str(dataset.audio_path(sample)))
        assert info.samplerate == 48_000 and info.channels == 2 and 3.0 <= info.duration <= 6.0
        assert sample.caption and sample.genre and sample.bpm and sample.keyscale and sample.timesignature
        assert sample.labeled
    instrumental = [s for s in dataset.samples if s.is_instrumental]
    assert len(instrumental) == 1 and instrumental[0].lyrics == ""
    assert all(s.lyrics for s in dataset.samples if not s.is_instrumental)
    assert (tmp_path / "a" / "captions.csv").is_file()
    assert all(c.startswith(f"{TRIGGER_WORD}, ") for c in training_captions(dataset))

    write_demo_dataset(tmp_path / "b", seed=0)
    for sample in dataset.samples:
        assert (tmp_path / "a" / sample.audio).read_bytes() == (tmp_path / "b" / sample.audio).read_bytes()
    assert (tmp_path / "a" / "dataset.json").read_bytes() == (tmp_path / "b" / "dataset.json").read_bytes()


def test_demo_dataset_is_skipped_when_written_with_the_same_seed(tmp_path):
    path = write_demo_dataset(tmp_path, seed=1)
    stamp = path.stat().st_mtime_ns
    assert write_demo_dataset(tmp_path, seed=1) == path and path.stat().st_mtime_ns == stamp
    write_demo_dataset(tmp_path, seed=2)
    assert load_dataset(path).options.genre_ratio_seed == 2
