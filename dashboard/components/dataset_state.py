"""The Dataset page's working copy, kept in `st.session_state` so no edit is lost on a rerun or a
page change.

- `current()`: the working Dataset or None; `current_path()`: the file it was loaded from / saved to.
- `replace_dataset(ds, path)`: a new working copy (load, scan, save); clears "unsaved".
- What an edit renews, so no widget is rebuilt under the user's hands (a rebuilt widget loses
  what is being typed into it, and an edit committed to the old one is dropped):
  `changed()` for bulk edits (CSV import, rescan): the table and the one-sample editor;
  `changed_in_table()`: the one-sample editor only (it shows the new values);
  `changed_in_sample(row)`: the table only when it holds a pending edit of that row (which would
  otherwise be applied again over the new value); `changed_options()`: nothing.
- Counters in the widget keys: `table_version()` (the sample table), `editor_version()` (the
  one-sample editor), `generation()` (path inputs and the options form; bumped only when another
  dataset is opened, scanned or saved, so a path being typed survives label edits).
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
_TABLE, _EDITOR, _GENERATION = "dataset.table_version", "dataset.editor_version", "dataset.generation"
_RESTORED = "dataset.restored"  # this session tried to reopen the remembered file


def current() -> Dataset | None:
    return st.session_state.get(_DATASET)


def current_path() -> str | None:
    return st.session_state.get(_PATH)


def table_version() -> int:
    return st.session_state.setdefault(_TABLE, 0)


def table_key() -> str:
    """The sample table's widget key (its pending edits live under it)."""
    return f"dataset.editor.{table_version()}"


def editor_version() -> int:
    return st.session_state.setdefault(_EDITOR, 0)


def generation() -> int:
    return st.session_state.setdefault(_GENERATION, 0)


def is_dirty() -> bool:
    return bool(st.session_state.get(_DIRTY))


def replace_dataset(dataset: Dataset, path: str | None) -> None:
    """Make `dataset` the working copy (from `path`, or None when not saved yet)."""
    st.session_state[_DATASET] = dataset
    st.session_state[_PATH] = path
    st.session_state[_DIRTY] = path is None
    _renew(_TABLE, _EDITOR, _GENERATION)
    if path is not None:
        _remember(path)


def changed() -> None:
    """A bulk edit (CSV import, rescan): unsaved; the table and the one-sample editor renewed."""
    st.session_state[_DIRTY] = True
    _renew(_TABLE, _EDITOR)


def changed_in_table() -> None:
    """An edit made in the table: unsaved; the one-sample editor shows the new values."""
    st.session_state[_DIRTY] = True
    _renew(_EDITOR)


def changed_in_sample(row: int) -> None:
    """An edit made in the one-sample editor: unsaved; the table is renewed only when it holds a
    pending edit of that row, which Streamlit would otherwise apply again over the new value."""
    st.session_state[_DIRTY] = True
    pending = (st.session_state.get(table_key()) or {}).get("edited_rows") or {}
    if row in pending or str(row) in pending:
        _renew(_TABLE)


def changed_options() -> None:
    """An option edited in the options form: unsaved; nothing to renew."""
    st.session_state[_DIRTY] = True


def _renew(*counters: str) -> None:
    for counter in counters:
        st.session_state[counter] = st.session_state.get(counter, 0) + 1


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
