"""Training on several GPUs or machines, from the daemon's side: launch one process per GPU with
torchrun, and stay the job's owner while they train.

    result = train_on_ranks(ctx, settings, manager, folder, info)   # from run.py, devices x machines > 1

The ranks are children, not threads of the daemon: a process group (NCCL, gloo) lives for the
process that joins it, a rank that waits on a dead peer cannot be interrupted, and a crash in one
must not take the daemon down. So the daemon moves its own models off the GPUs, starts
`python -m torch.distributed.run ... -m daemon.train.rank` in its own session (Ctrl-C on the
daemon's terminal reaches the daemon, which stops the run gracefully, not the ranks directly), and
every rank loads the checkpoint through the real loader (daemon/train/rank.py).

Rank 0 connects back over an authenticated local socket (multiprocessing.connection):
- rank 0 -> daemon: ("event", type, data), ("metric", values), ("progress", done, total, message,
  extra), ("result", summary) or ("error", error class name, message);
- daemon -> rank 0: "stop", "save_now", "sample_now", as the job receives them; rank 0 hands them
  to every rank with the step's all-reduce (distributed.py), so all stop and save at one step.
The ranks' output (all of them) goes to `<run>/ranks.log`. With several machines, the command each
other machine runs is logged and sent as the `ranks_command` event; they write nothing.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection, Listener
from pathlib import Path
from typing import Any

import torch

from daemon.train import batching
from daemon.train.distributed import ACTIONS
from shared import errors
from shared.errors import JobStopped, TrainingError
from shared.train_settings import TrainSettings

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTROL_ENV, KEY_ENV = "ACESTEP_RANK_CONTROL", "ACESTEP_RANK_KEY"
ERROR_MARK = "ACESTEP_RANK_ERROR "  # rank.py prints a failed rank's error after it, as JSON
RANKS_LOG = "ranks.log"
SETTLE_S = 120.0  # after rank 0's result, how long the other ranks may take to exit


def train_on_ranks(ctx: Any, settings: TrainSettings, manager: Any, folder: Any, info: dict) -> dict:
    """Train on `settings.world_size` processes; returns rank 0's summary, raises its error."""
    check_devices(settings, manager.device)
    check_global_batch(len(folder), settings)
    for name in ("dit", "vae", "text_encoder"):  # the GPUs are the ranks' now; moved back on next use
        manager.offload(name)
    spec = {"settings": settings.to_dict(), "checkpoint": str(manager.selected.path),
            "fingerprint": manager.fingerprint(), "device": manager.device.type, "dtype": manager.config.dtype,
            "offload": manager.config.offload}
    port = settings.master_port or free_port()
    if settings.num_nodes > 1:
        announce_other_nodes(ctx, settings, port, spec)
    key = secrets.token_bytes(32)
    listener = Listener(("127.0.0.1", 0), authkey=key)
    with tempfile.TemporaryDirectory(prefix="acestep-ranks-") as scratch:
        spec_file = Path(scratch) / "spec.json"
        spec_file.write_text(json.dumps({**spec, "run_dir": str(ctx.run_dir), "info": info,
                                         "home": str(manager.home)}))
        command = node_command(settings, 0, port, f"@{spec_file}")
        env = {**os.environ, CONTROL_ENV: "{}:{}".format(*listener.address), KEY_ENV: key.hex(),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
        machines = f" ({settings.devices} on each of {settings.num_nodes} machines)" if settings.num_nodes > 1 else ""
        ctx.log(f"training on {settings.world_size} processes, one per {manager.device.type} device{machines}; "
                f"their output goes to {ctx.run_dir / RANKS_LOG}")
        with open(ctx.run_dir / RANKS_LOG, "ab") as output:
            proc = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        relay = Relay(ctx, listener, proc)
        try:
            return relay.run()
        finally:
            end_process_group(proc)
            relay.close()


def check_devices(settings: TrainSettings, device: torch.device) -> None:
    """Enough GPUs on this machine; on a CPU-only daemon the ranks share the CPU (for tests)."""
    if device.type == "cuda":
        found = torch.cuda.device_count()
        if settings.devices > found:
            raise TrainingError(f"GPUs: {settings.devices} asked for, this machine has {found}")
    elif device.type != "cpu":
        raise TrainingError(f"GPUs: several train together on CUDA GPUs; the daemon's device is {device.type}")


def check_global_batch(n_samples: int, settings: TrainSettings) -> None:
    """Each global batch must have a sample for every rank's share: refused before anything starts."""
    train_idx, _ = batching.split_validation(n_samples, settings.validation_share, settings.seed)
    if settings.global_batch_size > len(train_idx):
        raise TrainingError(
            f"batch_size {settings.batch_size} on {settings.world_size} GPUs makes batches of "
            f"{settings.global_batch_size} samples, more than the {len(train_idx)} training samples; "
            f"lower batch_size or the number of GPUs")


def node_command(settings: TrainSettings, node_rank: int, port: int, spec: str) -> list[str]:
    """The torchrun command that starts one machine's ranks (the same on every machine but the rank)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(settings.devices)]
    if settings.num_nodes == 1:
        command += ["--standalone", "--nnodes", "1"]
    else:
        command += ["--nnodes", str(settings.num_nodes), "--node-rank", str(node_rank),
                    "--master-addr", settings.master_addr, "--master-port", str(port)]
    return command + ["-m", "daemon.train.rank", "--spec", spec]


def announce_other_nodes(ctx: Any, settings: TrainSettings, port: int, spec: dict) -> None:
    """Log (and send as an event) the command each other machine runs, with this run's settings; the
    paths in it (checkpoint, tensors) are this machine's: change them where the others differ."""
    defaults = TrainSettings().to_dict()
    changed = {name: value for name, value in spec["settings"].items() if value != defaults.get(name)}
    text = json.dumps({**spec, "settings": changed})  # the rest are defaults: a shorter command
    commands = [f"cd {shlex.quote(str(REPO_ROOT))} && " + shlex.join(node_command(settings, node, port, text))
                for node in range(1, settings.num_nodes)]
    for node, command in enumerate(commands, start=1):
        ctx.log(f"machine {node} of {settings.num_nodes}: run there  {command}")
    ctx.event("ranks_command", commands=commands, master_addr=settings.master_addr, master_port=port)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


class Relay:
    """The daemon's half of the line to rank 0: its messages become the job's events, the job's stop
    and actions go to it; ends when the ranks have exited."""

    def __init__(self, ctx: Any, listener: Listener, proc: subprocess.Popen) -> None:
        self.ctx, self.listener, self.proc = ctx, listener, proc
        self.inbox: queue.Queue = queue.Queue()
        self.conn: Connection | None = None
        self.started = False  # rank 0 has reported its pre-flight: a stop now saves first
        self.stop_sent = False
        self.result: dict | None = None
        self.error: tuple[str, str] | None = None
        self.reader = threading.Thread(target=self._read, name="rank0-line", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        try:
            conn = self.listener.accept()
        except Exception:  # woken by close(): the ranks ended before rank 0 connected
            return
        self.inbox.put(("connected", conn))
        try:
            while True:
                self.inbox.put(conn.recv())
        except (EOFError, OSError):  # rank 0 exited
            return

    def run(self) -> dict:
        settle = None
        while self.proc.poll() is None:
            try:
                self.handle(self.inbox.get(timeout=0.2))
                for _ in range(self.inbox.qsize()):  # what has come since, then the requests: a rank 0
                    self.handle(self.inbox.get())  # that reports every few ms never starves them
            except queue.Empty:
                pass
            self.forward_requests()
            if self.result is not None:
                settle = settle or time.monotonic() + SETTLE_S
                if time.monotonic() > settle:
                    log.warning("the other ranks did not exit %.0f s after rank 0's result; ending them", SETTLE_S)
                    break
        self.close()  # the ranks have exited: read what rank 0 sent last
        while not self.inbox.empty():
            self.handle(self.inbox.get())
        return outcome(self.result, self.error, self.ctx.run_dir / RANKS_LOG, self.proc.returncode)

    def close(self) -> None:
        """Wake a reader still waiting for rank 0 to connect, let it read to the end, close."""
        if self.conn is None:
            try:
                socket.create_connection(self.listener.address, timeout=5).close()
            except OSError:
                pass
        self.reader.join(timeout=10)
        self.listener.close()

    def handle(self, message: tuple) -> None:
        kind = message[0]
        if kind == "connected":
            self.conn = message[1]
        elif kind == "event":
            self.started = self.started or message[1] == "train_preflight"
            self.ctx.event(message[1], **message[2])
        elif kind == "metric":
            self.ctx.metric(**message[1])
        elif kind == "progress":
            self.ctx.progress(message[1], message[2], message[3], **message[4])
        elif kind == "result":
            self.result = message[1]
        elif kind == "error":
            self.error = (message[1], message[2])

    def forward_requests(self) -> None:
        """The job's stop and actions to rank 0. A stop before training began ends the ranks at once
        (nothing to save, and they may be waiting for machines that never come)."""
        if self.ctx.stop_requested and not self.stop_sent:
            if not self.started:
                end_process_group(self.proc)
                raise JobStopped("stopped before training began; nothing was saved")
            self._send("stop")
            self.stop_sent = True
        if self.conn is None:
            return
        for name in ACTIONS:
            if self.ctx.take_action(name):
                self._send(name)

    def _send(self, message: str) -> None:
        if self.conn is not None:
            try:
                self.conn.send(message)
            except OSError as err:
                log.warning("rank 0 did not take %r: %s", message, err)


def outcome(result: dict | None, error: tuple[str, str] | None, log_file: Path, returncode: int | None) -> dict:
    """Rank 0's summary; else the first failure: another rank's, when it failed first (rank 0's error
    is then often only that its peer went away), or rank 0's own `error` (class name, message),
    raised as that class."""
    if result is not None:
        return result
    first = first_failure(log_file)
    if error is not None and (first is None or first["rank"] == 0):
        kind = getattr(errors, error[0], None)
        if not (isinstance(kind, type) and issubclass(kind, errors.StudioError)):
            kind = TrainingError
        raise kind(error[1])
    if first is not None:
        raise TrainingError(f"rank {first['rank']} failed: {first['message']}")
    raise TrainingError(f"the training processes ended with exit code {returncode}; their output is in {log_file}")


def first_failure(log_file: Path) -> dict | None:
    """The first failed rank's report in the ranks' output ({rank, type, message}), if any."""
    try:
        lines = log_file.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        if ERROR_MARK in line:
            try:
                return json.loads(line.split(ERROR_MARK, 1)[1])
            except ValueError:
                continue
    return None


def end_process_group(proc: subprocess.Popen, grace_s: float = 30.0) -> None:
    """torchrun and its ranks (one session): SIGTERM, then SIGKILL after `grace_s`."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
