"""The dataset: audio samples with their labels, and the dataset-wide prompt options.

A dataset is saved as one versioned JSON file. Audio paths are stored relative to that file's
folder (`Dataset.root`), with forward slashes, so a dataset folder can be moved or shared:

    ds = load_dataset("songs/dataset.json")
    for sample in ds.samples:
        path = ds.audio_path(sample)           # absolute Path of the audio file

`save_dataset` writes atomically (a half-written file never replaces a good one), rebases the
paths when the dataset is saved somewhere else, refuses to drop labels the file on disk has unless
forced (`dataset_guard`) and keeps the file it replaces as `<name>.bak`. Neighbours: `dataset_scan` (folder to
dataset), `dataset_csv` (CSV import/export), `prompt` (the prompt a sample is trained with),
`labels` (parsers and vocabularies).
"""
from __future__ import annotations

import json
import logging
import os
import posixpath
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from shared.atomic import write_text_atomic
from shared.dataset_guard import LabelLossError, label_losses
from shared.errors import DatasetError, SettingsError
from shared.labels import KEYSCALES, LANGUAGES, PROMPT_OVERRIDES, TIME_SIGNATURES
from shared.settings import SettingsGroup, setting

log = logging.getLogger(__name__)

FORMAT = "acestep-studio-dataset"
VERSION = 1
TAG_POSITIONS = ("prepend", "append", "replace")


@dataclass
class DatasetOptions(SettingsGroup):
    """Dataset-wide options: name, trigger word and how prompts are built."""

    group_name = "dataset"

    name: str = setting("dataset", "Name of the dataset (shown in runs and the adapter's metadata).",
                        section="Dataset")
    trigger_word: str = setting("", "Activation tag added to every training prompt; empty for none.",
                                section="Prompt")
    tag_position: str = setting("prepend", "Where the trigger word goes: prepend 'tag, caption', append "
                                "'caption, tag', replace 'tag' (the caption is dropped).",
                                section="Prompt", choices=TAG_POSITIONS)
    genre_ratio: float = setting(0.0, "Share of samples (0..1) trained with their genre instead of the caption.",
                                 section="Prompt", minimum=0.0, maximum=1.0)
    genre_ratio_seed: int = setting(0, "Seed that picks which samples use the genre (same seed, same picks).",
                                    section="Prompt", importance="advanced")
    language_override: str | None = setting(None, "Language used for every sample with vocals; "
                                            "none keeps each sample's own.", section="Prompt",
                                            choices=LANGUAGES)
    audio_root: str | None = setting(None, "An absolute folder outside the dataset file's own folder that "
                                     "its audio may also come from (a shared sample library). None: audio "
                                     "outside the dataset's folder is refused, never opened.",
                                     section="Dataset", importance="advanced", label="Allowed audio root")

    def validate(self) -> None:
        if self.audio_root is not None and not os.path.isabs(self.audio_root):
            raise self.field_error("audio_root", f"{self.audio_root!r} is not an absolute folder path")


@dataclass
class Sample:
    """One audio file and its labels. `audio` is relative to the dataset file's folder."""

    audio: str
    duration: float = 0.0  # seconds, from the file's header
    sample_rate: int = 0
    channels: int = 0
    caption: str = ""
    genre: str = ""
    lyrics: str = ""
    bpm: int | None = None
    keyscale: str = ""
    timesignature: str = ""
    language: str = "unknown"
    is_instrumental: bool = False
    prompt_override: str | None = None
    custom_tag: str = ""
    labeled: bool = False

    @property
    def filename(self) -> str:
        return posixpath.basename(self.audio)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


SAMPLE_FIELDS = tuple(f.name for f in fields(Sample))
# name -> (accepted JSON types, allows None); bool is refused where a number is expected.
_SAMPLE_TYPES: dict[str, tuple[tuple[type, ...], bool]] = {
    "audio": ((str,), False), "duration": ((int, float), False), "sample_rate": ((int,), False),
    "channels": ((int,), False), "caption": ((str,), False), "genre": ((str,), False),
    "lyrics": ((str,), False), "bpm": ((int,), True), "keyscale": ((str,), False),
    "timesignature": ((str,), False), "language": ((str,), False), "is_instrumental": ((bool,), False),
    "prompt_override": ((str,), True), "custom_tag": ((str,), False), "labeled": ((bool,), False),
}
_SAMPLE_CHOICES: dict[str, tuple[str, ...]] = {
    "keyscale": ("", *KEYSCALES), "timesignature": ("", *TIME_SIGNATURES), "language": LANGUAGES,
    "prompt_override": PROMPT_OVERRIDES,
}


