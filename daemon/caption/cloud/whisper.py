"""OpenAI Whisper: lyrics with line breaks from word timings.

POST {base}/v1/audio/transcriptions (multipart: the FLAC file, `model`, `response_format=verbose_json`,
`timestamp_granularities[]=word`, `language` when set), key as `Authorization: Bearer`. The answer's
`words` ([{word, start, end}]) become lines (`lines.words_to_lyrics`); its `language` is a name
("english"), read by the labels' language parser.
"""
from __future__ import annotations

import json

from daemon.caption.clips import Clip
from daemon.caption.cloud.http import api_key, base_url, multipart, post_json
from daemon.caption.cloud.lines import text_to_lyrics, words_to_lyrics
from daemon.caption.providers import Answer, Provider, transcript_labels
from shared.caption_parse import parse_transcript
from shared.caption_settings import CaptionSettings
from shared.labels import LabelError, parse_language

DEFAULT_BASE = "https://api.openai.com"


class WhisperProvider(Provider):
    name = "whisper"
    can_transcribe = True

    def __init__(self, settings: CaptionSettings) -> None:
        self.settings = settings
        self.key = api_key("OPENAI_API_KEY", "OpenAI")
        self.url = f"{base_url(settings.openai_base_url, 'OPENAI_BASE_URL', DEFAULT_BASE)}/v1/audio/transcriptions"

    def transcribe(self, clip: Clip) -> Answer:
        fields: dict[str, str | list[str]] = {"model": self.settings.openai_model, "response_format": "verbose_json",
                                              "timestamp_granularities[]": ["word"]}
        if self.settings.language:
            fields["language"] = self.settings.language
        body, content_type = multipart(fields, {"file": ("audio.flac", clip.flac(), "audio/flac")})
        reply = post_json(self.url, body, {"Content-Type": content_type, "Authorization": f"Bearer {self.key}"},
                          label="OpenAI", timeout=self.settings.request_timeout, retries=self.settings.max_retries)
        words = [(str(w.get("word", "")), float(w.get("start", 0)), float(w.get("end", 0)))
                 for w in reply.get("words") or [] if isinstance(w, dict)]
        text = words_to_lyrics(words) if words else text_to_lyrics(str(reply.get("text") or ""))
        labels = transcript_labels(parse_transcript(text), _language(reply.get("language")) or self.settings.language)
        return Answer(self.name, self.settings.openai_model, json.dumps(reply, ensure_ascii=False)[:20000], labels)


def _language(value: object) -> str:
    try:
        code = parse_language(str(value or ""))
    except LabelError:
        return ""
    return "" if code == "unknown" else code
