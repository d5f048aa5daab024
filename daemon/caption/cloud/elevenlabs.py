"""ElevenLabs Scribe: lyrics with line breaks from word timings.

POST {base}/v1/speech-to-text (multipart: the FLAC `file`, `model_id`, `timestamps_granularity=word`,
`tag_audio_events=false`, `language_code` when set), key in the `xi-api-key` header. The answer's
`words` mix words, spacing and audio events ([{text, start, end, type}]); the words become lines.
Its `language_code` may be ISO 639-3 ("eng"), mapped to the two-letter codes the dataset uses.
"""
from __future__ import annotations

import json

from daemon.caption.clips import Clip
from daemon.caption.cloud.http import api_key, base_url, multipart, post_json
from daemon.caption.cloud.lines import text_to_lyrics, words_to_lyrics
from daemon.caption.providers import Answer, Provider, transcript_labels
from shared.caption_parse import parse_transcript
from shared.caption_settings import CaptionSettings
from shared.labels import LANGUAGES

DEFAULT_BASE = "https://api.elevenlabs.io"
ISO_639_3 = {"eng": "en", "spa": "es", "fra": "fr", "deu": "de", "ita": "it", "por": "pt", "rus": "ru", "jpn": "ja",
             "kor": "ko", "zho": "zh", "cmn": "zh", "yue": "yue", "ara": "ar", "hin": "hi", "nld": "nl", "pol": "pl",
             "swe": "sv", "tur": "tr", "ukr": "uk", "vie": "vi", "tha": "th", "ind": "id", "ces": "cs", "fin": "fi",
             "dan": "da", "nor": "no", "nob": "no", "ell": "el", "heb": "he", "hun": "hu", "ron": "ro", "msa": "ms",
             "fas": "fa", "tam": "ta", "tel": "te", "ben": "bn", "urd": "ur", "cat": "ca", "hrv": "hr", "srp": "sr",
             "slk": "sk", "bul": "bg", "lit": "lt", "tgl": "tl", "fil": "tl", "swa": "sw", "isl": "is", "lat": "la"}


class ElevenLabsProvider(Provider):
    name = "elevenlabs"
    can_transcribe = True

    def __init__(self, settings: CaptionSettings) -> None:
        self.settings = settings
        self.key = api_key("ELEVENLABS_API_KEY", "ElevenLabs")
        self.url = f"{base_url(settings.elevenlabs_base_url, 'ELEVENLABS_BASE_URL', DEFAULT_BASE)}/v1/speech-to-text"

    def transcribe(self, clip: Clip) -> Answer:
        fields: dict[str, str | list[str]] = {"model_id": self.settings.elevenlabs_model,
                                              "timestamps_granularity": "word", "tag_audio_events": "false"}
        if self.settings.language:
            fields["language_code"] = self.settings.language
        body, content_type = multipart(fields, {"file": ("audio.flac", clip.flac(), "audio/flac")})
        reply = post_json(self.url, body, {"Content-Type": content_type, "xi-api-key": self.key},
                          label="ElevenLabs", timeout=self.settings.request_timeout, retries=self.settings.max_retries)
        words = [(str(w.get("text", "")), float(w.get("start") or 0), float(w.get("end") or 0))
                 for w in reply.get("words") or [] if isinstance(w, dict) and w.get("type", "word") == "word"]
        text = words_to_lyrics(words) if words else text_to_lyrics(str(reply.get("text") or ""))
        labels = transcript_labels(parse_transcript(text), language_code(reply.get("language_code"))
                                   or self.settings.language)
        return Answer(self.name, self.settings.elevenlabs_model, json.dumps(reply, ensure_ascii=False)[:20000], labels)


def language_code(value: object) -> str:
    """A dataset language code from ElevenLabs' ISO 639-1 or 639-3 code; "" when not one the dataset knows."""
    code = str(value or "").strip().lower()
    code = ISO_639_3.get(code, code)
    return code if code in LANGUAGES and code != "unknown" else ""
