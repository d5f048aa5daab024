"""Lyrics lines from word timings: speech-to-text services give words with times, not verses.

    words_to_lyrics([("Hold", 0.0, 0.3), ("on", 0.35, 0.6), ("Tonight", 2.1, 2.6)])   # "Hold on\nTonight"

A pause of LINE_GAP_S starts a new line, a pause of PARAGRAPH_GAP_S a new verse (a blank line), a
line never runs over MAX_WORDS, and a sentence end followed by a short pause also ends a line.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

LINE_GAP_S = 0.6
PARAGRAPH_GAP_S = 2.5
SENTENCE_GAP_S = 0.25
MAX_WORDS = 12


def words_to_lyrics(words: Iterable[tuple[str, float, float]]) -> str:
    """Lines and verses from (text, start, end) words; empty words are skipped."""
    lines: list[str] = []
    current: list[str] = []
    previous_end: float | None = None
    for text, start, end in words:
        text = text.strip()
        if not text:
            continue
        if current and previous_end is not None:
            gap = start - previous_end
            sentence_end = bool(re.search(r"[.!?…]$", current[-1]))
            if gap >= PARAGRAPH_GAP_S:
                lines += [" ".join(current), ""]
                current = []
            elif gap >= LINE_GAP_S or len(current) >= MAX_WORDS or (sentence_end and gap >= SENTENCE_GAP_S):
                lines.append(" ".join(current))
                current = []
        current.append(text)
        previous_end = end
    if current:
        lines.append(" ".join(current))
    return "\n".join(lines).strip()


def text_to_lyrics(text: str) -> str:
    """Lines from plain text without timings: one sentence a line."""
    sentences = re.split(r"(?<=[.!?…])\s+", text.strip())
    return "\n".join(s.strip() for s in sentences if s.strip())
