"""Signal analysis (daemon/audio/analysis.py) on the demo clips, whose tempo and key are known."""
from __future__ import annotations

import numpy as np
import pytest

from daemon.audio.analysis import analyse
from daemon.audio.decode import SAMPLE_RATE, load_audio
from daemon.dataset_demo import CLIPS


@pytest.fixture(scope="module")
def analysed(demo_root):
    return {clip.file: analyse(load_audio(demo_root / "dataset" / clip.file).audio, SAMPLE_RATE) for clip in CLIPS}


@pytest.mark.parametrize("clip", CLIPS, ids=[c.file for c in CLIPS])
def test_tempo_within_two_percent_and_key_right(analysed, clip):
    result = analysed[clip.file]
    assert result.bpm is not None and abs(result.bpm - clip.bpm) <= 0.02 * clip.bpm, (result.bpm, clip.bpm)
    assert result.keyscale == clip.key
    assert 0.0 < result.key_confidence <= 1.0
    assert result.duration == pytest.approx(clip.seconds, abs=0.01)
    assert -30 < result.loudness_lufs < -5 and result.peak_dbfs < 0


def test_no_pitch_and_no_beat_say_nothing():
    rate = 22_050
    silence = np.zeros(rate * 3, dtype=np.float32)
    result = analyse(silence, rate)
    assert result.bpm is None and result.keyscale == "" and result.key_confidence == 0.0
    assert result.loudness_lufs is None and result.peak_dbfs is None
