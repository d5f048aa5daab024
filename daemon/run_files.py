"""Reading a run folder (`<home>/runs/<job_id>/`) for clients: its outputs and its metric points.

A run folder holds `job.json`, `settings.json`, `events.jsonl` and, for training, `metrics.jsonl`
(every step and every epoch close), `config.json` (the pre-flight), `checkpoints/<name>/`, `best/`
and `final/`. Clients never open these files themselves (the daemon may be on another machine):
they ask the `runs`, `run` and `run_metrics` commands (daemon/runs.py), which read them here.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from daemon.train.policies import list_checkpoints
from daemon.train.resume_rule import read_state_json

METRICS_FILE, EVENTS_FILE = "metrics.jsonl", "events.jsonl"
ADAPTER_CONFIGS = ("adapter_config.json", "lokr_config.json", "loha_config.json")
MAX_POINTS = 5000
MAX_READ_BYTES = 4 * 2**20
TAIL_BYTES = 16_384
_OUTPUT_CACHE: dict[tuple, dict] = {}
CACHE_SIZE = 1024


def read_json(path: Path) -> dict | None:
    """A JSON object from a file, or None when it is missing, cut short or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# -- outputs ---------------------------------------------------------------------------------
def outputs(folder: Path) -> list[dict]:
    """final/, best/ and every checkpoint kept, each with its epoch, step and whether a run can
    resume from it (a complete training state this studio reads)."""
    found = [describe_output(folder / name, name) for name in ("final", "best") if (folder / name).is_dir()]
    found += [describe_output(path, f"checkpoints/{path.name}") for path in list_checkpoints(folder / "checkpoints")]
    return [entry for entry in found if entry is not None]


def describe_output(path: Path, name: str) -> dict | None:
    """One adapter or checkpoint folder; read once per version of the folder (cached by inode and time)."""
    try:
        stat = path.stat()
    except OSError:
        return None  # pruned by retention while we looked
    key = (str(path), stat.st_ino, stat.st_mtime_ns)
    if key not in _OUTPUT_CACHE:
        if len(_OUTPUT_CACHE) >= CACHE_SIZE:
            _OUTPUT_CACHE.clear()
        _OUTPUT_CACHE[key] = _read_output(path)
    return {"name": name, "path": str(path), **_OUTPUT_CACHE[key]}


def _read_output(path: Path) -> dict:
    state = read_state_json(path)
    config = next((c for c in (read_json(path / n) for n in ADAPTER_CONFIGS) if c is not None), {})
    source = state if state is not None else config
    return {"epoch": source.get("epoch"), "step": source.get("global_step"),
            "loss_ma5": config.get("loss_ma5"), "resumable": state is not None}


# -- metric points ---------------------------------------------------------------------------
def read_points(folder: Path, cursor: str = "", limit: int = MAX_POINTS) -> dict:
    """The metric points after `cursor`, oldest first, and the cursor to ask with next.

    The source is `metrics.jsonl` (every step) when the run has one, else the metric events of
    `events.jsonl`. The cursor is "<source>:<byte offset>": both files are append-only, so a
    client polling with it gets each point exactly once. `reset` is true when the source changed
    since the cursor (a training run starts writing metrics.jsonl): the client starts over.
    """
    source = METRICS_FILE if (folder / METRICS_FILE).is_file() else EVENTS_FILE
    name, _, offset_text = cursor.partition(":")
    offset = int(offset_text) if name == source and offset_text.isdigit() else 0
    reset = bool(cursor) and name != source
    points: list[dict] = []
    more = False
    try:
        with open(folder / source, "rb") as fh:
            fh.seek(offset)
            data = fh.read(MAX_READ_BYTES)
            more = len(data) == MAX_READ_BYTES
    except OSError:
        data = b""
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break  # a line still being written: read it next time
        if len(points) >= limit:
            more = True
            break
        offset += len(line)
        point = _point(line, source)
        if point is not None:
            points.append(point)
    return {"points": points, "cursor": f"{source}:{offset}", "source": source, "more": more, "reset": reset}


def _point(line: bytes, source: str) -> dict | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None  # a line cut short by a kill: the rest still reads
    if not isinstance(record, dict):
        return None
    if source == METRICS_FILE:
        return record
    if record.get("type") != "metric" or not isinstance(record.get("data"), dict):
        return None
    return {**record["data"], "seq": record.get("seq")}


def last_step_point(folder: Path) -> dict | None:
    """The newest step point of metrics.jsonl (read from its tail), or None."""
    path = folder / METRICS_FILE
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - TAIL_BYTES))
            lines = fh.read().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            point = json.loads(line)
        except ValueError:
            continue
        if isinstance(point, dict) and "loss" in point and "step" in point:
            return point
    return None
