"""The README's commands run as written, in order, on the demo assets (issue 9 item 5).

Every fenced block of README.md is run, top to bottom, as one bash script (`set -e`; a python
block through the activated venv's `python`) in a fresh folder that holds a copy of the demo assets
and a link to the project's `.venv`, against a daemon started there as `make run` starts one, with
its home at the default `./.studio`. A block preceded by a line `<!-- readme-test: skip REASON -->`
is left out (the quick start's `make run` / `make test`: they are what runs this test).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.conftest import ROOT, DaemonProcess

FENCE = re.compile(r"(?P<before>[^\n]*)\n```(?P<lang>[a-z]*)\n(?P<body>.*?)\n```", re.S)
SKIP = "<!-- readme-test: skip"


def readme_script() -> str:
    """The README's blocks, in order and without the skipped ones, as one bash script."""
    text = (ROOT / "README.md").read_text()
    parts = ["set -euo pipefail", "set -x"]
    for match in FENCE.finditer(text):
        if match["before"].strip().startswith(SKIP):
            continue
        body = match["body"]
        parts.append(f"python - <<'PYTHON'\n{body}\nPYTHON" if match["lang"] == "python" else body)
    return "\n".join(parts)


def test_the_readme_has_blocks_to_run_and_skips_only_what_says_why():
    script = readme_script()
    assert "acestep-studio train" in script and "python - <<'PYTHON'" in script
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
    env = {**os.environ, "HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    env.pop("ACESTEP_STUDIO_HOME", None)  # the README relies on the default home, ./.studio
    try:
        done = subprocess.run(["bash", "-c", readme_script()], cwd=work, env=env, capture_output=True,
                              text=True, timeout=1500)
        assert done.returncode == 0, f"README commands failed:\n{done.stderr[-6000:]}\n{done.stdout[-2000:]}"
    finally:
        daemon.stop()
