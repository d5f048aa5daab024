"""Where the Train page's defaults come from: the last preprocessing output, the checkpoints of
earlier runs and whether one may be resumed (all asked of the daemon, which may be on another
machine), and the preset that fits the GPU. Plain functions, no widgets; nothing here imports torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from shared.errors import StudioError
from shared.preset_advice import choose_preset
from shared.presets import PresetInfo

PREPROCESS_JOB_KEY, PREPROCESS_OUTPUT_KEY = "preprocess.job_id", "preprocess.output_dir"


def default_tensors_dir(client: Any) -> str:
    """The Preprocess page's job output, else the newest finished preprocess run's, else its input."""
    try:
        runs = client.request("runs", {"kinds": ["preprocess"]})["runs"]
    except StudioError:
        runs = []
    mine = st.session_state.get(PREPROCESS_JOB_KEY)
    for run in [r for r in runs if r["id"] == mine] + runs:
        if run["state"] == "done" and (run.get("result") or {}).get("output_dir"):
            return str(run["result"]["output_dir"])
    return str(st.session_state.get(PREPROCESS_OUTPUT_KEY) or "")


@dataclass(frozen=True)
class ResumePoint:
    """One resumable checkpoint of an earlier training run (as the daemon's `runs` lists it)."""

    path: str
    run: str
    name: str
    epoch: int | None
    step: int | None

    @property
    def label(self) -> str:
        return f"{self.run} · {self.name} (epoch {self.epoch}, step {self.step})"


def resume_points(client: Any) -> list[ResumePoint]:
    """Every resumable checkpoint of the training runs, newest run first, latest step first."""
    try:
        runs = client.request("runs", {"kinds": ["train"]})["runs"]
    except StudioError:
        return []
    return [ResumePoint(o["path"], run["id"], o["name"], o.get("epoch"), o.get("step"))
            for run in runs
            for o in sorted(run["outputs"], key=lambda o: o.get("step") or 0, reverse=True) if o["resumable"]]


def resume_check(client: Any, checkpoint: str, values: dict) -> dict:
    """The daemon's answer for resuming from `checkpoint` with the form's values: the checkpoint's
    `settings` and the `differences` that would refuse it (the rule lives in the daemon)."""
    return client.request("resume_check", {"checkpoint": checkpoint, "settings": values})


def auto_preset(client: Any, presets: list[PresetInfo]) -> tuple[str, str]:
    """(preset name, why): the preset that fits the daemon's GPU (shared.preset_advice)."""
    try:
        gpu = client.request("gpu", {}, timeout=2.0, retries=0)
    except StudioError:
        gpu = {"available": False, "reason": "GPU status unknown"}
    choice = choose_preset(gpu, presets)
    return choice.name, choice.reason
