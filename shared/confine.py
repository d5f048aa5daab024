"""Where a dataset's audio may come from: its own folder, and one folder the user allowed.

    reason = outside_reason(dataset, sample)   # None, or why the file is refused
    refused = refused_samples(dataset)          # [(sample, reason)], never opened

A dataset file is something people receive and share, so its paths are not trusted: a file that
lists `../outside/secret.wav` or `/etc/shadow` would otherwise make preprocessing read them (and
encode them into tensors). A path is allowed when, with links resolved, it lies inside the
folder of the dataset file, or inside the dataset's `audio_root` option: an absolute folder the
user named (a shared sample library). CSV import confines its rows the same way.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from shared.wording import readable

if TYPE_CHECKING:  # shared.dataset imports this module
    from shared.dataset import Dataset, Sample

ALLOW_HINT = ("to use audio from there, set the dataset's allowed audio root "
              "(Dataset page: Prompt options, advanced; CLI: dataset set FILE --audio-root FOLDER)")


def allowed_folders(dataset: Dataset) -> list[str]:
    """The folders (links resolved) the dataset's audio may lie in."""
    folders = [os.path.realpath(dataset.root)]
    if dataset.options.audio_root:
        folders.append(os.path.realpath(dataset.options.audio_root))
    return folders


def is_inside(path: str | os.PathLike, folders: list[str]) -> bool:
    """True when `path`, links resolved, lies in one of `folders` (themselves resolved)."""
    real = os.path.realpath(path)
    return any(real == folder or real.startswith(folder.rstrip(os.sep) + os.sep) for folder in folders)


def outside_reason(dataset: Dataset, sample: Sample) -> str | None:
    """Why the sample's audio may not be read (it lies outside the allowed folders), or None."""
    folders = allowed_folders(dataset)
    if is_inside(dataset.audio_path(sample), folders):
        return None
    where = "the dataset folder " + readable(folders[0])
    if len(folders) > 1:
        where += " and the allowed audio root " + readable(folders[1])
    return f"{readable(sample.audio)} lies outside {where}; refused, never opened ({ALLOW_HINT})"


def refused_samples(dataset: Dataset) -> list[tuple[Sample, str]]:
    """Every sample whose audio lies outside the allowed folders, with the reason."""
    out = []
    for sample in dataset.samples:
        reason = outside_reason(dataset, sample)
        if reason is not None:
            out.append((sample, reason))
    return out
