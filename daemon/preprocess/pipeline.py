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
from daemon.preprocess.prefetch import batched, prefetch
from daemon.preprocess.run import PreprocessRun
from daemon.preprocess.speedups import vae_speedups
from daemon.preprocess.stages import batch_key, first_stage_or_report, second_stage, vae_batch_size
from daemon.preprocess.tensor_folder import write_sample
from shared.dataset import load_dataset
from shared.errors import DatasetError, StudioError
from shared.preprocess_settings import PreprocessSettings

log = logging.getLogger(__name__)



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
    for item, reason in plan.refused:  # reported like a bad file, and never opened
        run.fail(item, DatasetError(reason))
    run.write_manifest(complete=False)
    ctx.progress(0, len(plan.todo), "loading models", stage="load", skipped_existing=len(plan.finished))
    if settings.two_pass:
        stopped = two_pass.run_two_passes(run, models)
    else:
        stopped = single_pass(run, models)
    run.write_manifest(complete=not stopped)
    if stopped:
        ctx.log(f"stopped after {run.processed} file(s); the manifest lists the finished ones")
    return run.result(stopped)


def single_pass(run: PreprocessRun, models: PreprocessModels) -> bool:
    """All models per sample (or batch of same-length samples), decoding ahead on worker threads;
    True when stopped early."""
    ctx, settings, todo = run.ctx, run.settings, run.plan.todo
    tiling = Tiling.from_seconds(settings.tile_seconds, settings.tile_overlap)
    size = vae_batch_size(settings, models.device)
    done = 0
    with ExitStack() as stack:
        vae = stack.enter_context(models.vae())
        stack.enter_context(vae_speedups(vae, models.device))
        text_model, tokenizer = stack.enter_context(models.text_encoder())
        encoder = stack.enter_context(models.condition_encoder())
        silence = models.silence_latent()
        ctx.event("memory", stage="models loaded", **memory_snapshot(models.device))
        run.start_clock()
        stream = prefetch(todo, run.prepare, workers=settings.workers, ahead=max(settings.prefetch, 2 * size))
        try:
            for batch in batched(stream, size, key=lambda prepared: batch_key(prepared, tiling)):
                halves = first_stage_or_report(run, batch, vae, text_model, tokenizer, tiling)
                for (item, prepared), half in zip(batch, halves):
                    if half is not None:
                        _finish_sample(run, item, half, encoder, silence, prepared.metadata)
                done += len(batch)
                run.progress(done, len(todo), batch[-1][0].audio_path.name, "encode")
                if ctx.stop_requested:
                    return done < len(todo)
        finally:
            stream.close()
    return False


def _finish_sample(run: PreprocessRun, item, half: dict, encoder, silence, metadata: dict) -> None:
    """Second stage and the atomic write of one sample; a failure is reported, never raised."""
    try:
        entry = write_sample(item.out_path, second_stage(half, encoder, silence), metadata)
    except Exception as err:  # NaN after encoding, a full disk...: this file only
        run.fail(item, err, model_side=not isinstance(err, StudioError))
    else:
        run.finish(item, entry, metadata)


