"""The six stages of a pipeline: for each, the fingerprint of its inputs and what running it does.

    plans = StagePlans(run)
    stage = plans.plan("preprocess")     # Stage(name, key, run); run() returns what is recorded

Each stage runs jobs of the ordinary kinds through `run.child` (dataset_scan, caption,
preprocess, train, export, generate), so each is listed, stoppable and logged like any job.
A stage's key holds the settings its jobs get (resolved: the preset chosen, the model's
fingerprint) and the output of the stage before it, so a change reruns that stage and the ones
after it, and nothing before it.
"""
from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon.pipeline.record import digest, folder_state
from daemon.pipeline.scan import dataset_file
from daemon.pipeline.training import training_settings
from daemon.registry import JOB_KINDS
from shared.dataset import load_dataset
from shared.errors import PipelineError
from shared.preprocess_settings import PreprocessSettings
from shared.prompt import effective_language, training_caption
from shared.wording import counted, readable

if TYPE_CHECKING:
    from daemon.pipeline.run import PipelineRun

log = logging.getLogger(__name__)

TENSORS_PREFIX = "tensors-"
FINAL_STRENGTHS = [0.0, 1.0]  # the base model, then the adapter as trained: the difference it makes
FAILURES_NAMED = 3
# Settings of a train job that do not change the adapter it trains (the samples it renders on the way).
NOT_TRAINING = ("tensors_dir", "resume_from", "sample_every_epochs", "sample_prompts", "sample_strengths",
                "sample_seconds", "sample_seed", "sample_lyrics", "sample_bpm", "sample_key", "sample_timesignature",
                "sample_language", "sample_steps", "sample_guidance", "sample_shift", "sample_format")


@dataclass
class Stage:
    name: str
    key: str
    run: Callable[[], dict]


