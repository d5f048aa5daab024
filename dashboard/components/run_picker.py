"""Choosing a run and one of its adapters, for the Samples and Export pages; everything comes from
the daemon's `runs` command (the dashboard never reads a run folder)."""
from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from shared.client import StudioClient
from shared.errors import StudioError


def pick_run(client: StudioClient, kinds: list[str], key: str, label: str = "Run",
             keep: Callable[[dict], bool] = lambda run: True) -> dict | None:
    """A select box of the daemon's runs of `kinds` (those `keep` accepts), newest first; the chosen
    run's summary or None."""
    try:
        runs = [r for r in client.request("runs", {"kinds": kinds})["runs"] if keep(r)]
    except StudioError as err:
        st.error(f"Lost the daemon: {err}")
        return None
    if not runs:
        return None
    by_id = {r["id"]: r for r in runs}
    wanted = st.session_state.get(key)
    ids = list(by_id)
    chosen = st.selectbox(label, ids, index=ids.index(wanted) if wanted in ids else 0, key=key,
                          format_func=lambda i: f"{i} · {by_id[i]['state']}"
                          + (f" · {by_id[i]['summary']}" if by_id[i].get("summary") else ""))
    return by_id[chosen]


def adapter_outputs(run: dict) -> list[dict]:
    """The run's adapter folders (final/, best/, checkpoints), as the `runs` command lists them."""
    return [o for o in run.get("outputs") or [] if o.get("path")]


def output_label(output: dict) -> str:
    parts = [output["name"]]
    if output.get("epoch") is not None:
        parts.append(f"epoch {output['epoch']}")
    if output.get("loss_ma5") is not None:
        parts.append(f"loss {output['loss_ma5']:.4f}")
    return " · ".join(parts)
