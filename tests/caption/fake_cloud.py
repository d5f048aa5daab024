"""A stand-in for Gemini, OpenAI and ElevenLabs on loopback: it records each request and answers
from a script (status, headers, body), in each provider's documented response format."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # a dict is sent as JSON
    headers: dict = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a timeout test)


@dataclass
class Request:
    method: str
    path: str
    headers: dict
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, list]:
        """Multipart fields: name -> [values] (a file part as (filename, content type, bytes))."""
        message = BytesParser(policy=email_policy).parsebytes(
            b"Content-Type: " + self.headers["content-type"].encode() + b"\r\n\r\n" + self.body)
        out: dict[str, list] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            filename = part.get_filename()
            value = (filename, part.get_content_type(), payload) if filename else payload.decode()
            out.setdefault(name, []).append(value)
        return out


class FakeCloud:
    """`with FakeCloud([Reply(...), ...]) as cloud:` serves the replies in order at `cloud.url`."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = list(replies)
        self.requests: list[Request] = []
        cloud = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server API)
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                cloud.requests.append(Request("POST", self.path, {k.lower(): v for k, v in self.headers.items()},
                                              body))
                reply = cloud.replies.pop(0) if cloud.replies else Reply(500, {"error": {"message": "no reply left"}})
                if reply.delay:
                    time.sleep(reply.delay)
                data = json.dumps(reply.body).encode() if not isinstance(reply.body, bytes) else reply.body
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeCloud:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def gemini_answer(data: dict) -> dict:
    """A generateContent response whose one candidate's text is `data` as JSON."""
    return {"candidates": [{"content": {"parts": [{"text": json.dumps(data)}], "role": "model"},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 412, "candidatesTokenCount": 96, "totalTokenCount": 508},
            "modelVersion": "gemini-2.5-flash"}


def gemini_error(code: int, status: str, message: str, **extra: Any) -> dict:
    return {"error": {"code": code, "message": message, "status": status, **extra}}


def openai_error(message: str, type_: str, code: str) -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}
