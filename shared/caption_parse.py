"""Read labels out of what captioners and transcribers write (CA-2): prose, metadata lines, JSON.

    fields = parse_caption("An electronic pop track in D minor at 128 BPM.\\nGenre: synth-pop")
    fields.caption, fields.keyscale, fields.bpm, fields.genre   # "An electronic ...", "D minor", 128, "synth-pop"
    lyrics = parse_transcript("# Languages\\nen\\n\\n# Lyrics\\n[Verse]\\nHello")   # language "en", "[Verse]\\nHello"

A captioner writes a paragraph; key, time signature, BPM and genre are asked for in the prompt but
come back however the model likes ("Key: D minor", "is in C# major", "Bb min", "a waltz", "tempo:
90"). Metadata lines (`name: value`) are taken out of the caption and read first; what they do not
give is mined from the prose. Every value goes through the canonical parsers of `shared.labels`
(the same ones CSV cells and sidecars use), so a mined value is always a value the dataset takes.
Pure functions, no torch.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from shared.labels import LabelError, parse_bpm, parse_keyscale, parse_language, parse_timesignature

INSTRUMENTAL = "[Instrumental]"


@dataclass
class CaptionFields:
    """What one model answer says; empty values mean "not said"."""

    caption: str = ""
    genre: str = ""
    keyscale: str = ""
    timesignature: str = ""
    bpm: int | None = None
    language: str = ""
    found: dict[str, str] = field(default_factory=dict)  # field -> "metadata", "json" or "prose"


@dataclass
class Transcript:
    """A transcriber's answer: lyrics with section tags, or [Instrumental]."""

    lyrics: str = ""
    language: str = ""
    is_instrumental: bool = False
    looped: bool = False  # the model repeated itself; the caller may retry with a repetition penalty


# ---------------------------------------------------------------------------------------------- key
_NOTE = r"(?P<note>[A-G])"
_ACC = r"(?P<acc>\s*(?:#|♯|b|♭|-?\s?sharp|-?\s?flat))?"
_MODE = r"(?P<mode>\s*(?:major|minor|maj\b|min\b|dur\b|moll\b)|m\b)"
_KEY_IN_PROSE = re.compile(rf"(?<![\w#♯♭/-]){_NOTE}{_ACC}{_MODE}(?!-)", re.IGNORECASE)
# "in the key of A", "key of Bb": a note alone is a key only when the words say so (major then)
_KEY_OF = re.compile(rf"\bkey(?:\s+of\s+|\s+is\s+|\s*:\s*)(?:the\s+)?{_NOTE}{_ACC}"
                     r"(?![\w#♯♭])(?!\s*(?:major|minor|maj|min|dur|moll)\b)", re.IGNORECASE)
_KEY_WORDS = re.compile(r"(?:\bkey(?:\s+of|\s+is|\s*:)?|\btonality(?:\s+of|\s*:)?|\bin)\s+(?:the\s+)?$", re.IGNORECASE)


def find_keyscale(text: str) -> str:
    """The key a text names ("is in C# major", "Key: D minor", "Bb min", "in the key of A"), or "".

    A note letter must be a capital (or follow "key"/"in"), so "a minor role" is no key; when
    several keys are named, one introduced by "key"/"in" wins over a passing mention."""
    best: tuple[int, int, str] | None = None  # (rank, position, value): lower is better
    for match in _KEY_IN_PROSE.finditer(text):
        before = text[:match.start()]
        introduced = bool(_KEY_WORDS.search(before[-24:]))
        if not match["note"].isupper() and not introduced:
            continue
        if match["mode"] == "m" and match["note"] == "A" and not match["acc"] and _is_i_am(before, match.end(), text):
            continue  # "I Am", "Am I" are words, not A minor
        value = _canonical_key(match["note"], match["acc"], match["mode"])
        if value and (best is None or (0 if introduced else 1, match.start()) < best[:2]):
            best = (0 if introduced else 1, match.start(), value)
    for match in _KEY_OF.finditer(text):
        value = _canonical_key(match["note"], match["acc"], "major")
        if value and (best is None or (0, match.start("note")) < best[:2]):
            best = (0, match.start("note"), value)
    return best[2] if best else ""


