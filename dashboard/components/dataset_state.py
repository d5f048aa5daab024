"""The Dataset page's working copy, kept in `st.session_state` so no edit is lost on a rerun or a
page change.

- `current()`: the working Dataset or None; `current_path()`: the file it was loaded from / saved to.
- `replace_dataset(ds, path)`: a new working copy (load, scan, save); clears "unsaved".
- `changed(external=True)`: something edited the dataset; `external` (CSV import, the one-sample
  editor, a rescan) also renews the table editor so its pending cell edits cannot overwrite the
  new values.
- `version()`: part of every widget key seeded from the dataset's labels and options; bumped on
  external changes. `generation()`: part of the keys of path inputs; bumped only when another
  dataset is opened, scanned or saved, so a path being typed survives label edits.
- `remembered_path()` / `restore()`: the file last opened or saved in this dashboard, kept in the
  dashboard's own small file (`<studio home>/dashboard/recent.json`, never the daemon's files), so
  a browser reload or a new browser session reopens it.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import streamlit as st

from shared.atomic import write_json_atomic
from shared.dataset import Dataset, load_dataset
from shared.errors import StudioError
from shared.home import studio_home

log = logging.getLogger(__name__)

_DATASET, _PATH, _DIRTY = "dataset.working", "dataset.path", "dataset.dirty"
_VERSION, _GENERATION = "dataset.version", "dataset.generation"
_RESTORED = "dataset.restored"  # this session tried to reopen the remembered file


def current() -> Dataset | None:
    return st.session_state.get(_DATASET)


def current_path() -> str | None:
    return st.session_state.get(_PATH)


def version() -> int:
    return st.session_state.setdefault(_VERSION, 0)


def generation() -> int:
    return st.session_state.setdefault(_GENERATION, 0)


def is_dirty() -> bool:
    return bool(st.session_state.get(_DIRTY))


def replace_dataset(dataset: Dataset, path: str | None) -> None:
    """Make `dataset` the working copy (from `path`, or None when not saved yet)."""
    st.session_state[_DATASET] = dataset
    st.session_state[_PATH] = path
    st.session_state[_DIRTY] = path is None
    st.session_state[_VERSION] = version() + 1
    st.session_state[_GENERATION] = generation() + 1
    if path is not None:
        _remember(path)


def changed(external: bool = True) -> None:
    """Mark unsaved changes; renew the widgets seeded from the dataset when `external`."""
    st.session_state[_DIRTY] = True
    if external:
        st.session_state[_VERSION] = version() + 1


def remembered_path() -> str | None:
    """The dataset file last opened or saved in this dashboard (any browser session), if any."""
    try:
        path = json.loads(_recent_file().read_text(encoding="utf-8")).get("dataset")
    except (OSError, ValueError, AttributeError):
        return None
    return path if isinstance(path, str) and path else None


def restore() -> str | None:
    """Once per browser session with nothing open: reopen the remembered file; returns its path
    when it was reopened (a file since moved or broken is left alone)."""
    if current() is not None or st.session_state.get(_RESTORED):
        return None
    st.session_state[_RESTORED] = True
    path = remembered_path()
    if path is None or not Path(path).is_file():
        return None
    try:
        replace_dataset(load_dataset(path), path)
    except StudioError as err:
        log.info("not reopening %s: %s", path, err)
        return None
    return path


def _recent_file() -> Path:
    return studio_home() / "dashboard" / "recent.json"


def _remember(path: str) -> None:
    try:
        _recent_file().parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(_recent_file(), {"dataset": str(Path(path).absolute())})
    except OSError as err:  # remembering is a convenience: never fail an open or a save for it
        log.warning("cannot remember the open dataset: %s", err)
