"""Helpers for CLI verbs: the client from the common flags, tables, JSON, following a job."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any
from collections.abc import Iterable, Sequence

from shared.client import StudioClient


def client_from_args(args: argparse.Namespace) -> StudioClient:
    return StudioClient(home=getattr(args, "home", None), timeout=getattr(args, "timeout", 10.0))


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def print_table(rows: Iterable[dict], columns: Sequence[str], headers: Sequence[str] | None = None) -> None:
    """A plain left-aligned table; values are shown with str()."""
    rows = list(rows)
    headers = list(headers or [c.upper() for c in columns])
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
    if not rows:
        print("(none)")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def format_bytes(value: int | None) -> str:
    """Sizes as people read them: GiB from 1 GiB up, MiB below; '-' when unknown."""
    if value is None:
        return "-"
    return f"{value / 2**30:.2f} GiB" if value >= 2**30 else f"{value / 2**20:.1f} MiB"


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


def progress_line(progress: dict, width: int = 30) -> str:
    fraction = float(progress.get("fraction") or 0.0)
    filled = int(round(fraction * width))
    bar = "#" * filled + "-" * (width - filled)
    done, total = progress.get("done", 0), progress.get("total", 0)
    message = progress.get("message") or ""
    return f"[{bar}] {done}/{total} {fraction * 100:5.1f}% ETA {format_seconds(progress.get('eta_s'))} {message}"


def wait_for_job(client: StudioClient, job_id: str, args: argparse.Namespace) -> int:
    """Follow a job with a progress bar (or JSON events with --json); non-zero exit unless done."""
    as_json = getattr(args, "json", False)
    tty = sys.stderr.isatty()

    def on_event(event: dict) -> None:
        if as_json:
            print(json.dumps(event, default=str), flush=True)
        elif event["type"] == "progress":
            line = progress_line(event["data"])
            print(("\r" + line) if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)
        elif event["type"] == "log":
            print(("\n" if tty else "") + f"{event['data'].get('level', 'info')}: {event['data'].get('message')}",
                  file=sys.stderr, flush=True)

    job = client.wait(job_id, on_event=on_event)
    if as_json:
        print_json({"job": job})
    else:
        print(("\n" if tty else "") + f"job {job_id}: {job['state']}", file=sys.stderr)
        if job.get("error"):
            print(f"error: {job['error']['ename']}: {job['error']['evalue']}", file=sys.stderr)
        for line in outputs_of(job):
            print(line)
    return 0 if job["state"] == "done" else 1


def outputs_of(job: dict) -> list[str]:
    """What a finished job made, where: a training's final adapter and best epoch, or the
    checkpoint a stopped one resumes from."""
    result = job.get("result") or {}
    lines = []
    if result.get("final"):
        best = result.get("best_epoch")
        lines.append(f"final adapter: {result['final']}" + (f"  (best epoch {best})" if best is not None else
                                                             "  (the last epoch's weights)"))
    if job.get("state") == "stopped" and result.get("last_checkpoint"):
        lines.append(f"resume from: {result['last_checkpoint']}")
    return lines


def submit_job(args: argparse.Namespace, kind: str, settings: dict) -> int:
    """Submit a job for a verb and print its id, or follow it with --wait (non-zero unless done).

    Every verb that starts a job goes through here, so they all behave alike."""
    client = client_from_args(args)
    job_id = client.submit(kind, settings)
    if getattr(args, "wait", False):
        if not args.json:
            print(f"job {job_id} submitted", file=sys.stderr)
        return wait_for_job(client, job_id, args)
    if args.json:
        print_json({"job_id": job_id})
    else:
        print(job_id)  # alone on stdout, so `JOB=$(acestep-studio ...)` works
        print(f"{kind} job queued; follow it with `acestep-studio logs {job_id} -f`", file=sys.stderr)
    return 0
