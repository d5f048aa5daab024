"""Fixtures for the preprocessing tests: the demo model's manager (loaded once) and an inline job runner.

`run_inline(settings, stop_after=N)` runs the real `preprocess` job function in this process with
a real JobContext (events go to the run folder), optionally asking it to stop after N files.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import job_context
from shared.preprocess_settings import PreprocessSettings


class InlineRun:
    """The outcome of one inline job: its result and its events."""

    def __init__(self, result: dict, run_dir: Path) -> None:
        self.result = result
        self.events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]

    def of_type(self, kind: str) -> list[dict]:
        return [e["data"] for e in self.events if e["type"] == kind]


@pytest.fixture
def run_inline(demo_manager, tmp_path):
    from daemon.preprocess.pipeline import run_preprocess

    counter = iter(range(1000))

    def run(settings: PreprocessSettings, stop_after: int | None = None) -> InlineRun:
        ctx = job_context(demo_manager, tmp_path / f"run-{next(counter)}", "preprocess", settings)
        if stop_after is not None:
            progress = ctx.progress

            def progress_then_stop(done, total, message="", **extra):
                progress(done, total, message, **extra)
                if done >= stop_after:
                    ctx.job.stop_event.set()

            ctx.progress = progress_then_stop  # type: ignore[method-assign]
        return InlineRun(run_preprocess(ctx, settings), ctx.run_dir)

    return run
