"""Where a studio instance keeps its state: `ACESTEP_STUDIO_HOME`, default `./.studio`.

The home holds the daemon's connection file, its lock, its log and the run folders, so several
instances (and the tests) stay apart by pointing at different homes.
"""
from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

ENV_HOME = "ACESTEP_STUDIO_HOME"


def studio_home(home: str | os.PathLike | None = None) -> Path:
    """The studio home folder (created when missing)."""
    chosen = Path(home) if home else Path(os.environ.get(ENV_HOME) or Path.cwd() / ".studio")
    chosen = chosen.expanduser().absolute()
    chosen.mkdir(mode=0o700, parents=True, exist_ok=True)
    return chosen


def make_private(home: Path) -> None:
    """Make the home 0700 (it holds the key, the log and every run), unless it is a shared
    sticky folder such as /tmp, which is left as it is with a warning."""
    mode = stat.S_IMODE(home.stat().st_mode)
    if not mode & 0o077:
        return
    if mode & stat.S_ISVTX:
        log.warning("the studio home %s is a shared folder (mode %o); give the studio a folder of its own",
                    home, mode)
        return
    os.chmod(home, 0o700)


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
