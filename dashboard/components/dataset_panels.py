"""The Dataset page's tools below the table: one sample with its audio, CSV import/export, split.

Each panel reads and edits the working copy from `dataset_state`; the split tool submits the
`split_audio` job through the daemon client and says so plainly when no daemon answers.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.components import dataset_state as state
from dashboard.components.dataset_table import sample_label
from shared.audio_probe import file_problem
from shared.confine import outside_reason
from shared.dataset import Dataset, Sample
from shared.dataset_csv import ALIASES, csv_text, export_csv, import_csv, report_summary
from shared.errors import SettingsError, StudioError
from shared.labels import BPM_MAX, BPM_MIN, KEYSCALES, LANGUAGE_NAMES, LANGUAGES, TIME_SIGNATURES
from shared.prompt import sample_prompts
from shared.split_settings import SEGMENT_CHOICES, SplitAudioSettings
from shared.wording import counted, readable


_REPORT = "dataset.csv.report"  # the last CSV import's report, shown until the next import


def render_sample_editor(dataset: Dataset) -> None:
    """Pick one sample, listen to it, edit every label (kept as typed), see both of its prompts."""
    st.subheader("One sample")
    if not dataset.samples:
        st.info("No samples.")
        return
    index = st.selectbox("Sample", range(len(dataset.samples)), key="dataset.pick",
                         format_func=lambda i: sample_label(dataset, dataset.samples[i]))
    index = min(index or 0, len(dataset.samples) - 1)
    sample = dataset.samples[index]
    path = dataset.audio_path(sample)
    refused = outside_reason(dataset, sample)
    if refused:
        st.warning(refused)  # the page never reads a file outside the dataset's folders either
    elif file_problem(path) is None:
        st.audio(str(path))
    else:
        st.warning(f"{readable(str(path))}: {file_problem(path)}")
    st.caption(f"{sample.duration:.1f} s · {sample.sample_rate} Hz · {sample.channels} channel(s)")
    _sample_fields(sample, index, f"dataset.sample.{state.editor_version()}.{index}")
    text, lyrics = sample_prompts(dataset, sample)
    with st.expander("The prompts this sample is trained with"):
        st.code(text, language=None)
        st.code(lyrics, language=None)


def _field_changed(index: int, name: str, key: str, convert: Callable[[Any], Any]) -> None:
    """A one-sample widget changed: write it into the working dataset (before any page runs)."""
    dataset = state.current()
    if dataset is None or index >= len(dataset.samples) or key not in st.session_state:
        return
    sample = dataset.samples[index]
    value = convert(st.session_state[key])
    if getattr(sample, name) != value:
        setattr(sample, name, value)
        if name in ("caption", "genre") and value:
            sample.labeled = True
        state.changed_in_sample(index)


def _sample_fields(sample: Sample, index: int, key: str) -> None:
    def bind(widget, label: str, name: str, *args: Any, convert: Callable[[Any], Any] = lambda v: v,
             **kwargs: Any) -> None:
        wkey = f"{key}.{name}"
        widget(label, *args, key=wkey, on_change=_field_changed, args=(index, name, wkey, convert), **kwargs)

    c1, c2 = st.columns(2)
    bind(c1.text_area, "Caption", "caption", sample.caption, height=100)
    bind(c2.text_input, "Genre", "genre", sample.genre)
    bind(c2.text_input, "Trigger override", "custom_tag", sample.custom_tag,
         help="This sample's own trigger word; empty uses the dataset's")
    bind(st.text_area, "Lyrics", "lyrics", sample.lyrics, height=160)
    c1, c2, c3, c4 = st.columns(4)
    bind(c1.number_input, "BPM (0 = unknown)", "bpm", 0, BPM_MAX, sample.bpm or 0,
         convert=lambda v: int(v) if v and v >= BPM_MIN else None)
    keys, signatures = ("", *KEYSCALES), ("", *TIME_SIGNATURES)
    bind(c2.selectbox, "Key", "keyscale", keys, index=_index(keys, sample.keyscale), format_func=_or_unknown)
    bind(c3.selectbox, "Time signature", "timesignature", signatures, index=_index(signatures, sample.timesignature),
         format_func=_or_unknown)
    bind(c4.selectbox, "Language", "language", LANGUAGES, index=_index(LANGUAGES, sample.language),
         format_func=lambda c: f"{c} · {LANGUAGE_NAMES[c]}")
    c1, c2, c3 = st.columns(3)
    bind(c1.checkbox, "Instrumental", "is_instrumental", sample.is_instrumental)
    overrides = ("genre ratio", "caption", "genre")
    bind(c2.selectbox, "Prompt", "prompt_override", overrides,
         index=_index(overrides, sample.prompt_override or "genre ratio"),
         convert=lambda v: None if v == "genre ratio" else v)
    bind(c3.checkbox, "Labeled", "labeled", sample.labeled)


def _index(options: tuple[str, ...], value: str) -> int:
    return options.index(value) if value in options else 0


def _or_unknown(value: str) -> str:
    return value or "(unknown)"


def render_csv(dataset: Dataset) -> None:
    """Import labels from a CSV (report shown row by row) and export them."""
    st.subheader("CSV")
    tab_in, tab_out = st.tabs(["Import", "Export"])
    with tab_in:
        st.caption(f"Columns: file (or {', '.join(ALIASES['file'][1:])}), caption, genre, lyrics, bpm, key, "
                   "timesignature, language, instrumental. Delimiter , ; or tab. Empty cells clear the field.")
        upload = st.file_uploader("CSV file", type=["csv", "tsv", "txt"], key="dataset.csv.upload")
        typed = st.text_input("...or a CSV path on this machine", key="dataset.csv.path")
        if st.button("Import CSV", key="dataset.csv.import", disabled=not (upload or typed)):
            st.session_state.pop(_REPORT, None)  # the last import's report is not this one's
            try:
                if upload is not None:
                    report = import_csv(dataset, upload.name, data=upload.getvalue())
                else:
                    report = import_csv(dataset, typed)
            except StudioError as err:
                st.error(str(err))
            else:
                st.session_state[_REPORT] = report.to_dict()
                state.changed()
                st.rerun()
        _show_report(st.session_state.get(_REPORT))
    with tab_out:
        default = str(dataset.audio_folder() / "labels.csv")
        target = st.text_input("Write to", default, key=f"dataset.csv.out.{state.generation()}")
        if st.button("Write CSV", key="dataset.csv.export"):
            try:
                st.success(f"Wrote {export_csv(dataset, target)} ({counted(len(dataset.samples), 'row')}).")
            except StudioError as err:
                st.error(str(err))
        st.download_button("Download CSV", csv_text(dataset), file_name=f"{dataset.options.name}.csv",
                           mime="text/csv", key="dataset.csv.download")


def _show_report(report: dict | None) -> None:
    if not report:
        return
    for note in report.get("notes") or []:
        st.info(f"{report['path']}: {note}.")
    summary = report_summary(report)
    if report["issues"]:
        st.warning(f"{summary}; the rest was imported.")
        st.dataframe(pd.DataFrame(report["issues"], columns=["row", "column", "message"]),
                     hide_index=True, width="stretch")
    else:
        st.success(f"{summary}.")


def render_split(dataset: Dataset) -> None:
    """Submit the split_audio job for the dataset's folder (or any folder) through the daemon."""
    from dashboard.connection import get_client, last_connection_error

    with st.expander("Split long audio into segments"):
        st.caption("Cuts every file longer than one segment; shorter ones are copied. Originals stay "
                   "untouched, sidecars are copied to each segment. Runs as a job in the daemon.")
        source = st.text_input("Audio folder", str(dataset.audio_folder()),
                               key=f"dataset.split.in.{state.generation()}")
        seconds = st.radio("Segment length (s)", SEGMENT_CHOICES, horizontal=True, key="dataset.split.seconds",
                           format_func=lambda s: f"{s:g}")
        output = st.text_input("Output folder", f"{source.rstrip('/')}_{seconds:g}s",
                               key=f"dataset.split.out.{state.generation()}.{seconds}")
        fmt = st.selectbox("Format", SplitAudioSettings.spec("output_format").choices, key="dataset.split.fmt")
        if st.button("Split", key="dataset.split.run"):
            _submit_split(get_client, last_connection_error,
                          {"input_dir": source, "output_dir": output, "segment_seconds": float(seconds),
                           "output_format": fmt})
        _show_split_job(get_client)


