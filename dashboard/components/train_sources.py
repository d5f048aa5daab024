"""Where the Train page's defaults come from: the last preprocessing output, the checkpoints of
earlier runs (read from the studio home: the dashboard runs on the daemon's machine), and the
preset that fits the GPU. Plain functions, no widgets; nothing here imports torch.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from shared.errors import StudioError
from shared.preset_advice import choose_preset
from shared.presets import PresetInfo
from shared.train_settings import ADAPTER_SHAPE_SETTINGS

PREPROCESS_JOB_KEY, PREPROCESS_OUTPUT_KEY = "preprocess.job_id", "preprocess.output_dir"
STATE_JSON = "training_state.json"


def default_tensors_dir(client: Any) -> str:
    """The Preprocess page's job output, else the newest finished preprocess job's, else its input."""
    jobs: list[dict] = []
    try:
        jobs = client.jobs()
    except StudioError:
        pass
    mine = st.session_state.get(PREPROCESS_JOB_KEY)
    ordered = [j for j in jobs if j["id"] == mine] + list(reversed(jobs))
    for job in ordered:
        if job["kind"] == "preprocess" and job["state"] == "done":
            output = (job.get("result") or {}).get("output_dir")
            if output:
                return str(output)
    return str(st.session_state.get(PREPROCESS_OUTPUT_KEY) or "")


@dataclass(frozen=True)
class ResumePoint:
    """One resumable checkpoint folder of an earlier training run."""

    path: str
    run: str
    name: str
    mtime: float

    @property
    def label(self) -> str:
        return f"{self.run} · {self.name}"


def resume_points(home: str | Path) -> list[ResumePoint]:
    """Every `runs/<job>/checkpoints/<name>` with a training state, newest first."""
    found = []
    for state in Path(home).glob(f"runs/*/checkpoints/*/{STATE_JSON}"):
        folder = state.parent
        try:
            found.append(ResumePoint(str(folder), folder.parents[1].name, folder.name, state.stat().st_mtime))
        except OSError:
            continue  # pruned by retention while we looked
    return sorted(found, key=lambda p: p.mtime, reverse=True)


def checkpoint_settings(folder: str | Path) -> dict:
    """The settings a checkpoint was trained with (from its training_state.json), or {}."""
    try:
        state = json.loads((Path(folder) / STATE_JSON).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    settings = state.get("settings") if isinstance(state, dict) else None
    return settings if isinstance(settings, dict) else {}


def shape_differences(saved: dict, current: dict) -> list[str]:
    """Adapter-shape settings that differ between a checkpoint and the form (a resume refuses them)."""
    names = ADAPTER_SHAPE_SETTINGS
    if isinstance(names, dict):  # per adapter family, as daemon/train/state.py checks them
        names = names["lycoris" if current.get("adapter_type") in ("lokr", "loha") else "peft"]
    return [f"{n}: {saved.get(n)!r} → {current.get(n)!r}" for n in names
            if n in saved and saved.get(n) != current.get(n)]


def auto_preset(client: Any, presets: list[PresetInfo]) -> tuple[str, str]:
    """(preset name, why): the preset that fits the daemon's GPU (shared.preset_advice)."""
    try:
        gpu = client.request("gpu", {}, timeout=2.0, retries=0)
    except StudioError:
        gpu = {"available": False, "reason": "GPU status unknown"}
    choice = choose_preset(gpu, presets)
    return choice.name, choice.reason
