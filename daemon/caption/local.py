"""The local provider: ACE-Step's captioner and transcriber, owned by the daemon's model manager.

The model loads on the first file (the manager's `get_extra`, so it shows in `models` and frees
with `unload`), answers every file of the batch, and is unloaded by `close()` unless the settings
keep it. Per file: one generate call for caption and metadata (`CAPTION_PROMPT`, then
`parse_caption`), or one greedy call for lyrics, retried once with a repetition penalty when the
transcript loops. What a file's generate call allocated is freed before the next file.
"""
from __future__ import annotations

import gc
import logging
from typing import Any

import torch

from daemon.caption.clips import Clip
from daemon.caption.omni import CAPTION_PROMPT, TRANSCRIBE_TASK, OmniModel, find_omni_model, load_omni
from daemon.caption.providers import Answer, Provider, caption_labels, transcript_labels
from shared.caption_parse import parse_caption, parse_transcript
from shared.caption_settings import CaptionSettings

log = logging.getLogger(__name__)


class _LocalModel(Provider):
    component = ""  # the manager's name for it: "captioner" or "transcriber"

    def __init__(self, manager: Any, settings: CaptionSettings, model_name: str) -> None:
        self.manager = manager
        self.settings = settings
        self.source = find_omni_model(model_name, [root["path"] for root in manager.roots()])

    def _omni(self) -> OmniModel:
        def load(device: torch.device, dtype: torch.dtype) -> tuple[torch.nn.Module, OmniModel]:
            omni = load_omni(self.source, device, dtype)
            return omni.model, omni

        _, omni = self.manager.get_extra(self.component, self.source, load)
        return omni

    def close(self) -> None:
        if not self.settings.keep_loaded:
            self.manager.unload([self.component])


class LocalCaptioner(_LocalModel):
    name = "local"
    can_caption = True
    component = "captioner"

    def __init__(self, manager: Any, settings: CaptionSettings) -> None:
        super().__init__(manager, settings, settings.captioner_model)

    def caption(self, clip: Clip, *, lyrics: bool = False) -> Answer:
        omni = self._omni()
        raw = omni.generate(clip.audio, CAPTION_PROMPT, max_new_tokens=self.settings.caption_max_tokens, sample=True,
                            temperature=self.settings.temperature, top_p=self.settings.top_p)
        free_memory(self.manager)
        return Answer("local", self.source, raw, caption_labels(parse_caption(raw)), demo=omni.demo)


class LocalTranscriber(_LocalModel):
    name = "local"
    can_transcribe = True
    component = "transcriber"

    def __init__(self, manager: Any, settings: CaptionSettings) -> None:
        super().__init__(manager, settings, settings.transcriber_model)

    def transcribe(self, clip: Clip) -> Answer:
        omni = self._omni()
        raw = omni.generate(clip.audio, TRANSCRIBE_TASK, max_new_tokens=self.settings.lyrics_max_tokens, sample=False)
        transcript, note = parse_transcript(raw), ""
        if transcript.looped:  # greedy decoding repeats a phrase; a penalty usually breaks the loop
            raw = omni.generate(clip.audio, TRANSCRIBE_TASK, max_new_tokens=self.settings.lyrics_max_tokens,
                                sample=False, repetition_penalty=self.settings.repetition_penalty)
            transcript = parse_transcript(raw)
            note = "looped; retried with a repetition penalty" + (" (still looping, cut)" if transcript.looped else "")
        free_memory(self.manager)
        labels = transcript_labels(transcript, self.settings.language)
        return Answer("local", self.source, raw, labels, demo=omni.demo, note=note)


def free_memory(manager: Any) -> None:
    """Return what one file's generation allocated (the model stays loaded)."""
    gc.collect()
    device = getattr(manager, "device", None)
    if device is not None and device.type == "cuda":
        torch.cuda.empty_cache()