def _submit_split(get_client, last_error, settings: dict) -> None:
    try:
        SplitAudioSettings.from_dict(settings)
    except SettingsError as err:
        st.error(str(err))
        return
    client = get_client()
    if client is None:
        st.error(f"The daemon is not running, so the split job cannot start. Start it on the Service page "
                 f"(or `python run_daemon.py`). {last_error()}")
        return
    try:
        st.session_state["dataset.split.job"] = client.submit("split_audio", settings)
        st.session_state["dataset.split.output"] = settings["output_dir"]
    except StudioError as err:
        st.error(str(err))


def _show_split_job(get_client) -> None:
    job_id = st.session_state.get("dataset.split.job")
    if not job_id:
        return
    client = get_client()
    if client is None:
        st.warning(f"Split job {job_id}: the daemon is not answering.")
        return
    try:
        job = client.job(job_id)
    except StudioError as err:
        st.warning(f"Split job {job_id}: {err}")
        return
    progress = job.get("progress") or {}
    st.progress(min(1.0, float(progress.get("fraction") or 0.0)), text=f"split {job_id}: {job['state']}")
    if job["state"] == "failed":
        st.error(f"{job['error']['ename']}: {job['error']['evalue']}")
    elif job["state"] == "done":
        result = job.get("result") or {}
        output = st.session_state.get("dataset.split.output", "")
        st.success(f"{result.get('segments', 0)} segments, {result.get('copied', 0)} files copied whole, "
                   f"{len(result.get('failed', []))} failed. Scan {output} to use them.")
    else:
        st.button("Refresh", key="dataset.split.refresh")


def default_dataset_file(dataset: Dataset) -> str:
    """Where Save suggests writing: the current file, or dataset.json in the scanned folder."""
    return state.current_path() or str(Path(dataset.audio_folder()) / "dataset.json")
