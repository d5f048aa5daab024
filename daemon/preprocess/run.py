"""The bookkeeping of one preprocessing run: prepared audio, finished entries, errors, the manifest.

`PreprocessRun` is what both passes share. `prepare(item)` runs on the CPU worker threads
(decode, cut, resample, loudness, prompts); `finish`/`fail` record results and rewrite the manifest
now and then, so a killed run leaves a manifest that lists only complete files.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from daemon.audio.decode import SAMPLE_RATE, DecodedAudio, load_audio
from daemon.audio.loudness import normalize
from daemon.jobs import JobContext
from daemon.preprocess.plan import Plan, WorkItem, summary_of
from shared.dataset import Dataset
from shared.preprocess_settings import PreprocessSettings
from shared.prompt import effective_language, genre_picks, sample_prompts, training_caption
from shared.tensor_manifest import MANIFEST_FORMAT, MANIFEST_VERSION, write_manifest

log = logging.getLogger(__name__)

MANIFEST_EVERY_S = 5.0  # rewrite the manifest at most this often while running
MAX_MODEL_FAILURES = 3  # model errors on the first files in a row: the model is broken, stop


@dataclass
class Prepared:
    """A sample's audio ready for the VAE, its prompts and the metadata its file will carry."""

    item: WorkItem
    audio: np.ndarray  # float32 [2, S] at 48 kHz, normalised
    text_prompt: str
    lyrics_prompt: str
    metadata: dict


class PreprocessRun:
    """State of one run: settings, dataset, plan, results so far; writes the manifest."""

    def __init__(self, ctx: JobContext, settings: PreprocessSettings, dataset: Dataset, dataset_file: Path,
                 plan: Plan, model: dict) -> None:
        self.ctx = ctx
        self.settings = settings
        self.dataset = dataset
        self.dataset_file = dataset_file
        self.plan = plan
        self.model = model  # {"name": ..., "fingerprint": ...}
        self.entries: dict[str, dict] = dict(plan.finished)
        self.errors: list[dict] = []
        self.written = 0
        self.started = time.monotonic()
        self._picks = genre_picks(dataset)
        self._manifest_written = 0.0
        self._model_failures = 0

    # -- CPU side (worker threads) --------------------------------------------------------
    def prepare(self, item: WorkItem) -> Prepared:
        """Decode, cut or keep, resample, normalise and build the prompts (thread-safe)."""
        s = self.settings
        max_duration = s.max_duration if s.long_clips == "cut" else None
        decoded = load_audio(item.audio_path, max_duration, min_duration=s.min_duration)
        audio, loudness = normalize(decoded.audio, SAMPLE_RATE, s.normalize, target_lufs=s.target_lufs,
                                    peak_db=s.peak_dbfs, source=str(item.audio_path))
        text, lyrics = sample_prompts(self.dataset, item.sample, decoded.duration, self._picks)
        return Prepared(item, audio, text, lyrics, self._metadata(item, decoded, loudness, text, lyrics))

    def _metadata(self, item: WorkItem, decoded: DecodedAudio, loudness: dict, text: str, lyrics: str) -> dict:
        sample = item.sample
        return {
            "audio_path": sample.audio, "audio_path_absolute": str(item.audio_path.resolve()),
            "filename": sample.filename, "caption": training_caption(self.dataset, sample, self._picks),
            "genre": sample.genre, "lyrics": sample.lyrics, "duration": round(decoded.duration, 4),
            "source_duration": round(decoded.source_duration, 4), "source_sample_rate": decoded.source_rate,
            "source_channels": decoded.source_channels, "cut": decoded.cut, "bpm": sample.bpm,
            "keyscale": sample.keyscale, "timesignature": sample.timesignature,
            "language": effective_language(self.dataset, sample), "is_instrumental": sample.is_instrumental,
            "text_prompt": text, "lyrics_prompt": lyrics, "loudness": loudness,
            "trigger_word": sample.custom_tag or self.dataset.options.trigger_word,
            "tag_position": self.dataset.options.tag_position,
            "sample_index": item.index, "model": self.model.get("name"),
        }

    # -- results -----------------------------------------------------------------------------
    def finish(self, item: WorkItem, entry: dict, metadata: dict) -> None:
        self.entries[item.name] = {**entry, "summary": summary_of(metadata)}
        self.written += 1
        self.maybe_write_manifest()

    def fail(self, item: WorkItem, err: BaseException, *, model_side: bool = False) -> None:
        """Report a skipped file. Model-side errors on the first files in a row mean a broken model,
        not bad files: after MAX_MODEL_FAILURES of them with nothing written, the run raises."""
        reason = str(err) if str(err) else type(err).__name__
        self.errors.append({"file": item.sample.audio, "output": item.name, "reason": reason,
                            "error": type(err).__name__})
        self.ctx.event("file_error", file=item.sample.audio, reason=reason, error=type(err).__name__)
        log.warning("skipped %s: %s", item.audio_path, reason)
        self._model_failures = self._model_failures + 1 if model_side else 0
        if self._model_failures >= MAX_MODEL_FAILURES and self.written == 0:
            self.write_manifest(complete=False)
            raise err
        self.maybe_write_manifest()

    def start_clock(self) -> None:
        """Start timing now (after the models loaded): rate and ETA count encoding only."""
        self.started = time.monotonic()
        self.ctx.reset_progress_clock()

    @property
    def processed(self) -> int:
        return self.written + len(self.errors)

    def progress(self, done: int, total: int, current: str, stage: str) -> None:
        """Progress with the current file; rate and ETA come from JobContext.progress."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        self.ctx.progress(done, total, f"{stage}: {current}", current=current, stage=stage,
                          written=self.written, failed=len(self.errors),
                          skipped_existing=len(self.plan.finished), files_per_s=round(self.processed / elapsed, 3))

    # -- manifest ---------------------------------------------------------------------------
    def maybe_write_manifest(self) -> None:
        if time.monotonic() - self._manifest_written >= MANIFEST_EVERY_S:
            self.write_manifest(complete=False)

    def write_manifest(self, *, complete: bool) -> Path:
        """The manifest with every finished file in dataset order (atomic)."""
        out = self.plan.output_dir
        files = sorted(self.entries.values(), key=lambda e: self.plan.order.get(e["path"], -1))
        manifest: dict[str, Any] = {
            "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model": dict(self.model), "settings": self.settings.to_dict(),
            "dataset_file": os.path.relpath(self.dataset_file, out),
            "dataset_file_absolute": str(self.dataset_file), "dataset_samples": len(self.dataset.samples),
            "dataset_options": self.dataset.options.to_dict(),
            "trigger_word": self.dataset.options.trigger_word, "tag_position": self.dataset.options.tag_position,
            "complete": complete and not self.errors and len(files) == self.plan.total,
            "files": files, "errors": list(self.errors),
        }
        self._manifest_written = time.monotonic()
        return write_manifest(out, manifest)

    def result(self, stopped: bool) -> dict:
        elapsed = time.monotonic() - self.started
        return {
            "output_dir": str(self.plan.output_dir), "manifest": str(self.plan.output_dir / "manifest.json"),
            "files": len(self.entries), "written": self.written, "skipped_existing": len(self.plan.finished),
            "failed": list(self.errors), "stopped": stopped, "seconds": round(elapsed, 3),
            "files_per_second": round(self.processed / elapsed, 3) if elapsed > 0 else None,
            "model": dict(self.model), "two_pass": self.settings.two_pass,
        }
