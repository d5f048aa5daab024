"""Read lyrics out of what transcribers write: ACE-Step's transcriber, Whisper, ElevenLabs, Gemini.

    result = parse_transcript("# Languages\nen\n\n# Lyrics\n[Verse]\nHello")
    result.language, result.lyrics, result.is_instrumental     # "en", "[Verse]\nHello", False

Section tags such as [Verse] are kept; an answer without words ("", "instrumental", only tags)
is `[Instrumental]`. A transcript that loops (greedy decoding repeating a phrase) is flagged so the
caller can ask again with a repetition penalty, and cut so what is kept reads as lyrics. Pure
functions, no torch; caption answers are read by `shared.caption_parse`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from shared.caption_parse import clean_model_text
from shared.labels import LabelError, parse_language
from shared.prompt import INSTRUMENTAL_LYRICS as INSTRUMENTAL


@dataclass
class Transcript:
    """A transcriber's answer: lyrics with section tags, or [Instrumental]."""

    lyrics: str = ""
    language: str = ""
    is_instrumental: bool = False
    looped: bool = False  # the model repeated itself; the caller may retry with a repetition penalty


_HEADER = re.compile(r"^\s*#+\s*(?P<name>languages?|lyrics?)\s*:?\s*$", re.IGNORECASE)
_NO_VOCALS = re.compile(r"^[\[(]?\s*(?:instrumental|inst|no\s+vocals?|no\s+lyrics|none|n/?a|music)\s*[\])]?\.?$",
                        re.IGNORECASE)
LOOP_REPEATS = 6  # one line this many times in a row is a loop (a chorus repeats a line 2 to 4 times)
BLOCK_REPEATS = 4  # the last 2 to 4 lines repeating as a block this many times is a loop
WORD_REPEATS = 12  # one word this many times in a row inside a line ("la la la ...") is a loop


def parse_transcript(text: str) -> Transcript:
    """Lyrics (section tags such as [Verse] kept) and language from a transcriber's answer
    (`# Languages\\n{code}\\n\\n# Lyrics\\n...`, or bare lyrics); no words means [Instrumental]."""
    cleaned = clean_model_text(text)
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
