"""Read dataset files written by ACE-Step's own Dataset Builder (also used by Side-Step and
ace-lora-trainer): `{"metadata": {...}, "samples": [...]}`, genre ratio in percent, absolute
`audio_path`s, language "instrumental".

`load_dataset` calls `from_acestep_dict` when a file has that shape, so users open the datasets
they already have; saving writes this program's format next to it. Values that do not parse are
dropped with a warning in the log rather than refusing the whole file.
"""
from __future__ import annotations

import logging
import os
import posixpath
from pathlib import Path
from typing import Any

from shared.dataset import Dataset, DatasetOptions, Sample
from shared.errors import DatasetError, SettingsError
from shared.labels import FIELD_PARSERS, LabelError

log = logging.getLogger(__name__)

_PARSED = ("bpm", "keyscale", "timesignature", "language", "prompt_override")


def looks_like_acestep(data: Any) -> bool:
    """True for ACE-Step builder files: a metadata object and a samples list, no `format`."""
    return isinstance(data, dict) and "format" not in data and isinstance(data.get("metadata"), dict) \
        and isinstance(data.get("samples"), list)


def from_acestep_dict(data: dict, root: Path, source: str) -> Dataset:
    """A Dataset from an ACE-Step builder file that lives in `root`."""
    meta = data["metadata"]
    tag = str(meta.get("custom_tag") or "").strip()
    try:
        options = DatasetOptions.from_dict({
            "name": str(meta.get("name") or Path(source).stem),
            "trigger_word": tag,
            "tag_position": meta.get("tag_position") or "prepend",
            "genre_ratio": min(max(float(meta.get("genre_ratio") or 0) / 100.0, 0.0), 1.0),
        })
    except (SettingsError, TypeError, ValueError) as err:
        raise DatasetError(f"{source}: metadata: {err}") from None
    samples = [_sample(raw, root, tag, f"{source}: samples[{i}]") for i, raw in enumerate(data["samples"])]
    try:  # the scanned folder is where all the audio lives
        audio_dir = posixpath.commonpath([posixpath.dirname(s.audio) for s in samples]) if samples else "."
    except ValueError:
        audio_dir = "."
    log.info("%s: read %d samples from an ACE-Step dataset file", source, len(samples))
    return Dataset(root=root, options=options, samples=samples, audio_dir=audio_dir or ".")


def _sample(raw: Any, root: Path, dataset_tag: str, where: str) -> Sample:
    if not isinstance(raw, dict):
        raise DatasetError(f"{where}: expected an object")
    audio = _audio_path(raw, root, where)
    language = str(raw.get("language") or "unknown")
    instrumental = bool(raw.get("is_instrumental")) or language == "instrumental"
    lyrics = str(raw.get("lyrics") or "").strip()
    sample = Sample(
        audio=audio, duration=float(raw.get("duration") or 0.0), caption=str(raw.get("caption") or "").strip(),
        genre=str(raw.get("genre") or "").strip(), lyrics="" if lyrics.lower() == "[instrumental]" else lyrics,
        is_instrumental=instrumental, labeled=bool(raw.get("labeled")),
        custom_tag="" if raw.get("custom_tag") in (None, "", dataset_tag) else str(raw["custom_tag"]).strip(),
    )
    values = {**raw, "language": "unknown" if language == "instrumental" else language}
    for name in _PARSED:
        try:
            setattr(sample, name, FIELD_PARSERS[name](values.get(name)))
        except LabelError as err:
            log.warning("%s.%s: %s; left empty", where, name, err)
    return sample


def _audio_path(raw: dict, root: Path, where: str) -> str:
    """The audio path relative to `root`: as written, or the file name found in `root`."""
    written = str(raw.get("audio_path") or "")
    candidates = [Path(written)] if written else []
    if raw.get("filename"):
        candidates.append(root / str(raw["filename"]))
    for candidate in candidates:
        full = candidate if candidate.is_absolute() else root / candidate
        if full.exists():
            return Path(os.path.relpath(full, root)).as_posix()
    if not candidates:
        raise DatasetError(f"{where}: no audio_path or filename")
    log.warning("%s: audio %s not found; kept as written", where, written or raw.get("filename"))
    first = candidates[0]
    return Path(os.path.relpath(first, root)).as_posix() if first.is_absolute() else first.as_posix()