def _is_i_am(before: str, end: int, text: str) -> bool:
    return bool(re.search(r"\bI\s+$", before) or re.match(r"\s+I\b", text[end:]))


def _canonical_key(note: str, accidental: str | None, mode: str) -> str:
    acc = (accidental or "").replace("-", "").replace(" ", "")
    try:
        return parse_keyscale(f"{note}{acc} {mode.strip()}")
    except LabelError:
        return ""


# ----------------------------------------------------------------------------------- time signature
_FRACTION = re.compile(r"(?<![\d/.])(?P<beats>\d{1,2})\s*/\s*(?P<unit>2|4|8|16)(?![\d/])")
_ALONE = r"(?=\s*(?:[,.;:)!]|$|\s(?:time|feel|meter|metre)\b))"  # "in three," not "in three parts"
_METER_WORDS = (  # checked in this order; the first that matches wins
    (re.compile(rf"\b(?:waltz|triple\s+(?:meter|metre|time)|in\s+(?:three|3){_ALONE}|"
                r"three\s+beats\s+(?:per|a|to\s+the)\s+bar)", re.IGNORECASE), "3"),
    (re.compile(rf"\b(?:compound\s+duple|in\s+(?:six|6){_ALONE}|jig\b)", re.IGNORECASE), "6"),
    (re.compile(rf"\b(?:march(?:ing)?\s+(?:in\s+)?two\b|in\s+(?:two|2){_ALONE}|duple\s+(?:meter|metre|time)|"
                r"cut\s+time|alla\s+breve|two\s+beats\s+(?:per|a|to\s+the)\s+bar)", re.IGNORECASE), "2"),
    (re.compile(rf"\b(?:common\s+time|in\s+(?:four|4){_ALONE}|four[\s-]on[\s-]the[\s-]floor|"
                r"quadruple\s+(?:meter|metre|time)|four\s+beats\s+(?:per|a|to\s+the)\s+bar)", re.IGNORECASE), "4"),
)


def find_timesignature(text: str) -> str:
    """Beats per bar ("2", "3", "4", "6") from "4/4", "6/8", "in three", "a waltz"..., or ""."""
    for match in _FRACTION.finditer(text):
        try:
            return parse_timesignature(f"{match['beats']}/{match['unit']}")
        except LabelError:
            return ""  # 5/4, 7/8: named, but not a value ACE-Step takes; no guessing from words
    for pattern, value in _METER_WORDS:
        if pattern.search(text):
            return value
    return ""


# ---------------------------------------------------------------------------------------------- bpm
_BPM = re.compile(
    r"(?:\b(?:bpm|tempo|beats\s+per\s+minute)\b\s*(?:of|is|at|around|about|:|=|~|≈)?\s*(?:of|around|about|roughly|~)?\s*"
    r"(?P<after>\d{2,3}(?:[.,]\d+)?)(?![\d%])"
    r"|(?<![\d.,])(?P<before>\d{2,3}(?:[.,]\d+)?)(?:\s*(?:-|–|to)\s*\d{2,3})?\s*(?:bpm|beats\s+per\s+minute|b\.p\.m\.)(?!\w))",
    re.IGNORECASE,
)


def find_bpm(text: str) -> int | None:
    """Tempo from "at 128 BPM", "tempo: 90", "around 100 beats per minute", "120-124 bpm"; None
    when none is said or the number is outside 30..300."""
    for match in _BPM.finditer(text):
        try:
            value = parse_bpm(match["after"] or match["before"])
        except LabelError:
            continue
        if value is not None:
            return value
    return None


