"""The daemon's socket loop: a ROUTER for requests, a PUB for events, on loopback by default.

The loop only parses, verifies and dispatches; it never waits on a job (jobs run on the queue's
worker thread). It writes the connection file (0600) that clients find it by, holds the studio
home's lock, and turns SIGTERM / Ctrl-C into a graceful shutdown in which the running job saves.
"""
from __future__ import annotations

import collections
import fcntl
import json
import logging
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from daemon.events import EventBus
from daemon.jobs import JobQueue
from daemon.logs import RefusalLog
from daemon.owner import OwnerWatch
from daemon.plugins import load_plugins
from daemon.registry import COMMANDS, STARTUP_HOOKS, Services
from daemon.sched import ask_for_quick_turns
from shared import home as homes
from shared.atomic import write_text_atomic
from shared.config import DaemonSettings
from shared.errors import AuthError, DaemonLocked, ProtocolError, SettingsError, StudioError
from shared.protocol import EVENT_TOPIC, ReplayGuard, Session, new_key, split_identities
from shared.transport import ServerKeys, curve_available

log = logging.getLogger(__name__)
LOOPBACK = ("127.0.0.1", "localhost", "::1")
DEDUP_CACHE = 2000
MAX_ERROR_CHARS = 2000  # an error message quotes what it refuses; never all of a 16 MB value


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more characters)"


def internal_error(request: dict | None, err: BaseException) -> dict:
    """The reply to a failure that is the daemon's own (a bug), logged with its traceback."""
    msg_type = (request or {}).get("header", {}).get("msg_type")
    log.error("internal error on %s: %s\n%s", clip(str(msg_type), 100), clip(str(err), 500), traceback.format_exc())
    return {"status": "error", "ename": "InternalError",
            "evalue": clip(f"{type(err).__name__}: {err} (see daemon.log)", MAX_ERROR_CHARS)}


@dataclass
class CommandContext:
    """What a command handler gets (see daemon.registry.command)."""

    services: Services
    jobs: JobQueue
    bus: EventBus
    config: DaemonSettings
    msg_id: str
    server: "Server"


