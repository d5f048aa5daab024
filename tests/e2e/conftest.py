"""The studio as a user starts it (`run_dashboard.py --start-daemon` in a fresh studio home, on free
loopback ports), and Debian's Chromium driven by Playwright. Run with `make e2e` (it sets
ACESTEP_E2E=1); a plain `pytest` skips these tests. No browser is ever downloaded.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM = os.environ.get("ACESTEP_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"


def pytest_collection_modifyitems(config, items) -> None:
    reason = None
    if os.environ.get("ACESTEP_E2E") != "1":
        reason = "end-to-end browser walk: run it with `make e2e`"
    elif not Path(CHROMIUM).is_file():
        reason = f"no Chromium at {CHROMIUM} (`make e2e` installs Debian's)"
    for item in items:
        if "tests/e2e" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Studio:
    url: str
    home: Path
    demo_root: Path
    proc: subprocess.Popen

    def log(self) -> str:
        path = self.home / "dashboard.out"
        return path.read_text(errors="replace")[-6000:] if path.exists() else ""


@pytest.fixture
def studio(tmp_path, demo_root) -> Iterator[Studio]:
    """The dashboard and its daemon, started by run_dashboard.py as `make run` does, in a temporary
    studio home; Ctrl-C (SIGINT) afterwards stops both, the daemon gracefully."""
    home = tmp_path / "studio"
    home.mkdir()
    port = free_port()
    env = {**os.environ, "ACESTEP_STUDIO_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    out = open(home / "dashboard.out", "ab")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "run_dashboard.py"), "--start-daemon", "--home", str(home), "--port", str(port),
         "--demo-root", str(demo_root), "--checkpoint-roots", str(tmp_path / "no-checkpoints")],
        cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # Ctrl-C works even under nohup
    studio = Studio(f"http://127.0.0.1:{port}", home, Path(demo_root), proc)
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, f"run_dashboard.py exited: {studio.log()}"
        try:
            urllib.request.urlopen(f"{studio.url}/_stcore/health", timeout=2).read()
            break
        except OSError:
            assert time.monotonic() < deadline, f"the dashboard did not answer: {studio.log()}"
            time.sleep(0.5)
    yield studio
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(90)
    except subprocess.TimeoutExpired:
        proc.kill()
    out.close()


@pytest.fixture
def artifacts(request) -> Path:
    """test-artifacts/e2e/<test>/: the screenshots of the walk, kept for a person to look at."""
    folder = ARTIFACTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so the page fixture knows the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def page(request, artifacts):
    """A Chromium page, 1400 px wide like a laptop screen; a failed test leaves failure.png."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.set_default_timeout(30_000)
        yield page
        if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
            page.screenshot(path=str(artifacts / "failure.png"), full_page=True)
            (artifacts / "failure.txt").write_text(f"{page.url}\n\n{page.inner_text('body')}")
        browser.close()