# -------------------------------------------------------------------------------------------- genre
# Multi-word and specific names first: the first keyword to match a span wins it.
GENRE_KEYWORDS: tuple[str, ...] = (
    "drum and bass", "hip hop", "synth-pop", "synthpop", "synthwave", "k-pop", "j-pop",
    "r&b", "bossa nova", "trip hop", "post-rock", "death metal", "heavy metal", "future bass", "deep house",
    "big band", "new wave", "singer-songwriter", "dubstep", "techno", "trance", "house", "edm", "electronic",
    "electronica", "ambient", "lo-fi", "lofi", "pop", "rock", "metal", "punk", "grunge", "indie", "folk",
    "country", "bluegrass", "blues", "jazz", "swing", "soul", "funk", "disco", "gospel", "reggae", "reggaeton",
    "ska", "latin", "salsa", "tango", "flamenco", "afrobeat", "classical", "orchestral", "cinematic",
    "soundtrack", "chiptune", "trap", "rap", "drill", "grime", "garage", "shoegaze", "emo", "opera",
    "experimental", "industrial", "downtempo", "chillout", "dance", "march", "waltz",
)
_GENRE_PATTERNS = [(g, re.compile(rf"(?<![\w-]){re.escape(g)}(?![\w-])", re.IGNORECASE)) for g in GENRE_KEYWORDS]
_GENRE_ALIASES = {"synthpop": "synth-pop", "lofi": "lo-fi", "hip-hop": "hip hop", "electronica": "electronic"}
MAX_GENRES = 3


def find_genre(text: str, limit: int = MAX_GENRES) -> str:
    """Known genre words in the order the text names them ("electronic, pop"), at most `limit`."""
    taken: list[tuple[int, int]] = []
    found: list[tuple[int, str]] = []
    normalised = re.sub(r"\bhip-hop\b", "hip hop", text, flags=re.IGNORECASE)
    for genre, pattern in _GENRE_PATTERNS:
        for match in pattern.finditer(normalised):
            if any(start < match.end() and match.start() < end for start, end in taken):
                continue
            taken.append(match.span())
            found.append((match.start(), _GENRE_ALIASES.get(genre, genre)))
    names = list(dict.fromkeys(name for _, name in sorted(found)))
    return ", ".join(names[:limit])


def clean_genre(value: str) -> str:
    """A `genre:` value as a tag list: list marks, quotes and a final full stop off, "/" and ";" as commas."""
    parts = re.split(r"\s*[,;/|]\s*", value.strip().strip("\"'`*").rstrip("."))
    return ", ".join(p.strip().strip("\"'`*") for p in parts if p.strip())


# ---------------------------------------------------------------------------------- metadata lines
_FIELD_NAMES = {
    "key": "keyscale", "keyscale": "keyscale", "key scale": "keyscale", "scale": "keyscale", "tonality": "keyscale",
    "musical key": "keyscale", "time signature": "timesignature", "timesignature": "timesignature",
    "time_signature": "timesignature", "meter": "timesignature", "metre": "timesignature", "time": "timesignature",
    "bpm": "bpm", "tempo": "bpm", "genre": "genre", "genres": "genre", "style": "genre", "language": "language",
    "caption": "caption", "description": "caption",
}
_METADATA_LINE = re.compile(
    r"^\s*(?:[-*•]\s*|\d+[.)]\s*)?[*_]{0,2}(?P<name>[A-Za-z][A-Za-z _]{1,20}?)[*_]{0,2}"
    r"\s*[:：=]\s*[*_]{0,2}(?P<value>.*?)\s*$")


def _metadata(line: str) -> tuple[str, str] | None:
    match = _METADATA_LINE.match(line)
    if not match:
        return None
    name = _FIELD_NAMES.get(" ".join(match["name"].lower().replace("_", " ").split()))
    return (name, match["value"].strip().strip("*_").strip()) if name else None


