"""Gemini: caption, metadata and (when asked) lyrics for one file in one request, answered as JSON.

POST {base}/v1beta/models/{model}:generateContent, key in the `x-goog-api-key` header, the audio
inline as FLAC (16 kHz mono keeps a 4-minute song far under the 20 MB request limit), and a
response schema so the answer is one JSON object. The object goes through the same parsers as a
local captioner's answer.
"""
from __future__ import annotations

import base64
import json

from daemon.caption.clips import Clip
from daemon.caption.cloud.http import api_key, base_url, post_json
from daemon.caption.providers import Answer, Provider, caption_labels, transcript_labels
from shared.caption_parse import parse_caption, parse_transcript
from shared.caption_settings import CaptionSettings
from shared.errors import ProviderError

DEFAULT_BASE = "https://generativelanguage.googleapis.com"
PROMPT = (
    "Describe this music for a text-to-music model's training caption: genre, mood, instruments, vocals, "
    "production and structure, in one paragraph of plain prose (no names of artists or songs). Also give "
    "its genre (a few comma-separated tags), key (e.g. 'F# minor'), time signature (beats per bar: 2, 3, 4 "
    "or 6), tempo in BPM, and the language of the vocals as an ISO 639-1 code."
)
LYRICS_PROMPT = (" Transcribe the sung lyrics line by line, with section tags such as [Verse] and [Chorus] on "
                 "their own lines; write [Instrumental] when there are no vocals.")
SCHEMA = {
    "type": "OBJECT",
    "properties": {
        "caption": {"type": "STRING"}, "genre": {"type": "STRING"}, "key": {"type": "STRING"},
        "time_signature": {"type": "STRING"}, "bpm": {"type": "NUMBER"}, "language": {"type": "STRING"},
        "lyrics": {"type": "STRING"}, "instrumental": {"type": "BOOLEAN"},
    },
    "required": ["caption"],
}


class GeminiProvider(Provider):
    name = "gemini"
    can_caption = True
    can_transcribe = True
    lyrics_in_caption = True

    def __init__(self, settings: CaptionSettings) -> None:
        self.settings = settings
        self.key = api_key("GEMINI_API_KEY", "Gemini", "GOOGLE_API_KEY")
        self.url = (f"{base_url(settings.gemini_base_url, 'GEMINI_BASE_URL', DEFAULT_BASE)}/v1beta/models/"
                    f"{settings.gemini_model}:generateContent")

    def caption(self, clip: Clip, *, lyrics: bool = False) -> Answer:
        data = self._ask(clip, PROMPT + (LYRICS_PROMPT if lyrics else ""))
        labels = caption_labels(parse_caption(json.dumps({k: v for k, v in data.items() if k != "lyrics"})))
        if lyrics:
            labels.update(self._lyrics(data))
        return Answer(self.name, self.settings.gemini_model, json.dumps(data, ensure_ascii=False), labels)

    def transcribe(self, clip: Clip) -> Answer:
        data = self._ask(clip, "Give the language of the vocals as an ISO 639-1 code and a caption of one "
                               "sentence." + LYRICS_PROMPT)
        return Answer(self.name, self.settings.gemini_model, json.dumps(data, ensure_ascii=False), self._lyrics(data))

    def _lyrics(self, data: dict) -> dict:
        text = "[Instrumental]" if data.get("instrumental") is True else str(data.get("lyrics") or "")
        hint = str(data.get("language") or self.settings.language or "")
        labels = transcript_labels(parse_transcript(text))
        language = caption_labels(parse_caption(json.dumps({"language": hint}))).get("language")
        if language and not labels["is_instrumental"]:
            labels["language"] = language
        return labels

    def _ask(self, clip: Clip, prompt: str) -> dict:
        body = {
            "contents": [{"role": "user", "parts": [
                {"inline_data": {"mime_type": "audio/flac", "data": base64.b64encode(clip.flac()).decode("ascii")}},
                {"text": prompt},
            ]}],
            "generationConfig": {"responseMimeType": "application/json", "responseSchema": SCHEMA,
                                 "temperature": self.settings.temperature},
        }
        reply = post_json(self.url, json.dumps(body).encode("utf-8"),
                          {"Content-Type": "application/json", "x-goog-api-key": self.key}, label="Gemini",
                          timeout=self.settings.request_timeout, retries=self.settings.max_retries)
        return _answer_object(reply, clip.key)


def _answer_object(reply: dict, where: str) -> dict:
    """The JSON object in the first candidate's text parts; ProviderError when there is none."""
    candidates = reply.get("candidates") if isinstance(reply, dict) else None
    if not candidates:
        blocked = (reply.get("promptFeedback") or {}).get("blockReason") if isinstance(reply, dict) else None
        raise ProviderError(f"{where}: Gemini gave no answer" + (f" (blocked: {blocked})" if blocked else ""))
    parts = ((candidates[0].get("content") or {}).get("parts")) or []
    text = "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))
    try:
        data = json.loads(text)
    except ValueError:
        raise ProviderError(f"{where}: Gemini's answer is not the JSON asked for: {text[:200]!r} "
                            f"(finish reason {candidates[0].get('finishReason')})") from None
    if not isinstance(data, dict):
        raise ProviderError(f"{where}: Gemini's answer is not a JSON object: {text[:200]!r}")
    return data
