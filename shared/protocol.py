"""The message envelope and its signing, shared by the daemon and every client.

Modelled on Jupyter's messaging: a message is `header`, `parent_header`, `content`, serialised as
JSON frames after a delimiter and an HMAC-SHA256 signature over those frames:

    [identities..., DELIM, signature, header, parent_header, content]

Signatures are compared in constant time; a message id seen before (or a message dated outside
the replay window) is refused by `ReplayGuard`.
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
PROTOCOL_VERSION = "1.0"
EVENT_TOPIC = b"event"
REPLAY_WINDOW_S = 600.0


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
            msg_id: str | None = None) -> dict:
        header = {
            "msg_id": msg_id or new_id(),
            "msg_type": msg_type,
            "session": self.session_id,
            "date": _now_iso(),
            "version": PROTOCOL_VERSION,
        }
        return {"header": header, "parent_header": dict(parent or {}), "content": content or {}}

    def serialize(self, message: dict) -> list[bytes]:
        parts = [_dumps(message["header"]), _dumps(message["parent_header"]), _dumps(message["content"])]
        return [DELIM, self.sign(parts), *parts]

    def deserialize(self, frames: list[bytes]) -> dict:
        """Verify and parse the frames after the identities; AuthError or ProtocolError if bad."""
        if len(frames) != 5 or frames[0] != DELIM:
            raise ProtocolError(f"malformed message: expected 5 frames after identities, got {len(frames)}")
        signature, parts = frames[1], frames[2:]
        if not signature:
            raise AuthError("unsigned message refused")
        if not hmac.compare_digest(signature, self.sign(parts)):
            raise AuthError("message with a wrong signature refused")
        try:
            header, parent, content = (json.loads(p) for p in parts)
        except (ValueError, UnicodeDecodeError) as err:
            raise ProtocolError(f"message is not valid JSON: {err}") from None
        if not isinstance(header, dict) or not isinstance(parent, dict) or not isinstance(content, dict):
            raise ProtocolError("header, parent_header and content must each be a JSON object")
        for field in ("msg_id", "msg_type", "session", "date"):
            if not isinstance(header.get(field), str):
                raise ProtocolError(f"header.{field} is missing or not a string")
        return {"header": header, "parent_header": parent, "content": content}


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
