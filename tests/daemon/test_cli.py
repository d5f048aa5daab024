"""The command line against a real daemon: what its text says, flags anywhere, pipes that close."""
from __future__ import annotations

import json
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


def test_json_and_the_common_flags_are_accepted_after_the_verb_too(daemon, tmp_path):
    daemon.wait(daemon.submit("selftest", {"steps": 1, "step_seconds": 0}), timeout=30)
    before = cli(daemon.home, "--json", "jobs")
    after = cli(daemon.home, "jobs", "--json")  # as the README writes it
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout) == json.loads(before.stdout) and json.loads(after.stdout)[0]["state"] == "done"
    elsewhere = subprocess.run([sys.executable, "-m", "shared.cli", "status", "--json", "--home", str(daemon.home),
                                "--timeout", "5"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert json.loads(elsewhere.stdout)["pid"] == daemon.info["pid"]
    assert json.loads(cli(tmp_path, "presets", "--json").stdout)[0]["name"]
    assert not cli(daemon.home, "jobs").stdout.lstrip().startswith("[")  # without it: the table


def test_a_reader_that_stops_early_is_no_error(daemon):
    for argv in (["settings", "train"], ["jobs"], ["status", "--json"]):
        # `acestep-studio ... | head -1`: the reader closes the pipe after one line
        proc = subprocess.Popen([sys.executable, "-m", "shared.cli", "--home", str(daemon.home), *argv],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
        proc.stdout.readline()
        proc.stdout.close()
        stderr = proc.stderr.read().decode()
        proc.stderr.close()
        proc.wait(60)
        assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
