"""The daemon's protocol against a real daemon process on loopback."""
from __future__ import annotations

import json
import stat
import subprocess
import sys
import time

import pytest

from shared.errors import AuthError, ProtocolError, SettingsError
from shared.protocol import DELIM, Session

from tests.conftest import ROOT
from tests.daemon.wire import raw_socket, reply_of


def test_connection_file_is_private(daemon):
    mode = stat.S_IMODE((daemon.home / "daemon.json").stat().st_mode)
    assert mode == 0o600
    info = json.loads((daemon.home / "daemon.json").read_text())
    for field in ("transport", "host", "request_port", "event_port", "key", "pid", "daemon_session"):
        assert field in info


def test_wrong_and_missing_signatures_are_refused(daemon):
    good = Session(daemon.info["key"])
    forged = Session("not-the-key")
    sock = raw_socket(daemon)
    sock.send_multipart(forged.serialize(forged.msg("ping")))
    reply = reply_of(sock, good)
    assert reply["status"] == "error" and reply["ename"] == "AuthError"
    frames = good.serialize(good.msg("ping"))
    frames[1] = b""
    sock.send_multipart(frames)
    assert reply_of(sock, good)["ename"] == "AuthError"
    assert "refused" in (daemon.home / "daemon.log").read_text()


def test_replayed_message_is_refused(daemon):
    session = Session(daemon.info["key"])
    sock = raw_socket(daemon)
    frames = session.serialize(session.msg("ping"))
    sock.send_multipart(frames)
    assert reply_of(sock, session)["status"] == "ok"
    sock.send_multipart(frames)
    reply = reply_of(sock, session)
    assert reply["ename"] == "AuthError" and "replayed" in reply["evalue"]


def test_repeated_submit_runs_once(daemon):
    session = Session(daemon.info["key"])
    sock = raw_socket(daemon)
    frames = session.serialize(session.msg("submit", {"kind": "selftest", "settings": {"steps": 1}}))
    sock.send_multipart(frames)
    first = reply_of(sock, session)
    sock.send_multipart(frames)
    second = reply_of(sock, session)
    assert first["job_id"] == second["job_id"] and second["duplicate"] is True
    assert len(daemon.jobs()) == 1


def test_malformed_messages_leave_the_daemon_serving(daemon):
    session = Session(daemon.info["key"])
    sock = raw_socket(daemon)
    good = session.serialize(session.msg("ping"))
    garbage = [
        [b"hello"],
        [DELIM],
        [DELIM, b"sig", b"{", b"{}", b"{}"],
        [DELIM, *good[1:3]],
        good[:2] + [b"not json"] + good[3:],
        [b"\xff" * 100, DELIM, b"", b"", b"", b""],
    ]
    for i in range(1000):
        sock.send_multipart(garbage[i % len(garbage)])
    # signed but wrong: unknown command, wrong content types, wrong header types
    sock.send_multipart(session.serialize(session.msg("no_such_command")))
    sock.send_multipart(session.serialize(session.msg("submit", {"kind": 5})))
    sock.send_multipart(session.serialize(session.msg("events", {"since": "x"})))
    bad_header = session.msg("ping")
    bad_header["header"]["msg_id"] = 12
    sock.send_multipart(session.serialize(bad_header))
    sock.send_multipart(session.serialize(session.msg("ping", {"pad": "x" * (17 * 1024 * 1024)})))
    time.sleep(0.5)
    assert daemon.ping(timeout=2.0)["pong"] is True
    # every malformed message that could be answered was answered with an error, never a crash
    errors = 0
    while sock.poll(200):
        content = json.loads(sock.recv_multipart()[-1])
        errors += content.get("status") == "error"
    assert errors >= 1000


def test_error_replies_name_what_is_wrong(daemon):
    with pytest.raises(ProtocolError, match="unknown command 'frobnicate'"):
        daemon.request("frobnicate")
    with pytest.raises(ProtocolError, match="unknown job kind 'nope'"):
        daemon.submit("nope")
    with pytest.raises(SettingsError, match=r"^Steps: expected int, got 'many'"):
        daemon.submit("selftest", {"steps": "many"})
    with pytest.raises(SettingsError, match="unknown setting.*colour"):
        daemon.submit("selftest", {"colour": "red"})


def test_second_daemon_for_the_same_home_is_refused(daemon_proc):
    result = subprocess.run(
        [sys.executable, str(ROOT / "run_daemon.py"), "--home", str(daemon_proc.home)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert f"pid {daemon_proc.proc.pid}" in result.stderr


def test_binding_beyond_loopback_needs_a_flag(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "run_daemon.py"), "--home", str(tmp_path), "--host", "0.0.0.0"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1 and "--allow-remote" in result.stderr


def test_client_with_a_wrong_key_gets_an_auth_error(daemon):
    right, daemon.session = daemon.session, Session("wrong")
    try:
        with pytest.raises(AuthError):
            daemon.ping(timeout=1.0)
    finally:
        daemon.session = right  # the fixture shuts the daemon down with it
