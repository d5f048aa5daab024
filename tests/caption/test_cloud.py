"""Cloud providers against a loopback server that checks each request and answers in the provider's
documented format: a good answer, an error answer, a refused key, a rate limit, a timeout."""
from __future__ import annotations

import base64
import io

import pytest
import soundfile as sf

from daemon.caption.clips import prepare_clip
from daemon.caption.cloud import http
from daemon.caption.cloud.elevenlabs import ElevenLabsProvider
from daemon.caption.cloud.gemini import GeminiProvider
from daemon.caption.cloud.lines import words_to_lyrics
from daemon.caption.cloud.whisper import WhisperProvider
from shared.caption_settings import CaptionSettings
from shared.errors import ProviderError
from tests.caption.fake_cloud import FakeCloud, Reply, gemini_answer, gemini_error, openai_error


@pytest.fixture(scope="module")
def clip(demo_root):
    return prepare_clip(demo_root / "dataset" / "vocal" / "march.wav", "vocal/march.wav", max_seconds=240)


@pytest.fixture(autouse=True)
def keys_and_quick_backoff(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "test-gemini-key")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ELEVENLABS_API_KEY", "xi-test")
    monkeypatch.setattr(http, "BACKOFF_BASE_S", 0.01)


def settings(cloud: FakeCloud, **changes) -> CaptionSettings:
    return CaptionSettings(source="/unused", gemini_base_url=cloud.url, openai_base_url=cloud.url,
                           elevenlabs_base_url=cloud.url, max_retries=2, request_timeout=5.0).replace(**changes)


def assert_is_the_clip(flac: bytes, clip) -> None:
    audio, rate = sf.read(io.BytesIO(flac))
    assert rate == 16_000 and audio.ndim == 1 and len(audio) == len(clip.audio)


def test_gemini_caption_lyrics_and_metadata_after_a_rate_limit(clip):
    answer = {"caption": "A bold brass march with snare rolls.", "genre": "march, brass", "key": "B-flat major",
              "time_signature": "2/4", "bpm": 112, "language": "en",
              "lyrics": "[Chorus]\nLeft and right we carry on", "instrumental": False}
    limited = gemini_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).", details=[
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0s"}])
    with FakeCloud([Reply(429, limited), Reply(200, gemini_answer(answer))]) as cloud:
        result = GeminiProvider(settings(cloud)).caption(clip, lyrics=True)
    assert len(cloud.requests) == 2
    request = cloud.requests[-1]
    assert request.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert request.headers["x-goog-api-key"] == "test-gemini-key"
    body = request.json()
    audio_part, text_part = body["contents"][0]["parts"]
    assert audio_part["inline_data"]["mime_type"] == "audio/flac"
    assert_is_the_clip(base64.b64decode(audio_part["inline_data"]["data"]), clip)
    assert "lyrics" in text_part["text"].lower()
    assert body["generationConfig"]["responseMimeType"] == "application/json"
    assert result.labels == {"caption": "A bold brass march with snare rolls.", "genre": "march, brass",
                             "keyscale": "Bb major", "timesignature": "2", "bpm": 112, "language": "en",
                             "lyrics": "[Chorus]\nLeft and right we carry on", "is_instrumental": False}


def test_gemini_refused_key_stops_at_once(clip):
    refused = gemini_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", details=[
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}])
    with FakeCloud([Reply(400, refused)]) as cloud, pytest.raises(ProviderError, match="refused the API key") as err:
        GeminiProvider(settings(cloud)).caption(clip)
    assert err.value.fatal and len(cloud.requests) == 1


def test_a_missing_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY")
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    with pytest.raises(ProviderError, match="set GEMINI_API_KEY in the daemon's environment") as err:
        GeminiProvider(CaptionSettings(source="/unused"))
    assert err.value.fatal
    monkeypatch.delenv("ELEVENLABS_API_KEY")
    with pytest.raises(ProviderError, match="ELEVENLABS_API_KEY"):
        ElevenLabsProvider(CaptionSettings(source="/unused"))


