"""The `generate` job: clips from any checkpoint with any adapter at any strengths (SM-3).

The adapter is opened onto the daemon's decoder for the job and taken out again afterwards. When
it lies in a run folder the clips land in that run's `samples/generated/<job id>/`, so the
Samples page shows them in that run's grid; otherwise in this job's own run folder.
"""
from __future__ import annotations

import logging
from pathlib import Path

from daemon.jobs import JobContext
from daemon.sample.adapter_files import adapter_config, adapter_folder, adapter_label, run_of
from daemon.sample.clips import SAMPLES_DIR
from daemon.sample.conditions import ClipPrompt
from daemon.sample.render import ClipRenderer, SamplingOptions
from shared.errors import AdapterError, SampleError
from shared.sample_settings import GenerateSettings

log = logging.getLogger(__name__)


def run_generate(ctx: JobContext, settings: GenerateSettings) -> dict:
    """Render the clips; the result lists the files written."""
    from daemon.models.manager import manager_from
    from daemon.train.adapters import load_adapter

    if not settings.prompt.strip():
        raise SampleError("generate.prompt: describe the music to generate (a caption, with the trigger word)")
    manager = manager_from(ctx.services)
    if settings.checkpoint:
        manager.select(settings.checkpoint)
    manager.fingerprint()  # selects the default checkpoint when none is
    folder, info = _output(ctx, settings)
    ctx.log(f"generating {len(info['strengths'])} clip(s) on {manager.selected.name} into {folder}")
    renderer = ClipRenderer(manager, ctx)
    options, prompt = SamplingOptions.from_settings(settings), ClipPrompt.from_settings(settings)
    with manager.use("decoder") as decoder:  # held: no unload or checkpoint switch meanwhile
        adapter = None
        if settings.adapter:
            _warn_other_model(ctx, Path(info["adapter"]), manager.fingerprint())
            try:
                adapter = load_adapter(decoder, info["adapter"])
            except Exception as err:
                raise AdapterError(f"{info['adapter']}: the adapter does not fit {manager.selected.name} "
                                  f"({type(err).__name__}: {err})") from None
        try:
            entries = renderer.render([prompt], settings.strengths, options, folder, adapter, info,
                                      on_step=lambda done, total: ctx.progress(done, total, "sampling"))
        finally:
            if adapter is not None:
                adapter.remove()
    files = [str(folder / e["audio"]) for e in entries]
    return {"files": files, "folder": str(folder), "run_dir": info.get("run"), "clips": entries}


def _output(ctx: JobContext, settings: GenerateSettings) -> tuple[Path, dict]:
    """Where the clips go and what their sidecars say about the adapter."""
    group = f"generated/{ctx.job_id}"
    info: dict = {"group": group, "label": f"generated {ctx.job_id[:15]}", "job_id": ctx.job_id,
                  "strengths": settings.strengths if settings.adapter else [None]}
    run = None
    if settings.adapter:
        folder = adapter_folder(settings.adapter)
        run = run_of(folder, ctx.run_dir.parent)  # every run folder sits in the runs folder
        info.update(adapter=str(folder), adapter_label=adapter_label(folder, run))
    base = run if run is not None else ctx.run_dir
    info["run"] = str(base)
    return base / SAMPLES_DIR / group, info


def _warn_other_model(ctx: JobContext, folder: Path, fingerprint: str) -> None:
    trained_on = adapter_config(folder).get("model_fingerprint")
    if trained_on and trained_on != fingerprint:
        ctx.log(f"{folder} was trained on another model ({adapter_config(folder).get('model_name') or trained_on}); "
                f"it may sound different here", level="warning")
