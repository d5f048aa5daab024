"""The Captioner page's review of one caption run: a table of every file's labels beside what the
signal says, one file's editor beside its audio player, and accepting the labels into the dataset.

Everything comes from the daemon (`caption_results`, `caption_audio`, `caption_accept`); edits live
in `st.session_state["caption.edits.<run>"]` ({file: {label: value}}) until they are accepted.
"""
from __future__ import annotations

import posixpath

import pandas as pd
import streamlit as st

from shared.client import StudioClient
from shared.errors import StudioError
from shared.labels import KEYSCALES, LANGUAGES, TIME_SIGNATURES

EDITABLE = ("caption", "genre", "keyscale", "bpm", "timesignature", "language", "is_instrumental")
NOISE = ("The demo captioner and transcriber have random weights: their captions and lyrics are noise. "
         "The signal analysis (tempo, key, loudness) is real. Put ACE-Step's acestep-captioner and "
         "acestep-transcriber beside your checkpoints for real captions.")
AUDIO_FORMATS = {".wav": "audio/wav", ".flac": "audio/flac", ".mp3": "audio/mpeg", ".ogg": "audio/ogg",
                 ".opus": "audio/ogg", ".m4a": "audio/mp4", ".aac": "audio/aac"}


def edits(run_id: str) -> dict[str, dict]:
    return st.session_state.setdefault(f"caption.edits.{run_id}", {})


def current_labels(run_id: str, record: dict) -> dict:
    """The record's labels with this session's edits over them."""
    return {**(record.get("labels") or {}), **edits(run_id).get(record["file"], {})}


def render_review(client: StudioClient, run_id: str, results: dict) -> None:
    files = results.get("files") or []
    if not files:
        st.info("This run has no results yet.")
        return
    if any((r.get("caption") or {}).get("demo") or (r.get("lyrics") or {}).get("demo") for r in files):
        st.warning(NOISE)
    _render_table(run_id, files)
    chosen = st.selectbox("File", [r["file"] for r in files], key=f"caption.file.{run_id}")
    record = next(r for r in files if r["file"] == chosen)
    _render_file(client, run_id, record)
    _render_accept(client, run_id, results, files)


def _render_table(run_id: str, files: list[dict]) -> None:
    rows = []
    for record in files:
        labels, signal = current_labels(run_id, record), record.get("signal") or {}
        lyrics = "[Instrumental]" if labels.get("is_instrumental") else (labels.get("lyrics") or "").split("\n")[0]
        rows.append({"file": record["file"], **{name: labels.get(name) for name in EDITABLE}, "lyrics": lyrics,
                     "signal BPM": signal.get("bpm"), "signal key": signal.get("keyscale") or "",
                     "key confidence": signal.get("key_confidence"), "LUFS": signal.get("loudness_lufs"),
                     "seconds": signal.get("duration"), "problem": record.get("error") or ""})
    frame = pd.DataFrame(rows)
    config = {
        "file": st.column_config.TextColumn("File", disabled=True),
        "caption": st.column_config.TextColumn("Caption", width="large"),
        "genre": st.column_config.TextColumn("Genre"),
        "keyscale": st.column_config.SelectboxColumn("Key", options=["", *KEYSCALES]),
        "bpm": st.column_config.NumberColumn("BPM", min_value=30, max_value=300, step=1),
        "timesignature": st.column_config.SelectboxColumn("Time", options=["", *TIME_SIGNATURES]),
        "language": st.column_config.SelectboxColumn("Language", options=list(LANGUAGES)),
        "is_instrumental": st.column_config.CheckboxColumn("Instrumental"),
        "lyrics": st.column_config.TextColumn("Lyrics (first line; edit below)", disabled=True),
    }
    disabled = ["file", "lyrics", "signal BPM", "signal key", "key confidence", "LUFS", "seconds", "problem"]
    st.data_editor(frame, column_config=config, disabled=disabled, hide_index=True, use_container_width=True,
                   key=f"caption.table.{run_id}", on_change=_table_edited, args=(run_id, frame))


def _table_edited(run_id: str, frame: pd.DataFrame) -> None:
    """Keep the table's edits (row -> {column: value}) as this session's edits of those files."""
    delta = st.session_state.get(f"caption.table.{run_id}") or {}
    for row, changes in (delta.get("edited_rows") or {}).items():
        file = frame.iloc[int(row)]["file"]
        for column, value in changes.items():
            if column in EDITABLE:
                edits(run_id).setdefault(file, {})[column] = None if value in ("", None) and column == "bpm" \
                    else value


