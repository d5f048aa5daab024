"""The `pipeline` job: a folder of songs to a trained, exported adapter with samples, stage by stage.

    result = run_pipeline(ctx, settings)

Stages (shared.pipeline_settings.STAGES): scan, label, preprocess, train, export, samples; what
each does is in `stages.py`. Each stage runs ordinary jobs as children of this one
(`JobContext.run_child`), recorded in the folder's `pipeline.json` (`record.py`) as they start.
A stage whose inputs are unchanged since it finished is reused. A failed stage stops the
pipeline with its reason (the job fails with a PipelineError); a stop ends it as stopped; either
way what finished is kept, and the next run goes on from the first stage not done. The stages'
states are in the job's progress (`progress.stages`) and `pipeline_stage` events.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from daemon.jobs import Job, JobContext
from daemon.pipeline.record import PipelineRecord, work_folder
from daemon.pipeline.stages import StagePlans
from daemon.pipeline.training import no_gpu
from shared.errors import JobStopped, PipelineError, StudioError
from shared.pipeline_settings import STAGES, PipelineSettings

log = logging.getLogger(__name__)

FINISHED_STATES = ("done", "reused")
# What stages and jobs made that must still be there for them to be reused (the rest of `files` too).
OUTPUT_PATHS = ("dataset", "tensors", "output_dir", "final", "adapter", "comfyui")


def run_pipeline(ctx: JobContext, settings: PipelineSettings) -> dict:
    """Run every stage that is not done with these inputs; the result names what was made."""
    return PipelineRun(ctx, settings).run()


class PipelineRun:
    """One run of the pipeline of a folder: its record, the stages' states, and its child jobs."""

    def __init__(self, ctx: JobContext, settings: PipelineSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.folder = Path(settings.folder).expanduser().resolve()
        if not self.folder.is_dir():
            raise PipelineSettings.field_error("folder", f"{self.folder} is not a folder")
        self.home = Path(ctx.services.built("home") or ctx.run_dir.parent.parent)
        self.work = work_folder(self.home, self.folder)
        self.record = PipelineRecord.load(self.work, self.folder)
        self.board = {name: {"state": "waiting", "jobs": [], "reason": ""} for name in STAGES}

    def run(self) -> dict:
        self.ctx.log(f"pipeline of {self.folder} (its record: {self.record.path})")
        plans = StagePlans(self)
        for name in STAGES:
            self.ctx.raise_if_stopped()
            stage = plans.plan(name)
            if self.record.reusable(name, stage.key):
                gone = missing_outputs(self.record.stage(name).get("output"))
                if not gone:
                    self.ctx.log(f"{name}: done before with the same inputs; reused")
                    self.show(name, "reused")
                    continue
                self.ctx.log(f"{name}: done before, but {gone[0]} is gone; running it again", level="warning")
            self.record.begin(name, stage.key)
            self.show(name, "running")
            try:
                output = stage.run()
            except JobStopped as stop:
                self._ended(name, "stopped", str(stop))
                raise
            except Exception as err:
                reason = str(err) if isinstance(err, StudioError) else f"{type(err).__name__}: {err}"
                self._ended(name, "failed", reason)
                raise PipelineError(f"the {name} stage failed: {reason}. The stages before it are kept: run the "
                                    f"pipeline again once this is fixed and it goes on from {name}.") from err
            self.record.end(name, "done", output)
            self.show(name, "done")
        return self.result()

    def _ended(self, name: str, state: str, reason: str) -> None:
        self.record.end(name, state, reason=reason)
        self.show(name, state, reason)

    def show(self, name: str, state: str, reason: str = "") -> None:
        """The stage's state in the job's progress and as a `pipeline_stage` event."""
        jobs = [job["id"] for job in (self.record.stage(name).get("jobs") or {}).values()]
        self.board[name] = {"state": state, "jobs": jobs, "reason": reason}
        done = sum(1 for entry in self.board.values() if entry["state"] in FINISHED_STATES)
        self.ctx.event("pipeline_stage", stage=name, **self.board[name])
        self.ctx.progress(done, len(STAGES), f"{name}: {state}", stage=name,
                          stages={k: dict(v) for k, v in self.board.items()})

    def child(self, stage: str, part: str, kind: str, settings: dict,
              resume: Callable[[dict, dict], dict] | None = None) -> dict:
        """Run one job of a stage and return its result; one that finished with the same inputs
        before is reused. A failed job raises PipelineError with its reason; a stopped one JobStopped."""
        earlier = (self.record.stage(stage).get("jobs") or {}).get(part)
        if earlier and earlier.get("state") == "done" and not missing_outputs(earlier.get("result")):
            self.ctx.log(f"{stage}: {kind} job {earlier['id']} finished before with the same inputs; reused")
            return earlier.get("result") or {}
        if earlier and resume is not None:
            settings = resume(earlier, settings)
            if settings.get("resume_from"):
                self.ctx.log(f"{stage}: {kind} job {earlier['id']} did not finish; going on from "
                             f"{settings['resume_from']}")

        def started(job: Job) -> None:
            self.record.job(stage, part, job.summary())
            self.show(stage, "running")

        job = self.ctx.run_child(kind, settings, on_start=started)
        self.record.job(stage, part, job.summary())
        if job.state == "done":
            return job.result or {}
        if job.state == "stopped":
            raise JobStopped(f"stopped in the {stage} stage ({kind} job {job.id}); run the pipeline again to go "
                             "on from there")
        reason = (job.error or {}).get("evalue") or f"it ended {job.state}"
        raise PipelineError(f"{kind} job {job.id}: {reason}")

    # -- what the stages ask of the daemon -------------------------------------------------------
    def model_fingerprint(self) -> str:
        """The fingerprint of the checkpoint trained on (selected first when one is named)."""
        from daemon.models.manager import manager_from

        manager = manager_from(self.ctx.services)
        if self.settings.checkpoint:
            manager.select(self.settings.checkpoint)
        return manager.fingerprint()

    def gpu(self) -> dict:
        """The GPU the preset is sized by, as the `gpu` command gives it; none when the daemon
        computes on another device."""
        from daemon.models.gpu import gpu_status
        from daemon.models.manager import manager_from

        device = manager_from(self.ctx.services).device
        if device.type != "cuda":
            return no_gpu(f"the daemon computes on the {device.type.upper()}")
        return gpu_status()

    def result(self) -> dict:
        out = {name: self.record.stage(name).get("output") or {} for name in STAGES}
        return {
            "folder": str(self.folder), "record": str(self.record.path), "dataset": out["scan"].get("dataset"),
            "tensors": out["preprocess"].get("tensors"), "train_run": out["train"].get("job"),
            "final": out["train"].get("final"), "adapter": out["export"].get("adapter"),
            "comfyui": out["export"].get("comfyui"), "samples": out["samples"],
            "stages": {k: dict(v) for k, v in self.board.items()},
        }


def missing_outputs(output: dict | None) -> list[str]:
    """The files and folders a stage or a job made that are no longer there (deleted by hand)."""
    output = output or {}
    files = output.get("files")
    paths = [output[key] for key in OUTPUT_PATHS if output.get(key)] + (files if isinstance(files, list) else [])
    return [path for path in paths if not Path(path).exists()]
