"""Crash injection for atomic-write tests: the k-th file-system step (rename, exchange, removal,
copy) raises, for k = 1, 2, ... until the write runs through, and a check runs after each."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from collections.abc import Callable

import shared.atomic as atomic


class Crash(BaseException):
    """Stands for the process dying at that call."""


def crash_at(monkeypatch, k: int) -> list[str]:
    """Make the k-th file-system step (rename, exchange, removal, copy) raise Crash; returns the log."""
    calls: list[str] = []

    def wrap(name, real):
        def step(*args, **kwargs):
            calls.append(name)
            if len(calls) == k:
                raise Crash(name)
            return real(*args, **kwargs)
        return step

    monkeypatch.setattr(os, "replace", wrap("replace", os.replace))
    monkeypatch.setattr(os, "rename", wrap("rename", os.rename))
    monkeypatch.setattr(Path, "rename", wrap("Path.rename", Path.rename))
    monkeypatch.setattr(shutil, "rmtree", wrap("rmtree", shutil.rmtree))
    monkeypatch.setattr(shutil, "copytree", wrap("copytree", shutil.copytree))
    monkeypatch.setattr(atomic, "_exchange", wrap("exchange", atomic._exchange))
    return calls


def every_crash(monkeypatch, setup: Callable[[], object], replace: Callable[[], object],
                check: Callable[[], object]) -> int:
    """Run `replace` with a crash at step 1, 2, ... until it runs through; `check` after each."""
    for k in range(1, 50):
        setup()
        with monkeypatch.context() as patch:
            calls = crash_at(patch, k)
            try:
                replace()
            except Crash:
                pass
        check()
        if len(calls) < k:  # ran to the end without reaching step k
            return k - 1
    raise AssertionError("never finished")