def split_metadata(text: str) -> tuple[str, dict[str, str]]:
    """(caption prose, {field: value}) with every `name: value` line of a known field taken out."""
    prose: list[str] = []
    values: dict[str, str] = {}
    for line in text.splitlines():
        found = _metadata(line)
        if found is None:
            prose.append(line)
        elif found[0] == "caption":
            prose.append(found[1])
        else:
            values.setdefault(found[0], found[1])
    return _join_prose(prose), values


def _join_prose(lines: list[str]) -> str:
    text = " ".join(line.strip().lstrip("#").strip() for line in lines if line.strip())
    return re.sub(r"\s+", " ", text).strip()


# ------------------------------------------------------------------------------------ whole answers
# Chat tokens, think tags, control characters and U+FFFD (bytes a tokenizer could not decode).
_SPECIAL = re.compile(r"<\|[a-z_]+\|>|</?think>|[\x00-\x08\x0b-\x1f\x7f\ufffd]")
_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$", re.IGNORECASE)


def parse_caption(text: str) -> CaptionFields:
    """Caption, key, time signature, BPM, genre and language from a captioner's answer (prose,
    metadata lines or a JSON object); what the answer does not say stays empty."""
    cleaned = _SPECIAL.sub("", text or "").strip()
    data = _json_object(cleaned)
    if data is not None:
        return _from_json(data)
    prose, values = split_metadata(cleaned)
    fields = CaptionFields(caption=prose)
    _apply_values(fields, values, "metadata")
    _mine(fields, prose)
    return fields


def _json_object(text: str) -> dict | None:
    stripped = _FENCE.sub("", text).strip()
    if not stripped.startswith("{"):
        return None
    try:
        data = json.loads(stripped)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _from_json(data: dict) -> CaptionFields:
    values: dict[str, str] = {}
    for key, value in data.items():
        name = _FIELD_NAMES.get(str(key).lower().replace("_", " ").strip()) or _FIELD_NAMES.get(str(key).lower())
        if name and value not in (None, "", []):
            values.setdefault(name, ", ".join(map(str, value)) if isinstance(value, list) else str(value))
    fields = CaptionFields(caption=_join_prose(values.pop("caption", "").splitlines()))
    _apply_values(fields, values, "json")
    _mine(fields, fields.caption)
    return fields


def _apply_values(fields: CaptionFields, values: dict[str, str], where: str) -> None:
    """Metadata values through the canonical parsers; a value they refuse is mined as prose."""
    for name, raw in values.items():
        value = _parse_value(name, raw)
        if value not in ("", None):
            setattr(fields, name, value)
            fields.found[name] = where


def _parse_value(name: str, raw: str) -> str | int | None:
    if name == "genre":
        return clean_genre(raw)
    try:
        if name == "keyscale":
            return parse_keyscale(raw.rstrip("."))
        if name == "timesignature":
            return parse_timesignature(raw.split()[0].rstrip(".")) if raw.split() else ""
        if name == "bpm":
            return parse_bpm(raw.split()[0].rstrip(".")) if raw.split() else None
        if name == "language":
            language = parse_language(raw.rstrip("."))
            return "" if language == "unknown" else language
    except LabelError:
        pass
    miner = {"keyscale": find_keyscale, "timesignature": find_timesignature, "bpm": find_bpm}.get(name)
    return miner(f"{_LEAD[name]} {raw}") if miner else ""


_LEAD = {"keyscale": "key:", "timesignature": "meter:", "bpm": "tempo:", "language": ""}


def _mine(fields: CaptionFields, prose: str) -> None:
    for name, miner in (("keyscale", find_keyscale), ("timesignature", find_timesignature),
                        ("bpm", find_bpm), ("genre", find_genre)):
        if getattr(fields, name) in ("", None):
            value = miner(prose)
            if value not in ("", None):
                setattr(fields, name, value)
                fields.found[name] = "prose"


# -------------------------------------------------------------------------------------- transcripts
_HEADER = re.compile(r"^\s*#+\s*(?P<name>languages?|lyrics?)\s*:?\s*$", re.IGNORECASE)
_NO_VOCALS = re.compile(r"^[\[(]?\s*(?:instrumental|inst|no\s+vocals?|no\s+lyrics|none|n/?a|music)\s*[\])]?\.?$",
                        re.IGNORECASE)
