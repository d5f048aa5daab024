"""Raw sockets and hand-made frames, for tests that talk to the daemon below the client."""
from __future__ import annotations

import json

import zmq

from shared.protocol import DELIM, Session


def raw_socket(client) -> zmq.Socket:
    """A DEALER on the daemon's request port, secured as the client's own sockets are."""
    return client.connect(zmq.DEALER, "request_port")


def reply_of(sock: zmq.Socket, session: Session, timeout_ms: int = 3000) -> dict:
    assert sock.poll(timeout_ms), "no reply"
    return session.deserialize(sock.recv_multipart(), expect="reply")["content"]


def signed(session: Session, header: str | bytes, parent: str | bytes = b"{}",
           content: str | bytes = b"{}") -> list[bytes]:
    """Frames signed with the session's key around JSON written by hand (what a client could not build)."""
    parts = [p.encode() if isinstance(p, str) else p for p in (header, parent, content)]
    return [DELIM, session.sign(parts), *parts]


def header_json(session: Session, msg_type: str = "ping", direction: str = "request", extra: str = "") -> str:
    """A valid request header as JSON text, with `extra` (`,"key":value`) spliced in before the end."""
    header = session.msg(msg_type, direction=direction)["header"]
    return json.dumps(header)[:-1] + extra + "}"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth
