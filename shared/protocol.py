"""The message envelope and its signing, shared by the daemon and every client.

Modelled on Jupyter's messaging: a message is `header`, `parent_header`, `content`, serialised as
JSON frames after a delimiter and an HMAC-SHA256 signature over those frames:

    [identities..., DELIM, signature, header, parent_header, content]

Signatures are compared in constant time; a message id seen before (or a message dated outside
the replay window) is refused by `ReplayGuard`. The signed header names the message's direction
(request, reply or event), so a reply or an event sent back to the daemon is never taken for a
request. What is parsed is bounded: header frames are small, no frame nests deeper than
`MAX_DEPTH`, and a reply echoes only the standard header fields of its request.
"""
from __future__ import annotations

import collections
import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
import uuid
from typing import Any

from shared.errors import AuthError, ProtocolError

DELIM = b"<IDS|MSG>"
PROTOCOL_VERSION = "1.1"
EVENT_TOPIC = b"event"
REPLAY_WINDOW_S = 600.0
DIRECTIONS = ("request", "reply", "event")
MAX_HEADER_BYTES = 8192  # header and parent_header frames; content is bounded by the daemon's setting
MAX_DEPTH = 32  # nesting of any frame: settings are a few levels deep, never more
MAX_FIELD_CHARS = 256  # each standard header field
HEADER_FIELDS = ("msg_id", "msg_type", "session", "date", "version", "direction")


def new_key() -> str:
    return secrets.token_hex(32)


def new_id() -> str:
    return uuid.uuid4().hex


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), default=str).encode("utf-8")


class Session:
    """Builds, signs, serialises and verifies messages for one party (daemon or client)."""

    def __init__(self, key: str | bytes, session_id: str | None = None) -> None:
        self.key = key.encode("ascii") if isinstance(key, str) else key
        if not self.key:
            raise ValueError("a signing key is required")
        self.session_id = session_id or new_id()

    def sign(self, parts: list[bytes]) -> bytes:
        mac = hmac.new(self.key, digestmod=hashlib.sha256)
        for part in parts:
            mac.update(part)
        return mac.hexdigest().encode("ascii")

    def msg(self, msg_type: str, content: dict | None = None, parent: dict | None = None,
            msg_id: str | None = None, direction: str = "request") -> dict:
        """A message; `parent` (the request a reply or event answers) is echoed by its standard fields."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}")
        header = {
            "msg_id": msg_id or new_id(),
            "msg_type": msg_type,
            "session": self.session_id,
            "date": _now_iso(),
            "version": PROTOCOL_VERSION,
            "direction": direction,
        }
        return {"header": header, "parent_header": echo_header(parent or {}), "content": content or {}}

    def serialize(self, message: dict) -> list[bytes]:
        parts = [_dumps(message["header"]), _dumps(message["parent_header"]), _dumps(message["content"])]
        return [DELIM, self.sign(parts), *parts]

    def deserialize(self, frames: list[bytes], expect: str) -> dict:
        """Verify and parse the frames after the identities, which must be a message going in the
        direction `expect` ("request", "reply" or "event"); AuthError or ProtocolError if bad."""
        if len(frames) != 5 or frames[0] != DELIM:
            raise ProtocolError(f"malformed message: expected 5 frames after identities, got {len(frames)}")
        signature, parts = frames[1], frames[2:]
        if not signature:
            raise AuthError("unsigned message refused")
        if not hmac.compare_digest(signature, self.sign(parts)):
            raise AuthError("message with a wrong signature refused")
        if len(parts[0]) > MAX_HEADER_BYTES or len(parts[1]) > MAX_HEADER_BYTES:
            raise ProtocolError(f"message header over {MAX_HEADER_BYTES} bytes refused")
        header, parent, content = (_parse_frame(p, name) for p, name in zip(parts, FRAME_NAMES))
        for field in HEADER_FIELDS:
            value = header.get(field)
            if not isinstance(value, str) or len(value) > MAX_FIELD_CHARS:
                raise ProtocolError(f"header.{field} is missing, not a string or over {MAX_FIELD_CHARS} characters")
        if header["direction"] != expect:
            raise AuthError(f"{_a(header['direction'])} message was sent where {_a(expect)} was expected; refused")
        return {"header": header, "parent_header": parent, "content": content}


FRAME_NAMES = ("header", "parent_header", "content")


def _a(direction: str) -> str:
    return f"an {direction}" if direction[:1] in "aeiou" else f"a {direction}"


def _parse_frame(data: bytes, name: str) -> dict:
    """One JSON object frame, nested at most MAX_DEPTH deep; ProtocolError otherwise."""
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise ProtocolError(f"message {name} is not valid JSON: {err}") from None
    except RecursionError:
        raise ProtocolError(f"message {name} nests deeper than {MAX_DEPTH} levels; refused") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"message {name} must be a JSON object")
    if nesting_depth(value, MAX_DEPTH) > MAX_DEPTH:
        raise ProtocolError(f"message {name} nests deeper than {MAX_DEPTH} levels; refused")
    return value


def nesting_depth(value: Any, stop_at: int) -> int:
    """How deep lists and objects nest in `value` (without recursion), counting up to `stop_at` + 1."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > stop_at:
            return deepest
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def echo_header(header: dict) -> dict:
    """The standard fields of a header, as a reply or event names the message it answers: only
    short strings, so nothing a sender put in its header travels back."""
    return {k: v for k, v in header.items() if k in HEADER_FIELDS and isinstance(v, str) and len(v) <= MAX_FIELD_CHARS}


def split_identities(frames: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """(routing identities, message frames) split at the delimiter."""
    try:
        at = frames.index(DELIM)
    except ValueError:
        raise ProtocolError("malformed message: no delimiter frame") from None
    return frames[:at], frames[at:]


def message_age(header: dict) -> float:
    """Seconds since the message's date (negative when dated in the future)."""
    try:
        sent = dt.datetime.fromisoformat(header["date"])
    except (KeyError, ValueError):
        raise ProtocolError("header.date is not an ISO date") from None
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=dt.UTC)
    return (dt.datetime.now(dt.UTC) - sent).total_seconds()


class ReplayGuard:
    """Remembers message ids for a window; a repeat, or a message older than the window, is refused.

    Memory stays bounded because ids older than the window are forgotten and such old messages
    are refused by date anyway.
    """

    def __init__(self, window_s: float = REPLAY_WINDOW_S) -> None:
        self.window_s = window_s
        self._seen: collections.OrderedDict[str, float] = collections.OrderedDict()

    def seen(self, msg_id: str) -> bool:
        return msg_id in self._seen

    def check(self, header: dict) -> None:
        self._forget_old()
        age = message_age(header)
        if age > self.window_s or age < -self.window_s:
            raise AuthError(f"message dated {age:.0f} s away from now refused (replay window {self.window_s:.0f} s)")
        if header["msg_id"] in self._seen:
            raise AuthError(f"replayed message id {header['msg_id']} refused")
        self._seen[header["msg_id"]] = time.monotonic()

    def _forget_old(self) -> None:
        limit = time.monotonic() - self.window_s
        while self._seen and next(iter(self._seen.values())) < limit:
            self._seen.popitem(last=False)