LOOP_REPEATS = 6  # one line this many times in a row is a loop (a chorus repeats a line 2 to 4 times)
BLOCK_REPEATS = 4  # the last 2 to 4 lines repeating as a block this many times is a loop
WORD_REPEATS = 12  # one word this many times in a row inside a line ("la la la ...") is a loop


def parse_transcript(text: str) -> Transcript:
    """Lyrics (section tags such as [Verse] kept) and language from a transcriber's answer
    (`# Languages\\n{code}\\n\\n# Lyrics\\n...`, or bare lyrics); no words means [Instrumental]."""
    cleaned = _SPECIAL.sub("", text or "").strip()
    language, lines, section = "", [], "lyrics"
    for line in cleaned.splitlines():
        header = _HEADER.match(line)
        if header:
            section = "language" if header["name"].lower().startswith("language") else "lyrics"
            continue
        if section == "language":
            if line.strip() and not language:
                language = _language(line)
            elif line.strip():
                section = "lyrics"
                lines.append(line.rstrip())
            continue
        lines.append(line.rstrip())
    lyrics = "\n".join(lines).strip()
    looped = looks_looped(lyrics)
    if looped:
        lyrics = cut_loop(lyrics)
    if not _has_words(lyrics):
        return Transcript(INSTRUMENTAL, language, True, looped)
    return Transcript(re.sub(r"\n{3,}", "\n\n", lyrics), language, False, looped)


def _language(line: str) -> str:
    try:
        code = parse_language(line.strip().strip(".,").split(",")[0].strip())
    except LabelError:
        return ""
    return "" if code == "unknown" else code


def _has_words(lyrics: str) -> bool:
    for line in lyrics.splitlines():
        stripped = line.strip()
        if not stripped or re.fullmatch(r"\[[^\]]*\]", stripped) or _NO_VOCALS.match(stripped):
            continue
        return True
    return False


def looks_looped(lyrics: str) -> bool:
    """True when the transcriber looped: a line LOOP_REPEATS times in a row, the last lines
    repeating as a block BLOCK_REPEATS times, or a word WORD_REPEATS times in a row."""
    lines = [line.strip().lower() for line in lyrics.splitlines() if line.strip()]
    run = 1
    for previous, line in zip(lines, lines[1:]):
        run = run + 1 if line == previous else 1
        if run >= LOOP_REPEATS:
            return True
    for size in range(2, 5):
        tail = lines[-size * BLOCK_REPEATS:]
        if len(tail) == size * BLOCK_REPEATS and all(tail[i] == tail[i % size] for i in range(len(tail))):
            return True
    return any(_WORD_LOOP.search(line) for line in lines)


_WORD_LOOP = re.compile(rf"\b(\w+)(?:[\s,]+\1\b){{{WORD_REPEATS - 1},}}")


def cut_loop(lyrics: str) -> str:
    """Lyrics with loops cut: a repeated line kept at most 4 times in a row, a word 8 times, and a
    block repeating at the end kept twice."""
    out: list[str] = []
    for line in lyrics.splitlines():
        line = _WORD_LOOP.sub(lambda m: " ".join([m.group(1)] * 8), line)
        if line.strip() and len(out) >= 4 and all(o.strip().lower() == line.strip().lower() for o in out[-4:]):
            continue
        out.append(line)
    for size in range(2, 5):
        _cut_tail_block(out, size)
    return "\n".join(out).strip()


def _cut_tail_block(lines: list[str], size: int) -> None:
    """Drop the last block of `size` lines while the three last blocks are the same (two stay)."""
    def block(i: int) -> list[str]:
        return [x.strip().lower() for x in lines[len(lines) - i * size:len(lines) - (i - 1) * size]]

    while len(lines) >= 3 * size and block(1) == block(2) == block(3):
        del lines[-size:]
