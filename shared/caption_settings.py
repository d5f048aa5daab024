"""The `caption` job's settings, declared once (CA-5), and the file they are saved to and restored from.

    settings = CaptionSettings(source="/music/songs", provider="local", lyrics=True)
    save_caption_settings(values, home)              # <studio home>/dashboard/caption_settings.json
    load_caption_settings(home)                      # the same settings, or the defaults

Providers: `local` (ACE-Step's captioner, and its transcriber for lyrics), `gemini` (caption,
lyrics and metadata), `whisper` and `elevenlabs` (lyrics only), `signal` (no model: BPM, key,
duration and loudness from the audio). Signal analysis runs for every file whatever the provider.
Cloud keys are read from the daemon's environment, never stored: GEMINI_API_KEY, OPENAI_API_KEY,
ELEVENLABS_API_KEY. No torch here.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from shared.atomic import write_json_atomic
from shared.errors import SettingsError
from shared.settings import SettingsGroup, setting

log = logging.getLogger(__name__)

PROVIDERS = ("local", "gemini", "whisper", "elevenlabs", "signal")
CAPTION_PROVIDERS = ("local", "gemini")  # the ones that write a caption
LYRICS_PROVIDERS = ("local", "gemini", "whisper", "elevenlabs")  # the ones that write lyrics
LYRICS_ONLY = ("whisper", "elevenlabs")
SAVED_FILE = "caption_settings.json"  # in <studio home>/dashboard/: the clients' own files, not the daemon's


@dataclass
class CaptionSettings(SettingsGroup):
    """What to caption, with which provider and models, and where the results go."""

    group_name = "caption"

    source: str = setting("", "An audio folder (searched recursively) or a dataset file (.json) to caption.",
                          section="Files", label="Folder or dataset")
    provider: str = setting("local", "Who writes the caption: local (ACE-Step's captioner), gemini, whisper or "
                            "elevenlabs (lyrics only), signal (no model: BPM, key, duration from the audio).",
                            section="Providers", choices=PROVIDERS)
    lyrics: bool = setting(False, "Also transcribe the lyrics (section tags kept, [Instrumental] when there are "
                           "no vocals). Whisper and ElevenLabs always do.", section="Providers",
                           label="Transcribe lyrics")
    lyrics_provider: str = setting("auto", "Who transcribes: auto = the provider when it can (local, gemini, "
                                   "whisper, elevenlabs), else the local transcriber.", section="Providers",
                                   importance="advanced", choices=("auto", *LYRICS_PROVIDERS),
                                   label="Lyrics provider")
    language: str = setting("", "Language of the vocals as a code (en, de, ja...) passed to the transcriber; "
                            "empty: detected.", section="Providers", importance="advanced")
    write_sidecars: bool = setting(True, "Write <stem>.json next to each audio file (the dataset scan reads "
                                   "them). Values a sidecar already holds are kept unless Overwrite labels.",
                                   section="Output", label="Write sidecar files")
    update_dataset: bool = setting(True, "When a dataset file is captioned, write the results into it (saved "
                                   "with a .bak of the old file).", section="Output",
                                   label="Write into the dataset")
    overwrite_labels: bool = setting(False, "Replace labels the user already set (caption, key, BPM...) instead of "
                                     "filling only the empty ones.", section="Output")
    csv_file: str = setting("", "Also write the results as a CSV here (the dataset CSV import reads it); the run "
                            "folder always holds captions.csv.", section="Output", importance="advanced",
                            label="CSV file")
    redo: bool = setting(False, "Caption files again that an earlier run finished (otherwise they are skipped, so "
                         "a stopped batch resumes where it stopped).", section="Output", importance="advanced",
                         label="Caption finished files again")
    captioner_model: str = setting("acestep-captioner", "The captioner: a folder name under the checkpoint roots, "
                                   "a folder path, or a Hugging Face id (downloaded when the daemon is online).",
                                   section="Local models")
    transcriber_model: str = setting("acestep-transcriber", "The transcriber, found like the captioner.",
                                     section="Local models")
    caption_max_tokens: int = setting(512, "Most tokens a caption may take.", section="Local models",
                                      importance="advanced", minimum=16, maximum=4096)
    lyrics_max_tokens: int = setting(1024, "Most tokens lyrics may take.", section="Local models",
                                     importance="advanced", minimum=16, maximum=8192)
    temperature: float = setting(0.7, "Sampling temperature of the captioner (the transcriber decodes greedily).",
                                 section="Local models", importance="advanced", minimum=0.0, maximum=2.0)
    top_p: float = setting(0.9, "Nucleus sampling of the captioner.", section="Local models",
                           importance="advanced", minimum=0.05, maximum=1.0, label="Top p")
    repetition_penalty: float = setting(1.15, "Repetition penalty of the transcriber's second try when the first "
                                        "one looped on a phrase.", section="Local models", importance="expert",
                                        minimum=1.0, maximum=2.0)
    max_audio_seconds: float = setting(240.0, "Audio sent to a model is cut to this many seconds (the signal "
                                       "analysis reads up to 10 minutes).", section="Local models",
                                       importance="advanced", minimum=5.0, maximum=1800.0)
    prefetch: int = setting(2, "Files decoded on CPU threads ahead of the model.", section="Local models",
                            importance="expert", minimum=1, maximum=16)
    keep_loaded: bool = setting(False, "Keep the captioner and transcriber loaded after the batch (otherwise their "
                                "memory is freed for training).", section="Local models", importance="advanced")
    gemini_model: str = setting("gemini-2.5-flash", "Gemini model (key: GEMINI_API_KEY in the daemon's "
                                "environment).", section="Cloud", importance="advanced")
    openai_model: str = setting("whisper-1", "OpenAI transcription model (key: OPENAI_API_KEY).", section="Cloud",
                                importance="advanced", label="OpenAI model")
    elevenlabs_model: str = setting("scribe_v1", "ElevenLabs speech-to-text model (key: ELEVENLABS_API_KEY).",
                                    section="Cloud", importance="advanced", label="ElevenLabs model")
    gemini_base_url: str = setting("", "Gemini API address; empty: $GEMINI_BASE_URL, else Google's.",
                                   section="Cloud", importance="expert", label="Gemini base URL")
    openai_base_url: str = setting("", "OpenAI API address; empty: $OPENAI_BASE_URL, else OpenAI's.",
                                   section="Cloud", importance="expert", label="OpenAI base URL")
    elevenlabs_base_url: str = setting("", "ElevenLabs API address; empty: $ELEVENLABS_BASE_URL, else "
                                       "ElevenLabs'.", section="Cloud", importance="expert",
                                       label="ElevenLabs base URL")
    request_timeout: float = setting(180.0, "Seconds to wait for one cloud answer.", section="Cloud",
                                     importance="advanced", minimum=0.1, maximum=3600.0)
    max_retries: int = setting(4, "Retries of a cloud request that hit a rate limit, a server error or a "
                               "timeout (waiting 2, 4, 8... s, or what the server asks).", section="Cloud",
                               importance="advanced", minimum=0, maximum=10)

    def validate(self) -> None:
        if not self.source.strip():
            raise self.field_error("source", "give an audio folder or a dataset file")

    def wants_lyrics(self) -> bool:
        """True when this run transcribes (asked for, or a lyrics-only provider)."""
        return self.lyrics or self.provider in LYRICS_ONLY

    def lyrics_by(self) -> str | None:
        """The provider that transcribes, or None when no lyrics are asked for."""
        if not self.wants_lyrics():
            return None
        if self.lyrics_provider != "auto":
            return self.lyrics_provider
        return self.provider if self.provider in LYRICS_PROVIDERS else "local"

    def caption_by(self) -> str | None:
        """The provider that writes captions and metadata, or None (signal analysis alone)."""
        return self.provider if self.provider in CAPTION_PROVIDERS else None


def saved_settings_path(home: str | os.PathLike) -> Path:
    """Where the Captioner page (and `caption --save-settings`) keep the settings to open with."""
    return Path(home) / "dashboard" / SAVED_FILE


def save_caption_settings(values: dict, home: str | os.PathLike) -> Path:
    """Save captioner settings (every field, the folder may be empty) for the next session."""
    checked = CaptionSettings.from_dict({**values, "source": values.get("source") or "-"}).to_dict()
    checked["source"] = values.get("source") or ""
    path = saved_settings_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, {"format": "acestep-studio-caption-settings", "version": 1, "settings": checked})
    return path


def load_caption_settings(home: str | os.PathLike) -> dict:
    """The saved captioner settings as a dict (defaults when none are saved or the file is unreadable;
    a saved setting this version no longer knows is dropped with a log line)."""
    defaults = CaptionSettings.__dataclass_fields__  # every field, even those with an empty default
    values = {name: spec.default for name, spec in ((s.name, s) for s in CaptionSettings.specs())}
    path = saved_settings_path(home)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return values
    except (OSError, ValueError) as err:
        log.warning("%s is unreadable (%s); captioner settings start from the defaults", path, err)
        return values
    saved = data.get("settings") if isinstance(data, dict) else None
    if not isinstance(saved, dict):
        return values
    for name, value in saved.items():
        if name not in defaults:
            log.warning("%s: unknown setting %r dropped", path, name)
            continue
        try:
            values[name] = CaptionSettings.spec(name).check(value, CaptionSettings.group_name)
        except SettingsError as err:
            log.warning("%s: %s; the default is used", path, err)
    return values
