"""HTTP for the cloud providers, standard library only: keys, retries with backoff, clear errors.

    key = api_key("GEMINI_API_KEY", "Gemini")              # ProviderError (fatal) when unset
    data = post_json(url, body, headers, label="Gemini", timeout=180, retries=4)

Rate limits (429) and server errors (5xx) are retried after what the server asks (`Retry-After`,
or Gemini's `retryDelay`), else 2, 4, 8... seconds; so are timeouts and refused connections. A
refused key (401, 403, or Gemini's 400 "API key not valid") is fatal: the batch stops at once
rather than failing every file the same way. Every error names the provider and what to do.
"""
from __future__ import annotations

import json
import logging
import os
import re
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from shared.errors import ProviderError

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 2.0
MAX_WAIT_S = 60.0
RETRY_STATUSES = (429, 500, 502, 503, 504)


def api_key(variable: str, label: str, *alternatives: str) -> str:
    """The key in the daemon's environment under `variable` (or an alternative name)."""
    for name in (variable, *alternatives):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    raise ProviderError(f"{label}: no API key; set {variable} in the daemon's environment and restart the "
                        "daemon (keys are never stored by the studio)", fatal=True)


def base_url(setting: str, variable: str, default: str) -> str:
    """The API address: the setting, else the environment variable, else the provider's own."""
    return (setting or os.environ.get(variable, "") or default).rstrip("/")


def post_json(url: str, body: bytes, headers: dict[str, str], *, label: str, timeout: float, retries: int,
              sleep: Callable[[float], None] = time.sleep) -> Any:
    """POST `body` and return the JSON answer, retrying what is worth retrying (see the module doc)."""
    last = ""
    for attempt in range(retries + 1):
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) only, see base_url)
                return _json(response.read(), label)
        except urllib.error.HTTPError as err:
            payload = err.read()
            message = error_message(payload)
            if _key_refused(err.code, message):
                raise ProviderError(f"{label} refused the API key (HTTP {err.code}: {message}); check the key in "
                                    "the daemon's environment", fatal=True) from None
            if err.code not in RETRY_STATUSES:
                raise ProviderError(f"{label} answered HTTP {err.code}: {message}") from None
            wait = _asked_wait(err.headers, payload)
            last = ("rate limited" if err.code == 429 else f"server error {err.code}") + f" ({message})"
        except TimeoutError:
            wait, last = None, f"no answer within {timeout:g} s"
        except urllib.error.URLError as err:
            if isinstance(err.reason, TimeoutError):
                wait, last = None, f"no answer within {timeout:g} s"
            else:
                wait, last = None, f"cannot reach {url.split('?')[0]} ({err.reason})"
        if attempt == retries:
            break
        delay = min(MAX_WAIT_S, wait if wait is not None else BACKOFF_BASE_S * 2 ** attempt)
        log.warning("%s: %s; retry %d of %d in %.1f s", label, last, attempt + 1, retries, delay)
        sleep(delay)
    raise ProviderError(f"{label}: {last}; gave up after {retries + 1} tries (raise Max retries, or try later)")


def error_message(payload: bytes) -> str:
    """The message of an error answer: Gemini's and OpenAI's `error.message`, ElevenLabs' `detail`."""
    try:
        data = json.loads(payload.decode("utf-8", "replace"))
    except ValueError:
        return payload.decode("utf-8", "replace").strip()[:300] or "no details"
    if isinstance(data, dict):
        error, detail = data.get("error"), data.get("detail")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        if isinstance(detail, dict):
            return str(detail.get("message") or detail.get("status") or detail)[:300]
        if isinstance(detail, list):
            return "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)[:300]
        if isinstance(detail, str):
            return detail[:300]
    return json.dumps(data)[:300]


def _key_refused(status: int, message: str) -> bool:
    return status in (401, 403) or (status == 400 and "api key" in message.lower())


def _asked_wait(headers: Any, payload: bytes) -> float | None:
    """Seconds the server asked to wait: `Retry-After`, or Gemini's RetryInfo `retryDelay` ("7s")."""
    header = headers.get("Retry-After") if headers is not None else None
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
    found = re.search(rb'"retryDelay"\s*:\s*"(\d+(?:\.\d+)?)s"', payload)
    return float(found.group(1)) if found else None


def _json(raw: bytes, label: str) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ProviderError(f"{label} answered something that is not JSON: {raw[:200]!r}") from None


def multipart(fields: dict[str, str | list[str]], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    """A multipart/form-data body and its content type; a list value repeats its field."""
    boundary = "studio-" + secrets.token_hex(12)
    parts: list[bytes] = []
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{item}\r\n'.encode())
    for name, (filename, data, mime) in files.items():
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: {mime}\r\n\r\n").encode()
        parts.append(head + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
