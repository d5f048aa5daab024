"""The interface every captioning provider has, and the factory that makes them from the settings.

    provider = make_provider("gemini", settings, manager)
    answer = provider.caption(clip, lyrics=True)     # Answer: raw text + labels (caption, key, lyrics...)
    answer = provider.transcribe(clip)               # lyrics and language only
    provider.close()                                 # frees what it holds (a local model's memory)

`labels` holds Sample attribute names (caption, genre, keyscale, timesignature, bpm, language,
lyrics, is_instrumental), each only when the provider said it. `caption(clip, lyrics=True)` is
asked only of a provider with `lyrics_in_caption` (Gemini answers both in one request).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from daemon.caption.clips import Clip
from shared.caption_parse import CaptionFields, Transcript
from shared.caption_settings import CaptionSettings
from shared.errors import CaptionError


@dataclass
class Answer:
    """What one provider said about one file."""

    provider: str
    model: str
    raw: str
    labels: dict[str, Any] = field(default_factory=dict)
    demo: bool = False  # a demo model with random weights: its text is noise
    note: str = ""  # e.g. "looped; retried with a repetition penalty"

    def to_dict(self) -> dict:
        return asdict(self)


class Provider:
    """Base: a provider captions, transcribes, or both."""

    name = ""
    can_caption = False
    can_transcribe = False
    lyrics_in_caption = False

    def caption(self, clip: Clip, *, lyrics: bool = False) -> Answer:
        raise CaptionError(f"{self.name} does not write captions")

    def transcribe(self, clip: Clip) -> Answer:
        raise CaptionError(f"{self.name} does not transcribe lyrics")

    def close(self) -> None:
        """Free what the provider holds; called once when the batch is done with it."""


def caption_labels(fields: CaptionFields) -> dict[str, Any]:
    """The labels a parsed caption answer gives (only those it said)."""
    out: dict[str, Any] = {}
    for name in ("caption", "genre", "keyscale", "timesignature", "bpm", "language"):
        value = getattr(fields, name)
        if value not in ("", None):
            out[name] = value
    return out


def transcript_labels(transcript: Transcript, hint: str = "") -> dict[str, Any]:
    """The labels a transcript gives: lyrics (or instrumental) and the language when known."""
    out: dict[str, Any] = {"lyrics": "" if transcript.is_instrumental else transcript.lyrics,
                           "is_instrumental": transcript.is_instrumental}
    language = transcript.language or hint
    if language and not transcript.is_instrumental:
        out["language"] = language
    return out


def make_provider(name: str, settings: CaptionSettings, manager: Any = None, *, role: str = "caption") -> Provider:
    """The provider called `name` for `role` ("caption" or "lyrics"); a cloud provider checks its key
    now, so a missing key fails the job before any file is read."""
    if name == "local":
        from daemon.caption.local import LocalCaptioner, LocalTranscriber

        return LocalCaptioner(manager, settings) if role == "caption" else LocalTranscriber(manager, settings)
    if name == "gemini":
        from daemon.caption.cloud.gemini import GeminiProvider

        return GeminiProvider(settings)
    if name == "whisper":
        from daemon.caption.cloud.whisper import WhisperProvider

        return WhisperProvider(settings)
    if name == "elevenlabs":
        from daemon.caption.cloud.elevenlabs import ElevenLabsProvider

        return ElevenLabsProvider(settings)
    raise CaptionError(f"unknown provider {name!r}")
