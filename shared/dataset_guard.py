"""What saving a dataset over the file on disk would lose, in words a user reads before confirming.

    losses = label_losses(on_disk, new)   # ["trigger word 'mystyle'", "caption of 3 samples (a.wav, ...)"]

A loss is a value the file has that the new dataset empties (a caption, a BPM, the trigger word),
or a labelled sample the new dataset no longer lists. Changed values are not losses: editing a
caption is what the user meant to do. `save_dataset` refuses a save with losses unless forced and
keeps the file it replaces as `<name>.bak`; this module only compares, it writes nothing.
"""
from __future__ import annotations

import os
import posixpath
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from shared.errors import DatasetError
from shared.wording import counted

if TYPE_CHECKING:  # shared.dataset imports this module
    from shared.dataset import Dataset, Sample

# Sample attribute -> (its empty value, how a loss of it is named)
LABELS: dict[str, tuple[Any, str]] = {
    "caption": ("", "caption"), "genre": ("", "genre"), "lyrics": ("", "lyrics"), "bpm": (None, "BPM"),
    "keyscale": ("", "key"), "timesignature": ("", "time signature"), "language": ("unknown", "language"),
    "is_instrumental": (False, "instrumental mark"), "prompt_override": (None, "prompt override"),
    "custom_tag": ("", "trigger override"), "labeled": (False, "labeled mark"),
}
# Options whose return to the default is a loss (the name is not: a scan renames a dataset).
OPTIONS = ("trigger_word", "tag_position", "genre_ratio", "genre_ratio_seed", "language_override", "audio_root")
_SHOWN = 4  # file names listed per loss before "and N more"


class LabelLossError(DatasetError):
    """A save would drop labels or options that the file on disk has; nothing was written."""

    def __init__(self, path: str, losses: list[str]) -> None:
        self.path, self.losses = path, losses
        super().__init__(f"{path}: saving would drop what this file holds: {'; '.join(losses)}. "
                         "Nothing was written.")


def has_labels(sample: Sample) -> bool:
    """True when any label of the sample differs from its empty value."""
    return any(getattr(sample, name) != empty for name, (empty, _) in LABELS.items())


def label_losses(on_disk: Dataset, new: Dataset) -> list[str]:
    """Every label and option of `on_disk` that `new` drops, one line per kind of loss."""
    losses = _option_losses(on_disk, new)
    present = {_where(new, s): s for s in new.samples}
    gone: list[str] = []
    emptied: dict[str, list[str]] = {}
    for old in on_disk.samples:
        fresh = present.get(_where(on_disk, old))
        if fresh is None:
            if has_labels(old):
                gone.append(on_disk.key(old))
            continue
        lost = [name for name, (empty, _) in LABELS.items()
                if getattr(old, name) != empty and getattr(fresh, name) == empty]
        if lost != ["labeled"] and "labeled" in lost:  # named alone only: it goes with the caption
            lost.remove("labeled")
        for name in lost:
            emptied.setdefault(name, []).append(on_disk.key(old))
    if gone:
        losses.append(f"{counted(len(gone), 'labelled sample')} no longer in the dataset ({_names(gone)})")
    for name, keys in emptied.items():
        losses.append(f"{LABELS[name][1]} of {counted(len(keys), 'sample')} ({_names(keys)})")
    return losses


def _option_losses(on_disk: Dataset, new: Dataset) -> list[str]:
    defaults = type(on_disk.options)()
    losses = []
    for f in fields(on_disk.options):
        if f.name not in OPTIONS:
            continue
        old, default = getattr(on_disk.options, f.name), getattr(defaults, f.name)
        if old != default and getattr(new.options, f.name) == default:
            losses.append(f"{type(on_disk.options).spec(f.name).label.lower()} {old!r}")
    return losses


def _where(dataset: Dataset, sample: Sample) -> str:
    return os.path.normpath(os.path.join(dataset.root, sample.audio))


def _names(keys: list[str]) -> str:
    shown = ", ".join(posixpath.basename(k) if len(k) > 40 else k for k in keys[:_SHOWN])
    return shown + (f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else "")
