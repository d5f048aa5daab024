"""Scan a folder for audio (headers only) and read the sidecar files next to each file.

    result = scan_folder("songs/")
    result.dataset          # a Dataset rooted at the folder, one Sample per readable file
    result.problems         # [ScanProblem(path, reason)]: unreadable audio, broken sidecars

Sidecars, in any subfolder, next to `<stem>.<ext>`:
`<stem>.json` (caption, lyrics, bpm, keyscale, timesignature, genre, language, is_instrumental,
custom_tag, prompt_override), `<stem>.caption.txt` (caption), `<stem>.lyrics.txt` or `<stem>.txt`
(lyrics). The text files win over the same field in the JSON. Hidden files and folders (".x",
macOS "._x") are skipped. Only regular files are opened, each header with a timeout
(`audio_probe`); what was skipped is listed with the reason.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from shared.audio_probe import file_problem, probe_audio
from shared.dataset import Dataset, DatasetOptions, Sample, load_dataset, rebase
from shared.errors import DatasetError
from shared.labels import FIELD_PARSERS, LabelError

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac")
SIDECAR_SUFFIXES = (".json", ".caption.txt", ".lyrics.txt", ".txt")
_NO_DECODER = {".m4a": "AAC/M4A", ".aac": "AAC"}


@dataclass(frozen=True)
class ScanProblem:
    """A file the scan could not use, and why."""

    path: str
    reason: str


@dataclass
class ScanResult:
    """The scanned dataset and every file that could not be (fully) used."""

    dataset: Dataset
    problems: list[ScanProblem] = field(default_factory=list)


def scan_folder(folder: str | os.PathLike, *, progress: Callable[[int, int], None] | None = None) -> ScanResult:
    """Scan `folder` recursively; every readable audio file becomes a Sample with its sidecars."""
    root = Path(os.path.normpath(Path(folder).absolute()))
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    problems: list[ScanProblem] = []
    found = list(iter_audio_files(root, problems=problems))
    dataset = Dataset(root=root, options=DatasetOptions(name=root.name or "dataset"))
    for index, (path, siblings) in enumerate(found):
        rel = path.relative_to(root).as_posix()
        sample, issue = read_audio_header(path, rel)
        if sample is None:
            problems.append(ScanProblem(rel, issue))
        else:
            problems += [ScanProblem(rel, message) for message in apply_sidecars(sample, path, siblings)]
            dataset.samples.append(sample)
        if progress is not None:
            progress(index + 1, len(found))
    log.info("scanned %s: %d samples, %d problems", root, len(dataset.samples), len(problems))
    return ScanResult(dataset, problems)


def rescan(dataset: Dataset, *, progress: Callable[[int, int], None] | None = None) -> ScanResult:
    """Scan the dataset's folder again, keeping its labels and options (see `scan_keeping_labels`);
    the result stays rooted where the dataset is."""
    result = scan_keeping_labels(dataset.audio_folder(), [dataset], progress=progress)
    return ScanResult(rebase(result.dataset, dataset.root), result.problems)


def scan_keeping_labels(folder: str | os.PathLike, sources: Sequence[Dataset], *,
                        progress: Callable[[int, int], None] | None = None) -> ScanResult:
    """Scan `folder`; a file a source dataset already lists keeps its labels (the first source
    listing it wins), with empty ones filled from sidecars added since and the header refreshed.
    Options come from the first source that shares a file. Files a source lists in this folder
    that are gone are dropped and reported."""
    fresh = scan_folder(folder, progress=progress)
    scanned = fresh.dataset
    known: dict[str, Sample] = {}
    for source in sources:
        for sample in source.samples:
            known.setdefault(_absolute(source, sample), sample)
    merged: list[Sample] = []
    used: set[str] = set()
    for sample in scanned.samples:
        where = _absolute(scanned, sample)
        old = known.get(where)
        merged.append(sample if old is None else _keep_labels(old, sample))
        used.add(where)
    owner = next((source for source in sources if source.audio_folder() == scanned.root
                  or any(_absolute(source, s) in used for s in source.samples)), None)
    problems = list(fresh.problems)
    unreadable = {p.path for p in fresh.problems}
    for where in known:
        rel = os.path.relpath(where, scanned.root)
        if where not in used and not rel.startswith("..") and Path(rel).as_posix() not in unreadable:
            problems.append(ScanProblem(Path(rel).as_posix(), "no longer in the folder; removed from the dataset"))
    result = Dataset(root=scanned.root, options=owner.options if owner else scanned.options, samples=merged,
                     audio_dir=scanned.audio_dir)
    return ScanResult(result, problems)


def label_sources(folder: str | os.PathLike, open_dataset: Dataset | None,
                  name: str = "dataset.json") -> tuple[list[Dataset], list[ScanProblem]]:
    """The datasets whose labels a scan of `folder` keeps: the open one (unsaved edits and all),
    then the dataset file in the folder. One that cannot be read is reported, not used."""
    sources = [open_dataset] if open_dataset is not None else []
    problems: list[ScanProblem] = []
    in_folder = Path(folder).absolute() / name
    if in_folder.is_file():
        try:
            sources.append(load_dataset(in_folder))
        except DatasetError as err:
            problems.append(ScanProblem(name, f"its labels could not be kept: {err}"))
    return sources, problems


def _absolute(dataset: Dataset, sample: Sample) -> str:
    return os.path.normpath(os.path.join(dataset.root, sample.audio))


_FILLABLE = ("caption", "genre", "lyrics", "bpm", "keyscale", "timesignature", "custom_tag")


def _keep_labels(old: Sample, fresh: Sample) -> Sample:
    """The old sample's labels over the fresh scan's; the fresh header, and sidecar values where the
    old label is empty."""
    filled = {name: getattr(fresh, name) for name in _FILLABLE if not getattr(old, name)}
    if old.language == "unknown":
        filled["language"] = fresh.language
    return replace(old, **filled, audio=fresh.audio, duration=fresh.duration, sample_rate=fresh.sample_rate,
                   channels=fresh.channels, labeled=old.labeled or fresh.labeled)


def iter_audio_files(root: Path, exclude: Path | None = None,
                     problems: list[ScanProblem] | None = None) -> Iterator[tuple[Path, frozenset[str]]]:
    """(path, names in its folder) for each audio file below `root`, sorted, hidden ones skipped.
    Folders that cannot be read, and links to folders (not followed), go to `problems`."""
    def unreadable(err: OSError) -> None:
        if problems is not None:
            where = _relative_folder(Path(err.filename or root), root)
            problems.append(ScanProblem(where, f"folder cannot be read ({err.strerror or err}); "
                                               "the files in it were skipped"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable):
        current = Path(dirpath)
        kept = []
        for name in dirnames:
            if name.startswith(".") or (exclude is not None and current / name == exclude):
                continue
            if os.path.islink(current / name):
                if problems is not None:
                    problems.append(ScanProblem(_relative_folder(current / name, root),
                                                "a link to a folder, not followed; copy the folder in instead"))
                continue
            kept.append(name)
        dirnames[:] = sorted(kept, key=str.lower)
        siblings = frozenset(filenames)
        for name in sorted(filenames, key=str.lower):
            if name.startswith(".") or not name.lower().endswith(AUDIO_EXTENSIONS):
                continue
            yield current / name, siblings


def _relative_folder(path: Path, root: Path) -> str:
    rel = os.path.relpath(path, root)
    return "./" if rel == "." else Path(rel).as_posix() + "/"


def read_audio_header(path: Path, rel: str) -> tuple[Sample | None, str]:
    """A Sample with duration, rate and channels from the header, or (None, why not). Only regular
    files are opened, and no probe waits longer than PROBE_TIMEOUT_S (see `audio_probe`)."""
    info, problem = probe_audio(path)
    if info is None:
        codec = _NO_DECODER.get(path.suffix.lower())
        if codec and problem.startswith("not a valid"):
            return None, f"{codec} cannot be decoded without ffmpeg; convert it to flac or wav"
        return None, problem
    if info.samplerate <= 0 or info.frames <= 0:
        return None, "the file holds no audio frames"
    return Sample(audio=rel, duration=info.frames / info.samplerate, sample_rate=info.samplerate,
                  channels=info.channels), ""


def sidecar_names(audio_name: str) -> dict[str, str]:
    """Sidecar file names for an audio file name: kind -> name."""
    stem = audio_name.rsplit(".", 1)[0]
    return {"json": f"{stem}.json", "caption": f"{stem}.caption.txt",
            "lyrics": f"{stem}.lyrics.txt", "lyrics_plain": f"{stem}.txt"}


def sidecar_paths(audio: Path) -> list[Path]:
    """The sidecar files that exist next to an audio file."""
    return [audio.with_name(name) for name in sidecar_names(audio.name).values()
            if audio.with_name(name).is_file()]


def apply_sidecars(sample: Sample, audio: Path, siblings: frozenset[str] | None = None) -> list[str]:
    """Fill a sample from its sidecars; returns the problems found (the rest is applied)."""
    names = sidecar_names(audio.name)
    present = siblings if siblings is not None else frozenset(os.listdir(audio.parent))
    problems: list[str] = []
    if names["json"] in present:
        problems += _apply_json(sample, audio.with_name(names["json"]))
    if names["caption"] in present:
        text = _read_text(audio.with_name(names["caption"]), problems)
        if text is not None:
            sample.caption = text.strip()
    for kind in ("lyrics", "lyrics_plain"):
        if names[kind] in present:
            text = _read_text(audio.with_name(names[kind]), problems)
            if text is not None:
                set_lyrics(sample, text)
            break
    if sample.caption or sample.genre:
        sample.labeled = True
    return problems


def set_lyrics(sample: Sample, text: str) -> None:
    """Lyrics from text; "[Instrumental]" alone marks the sample instrumental."""
    text = text.strip()
    if text.lower() in ("[instrumental]", "instrumental"):
        sample.lyrics, sample.is_instrumental = "", True
    else:
        sample.lyrics = text


def _read_text(path: Path, problems: list[str]) -> str | None:
    problem = file_problem(path)  # a named pipe would block the scan for ever
    if problem:
        problems.append(f"{path.name}: {problem}; sidecar ignored")
        return None
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        return path.read_text(encoding="cp1252", errors="replace")
    except OSError as err:
        problems.append(f"{path.name}: cannot read ({err})")
        return None


# Sidecar JSON key -> Sample attribute; other keys are ignored (captioners add their own).
_JSON_KEYS = {name: name for name in FIELD_PARSERS if name != "labeled"} | {
    "key": "keyscale", "time_signature": "timesignature", "instrumental": "is_instrumental"}


def _apply_json(sample: Sample, path: Path) -> list[str]:
    problems: list[str] = []
    text = _read_text(path, problems)
    if text is None:
        return problems
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        return [f"{path.name}: not valid JSON (line {err.lineno}: {err.msg}); sidecar ignored"]
    if not isinstance(data, dict):
        return [f"{path.name}: expected a JSON object; sidecar ignored"]
    for key, value in data.items():
        attribute = _JSON_KEYS.get(key)
        if attribute is None or value is None:
            continue
        if attribute == "lyrics":
            set_lyrics(sample, str(value))
            continue
        try:
            setattr(sample, attribute, FIELD_PARSERS[attribute](value))
        except LabelError as err:
            problems.append(f"{path.name}: field {key!r}: {err}")
    return problems
