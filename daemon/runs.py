"""The runs commands: what the jobs of this daemon and of earlier ones left in `<home>/runs/`.

- `runs {kinds?}`: every run, newest first: kind, state, a settings summary, best loss and
  epoch, last step, and its outputs (final/, best/, checkpoints with their epochs, resumable or not).
- `run {run_id}`: one run with its full settings and pre-flight (what it checked before step 1).
- `run_metrics {run_id, cursor?, limit?}`: its metric points after a cursor (every step logged).
- `resume_check {checkpoint, settings}`: whether a run with these settings may resume from that
  checkpoint (the rule of daemon/train/resume_rule.py) and the settings it was trained with.

Pages and the CLI use these instead of reading run folders, so they work against a daemon on
another machine. A run whose job.json says queued or running but that is not a job of this daemon
was cut off by the end of an earlier daemon: it reads as "interrupted".
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from daemon.registry import JOB_KINDS, command
from daemon.run_files import describe_output, last_step_point, outputs, read_json, read_points
from daemon.train.resume_rule import read_state_json, resume_differences
from shared.errors import JobError, ProtocolError, TrainingError
from shared.train_settings import TrainSettings, adapter_family

ACTIVE = ("queued", "running")
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
SUMMARY_SETTINGS = 5


def runs_dir(ctx: Any) -> Path:
    return ctx.jobs.runs_dir


def run_folder(ctx: Any, run_id: Any) -> Path:
    """The folder of a run, by its id (a folder name under runs/, never a path)."""
    if not isinstance(run_id, str) or not RUN_ID.match(run_id):
        raise ProtocolError(f"content.run_id: expected a run id such as 20250101-120000-train-abc123, got {run_id!r}")
    folder = runs_dir(ctx) / run_id
    if not (folder / "job.json").is_file():
        raise JobError(f"no run {run_id!r} in {runs_dir(ctx)}")
    return folder


def describe_run(ctx: Any, folder: Path) -> dict | None:
    """A run's summary: the live job's when this daemon runs it, else its job.json's."""
    live = _live_jobs(ctx).get(folder.name)
    job = live.summary() if live is not None else read_json(folder / "job.json")
    if job is None or not job.get("kind"):
        return None
    if live is None and job.get("state") in ACTIVE:
        job["state"] = "interrupted"
    saved = read_json(folder / "settings.json") or {}
    settings = saved.get("settings") if isinstance(saved.get("settings"), dict) else {}
    found = outputs(folder)
    result = job.get("result") or {}
    best = next((o for o in found if o["name"] == "best"), None)
    last = last_step_point(folder) if job["kind"] == "train" else None
    resumable = [o for o in found if o["resumable"]]
    return {
        "id": job.get("id") or folder.name, "kind": job["kind"], "state": job.get("state"),
        "submitted_at": job.get("submitted_at"), "started_at": job.get("started_at"),
        "ended_at": job.get("ended_at"), "progress": job.get("progress") or {}, "result": result,
        "actions": (job.get("actions") or []) if live is not None else [],  # what `action` accepts while it runs
        "error": (job.get("error") or {}).get("evalue"), "run_dir": str(folder),
        "summary": settings_summary(job["kind"], settings),
        **resumed_from(ctx, settings.get("resume_from")),
        "best_epoch": result.get("best_epoch", best["epoch"] if best else None),
        "best_loss": result.get("best_loss_ma5", best["loss_ma5"] if best else None),
        "last_step": result.get("global_step", last.get("step") if last else None),
        "last_loss": result.get("last_loss", last.get("loss") if last else None),
        "final": next((o["path"] for o in found if o["name"] == "final"), None),
        "outputs": found,
        "resumable": bool(resumable),
        "resume_from": max(resumable, key=lambda o: o["step"] or 0)["path"] if resumable else None,
    }


def resumed_from(ctx: Any, checkpoint: Any) -> dict:
    """The checkpoint a run resumed from, and when it lies in a run folder here, that run and the step
    it was saved at (so a chart can draw the earlier run's steps first)."""
    if not isinstance(checkpoint, str) or not checkpoint:
        return {"resumed_from": None, "resumed_from_run": None, "resumed_at_step": None}
    path = Path(checkpoint)
    inside = len(path.parents) > 2 and path.parents[1].parent == runs_dir(ctx)
    saved = describe_output(path, path.name) if inside else None
    return {"resumed_from": checkpoint, "resumed_from_run": path.parents[1].name if saved else None,
            "resumed_at_step": saved["step"] if saved else None}


