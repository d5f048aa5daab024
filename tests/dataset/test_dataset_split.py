"""The split_audio job: fixed segments, originals untouched, sidecars carried (DS-7)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import soundfile as sf

from daemon.dataset_jobs import run_split_audio
from shared.errors import SettingsError
from shared.split_settings import SplitAudioSettings
from tests.dataset.conftest import write_audio

RATE = 8_000  # a low rate keeps a 70 s file small and the test fast


class MiniContext:
    """What run_split_audio uses of a JobContext, recording progress and logs."""

    def __init__(self, run_dir: Path, stop_after: int | None = None) -> None:
        self.run_dir = run_dir
        self.progress_calls: list[tuple[int, int, str]] = []
        self.logs: list[str] = []
        self.stop_after = stop_after

    def progress(self, done: int, total: int, message: str = "", **extra) -> None:
        self.progress_calls.append((done, total, message))

    def log(self, message: str, level: str = "info") -> None:
        self.logs.append(message)

    @property
    def stop_requested(self) -> bool:
        return self.stop_after is not None and len(self.progress_calls) >= self.stop_after

    def write_json(self, name: str, data) -> Path:
        (self.run_dir / name).write_text(json.dumps(data))
        return self.run_dir / name


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def long_folder(tmp_path: Path) -> Path:
    source = tmp_path / "long"
    write_audio(source / "album" / "song.wav", seconds=70.0, rate=RATE, channels=2)
    (source / "album" / "song.caption.txt").write_text("epic song")
    (source / "album" / "song.json").write_text(json.dumps({"bpm": 100, "genre": "rock"}))
    (source / "album" / "song.lyrics.txt").write_text("la la")
    write_audio(source / "short.flac", seconds=3.0, rate=RATE, channels=1)
    (source / "short.txt").write_text("short lyrics")
    return source


def settings(source: Path, target: Path, **more) -> SplitAudioSettings:
    return SplitAudioSettings.from_dict({"input_dir": str(source), "output_dir": str(target), **more})


def test_a_70_s_file_in_30_s_segments_gives_30_30_10(long_folder, tmp_path):
    before = {p: digest(p) for p in long_folder.rglob("*") if p.is_file()}
    target = tmp_path / "out"
    ctx = MiniContext(tmp_path)
    result = run_split_audio(ctx, settings(long_folder, target, segment_seconds=30.0))

    parts = sorted((target / "album").glob("song_part*.flac"))
    assert [p.name for p in parts] == ["song_part01.flac", "song_part02.flac", "song_part03.flac"]
    assert [sf.info(str(p)).frames / RATE for p in parts] == [30.0, 30.0, 10.0]
    assert all(sf.info(str(p)).channels == 2 and sf.info(str(p)).samplerate == RATE for p in parts)
    assert result["segments"] == 3 and result["copied"] == 1 and result["failed"] == []
    # originals untouched, nothing added to the input folder
    assert {p: digest(p) for p in long_folder.rglob("*") if p.is_file()} == before
    # sidecars carried to every segment, and to the file copied whole
    for part in parts:
        stem = part.stem
        assert (target / "album" / f"{stem}.caption.txt").read_text() == "epic song"
        assert json.loads((target / "album" / f"{stem}.json").read_text()) == {"bpm": 100, "genre": "rock"}
        assert (target / "album" / f"{stem}.lyrics.txt").read_text() == "la la"
    assert digest(target / "short.flac") == before[long_folder / "short.flac"]
    assert (target / "short.txt").read_text() == "short lyrics"
    # progress reached the total, and the report is in the run folder
    done, total, _ = ctx.progress_calls[-1]
    assert done == total == 73
    assert json.loads((tmp_path / "split_report.json").read_text())["segments"] == 3


def test_60_s_segments_wav_output_and_a_short_tail_dropped(long_folder, tmp_path):
    target = tmp_path / "out"
    run_split_audio(MiniContext(tmp_path), settings(long_folder, target, segment_seconds=60.0,
                                                    output_format="wav", min_segment_seconds=15.0))
    parts = sorted((target / "album").glob("song_part*.wav"))
    assert [p.name for p in parts] == ["song_part01.wav"]
    assert sf.info(str(parts[0])).frames == 60 * RATE


def test_existing_segments_are_kept_unless_overwrite(long_folder, tmp_path):
    target = tmp_path / "out"
    run_split_audio(MiniContext(tmp_path), settings(long_folder, target))
    again = run_split_audio(MiniContext(tmp_path), settings(long_folder, target))
    assert again["segments"] == 0 and again["existing"] == 4


def test_stop_ends_between_segments_and_leaves_no_partial_file(long_folder, tmp_path):
    (long_folder / "short.flac").unlink()
    target = tmp_path / "out"
    result = run_split_audio(MiniContext(tmp_path, stop_after=1), settings(long_folder, target))
    assert sorted(p.name for p in target.rglob("*.flac")) == ["song_part01.flac"]
    assert result["stopped"] is True and result["segments"] == 1
    assert not list(target.rglob(".*"))


def test_an_unreadable_file_is_reported_and_the_rest_is_split(long_folder, tmp_path):
    (long_folder / "bad.wav").write_bytes(b"RIFF????WAVEfmt nothing")
    ctx = MiniContext(tmp_path)
    result = run_split_audio(ctx, settings(long_folder, tmp_path / "out"))
    assert result["segments"] == 3 and any("bad.wav" in m for m in ctx.logs)


def test_settings_refuse_missing_or_identical_folders(tmp_path):
    with pytest.raises(SettingsError, match="Input dir: a folder of audio is required"):
        SplitAudioSettings.from_dict({"output_dir": str(tmp_path)})
    with pytest.raises(SettingsError, match="must differ"):
        SplitAudioSettings.from_dict({"input_dir": str(tmp_path), "output_dir": str(tmp_path)})
    with pytest.raises(SettingsError, match="Segment seconds: 0.1 is below"):
        SplitAudioSettings.from_dict({"input_dir": "a", "output_dir": "b", "segment_seconds": 0.1})


def test_split_through_a_real_daemon(daemon, long_folder, tmp_path):
    target = tmp_path / "out"
    job_id = daemon.submit("split_audio", {"input_dir": str(long_folder), "output_dir": str(target),
                                           "segment_seconds": 30.0})
    job = daemon.wait(job_id, timeout=60)
    assert job["state"] == "done", job.get("error")
    assert job["result"]["segments"] == 3 and job["progress"]["done"] == job["progress"]["total"]
    assert len(list((target / "album").glob("song_part*.flac"))) == 3
