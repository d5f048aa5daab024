"""The Dataset page's sample table: Dataset <-> pandas frame for `st.data_editor`, and its columns.

`samples_frame(dataset)` builds the frame (one row per sample, in order, with the training
prompt computed by `shared.prompt`); `apply_frame(dataset, frame)` writes the editor's returned
values back into the samples and says whether anything changed. Column types and choices come
from `shared.labels`, so the table offers exactly what the parsers accept.
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd
import streamlit as st

from shared.dataset import Dataset, Sample
from shared.labels import BPM_MAX, BPM_MIN, KEYSCALES, LANGUAGES, PROMPT_OVERRIDES, TIME_SIGNATURES
from shared.prompt import training_captions
from shared.wording import readable

# frame column -> Sample attribute, for the editable columns
EDITABLE = {
    "caption": "caption", "genre": "genre", "lyrics": "lyrics", "bpm": "bpm", "key": "keyscale",
    "time sig": "timesignature", "language": "language", "instrumental": "is_instrumental",
    "prompt": "prompt_override", "trigger override": "custom_tag", "labeled": "labeled",
}
READ_ONLY = ("file", "seconds", "training prompt")
COLUMN_ORDER = ("file", "seconds", "caption", "genre", "training prompt", "bpm", "key", "time sig",
                "language", "instrumental", "prompt", "lyrics", "trigger override", "labeled")
_TEXT = ("file", "caption", "genre", "lyrics", "key", "time sig", "language", "prompt",
         "trigger override", "training prompt")


def samples_frame(dataset: Dataset) -> pd.DataFrame:
    """One row per sample with the editable labels and the read-only training prompt."""
    prompts = training_captions(dataset)
    rows = [{
        "file": readable(dataset.key(s)), "seconds": round(s.duration, 2), "caption": s.caption, "genre": s.genre,
        "training prompt": prompt, "bpm": s.bpm, "key": s.keyscale or None, "time sig": s.timesignature or None,
        "language": s.language, "instrumental": s.is_instrumental, "prompt": s.prompt_override,
        "lyrics": s.lyrics, "trigger override": s.custom_tag, "labeled": s.labeled,
    } for s, prompt in zip(dataset.samples, prompts, strict=True)]
    frame = pd.DataFrame(rows, columns=list(COLUMN_ORDER))
    # Fixed dtypes keep the editor's identity (its schema) stable, so it is never rebuilt under the
    # user's hands. "string", not "object": an object column of empty cells is Arrow's null type,
    # and the first value typed into it changed the schema and so the editor.
    dtypes: dict[str, Any] = {c: "string" for c in _TEXT}
    dtypes.update({"seconds": "float64", "bpm": "Int64", "instrumental": "bool", "labeled": "bool"})
    return frame.astype(dtypes)


def column_config() -> dict[str, Any]:
    """Column types, choices and help for the sample table."""
    cc = st.column_config
    return {
        "file": cc.TextColumn("file", disabled=True, help="Path inside the scanned folder"),
        "seconds": cc.NumberColumn("seconds", disabled=True, format="%.1f"),
        "caption": cc.TextColumn("caption", width="large", help="What the music sounds like"),
        "genre": cc.TextColumn("genre", help="Used instead of the caption for the genre-ratio share"),
        "training prompt": cc.TextColumn("training prompt", disabled=True, width="medium",
                                         help="Exactly what this sample is trained with (trigger word placed)"),
        "bpm": cc.NumberColumn("bpm", min_value=BPM_MIN, max_value=BPM_MAX, step=1, format="%d"),
        "key": cc.SelectboxColumn("key", options=list(KEYSCALES)),
        "time sig": cc.SelectboxColumn("time sig", options=list(TIME_SIGNATURES),
                                       help="Beats per bar: 2, 3, 4 or 6"),
        "language": cc.SelectboxColumn("language", options=list(LANGUAGES), required=True),
        "instrumental": cc.CheckboxColumn("instrumental"),
        "prompt": cc.SelectboxColumn("prompt", options=list(PROMPT_OVERRIDES),
                                     help="Force the caption or the genre; empty follows the genre ratio"),
        "lyrics": cc.TextColumn("lyrics", help="Edit long lyrics in the one-sample editor below"),
        "trigger override": cc.TextColumn("trigger override", help="This sample's own trigger word, if any"),
        "labeled": cc.CheckboxColumn("labeled"),
    }


def apply_frame(dataset: Dataset, frame: pd.DataFrame) -> bool:
    """Write the edited frame back into the dataset's samples; True when something changed."""
    if len(frame) != len(dataset.samples):
        raise ValueError(f"the table has {len(frame)} rows, the dataset {len(dataset.samples)}")
    changed = False
    for sample, row in zip(dataset.samples, frame.to_dict("records"), strict=True):
        changed = apply_edits(sample, row) or changed
    return changed


def apply_editor_delta(dataset: Dataset, delta: dict) -> bool:
    """Apply the editor's own record of edits (`{"edited_rows": {row: {column: value}}}`)."""
    changed = False
    for row, cells in (delta or {}).get("edited_rows", {}).items():
        if 0 <= int(row) < len(dataset.samples):
            changed = apply_edits(dataset.samples[int(row)], cells) or changed
    return changed


def apply_edits(sample: Sample, cells: dict[str, Any]) -> bool:
    """Set the editable columns present in `cells` on the sample; True when something changed.

    Editing the caption or genre marks the sample labeled (unless the labeled cell was edited too).
    """
    values = {EDITABLE[c]: _cell_value(EDITABLE[c], v) for c, v in cells.items() if c in EDITABLE}
    edits = {name: value for name, value in values.items() if getattr(sample, name) != value}
    if ("caption" in edits or "genre" in edits) and "labeled" not in edits:
        edits["labeled"] = bool(edits.get("caption", sample.caption) or edits.get("genre", sample.genre))
    for name, value in edits.items():
        setattr(sample, name, value)
    return bool(edits)


def _cell_value(attribute: str, value: Any) -> Any:
    missing = value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))
    if attribute == "bpm":
        return None if missing else int(value)
    if attribute in ("is_instrumental", "labeled"):
        return False if missing else bool(value)
    if attribute == "prompt_override":
        return None if missing or value == "" else str(value)
    if attribute == "language":
        return "unknown" if missing else str(value)
    return "" if missing else str(value)


def sample_label(dataset: Dataset, sample: Sample) -> str:
    """How a sample is named in pickers: its path inside the folder and its length."""
    return f"{readable(dataset.key(sample))}  ({sample.duration:.1f} s)"
