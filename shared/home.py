"""Where a studio instance keeps its state: `ACESTEP_STUDIO_HOME`, default `./.studio`.

The home holds the daemon's connection file, its lock, its log and the run folders, so several
instances (and the tests) stay apart by pointing at different homes.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV_HOME = "ACESTEP_STUDIO_HOME"


def studio_home(home: str | os.PathLike | None = None) -> Path:
    """The studio home folder (created when missing)."""
    chosen = Path(home) if home else Path(os.environ.get(ENV_HOME) or Path.cwd() / ".studio")
    chosen = chosen.expanduser().absolute()
    chosen.mkdir(parents=True, exist_ok=True)
    return chosen


def connection_file(home: Path) -> Path:
    return home / "daemon.json"


def lock_file(home: Path) -> Path:
    return home / "daemon.lock"


def runs_dir(home: Path) -> Path:
    path = home / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_file(home: Path) -> Path:
    return home / "daemon.log"
