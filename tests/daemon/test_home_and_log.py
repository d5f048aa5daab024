"""The studio home is private, the daemon's log is bounded: refusals rate-limited, files rotated."""
from __future__ import annotations

import logging
import re
import stat

from daemon.logs import RefusalLog, setup_logging
from shared.protocol import DELIM, Session

from tests.daemon.wire import raw_socket, reply_of


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_studio_home_and_its_files_are_private(daemon):
    assert mode(daemon.home) == 0o700
    for name in ("daemon.json", "daemon.log", "daemon.lock"):
        assert mode(daemon.home / name) == 0o600, name


def test_a_flood_of_refused_messages_is_logged_at_a_bounded_rate(daemon_proc):
    client = daemon_proc.client
    session = Session(client.info["key"])
    sock = raw_socket(client)
    log_path = daemon_proc.home / "daemon.log"
    before = log_path.stat().st_size
    flood = 3000
    unsigned = [DELIM, b"", *session.serialize(session.msg("ping"))[2:]]
    for _ in range(flood):
        sock.send_multipart(unsigned)
    answered = 0
    for _ in range(flood):
        answered += reply_of(sock, session)["ename"] == "AuthError"
    assert answered == flood
    daemon_proc.stop()  # the count of what was left out is logged at the latest at shutdown
    text = log_path.read_text()
    logged = text.count("refused a request: unsigned message refused")
    left_out = sum(int(n) for n in re.findall(r"(\d+) more refused requests were not logged", text))
    assert 1 <= logged <= 10 and logged + left_out == flood
    assert log_path.stat().st_size - before < 10_000


def test_refusals_are_logged_again_once_the_window_is_over():
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("test.refusals")
    logger.addHandler(Collect())
    now = [0.0]
    refusals = RefusalLog(logger, burst=2, window_s=10.0, clock=lambda: now[0])
    for _ in range(5):
        refusals.refused("bad signature")
    assert len(records) == 2
    now[0] = 11.0
    refusals.tick()
    assert records[-1].startswith("3 more refused requests were not logged")
    refusals.refused("bad signature")
    assert records[-1] == "refused a request: bad signature"


def test_the_log_is_rotated_by_size_and_stays_private(tmp_path):
    path = tmp_path / "daemon.log"
    root = logging.getLogger()
    level = root.level
    handler = setup_logging(path, "INFO", max_bytes=4096)
    try:
        for i in range(400):
            logging.getLogger("test.rotation").info("line %d of a long run: %s", i, "x" * 40)
    finally:
        for h in root.handlers[-2:]:
            root.removeHandler(h)
        root.setLevel(level)
        handler.close()
    rotated = sorted(p.name for p in tmp_path.iterdir())
    assert rotated == ["daemon.log", "daemon.log.1", "daemon.log.2", "daemon.log.3"]
    for name in rotated:
        assert (tmp_path / name).stat().st_size <= 4096
        assert mode(tmp_path / name) == 0o600
    assert "line 399" in path.read_text()
