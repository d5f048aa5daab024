"""Both sockets encrypted (ZeroMQ CURVE) and events signed: a peer without the connection file
reads nothing, and an event verifies only with the daemon's key."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import zmq

from shared.errors import AuthError
from shared.protocol import EVENT_TOPIC, Session
from shared.transport import CURVE_KEY_FIELD, address

from tests.conftest import ROOT, DaemonProcess
from tests.daemon.test_jobs import wait_state


@pytest.fixture
def remote_daemon(tmp_path):
    """A daemon started with --allow-remote (bound to loopback, so the test reaches no network)."""
    proc = DaemonProcess(tmp_path / "studio", "--allow-remote")
    proc.home.mkdir()
    proc.start()
    yield proc
    proc.stop()


def plain_socket(info: dict, kind: int, port_key: str, server_key: bytes | None = None) -> zmq.Socket:
    """A socket opened without the connection file's key (or with a wrong one)."""
    sock = zmq.Context.instance().socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    if server_key is not None:
        sock.curve_serverkey = server_key
        sock.curve_publickey, sock.curve_secretkey = zmq.curve_keypair()
    sock.connect(address(info, port_key))
    return sock


def received(sock: zmq.Socket, seconds: float) -> list[list[bytes]]:
    got = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if sock.poll(int(left * 1000) + 1):
            got.append(sock.recv_multipart())
    return got


def test_with_allow_remote_a_subscriber_without_the_key_reads_no_event(remote_daemon):
    client = remote_daemon.client
    info = json.loads((remote_daemon.home / "daemon.json").read_text())
    assert info["encryption"] == "curve" and info[CURVE_KEY_FIELD]
    strangers = [plain_socket(info, zmq.SUB, "event_port"),
                 plain_socket(info, zmq.SUB, "event_port", server_key=zmq.curve_keypair()[0])]
    for sock in strangers:
        sock.setsockopt(zmq.SUBSCRIBE, b"")
    with client.subscribe() as stream:
        time.sleep(0.3)  # let every subscription (or handshake attempt) settle
        job_id = client.submit("selftest", {"steps": 5, "step_seconds": 0.01})
        wait_state(client, job_id, ("done",))
        ours = []
        while (batch := stream.drain(0.5)):
            ours += batch
    assert any(e["type"] == "metric" and e["job_id"] == job_id for e in ours)
    assert all(received(sock, 0.5) == [] for sock in strangers)
    # requests alike: a socket without the key gets no answer, even to a correctly signed message
    dealer = plain_socket(info, zmq.DEALER, "request_port")
    session = Session(info["key"])
    dealer.send_multipart(session.serialize(session.msg("ping")), zmq.NOBLOCK)
    assert received(dealer, 1.0) == []


def test_events_are_signed_and_verify_only_with_the_daemons_key(daemon):
    sub = daemon.connect(zmq.SUB, "event_port")
    sub.setsockopt(zmq.SUBSCRIBE, EVENT_TOPIC)
    time.sleep(0.3)
    daemon.submit("selftest", {"steps": 1, "step_seconds": 0})
    frames = received(sub, 1.0)
    assert frames
    event = Session(daemon.info["key"]).deserialize(frames[0][1:], expect="event")
    assert event["header"]["direction"] == "event" and event["content"]["seq"] >= 1
    with pytest.raises(AuthError, match="wrong signature"):
        Session("another-key").deserialize(frames[0][1:], expect="event")
    with pytest.raises(AuthError, match="an event message was sent where a request was expected"):
        Session(daemon.info["key"]).deserialize(frames[0][1:], expect="request")


def test_allow_remote_without_encryption_is_refused(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "run_daemon.py"), "--home", str(tmp_path), "--allow-remote", "--no-encrypt"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1 and "--allow-remote needs encryption" in result.stderr
