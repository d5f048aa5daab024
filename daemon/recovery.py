"""What a new daemon does with the run folders a dead one left behind, before it takes a job.

A daemon that was killed (SIGKILL, power loss) leaves `job.json` saying "running" or "queued"
forever, and a save it was in the middle of leaves a hidden `.tmp-*` folder. Where the file system
cannot swap two folders in one step, a kill between the two renames of a replacement leaves the
older folder aside as `.old-<name>-<pid>` and no `<name>`. At start, with the home's lock held (so
no other daemon is writing), such jobs are marked "interrupted" with the checkpoint they can resume
from, an older folder set aside is put back where its replacement never arrived, and the temporary
leftovers are removed.
"""
from __future__ import annotations

import json
import logging
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from shared.atomic import write_json_atomic

log = logging.getLogger(__name__)

LEFT_ACTIVE = ("queued", "running")
TMP_PREFIX = ".tmp-"  # shared.atomic.write_folder_atomic's hidden folder of a save in progress
TMP_FILE = ".*.tmp"  # shared.atomic.write_file_atomic's hidden file of a write in progress
OLD_FOLDER = re.compile(r"\.old-(?P<name>.+)-\d+")  # write_folder_atomic's older folder, set aside
ResumePoint = Callable[[str, Path], Path | None]


def recover_runs(runs_dir: Path, resume_point: ResumePoint) -> list[tuple[Path, dict]]:
    """Mark the jobs a dead daemon left active as interrupted; returns (run folder, new job.json).

    `resume_point(kind, run_dir)` names the folder such a job resumes from (None: start again)."""
    interrupted = []
    for run_dir in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
        remove_stale_temporaries(run_dir)
        job = _read_job(run_dir)
        if job is None or job.get("state") not in LEFT_ACTIVE:
            continue
        interrupted.append((run_dir, mark_interrupted(run_dir, job, resume_point(str(job.get("kind")), run_dir))))
    return interrupted


def mark_interrupted(run_dir: Path, job: dict, resume_from: Path | None) -> dict:
    was = job.get("state")
    events = run_dir / "events.jsonl"
    hint = f"resume it from {resume_from}" if resume_from else "it saved no checkpoint; run it again"
    job.update({
        "progress": _last_progress(events) or job.get("progress") or {},
        "state": "interrupted",
        "ended_at": events.stat().st_mtime if events.exists() else time.time(),
        "resume_from": str(resume_from) if resume_from else None,
        "error": {"ename": "Interrupted", "user_error": True,
                  "evalue": f"the daemon stopped while this job was {was}; {hint}"},
    })
    write_json_atomic(run_dir / "job.json", job)
    log.warning("job %s was %s when its daemon died: marked interrupted (%s)", run_dir.name, was, hint)
    return job


def remove_stale_temporaries(run_dir: Path) -> None:
    """Hidden `.tmp-*` folders and `.*.tmp` files of writes a kill interrupted, in the run folder
    and one level down (checkpoints/, best/...)."""
    for parent in [run_dir, *(p for p in run_dir.iterdir() if p.is_dir() and not p.name.startswith(TMP_PREFIX))]:
        put_back_set_aside_folders(parent)
        stale = [*parent.glob(f"{TMP_PREFIX}*"), *(p for p in parent.glob(TMP_FILE) if p.is_file())]
        for path in stale:
            log.info("removing %s, left by an interrupted save", path)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def put_back_set_aside_folders(parent: Path) -> None:
    """An `.old-<name>-<pid>` folder is the last complete `<name>`: put back where `<name>` is
    missing (its replacement was cut short), removed where the replacement arrived."""
    for aside in parent.glob(".old-*"):
        match = OLD_FOLDER.fullmatch(aside.name)
        if match is None or not aside.is_dir() or aside.is_symlink():
            continue
        target = parent / match["name"]
        if target.exists():
            log.info("removing %s, the older %s a save replaced", aside, target.name)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            log.warning("putting back %s: a save that was replacing it was interrupted", target)
            aside.rename(target)


def _last_progress(events: Path, tail_bytes: int = 65536) -> dict | None:
    """The data of the job's last progress event (job.json is only written on state changes)."""
    try:
        with open(events, "rb") as fh:
            fh.seek(max(0, fh.seek(0, 2) - tail_bytes))
            lines = fh.read().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            event = json.loads(line)
        except ValueError:
            continue  # the first line of the tail is cut, the last one may be half-written
        if isinstance(event, dict) and event.get("type") == "progress" and isinstance(event.get("data"), dict):
            return event["data"]
    return None


def _read_job(run_dir: Path) -> dict | None:
    try:
        job = json.loads((run_dir / "job.json").read_text())
    except (OSError, ValueError):
        return None
    return job if isinstance(job, dict) else None
