"""Label vocabularies and parsers: key, time signature, BPM, language, yes/no.

The vocabularies are the values the dataset table offers as choices and the values ACE-Step's
prompt expects (its `constants.py`): keyscale "C major" / "F# minor" / "Bb major", time
signature "2" / "3" / "4" / "6", 50 language codes plus "unknown", BPM 30..300.

Parsers take what people and captioners write ("Dm", "D min", "in the key of A", "F♯ minor",
"4/4", "120 bpm") and return the canonical value, or raise `LabelError` saying what was
expected. Empty text parses to the field's empty value (None or "").
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

NOTES = ("C", "D", "E", "F", "G", "A", "B")
ACCIDENTALS = ("", "#", "b")
MODES = ("major", "minor")
# Every spelling ACE-Step accepts (7 notes x natural/sharp/flat x major/minor), in a musical order.
KEYSCALES: tuple[str, ...] = tuple(f"{n}{a} {m}" for n in NOTES for a in ACCIDENTALS for m in MODES)

TIME_SIGNATURES: tuple[str, ...] = ("2", "3", "4", "6")

BPM_MIN, BPM_MAX = 30, 300

# ACE-Step's VALID_LANGUAGES (ISO 639-1 codes, "yue" for Cantonese) plus "unknown".
LANGUAGES: tuple[str, ...] = (
    "en", "zh", "ja", "ko", "es", "fr", "de", "it", "pt", "ru", "ar", "hi",
    "az", "bg", "bn", "ca", "cs", "da", "el", "fa", "fi", "he", "hr", "ht",
    "hu", "id", "is", "la", "lt", "ms", "ne", "nl", "no", "pa", "pl", "ro",
    "sa", "sk", "sr", "sv", "sw", "ta", "te", "th", "tl", "tr", "uk", "ur",
    "vi", "yue", "unknown",
)
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English", "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "es": "Spanish",
    "fr": "French", "de": "German", "it": "Italian", "pt": "Portuguese", "ru": "Russian",
    "ar": "Arabic", "hi": "Hindi", "az": "Azerbaijani", "bg": "Bulgarian", "bn": "Bengali",
    "ca": "Catalan", "cs": "Czech", "da": "Danish", "el": "Greek", "fa": "Persian",
    "fi": "Finnish", "he": "Hebrew", "hr": "Croatian", "ht": "Haitian Creole", "hu": "Hungarian",
    "id": "Indonesian", "is": "Icelandic", "la": "Latin", "lt": "Lithuanian", "ms": "Malay",
    "ne": "Nepali", "nl": "Dutch", "no": "Norwegian", "pa": "Punjabi", "pl": "Polish",
    "ro": "Romanian", "sa": "Sanskrit", "sk": "Slovak", "sr": "Serbian", "sv": "Swedish",
    "sw": "Swahili", "ta": "Tamil", "te": "Telugu", "th": "Thai", "tl": "Tagalog",
    "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese", "yue": "Cantonese",
    "unknown": "Unknown / auto",
}

PROMPT_OVERRIDES: tuple[str, ...] = ("caption", "genre")


class LabelError(ValueError):
    """A label value could not be parsed; the message says what was expected."""


_KEY_RE = re.compile(
    r"^(?:(?:in\s+)?(?:the\s+)?key\s+(?:of\s+)?|in\s+)?"
    r"(?P<note>[a-g])\s*(?P<acc>#|b|sharp|flat)?\s*"
    r"(?P<mode>major|minor|maj|min|dur|moll|m|)\.?(?:\s+(?:key|scale))?$",
)


def parse_keyscale(text: str | None) -> str:
    """Canonical keyscale ("F# minor") from "F#m", "f sharp min", "in the key of A", "Gb"..."""
    raw = (text or "").strip()
    if not raw:
        return ""
    cleaned = raw.replace("♯", "#").replace("♭", "b").replace("-", " ")
    match = _KEY_RE.match(" ".join(cleaned.lower().split()))
    if not match:
        raise LabelError(f"{raw!r} is not a key; expected e.g. 'C major', 'A minor', 'F# minor', 'Bb major', 'Dm'")
    acc = {"sharp": "#", "flat": "b", None: ""}.get(match["acc"], match["acc"])
    mode = "minor" if match["mode"] in ("minor", "min", "m", "moll") else "major"
    return f"{match['note'].upper()}{acc} {mode}"


def parse_timesignature(text: str | int | None) -> str:
    """Canonical time signature ("2", "3", "4", "6") from "4", "4/4", "3/4", "6/8", 4."""
    raw = str(text if text is not None else "").strip()
    if not raw:
        return ""
    match = re.fullmatch(r"(\d+)(?:\s*/\s*(\d+))?", raw)
    beats = match.group(1) if match else ""
    if beats.lstrip("0") in TIME_SIGNATURES:
        return beats.lstrip("0")
    raise LabelError(f"{raw!r} is not a time signature; expected one of 2, 3, 4, 6 (or 2/4, 3/4, 4/4, 6/8)")


def parse_bpm(text: str | float | None) -> int | None:
    """BPM as an int in 30..300 from "120", "120.4", "120 bpm", 120; empty is None."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    raw = str(text).strip()
    match = re.fullmatch(r"(\d+(?:\.\d*)?)\s*(?:bpm)?", raw.lower().replace(",", "."))  # "120,5" in Europe
    if not match:
        raise LabelError(f"{raw!r} is not a BPM; expected a number from {BPM_MIN} to {BPM_MAX}")
    value = int(float(match.group(1)) + 0.5)
    if not BPM_MIN <= value <= BPM_MAX:
        raise LabelError(f"{raw!r} is outside {BPM_MIN}..{BPM_MAX} BPM")
    return value


