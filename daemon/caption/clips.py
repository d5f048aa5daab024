"""One file made ready for captioning, on a CPU thread: decoded, analysed, cut and resampled.

    clip = prepare_clip(path, "vocal/a.wav", max_seconds=240)
    clip.audio       # 16 kHz mono float32, at most max_seconds (what every model and provider gets)
    clip.signal      # SignalAnalysis of up to ANALYSIS_SECONDS of the file
    clip.flac()      # the same audio as FLAC bytes, for cloud uploads (made once, on demand)

Decoding goes through `daemon.audio.decode.load_audio`, so a broken file fails here with the same
AudioError (naming the file) that preprocessing gives.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from daemon.audio.analysis import SignalAnalysis, analyse
from daemon.audio.decode import SAMPLE_RATE as DECODE_RATE
from daemon.audio.decode import load_audio

MODEL_RATE = 16_000
ANALYSIS_SECONDS = 600.0  # the signal analysis reads at most the first 10 minutes


@dataclass
class Clip:
    """A decoded file: what the models hear and what the signal says."""

    path: Path
    key: str  # the path users know it by (inside the folder or dataset)
    audio: np.ndarray  # 16 kHz mono float32
    duration: float  # seconds of the whole file
    signal: SignalAnalysis
    _flac: bytes | None = field(default=None, repr=False)

    @property
    def seconds(self) -> float:
        """Seconds of audio the models get."""
        return len(self.audio) / MODEL_RATE

    def flac(self) -> bytes:
        """The model audio as 16-bit FLAC (16 kHz mono: what speech-to-text services take, small to send)."""
        if self._flac is None:
            buffer = io.BytesIO()
            sf.write(buffer, self.audio, MODEL_RATE, format="FLAC", subtype="PCM_16")
            self._flac = buffer.getvalue()
        return self._flac


def prepare_clip(path: Path, key: str, max_seconds: float, analyse_signal: bool = True) -> Clip:
    """Decode `path`, analyse its signal and make the 16 kHz mono audio for the models."""
    decoded = load_audio(path, max_duration=max(ANALYSIS_SECONDS, max_seconds))
    if analyse_signal:
        signal = analyse(decoded.audio, DECODE_RATE)
        signal.duration = round(decoded.source_duration, 3)
    else:
        signal = SignalAnalysis(round(decoded.source_duration, 3), None, "", 0.0, None, None)
    mono = decoded.audio[:, :int(max_seconds * DECODE_RATE)].mean(axis=0)
    audio = soxr.resample(mono, DECODE_RATE, MODEL_RATE, quality="HQ").astype(np.float32)
    return Clip(Path(path), key, audio, decoded.source_duration, signal)
