"""Decode an audio file into what the VAE wants: float32 stereo [2, S] at 48 kHz, cut to a maximum.

Decoding uses soundfile (wav, flac, ogg, mp3 with libsndfile >= 1.1), resampling soxr. Broken
inputs raise `AudioError` naming the file and the reason: empty, not audio, truncated, silent,
shorter than the minimum, at a sample rate or a level no music has (a broken header or float file),
or not a regular file (a named pipe would block).
Longer audio is cut before resampling, so a one-hour file costs no more than its first minutes.
"""
from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import soundfile as sf
import soxr

from shared.audio_probe import file_problem
from shared.errors import AudioError
from shared.wording import readable

log = logging.getLogger(__name__)

SAMPLE_RATE = 48_000
SILENCE_PEAK = 1e-5  # -100 dBFS: anything quieter is treated as digital silence
MAX_PEAK = 10 ** (24 / 20)  # +24 dBFS: float files may run hot, but far beyond this is not audio
MIN_SAMPLE_RATE = 8_000  # below telephone quality the header is wrong, or it is not music


@dataclass
class DecodedAudio:
    """Audio ready for the VAE plus what decoding did to it (for the manifest and the prompt)."""

    audio: np.ndarray  # float32 [2, S] at SAMPLE_RATE
    source_rate: int
    source_channels: int
    source_duration: float  # seconds in the file
    cut: bool  # True when the file was longer than the maximum and was cut

    @property
    def duration(self) -> float:
        """Seconds of audio actually kept (what the prompt's duration must say)."""
        return self.audio.shape[1] / SAMPLE_RATE


def load_audio(path: str | os.PathLike, max_duration: float | None = None,
               min_duration: float = 0.0) -> DecodedAudio:
    """Decode, check, cut to `max_duration` seconds (None keeps all), resample to 48 kHz, make stereo.
    Audio shorter than `min_duration` seconds, or at an absurd rate or level, is refused."""
    path = Path(path)
    name = readable(str(path))  # a file name that is not UTF-8 still prints
    with _open(path, name) as handle:
        info = _open_info(handle, name)
        _check_shape(name, info, min_duration)
        _check_not_truncated(path, name, info)
        keep_frames = info.frames
        if max_duration is not None and max_duration > 0:
            keep_frames = min(info.frames, int(round(max_duration * info.samplerate)))
        try:
            handle.seek(0)
            data, rate = sf.read(handle, frames=keep_frames, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, ValueError) as err:
            raise AudioError(f"{name}: cannot be decoded ({err}); the file is probably corrupt") from None
    if keep_frames - data.shape[0] > max(0.05 * rate, 0.01 * keep_frames):  # mp3 frame counts are estimates
        raise AudioError(
            f"{name}: truncated, the header announces {info.frames} frames but only {data.shape[0]} decode"
        )
    if data.shape[0] == 0:
        raise AudioError(f"{name}: holds no audio (zero samples)")
    audio = _to_stereo(data.T)
    _check_signal(name, audio)
    if rate != SAMPLE_RATE:
        audio = soxr.resample(audio.T, rate, SAMPLE_RATE, quality="HQ").T
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    return DecodedAudio(
        audio=audio, source_rate=int(rate), source_channels=int(info.channels),
        source_duration=info.frames / info.samplerate, cut=keep_frames < info.frames,
    )


def _open(path: Path, name: str) -> BinaryIO:
    """The file opened for reading: regular files only (a named pipe would block the job)."""
    problem = file_problem(path)
    if problem == "not found":
        raise AudioError(f"{name}: audio file not found")
    if problem:
        raise AudioError(f"{name}: {problem}")
    try:
        return open(path, "rb")  # noqa: SIM115 (the caller's `with` closes it)
    except OSError as err:
        raise AudioError(f"{name}: cannot be read ({err.strerror or err})") from None


def _open_info(handle: BinaryIO, name: str) -> Any:
    if os.fstat(handle.fileno()).st_size == 0:
        raise AudioError(f"{name}: the file is empty (0 bytes)")
    try:
        info = sf.info(handle)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioError(f"{name}: not an audio file soundfile can read ({err})") from None
    if info.frames <= 0:
        raise AudioError(f"{name}: holds no audio (header only, zero frames)")
    return info


def _check_shape(name: str, info: Any, min_duration: float) -> None:
    """Refuse headers that cannot be music: an absurd sample rate, or a clip shorter than the minimum."""
    if info.samplerate < MIN_SAMPLE_RATE:
        raise AudioError(f"{name}: sample rate {info.samplerate} Hz is not audio (at least {MIN_SAMPLE_RATE} Hz "
                         "expected); the header is wrong or the file is not music")
    seconds = info.frames / info.samplerate
    if seconds < min_duration:
        raise AudioError(f"{name}: {seconds:.3g} s long, shorter than the minimum of {min_duration:g} s "
                         "(Min duration); too short to learn from")


def _check_not_truncated(path: Path, name: str, info: Any) -> None:
    """libsndfile reads a cut-off WAV silently; compare the data chunk's declared size with the file."""
    if info.format not in ("WAV", "WAVEX"):
        return
    declared, available = _wav_data_sizes(path)
    if declared is not None and declared > available:
        raise AudioError(
            f"{name}: truncated WAV, the header declares {declared} bytes of audio but the file holds "
            f"{available}; re-export or re-download it"
        )


def _wav_data_sizes(path: Path) -> tuple[int | None, int]:
    """(declared size of the `data` chunk, bytes present after its header) for a RIFF WAV."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None, size
        offset = 12
        while offset + 8 <= size:
            fh.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", fh.read(8))
            if chunk_id == b"data":
                return chunk_size, size - offset - 8
            offset += 8 + chunk_size + (chunk_size & 1)
    return None, size


def _to_stereo(audio: np.ndarray) -> np.ndarray:
    """[C, S] to [2, S]: mono duplicated, more than two channels cut to the first two."""
    if audio.shape[0] == 1:
        return np.concatenate([audio, audio], axis=0)
    return audio[:2]


def _check_signal(name: str, audio: np.ndarray) -> None:
    if not np.isfinite(audio).all():
        raise AudioError(f"{name}: holds NaN or Inf samples")
    peak = float(np.max(np.abs(audio)))
    if peak > MAX_PEAK:
        raise AudioError(f"{name}: peak {_dbfs(peak):+.1f} dBFS is far beyond full scale (at most "
                         f"{_dbfs(MAX_PEAK):+.0f} dBFS accepted): not audio levels, a broken float file?")
    if peak < SILENCE_PEAK:
        raise AudioError(f"{name}: silent (peak {_dbfs(peak):.1f} dBFS); nothing to learn from")


def _dbfs(value: float) -> float:
    return 20.0 * np.log10(max(value, 1e-12))
