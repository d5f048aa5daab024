"""Dataset: open or scan, set the trigger word and prompt options, edit the samples, save.

The working dataset lives in `st.session_state` (dashboard.components.dataset_state) and every
edit is written back into it by the widget's change callback, which Streamlit runs before the next
script run even when that run shows another page: nothing is lost on a rerun or a page change;
"unsaved changes" shows until it is saved. The training prompt shown per sample comes from
`shared.prompt`, the same function preprocessing uses.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard.components import dataset_state as state
from dashboard.components.dataset_panels import (
    default_dataset_file,
    render_csv,
    render_sample_editor,
    render_split,
)
from dashboard.components.dataset_table import (
    COLUMN_ORDER,
    apply_editor_delta,
    apply_frame,
    column_config,
    samples_frame,
)
from dashboard.forms import settings_form
from dashboard.workflow import mark_done
from shared.confine import ALLOW_HINT, refused_samples
from shared.dataset import Dataset, DatasetOptions, backup_path, load_dataset, rebase, save_dataset
from shared.dataset_guard import LabelLossError
from shared.dataset_scan import label_sources, scan_keeping_labels
from shared.errors import SettingsError, StudioError
from shared.wording import counted, readable
from shared.labels import LANGUAGE_NAMES, LANGUAGES

NO_OVERRIDE = "(each sample's own)"
_PENDING = "dataset.save.pending"  # a save refused for what it would drop: {"path", "losses"}


def demo_dataset_file() -> str:
    """The demo dataset's file, offered when nothing was opened yet."""
    root = os.environ.get("ACESTEP_DEMO_ROOT") or "./demo_assets"
    return str(Path(root).absolute() / "dataset" / "dataset.json")


def render_open() -> None:
    """Open a dataset file, or scan a folder into a new one (or into the open one, keeping labels)."""
    working = state.current()
    tab_open, tab_scan = st.tabs(["Open a dataset file", "Scan a folder"])
    with tab_open:
        path = st.text_input("Dataset file", state.current_path() or demo_dataset_file(), key="dataset.open.path")
        allowed = _may_discard("dataset.discard.open")
        if st.button("Open", key="dataset.open", disabled=not allowed):
            try:
                state.replace_dataset(load_dataset(path), str(Path(path).absolute()))
                st.session_state.pop("dataset.problems", None)
                st.rerun()
            except StudioError as err:
                st.error(str(err))
    with tab_scan:
        default = str(working.audio_folder()) if working else ""
        folder = st.text_input("Audio folder (searched recursively, sidecars read)", default,
                               key="dataset.scan.folder")
        keep = st.checkbox("Keep the labels already known for these files", value=True, key="dataset.scan.keep",
                           help="From the open dataset and the folder's dataset.json: new files join, known "
                                "files keep their labels and the trigger word. Untick to start from the "
                                "sidecar files alone.")
        same = working is not None and bool(folder) and Path(folder).absolute() == working.audio_folder()
        allowed = (same and keep) or _may_discard("dataset.discard.scan")
        if st.button("Scan", key="dataset.scan", disabled=not (folder and allowed)):
            _scan(folder, keep)


def _may_discard(key: str) -> bool:
    """True when nothing unsaved would be lost, or the user ticked that it may be."""
    if not state.is_dirty():
        return True
    return st.checkbox("Discard the unsaved changes of the open dataset", key=key)


