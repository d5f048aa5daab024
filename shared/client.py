"""A synchronous client of the daemon, for the dashboard, scripts and the command line.

    client = StudioClient()            # finds the daemon through $ACESTEP_STUDIO_HOME/daemon.json
    job_id = client.submit("selftest", {"steps": 10})
    client.wait(job_id, on_event=print)

Requests time out and are retried: read-only ones with a fresh message id, state-changing ones
with the same id (the daemon answers a repeat with its first reply, so nothing runs twice).
`subscribe()` follows the event stream by `seq`, fills gaps from the daemon's ring buffer and
notices a daemon restart by its session id.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from typing import Any
from collections.abc import Callable, Iterator

import zmq

from shared import home as homes
from shared import transport
from shared.errors import DaemonNotRunning, DaemonTimeout, JobError, ProtocolError, StudioError, error_by_name
from shared.protocol import EVENT_TOPIC, Session, new_id

log = logging.getLogger(__name__)
READ_ONLY = {"ping", "status", "jobs", "job", "events", "job_events", "checkpoints", "gpu", "models",
             "run_samples", "run_file", "caption_results", "caption_audio"}
STATE_CHANGING = {"submit", "cancel", "stop", "action", "shutdown", "unload"}
FINISHED = ("done", "failed", "cancelled", "stopped", "interrupted")  # interrupted: the daemon died


def read_connection(home: str | os.PathLike | None = None) -> dict:
    """The daemon's connection file, or DaemonNotRunning saying where it was looked for."""
    path = homes.connection_file(homes.studio_home(home))
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        raise DaemonNotRunning(f"no daemon for {path.parent} (no {path.name}); start it with `make run` "
                               "or `python run_daemon.py`") from None
    except ValueError:
        raise DaemonNotRunning(f"{path} is not valid JSON; is a daemon starting right now?") from None
    return info


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StudioClient:
    def __init__(self, home: str | os.PathLike | None = None, timeout: float = 10.0, retries: int = 2,
                 connection: dict | None = None) -> None:
        self.home = homes.studio_home(home)
        self.info = connection or read_connection(self.home)
        self.timeout = timeout
        self.retries = retries
        self.session = Session(self.info["key"])
        self.daemon_session = self.info.get("daemon_session")
        self.restarted = False
        self._zmq = zmq.Context.instance()
        self._sock: zmq.Socket | None = None
        self._lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------------------------
    def address(self, port_key: str) -> str:
        return transport.address(self.info, port_key)

    def connect(self, kind: int, port_key: str) -> zmq.Socket:
        """A socket to the daemon, encrypted as the daemon's sockets are (shared/transport.py)."""
        return transport.connect(self._zmq, kind, self.info, port_key)

    def _socket(self) -> zmq.Socket:
        if self._sock is None:
            self._sock = self.connect(zmq.DEALER, "request_port")
        return self._sock

    def _reset(self) -> None:
        if self._sock is not None:
            self._sock.close(0)
            self._sock = None

    def close(self) -> None:
        with self._lock:
            self._reset()

    def request(self, msg_type: str, content: dict | None = None, *, timeout: float | None = None,
                retries: int | None = None) -> dict:
        """Send one request and return the reply's content; an error reply raises its StudioError."""
        timeout = self.timeout if timeout is None else timeout
        retries = self.retries if retries is None else retries
        if msg_type not in READ_ONLY | STATE_CHANGING:
            retries = 0  # unknown commands: never risk running something twice
        msg_id = new_id()
        with self._lock:
            for attempt in range(retries + 1):
                if attempt and msg_type in READ_ONLY:
                    msg_id = new_id()
                message = self.session.msg(msg_type, content, msg_id=msg_id)
                sock = self._socket()
                sock.send_multipart(self.session.serialize(message))
                reply = self._await_reply(sock, msg_id, timeout)
                if reply is not None:
                    return self._unwrap(reply)
                self._reset()  # a lost reply leaves the DEALER in an unknown state
                if self.refresh_connection():
                    continue  # a restarted daemon: the retry goes to the new one
        raise self._timeout_error(msg_type, timeout)

    def refresh_connection(self) -> bool:
        """Re-read the connection file; True when it now names another daemon (a restart)."""
        try:
            info = read_connection(self.home)
        except DaemonNotRunning:
            return False
        if info.get("daemon_session") == self.info.get("daemon_session"):
            return False
        self.info = info
        self.session = Session(info["key"])
        self.restarted = True
        self._reset()
        return True

    def _await_reply(self, sock: zmq.Socket, msg_id: str, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not sock.poll(int(left * 1000) + 1):
                return None
            frames = sock.recv_multipart()
            reply = self.session.deserialize(frames, expect="reply")
            if reply["parent_header"].get("msg_id") == msg_id:
                if reply["header"]["session"] != self.daemon_session:
                    self.restarted = self.daemon_session is not None
                    self.daemon_session = reply["header"]["session"]
                return reply
        return None

    @staticmethod
    def _unwrap(reply: dict) -> dict:
        content = reply["content"]
        if content.get("status") == "error":
            raise error_by_name(content.get("ename", ""))(content.get("evalue", "unknown error"))
        return content

    def _timeout_error(self, msg_type: str, timeout: float) -> StudioError:
        pid = self.info.get("pid")
        if isinstance(pid, int) and not _pid_alive(pid):
            return DaemonNotRunning(f"the daemon (pid {pid}) for {self.home} is not running; "
                                    "start it with `make run` or `python run_daemon.py`")
        return DaemonTimeout(f"the daemon did not answer {msg_type!r} within {timeout:.1f} s")

    # -- verbs ------------------------------------------------------------------------------
    def ping(self, timeout: float | None = None) -> dict:
        return self.request("ping", timeout=timeout)

    def status(self, metrics_limit: int | None = None, metrics_since: int | None = None) -> dict:
        """The daemon's snapshot. Its metric points: the latest `metrics_limit` (default 1000; 0 leaves
        them out), or with `metrics_since` (a seq) those after it, oldest first, which is what a page
        that polls sends with the seq of the last point it has (`metrics_more`: ask again)."""
        content = {"metrics_limit": metrics_limit, "metrics_since": metrics_since}
        return self.request("status", {k: v for k, v in content.items() if v is not None})

    def submit(self, kind: str, settings: dict | None = None) -> str:
        return self.request("submit", {"kind": kind, "settings": settings or {}})["job_id"]

    def cancel(self, job_id: str) -> dict:
        return self.request("cancel", {"job_id": job_id})["job"]

    def stop(self, job_id: str | None = None) -> dict:
        return self.request("stop", {"job_id": job_id} if job_id else {})["job"]

    def action(self, name: str, job_id: str | None = None) -> dict:
        return self.request("action", {"name": name, **({"job_id": job_id} if job_id else {})})

    def jobs(self) -> list[dict]:
        return self.request("jobs")["jobs"]

    def job(self, job_id: str) -> dict:
        return self.request("job", {"job_id": job_id})["job"]

    def events(self, since: int = 0, limit: int = 1000) -> list[dict]:
        return self.request("events", {"since": since, "limit": limit})["events"]

    def shutdown(self) -> dict:
        return self.request("shutdown")

    def run_samples(self, run: str) -> list[dict]:
        """A run's clips (sidecars with `audio` and `spectrogram` paths relative to the run folder)."""
        return self.request("run_samples", {"run_id": run})["clips"]

    def run_file(self, run: str, path: str) -> bytes:
        """The bytes of a file inside a run folder (a clip, a spectrogram), fetched in chunks."""
        chunks, offset = [], 0
        while offset is not None:
            reply = self.request("run_file", {"run_id": run, "path": path, "offset": offset})
            chunks.append(base64.b64decode(reply["data"]))
            offset = reply["next_offset"]
        return b"".join(chunks)

    def caption_results(self, run: str) -> dict:
        """A caption run's results: every file's signal analysis, answers and labels."""
        return self.request("caption_results", {"run_id": run})

    def caption_audio(self, run: str, file: str) -> bytes:
        """The audio of a file a caption run captioned, fetched in chunks."""
        chunks, offset = [], 0
        while offset is not None:
            reply = self.request("caption_audio", {"run_id": run, "file": file, "offset": offset})
            chunks.append(base64.b64decode(reply["data"]))
            offset = reply["next_offset"]
        return b"".join(chunks)

    def caption_accept(self, run: str, files: dict[str, dict], dataset: str | None = None,
                       overwrite: bool = False) -> dict:
        """Reviewed labels into the sidecars and the dataset (the run's, or `dataset`)."""
        content: dict[str, Any] = {"run_id": run, "files": files, "overwrite": overwrite}
        if dataset:
            content["dataset"] = dataset
        return self.request("caption_accept", content)

    def subscribe(self) -> "EventStream":
        return EventStream(self)

    def wait(self, job_id: str, on_event: Callable[[dict], None] | None = None,
             timeout: float | None = None, poll: float = 0.5) -> dict:
        """Follow a job until it ends; returns its final summary (raises nothing on failure)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.subscribe() as stream:
            job = self.job(job_id)
            for event in stream.history(job_id):
                if on_event:
                    on_event(event)
            while job["state"] not in FINISHED:
                if deadline is not None and time.monotonic() > deadline:
                    raise JobError(f"job {job_id} still {job['state']} after {timeout} s")
                for event in stream.drain(poll):
                    if event.get("job_id") == job_id and on_event:
                        on_event(event)
                job = self.job(job_id)
            return job


class EventStream:
    """Events in `seq` order from the moment of subscribing, gaps filled, restarts noticed."""

    def __init__(self, client: StudioClient) -> None:
        self.client = client
        self.sock = client.connect(zmq.SUB, "event_port")
        self.sock.setsockopt(zmq.SUBSCRIBE, EVENT_TOPIC)
        snapshot = client.status(metrics_limit=0)  # only its seq and session are needed here
        self.snapshot = snapshot
        self.daemon_session = snapshot["daemon_session"]
        self.last_seq = snapshot["last_seq"]
        self.restarted = False

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close(0)

    def history(self, job_id: str | None = None) -> list[dict]:
        """Events already in the daemon's ring buffer (of one job, or all), up to the snapshot."""
        events = self.client.events(0, 5000)
        return [e for e in events if e["seq"] <= self.last_seq and (job_id is None or e["job_id"] == job_id)]

    def drain(self, timeout: float = 0.5) -> list[dict]:
        """Every event that arrives within `timeout` (returns early once some arrived)."""
        out: list[dict] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not self.sock.poll(int(left * 1000) + 1):
                break
            while self.sock.poll(0):
                out.extend(self._accept(self.sock.recv_multipart()))
            if out:
                break
        return out

    def __iter__(self) -> Iterator[dict]:
        while True:
            yield from self.drain(1.0)

    def _accept(self, frames: list[bytes]) -> list[dict]:
        try:
            message = self.client.session.deserialize(frames[1:], expect="event")
        except ProtocolError as err:  # not our daemon's signed event: dropped, the stream goes on
            log.warning("dropped an event: %s", err)
            return []
        event = message["content"]
        if message["header"]["session"] != self.daemon_session:
            # A new daemon: its seq starts again. Say so, then follow the new one.
            self.restarted = True
            self.daemon_session = message["header"]["session"]
            self.last_seq = 0
            marker = {"seq": 0, "type": "daemon_restarted", "job_id": None, "data": {}}
            return [marker, *self._accept(frames)]
        if event["seq"] <= self.last_seq:
            return []
        missing: list[dict] = []
        if event["seq"] > self.last_seq + 1:
            missing = [e for e in self.client.events(self.last_seq, 5000) if e["seq"] < event["seq"]]
        self.last_seq = event["seq"]
        return [*missing, event]
