"""Samples while training (SM-1): every N epochs, on the `sample_now` action, and at the end.

The training loop calls three hooks on `TrainingSamples` (after each optimizer step, after each
epoch close, after the outputs are written); all the logic is here. One clip per prompt and
strength goes to `<run>/samples/epoch_N/` (`step_N/` for sample now), each with a spectrogram
and an event. A sample never costs the run: out of memory skips that clip with a warning event,
any other failure skips that round with one. The training's random stream is untouched (the
renderer saves and restores every generator), and the models sampling needed are put back off the
device afterwards, as the training job left them.
"""
from __future__ import annotations

import logging
from typing import Any

from daemon.sample.clips import SAMPLES_DIR
from daemon.sample.conditions import ClipPrompt
from daemon.sample.render import ClipRenderer, SamplingOptions
from shared.prompt import place_trigger
from shared.train_settings import TrainSettings

log = logging.getLogger(__name__)

SAMPLE_SECONDS_CAP = 30.0
PROMPT_SEPARATOR = "|"  # captions are comma-separated tags, so several captions are split on |
FRAMES_PER_SECOND = 25
SAMPLING_MODELS = ("vae", "text_encoder", "encoder")


class TrainingSamples:
    """The sampling schedule and prompts of one training run, rendered on the daemon's models."""

    def __init__(self, settings: TrainSettings, manager: Any, trigger: dict | None = None) -> None:
        every = settings.sample_every_epochs
        self.every = settings.save_every_epochs if every is None else every
        self.settings = settings
        self.manager = manager
        self.trigger = trigger or {}
        self.options = SamplingOptions(settings.sample_seed, settings.sample_steps, settings.sample_guidance,
                                       settings.sample_shift, settings.sample_format)
        self.prompts: list[ClipPrompt] | None = None  # from the first training sample, on first use
        self.last_group: str | None = None

    # -- the loop's hooks ----------------------------------------------------------------------
    def after_step(self, run: Any) -> None:
        """`sample_now` asked for: samples of the weights as they are after this step."""
        if run.reporter.take_action("sample_now"):
            step = run.progress.global_step
            self.render(run, f"step_{step}", f"step {step}")

    def after_epoch(self, run: Any) -> None:
        epoch = run.progress.epoch
        if self.every and epoch % self.every == 0:
            self.render(run, f"epoch_{epoch}", f"epoch {epoch}")

    def at_end(self, run: Any, outcome: str) -> None:
        """Samples of the last weights, unless the run was stopped or they were just rendered."""
        if outcome == "stopped" or self.every == 0:
            return
        progress = run.progress
        group = f"epoch_{progress.epoch}" if progress.batch_in_epoch == 0 else f"step_{progress.global_step}"
        if group != self.last_group:
            self.render(run, group, group.replace("_", " "))

    # -- rendering -------------------------------------------------------------------------------
    def render(self, run: Any, group: str, label: str) -> list[dict]:
        """One round of clips into `samples/<group>/`; never raises."""
        self.last_group = group
        progress, reporter = run.progress, run.reporter
        folder = run.run_dir / SAMPLES_DIR / group
        info = {"group": group, "label": label, "epoch": progress.epoch, "step": progress.global_step,
                "adapter_label": "training"}
        entries: list[dict] = []
        try:
            if self.prompts is None:
                self.prompts = training_prompts(self.settings, run.samples[0], self.trigger)
            renderer = ClipRenderer(self.manager, reporter, skip_out_of_memory=True)
            entries = renderer.render(self.prompts, self.settings.sample_strengths, self.options, folder,
                                      run.adapter, info)
        except Exception as err:  # a sample must never cost the run
            log.warning("samples at %s failed: %s", label, err, exc_info=True)
            reporter.event("sample_failed", level="warning", group=group, epoch=progress.epoch,
                           reason=f"{type(err).__name__}: {err}")
        finally:
            for name in SAMPLING_MODELS:  # back off the device: training wants the memory
                self.manager.offload(name)
        reporter.event("samples_done", group=group, folder=str(folder), clips=len(entries), epoch=progress.epoch,
                       step=progress.global_step)
        return entries


def training_prompts(settings: TrainSettings, first_sample: dict, trigger: dict) -> list[ClipPrompt]:
    """The sample prompts: the settings' captions, else the first training sample's caption with the
    trigger word; lyrics, metas and duration from that sample unless set (duration capped at 30 s)."""
    meta = first_sample.get("metadata") or {}
    word, position = trigger.get("trigger_word", ""), trigger.get("tag_position", "prepend")
    caption = str(meta.get("caption") or "")
    if word and word not in caption:
        caption = place_trigger(caption, word, position)
    captions = [c.strip() for c in settings.sample_prompts.split(PROMPT_SEPARATOR) if c.strip()]
    captions = captions or [caption or word or "music"]
    duration = meta.get("duration") or first_sample["target_latents"].shape[0] / FRAMES_PER_SECOND
    lyrics = "" if meta.get("is_instrumental") else str(meta.get("lyrics") or "")
    return [ClipPrompt(
        caption=text,
        lyrics=_pick(settings.sample_lyrics, lyrics),
        bpm=settings.sample_bpm if settings.sample_bpm is not None else _int_or_none(meta.get("bpm")),
        key=_pick(settings.sample_key, meta.get("keyscale")),
        timesignature=_pick(settings.sample_timesignature, meta.get("timesignature")),
        language=_pick(settings.sample_language, meta.get("language")) or "en",
        seconds=settings.sample_seconds or min(float(duration), SAMPLE_SECONDS_CAP),
    ) for text in captions]


def _pick(chosen: str | None, from_sample: Any) -> str:
    if chosen is not None:
        return chosen
    return "" if from_sample is None else str(from_sample)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(float(value)) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