def _scan(folder: str, keep: bool) -> None:
    """Scan `folder`, keeping the known labels when `keep`; the result becomes the working copy."""
    bar = st.progress(0.0, text=f"Scanning {folder}...")

    def progress(done: int, total: int) -> None:
        if done == total or done % max(1, total // 50) == 0:  # about 50 updates, however many files
            bar.progress(done / total, text=f"Scanning: {done}/{total} files")

    working = state.current()
    sources, unusable = label_sources(folder, working) if keep else ([], [])
    try:
        result = scan_keeping_labels(folder, sources, progress=progress)
    except StudioError as err:
        st.error(str(err))
        return
    dataset, path = result.dataset, None
    if keep and working is not None and working.audio_folder() == dataset.root:
        dataset, path = rebase(dataset, working.root), state.current_path()  # the open file, rescanned
    state.replace_dataset(dataset, path)
    state.changed()
    problems = unusable + result.problems
    st.session_state["dataset.problems"] = [{"file": readable(p.path), "problem": readable(p.reason)}
                                            for p in problems]
    st.rerun()


def render_summary(dataset: Dataset) -> None:
    """Counts, the scan's problems, and Save."""
    samples = dataset.samples
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Samples", len(samples))
    c2.metric("Audio", f"{sum(s.duration for s in samples) / 60:.1f} min")
    c3.metric("Labeled", f"{sum(1 for s in samples if s.labeled)}/{len(samples)}")
    c4.metric("Instrumental", sum(1 for s in samples if s.is_instrumental))
    refused = refused_samples(dataset)
    if refused:
        with st.expander(f"{counted(len(refused), 'sample')} outside the dataset's folders: preprocessing "
                         "refuses them", expanded=True):
            st.caption(ALLOW_HINT[0].upper() + ALLOW_HINT[1:] + ".")
            st.dataframe(pd.DataFrame({"file": [readable(s.audio) for s, _ in refused]}), hide_index=True,
                         width="stretch")
    problems = st.session_state.get("dataset.problems") or []
    if problems:
        with st.expander(f"{len(problems)} file(s) could not be used", expanded=True):
            st.dataframe(pd.DataFrame(problems), hide_index=True, width="stretch", placeholder="")
    c1, c2 = st.columns([4, 1])
    target = c1.text_input("Save as", default_dataset_file(dataset), key=f"dataset.save.path.{state.generation()}")
    c2.write("")
    if c2.button("Save", key="dataset.save", type="primary"):
        _save(dataset, target, force=False)
    _confirm_overwrite(dataset, target)
    if message := st.session_state.pop("dataset.saved_message", None):
        st.success(message)
    elif state.is_dirty():
        st.caption("Unsaved changes.")


def _save(dataset: Dataset, target: str, *, force: bool) -> None:
    """Save; a save that would drop what the file on disk has waits for the user's confirmation."""
    st.session_state.pop(_PENDING, None)
    try:
        saved = save_dataset(dataset, target, force=force)
    except LabelLossError as err:
        st.session_state[_PENDING] = {"path": target, "losses": err.losses}
        return
    except StudioError as err:
        st.error(str(err))
        return
    state.replace_dataset(saved, str(Path(target).absolute()))
    if saved.samples:
        mark_done("Dataset")
    backup = backup_path(target)
    kept = f" The previous file is kept as {backup.name}." if backup.is_file() else ""
    st.session_state["dataset.saved_message"] = f"Saved {len(saved.samples)} samples to {target}.{kept}"
    st.rerun()


def _confirm_overwrite(dataset: Dataset, target: str) -> None:
    """The confirm step of a save refused for what it would drop, while the same file is targeted."""
    pending = st.session_state.get(_PENDING)
    if not pending or pending["path"] != target:
        return
    st.warning(f"{target} holds labels or options this dataset does not: saving now drops "
               + "; ".join(pending["losses"]) + f". The file would be kept as {backup_path(target).name}.")
    c1, c2 = st.columns(2)
    if c1.button("Save anyway, dropping them", key="dataset.save.confirm"):
        _save(dataset, target, force=True)
    if c2.button("Cancel", key="dataset.save.cancel"):
        st.session_state.pop(_PENDING, None)
        st.rerun()


def render_options(dataset: Dataset) -> None:
    """Name, trigger word, tag position, genre ratio and seed (from the registry), language override."""
    st.subheader("Prompt options")
    key = f"dataset.options.{state.generation()}"
    values = settings_form(DatasetOptions, dataset.options.to_dict(), key=key, exclude=("language_override",))
    choices = (NO_OVERRIDE, *LANGUAGES)
    current = dataset.options.language_override or NO_OVERRIDE
    chosen = st.selectbox("Language override", choices, index=choices.index(current), key=f"{key}.language",
                          format_func=lambda c: c if c == NO_OVERRIDE else f"{c} · {LANGUAGE_NAMES[c]}",
                          help=DatasetOptions.spec("language_override").help)
    values["language_override"] = None if chosen == NO_OVERRIDE else chosen
    try:
        options = DatasetOptions.from_dict(values)
    except SettingsError as err:
        st.error(str(err))
        return
    if options != dataset.options:
        dataset.options = options
        state.changed_options()
    if options.tag_position == "replace" and options.trigger_word:
        st.warning("Tag position 'replace' trains every sample with the trigger word alone: captions are dropped.")


def render_table(dataset: Dataset) -> None:
    """Every sample in an editable table; edits go back into the working dataset at once."""
    st.subheader("Samples")
    if not dataset.samples:
        st.info("No audio files in this dataset.")
        return
    key = state.table_key()
    edited = st.data_editor(
        samples_frame(dataset), key=key, column_config=column_config(), on_change=_table_edited, args=(key,),
        column_order=COLUMN_ORDER, hide_index=True, num_rows="fixed", width="stretch", placeholder="",
        height=min(38 + 35 * len(dataset.samples), 520),
    )
    # The callback has applied the edit already; this catches anything it could not see.
    if apply_frame(dataset, edited):
        state.changed_in_table()
        st.rerun()  # show the new training prompts at once


def _table_edited(key: str) -> None:
    """Runs before the next script run, whichever page it shows, so a last edit is never dropped."""
    dataset = state.current()
    if dataset is not None and apply_editor_delta(dataset, st.session_state.get(key) or {}):
        state.changed_in_table()


st.title("Dataset")
if reopened := state.restore():
    st.caption(f"Reopened {reopened}, the dataset last opened here.")
render_open()
working = state.current()
if working is None:
    st.info("Open a dataset file, or scan a folder of audio to start one.")
    st.stop()
render_summary(working)
render_options(working)
render_table(working)
render_sample_editor(working)
render_csv(working)
render_split(working)
