"""Loudness normalisation (PP-2): none, peak, LUFS (ITU-R BS.1770 via pyloudnorm) or peak then LUFS.

LUFS is true integrated loudness with K-weighting and gating (pyloudnorm), never RMS. Every LUFS
gain is clip-protected: if the gain would push the sample peak above the peak ceiling, the gain is
lowered to meet the ceiling and the result says so. `normalize` returns what it applied, for the
manifest.
"""
from __future__ import annotations

import logging

import numpy as np
import pyloudnorm

from shared.errors import AudioError
from shared.preprocess_settings import NORMALIZE_MODES

log = logging.getLogger(__name__)

MIN_LUFS_SECONDS = 0.4  # one BS.1770 gating block


def peak_dbfs(audio: np.ndarray) -> float:
    """Sample peak in dBFS (-inf for silence)."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return 20.0 * np.log10(peak) if peak > 0 else float("-inf")


def integrated_lufs(audio: np.ndarray, rate: int) -> float:
    """Integrated loudness (LUFS) of [C, S] audio per ITU-R BS.1770-4."""
    meter = pyloudnorm.Meter(rate)
    return float(meter.integrated_loudness(np.ascontiguousarray(audio.T, dtype=np.float64)))


def normalize(
    audio: np.ndarray, rate: int, mode: str, *, target_lufs: float = -14.0, peak_db: float = -1.0,
    source: str = "audio",
) -> tuple[np.ndarray, dict]:
    """Normalise [C, S] float audio; returns (audio, what was applied). `source` names the file in errors."""
    if mode not in NORMALIZE_MODES:
        raise AudioError(f"{source}: unknown loudness mode {mode!r}; one of {', '.join(NORMALIZE_MODES)}")
    applied: dict = {"mode": mode, "peak_before_dbfs": _round(peak_dbfs(audio)), "gain_db": 0.0}
    if mode == "none":
        return audio, applied
    if mode in ("peak", "peak_lufs"):
        audio, gain = _peak(audio, peak_db)
        applied["peak_gain_db"] = _round(gain)
        applied["gain_db"] += gain
    if mode in ("lufs", "peak_lufs"):
        audio, lufs_info = _lufs(audio, rate, target_lufs, peak_db, source)
        applied.update(lufs_info)
        applied["gain_db"] += lufs_info.get("lufs_gain_db", 0.0)
    applied["gain_db"] = _round(applied["gain_db"])
    applied["peak_after_dbfs"] = _round(peak_dbfs(audio))
    return audio.astype(np.float32, copy=False), applied


def _peak(audio: np.ndarray, peak_db: float) -> tuple[np.ndarray, float]:
    current = peak_dbfs(audio)
    if not np.isfinite(current):
        return audio, 0.0
    gain = peak_db - current
    return audio * np.float32(10.0 ** (gain / 20.0)), gain


def _lufs(audio: np.ndarray, rate: int, target: float, ceiling_db: float, source: str) -> tuple[np.ndarray, dict]:
    if audio.shape[-1] < MIN_LUFS_SECONDS * rate:
        log.warning("%s: shorter than %.1f s, LUFS cannot be measured; left as is", source, MIN_LUFS_SECONDS)
        return audio, {"lufs_skipped": f"shorter than {MIN_LUFS_SECONDS} s"}
    before = integrated_lufs(audio, rate)
    if not np.isfinite(before):
        log.warning("%s: loudness below the BS.1770 gate, LUFS normalisation skipped", source)
        return audio, {"lufs_before": None, "lufs_skipped": "below the gate (near silence)"}
    gain = target - before
    headroom = ceiling_db - peak_dbfs(audio)
    clip_protected = gain > headroom
    if clip_protected:
        gain = headroom
    out = audio * np.float32(10.0 ** (gain / 20.0))
    after = integrated_lufs(out, rate)
    info = {
        "lufs_before": _round(before), "lufs_after": _round(after), "target_lufs": target,
        "lufs_gain_db": _round(gain), "clip_protected": bool(clip_protected),
    }
    if clip_protected:
        log.info("%s: LUFS gain limited by the %.1f dBFS peak ceiling (%.2f LUFS reached)", source, ceiling_db, after)
    return out, info


def _round(value: float) -> float | None:
    return round(float(value), 3) if np.isfinite(value) else None
