"""Shared fixtures: a real daemon process on loopback in its own studio home, and the demo assets.

`daemon` yields a connected StudioClient; `daemon_proc` yields the DaemonProcess (kill, restart).
`demo_root` generates the demo checkpoint (with the demo captioner and transcriber) and the demo
dataset once per test session; `demo_manager` is a model manager on it in this process, and
`job_context` runs a job function inline.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared.client import StudioClient
from shared.errors import StudioError

ROOT = Path(__file__).resolve().parents[1]


class DaemonProcess:
    """A daemon started with `run_daemon.py` for one test, stopped (or killed) afterwards."""

    def __init__(self, home: Path, *args: str) -> None:
        self.home = Path(home)
        self.args = list(args)
        self.proc: subprocess.Popen | None = None
        self.client: StudioClient | None = None

    def start(self, timeout: float = 30.0) -> StudioClient:
        (self.home / "daemon.json").unlink(missing_ok=True)
        env = {**os.environ, "ACESTEP_STUDIO_HOME": str(self.home), "PYTHONUNBUFFERED": "1"}
        self.log = open(self.home / "daemon.stderr", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "run_daemon.py"), "--home", str(self.home), *self.args],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.proc.returncode}: {self.stderr()}")
            if (self.home / "daemon.json").exists():
                try:
                    self.client = StudioClient(self.home, timeout=5.0)
                    self.client.ping(timeout=1.0)
                    return self.client
                except StudioError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"daemon did not start within {timeout} s: {self.stderr()}")

    def stderr(self) -> str:
        path = self.home / "daemon.stderr"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        if self.client:
            self.client.close()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            if (self.home / "daemon.json").exists():  # gone: a test shut it down already
                self.client.request("shutdown", timeout=2.0, retries=0)
        except StudioError:
            pass  # already shutting down (a test asked for it): just wait for it
        try:
            self.proc.wait(30)
        except (StudioError, subprocess.TimeoutExpired):
            self.kill()
        if self.client:
            self.client.close()


def open_page(monkeypatch, home: Path, page: str = "app.py"):
    """Run a dashboard file (the app, or one page as the navigation would) against `home`'s daemon."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("ACESTEP_STUDIO_HOME", str(home))
    at = AppTest.from_file(str(ROOT / "dashboard" / page), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    """The demo checkpoint and dataset, written once per session (ACESTEP_DEMO_ROOT reuses one)."""
    root = Path(os.environ.get("ACESTEP_TEST_DEMO_ROOT") or tmp_path_factory.mktemp("demo"))
    from daemon.models.demo_checkpoint import ensure_demo_checkpoint

    ensure_demo_checkpoint(root / "checkpoints")
    from daemon.caption.demo_models import write_demo_captioners

    write_demo_captioners(root / "checkpoints")  # as `make demo` writes them
    try:
        from daemon.dataset_demo import write_demo_dataset
    except ImportError:
        pass
    else:
        write_demo_dataset(root / "dataset")
    return root


@pytest.fixture(scope="session")
def demo_manager(demo_root, tmp_path_factory):
    """A model manager on the demo checkpoint, in this process, loaded once per session."""
    from daemon.models.manager import ModelManager
    from shared.config import DaemonSettings

    config = DaemonSettings(checkpoint_roots=[str(demo_root / "checkpoints")], demo_root=str(demo_root))
    manager = ModelManager(config, home=tmp_path_factory.mktemp("studio-home"))
    manager.select("acestep-v15-demo")
    yield manager
    manager.close()


def job_context(manager, run_dir: Path, kind: str, settings):
    """A real JobContext for running a job function inline (events go to run_dir/events.jsonl)."""
    from daemon.events import EventBus
    from daemon.jobs import Job, JobContext
    from daemon.registry import Services

    run_dir.mkdir(parents=True, exist_ok=True)
    return JobContext(Job(run_dir.name, kind, settings, run_dir), EventBus("test"), Services(models=manager))


@pytest.fixture
def daemon_proc(tmp_path, request):
    """A running daemon in a fresh home; with the demo assets when the test also uses demo_root."""
    home = tmp_path / "studio"
    home.mkdir()
    args = ["--checkpoint-roots", str(tmp_path / "no-checkpoints")]
    # never the ./demo_assets that `make run` leaves in the project folder (the daemon's default)
    demo = request.getfixturevalue("demo_root") if "demo_root" in request.fixturenames else tmp_path / "no-demo"
    args += ["--demo-root", str(demo)]
    proc = DaemonProcess(home, *args)
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def daemon(daemon_proc) -> StudioClient:
    return daemon_proc.client


LONGEST_FIRST = ("tests/test_readme.py", "tests/train/test_distributed.py")


def pytest_collection_modifyitems(config, items) -> None:
    """The longest files first: with `make test`'s two workers they run beside the rest instead of
    being what the suite waits for at its end."""
    items.sort(key=lambda item: not item.nodeid.startswith(LONGEST_FIRST))  # stable: the rest keep their order