@dataclass
class Dataset:
    """Samples plus options. `root` is the folder relative audio paths resolve against."""

    root: Path
    options: DatasetOptions = field(default_factory=DatasetOptions)
    samples: list[Sample] = field(default_factory=list)
    audio_dir: str = "."  # the scanned folder, relative to root: where CSV paths resolve

    def audio_path(self, sample: Sample) -> Path:
        """The absolute path of a sample's audio file."""
        return self.root / sample.audio

    def audio_folder(self) -> Path:
        """The absolute path of the scanned folder (where CSV paths and the split tool start)."""
        return Path(os.path.normpath(self.root / self.audio_dir))

    def key(self, sample: Sample) -> str:
        """The sample's path relative to the scanned folder: stable when the dataset file moves."""
        if self.audio_dir in (".", ""):
            return sample.audio
        return posixpath.relpath(sample.audio, self.audio_dir)

    def find(self, audio: str) -> Sample | None:
        """The sample whose `audio` path (relative to root) is `audio`, or None."""
        for sample in self.samples:
            if sample.audio == audio:
                return sample
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            **self.options.to_dict(),
            "audio_dir": self.audio_dir,
            "samples": [s.to_dict() for s in self.samples],
        }


def sample_from_dict(data: Any, where: str) -> Sample:
    """A Sample from its JSON object; DatasetError names the sample and field that is wrong."""
    if not isinstance(data, dict):
        raise DatasetError(f"{where}: expected an object, got {type(data).__name__}")
    unknown = set(data) - set(SAMPLE_FIELDS)
    if unknown:
        raise DatasetError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    if "audio" not in data:
        raise DatasetError(f"{where}: the field 'audio' (path of the audio file) is missing")
    for name, value in data.items():
        types, nullable = _SAMPLE_TYPES[name]
        if value is None and nullable:
            continue
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            raise DatasetError(f"{where}.{name}: expected {'/'.join(t.__name__ for t in types)}, got {value!r}")
        choices = _SAMPLE_CHOICES.get(name)
        if choices is not None and value not in choices:
            allowed = ", ".join(c or "''" for c in choices)
            raise DatasetError(f"{where}.{name}: {value!r} is not one of {allowed}")
    sample = Sample(**data)
    sample.duration = float(sample.duration)
    return sample


def dataset_from_dict(data: Any, root: Path, source: str = "dataset") -> Dataset:
    """A Dataset from its JSON object (any version this code knows); errors name `source`."""
    if not isinstance(data, dict):
        raise DatasetError(f"{source}: expected a JSON object, got {type(data).__name__}")
    if data.get("format") != FORMAT:
        raise DatasetError(f"{source}: not an ACE-Step Studio dataset file (format is {data.get('format')!r})")
    version = data.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise DatasetError(f"{source}: dataset version {version!r} is newer than this program reads "
                           f"({VERSION}); update ACE-Step Studio")
    option_keys = set(DatasetOptions.names())
    try:
        options = DatasetOptions.from_dict({k: v for k, v in data.items() if k in option_keys})
    except SettingsError as err:
        raise DatasetError(f"{source}: {err}") from None
    samples = data.get("samples", [])
    if not isinstance(samples, list):
        raise DatasetError(f"{source}.samples: expected a list")
    audio_dir = data.get("audio_dir", ".")
    if not isinstance(audio_dir, str):
        raise DatasetError(f"{source}.audio_dir: expected a path string, got {audio_dir!r}")
    parsed = [sample_from_dict(s, f"{source}: samples[{i}]") for i, s in enumerate(samples)]
    return Dataset(root=Path(root), options=options, samples=parsed, audio_dir=audio_dir)


