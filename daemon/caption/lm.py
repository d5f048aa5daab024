"""The `lm` provider: ACE-Step's 5 Hz LM labels a song from its audio codes (FEATURES CA-6).

    provider = make_provider("lm", settings, manager)     # finds acestep-5Hz-lm-* beside the checkpoint
    answer = provider.caption(clip, lyrics=False)         # caption, genre, bpm, key, time signature, language
    provider.close()                                      # frees the LM unless keep_loaded

Per file: the audio becomes 5 Hz codes with the selected DiT's own tokenizer (lm_codes), the codes
are cut to what the LM's context holds, and the LM answers the understand prompt under the field
grammar (lm_model). The LM loads through the model manager (`get_extra("lm", ...)`), so it shows in
`models` and frees with `unload`. Lyrics come from the LM only when the user picks it as the lyrics
provider: it writes lyrics it cannot hear, so its answer says so (`note`), and the sidecar's
answer block names the LM as their author. A dataset-wide language (`language`) is the only
language the LM may name.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import torch

from daemon.caption.clips import Clip
from daemon.caption.lm_codes import audio_codes
from daemon.caption.lm_model import LoadedLM, Reply, UnderstandOptions, load_lm
from daemon.caption.lm_prompt import CODES_PER_SECOND
from daemon.caption.local import free_memory
from daemon.caption.providers import Answer, Provider
from daemon.models.discovery import find_lm
from shared.caption_settings import CaptionSettings

log = logging.getLogger(__name__)

COMPONENT = "lm"
LYRICS_NOTE = "lyrics written by the 5 Hz LM from the audio codes: it may invent words; check them"


class LMProvider(Provider):
    """Caption and metadata (and, when asked, lyrics) from ACE-Step's 5 Hz LM."""

    name = "lm"
    can_caption = True
    can_transcribe = True
    lyrics_in_caption = True

    def __init__(self, manager: Any, settings: CaptionSettings) -> None:
        self.manager = manager
        self.settings = settings
        manager.fingerprint()  # selects the checkpoint when none is yet (the codes need its DiT)
        beside = str(Path(manager.selected.path).parent)
        self.folder = find_lm(settings.lm_model, [root["path"] for root in manager.roots()], beside=beside)

    def caption(self, clip: Clip, *, lyrics: bool = False) -> Answer:
        reply, lm = self._understand(clip, lyrics)
        labels = self._labels(reply, lyrics)
        return Answer(self.name, self.folder.name, reply.raw, labels, demo=lm.demo, note=_note(reply, lyrics))

    def transcribe(self, clip: Clip) -> Answer:
        """Lyrics alone (the LM is the chosen lyrics provider); the rest of its answer is dropped."""
        reply, lm = self._understand(clip, lyrics=True)
        labels = {k: v for k, v in self._labels(reply, True).items() if k in ("lyrics", "is_instrumental", "language")}
        return Answer(self.name, self.folder.name, reply.raw, labels, demo=lm.demo, note=_note(reply, True))

    def _labels(self, reply: Reply, lyrics: bool) -> dict:
        labels = reply.found.labels(lyrics=lyrics)
        if self.settings.language:  # the LM could name no other language: its answer says nothing (the batch
            labels.pop("language", None)  # sets it on samples with vocals, leaves instrumentals alone)
        return labels

    def close(self) -> None:
        if not self.settings.keep_loaded:
            self.manager.unload([COMPONENT])

    def _understand(self, clip: Clip, lyrics: bool) -> tuple[Reply, LoadedLM]:
        lm = self._lm()
        options = self._options(lyrics)
        codes, duration = audio_codes(self.manager, clip.path, max_seconds=lm.audio_seconds(options) + 1.0)
        reply = lm.understand(codes, options, total_codes=math.floor(duration * CODES_PER_SECOND))
        free_memory(self.manager)
        if reply.found.problems:
            log.warning("%s: the LM's answer had values the dataset refuses: %s", clip.key,
                        "; ".join(reply.found.problems))
        return reply, lm

    def _options(self, lyrics: bool) -> UnderstandOptions:
        s = self.settings
        return UnderstandOptions(lyrics=lyrics, language=s.language or None, context=s.lm_context,
                                 caption_tokens=s.caption_max_tokens, lyrics_tokens=s.lyrics_max_tokens,
                                 temperature=s.temperature, top_p=s.top_p)

    def _lm(self) -> LoadedLM:
        def load(device: torch.device, dtype: torch.dtype) -> tuple[torch.nn.Module, LoadedLM]:
            lm = load_lm(self.folder, device, dtype)
            return lm.model, lm

        _, lm = self.manager.get_extra(COMPONENT, str(self.folder), load)
        return lm


def _note(reply: Reply, lyrics: bool) -> str:
    """What the summary should say about this answer: a cut song, a cut answer, invented lyrics."""
    notes = [reply.fitted.note()]
    if not reply.found.complete:
        notes.append("the LM's answer ran out of tokens before its fields were done")
    if lyrics and reply.found.lyrics:
        notes.append(LYRICS_NOTE)
    return "; ".join(n for n in notes if n)
