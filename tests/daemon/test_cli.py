"""The command line against a real daemon: what its text says, flags anywhere, pipes that close."""
from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def cli(home, *args, timeout=120):
    return subprocess.run([sys.executable, "-m", "shared.cli", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_status_text_names_the_loaded_models(daemon, demo_root):
    assert "models   none loaded\n" in cli(daemon.home, "status").stdout
    job = daemon.wait(daemon.submit("load", {"checkpoint": "acestep-v15-demo", "components": ["dit"]}), timeout=120)
    assert job["state"] == "done", job.get("error")
    status = cli(daemon.home, "status")
    assert status.returncode == 0, status.stderr
    assert "models   acestep-v15-demo: dit (cpu, " in status.stdout
