"""What a pipeline remembers between runs: one `pipeline.json` per song folder, in the studio home.

    work = work_folder(home, "/music/songs")        # <home>/pipelines/songs-1a2b3c4d5e/
    record = PipelineRecord.load(work, folder)
    record.stage("train")                           # {"key", "state", "jobs", "output", "reason"...}

Each stage is recorded with the fingerprint of its inputs (`key`: its resolved settings plus the
output of the stage before it), its jobs and its output. A stage whose recorded key equals the key
of this run and whose state is done is reused; any other is run again, and so are the stages
after it, because their keys include its output. The folder's own state is fingerprinted too
(`folder_state`): the scan and labelling stages change the folder, so the state they left it in
is kept, and a folder found that way counts as unchanged.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

from shared.atomic import write_json_atomic
from shared.dataset_scan import AUDIO_EXTENSIONS

log = logging.getLogger(__name__)

FORMAT = "acestep-studio-pipeline"
VERSION = 1
RECORD_FILE = "pipeline.json"
PIPELINES_DIR = "pipelines"
LABEL_SUFFIXES = (".json", ".txt", ".csv")  # sidecars, the dataset file, label CSVs: read whole
LABEL_FILE_LIMIT = 4 * 2**20  # larger "label" files are fingerprinted by size and time, like audio


def digest(*parts: Any) -> str:
    """A stable fingerprint of JSON-able parts."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def work_folder(home: Path, folder: Path) -> Path:
    """The pipeline's own folder for a song folder: its record and training tensors."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", folder.name).strip("-.")[:40] or "songs"
    return Path(home) / PIPELINES_DIR / f"{slug}-{digest(str(folder))[:10]}"


def folder_state(folder: Path) -> str:
    """A fingerprint of what a scan reads: every audio file (path, size, time) and every label file
    (path, content), hidden ones and backups skipped, as the scan skips them."""
    entries = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or name.endswith(".bak"):
                continue
            path = Path(dirpath) / name
            rel = path.relative_to(folder).as_posix()
            lowered = name.lower()
            try:
                info = path.stat()
                if lowered.endswith(LABEL_SUFFIXES) and info.st_size <= LABEL_FILE_LIMIT:
                    entries.append((rel, hashlib.sha256(path.read_bytes()).hexdigest()))
                elif lowered.endswith(AUDIO_EXTENSIONS + LABEL_SUFFIXES):
                    entries.append((rel, info.st_size, info.st_mtime_ns))
            except OSError as err:  # unreadable now: the scan will say so; the state still differs
                entries.append((rel, f"unreadable: {err.strerror}"))
    return digest(entries)


class PipelineRecord:
    """The stages of the pipeline of one folder as its last runs left them (pipeline.json)."""

    def __init__(self, path: Path, data: dict) -> None:
        self.path = path
        self.data = data

    @classmethod
    def load(cls, work: Path, folder: Path) -> "PipelineRecord":
        """The record in `work`, or a fresh one (a record that cannot be read starts over, said in the log)."""
        path = work / RECORD_FILE
        fresh = {"format": FORMAT, "version": VERSION, "folder": str(folder), "folder_left": None, "stages": {}}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path, fresh)
        except (OSError, ValueError) as err:
            log.warning("%s cannot be read (%s); every stage runs again", path, err)
            return cls(path, fresh)
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION \
                or not isinstance(data.get("stages"), dict):
            log.warning("%s is not a pipeline record of this version; every stage runs again", path)
            return cls(path, fresh)
        return cls(path, data)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path, self.data)

    def stage(self, name: str) -> dict:
        """The stage's record ({} when it never ran)."""
        found = self.data["stages"].get(name)
        return found if isinstance(found, dict) else {}

    def reusable(self, name: str, key: str) -> bool:
        """True when the stage finished with exactly these inputs."""
        stage = self.stage(name)
        return stage.get("state") == "done" and stage.get("key") == key

    def begin(self, name: str, key: str) -> dict:
        """Mark the stage running with `key`; jobs of an earlier try with the same key are kept (a
        stage made of several jobs reuses those that finished)."""
        old = self.stage(name)
        stage = {"key": key, "state": "running", "started_at": time.time(), "output": None, "reason": "",
                 "jobs": old.get("jobs", {}) if old.get("key") == key else {}}
        self.data["stages"][name] = stage
        self.save()
        return stage

    def job(self, name: str, part: str, summary: dict) -> None:
        """Record one job of a stage (its id, folder, state and result) as soon as it is known."""
        self.data["stages"][name]["jobs"][part] = {"id": summary["id"], "run_dir": summary["run_dir"],
                                                   "state": summary["state"], "result": summary.get("result")}
        self.save()

    def reject(self, name: str, part: str) -> None:
        """A job that ended done but whose result the stage refused (no song encoded): never reused."""
        self.data["stages"][name]["jobs"][part]["state"] = "refused"
        self.save()

    def end(self, name: str, state: str, output: Any = None, reason: str = "") -> None:
        stage = self.data["stages"][name]
        stage.update(state=state, output=output, reason=reason, ended_at=time.time())
        self.save()

    @property
    def folder_left(self) -> str | None:
        """The folder's state when the pipeline last changed it (after the scan or the labelling)."""
        return self.data.get("folder_left")

    @folder_left.setter
    def folder_left(self, state: str) -> None:
        self.data["folder_left"] = state
        self.save()
