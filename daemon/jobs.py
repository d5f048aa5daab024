"""The job queue: one job runs at a time on a worker thread, the rest wait in order.

Each job gets a run folder (`<home>/runs/<job_id>/`) with `settings.json`, `job.json` (its state),
an append-only `events.jsonl` and whatever it writes. A job that raises ends as failed with its
error and traceback in its events; the queue goes on.

A job may run other jobs as its stages (`JobContext.run_child`, the pipeline does): each child is
a job of its own (run folder, events, state, listed with its `parent`), run at once on the same
worker thread, so still only one job computes at a time. A child shares its parent's stop flag:
stopping either stops both, and `running()` names the innermost one (the child).
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable

from daemon.events import EventBus
from daemon.recovery import recover_runs
from daemon.registry import JOB_KINDS, Services, lookup_job_kind
from daemon.sched import run_below_requests
from shared.atomic import write_json_atomic
from shared.errors import JobError, JobStopped, StudioError

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")
OUTPUT_SETTING = "output_dir"  # a job kind's setting of this name is its output folder (one job at a time)
FINISHED = ("done", "failed", "cancelled", "stopped", "interrupted")  # interrupted: by a daemon's death


@dataclass
class Job:
    id: str
    kind: str
    settings: Any
    run_dir: Path
    request_msg_id: str | None = None
    state: str = "queued"
    submitted_at: float = field(default_factory=time.time)
    started_at: float | None = None
    ended_at: float | None = None
    progress: dict = field(default_factory=dict)
    result: dict | None = None
    error: dict | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    actions: set = field(default_factory=set)
    resume_from: str | None = None  # an interrupted job's last checkpoint
    parent: str | None = None  # the job that runs this one as its stage (see JobContext.run_child)

    @classmethod
    def interrupted(cls, run_dir: Path, saved: dict) -> "Job":
        """A job a dead daemon left behind, from its job.json (see daemon.recovery)."""
        return cls(
            run_dir.name, str(saved.get("kind", "")), None, run_dir, state="interrupted",
            submitted_at=saved.get("submitted_at") or 0.0, started_at=saved.get("started_at"),
            ended_at=saved.get("ended_at"), progress=saved.get("progress") or {}, error=saved.get("error"),
            resume_from=saved.get("resume_from"), parent=saved.get("parent"),
        )

    def summary(self) -> dict:
        kind = JOB_KINDS.get(self.kind)
        return {
            "id": self.id,
            "kind": self.kind,
            "actions": list(kind.actions) if kind else [],  # what `action` accepts while it runs
            "state": self.state,
            "submitted_at": self.submitted_at,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "progress": dict(self.progress),
            "result": self.result,
            "error": self.error,
            "run_dir": str(self.run_dir),
            "resume_from": self.resume_from,
            "parent": self.parent,
        }


class JobContext:
    """What a job runner gets: its settings, folder, events, progress, stop flag and services."""

    def __init__(self, job: Job, bus: EventBus, services: Services, queue: JobQueue | None = None) -> None:
        self.job = job
        self.bus = bus
        self.services = services
        self.queue = queue
        self._progress_started = time.monotonic()

    @property
    def job_id(self) -> str:
        return self.job.id

    @property
    def settings(self) -> Any:
        return self.job.settings

    @property
    def run_dir(self) -> Path:
        return self.job.run_dir

    def event(self, type: str, **data: Any) -> dict:
        """Publish an event of this job (also appended to its events.jsonl)."""
        return self.bus.emit(
            type, data, job_id=self.job.id, parent_msg_id=self.job.request_msg_id,
            log_path=self.job.run_dir / "events.jsonl",
        )

    def log(self, message: str, level: str = "info") -> None:
        getattr(log, level if level in ("debug", "info", "warning", "error") else "info")(
            "[%s] %s", self.job.id, message
        )
        self.event("log", level=level, message=message)

    def progress(self, done: int, total: int, message: str = "", **extra: Any) -> None:
        """Report progress; rate (per second) and ETA are derived from the time since start."""
        elapsed = max(time.monotonic() - self._progress_started, 1e-9)
        rate = done / elapsed if done else 0.0
        eta = (total - done) / rate if rate > 0 and total else None
        self.job.progress = {
            "done": done, "total": total, "fraction": (done / total) if total else 0.0,
            "rate": rate, "eta_s": eta, "message": message, **extra,
        }
        self.event("progress", **self.job.progress)

    def reset_progress_clock(self) -> None:
        self._progress_started = time.monotonic()

    def metric(self, **values: Any) -> None:
        """A metric point (step, loss, lr...), kept in the status snapshot's ring buffer too."""
        self.event("metric", **values)

    @property
    def stop_requested(self) -> bool:
        return self.job.stop_event.is_set()

    def raise_if_stopped(self) -> None:
        """For jobs with nothing to save: end here as stopped."""
        if self.stop_requested:
            raise JobStopped("stopped by request")

    def take_action(self, name: str) -> bool:
        """True once per request of an action such as `save_now` or `sample_now`."""
        if name in self.job.actions:
            self.job.actions.discard(name)
            return True
        return False

    def write_json(self, name: str, data: Any) -> Path:
        """Write a JSON file into the run folder atomically."""
        return write_json_atomic(self.run_dir / name, data)

    def run_child(self, kind: str, settings: dict, on_start: Callable[[Job], None] | None = None) -> Job:
        """Run a job of `kind` now as a stage of this one, and return it once it ended (done, failed,
        stopped: read `state`, `result`, `error`). `on_start(child)` is called once it is listed."""
        if self.queue is None:
            raise JobError(f"{self.job.kind} jobs run stages only inside the daemon's queue")
        return self.queue.run_child(self.job, kind, settings, on_start)