def load_dataset(path: str | os.PathLike) -> Dataset:
    """Load a dataset JSON file (ours, or one from ACE-Step's builder); paths resolve against its
    folder. DatasetError names the file and the field."""
    path = Path(path).absolute()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: dataset file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path}: cannot read the dataset file ({err})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DatasetError(f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    from shared.dataset_acestep import from_acestep_dict, looks_like_acestep  # it builds on this module

    if looks_like_acestep(data):
        return from_acestep_dict(data, path.parent, str(path))
    return dataset_from_dict(data, path.parent, str(path))


def rebase(dataset: Dataset, new_root: Path) -> Dataset:
    """The same dataset with its paths made relative to `new_root` (same files on disk)."""
    new_root = Path(new_root).absolute()
    old_root = Path(dataset.root).absolute()
    if os.path.normpath(old_root) == os.path.normpath(new_root):
        return dataset
    prefix = Path(os.path.relpath(old_root, new_root)).as_posix()

    def moved(rel: str) -> str:
        return posixpath.normpath(posixpath.join(prefix, rel))

    samples = [Sample(**{**s.to_dict(), "audio": moved(s.audio)}) for s in dataset.samples]
    options = dataset.options
    if options.audio_root is None and prefix.startswith(".."):
        # The user saves the dataset away from its audio: the audio's folder stays allowed, by name.
        options = options.replace(audio_root=str(old_root))
        log.info("%s: audio stays in %s, recorded as the dataset's allowed audio root", new_root, old_root)
    return Dataset(root=new_root, options=options, samples=samples, audio_dir=moved(dataset.audio_dir))


def save_dataset(dataset: Dataset, path: str | os.PathLike, *, force: bool = False) -> Dataset:
    """Write the dataset atomically to `path`; returns it rebased to that file's folder.

    The JSON is built and checked before anything is written, then goes to a temporary file
    that replaces `path` only once complete, so a failure never leaves a broken dataset file.
    A save that would drop labels or options the file on disk has raises `LabelLossError`
    unless `force`; the file replaced is kept as `<name>.bak` (one generation).
    """
    path = Path(path).absolute()
    if path.is_dir():
        raise DatasetError(f"{path}: is a folder; give a file name such as {path / 'dataset.json'}")
    path.parent.mkdir(parents=True, exist_ok=True)
    rebased = rebase(dataset, path.parent)
    try:
        text = _json_text(rebased.to_dict())
    except (TypeError, ValueError) as err:
        raise DatasetError(f"{path}: the dataset cannot be written as JSON ({err}); nothing was written") from None
    previous = _read_previous(path)
    unchanged = previous == text.encode("utf-8")
    if previous is not None and not force and not unchanged:
        _refuse_losses(path, rebased)
    try:
        # An unchanged save keeps an existing backup: it holds the generation before this one.
        if previous is not None and not (unchanged and backup_path(path).is_file()):
            write_text_atomic(backup_path(path), previous)
        if not unchanged:
            write_text_atomic(path, text)
    except OSError as err:
        raise DatasetError(f"{path}: cannot write the dataset file ({err}); the old file is unchanged") from None
    log.info("saved %d samples to %s", len(rebased.samples), path)
    return rebased


def _json_text(data: dict[str, Any]) -> str:
    """Readable UTF-8 JSON; with \\u escapes when a file name is not UTF-8 (Python keeps its bytes
    as lone surrogates, which JSON escapes and reads back, and UTF-8 cannot hold)."""
    text = json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(data, indent=1, ensure_ascii=True, allow_nan=False)
    return text


def backup_path(path: str | os.PathLike) -> Path:
    """Where a save keeps the file it replaced: `dataset.json` -> `dataset.json.bak`."""
    path = Path(path)
    return path.with_name(path.name + ".bak")


def _read_previous(path: Path) -> bytes | None:
    """The bytes of the file a save would replace (None when there is none)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise DatasetError(f"{path}: cannot read the existing file before replacing it ({err}); "
                           "nothing was written") from None


def _refuse_losses(path: Path, new: Dataset) -> None:
    """LabelLossError when `new` would drop labels or options of the dataset file at `path`."""
    try:
        on_disk = load_dataset(path)
    except DatasetError as err:
        raise LabelLossError(str(path), [f"the file is not a dataset this program reads ({err})"]) from None
    losses = label_losses(on_disk, new)
    if losses:
        raise LabelLossError(str(path), losses)
