"""The workflow strip at the top of every page: which steps of the way to an adapter are done."""
from __future__ import annotations

import streamlit as st

STEPS = ("Dataset", "Preprocess", "Train", "Export")


def render_workflow_strip() -> None:
    done = st.session_state.setdefault("workflow_done", set())
    cells = [f"{'✅' if step in done else '⬜'} {step}" for step in STEPS]
    st.caption("  →  ".join(cells))


def mark_done(step: str) -> None:
    st.session_state.setdefault("workflow_done", set()).add(step)
