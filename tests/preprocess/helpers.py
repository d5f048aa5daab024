"""Audio and dataset builders for the preprocessing tests (short clips: the demo VAE is slow on CPU)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from shared.dataset import Dataset, Sample, save_dataset


def write_tone(path: Path, seconds: float = 1.0, *, rate: int = 48_000, channels: int = 2, amplitude: float = 0.2,
               noise: float = 0.0, freq: float = 440.0) -> Path:
    """A sine tone (plus optional noise) written as 16-bit wav."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    tone = amplitude * np.sin(2 * np.pi * freq * t)
    if noise:
        tone = tone + noise * np.random.default_rng(1).standard_normal(t.shape)
    sf.write(str(path), np.repeat(tone[:, None], channels, axis=1).astype(np.float32), rate, subtype="PCM_16")
    return path


def write_bad_files(folder: Path) -> list[str]:
    """truncated.wav (cut in half), empty.wav (0 bytes), text.wav (text), silent.wav (all zeros)."""
    folder.mkdir(parents=True, exist_ok=True)
    whole = write_tone(folder / "whole.tmpwav.wav", 1.0).read_bytes()
    (folder / "whole.tmpwav.wav").unlink()
    (folder / "truncated.wav").write_bytes(whole[: len(whole) // 2])
    (folder / "empty.wav").write_bytes(b"")
    (folder / "text.wav").write_text("this is not audio, just a text file named .wav\n")
    sf.write(str(folder / "silent.wav"), np.zeros((24_000, 2), dtype=np.float32), 48_000)
    return ["truncated.wav", "empty.wav", "text.wav", "silent.wav"]


def make_dataset(folder: Path, samples: list[Sample], **options) -> Path:
    """Save a dataset file in `folder` whose samples' audio paths are relative to it."""
    dataset = Dataset(root=folder, samples=samples)
    for key, value in options.items():
        setattr(dataset.options, key, value)
    path = folder / "dataset.json"
    save_dataset(dataset, path)
    return path