def parse_language(text: str | None) -> str:
    """A language code from LANGUAGES, from a code ("EN") or an English name ("Japanese")."""
    raw = (text or "").strip()
    if not raw:
        return "unknown"
    lowered = raw.lower()
    if lowered in LANGUAGES:
        return lowered
    for code, name in LANGUAGE_NAMES.items():
        if name.lower() == lowered:
            return code
    raise LabelError(f"{raw!r} is not a supported language; expected a code such as en, zh, ja, es or unknown")


_TRUE = ("1", "true", "yes", "y", "x", "on", "instrumental")
_FALSE = ("0", "false", "no", "n", "off", "vocal", "vocals", "")


def parse_bool(text: str | bool | int | None) -> bool:
    """Yes/no from true/false, yes/no, 1/0, x/empty."""
    if isinstance(text, bool):
        return text
    lowered = str(text if text is not None else "").strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise LabelError(f"{text!r} is not yes/no; expected true/false, yes/no or 1/0")


def parse_prompt_override(text: str | None) -> str | None:
    """None (follow the genre ratio), "caption" or "genre"."""
    lowered = (text or "").strip().lower()
    if lowered in ("", "none", "auto", "ratio"):
        return None
    if lowered in PROMPT_OVERRIDES:
        return lowered
    raise LabelError(f"{text!r} is not a prompt override; expected caption, genre or empty")


def parse_text(value: Any) -> str:
    """Free text (caption, genre, lyrics, tag): stripped; None is empty."""
    return "" if value is None else str(value).strip()


# Sample attribute -> the parser for its value as people write it (CSV cells, sidecar JSON).
FIELD_PARSERS: dict[str, Callable[[Any], Any]] = {
    "caption": parse_text, "genre": parse_text, "lyrics": parse_text, "custom_tag": parse_text,
    "bpm": parse_bpm, "keyscale": parse_keyscale, "timesignature": parse_timesignature,
    "language": parse_language, "is_instrumental": parse_bool, "prompt_override": parse_prompt_override,
    "labeled": parse_bool,
}
