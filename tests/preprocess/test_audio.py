"""Decoding (48 kHz stereo, cut or keep, clear errors) and loudness normalisation (PP-2, PP-3)."""
from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from daemon.audio.decode import SAMPLE_RATE, load_audio
from daemon.audio.loudness import normalize, peak_dbfs
from shared.errors import AudioError
from tests.preprocess.helpers import write_bad_files, write_tone


def test_mono_44k_becomes_stereo_48k(tmp_path):
    decoded = load_audio(write_tone(tmp_path / "mono.wav", 1.0, rate=44_100, channels=1))
    assert decoded.audio.shape == (2, SAMPLE_RATE)
    assert decoded.audio.dtype == np.float32
    assert np.allclose(decoded.audio[0], decoded.audio[1])
    assert decoded.source_rate == 44_100 and decoded.source_channels == 1


def test_more_than_two_channels_are_cut_to_two(tmp_path):
    path = tmp_path / "four.wav"
    sf.write(str(path), np.random.default_rng(0).uniform(-0.5, 0.5, (4800, 4)).astype(np.float32), SAMPLE_RATE)
    assert load_audio(path).audio.shape == (2, 4800)


def test_max_duration_cuts_or_keeps(tmp_path):
    path = write_tone(tmp_path / "long.wav", 2.0)
    cut = load_audio(path, max_duration=1.5)
    assert cut.cut and cut.duration == pytest.approx(1.5) and cut.source_duration == pytest.approx(2.0)
    kept = load_audio(path, max_duration=None)
    assert not kept.cut and kept.duration == pytest.approx(2.0)


@pytest.mark.parametrize("name, reason", [
    ("truncated.wav", "truncated"), ("empty.wav", "empty"), ("text.wav", "not an audio file"),
    ("silent.wav", "silent"),
])
def test_bad_files_raise_an_error_naming_the_file(tmp_path, name, reason):
    write_bad_files(tmp_path)
    with pytest.raises(AudioError, match=reason) as caught:
        load_audio(tmp_path / name)
    assert name in str(caught.value)


def test_peak_normalisation_reaches_minus_one_dbfs(tmp_path):
    audio = load_audio(write_tone(tmp_path / "quiet.wav", 1.0, amplitude=0.05)).audio
    out, applied = normalize(audio, SAMPLE_RATE, "peak", peak_db=-1.0)
    assert abs(peak_dbfs(out) - (-1.0)) < 0.01
    assert applied["mode"] == "peak" and applied["gain_db"] > 20


@pytest.mark.parametrize("mode", ["lufs", "peak_lufs"])
def test_lufs_normalisation_measured_by_pyloudnorm(tmp_path, mode):
    audio = load_audio(write_tone(tmp_path / "quiet.wav", 2.0, amplitude=0.02, noise=0.01)).audio
    out, applied = normalize(audio, SAMPLE_RATE, mode, target_lufs=-14.0, peak_db=-1.0)
    measured = pyloudnorm.Meter(SAMPLE_RATE).integrated_loudness(out.T.astype(np.float64))
    assert abs(measured - (-14.0)) < 0.5
    assert applied["lufs_after"] == pytest.approx(measured, abs=0.01) and not applied["clip_protected"]


def test_lufs_gain_is_clip_protected(tmp_path):
    # a spiky signal: reaching -14 LUFS would push its peaks far above -1 dBFS
    audio = np.zeros((2, SAMPLE_RATE), dtype=np.float32)
    audio[:, ::4800] = 0.5
    audio += np.float32(1e-3) * np.random.default_rng(0).standard_normal(audio.shape).astype(np.float32)
    out, applied = normalize(audio, SAMPLE_RATE, "lufs", target_lufs=-14.0, peak_db=-1.0)
    assert applied["clip_protected"] and peak_dbfs(out) == pytest.approx(-1.0, abs=0.01)


def test_none_leaves_audio_untouched(tmp_path):
    audio = load_audio(write_tone(tmp_path / "a.wav", 0.5)).audio
    out, applied = normalize(audio, SAMPLE_RATE, "none")
    assert out is audio and applied["gain_db"] == 0.0


@pytest.mark.parametrize("frames, rate, level, reason", [
    (1, 48_000, 0.5, r"2.08e-05 s long, shorter than the minimum of 1 s \(Min duration\)"),  # one sample
    (1_000, 48_000, 0.5, r"0.0208 s long, shorter than the minimum of 1 s"),  # 21 ms
    (48, 1, 0.5, r"sample rate 1 Hz is not audio"),  # a 1 Hz file: 48 "seconds"
    (48_000, 48_000, 10 ** (589 / 20), r"peak \+589.0 dBFS is far beyond full scale"),  # +589 dBFS float wav
    (48_000, 48_000, float("inf"), "NaN or Inf"),
])
def test_degenerate_audio_is_refused_with_the_reason(tmp_path, frames, rate, level, reason):
    path = tmp_path / "odd.wav"
    sf.write(str(path), np.full((frames, 2), level, dtype=np.float32) * np.sign(np.arange(frames) % 2 - 0.5)[:, None],
             rate, subtype="FLOAT")
    with pytest.raises(AudioError, match=reason):
        load_audio(path, min_duration=1.0)


def test_the_minimum_is_a_setting_and_one_second_passes(tmp_path):
    from shared.errors import SettingsError
    from shared.preprocess_settings import PreprocessSettings

    assert PreprocessSettings().min_duration == 1.0
    assert load_audio(write_tone(tmp_path / "one.wav", 1.0), min_duration=1.0).duration == pytest.approx(1.0)
    with pytest.raises(SettingsError, match=r"^Min duration \(s\): 30.0 s is longer than Max duration \(s\)"):
        PreprocessSettings(min_duration=30.0, max_duration=10.0).replace()