class JobQueue:
    def __init__(self, runs_dir: Path, bus: EventBus, services: Services, job_nice: int = 0,
                 job_slice_ms: float = 0.0) -> None:
        self.runs_dir = runs_dir
        self.job_nice, self.job_slice_ms = job_nice, job_slice_ms
        self.bus = bus
        self.services = services
        self._jobs: dict[str, Job] = {}
        self._order: list[str] = []
        self._cond = threading.Condition()
        self._closing = False
        for run_dir, saved in recover_runs(runs_dir, _resume_point):
            job = Job.interrupted(run_dir, saved)
            self._jobs[job.id] = job
            self._order.append(job.id)
        self._worker = threading.Thread(target=self._work, name="job-worker", daemon=True)
        self._worker.start()

    # -- commands -------------------------------------------------------------------------
    def submit(self, kind: str, settings: dict | None, request_msg_id: str | None = None) -> Job:
        job = self._new_job(kind, settings, request_msg_id)
        with self._cond:
            if self._closing:
                raise JobError("the daemon is shutting down; no new jobs are taken")
            self._refuse_a_busy_output(kind, job.settings)  # again, under the same lock as the queueing
            self._jobs[job.id] = job
            self._order.append(job.id)
            self._persist(job)
            self._cond.notify_all()
        self._emit_state(job)
        return job

    def _new_job(self, kind: str, settings: dict | None, request_msg_id: str | None) -> Job:
        """A job with checked settings and its run folder (not queued yet)."""
        spec = lookup_job_kind(kind)
        parsed = spec.settings.from_dict(settings or {})
        if spec.check is not None:
            spec.check(parsed)
        with self._cond:
            self._refuse_a_busy_output(kind, parsed)
        job_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{secrets.token_hex(3)}"
        run_dir = self.runs_dir / job_id
        run_dir.mkdir(parents=True)
        write_json_atomic(run_dir / "settings.json", {"kind": kind, "settings": parsed.to_dict()})
        return Job(job_id, kind, parsed, run_dir, request_msg_id)

    def run_child(self, parent: Job, kind: str, settings: dict,
                  on_start: Callable[[Job], None] | None = None) -> Job:
        """Run a job as a stage of the running `parent`, on this (the worker's) thread; see the module
        docstring. Returns the child once it ended."""
        if self._closing or parent.stop_event.is_set():
            raise JobStopped(f"stopped before its {kind} stage started")
        child = self._new_job(kind, settings, parent.request_msg_id)
        child.parent, child.stop_event = parent.id, parent.stop_event
        with self._cond:
            child.state, child.started_at = "running", time.time()
            self._jobs[child.id] = child
            self._order.append(child.id)
            self._persist(child)
        self._emit_state(child)
        try:
            if on_start is not None:
                on_start(child)
        except BaseException:
            self._finish(child, "cancelled", None, None)  # never left "running" when its parent gives up
            raise
        self._finish(child, *self._run(child))
        return child

    def _refuse_a_busy_output(self, kind: str, settings: Any) -> None:
        """Two jobs writing into one folder would mix their files: a job whose output folder is (or
        is inside, or holds) the output folder of a queued or running job is refused, naming it."""
        mine = output_folder(settings)
        if mine is None:
            return
        for other in self.list():
            theirs = output_folder(other.settings) if other.state in ACTIVE else None
            if theirs is not None and (mine == theirs or mine.is_relative_to(theirs) or theirs.is_relative_to(mine)):
                label = lookup_job_kind(kind).settings.spec(OUTPUT_SETTING).label
                raise JobError(f"{label} {mine} is in use by the {other.state} {other.kind} job {other.id}; "
                               "wait for it to end (or stop it) or choose another folder")

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        with self._cond:
            if job.state != "queued":
                hint = " (use stop for the running job)" if job.state == "running" else ""
                raise JobError(f"job {job_id} is {job.state}, only queued jobs can be cancelled{hint}")
            job.state, job.ended_at = "cancelled", time.time()
            self._persist(job)
        self._emit_state(job)
        return job

    def stop(self, job_id: str | None = None) -> Job:
        job = self.running() if job_id is None else self.get(job_id)
        if job is None or job.state != "running":
            raise JobError("no job is running" if job is None else f"job {job.id} is {job.state}, not running")
        job.stop_event.set()
        job.progress["message"] = "stopping: saving first"
        self.bus.emit("job_stopping", {"id": job.id}, job_id=job.id)
        return job

    def action(self, job_id: str | None, name: str) -> Job:
        job = self.running() if job_id is None else self.get(job_id)
        if job is None or job.state != "running":
            raise JobError("no job is running")
        supported = lookup_job_kind(job.kind).actions
        if name not in supported:
            raise JobError(f"{job.kind} jobs do not act on {name!r}; they support: {', '.join(supported) or 'none'}")
        job.actions.add(name)
        return job

    def get(self, job_id: str) -> Job:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise JobError(f"no job {job_id!r} in this daemon") from None

    def running(self) -> Job | None:
        """The job computing now: the innermost one when a job runs another as its stage."""
        for job_id in reversed(self._order):  # a child is listed after its parent
            if self._jobs[job_id].state == "running":
                return self._jobs[job_id]
        return None

    def list(self) -> list[Job]:
        return [self._jobs[j] for j in self._order]

    def queued(self) -> list[Job]:
        return [j for j in self.list() if j.state == "queued"]

    def close(self, timeout: float = 30.0) -> None:
        """Stop taking jobs, stop the running one gracefully and wait for it to save."""
        with self._cond:
            self._closing = True
            for job in self.list():
                if job.state == "queued":
                    job.state, job.ended_at = "cancelled", time.time()
                    self._persist(job)
            running = self.running()
            if running is not None:
                running.stop_event.set()
            self._cond.notify_all()
        self._worker.join(timeout)

    # -- worker ---------------------------------------------------------------------------
    def _next(self) -> Job | None:
        with self._cond:
            while not self._closing:
                for job_id in self._order:
                    if self._jobs[job_id].state == "queued":
                        job = self._jobs[job_id]
                        job.state, job.started_at = "running", time.time()
                        self._persist(job)
                        return job
                self._cond.wait()
            return None

    def _work(self) -> None:
        run_below_requests(self.job_nice, self.job_slice_ms)
        while (job := self._next()) is not None:
            self._emit_state(job)
            self._finish(job, *self._run(job))

    def _finish(self, job: Job, state: str, result: dict | None, error: dict | None) -> None:
        with self._cond:
            # all at once, so a client never sees "failed" without its error, or "done" without an end
            job.result, job.error, job.ended_at, job.state = result, error, time.time(), state
            self._persist(job)
        self._emit_state(job)

    def _run(self, job: Job) -> tuple[str, dict | None, dict | None]:
        """Run the job's function; (final state, result, error)."""
        ctx = JobContext(job, self.bus, self.services, self)
        try:
            result = lookup_job_kind(job.kind).runner(ctx, job.settings) or {}
            return ("stopped" if job.stop_event.is_set() else "done"), result, None
        except JobStopped as stop:
            return "stopped", {"message": str(stop)}, None
        except Exception as err:  # a job's failure must never take the daemon down
            error = {
                "ename": type(err).__name__,
                "evalue": str(err),
                "user_error": isinstance(err, StudioError),
                "traceback": traceback.format_exc(),
            }
            log.error("job %s failed: %s", job.id, err)
            ctx.event("error", **error)
            return "failed", None, error

    def _emit_state(self, job: Job) -> None:
        self.bus.emit(
            "job_state", job.summary(), job_id=job.id, parent_msg_id=job.request_msg_id,
            log_path=job.run_dir / "events.jsonl",
        )

    def _persist(self, job: Job) -> None:
        write_json_atomic(job.run_dir / "job.json", job.summary())


def output_folder(settings: Any) -> Path | None:
    """The folder a job writes into besides its run folder: its `output_dir` setting, if it has one."""
    value = getattr(settings, OUTPUT_SETTING, None)
    return Path(value).expanduser().resolve() if isinstance(value, str) and value.strip() else None


def _resume_point(kind: str, run_dir: Path) -> Path | None:
    spec = JOB_KINDS.get(kind)
    return spec.resume_point(run_dir) if spec is not None and spec.resume_point is not None else None
