"""A training run's pre-flight report as the Monitor page shows it."""
from __future__ import annotations

import streamlit as st


def render_preflight(run: dict) -> None:
    """What the run checked before its first step: data, memory, trigger word; its notes (such as a
    memory estimate above the free memory) as warnings, its facts (such as whether it compiles) as
    plain text."""
    preflight = run.get("preflight") or {}
    if not preflight:
        return
    for note in preflight.get("notes") or []:
        st.warning(f"Pre-flight: {note}")
    estimate, free = preflight.get("memory_estimate_mb"), preflight.get("free_memory_mb")
    memory = f"memory about {estimate:.0f} MB" + (f" of {free:.0f} MB free" if free else "") if estimate else ""
    parts = [f"{preflight.get('train_samples')} samples" + (f" + {preflight['validation_samples']} held out"
                                                             if preflight.get("validation_samples") else ""),
             f"{preflight.get('steps_per_epoch')} steps/epoch, {preflight.get('total_steps')} in all",
             f"{preflight.get('adapter')} with {preflight.get('trainable_parameters', 0):,} trainable parameters",
             f"{preflight.get('device')} · {preflight.get('precision')}", memory,
             f"trigger word {preflight['trigger_word']!r}" if preflight.get("trigger_word") else ""]
    st.caption(" · ".join(p for p in [*parts, *(preflight.get("facts") or [])] if p))
