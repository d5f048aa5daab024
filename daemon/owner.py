"""The process that started the daemon, when a dashboard did: the daemon ends when it ends.

A daemon started by the dashboard's "Start the daemon" button or by `run_dashboard.py
--start-daemon` gets `--owner-pid`; once that process has exited the server shuts down gracefully
(the running job saves first). A daemon started on its own has no owner and is left alone.
On Linux a pidfd says so exactly (no confusion with a new process that reuses the number); elsewhere
the pid is probed.
"""
from __future__ import annotations

import logging
import os
import select

log = logging.getLogger(__name__)


class OwnerWatch:
    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self._fd: int | None = None
        self._gone = False
        if pid is None:
            return
        try:
            self._fd = os.pidfd_open(pid)
        except ProcessLookupError:
            self._gone = True
        except (AttributeError, OSError):  # no pidfd on this system: probe the pid instead
            self._gone = not _alive(pid)

    def gone(self) -> bool:
        """True once the owner has exited (always False for a daemon without an owner)."""
        if self.pid is None or self._gone:
            return self._gone
        if self._fd is not None:
            self._gone = bool(select.select([self._fd], [], [], 0)[0])
        else:
            self._gone = not _alive(self.pid)
        return self._gone

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
