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
"""
from __future__ import annotations

import streamlit as st

from shared.dataset import Dataset

_DATASET, _PATH, _DIRTY = "dataset.working", "dataset.path", "dataset.dirty"
_VERSION, _GENERATION = "dataset.version", "dataset.generation"


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


def changed(external: bool = True) -> None:
    """Mark unsaved changes; renew the widgets seeded from the dataset when `external`."""
    st.session_state[_DIRTY] = True
    if external:
        st.session_state[_VERSION] = version() + 1