def test_whisper_lines_from_word_timings(clip):
    words = [("Left", 0.0, 0.3), ("and", 0.35, 0.5), ("right", 0.55, 0.9), ("we", 1.8, 2.0), ("carry", 2.05, 2.4),
             ("on.", 2.45, 2.9), ("Again", 6.0, 6.4)]
    reply = {"task": "transcribe", "language": "english", "duration": 3.0, "text": "Left and right we carry on. Again",
             "words": [{"word": w, "start": s, "end": e} for w, s, e in words]}
    with FakeCloud([Reply(429, openai_error("Rate limit reached for whisper-1", "requests", "rate_limit_exceeded"),
                          headers={"Retry-After": "0"}), Reply(200, reply)]) as cloud:
        result = WhisperProvider(settings(cloud, language="en")).transcribe(clip)
    request = cloud.requests[-1]
    assert request.path == "/v1/audio/transcriptions" and request.headers["authorization"] == "Bearer sk-test"
    form = request.form()
    assert form["model"] == ["whisper-1"] and form["response_format"] == ["verbose_json"]
    assert form["timestamp_granularities[]"] == ["word"] and form["language"] == ["en"]
    filename, content_type, data = form["file"][0]
    assert content_type == "audio/flac"
    assert_is_the_clip(data, clip)
    assert result.labels == {"lyrics": "Left and right\nwe carry on.\n\nAgain", "is_instrumental": False,
                             "language": "en"}


def test_whisper_refused_key_and_rate_limits_that_never_end(clip):
    bad_key = openai_error("Incorrect API key provided: sk-test. You can find your API key at "
                           "https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key")
    with FakeCloud([Reply(401, bad_key)]) as cloud, pytest.raises(ProviderError, match="Incorrect API key") as err:
        WhisperProvider(settings(cloud)).transcribe(clip)
    assert err.value.fatal
    limited = Reply(429, openai_error("Rate limit reached", "requests", "rate_limit_exceeded"), {"Retry-After": "0"})
    with FakeCloud([limited] * 3) as cloud, pytest.raises(ProviderError, match="rate limited.*gave up after 3") as err:
        WhisperProvider(settings(cloud)).transcribe(clip)
    assert not err.value.fatal and len(cloud.requests) == 3


def test_elevenlabs_words_language_and_an_error_answer(clip):
    reply = {"language_code": "eng", "language_probability": 0.98, "text": "Left and right, we carry on",
             "words": [{"text": "Left", "start": 0.0, "end": 0.3, "type": "word", "speaker_id": "speaker_0"},
                       {"text": " ", "start": 0.3, "end": 0.35, "type": "spacing", "speaker_id": "speaker_0"},
                       {"text": "and", "start": 0.35, "end": 0.5, "type": "word", "speaker_id": "speaker_0"},
                       {"text": "(music)", "start": 0.5, "end": 1.5, "type": "audio_event", "speaker_id": None},
                       {"text": "right,", "start": 1.6, "end": 1.9, "type": "word", "speaker_id": "speaker_0"}]}
    unprocessable = {"detail": [{"loc": ["body", "model_id"], "msg": "value is not a valid enumeration member",
                                 "type": "type_error.enum"}]}
    with FakeCloud([Reply(200, reply), Reply(422, unprocessable)]) as cloud:
        result = ElevenLabsProvider(settings(cloud)).transcribe(clip)
        with pytest.raises(ProviderError, match="HTTP 422: value is not a valid enumeration member") as err:
            ElevenLabsProvider(settings(cloud, elevenlabs_model="scribe_v9")).transcribe(clip)
    assert not err.value.fatal
    request = cloud.requests[0]
    assert request.path == "/v1/speech-to-text" and request.headers["xi-api-key"] == "xi-test"
    form = request.form()
    assert form["model_id"] == ["scribe_v1"] and form["timestamps_granularity"] == ["word"]
    assert_is_the_clip(form["file"][0][2], clip)
    assert result.labels == {"lyrics": "Left and\nright,", "is_instrumental": False, "language": "en"}


def test_a_server_that_does_not_answer_in_time(clip):
    with FakeCloud([Reply(200, {}, delay=1.0), Reply(200, {}, delay=1.0)]) as cloud:
        with pytest.raises(ProviderError, match=r"no answer within 0.3 s; gave up after 2 tries"):
            ElevenLabsProvider(settings(cloud, request_timeout=0.3, max_retries=1)).transcribe(clip)


def test_lines_and_verses_from_pauses():
    words = [("one", 0, 0.2), ("two", 0.3, 0.5), ("three", 1.5, 1.7), ("four", 5.0, 5.2)]
    assert words_to_lyrics(words) == "one two\nthree\n\nfour"
    many = [(f"w{i}", i * 0.2, i * 0.2 + 0.1) for i in range(30)]
    assert all(len(line.split()) <= 12 for line in words_to_lyrics(many).splitlines())