class HomeLock:
    """One daemon per studio home: an exclusive flock on `daemon.lock` holding the owner's pid."""

    def __init__(self, home: Path) -> None:
        self.path = homes.lock_file(home)
        self._fh: Any = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)  # a lock file left by an older version may be 0644
        fh = os.fdopen(fd, "r+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            owner = fh.read().strip() or "unknown"
            fh.close()
            raise DaemonLocked(
                f"another daemon (pid {owner}) already runs for {self.path.parent}; "
                f"stop it with `acestep-studio shutdown` or use another ACESTEP_STUDIO_HOME"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def server_keys(config: DaemonSettings) -> ServerKeys | None:
    """The CURVE keys both sockets are encrypted with; None when encryption is off (loopback only)."""
    if config.encrypt and curve_available():
        return ServerKeys()
    if config.allow_remote:
        raise SettingsError("daemon.encrypt: --allow-remote needs encryption (ZeroMQ CURVE), "
                            "which is " + ("turned off" if not config.encrypt else "missing from this libzmq"))
    if config.encrypt:
        log.warning("this libzmq has no CURVE: the sockets are not encrypted (loopback only)")
    return None


class Server:
    def __init__(self, config: DaemonSettings, home: Path) -> None:
        if config.host not in LOOPBACK and not config.allow_remote:
            raise SettingsError(
                f"daemon.host: binding to {config.host!r} exposes the daemon beyond this machine; "
                "pass --allow-remote to do it anyway"
            )
        self.config = config
        self.home = home
        self.keys = server_keys(config)
        self.started = time.time()
        self.session = Session(new_key())
        self.bus = EventBus(self.session.session_id)
        self.services = Services(config=config, home=home)
        self.jobs = JobQueue(homes.runs_dir(home), self.bus, self.services, config.job_nice, config.job_slice_ms)
        self.services.put("jobs", self.jobs)
        self.services.put("bus", self.bus)
        self.replay = ReplayGuard()
        self.owner = OwnerWatch(config.owner_pid)
        self.refusals = RefusalLog(log)
        self._replies: collections.OrderedDict[str, dict] = collections.OrderedDict()
        self.running = True
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.bus.wakeup = self.wake

    # -- sockets --------------------------------------------------------------------------
    def bind(self) -> None:
        self.ctx = zmq.Context()
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 0)
        # Frames beyond this are dropped by libzmq itself (the peer is disconnected).
        self.router.setsockopt(zmq.MAXMSGSIZE, self.config.max_message_bytes * 2)
        self.pub = self.ctx.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.setsockopt(zmq.SNDHWM, 100_000)
        if self.keys is not None:
            self.keys.secure(self.router)
            self.keys.secure(self.pub)
        if self.config.host not in LOOPBACK:
            log.warning("the daemon listens on %s: anyone who can reach it and has the key controls it",
                        self.config.host)
        self.request_port = self._bind(self.router, self.config.request_port)
        self.event_port = self._bind(self.pub, self.config.event_port)

    def _bind(self, sock: zmq.Socket, port: int) -> int:
        host = "127.0.0.1" if self.config.host == "localhost" else self.config.host
        address = f"tcp://[{host}]" if ":" in host else f"tcp://{host}"
        if ":" in host:
            sock.setsockopt(zmq.IPV6, 1)
        if port:
            sock.bind(f"{address}:{port}")
            return port
        return sock.bind_to_random_port(address)

    def write_connection_file(self) -> Path:
        info = {
            "transport": "tcp",
            "host": self.config.host,
            "request_port": self.request_port,
            "event_port": self.event_port,
            "key": self.session.key.decode("ascii"),
            "signature_scheme": "hmac-sha256",
            "encryption": "curve" if self.keys is not None else "none",
            **(self.keys.connection_fields() if self.keys is not None else {}),
            "pid": os.getpid(),
            "daemon_session": self.session.session_id,
            "started": self.started,
        }
        path = homes.connection_file(self.home)
        return write_text_atomic(path, json.dumps(info, indent=2), mode=0o600)

    def wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass  # the pipe is full: the loop is awake anyway

    # -- the loop -------------------------------------------------------------------------
    def serve_forever(self) -> None:
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        self.bus.emit("daemon_started", {"pid": os.getpid(), "daemon_session": self.session.session_id})
        for hook in STARTUP_HOOKS:
            try:
                hook(self.services)
            except Exception as err:  # a monitor that can't start must not stop the daemon
                log.warning("start-up hook %s failed: %s", getattr(hook, "__name__", hook), err)
        while self.running:
            ready = dict(poller.poll(200))
            if self._wake_r in ready:
                try:
                    while os.read(self._wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
            if self.router in ready:
                for _ in range(100):  # bounded, so events keep flowing under a flood
                    try:
                        frames = self.router.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    try:
                        self.handle(frames)
                    except Exception:  # the last guard: no message ever ends the daemon
                        log.exception("a message could not be answered")
            self.flush_events()
            self.refusals.tick()
            if self.running and self.owner.gone():
                self.request_shutdown(f"the dashboard that started this daemon (pid {self.owner.pid}) exited")
        self.flush_events()
        self.refusals.flush()

    def flush_events(self) -> None:
        while True:
            try:
                event = self.bus.outbox.get_nowait()
            except Exception:
                return
            try:
                frames = self.session.serialize(self.session.msg("event", event, direction="event"))
            except Exception:  # a job's unserialisable event is lost, the daemon is not
                log.exception("event %s could not be published", event.get("seq"))
                continue
            self.pub.send_multipart([EVENT_TOPIC, *frames])

    # -- one request ----------------------------------------------------------------------
    def handle(self, frames: list[bytes]) -> None:
        """Answer one message. Whatever it holds, this never raises: every failure is an error reply."""
        identities: list[bytes] = frames[:1]
        request: dict | None = None
        try:
            size = sum(len(f) for f in frames)
            if size > self.config.max_message_bytes:
                raise ProtocolError(f"message of {size} bytes refused (limit {self.config.max_message_bytes})")
            identities, body = split_identities(frames)
            request = self.session.deserialize(body, expect="request")
            header = request["header"]
            cached = self._replies.get(header["msg_id"])
            if cached is not None:
                reply = {**cached, "duplicate": True}
            else:
                self.replay.check(header)
                reply = self.dispatch(request)
        except AuthError as err:
            self.refusals.refused(str(err))
            reply = err.to_reply()
        except StudioError as err:
            reply = err.to_reply()
        except Exception as err:  # a handler bug (or a RecursionError...) must not take the daemon down
            reply = internal_error(request, err)
        if not identities:
            log.warning("dropped a message without a routing identity")
            return
        self._reply(identities, request, reply)

    def dispatch(self, request: dict) -> dict:
        header, content = request["header"], request["content"]
        spec = COMMANDS.get(header["msg_type"])
        if spec is None:
            raise ProtocolError(f"unknown command {header['msg_type']!r}; known: {', '.join(sorted(COMMANDS))}")
        ctx = CommandContext(self.services, self.jobs, self.bus, self.config, header["msg_id"], self)
        result = spec.handler(ctx, content)
        reply = {"status": "ok", **(result or {})}
        if spec.state_changing:
            self._replies[header["msg_id"]] = reply
            while len(self._replies) > DEDUP_CACHE:
                self._replies.popitem(last=False)
        return reply

    def _reply(self, identities: list[bytes], request: dict | None, content: dict) -> None:
        parent = (request or {}).get("header", {})
        msg_type = f"{parent.get('msg_type', 'error')}_reply"
        if content.get("status") == "error":
            content = {**content, "evalue": clip(str(content.get("evalue", "")), MAX_ERROR_CHARS)}
        try:
            frames = self.session.serialize(self.session.msg(msg_type, content, parent=parent, direction="reply"))
        except Exception as err:  # a reply that cannot be written still gets an answer
            reply = internal_error(request, err)
            frames = self.session.serialize(self.session.msg(msg_type, reply, parent=parent, direction="reply"))
        try:
            self.router.send_multipart([*identities, *frames], zmq.NOBLOCK)
        except zmq.ZMQError as err:
            log.warning("could not send a reply: %s", err)

    # -- lifecycle ------------------------------------------------------------------------
    def request_shutdown(self, reason: str) -> None:
        log.info("shutting down: %s", reason)
        self.running = False
        self.wake()

    def close(self) -> None:
        self.bus.emit("daemon_stopping", {})
        self.jobs.close()
        self.flush_events()
        self.services.close()
        homes.connection_file(self.home).unlink(missing_ok=True)
        time.sleep(0.05)  # let the last events leave
        self.router.close()
        self.pub.close()
        self.ctx.term()
        os.close(self._wake_r)
        os.close(self._wake_w)
        self.owner.close()


def serve(config: DaemonSettings, home: Path) -> int:
    """Run a daemon until shutdown; returns the exit code."""
    lock = HomeLock(home)
    lock.acquire()
    # A request waits for the job thread to give up the interpreter lock, up to this long each
    # time the socket thread needs it back (after every poll, receive and send).
    sys.setswitchinterval(config.switch_interval_ms / 1000)
    # Before any thread starts: ZeroMQ's I/O threads inherit the short slice, the job worker gives it back.
    ask_for_quick_turns(config.request_slice_us)
    try:
        load_plugins()
        server = Server(config, home)
        server.bind()
        path = server.write_connection_file()

        def on_signal(signum: int, _frame: Any) -> None:
            server.request_shutdown(f"signal {signal.Signals(signum).name}")

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        log.info("daemon %s ready: requests on %d, events on %d, connection file %s",
                 server.session.session_id, server.request_port, server.event_port, path)
        try:
            server.serve_forever()
        finally:
            server.close()
        return 0
    finally:
        lock.release()
