"""The preprocessing pipeline behind the `preprocess` job (PP-1..PP-5); `job.py` registers it.

Single pass (default): CPU threads decode ahead (`prefetch`) while the main thread runs VAE, text
encoder, lyric embedding and condition encoder per sample and writes its file atomically.
Two-pass low-VRAM mode (PP-4): pass 1 runs the VAE and the text encoder and keeps results on disk
(`<output>/.pass1/`), the pass-1 models are moved off the GPU, then pass 2 runs the condition
encoder. A bad file is reported and skipped; a stop request finishes the current file, writes
the manifest and returns; a rerun skips finished files.
"""
from __future__ import annotations

import logging
from contextlib import ExitStack
from pathlib import Path

from daemon.jobs import JobContext
from daemon.preprocess import two_pass
from daemon.preprocess.encode import Tiling
from daemon.preprocess.models import PreprocessModels, memory_snapshot
from daemon.preprocess.plan import make_plan
from daemon.preprocess.prefetch import prefetch
from daemon.preprocess.run import PreprocessRun
from daemon.preprocess.speedups import vae_speedups
from daemon.preprocess.stages import first_stage, second_stage
from daemon.preprocess.tensor_folder import write_sample
from shared.dataset import load_dataset
from shared.errors import DatasetError, StudioError
from shared.preprocess_settings import PreprocessSettings

log = logging.getLogger(__name__)

MAX_CONSECUTIVE_MODEL_FAILURES = 3  # the model, not the files, is broken: stop instead of skipping all


def run_preprocess(ctx: JobContext, settings: PreprocessSettings) -> dict:
    """Encode every sample of the dataset into the output folder; returns counts and per-file errors."""
    settings.require_paths()
    dataset_file = Path(settings.dataset).expanduser().resolve()
    dataset = load_dataset(dataset_file)
    if not dataset.samples:
        raise DatasetError(f"{dataset_file}: the dataset has no samples to preprocess")
    models = PreprocessModels.from_services(ctx.services, settings.checkpoint)
    output_dir = Path(settings.output_dir).expanduser().resolve()
    plan = make_plan(dataset, output_dir, fingerprint=models.fingerprint, model_name=models.name,
                     overwrite=settings.overwrite)
    run = PreprocessRun(ctx, settings, dataset, dataset_file, plan,
                        {"name": models.name, "fingerprint": models.fingerprint})
    ctx.log(f"{len(plan.todo)} sample(s) to encode, {len(plan.finished)} already done, into {output_dir}")
    run.write_manifest(complete=False)
    if settings.two_pass:
        stopped = two_pass.run_two_passes(run, models)
    else:
        stopped = single_pass(run, models)
    run.write_manifest(complete=not stopped)
    if stopped:
        ctx.log(f"stopped after {run.processed} file(s); the manifest lists the finished ones")
    return run.result(stopped)


def single_pass(run: PreprocessRun, models: PreprocessModels) -> bool:
    """All models per sample, decoding ahead on worker threads; True when stopped early."""
    ctx, settings = run.ctx, run.settings
    todo = run.plan.todo
    tiling = Tiling.from_seconds(settings.tile_seconds, settings.tile_overlap)
    failures = 0
    with ExitStack() as stack:
        vae = stack.enter_context(models.vae())
        stack.enter_context(vae_speedups(vae, models.device))
        text_model, tokenizer = stack.enter_context(models.text_encoder())
        encoder = stack.enter_context(models.condition_encoder())
        silence = models.silence_latent()
        ctx.event("memory", stage="models loaded", **memory_snapshot(models.device))
        run.start_clock()
        stream = prefetch(todo, run.prepare, workers=settings.workers, ahead=settings.prefetch)
        try:
            for done, (item, prepared) in enumerate(stream, 1):
                if isinstance(prepared, Exception):
                    run.fail(item, prepared)
                else:
                    try:
                        half = first_stage(prepared, vae, text_model, tokenizer, tiling, settings)
                        tensors = second_stage(half, encoder, silence)
                        entry = write_sample(item.out_path, tensors, prepared.metadata)
                    except Exception as err:  # one file's failure never aborts the batch
                        failures = _count_failure(err, failures, run.written)
                        run.fail(item, err)
                    else:
                        failures = 0
                        run.finish(item, entry, prepared.metadata)
                run.progress(done, len(todo), item.audio_path.name, "encode")
                if ctx.stop_requested:
                    return done < len(todo)
        finally:
            stream.close()
    return False


def _count_failure(err: Exception, failures: int, written: int) -> int:
    """Consecutive model-side failures; raise when the first files all fail that way (a broken model)."""
    if isinstance(err, StudioError):
        return failures  # a file's problem (NaN, bad shape), not the model's
    failures += 1
    if failures >= MAX_CONSECUTIVE_MODEL_FAILURES and written == 0:
        raise err
    return failures
