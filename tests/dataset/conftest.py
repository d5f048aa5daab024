"""Fixtures for the dataset tests: real audio files written with soundfile into tmp_path."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

FORMAT_OF = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG", "mp3": "MP3", "opus": "OGG"}
SUBTYPE_OF = {"wav": "PCM_16", "flac": "PCM_16", "ogg": "VORBIS", "mp3": "MPEG_LAYER_III", "opus": "OPUS"}


def writable_extensions() -> list[str]:
    """The audio extensions this machine's libsndfile can write (and so read back)."""
    formats = sf.available_formats()
    out = []
    for ext, fmt in FORMAT_OF.items():
        if fmt in formats and SUBTYPE_OF[ext] in sf.available_subtypes(fmt):
            out.append(ext)
    return out


def write_audio(path: Path, seconds: float = 1.0, rate: int = 48_000, channels: int = 2) -> Path:
    """A quiet tone of `seconds` at `rate` with `channels`, in the format the extension names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = path.suffix.lstrip(".").lower()
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    data = np.repeat(tone[:, None], channels, axis=1)
    sf.write(str(path), data, rate, format=FORMAT_OF[ext], subtype=SUBTYPE_OF[ext])
    return path


@pytest.fixture
def audio_folder(tmp_path: Path) -> Path:
    """A folder with three wav files (one in a subfolder) and a few sidecars."""
    root = tmp_path / "songs"
    write_audio(root / "alpha.wav", 1.0)
    write_audio(root / "beta.wav", 2.0, channels=1)
    write_audio(root / "sub" / "gamma.wav", 1.5, rate=44_100)
    (root / "alpha.caption.txt").write_text("warm piano ballad\n", encoding="utf-8")
    (root / "sub" / "gamma.lyrics.txt").write_text("[verse]\nhello there\n", encoding="utf-8")
    return root