class StagePlans:
    """Plans the stages of one pipeline run in order (a plan reads the outputs recorded before it)."""

    def __init__(self, run: PipelineRun) -> None:
        self.run = run
        self.settings = run.settings
        self.record = run.record

    def plan(self, name: str) -> Stage:
        return getattr(self, f"_{name}")()

    def output(self, name: str) -> dict:
        return self.record.stage(name).get("output") or {}

    # -- the folder: scan, then labels ---------------------------------------------------------
    def _scan(self) -> Stage:
        folder, now = self.run.folder, folder_state(self.run.folder)
        earlier = self.output("scan").get("input")
        # The scan and the labelling change the folder; found as they left it, it is unchanged.
        source = earlier if earlier and now == self.record.folder_left else now
        trigger = self.settings.trigger_word.strip()
        key = digest("scan", str(folder), source, trigger)

        def run() -> dict:
            result = self.run.child("scan", "scan", "dataset_scan", {"folder": str(folder), "trigger_word": trigger})
            left = folder_state(folder)
            self.record.folder_left = left
            return {"input": now, "folder": left, "dataset": result["dataset"], "samples": result["samples"],
                    "trigger_word": result.get("trigger_word", "")}

        return Stage("scan", key, run)

    def _label(self) -> Stage:
        scanned, provider = self.output("scan"), self.settings.provider
        key = digest("label", scanned["folder"], provider)

        def run() -> dict:
            if provider == "none":
                self.run.ctx.log("labels kept as they are (Labelling: none)")
                return {"folder": scanned["folder"], "provider": provider}
            if "caption" not in JOB_KINDS:
                raise PipelineError("labelling needs the caption job, which this daemon does not have; choose "
                                    "Labelling: none to train on the labels the songs have")
            result = self.run.child("label", "caption", "caption", {
                "source": scanned["dataset"], "provider": provider, "overwrite_labels": False,
                "update_dataset": True})
            failed = result.get("failed") or []
            if failed:
                self.run.ctx.log(f"{counted(len(failed), 'song')} could not be labelled and keep the labels they "
                                 f"have: {_failures(failed)}", level="warning")
            left = folder_state(self.run.folder)
            self.record.folder_left = left
            return {"folder": left, "provider": provider, "result": result}

        return Stage("label", key, run)

    # -- tensors, then the adapter ------------------------------------------------------------------
    def _preprocess(self) -> Stage:
        labelled = self.output("label")
        model = self.run.model_fingerprint()
        settings = PreprocessSettings().with_overrides(self.settings.preprocess_overrides).replace(
            dataset=str(dataset_file(self.run.folder)), checkpoint=self.settings.checkpoint or None)
        inputs = {k: v for k, v in settings.to_dict().items() if k != "output_dir"}
        key = digest("preprocess", labelled["folder"], model, inputs)
        output_dir = self.run.work / f"{TENSORS_PREFIX}{key[:12]}"

        def run() -> dict:
            result = self.run.child("preprocess", "preprocess", "preprocess",
                                    {**settings.to_dict(), "output_dir": str(output_dir)})
            failed = result.get("failed") or []
            if not result.get("files"):
                self.record.reject("preprocess", "preprocess")  # a rerun tries again (a full disk may be gone)
                raise PipelineError(f"none of the songs could be encoded ({_failures(failed)})")
            if failed:
                self.run.ctx.log(f"{counted(len(failed), 'song')} skipped, training goes on without "
                                 f"{'it' if len(failed) == 1 else 'them'}: {_failures(failed)}", level="warning")
            self._remove_superseded(output_dir)
            return {"tensors": str(output_dir), "samples": result["files"], "content": _tensors_content(output_dir)}

        return Stage("preprocess", key, run)

    def _remove_superseded(self, keep: Path) -> None:
        """Tensor folders of earlier settings: the pipeline's own, of no use once these are made."""
        for folder in self.run.work.glob(f"{TENSORS_PREFIX}*"):
            if folder.is_dir() and folder != keep:
                shutil.rmtree(folder, ignore_errors=True)
                self.run.ctx.log(f"removed {folder.name}: tensors of earlier preprocessing settings")

    def _train(self) -> Stage:
        tensors = self.output("preprocess")
        settings, notes = training_settings(self.settings, self.run.gpu(), tensors["samples"], self.run.home)
        settings = settings.replace(tensors_dir=tensors["tensors"])
        inputs = {k: v for k, v in settings.to_dict().items() if k not in NOT_TRAINING}
        key = digest("train", tensors["content"], inputs)

        def run() -> dict:
            for note in notes:
                self.run.ctx.log(note)
            result = self.run.child("train", "train", "train", settings.to_dict(), resume=_resume_training)
            if not result.get("final"):
                self.record.reject("train", "train")
                raise PipelineError(f"training ended ({result.get('outcome', 'no outcome')}) without a final adapter")
            job = self.record.stage("train")["jobs"]["train"]["id"]
            return {"job": job, "final": result["final"], "epochs": result.get("epoch")}

        return Stage("train", key, run)

    # -- what the adapter is for ---------------------------------------------------------------
    def _export(self) -> Stage:
        trained = self.output("train")
        key = digest("export", trained["job"], trained["final"])

        def run() -> dict:
            copy = self.run.child("export", "copy", "export", {"adapter": trained["final"], "format": "copy"})
            comfy = self.run.child("export", "comfyui", "export", {"adapter": trained["final"], "format": "comfyui"})
            return {"adapter": str(Path(copy["files"][0]).parent), "adapter_files": copy["files"],
                    "comfyui": comfy["files"][0]}

        return Stage("export", key, run)

    def _samples(self) -> Stage:
        trained = self.output("train")
        clips = self._final_clips()
        key = digest("samples", trained["job"], trained["final"], clips)

        def run() -> dict:
            files, groups = [], []
            for index, clip in enumerate(clips):
                result = self.run.child("samples", f"prompt_{index}", "generate",
                                        {**clip, "adapter": trained["final"]})
                files += result.get("files", [])
                groups.append(f"generated/{self.record.stage('samples')['jobs'][f'prompt_{index}']['id']}")
            return {"run_id": trained["job"], "groups": groups, "files": files}

        return Stage("samples", key, run)

    def _final_clips(self) -> list[dict]:
        """One generate job's settings per prompt: the prompts given, else the first song's training
        prompt; lyrics and metas from the first song, as the training samples take them."""
        dataset = load_dataset(dataset_file(self.run.folder))
        first = dataset.samples[0]
        prompts = self.settings.prompts() or [training_caption(dataset, first)]
        metas = {"lyrics": "" if first.is_instrumental else first.lyrics, "bpm": first.bpm, "key": first.keyscale,
                 "timesignature": first.timesignature, "language": effective_language(dataset, first),
                 "seconds": self.settings.sample_seconds, "seed": self.settings.sample_seed,
                 "strengths": FINAL_STRENGTHS, "checkpoint": self.settings.checkpoint}
        return [{"prompt": prompt, **metas} for prompt in prompts]


def _resume_training(earlier: dict, settings: dict) -> dict:
    """An earlier train job with the same inputs that did not finish: go on from its last checkpoint."""
    from daemon.train.job import last_checkpoint

    runs = Path(earlier.get("run_dir") or "")
    checkpoint = last_checkpoint(runs) if runs.is_dir() else None
    return {**settings, "resume_from": str(checkpoint)} if checkpoint else settings


def _failures(failed: list[dict]) -> str:
    """The first failures as "file: reason" (the reason alone when it names the file already)."""
    named = "; ".join(_failure(f) for f in failed[:FAILURES_NAMED])
    more = f"; and {len(failed) - FAILURES_NAMED} more" if len(failed) > FAILURES_NAMED else ""
    return (named + more) or "no song was found to encode"


def _failure(failed: dict) -> str:
    file, reason = readable(str(failed.get("file") or "")), str(failed.get("reason") or failed.get("error") or "")
    return reason if file and file in reason else f"{file}: {reason}"


def _tensors_content(folder: Path) -> str:
    """A fingerprint of the tensors themselves (the manifest's file hashes): what training reads."""
    from shared.tensor_manifest import read_manifest

    manifest: Any = read_manifest(folder) or {}
    files = manifest.get("files", []) if isinstance(manifest, dict) else []
    return digest(sorted((f.get("path"), f.get("sha256")) for f in files if isinstance(f, dict)))
