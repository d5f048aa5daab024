"""Two-pass low-VRAM preprocessing (PP-4): never the VAE, text encoder and DiT on the GPU at once.

Pass 1 runs the VAE and the text encoder and writes each sample's intermediate results to
`<output>/.pass1/<name>` (atomic, so a killed run resumes there too). The pass-1 models are then
moved off the GPU and the cache emptied (memory is reported in `memory` events before and after).
Pass 2 puts only the DiT's condition encoder on the GPU (its decoder stays on the CPU), finishes
each sample and deletes its intermediate file.
"""
from __future__ import annotations

import json
import logging
from contextlib import ExitStack
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from daemon.preprocess.encode import Tiling
from daemon.preprocess.models import PreprocessModels, memory_snapshot
from daemon.preprocess.plan import PASS1_DIR, WorkItem
from daemon.preprocess.prefetch import batched, prefetch
from daemon.preprocess.run import PreprocessRun
from daemon.preprocess.speedups import vae_speedups
from daemon.preprocess.stages import batch_key, first_stage_or_report, second_stage, vae_batch_size
from daemon.preprocess.tensor_folder import write_sample
from shared.atomic import write_file_atomic

log = logging.getLogger(__name__)


def run_two_passes(run: PreprocessRun, models: PreprocessModels) -> bool:
    """Pass 1, free its models, pass 2; True when stopped early (intermediates stay for a rerun)."""
    pass1_dir = run.plan.output_dir / PASS1_DIR
    pass1_dir.mkdir(exist_ok=True)
    models.release("dit")  # a DiT left loaded by an earlier job waits on the CPU during pass 1
    ready, stopped = _pass_one(run, models, pass1_dir)
    run.ctx.event("memory", stage="after pass 1, before freeing", **memory_snapshot(models.device))
    models.release("vae", "text_encoder")
    run.ctx.event("memory", stage="pass-1 models freed", **memory_snapshot(models.device))
    if stopped:
        return True
    stopped = _pass_two(run, models, ready, pass1_dir)
    if not stopped and not any(pass1_dir.iterdir()):
        pass1_dir.rmdir()
    return stopped


def _pass_one(run: PreprocessRun, models: PreprocessModels, pass1_dir: Path) -> tuple[list[WorkItem], bool]:
    """VAE + text encoder for every item without an intermediate file; returns (ready items, stopped)."""
    settings, todo = run.settings, run.plan.todo
    tiling = Tiling.from_seconds(settings.tile_seconds, settings.tile_overlap)
    ready = [item for item in todo if (pass1_dir / item.name).is_file()]
    missing = [item for item in todo if not (pass1_dir / item.name).is_file()]
    total = 2 * len(todo)
    done = len(ready)
    with ExitStack() as stack:
        vae = stack.enter_context(models.vae())
        stack.enter_context(vae_speedups(vae, models.device))
        text_model, tokenizer = stack.enter_context(models.text_encoder())
        run.ctx.event("memory", stage="pass 1 models loaded", **memory_snapshot(models.device))
        run.start_clock()
        size = vae_batch_size(settings, models.device)
        stream = prefetch(missing, run.prepare, workers=settings.workers, ahead=max(settings.prefetch, 2 * size))
        try:
            for batch in batched(stream, size, key=lambda prepared: batch_key(prepared, tiling)):
                halves = first_stage_or_report(run, batch, vae, text_model, tokenizer, tiling)
                for (item, prepared), half in zip(batch, halves):
                    if half is None:
                        continue
                    try:
                        _save_intermediate(pass1_dir / item.name, half, prepared.metadata)
                    except OSError as err:  # a full disk for this file: report it, go on
                        run.fail(item, err)
                    else:
                        ready.append(item)
                done += len(batch)
                run.progress(done, total, batch[-1][0].audio_path.name, "pass 1: VAE + text encoder")
                if run.ctx.stop_requested:
                    return ready, True
        finally:
            stream.close()
    ready.sort(key=lambda i: i.index)
    return ready, False


def _pass_two(run: PreprocessRun, models: PreprocessModels, ready: list[WorkItem], pass1_dir: Path) -> bool:
    """Condition encoder for every pass-1 result; writes the final file and drops the intermediate."""
    with models.condition_encoder() as encoder:
        models.release("decoder")  # only the condition encoder is needed on the GPU
        silence = models.silence_latent()
        run.ctx.event("memory", stage="pass 2 model loaded", **memory_snapshot(models.device))
        return _finish_all(run, encoder, silence, ready, pass1_dir)


def _finish_all(run: PreprocessRun, encoder, silence: torch.Tensor, ready: list[WorkItem], pass1_dir: Path) -> bool:
    """Each intermediate to its final file, in dataset order; True when stopped before the last."""
    done = len(run.plan.todo)
    total = done + len(ready)
    for item in ready:
        done += 1
        path = pass1_dir / item.name
        try:
            half, metadata = _load_intermediate(path)
            tensors = second_stage(half, encoder, silence)
            entry = write_sample(item.out_path, tensors, metadata)
        except Exception as err:  # one file's failure never aborts the batch
            run.fail(item, err)
        else:
            run.finish(item, entry, metadata)
        path.unlink(missing_ok=True)
        run.progress(done, total, item.audio_path.name, "pass 2: condition encoder")
        if run.ctx.stop_requested:
            return item is not ready[-1]
    return False


def _save_intermediate(path: Path, tensors: dict[str, torch.Tensor], metadata: dict) -> None:
    write_file_atomic(path, lambda tmp: save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp),
                                                  metadata={"metadata": json.dumps(metadata, default=str)}))


def _load_intermediate(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    with safe_open(str(path), framework="pt") as fh:
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
        metadata = json.loads((fh.metadata() or {}).get("metadata") or "{}")
    return tensors, metadata
