#!/usr/bin/env python3
"""Start the dashboard (Streamlit) on 127.0.0.1, and with --start-daemon the daemon too.

Ctrl-C stops what this command started, the daemon gracefully (a running job saves first); so do
SIGTERM and SIGHUP (`kill`, a closed terminal). The daemon is also told this process is its owner
(`--owner-pid`), so it stops even when this process is killed outright; a daemon that was already
running is left alone. A port another program holds is refused before anything starts.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from shared import home as homes  # noqa: E402
from shared.client import StudioClient  # noqa: E402
from shared.errors import StudioError  # noqa: E402


def daemon_answers(home: Path) -> bool:
    try:
        StudioClient(home, timeout=1.0, retries=0).ping(timeout=1.0)
        return True
    except StudioError:
        return False


def start_daemon(home: Path, demo_root: str | None, extra: list[str]) -> subprocess.Popen:
    args = [sys.executable, str(ROOT / "run_daemon.py"), "--home", str(home), "--owner-pid", str(os.getpid()),
            *extra]
    if demo_root:
        args += ["--demo-root", demo_root]
    proc = subprocess.Popen(args, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the daemon exited with code {proc.returncode}")
        if daemon_answers(home):
            return proc
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("the daemon did not answer within 60 s")


def port_taken(host: str, port: int) -> bool:
    """True when something already listens on host:port (the server would fail to bind it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds it
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def stop_like_ctrl_c(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def wait_until_serving(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Wait for Streamlit's health endpoint, so the address is printed once the page opens."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1.0):
                return
        except OSError:
            time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", help="studio home (default: $ACESTEP_STUDIO_HOME or ./.studio)")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--start-daemon", action="store_true", help="start a daemon unless one answers")
    parser.add_argument("--demo-root", help="demo assets for the daemon (default ./demo_assets)")
    args, daemon_args = parser.parse_known_args(argv)
    if port_taken(args.host, args.port):
        print(f"error: port {args.port} on {args.host} is in use (another dashboard still running?); stop "
              f"it, or pick another with --port", file=sys.stderr)
        return 1
    for signum in (signal.SIGTERM, signal.SIGHUP):  # stop what this started, as Ctrl-C does
        signal.signal(signum, stop_like_ctrl_c)
    home = homes.studio_home(args.home)
    os.environ[homes.ENV_HOME] = str(home)
    if args.demo_root:
        os.environ["ACESTEP_DEMO_ROOT"] = str(Path(args.demo_root).absolute())
    daemon = None
    if args.start_daemon and not daemon_answers(home):
        daemon = start_daemon(home, os.environ.get("ACESTEP_DEMO_ROOT"), daemon_args)
    dashboard = subprocess.Popen([
        sys.executable, "-m", "dashboard.serve", "run", str(ROOT / "dashboard" / "app.py"),  # streamlit run
        "--server.address", args.host, "--server.port", str(args.port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--logger.hideWelcomeMessage", "true",
    ], cwd=ROOT)
    try:
        url = f"http://{args.host}:{args.port}"
        wait_until_serving(url, dashboard)
        stops = "the dashboard and the daemon it started" if daemon else "the dashboard (the daemon runs on)"
        print(f"\n  ACE-Step LoRA Studio: {url}  (Ctrl-C stops {stops})\n", flush=True)
        dashboard.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop(dashboard, daemon)
    return 0


def stop(dashboard: subprocess.Popen, daemon: subprocess.Popen | None) -> None:
    """The dashboard first, then the daemon gracefully: a running job saves, however long that takes."""
    if dashboard.poll() is None:
        dashboard.send_signal(signal.SIGTERM)
    if daemon is not None and daemon.poll() is None:
        print("  stopping the daemon (a running job saves first)...", flush=True)
        daemon.send_signal(signal.SIGINT)
    for proc, patience in ((dashboard, 30), (daemon, 600)):
        if proc is None:
            continue
        try:
            proc.wait(patience)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    sys.exit(main())
