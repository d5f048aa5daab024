"""The 5 Hz LM's field grammar: what it accepts and refuses, byte by byte."""
from __future__ import annotations

import pytest

from daemon.caption.lm_grammar import KEYSCALES, Lyrics, understand_grammar

VALID = (
    "<think>\nbpm: 124\ncaption: Bright synth-pop with a punchy kick\n  and a breathy vocal.\n"
    "duration: 215\ngenres: synth pop\nkeyscale: F♯ minor\nlanguage: en\ntimesignature: 4\n</think>"
)


GENRES = ("synth pop", "pop", "rock")


def fed(text: str, **options):
    grammar = understand_grammar(**{"genres": GENRES, **options})
    return grammar, grammar.feed(grammar.start(), text.encode("utf-8"))


def test_a_whole_answer_is_accepted_and_may_end_after_think():
    grammar, state = fed(VALID)
    assert state is not None and grammar.accepts_end(state)
    grammar, state = fed(VALID + "\n# Lyric\n[verse]\nla la", lyrics=True)
    assert grammar.accepts_end(state) and isinstance(grammar.item(state), Lyrics)
    assert fed(VALID + "\n", lyrics=False)[1] is None  # nothing may follow </think> when lyrics are not wanted


def test_values_need_no_space_after_the_colon():
    grammar, state = fed(VALID.replace(": ", ":").replace("\n  and", "\n and"))
    assert state is not None and grammar.accepts_end(state)


@pytest.mark.parametrize("part, replacement", [
    ("bpm: 124", "bpm: 301"), ("bpm: 124", "bpm: 29"), ("bpm: 124", "bpm:  124"), ("bpm: 124", "bpm: 12a"),
    ("duration: 215", "duration: 601"), ("keyscale: F♯ minor", "keyscale: H minor"),
    ("keyscale: F♯ minor", "keyscale: F# Minor"), ("language: en", "language: xx"),
    ("language: en", "language: english"), ("timesignature: 4", "timesignature: 5"),
    ("timesignature: 4", "timesignature: 4/4"),
    ("caption: Bright", "caption: <Bright"),  # "<" could spell </think> inside the block
    ("\n  and a breathy", "\nand a breathy"),  # a continuation line must be indented
    ("caption: Bright synth-pop with a punchy kick\n  and a breathy vocal.\n", "caption:\n"),  # no empty caption
    ("bpm: 124\ncaption", "caption: x\nbpm: 124\ncaption"),  # fields in their order
])
def test_out_of_grammar_values_are_refused(part, replacement):
    assert fed(VALID.replace(part, replacement))[1] is None


def test_all_seventy_keys_and_only_those():
    grammar = understand_grammar(genres=GENRES)
    prefix = VALID.split("keyscale:")[0] + "keyscale: "
    for key in KEYSCALES:
        assert grammar.feed(grammar.start(), f"{prefix}{key}\n".encode()) is not None, key
    assert len(KEYSCALES) == 70


def test_a_language_override_is_the_only_language_allowed():
    assert fed(VALID.replace("language: en", "language: ja"), language="ja")[1] is not None
    assert fed(VALID, language="ja")[1] is None
    assert fed(VALID.replace("language: en", "language: unknown"), language="ja")[1] is None


def test_genres_from_a_vocabulary_are_a_comma_list():
    vocabulary = ("synth pop", "pop", "rock")
    assert fed(VALID, genres=vocabulary)[1] is not None
    assert fed(VALID.replace("synth pop", "pop, rock"), genres=vocabulary)[1] is not None
    for wrong in ("polka", "pop,rock", "pop,  rock", "pop, "):
        assert fed(VALID.replace("synth pop\n", wrong + "\n"), genres=vocabulary)[1] is None, wrong
    assert fed(VALID, genres=None)[1] is None  # no vocabulary: no genres field (ACE-Step's default)
    assert fed(VALID.replace("genres: synth pop\n", ""), genres=None)[1] is not None


def test_a_caption_that_used_its_tokens_must_end_now():
    grammar = understand_grammar()
    state = grammar.feed(grammar.start(), b"<think>\nbpm: 90\ncaption: calm")
    assert grammar.step(state, ord(" "), limited=True) is None
    after_newline = grammar.step(state, ord("\n"), limited=True)
    assert grammar.step(after_newline, ord(" "), limited=True) is None  # no continuation line either
    assert grammar.feed(after_newline, b"duration: 30\n") is not None


def test_lyrics_that_used_their_tokens_must_end():
    grammar, state = fed(VALID + "\nla la", lyrics=True, lyrics_tokens=4)
    assert grammar.step(state, ord("a")) is not None and grammar.step(state, ord("a"), limited=True) is None
    assert grammar.accepts_end(state)
