"""Hostile and malformed messages against a real daemon: each gets an error reply, none ends it.

The fuzz test sends a few hundred messages in batches (deep nesting, wrong directions, replays,
forged signatures, wrong types, oversized fields) and checks after every batch that the daemon
still answers a signed status.
"""
from __future__ import annotations

import random

from shared.protocol import DELIM, Session

from tests.daemon.wire import header_json, nested, raw_socket, reply_of, signed


def test_a_deeply_nested_header_gets_an_error_and_the_daemon_lives(daemon_proc):
    client = daemon_proc.client
    session = Session(client.info["key"])
    sock = raw_socket(client)
    for depth in (40, 500, 990, 3000):  # 990 parsed, then overflowed the reply's echo
        sock.send_multipart(signed(session, header_json(session, extra=f',"x":{nested(depth)}')))
        reply = reply_of(sock, session)
        assert reply["status"] == "error" and "nests deeper than 32 levels" in reply["evalue"]
    sock.send_multipart(signed(session, header_json(session), content=f'{{"x":{nested(990)}}}'))
    assert "nests deeper" in reply_of(sock, session)["evalue"]
    assert daemon_proc.proc.poll() is None
    assert client.status()["pid"] == daemon_proc.proc.pid


def test_a_reply_or_event_sent_back_is_never_taken_for_a_request(daemon):
    session = Session(daemon.info["key"])
    sock = raw_socket(daemon)
    # a reply the daemon signed (its answer to an unsigned message), sent back as it came
    sock.send_multipart([DELIM, b"", b"{}", b"{}", b"{}"])
    assert sock.poll(3000)
    daemon_reply = sock.recv_multipart()
    sock.send_multipart(daemon_reply)
    refused = reply_of(sock, session)
    assert refused["ename"] == "AuthError"
    assert "reply message was sent where a request was expected" in refused["evalue"]
    # a message built as a reply or an event, even for a real command, is refused alike
    for direction in ("reply", "event"):
        sock.send_multipart(session.serialize(session.msg("shutdown", direction=direction)))
        refused = reply_of(sock, session)
        assert refused["ename"] == "AuthError" and f"{direction} message was sent where" in refused["evalue"]
    assert daemon.ping()["pong"]


def test_an_error_reply_quotes_a_huge_value_only_in_part(daemon):
    session = Session(daemon.info["key"])
    sock = raw_socket(daemon)
    huge = {"kind": "selftest", "settings": {"steps": "9" * 500_000}}
    sock.send_multipart(session.serialize(session.msg("submit", huge)))
    reply = reply_of(sock, session)
    assert reply["ename"] == "SettingsError" and reply["evalue"].startswith("Steps: expected int")
    assert len(reply["evalue"]) < 3000 and "more characters" in reply["evalue"]


def hostile_messages(session: Session, rng: random.Random, replayable: list[list[bytes]]) -> list[list[bytes]]:
    """One batch of hostile or malformed messages, each a list of frames (no identity: DEALER adds it)."""
    good = session.serialize(session.msg("ping"))
    forged = Session("not-the-key")
    depth = rng.choice([33, 100, 800, 990, 2000, 20000])
    submit = header_json(session, "submit")
    choices = [
        lambda: signed(session, header_json(session, extra=f',"x":{nested(depth)}')),
        lambda: signed(session, header_json(session), parent=f'{{"p":{nested(depth)}}}'),
        lambda: signed(session, submit, content=f'{{"kind":"selftest","settings":{nested(depth)}}}'),
        lambda: signed(session, header_json(session, direction=rng.choice(["reply", "event"]))),
        lambda: signed(session, header_json(session).replace('"request"', '"sideways"')),
        lambda: signed(session, header_json(session, extra=',"pad":"' + "x" * 9000 + '"')),
        lambda: signed(session, header_json(session).replace('"ping"', '"' + "p" * 300 + '"')),
        lambda: signed(session, header_json(session).replace('"date": "', '"date": "19')),
        lambda: signed(session, b"[]"),
        lambda: signed(session, b"\xff\xfe not utf-8"),
        lambda: signed(session, b'{"msg_id": 1}'),
        lambda: signed(session, header_json(session, "status"), content=b'{"metrics_limit": NaN}'),
        lambda: signed(session, header_json(session, "status"), content=b'{"metrics_since": -1e308}'),
        lambda: signed(session, header_json(session, "events"), content=b'{"since": 0, "limit": 1e400}'),
        lambda: signed(session, header_json(session, "job"), content=b'{"job_id": "../../../etc/passwd"}'),
        lambda: signed(session, submit, content=b'{"kind": "selftest", "settings": {"step_seconds": NaN}}'),
        lambda: signed(session, submit, content=b'{"kind": "selftest", "settings": [1]}'),
        lambda: signed(session, header_json(session, "cancel"), content=b'{"job_id": {"$ne": 1}}'),
        lambda: signed(session, header_json(session, "no_such_command")),
        lambda: forged.serialize(forged.msg("shutdown")),
        lambda: [DELIM, b"", *good[2:]],
        lambda: [DELIM, good[1], good[2], good[3]],
        lambda: [DELIM, good[1], *good[2:], b"extra"],
        lambda: [bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))],
        lambda: rng.choice(replayable) if replayable else good,
    ]
    batch = [rng.choice(choices)() for _ in range(50)]
    replayable.append(good)
    replayable.append(batch[0])
    return batch + [good, good]  # a message and its exact replay


def test_fuzz_hostile_messages_never_stop_the_daemon(daemon_proc):
    client = daemon_proc.client
    session = Session(client.info["key"])
    sock = raw_socket(client)
    rng = random.Random(1234)
    replayable: list[list[bytes]] = []
    sent = 0
    for batch_number in range(8):
        batch = hostile_messages(session, rng, replayable)
        for frames in batch:
            sock.send_multipart(frames)
        sent += len(batch)
        assert client.status(metrics_limit=0)["pid"] == daemon_proc.proc.pid, f"no status after batch {batch_number}"
    assert sent >= 400
    replies = []
    while sock.poll(500):
        reply = session.deserialize(sock.recv_multipart(), expect="reply")
        replies.append((reply["header"]["msg_type"], reply["content"]))
    assert len(replies) >= sent - 25, "every message with a routing identity gets a reply"
    assert all(content["status"] in ("ok", "error") for _, content in replies)
    internal = [content for _, content in replies if content.get("ename") == "InternalError"]
    assert not internal, internal[:3]
    accepted = {msg_type for msg_type, content in replies if content["status"] == "ok"}
    assert accepted <= {"ping_reply", "status_reply"}, accepted
    assert client.jobs() == [], "no hostile submit queued a job"
    assert daemon_proc.proc.poll() is None
