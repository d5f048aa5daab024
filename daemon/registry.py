"""Registries the server and the job queue look things up in, filled by modules at import.

- `@command("name")` registers a request handler `(ctx: CommandContext, content: dict) -> dict`.
- `@job_kind("name", SettingsClass)` registers a job runner `(ctx: JobContext, settings) -> dict`.
- `service("name", factory)` registers a lazily built, daemon-wide object (the model manager...);
  the factory gets the Services, so it can read "config", "home" and "bus".
- `on_startup(fn)` runs `fn(services)` once the daemon is listening (start background monitors).

Modules that register things are listed in `daemon.plugins.PLUGIN_MODULES`.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable

from shared.errors import ProtocolError
from shared.settings import SettingsGroup

CommandHandler = Callable[[Any, dict], dict]
JobRunner = Callable[[Any, Any], dict | None]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    handler: CommandHandler
    state_changing: bool


@dataclass(frozen=True)
class JobKind:
    name: str
    runner: JobRunner
    settings: type[SettingsGroup]
    description: str
    actions: tuple[str, ...] = ()
    resume_point: Callable[[Path], Path | None] | None = None  # where an interrupted run resumes from
    check: Callable[[Any], None] | None = None  # at submission, on the daemon's machine: raises a StudioError


COMMANDS: dict[str, CommandSpec] = {}
JOB_KINDS: dict[str, JobKind] = {}
_SERVICE_FACTORIES: dict[str, Callable[[Services], Any]] = {}
STARTUP_HOOKS: list[Callable[[Services], None]] = []


def command(name: str, *, state_changing: bool = False) -> Callable[[CommandHandler], CommandHandler]:
    """Register a request handler. State-changing commands are deduplicated by msg_id."""

    def register(fn: CommandHandler) -> CommandHandler:
        COMMANDS[name] = CommandSpec(name, fn, state_changing)
        return fn

    return register


def job_kind(name: str, settings: type[SettingsGroup], description: str = "",
             actions: tuple[str, ...] = (),
             resume_point: Callable[[Path], Path | None] | None = None,
             check: Callable[[Any], None] | None = None) -> Callable[[JobRunner], JobRunner]:
    """Register a job runner, the settings class its submissions are validated against, the
    actions (`save_now`...) it acts on while running, `resume_point(run_dir)`: the folder a run
    of this kind that a dead daemon interrupted resumes from, and `check(settings)`: what must hold
    on the daemon's machine for a submission to be taken (a file it reads exists...), so that a
    client on another machine hears it at once instead of from a failed job."""

    def register(fn: JobRunner) -> JobRunner:
        JOB_KINDS[name] = JobKind(name, fn, settings, description or (fn.__doc__ or "").strip(), actions,
                                  resume_point, check)
        return fn

    return register


def service(name: str, factory: Callable[[Services], Any]) -> None:
    """Register a daemon-wide object built on first use by `factory(services)` (see Services)."""
    _SERVICE_FACTORIES[name] = factory


def on_startup(fn: Callable[[Services], None]) -> Callable[[Services], None]:
    """Run `fn(services)` once the daemon is listening; a failure is logged, never fatal."""
    STARTUP_HOOKS.append(fn)
    return fn


def lookup_job_kind(name: str) -> JobKind:
    try:
        return JOB_KINDS[name]
    except KeyError:
        raise ProtocolError(f"unknown job kind {name!r}; known: {', '.join(sorted(JOB_KINDS))}") from None


class Services:
    """Daemon-wide objects, each built once on first use, thread-safe."""

    def __init__(self, **ready: Any) -> None:
        self._objects: dict[str, Any] = dict(ready)
        self._lock = threading.RLock()  # a factory may get() another service

    def get(self, name: str) -> Any:
        with self._lock:
            if name not in self._objects:
                if name not in _SERVICE_FACTORIES:
                    raise KeyError(f"no service {name!r}; registered: {sorted(_SERVICE_FACTORIES)}")
                self._objects[name] = _SERVICE_FACTORIES[name](self)
            return self._objects[name]

    def built(self, name: str) -> Any | None:
        """The object when already built, else None (never builds)."""
        return self._objects.get(name)

    def put(self, name: str, obj: Any) -> None:
        with self._lock:
            self._objects[name] = obj

    def close(self) -> None:
        for obj in list(self._objects.values()):
            closer = getattr(obj, "close", None)
            if callable(closer):
                closer()
