"""The README's commands run as written, in order, on the demo assets (issue 9 item 5).

Every fenced shell block of README.md is run, top to bottom, as one bash script (`set -e`) in a
fresh folder that holds a copy of the demo assets and a link to the project's `.venv`, against a
daemon started there as `make run` starts one. A block preceded by a line
`<!-- readme-test: skip ... -->` is left out (the quick start's `make run` / `make test`: this test
is what they run). Python blocks are run with the project's interpreter after the shell blocks.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, DaemonProcess

FENCE = re.compile(r"(?P<before>[^\n]*)\n```(?P<lang>[a-z]*)\n(?P<body>.*?)\n```", re.S)
SKIP = "<!-- readme-test: skip"


def readme_blocks() -> tuple[list[str], list[str]]:
    """The README's shell blocks and python blocks, in order, without the skipped ones."""
    text = (ROOT / "README.md").read_text()
    shell, python = [], []
    for match in FENCE.finditer(text):
        if match["before"].strip().startswith(SKIP):
            continue
        (python if match["lang"] == "python" else shell).append(match["body"])
    return shell, python


def test_the_readme_has_blocks_to_run_and_skips_only_what_says_why():
    shell, python = readme_blocks()
    assert len(shell) >= 3 and python
    text = (ROOT / "README.md").read_text()
    for line in text.splitlines():
        if line.startswith(SKIP):
            assert len(line.split(SKIP, 1)[1].strip(" ->")) > 10, f"a skip needs a reason: {line}"


@pytest.mark.slow
def test_every_readme_command_runs_as_written(demo_root, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(demo_root, work / "demo_assets", symlinks=True)
    (work / ".venv").symlink_to(ROOT / ".venv")
    (tmp_path / "home").mkdir()
    daemon = DaemonProcess(work / ".studio", "--demo-root", str(work / "demo_assets"))
    (work / ".studio").mkdir()
    daemon.start(timeout=60)
    shell, python = readme_blocks()
    env = {**os.environ, "HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    env.pop("ACESTEP_STUDIO_HOME", None)  # the README relies on the default home, ./.studio
    try:
        script = "set -euo pipefail\nset -x\n" + "\n".join(shell)
        done = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True,
                              timeout=1500)
        assert done.returncode == 0, f"README shell blocks failed:\n{done.stderr[-6000:]}\n{done.stdout[-2000:]}"
        for block in python:
            ran = subprocess.run([sys.executable, "-c", block], cwd=work, env=env, capture_output=True, text=True,
                                 timeout=300)
            assert ran.returncode == 0, f"README python block failed:\n{block}\n{ran.stderr[-4000:]}"
    finally:
        daemon.stop()
