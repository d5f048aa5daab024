"""Scanning folders of real audio files, and the sidecars next to them (DS-1, DS-2)."""
from __future__ import annotations

import json

import pytest

from shared.dataset_scan import rescan, scan_folder
from shared.errors import DatasetError
from tests.dataset.conftest import write_audio, writable_extensions


@pytest.mark.parametrize("ext", writable_extensions())
def test_every_format_soundfile_writes_is_scanned_with_its_header(tmp_path, ext):
    write_audio(tmp_path / f"clip.{ext}", seconds=2.0, rate=48_000, channels=2)
    result = scan_folder(tmp_path)
    assert result.problems == []
    [sample] = result.dataset.samples
    assert sample.audio == f"clip.{ext}"
    assert sample.sample_rate == 48_000 and sample.channels == 2
    assert sample.duration == pytest.approx(2.0, abs=0.1)  # lossy codecs pad a little


def test_wav_and_flac_are_always_available():
    assert {"wav", "flac"} <= set(writable_extensions())


def test_unreadable_files_are_listed_with_the_reason_not_skipped(tmp_path):
    write_audio(tmp_path / "good.wav")
    (tmp_path / "broken.wav").write_bytes(b"RIFF not really a wav")
    (tmp_path / "song.m4a").write_bytes(b"\x00\x00\x00\x18ftypM4A ")
    (tmp_path / "notes.txt").write_text("not audio")
    result = scan_folder(tmp_path)
    assert [s.audio for s in result.dataset.samples] == ["good.wav"]
    reasons = {p.path: p.reason for p in result.problems}
    assert set(reasons) == {"broken.wav", "song.m4a"}
    assert reasons["broken.wav"].startswith("not a valid .wav file")
    assert "ffmpeg" in reasons["song.m4a"] and "flac" in reasons["song.m4a"]


def test_hidden_files_and_folders_are_skipped(tmp_path):
    write_audio(tmp_path / "a.wav")
    write_audio(tmp_path / ".cache" / "b.wav")
    (tmp_path / "._a.wav").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    result = scan_folder(tmp_path)
    assert [s.audio for s in result.dataset.samples] == ["a.wav"] and result.problems == []


def test_sidecars_in_subfolders(audio_folder):
    deep = audio_folder / "sub" / "deeper"
    write_audio(deep / "delta.flac")
    (deep / "delta.json").write_text(json.dumps({
        "caption": "dark techno", "genre": "techno", "bpm": "128", "keyscale": "Am", "timesignature": "4/4",
        "language": "de", "is_instrumental": False, "lyrics": "[chorus]\nja", "custom_tag": "mytag",
    }), encoding="utf-8")
    write_audio(audio_folder / "sub" / "eps.wav")
    (audio_folder / "sub" / "eps.txt").write_text("plain lyrics file", encoding="utf-8")
    write_audio(audio_folder / "sub" / "zeta.wav")
    (audio_folder / "sub" / "zeta.lyrics.txt").write_text("[Instrumental]", encoding="utf-8")

    samples = {s.audio: s for s in scan_folder(audio_folder).dataset.samples}
    assert samples["alpha.wav"].caption == "warm piano ballad" and samples["alpha.wav"].labeled
    assert samples["beta.wav"].caption == "" and not samples["beta.wav"].labeled
    assert samples["beta.wav"].channels == 1 and samples["sub/gamma.wav"].sample_rate == 44_100
    assert samples["sub/gamma.wav"].lyrics == "[verse]\nhello there"
    delta = samples["sub/deeper/delta.flac"]
    assert (delta.caption, delta.genre, delta.bpm, delta.keyscale, delta.timesignature, delta.language) == (
        "dark techno", "techno", 128, "A minor", "4", "de")
    assert delta.lyrics == "[chorus]\nja" and delta.custom_tag == "mytag" and not delta.is_instrumental
    assert samples["sub/eps.wav"].lyrics == "plain lyrics file"
    assert samples["sub/zeta.wav"].is_instrumental and samples["sub/zeta.wav"].lyrics == ""


def test_text_sidecars_win_over_the_json(tmp_path):
    write_audio(tmp_path / "a.wav")
    (tmp_path / "a.json").write_text(json.dumps({"caption": "from json", "lyrics": "json lyrics"}))
    (tmp_path / "a.caption.txt").write_text("from txt")
    (tmp_path / "a.lyrics.txt").write_text("txt lyrics")
    (tmp_path / "a.txt").write_text("plain lyrics, less specific")
    [sample] = scan_folder(tmp_path).dataset.samples
    assert sample.caption == "from txt" and sample.lyrics == "txt lyrics"


def test_broken_sidecars_are_reported_and_the_rest_is_used(tmp_path):
    write_audio(tmp_path / "a.wav")
    (tmp_path / "a.json").write_text('{"caption": "ok", "bpm": "fast", "keyscale": "Q major"}')
    write_audio(tmp_path / "b.wav")
    (tmp_path / "b.json").write_text("{not json")
    result = scan_folder(tmp_path)
    a, b = result.dataset.samples
    assert a.caption == "ok" and a.bpm is None and b.caption == ""
    messages = [f"{p.path}: {p.reason}" for p in result.problems]
    assert any("a.wav" in m and "'bpm'" in m and "fast" in m for m in messages)
    assert any("a.wav" in m and "'keyscale'" in m for m in messages)
    assert any("b.wav" in m and "not valid JSON" in m for m in messages)


def test_scan_of_a_missing_folder_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="not a folder"):
        scan_folder(tmp_path / "nope")


def test_rescan_keeps_labels_adds_new_files_and_reports_missing(audio_folder):
    dataset = scan_folder(audio_folder).dataset
    dataset.samples[1].caption = "edited by hand"
    dataset.options = dataset.options.replace(trigger_word="tw")
    (audio_folder / "alpha.wav").unlink()
    write_audio(audio_folder / "new.wav")
    (audio_folder / "beta.caption.txt").write_text("sidecar caption loses to the edit")
    (audio_folder / "beta.json").write_text('{"genre": "new genre fills a gap"}')
    result = rescan(dataset)
    samples = {s.audio: s for s in result.dataset.samples}
    assert set(samples) == {"beta.wav", "new.wav", "sub/gamma.wav"}
    assert samples["beta.wav"].caption == "edited by hand"
    assert samples["beta.wav"].genre == "new genre fills a gap"
    assert samples["sub/gamma.wav"].lyrics == "[verse]\nhello there"
    assert result.dataset.options.trigger_word == "tw"
    assert [p.path for p in result.problems] == ["alpha.wav"]