def settings_summary(kind: str, settings: dict) -> str:
    """The few settings that tell runs apart: for training the adapter's shape, learning rate and
    length; for other kinds the ones that differ from the defaults."""
    if kind == "train":
        return train_summary({**TrainSettings().to_dict(), **settings})
    spec = JOB_KINDS.get(kind)
    defaults = spec.settings().to_dict() if spec is not None else {}
    changed = [f"{n} {v}" for n, v in settings.items() if defaults.get(n) != v and not isinstance(v, (dict, list))]
    return " · ".join(changed[:SUMMARY_SETTINGS])


def train_summary(s: dict) -> str:
    """e.g. "lokr dim 16 alpha 32 factor -1 · lr 0.0005 adamw · 100 epochs, at most 40 steps · batch 1x4"."""
    if adapter_family(str(s["adapter_type"])) == "lycoris":
        shape = f"{s['adapter_type']} dim {s['lokr_linear_dim']} alpha {s['lokr_linear_alpha']}"
        shape += f" factor {s['lokr_factor']}" if s["adapter_type"] == "lokr" else ""
    else:
        shape = f"{s['adapter_type']} rank {s['rank']} alpha {s['alpha']}"
    length = f"{s['epochs']} epochs" + (f", at most {s['max_steps']} steps" if s.get("max_steps") else "")
    return " · ".join([shape, f"lr {s['learning_rate']:g} {s['optimizer']}", length,
                       f"batch {s['batch_size']}x{s['gradient_accumulation']}"])


def _live_jobs(ctx: Any) -> dict[str, Any]:
    return {job.id: job for job in ctx.jobs.list()}


@command("runs")
def runs(ctx: Any, content: dict) -> dict:
    """Every run folder's summary, newest first; `kinds` keeps only those job kinds."""
    kinds = content.get("kinds")
    if kinds is not None and (not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds)):
        raise ProtocolError(f"content.kinds: expected a list of job kinds, got {kinds!r}")
    found = []
    for folder in runs_dir(ctx).iterdir():
        if folder.is_dir() and (folder / "job.json").is_file():
            run = describe_run(ctx, folder)
            if run is not None and (kinds is None or run["kind"] in kinds):
                found.append(run)
    # ids start with the second they were made in: two runs of one second are told apart by the time
    # they were submitted
    found.sort(key=lambda r: (r["id"][:15], r.get("submitted_at") or 0, r["id"]), reverse=True)
    return {"runs": found}


@command("run")
def run(ctx: Any, content: dict) -> dict:
    """One run, with its settings and pre-flight (config.json) as well."""
    folder = run_folder(ctx, content.get("run_id"))
    summary = describe_run(ctx, folder)
    if summary is None:
        raise JobError(f"{folder / 'job.json'}: not a job summary this studio reads")
    saved = read_json(folder / "settings.json") or {}
    config = read_json(folder / "config.json") or {}
    return {"run": {**summary, "settings": saved.get("settings") or {}, "preflight": config.get("preflight") or {}}}


@command("run_metrics")
def run_metrics(ctx: Any, content: dict) -> dict:
    """A run's metric points after `cursor` (see daemon.run_files.read_points), at most `limit`."""
    folder = run_folder(ctx, content.get("run_id"))
    cursor, limit = content.get("cursor", ""), content.get("limit", 5000)
    if not isinstance(cursor, str):
        raise ProtocolError(f"content.cursor: expected the cursor of the last reply, got {cursor!r}")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 5000:
        raise ProtocolError(f"content.limit: expected an integer from 1 to 5000, got {limit!r}")
    return read_points(folder, cursor, limit)


@command("resume_check")
def resume_check(ctx: Any, content: dict) -> dict:
    """Whether training with `settings` (the defaults where left out) may resume from `checkpoint`,
    and the settings the checkpoint was trained with."""
    checkpoint, settings = content.get("checkpoint"), content.get("settings", {})
    if not isinstance(checkpoint, str) or not checkpoint:
        raise ProtocolError(f"content.checkpoint: expected a checkpoint folder, got {checkpoint!r}")
    if not isinstance(settings, dict):
        raise ProtocolError(f"content.settings: expected an object, got {type(settings).__name__}")
    folder = Path(checkpoint).expanduser()
    state = read_state_json(folder)
    if state is None:
        raise TrainingError(f"{folder}: not a checkpoint a run can resume from (no complete training state)")
    current = TrainSettings.from_dict({k: v for k, v in settings.items() if k != "resume_from"})
    return {"checkpoint": str(folder), "epoch": state.get("epoch"), "step": state.get("global_step"),
            "settings": state["settings"],
            "differences": resume_differences(state["settings"], current.to_dict(), current.strict_resume)}
