"""The daemon's own commands: ping, status, submit, cancel, stop, action, jobs, job, events, shutdown."""
from __future__ import annotations

import json
import os
import time
from typing import Any

from daemon.registry import JOB_KINDS, command
from shared.errors import ProtocolError

SNAPSHOT_METRICS = 1000  # points in a status that asks for the latest ones
MAX_METRICS = 5000  # points in one status at most; a page asks again from the last seq it got


def _count_field(content: dict, name: str, default: int | None) -> int | None:
    value = content.get(name, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProtocolError(f"content.{name}: expected an integer >= 0, got {value!r}")
    return value


def _str_field(content: dict, name: str, required: bool = True) -> str | None:
    value = content.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"content.{name}: expected a non-empty string, got {value!r}")
    return value


@command("ping")
def ping(ctx: Any, content: dict) -> dict:
    return {"pong": True, "pid": os.getpid(), "daemon_session": ctx.bus.daemon_session, "time": time.time()}


@command("status")
def status(ctx: Any, content: dict) -> dict:
    """A snapshot, enough for a page opened late to draw everything it shows.

    Metric points of the running (else the last) job: with `metrics_since` (a seq) those after it,
    oldest first, which is what a page polling for new points sends; without, the latest
    `metrics_limit` (default 1000; pages that draw no chart pass 0). `metrics_more` says a page
    should ask again from the last point's seq.
    """
    since = _count_field(content, "metrics_since", None)
    limit = min(_count_field(content, "metrics_limit", MAX_METRICS if since is not None else SNAPSHOT_METRICS),
                MAX_METRICS)
    running = ctx.jobs.running()
    jobs = ctx.jobs.list()
    metrics_job = running.id if running else (jobs[-1].id if jobs else None)
    if since is None:
        metrics = ctx.bus.recent_metrics(metrics_job, limit)
    else:
        metrics = ctx.bus.metrics_since(metrics_job, since, limit)
    models = ctx.services.built("models")
    return {
        "daemon_session": ctx.bus.daemon_session,
        "pid": os.getpid(),
        "uptime_s": time.time() - ctx.server.started,
        "home": str(ctx.server.home),
        "owner_pid": ctx.config.owner_pid,  # a dashboard that started the daemon: it stops when that exits
        "device": models.describe_device() if models is not None else {"device": ctx.config.device,
                                                                         "resolved": False},
        "models": models.snapshot() if models is not None else {},
        "running": running.summary() if running else None,
        "queue": [j.summary() for j in ctx.jobs.queued()],
        "jobs_total": len(jobs),
        "last_seq": ctx.bus.last_seq,
        "metrics_job": metrics_job,
        "metrics": metrics,
        "metrics_more": since is not None and len(metrics) == limit > 0,
        "job_kinds": sorted(JOB_KINDS),
    }


@command("submit", state_changing=True)
def submit(ctx: Any, content: dict) -> dict:
    kind = _str_field(content, "kind")
    settings = content.get("settings", {})
    if not isinstance(settings, dict):
        raise ProtocolError(f"content.settings: expected an object, got {type(settings).__name__}")
    job = ctx.jobs.submit(kind, settings, request_msg_id=ctx.msg_id)
    return {"job_id": job.id, "job": job.summary()}


@command("cancel", state_changing=True)
def cancel(ctx: Any, content: dict) -> dict:
    return {"job": ctx.jobs.cancel(_str_field(content, "job_id")).summary()}


@command("stop", state_changing=True)
def stop(ctx: Any, content: dict) -> dict:
    """Stop the running job gracefully: it saves first, then ends as stopped."""
    return {"job": ctx.jobs.stop(_str_field(content, "job_id", required=False)).summary()}


@command("action", state_changing=True)
def action(ctx: Any, content: dict) -> dict:
    """Ask the running job for an action its kind supports (`save_now` for training)."""
    name = _str_field(content, "name")
    job = ctx.jobs.action(_str_field(content, "job_id", required=False), name)
    return {"job": job.summary(), "action": name}


@command("jobs")
def jobs(ctx: Any, content: dict) -> dict:
    return {"jobs": [j.summary() for j in ctx.jobs.list()]}


@command("job")
def job(ctx: Any, content: dict) -> dict:
    return {"job": ctx.jobs.get(_str_field(content, "job_id")).summary()}


@command("events")
def events(ctx: Any, content: dict) -> dict:
    """Events after `since` still in the ring buffer, to fill a gap a subscriber noticed."""
    since = content.get("since", 0)
    limit = content.get("limit", 1000)
    if not isinstance(since, int) or not isinstance(limit, int) or limit < 1:
        raise ProtocolError("content.since and content.limit must be integers (limit >= 1)")
    return {"events": ctx.bus.since(since, min(limit, 5000)), "last_seq": ctx.bus.last_seq}


@command("shutdown", state_changing=True)
def shutdown(ctx: Any, content: dict) -> dict:
    """Stop the daemon: the running job is stopped gracefully (it saves), queued jobs are cancelled."""
    ctx.server.request_shutdown("shutdown command")
    return {"shutting_down": True}


@command("job_events")
def job_events(ctx: Any, content: dict) -> dict:
    """A job's events from its events.jsonl (complete, unlike the ring buffer), after `since`."""
    job = ctx.jobs.get(_str_field(content, "job_id"))
    since = content.get("since", 0)
    if not isinstance(since, int):
        raise ProtocolError("content.since must be an integer")
    path = job.run_dir / "events.jsonl"
    events = []
    if path.exists():
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    event = json.loads(line)
                    if event["seq"] > since:
                        events.append(event)
    return {"events": events[:5000], "job": job.summary()}
