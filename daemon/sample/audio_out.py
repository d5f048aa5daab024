"""From clean latents to files: VAE decode (tiled), peak safety, audio file, spectrogram PNG.

- `decode_latents(vae, latents)`: [1, T, 64] -> float32 [2, T * 1920] at 48 kHz; long clips are
  decoded in tiles with overlap (the same windows as preprocessing's encoder), so memory stays flat.
  Peak-normalised only when a sample exceeds 1 (ACESTEP_INTERFACE.md section 6).
- `write_audio(path, audio, fmt)`: flac or wav, 16-bit, written to a temporary name and renamed.
- `write_spectrogram(path, audio)`: a mel spectrogram as a PNG (log magnitude, low notes at the
  bottom), small enough for a grid cell.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from daemon.audio.decode import SAMPLE_RATE
from daemon.preprocess.encode import HOP, Tiling, module_device, module_dtype

DECODE_TILING = Tiling.from_seconds(30.0, 2.0)
SPECTROGRAM_SIZE = (480, 160)  # width, height in pixels
# A dark-to-bright colour ramp (close to matplotlib's "magma") for the spectrogram.
_RAMP = np.array([[0, 0, 4], [59, 15, 112], [140, 41, 129], [222, 73, 104], [254, 159, 109], [252, 253, 191]],
                 dtype=np.float32)


def decode_latents(vae: torch.nn.Module, latents: torch.Tensor, tiling: Tiling = DECODE_TILING) -> np.ndarray:
    """Audio [2, S] float32 at 48 kHz from latents [1, T, 64]."""
    device, dtype = module_device(vae), module_dtype(vae)
    frames = latents.shape[1]
    pieces = []
    with torch.inference_mode():
        for w0, w1, c0, c1 in tiling.windows(frames):
            chunk = latents[:, w0:w1].transpose(1, 2).to(device, dtype)
            wave = vae.decode(chunk).sample[0].float().cpu()  # [2, (w1 - w0) * HOP]
            pieces.append(wave[:, (c0 - w0) * HOP:(c1 - w0) * HOP])
    audio = torch.cat(pieces, dim=-1).numpy()
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if not np.isfinite(peak):
        raise ValueError("the decoded audio has non-finite samples")
    return audio / peak if peak > 1.0 else audio


def write_audio(path: Path, audio: np.ndarray, fmt: str) -> Path:
    """`audio` [2, S] as a 48 kHz 16-bit flac or wav file at `path` (atomic)."""
    import soundfile

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    soundfile.write(str(tmp), np.ascontiguousarray(audio.T), SAMPLE_RATE, format=fmt.upper(), subtype="PCM_16")
    os.replace(tmp, path)
    return path


def write_spectrogram(path: Path, audio: np.ndarray, size: tuple[int, int] = SPECTROGRAM_SIZE) -> Path:
    """A mel spectrogram of the mono mix as a PNG at `path` (atomic)."""
    import librosa
    from PIL import Image

    mono = audio.mean(axis=0).astype(np.float32)
    mel = librosa.feature.melspectrogram(y=mono, sr=SAMPLE_RATE, n_fft=2048, hop_length=1024, n_mels=128,
                                         fmax=SAMPLE_RATE / 2)
    db = librosa.power_to_db(mel, ref=max(float(mel.max()), 1e-10), top_db=80.0)
    level = np.clip((db + 80.0) / 80.0, 0.0, 1.0)[::-1]  # low frequencies at the bottom
    positions = level * (len(_RAMP) - 1)
    low = np.floor(positions).astype(int).clip(0, len(_RAMP) - 2)
    frac = (positions - low)[..., None]
    rgb = (_RAMP[low] * (1 - frac) + _RAMP[low + 1] * frac).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB").resize(size, Image.Resampling.BILINEAR)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    image.save(tmp, format="PNG")
    os.replace(tmp, path)
    return path
