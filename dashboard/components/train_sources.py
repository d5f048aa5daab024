"""Where the Train page's defaults come from: the last preprocessing output, the checkpoints of
earlier runs and whether one may be resumed (all asked of the daemon, which may be on another
machine), and the preset that fits the GPU. Plain functions, no widgets; nothing here imports torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from shared.errors import StudioError
from shared.presets import PresetInfo

PREPROCESS_JOB_KEY, PREPROCESS_OUTPUT_KEY = "preprocess.job_id", "preprocess.output_dir"
CPU_PRESET, FALLBACK_PRESET = "quick_test", "recommended"


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
    """(preset name, why): the largest `vram_*` preset the first GPU holds; quick test without a GPU."""
    names = {p.name for p in presets}
    try:
        gpu = client.request("gpu", {}, timeout=2.0, retries=0)
    except StudioError:
        gpu = {"available": False, "reason": "GPU status unknown"}
    if not gpu.get("available") or not gpu.get("devices"):
        name = CPU_PRESET if CPU_PRESET in names else FALLBACK_PRESET
        return name, "no GPU: a short run to see the whole workflow"
    device = gpu["devices"][0]
    total_gb = float(device.get("memory_total") or 0) / 2**30
    fitting = [p for p in presets if p.name.startswith("vram_") and p.min_vram_gb is not None
               and p.min_vram_gb <= total_gb + 0.5]
    if not fitting:
        return FALLBACK_PRESET, f"{device.get('name', 'GPU')} with {total_gb:.0f} GiB"
    best = max(fitting, key=lambda p: p.min_vram_gb or 0)
    return best.name, f"{device.get('name', 'GPU')} with {total_gb:.0f} GiB"
