"""Read the 5 Hz LM's understand answer into the dataset's fields (ACESTEP_INTERFACE.md section 8).

    found = parse_understanding("<think>\\nbpm: 120\\ncaption: A calm piano piece\\n  with strings\\n"
                                "keyscale: F♯ minor\\nlanguage: en\\n</think>\\n# Lyric\\n[verse]\\nla la")
    found.bpm, found.caption, found.keyscale, found.language, found.lyrics
    # 120, "A calm piano piece with strings", "F# minor", "en", "[verse]\\nla la"
    found.labels()   # {"bpm": 120, "caption": ..., "keyscale": ..., "language": "en"}: Sample names

The fields are the block between `<think>` and `</think>`: a line `key: value` that is not indented
starts a field, indented lines continue it (a caption's lines are joined with spaces). Values go
through the dataset's own parsers (shared.labels), so "F♯ minor" is stored as "F# minor"; a value
they refuse is left out and named in `problems`. The language is read from `language` (ACE-Step's
own labeller reads `vocal_language`, finds nothing and stores "unknown" for every song; that key is
only a fallback here). Lyrics are what follows `</think>`, without a leading `# Lyric(s)` header and
the end-of-turn token. No torch here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from shared.labels import LabelError, parse_bpm, parse_keyscale, parse_language, parse_timesignature

INSTRUMENTAL = "[Instrumental]"
_END_TOKENS = re.compile(r"(?:<\|im_end\|>|<\|endoftext\|>)+\s*$")
_LYRICS_HEADER = re.compile(r"^\s*#\s*lyrics?\s*:?[ \t]*\n?", re.IGNORECASE)
_FIELD = re.compile(r"^([A-Za-z_]+)\s*:(.*)$")


@dataclass
class Understanding:
    """What one answer says; empty values mean "not said" (or refused, see `problems`)."""

    bpm: int | None = None
    caption: str = ""
    duration: int | None = None
    genres: str = ""
    keyscale: str = ""
    language: str = ""
    timesignature: str = ""
    lyrics: str = ""
    complete: bool = False  # the think block was closed (an answer cut by the token limit is not)
    problems: list[str] = field(default_factory=list)

    @property
    def instrumental(self) -> bool:
        """The lyrics say there are no vocals."""
        return self.lyrics.strip().lower() == INSTRUMENTAL.lower()

    def labels(self, lyrics: bool = False) -> dict:
        """The dataset fields (Sample names: `genre`, not `genres`) this answer gives; the lyrics
        only when asked for (the LM invents lyrics it cannot hear)."""
        out: dict = {"caption": self.caption, "genre": self.genres, "bpm": self.bpm, "keyscale": self.keyscale,
                     "timesignature": self.timesignature, "language": self.language}
        if lyrics and self.lyrics:
            out["is_instrumental"] = self.instrumental
            out["lyrics"] = "" if self.instrumental else self.lyrics
        return {name: value for name, value in out.items() if value not in ("", None)}


def parse_understanding(text: str) -> Understanding:
    """The fields and lyrics of one answer (see the module docstring)."""
    found = Understanding()
    head, closed, tail = text.partition("</think>")
    found.complete = bool(closed)
    block = head.split("<think>", 1)[1] if "<think>" in head else head
    for name, value in _fields(block).items():
        _store(found, name, value)
    if closed:
        found.lyrics = _lyrics(tail)
    return found


def _fields(block: str) -> dict[str, str]:
    """key -> value, continuation lines joined with single spaces; the first of a repeated key wins."""
    fields: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in block.splitlines():
        if not line.strip():
            continue
        match = _FIELD.match(line)
        if match and not line[0].isspace():
            name = match.group(1).lower()
            current = [] if name in fields else fields.setdefault(name, [])
            current.append(match.group(2).strip())
        elif current is not None:
            current.append(line.strip())
    return {name: " ".join(part for part in parts if part) for name, parts in fields.items()}


def _store(found: Understanding, name: str, value: str) -> None:
    if not value or value.lower() in ("n/a", "none", "null"):
        return
    try:
        if name == "bpm":
            found.bpm = parse_bpm(value)
        elif name == "duration":
            found.duration = int(float(value.split()[0]) + 0.5)
        elif name == "caption":
            found.caption = value
        elif name in ("genres", "genre"):
            found.genres = found.genres or value
        elif name == "keyscale":
            found.keyscale = parse_keyscale(value)
        elif name == "timesignature":
            found.timesignature = parse_timesignature(value)
        elif name == "language" or (name == "vocal_language" and not found.language):
            found.language = parse_language(value)
    except (LabelError, ValueError) as err:
        found.problems.append(f"{name}: {err}")


def _lyrics(tail: str) -> str:
    text = _END_TOKENS.sub("", tail).strip("\n")
    text = _LYRICS_HEADER.sub("", text, count=1)
    return text.strip()
