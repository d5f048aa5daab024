"""The daemon's log: `daemon.log` in the studio home, private (0600) and rotated by size, and a
rate limit for the one kind of line a stranger can provoke at will, the refused message.

A flood of unsigned messages must not fill the disk: refusals are logged at most `burst` per
window, and the count of those left out is logged once per window (and at shutdown).
"""
from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path

LOG_BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class PrivateRotatingFileHandler(RotatingFileHandler):
    """A size-rotated log whose files (the current one and each new one) are created 0600."""

    def _open(self):  # type: ignore[override]
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)  # a log left by an older version may be 0644
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


def setup_logging(path: Path, level: str = "INFO", max_bytes: int = 5 * 2**20) -> logging.Handler:
    """Log to stderr and to `path` (rotated at `max_bytes`, LOG_BACKUPS old files kept); returns
    the file handler."""
    handler = PrivateRotatingFileHandler(path, maxBytes=max_bytes, backupCount=LOG_BACKUPS, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.setLevel(level.upper())
    root.addHandler(stderr)
    root.addHandler(handler)
    return handler


class RefusalLog:
    """Logs refused messages at most `burst` per `window_s`; counts the rest and says how many."""

    def __init__(self, logger: logging.Logger, burst: int = 10, window_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.burst = burst
        self.window_s = window_s
        self.clock = clock
        self.window_started = clock()
        self.logged = 0
        self.suppressed = 0

    def refused(self, reason: str) -> None:
        self.tick()
        if self.logged < self.burst:
            self.logged += 1
            self.logger.warning("refused a request: %s", reason)
        else:
            self.suppressed += 1

    def tick(self) -> None:
        """Close the window when it is over (called by the server's loop, so a count is never held back)."""
        if self.clock() - self.window_started >= self.window_s:
            self.flush()
            self.window_started, self.logged = self.clock(), 0

    def flush(self) -> None:
        if self.suppressed:
            self.logger.warning("%d more refused requests were not logged (at most %d are logged per %.0f s)",
                                self.suppressed, self.burst, self.window_s)
            self.suppressed = 0
