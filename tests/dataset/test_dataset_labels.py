"""Label parsers and vocabularies (shared/labels.py)."""
from __future__ import annotations

import pytest

from shared.labels import (
    KEYSCALES,
    LANGUAGES,
    LabelError,
    parse_bool,
    parse_bpm,
    parse_keyscale,
    parse_language,
    parse_prompt_override,
    parse_timesignature,
)


@pytest.mark.parametrize("text, expected", [
    ("C major", "C major"), ("A minor", "A minor"), ("F# minor", "F# minor"), ("Bb major", "Bb major"),
    ("Dm", "D minor"), ("D min", "D minor"), ("d minor", "D minor"), ("F♯ minor", "F# minor"),
    ("B♭ major", "Bb major"), ("Bbm", "Bb minor"), ("in the key of A", "A major"), ("E-flat major", "Eb major"),
    ("C#", "C# major"), ("G sharp minor", "G# minor"), ("  a   minor  ", "A minor"), ("", ""), (None, ""),
])
def test_keyscale_is_normalised(text, expected):
    assert parse_keyscale(text) == expected
    assert expected == "" or expected in KEYSCALES


@pytest.mark.parametrize("text", ["H major", "fast", "C# majr", "12"])
def test_bad_keyscale_says_what_is_expected(text):
    with pytest.raises(LabelError, match="expected e.g. 'C major'"):
        parse_keyscale(text)


@pytest.mark.parametrize("text, expected", [("4", "4"), ("4/4", "4"), ("3/4", "3"), ("6/8", "6"), ("2", "2"),
                                            (4, "4"), ("", ""), (None, "")])
def test_time_signature(text, expected):
    assert parse_timesignature(text) == expected


@pytest.mark.parametrize("text", ["5", "7/8", "four"])
def test_bad_time_signature(text):
    with pytest.raises(LabelError, match="2, 3, 4, 6"):
        parse_timesignature(text)


def test_bpm_parses_numbers_and_refuses_words_and_out_of_range():
    assert parse_bpm("120") == 120 and parse_bpm("120.6") == 121 and parse_bpm("95 BPM") == 95
    assert parse_bpm(128) == 128 and parse_bpm("") is None and parse_bpm(None) is None
    for bad in ("fast", "10", "400"):
        with pytest.raises(LabelError):
            parse_bpm(bad)


def test_languages_cover_acestep_and_names_parse():
    assert len(LANGUAGES) >= 41 and "unknown" in LANGUAGES
    assert {"en", "zh", "ja", "ko", "es", "fr", "de", "it", "pt", "ru", "ar", "hi", "yue"} <= set(LANGUAGES)
    assert parse_language("EN") == "en" and parse_language("Japanese") == "ja" and parse_language("") == "unknown"
    with pytest.raises(LabelError):
        parse_language("klingon")


def test_bool_and_prompt_override():
    assert parse_bool("Yes") is True and parse_bool("0") is False and parse_bool("") is False
    with pytest.raises(LabelError):
        parse_bool("maybe")
    assert parse_prompt_override("Genre") == "genre" and parse_prompt_override("") is None
    with pytest.raises(LabelError):
        parse_prompt_override("lyrics")
