"""Commands that hand a run's samples to clients that cannot read the daemon's disk (the dashboard
may run on another machine):

- `run_samples` {run_id} -> {run_id, clips: [...]}: every clip's sidecar (prompt, strength, epoch, group),
  with `audio` and `spectrogram` relative to the run folder.
- `run_file` {run_id, path, offset?} -> {data (base64), size, offset, next_offset}: a file's bytes, in
  chunks, only from inside that run's folder (no `..`, no link out of it).
"""
from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from daemon.registry import command
from daemon.sample.clips import list_clips
from shared.errors import ProtocolError

CHUNK_BYTES = 4 * 1024 * 1024


def run_folder(ctx: Any, content: dict) -> Path:
    """The run folder named by `content.run_id` (a job id), or ProtocolError."""
    run = content.get("run_id")
    if not isinstance(run, str) or not run or "/" in run or "\\" in run or run.startswith("."):
        raise ProtocolError(f"content.run_id: expected a run id (a job id), got {run!r}")
    folder = Path(ctx.jobs.runs_dir) / run
    if not folder.is_dir():
        raise ProtocolError(f"no run {run!r} in {ctx.jobs.runs_dir}")
    return folder


def file_in_run(run_dir: Path, relative: Any) -> Path:
    """`relative` resolved inside `run_dir`; ProtocolError for anything outside it or not a file."""
    if not isinstance(relative, str) or not relative:
        raise ProtocolError(f"content.path: expected a path inside the run folder, got {relative!r}")
    root = run_dir.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or path == root:
        raise ProtocolError(f"content.path: {relative!r} is outside the run folder")
    if not path.is_file():
        raise ProtocolError(f"content.path: no file {relative!r} in run {run_dir.name}")
    return path


@command("run_samples")
def run_samples(ctx: Any, content: dict) -> dict:
    folder = run_folder(ctx, content)
    return {"run_id": folder.name, "clips": list_clips(folder)}


@command("run_file")
def run_file(ctx: Any, content: dict) -> dict:
    path = file_in_run(run_folder(ctx, content), content.get("path"))
    offset = content.get("offset", 0)
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ProtocolError(f"content.offset: expected an integer >= 0, got {offset!r}")
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.seek(offset)
        data = fh.read(CHUNK_BYTES)
    end = offset + len(data)
    return {"data": base64.b64encode(data).decode("ascii"), "size": size, "offset": offset,
            "next_offset": end if end < size else None, "name": path.name}
