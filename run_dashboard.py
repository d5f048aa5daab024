#!/usr/bin/env python3
"""Start the dashboard (Streamlit) on 127.0.0.1, and with --start-daemon the daemon too.

Ctrl-C stops what this command started, the daemon gracefully (a running job saves first).
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
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
    args = [sys.executable, str(ROOT / "run_daemon.py"), "--home", str(home), *extra]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", help="studio home (default: $ACESTEP_STUDIO_HOME or ./.studio)")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--start-daemon", action="store_true", help="start a daemon unless one answers")
    parser.add_argument("--demo-root", help="demo assets for the daemon (default ./demo_assets)")
    args, daemon_args = parser.parse_known_args(argv)
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
        "--browser.gatherUsageStats", "false",
    ], cwd=ROOT)
    print(f"\n  ACE-Step LoRA Studio: http://{args.host}:{args.port}  (Ctrl-C stops it)\n", flush=True)
    try:
        dashboard.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for proc in (dashboard, daemon):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT if proc is daemon else signal.SIGTERM)
        for proc in (dashboard, daemon):
            if proc is not None:
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
