"""Captioner settings (CA-5): declared in the registry, saved and restored."""
from __future__ import annotations

import json

import pytest

from shared.caption_settings import (
    CaptionSettings,
    load_caption_settings,
    save_caption_settings,
    saved_settings_path,
)
from shared.errors import SettingsError
from shared.settings_catalog import group


def test_saved_settings_come_back(tmp_path):
    chosen = {**CaptionSettings(source="/music").to_dict(), "provider": "gemini", "lyrics": True,
              "caption_max_tokens": 300, "captioner_model": "/models/my-captioner", "temperature": 0.3}
    save_caption_settings(chosen, tmp_path)
    assert load_caption_settings(tmp_path) == chosen


def test_nothing_saved_gives_the_defaults_and_a_broken_file_too(tmp_path):
    defaults = load_caption_settings(tmp_path)
    assert defaults["provider"] == "local" and defaults["source"] == ""
    saved_settings_path(tmp_path).parent.mkdir()
    saved_settings_path(tmp_path).write_text("{not json", encoding="utf-8")
    assert load_caption_settings(tmp_path) == defaults


def test_an_old_file_keeps_what_is_still_valid(tmp_path):
    saved_settings_path(tmp_path).parent.mkdir()
    saved_settings_path(tmp_path).write_text(json.dumps({"settings": {
        "provider": "whisper", "gone_setting": 1, "top_p": 7.0}}), encoding="utf-8")
    values = load_caption_settings(tmp_path)
    assert values["provider"] == "whisper" and values["top_p"] == 0.9 and "gone_setting" not in values


def test_a_bad_value_is_refused_by_its_label():
    with pytest.raises(SettingsError, match="Folder or dataset"):
        CaptionSettings.from_dict({"source": " "})
    with pytest.raises(SettingsError, match="Provider"):
        CaptionSettings.from_dict({"source": "/x", "provider": "bard"})
    assert group("caption") is CaptionSettings


def test_who_does_what():
    assert CaptionSettings(source="x").lyrics_by() is None
    assert CaptionSettings(source="x", lyrics=True).lyrics_by() == "local"
    assert CaptionSettings(source="x", provider="whisper").lyrics_by() == "whisper"
    assert CaptionSettings(source="x", provider="whisper").caption_by() is None
    assert CaptionSettings(source="x", provider="signal", lyrics=True).lyrics_by() == "local"
    assert CaptionSettings(source="x", provider="gemini", lyrics=True, lyrics_provider="elevenlabs").lyrics_by() \
        == "elevenlabs"
