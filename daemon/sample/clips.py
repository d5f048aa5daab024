"""Clip files in a run folder: written by the sampler, listed for the Samples page.

    <run>/samples/<group>/p<prompt>_s<strength>.flac   the audio (48 kHz stereo)
                          p<prompt>_s<strength>.png    its mel spectrogram
                          p<prompt>_s<strength>.json   what it is: prompt, strength, seed, epoch...

`group` is `epoch_N` (during training), `step_N` (sample now) or `generated/<job id>`. The JSON
sidecar is written last, so a listed clip always has its audio and picture.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from daemon.sample.audio_out import write_audio, write_spectrogram
from shared.atomic import write_json_atomic

log = logging.getLogger(__name__)

SAMPLES_DIR = "samples"


def clip_stem(prompt_index: int, strength: float | None) -> str:
    """p0_s1, p0_s0.5, p1_s1.5; p0_base without an adapter."""
    return f"p{prompt_index}_" + ("base" if strength is None else f"s{strength:g}")


def write_clip(folder: Path, stem: str, audio: np.ndarray, fmt: str, info: dict) -> dict:
    """Audio, spectrogram and sidecar of one clip; returns the sidecar's content."""
    folder.mkdir(parents=True, exist_ok=True)
    audio_path = write_audio(folder / f"{stem}.{fmt}", audio, fmt)
    picture = write_spectrogram(folder / f"{stem}.png", audio)
    entry = {**info, "audio": audio_path.name, "spectrogram": picture.name,
             "duration_s": round(audio.shape[-1] / 48_000, 3), "created": time.time()}
    write_json_atomic(folder / f"{stem}.json", entry)
    return entry


def list_clips(run_dir: Path) -> list[dict]:
    """Every clip of a run, oldest first, with `audio` and `spectrogram` relative to the run folder."""
    root = Path(run_dir) / SAMPLES_DIR
    clips = []
    for sidecar in sorted(root.rglob("*.json")) if root.is_dir() else []:
        try:
            entry = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            log.warning("skipping the unreadable sample sidecar %s: %s", sidecar, err)
            continue
        if not isinstance(entry, dict) or "audio" not in entry:
            continue
        folder = sidecar.parent.relative_to(run_dir)
        entry["audio"] = str(folder / entry["audio"])
        entry["spectrogram"] = str(folder / entry["spectrogram"]) if entry.get("spectrogram") else None
        entry.setdefault("group", str(sidecar.parent.relative_to(root)))
        clips.append(entry)
    clips.sort(key=lambda c: c.get("created", 0))
    return clips
