"""Render clips with the daemon's models: one per prompt and adapter strength, into a folder.

    renderer = ClipRenderer(manager, reporter)
    entries = renderer.render(prompts, strengths, options, folder, adapter=adapter, info={"epoch": 4})

Per prompt the conditions are built once and the noise drawn once (from the seed), so the clips of
one prompt differ only by the adapter strength. Each model is used through the manager (`use`), so
with offloading on it is on the device only while it works. The global random generators are
saved and restored around the work: sampling never moves the training's random stream.
"""
from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from daemon.preprocess.models import PreprocessModels
from daemon.sample.audio_out import decode_latents
from daemon.sample.clips import clip_stem, write_clip
from daemon.sample.conditions import ClipPrompt, build_condition
from daemon.sample.denoise import denoise, initial_noise
from daemon.sample.schedules import effective_shift, timesteps_for
from shared.errors import SampleError
from shared.sample_settings import ClipSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SamplingOptions:
    """How clips are sampled (the prompt aside)."""

    seed: int = 1
    steps: int = 0
    guidance: float = 7.0
    shift: float | None = None
    format: str = "flac"

    @classmethod
    def from_settings(cls, settings: ClipSettings) -> "SamplingOptions":
        return cls(settings.seed, settings.steps, settings.guidance, settings.shift, settings.format)


def is_out_of_memory(err: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or another backend's "out of memory" RuntimeError."""
    return isinstance(err, torch.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and "out of memory" in str(err).lower())


@contextlib.contextmanager
def preserve_rng() -> Iterator[None]:
    """Python, NumPy, torch and CUDA random states as they were before the block."""
    py_state, np_state = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


@contextlib.contextmanager
def inference_mode_of(decoder: torch.nn.Module, adapter: Any) -> Iterator[None]:
    """Decoder and adapter in eval mode (no dropout) for the block; strength back to 1 after."""
    modules = [decoder] + ([adapter.own_modules()] if adapter is not None and adapter.own_modules() else [])
    was_training = [m.training for m in modules]
    for module in modules:
        module.eval()
    try:
        yield
    finally:
        for module, mode in zip(modules, was_training):
            module.train(mode)
        if adapter is not None:
            adapter.set_strength(1.0)


@dataclass
class _Pass:
    """What every clip of one render call shares."""

    decoder: torch.nn.Module
    adapter: Any
    null_condition_emb: torch.Tensor
    timesteps: list[float]
    guidance: float
    folder: Path
    format: str


class ClipRenderer:
    """Samples clips on the manager's selected checkpoint; events go to `reporter`."""

    def __init__(self, manager: Any, reporter: Any, skip_out_of_memory: bool = False) -> None:
        self.manager = manager
        self.reporter = reporter
        self.skip_out_of_memory = skip_out_of_memory
        self.models = PreprocessModels(manager)

    def render(self, prompts: list[ClipPrompt], strengths: list[float], options: SamplingOptions, folder: Path,
               adapter: Any = None, info: dict | None = None,
               on_step: Callable[[int, int], None] | None = None) -> list[dict]:
        """One clip per prompt and strength (one per prompt without an adapter); returns their sidecars.
        `on_step(done, total)` counts denoising steps over all clips."""
        checkpoint = self.manager.selected
        timesteps = timesteps_for(checkpoint.is_turbo, options.steps, options.shift)
        decoder = adapter.decoder if adapter is not None else self.manager.get("decoder")
        run = _Pass(decoder, adapter, self.manager.get("dit").null_condition_emb, timesteps,
                    1.0 if checkpoint.is_turbo else options.guidance, Path(folder), options.format)
        levels: list[float | None] = list(strengths) if adapter is not None else [None]
        steps, shift = len(timesteps) - 1, effective_shift(checkpoint.is_turbo, options.shift)
        total = len(prompts) * len(levels) * steps
        entries = []
        with preserve_rng(), inference_mode_of(decoder, adapter):
            for index, prompt in enumerate(prompts):
                condition = build_condition(self.models, prompt)
                noise = initial_noise(options.seed, prompt.frames)
                for position, strength in enumerate(levels):
                    base = (index * len(levels) + position) * steps
                    meta = {**(info or {}), **prompt.to_dict(), "prompt_index": index, "strength": strength,
                            "seed": options.seed, "steps": steps, "guidance": run.guidance, "shift": shift,
                            "timesteps": timesteps, "checkpoint": checkpoint.name}
                    entry = self._one_clip(run, strength, condition, noise, meta,
                                           lambda done, _n, base=base: on_step and on_step(base + done, total))
                    if entry is not None:
                        entries.append(entry)
        return entries

    def _one_clip(self, run: _Pass, strength: float | None, condition: Any, noise: torch.Tensor, meta: dict,
                  on_step: Callable[[int, int], Any]) -> dict | None:
        """Denoise, decode and write one clip; out of memory skips it (with an event) when allowed."""
        started = time.perf_counter()
        stem = clip_stem(meta["prompt_index"], strength)
        try:
            if run.adapter is not None:
                run.adapter.set_strength(strength)
            latents = denoise(run.decoder, condition, noise, run.timesteps, run.null_condition_emb, run.guidance,
                              on_step)
            with self.models.vae() as vae:
                audio = decode_latents(vae, latents)
        except Exception as err:
            if not is_out_of_memory(err):
                raise
            _free_cache()
            message = (f"out of memory while sampling {stem} ({meta['seconds']:g} s); try shorter samples or "
                       f"turn on offloading")
            if not self.skip_out_of_memory:
                raise SampleError(message) from None
            log.warning(message)
            self.reporter.event("sample_skipped", level="warning", reason=message, clip=stem, strength=strength,
                                prompt_index=meta["prompt_index"], epoch=meta.get("epoch"))
            return None
        meta["render_seconds"] = round(time.perf_counter() - started, 3)
        entry = write_clip(run.folder, stem, audio, run.format, meta)
        self.reporter.event("sample_written", folder=str(run.folder), clip=stem, audio=entry["audio"],
                            spectrogram=entry["spectrogram"], strength=strength, prompt_index=meta["prompt_index"],
                            epoch=meta.get("epoch"), group=meta.get("group"), seconds=entry["duration_s"])
        return entry


def _free_cache() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
