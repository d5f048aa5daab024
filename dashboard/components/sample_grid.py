"""The Samples page's grid: one row per sampling round (epoch, sample now, generation), one column
per adapter strength, one tab per prompt; each cell plays its clip and shows its spectrogram.

Audio and pictures are fetched from the daemon (`run_file`) and cached per clip, so reruns and page
changes do not fetch them again.
"""
from __future__ import annotations

from collections.abc import Iterable

import streamlit as st

from shared.client import StudioClient
from shared.errors import StudioError

MIME = {"flac": "audio/flac", "wav": "audio/wav"}


@st.cache_data(max_entries=512, show_spinner=False)
def clip_bytes(_client: StudioClient, run_id: str, path: str, created: float) -> bytes:
    """A file of a run from the daemon; cached by run, path and the clip's creation time."""
    return _client.run_file(run_id, path)


def groups_of(clips: list[dict]) -> list[tuple[str, str]]:
    """(group, label) of each sampling round, oldest first."""
    seen: dict[str, str] = {}
    for clip in clips:
        seen.setdefault(clip["group"], clip.get("label") or clip["group"])
    return list(seen.items())


def strength_name(strength: float | None) -> str:
    return "base model" if strength is None else f"strength {strength:g}"


def render_grid(client: StudioClient, run_id: str, clips: list[dict], groups: Iterable[str]) -> None:
    """Tabs per prompt, rows per group in `groups`, columns per strength."""
    shown = [c for c in clips if c["group"] in set(groups)]
    prompts = sorted({(c.get("prompt_index", 0), c.get("prompt", "")) for c in shown})
    tabs = st.tabs([f"Prompt {n}: {text[:40]}" for n, (_, text) in enumerate(prompts, 1)]) if len(prompts) > 1 \
        else [st.container()]
    for tab, (index, text) in zip(tabs, prompts):
        with tab:
            st.caption(text)
            render_prompt_grid(client, run_id, [c for c in shown if (c.get("prompt_index", 0), c.get("prompt", ""))
                                                == (index, text)])


def render_prompt_grid(client: StudioClient, run_id: str, clips: list[dict]) -> None:
    strengths = sorted({c.get("strength") for c in clips}, key=lambda s: -1.0 if s is None else s)
    header = st.columns([1] + [2] * len(strengths))
    header[0].markdown("**round**")
    for column, strength in zip(header[1:], strengths):
        column.markdown(f"**{strength_name(strength)}**")
    for group, label in groups_of(clips):
        row = st.columns([1] + [2] * len(strengths))
        row[0].markdown(label)
        for column, strength in zip(row[1:], strengths):
            clip = next((c for c in clips if c["group"] == group and c.get("strength") == strength), None)
            if clip is not None:
                with column:
                    render_cell(client, run_id, clip)


def render_cell(client: StudioClient, run_id: str, clip: dict) -> None:
    """The clip's player, its spectrogram and what made it."""
    try:
        audio = clip_bytes(client, run_id, clip["audio"], clip.get("created", 0.0))
        picture = clip_bytes(client, run_id, clip["spectrogram"], clip.get("created", 0.0)) \
            if clip.get("spectrogram") else None
    except StudioError as err:
        st.error(f"{clip['audio']}: {err}")
        return
    st.audio(audio, format=MIME.get(clip["audio"].rsplit(".", 1)[-1], "audio/flac"))
    if picture is not None:
        st.image(picture, width="stretch")
    st.caption(f"seed {clip.get('seed')} · {clip.get('duration_s', 0):g} s"
               + (f" · {clip['adapter_label']}" if clip.get("adapter_label") else ""))