def _render_file(client: StudioClient, run_id: str, record: dict) -> None:
    labels, signal = current_labels(run_id, record), record.get("signal") or {}
    left, right = st.columns([1, 1])
    with left:
        try:
            audio = client.caption_audio(run_id, record["file"])
            suffix = posixpath.splitext(record["file"])[1].lower()
            st.audio(audio, format=AUDIO_FORMATS.get(suffix, "audio/wav"))
        except StudioError as err:
            st.error(f"The audio cannot be played: {err}")
        if signal:
            st.markdown(signal_line(signal))
        for part in ("caption", "lyrics"):
            answer = record.get(part)
            if answer:
                with st.expander(f"What the {part} provider said ({answer['provider']})"):
                    st.code(answer.get("raw") or "(nothing)", language=None)
                    if answer.get("note"):
                        st.caption(answer["note"])
        if record.get("kept"):
            st.caption("Kept the labels already set: " + ", ".join(record["kept"]))
    with right:
        key = f"caption.edit.{run_id}.{record['file']}"
        caption = st.text_area("Caption", labels.get("caption") or "", key=f"{key}.caption", height=120)
        lyrics = st.text_area("Lyrics", labels.get("lyrics") or "", key=f"{key}.lyrics", height=160,
                              help="Section tags such as [Verse] are kept; empty with Instrumental ticked for none.")
        if st.button("Keep these edits", key=f"{key}.keep"):
            chosen = edits(run_id).setdefault(record["file"], {})
            chosen.update(caption=caption.strip(), lyrics=lyrics.strip())
            st.rerun()


def signal_line(signal: dict) -> str:
    """What the signal says, in one line: tempo, key with its confidence, loudness, length."""
    tempo = f"{signal['bpm']:g} BPM" if signal.get("bpm") else "no steady beat"
    key = (f"{signal['keyscale']} (confidence {signal.get('key_confidence', 0):.2f})" if signal.get("keyscale")
           else "no key")
    loudness = f"{signal['loudness_lufs']:g} LUFS" if signal.get("loudness_lufs") is not None else "silent"
    return f"**Signal:** {tempo} · {key} · {loudness} · {signal.get('duration', 0):.1f} s"


def _render_accept(client: StudioClient, run_id: str, results: dict, files: list[dict]) -> None:
    st.markdown("**Accept into the dataset**")
    done = [r["file"] for r in files if not r.get("error") and r.get("done")]
    chosen = st.multiselect("Files to accept", done, default=done, key=f"caption.accept.files.{run_id}")
    dataset = st.text_input("Dataset file (on the daemon's machine)", results.get("dataset") or "",
                            key=f"caption.accept.dataset.{run_id}",
                            help="The run's dataset, or a dataset file whose samples are these files; empty: "
                                 "only the sidecar files beside the audio are updated.")
    overwrite = st.checkbox("Replace labels changed in the dataset since this run", False,
                            key=f"caption.accept.overwrite.{run_id}")
    if not st.button("Accept", type="primary", key=f"caption.accept.go.{run_id}", disabled=not chosen):
        return
    labelled = {r["file"]: _accepted(run_id, r) for r in files if r["file"] in chosen}
    try:
        reply = client.caption_accept(run_id, labelled, dataset=dataset.strip() or None, overwrite=overwrite)
    except StudioError as err:
        st.error(str(err))
        return
    edits(run_id).clear()
    message = f"{reply['sidecars']} sidecar file(s) written."
    if reply.get("dataset"):
        message += f" {reply['dataset']['message']}; the old file is kept as .bak. Reopen it on the Dataset page."
        if reply["dataset"].get("kept"):
            message += f" Kept what changed since the run: {reply['dataset']['kept']}."
    st.success(message)


def _accepted(run_id: str, record: dict) -> dict:
    labels = current_labels(run_id, record)
    out = {name: labels.get(name) for name in (*EDITABLE, "lyrics") if name in labels}
    if out.get("bpm") is not None:
        out["bpm"] = int(out["bpm"])
    return {k: ("" if v is None and k != "bpm" else v) for k, v in out.items()}
