"""The 5 Hz LM's answer format as a byte-level state machine (ACESTEP_INTERFACE.md section 8).

    grammar = understand_grammar(lyrics=True, language="ja", genres=("pop", "rock"))
    state = grammar.start()
    state = grammar.feed(state, b"<think>\\nbpm: 120\\n")     # None once a byte leaves the format
    grammar.accepts_end(state)                              # True where the answer may stop

The answer is `<think>`, then one `name: value` line per field in the order bpm (30-300), caption
(free text, indented continuation lines), duration (10-600), genres, keyscale (the 70 spellings),
language (ACE-Step's codes plus "unknown"), timesignature (2, 3, 4, 6), then `</think>`, then the
lyrics as free text (or nothing when lyrics are not wanted). A value may start with one space: the
field names are matched without it, as ACE-Step's own decoder does, because the model writes the
space inside the value's first token (" 120"), and forcing a lone space token would feed it a
tokenization it never saw.

Working on bytes keeps the machine independent of the tokenizer: a token is allowed when its
bytes keep the answer inside the format (lm_decoding turns this into logit masks). No torch here.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Union

from shared.labels import LANGUAGES, TIME_SIGNATURES

FIELD_ORDER = ("bpm", "caption", "duration", "genres", "keyscale", "language", "timesignature")
BPM_RANGE = (30, 300)
DURATION_RANGE = (10, 600)
KEY_NOTES = ("A", "B", "C", "D", "E", "F", "G")
KEY_ACCIDENTALS = ("", "#", "b", "♯", "♭")
KEY_MODES = ("major", "minor")
KEYSCALES = tuple(f"{note}{acc} {mode}" for note in KEY_NOTES for acc in KEY_ACCIDENTALS for mode in KEY_MODES)
CAPTION_MAX_TOKENS = 512
GENRES_MAX_TOKENS = 64
GENRES_MAX_ITEMS = 6
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
NEWLINE, SPACE, TAB = 0x0A, 0x20, 0x09
# Bytes free text may not hold inside the think block: a newline ends the line (caption lines go on
# only when indented), other control characters are noise, and "<" could spell "</think>" and cut
# the block short.
_NOT_IN_TEXT = frozenset({*range(0x20), 0x7F, ord("<")}) - {TAB}
_TEXT_BYTES = frozenset(range(256)) - _NOT_IN_TEXT


class Trie:
    """Byte strings as a tree of node ids: `children[node][byte] -> node`, `ends` the complete ones."""

    def __init__(self, values: Iterable[bytes]) -> None:
        self.children: list[dict[int, int]] = [{}]
        self.ends: set[int] = set()
        for value in values:
            node = 0
            for byte in value:
                nxt = self.children[node].get(byte)
                if nxt is None:
                    nxt = len(self.children)
                    self.children.append({})
                    self.children[node][byte] = nxt
                node = nxt
            self.ends.add(node)


@dataclass(frozen=True)
class Literal:
    """Fixed bytes (tags and field names). State: how many bytes are matched."""

    text: bytes


@dataclass(frozen=True)
class Choice:
    """One value of a closed list, then a newline. State: the trie node reached."""

    name: str
    values: tuple[str, ...]
    trie: Trie = field(compare=False, repr=False, hash=False)


@dataclass(frozen=True)
class ChoiceList:
    """Values of a closed list joined by ", " (at most `max_items`), then a newline.
    State: ("value", node, count) inside a value, ("sep", count) after a comma."""

    name: str
    values: tuple[str, ...]
    trie: Trie = field(compare=False, repr=False, hash=False)
    max_items: int = GENRES_MAX_ITEMS


@dataclass(frozen=True)
class Text:
    """Free text of one field, ended by a newline that is not followed by indentation.

    `continues`: indented lines continue the value (the caption). State: 0 nothing written yet
    (spaces only), 1 inside a line, 2 just after a newline, 3 inside an indentation."""

    name: str
    max_tokens: int
    continues: bool


@dataclass(frozen=True)
class Lyrics:
    """Free text after </think>, up to the end of the answer."""


@dataclass(frozen=True)
class End:
    """Nothing more may be written: the answer stops here."""


Item = Union[Literal, Choice, ChoiceList, Text, Lyrics, End]
State = tuple  # (item index, item state)


@dataclass(frozen=True)
class Grammar:
    """The items of one answer in order; `step` and `feed` walk them byte by byte."""

    items: tuple[Item, ...]

    def start(self) -> State:
        return (0, _initial(self.items[0]))

    def item(self, state: State) -> Item:
        return self.items[state[0]]

    def feed(self, state: State | None, data: bytes, limited: bool = False) -> State | None:
        """The state after `data`, or None when a byte leaves the format."""
        for byte in data:
            if state is None:
                return None
            start_index = state[0]
            state = self.step(state, byte, limited)
            if state is not None and state[0] != start_index:
                limited = False  # a limit belongs to the field it was counted in
        return state

    def step(self, state: State, byte: int, limited: bool = False) -> State | None:
        """One byte. `limited`: the current text field used its tokens, so it must end now."""
        index, sub = state
        item = self.items[index]
        if isinstance(item, Literal):
            if byte != item.text[sub]:
                return None
            return self._advance(index) if sub + 1 == len(item.text) else (index, sub + 1)
        if isinstance(item, Choice):
            if byte == NEWLINE:
                return self._advance(index) if sub in item.trie.ends else None
            node = item.trie.children[sub].get(byte)
            return None if node is None else (index, node)
        if isinstance(item, ChoiceList):
            return self._list_step(index, item, sub, byte)
        if isinstance(item, Text):
            return self._text_step(index, item, sub, byte, limited)
        if isinstance(item, Lyrics):
            return state
        return None  # End

    def accepts_end(self, state: State | None) -> bool:
        """True where the answer may stop (end of sequence)."""
        return state is not None and isinstance(self.items[state[0]], (Lyrics, End))

    def _advance(self, index: int) -> State:
        return (index + 1, _initial(self.items[index + 1]))

    def _list_step(self, index: int, item: ChoiceList, sub: tuple, byte: int) -> State | None:
        if sub[0] == "sep":
            return (index, ("value", 0, sub[1])) if byte == SPACE else None
        _, node, count = sub
        if node in item.trie.ends:
            if byte == NEWLINE:
                return self._advance(index)
            if byte == ord(",") and count + 1 < item.max_items:
                return (index, ("sep", count + 1))
        nxt = item.trie.children[node].get(byte)
        if nxt is None or (node == 0 and count > 0 and byte == SPACE):
            return None  # one space after a comma, never two
        return (index, ("value", nxt, count))

    def _text_step(self, index: int, item: Text, sub: int, byte: int, limited: bool) -> State | None:
        if sub == 2:  # after a newline: indentation continues the value, anything else is the next field
            if item.continues and not limited and byte in (SPACE, TAB):
                return (index, 3)
            return self.step(self._advance(index), byte)
        if byte == NEWLINE:  # a line needs words, unless the field's tokens ran out
            return (index, 2) if sub == 1 or limited else None
        if limited or byte not in _TEXT_BYTES:
            return None
        if sub == 0:
            return (index, 0) if byte in (SPACE, TAB) else (index, 1)
        return (index, 1) if sub == 3 and byte not in (SPACE, TAB) else (index, sub)


def _initial(item: Item) -> object:
    if isinstance(item, ChoiceList):
        return ("value", 0, 0)
    return 0


def choice(name: str, values: Iterable[str]) -> Choice:
    """A closed-list field; each value may come with one leading space."""
    values = tuple(dict.fromkeys(values))
    encoded = [v.encode("utf-8") for v in values]
    return Choice(name, values, Trie(encoded + [b" " + v for v in encoded]))


def choice_list(name: str, values: Iterable[str], max_items: int = GENRES_MAX_ITEMS) -> ChoiceList:
    """A comma-separated list of closed-list values; the first may come with one leading space."""
    values = tuple(dict.fromkeys(v.strip() for v in values if v.strip() and "," not in v and "\n" not in v))
    encoded = [v.encode("utf-8") for v in values]
    return ChoiceList(name, values, Trie(encoded + [b" " + v for v in encoded]), max_items)


def numbers(low: int, high: int) -> tuple[str, ...]:
    return tuple(str(n) for n in range(low, high + 1))


def understand_grammar(lyrics: bool = False, language: str | None = None,
                       genres: Iterable[str] | None = None) -> Grammar:
    """The understand answer's format. `lyrics`: free text after </think> (else the answer ends
    there); `language`: the only language allowed (a dataset-wide override); `genres`: the genre
    vocabulary (a free line of text when None or empty)."""
    vocabulary = tuple(genres or ())
    values: dict[str, Item] = {
        "bpm": choice("bpm", numbers(*BPM_RANGE)),
        "caption": Text("caption", CAPTION_MAX_TOKENS, continues=True),
        "duration": choice("duration", numbers(*DURATION_RANGE)),
        "genres": choice_list("genres", vocabulary) if vocabulary else Text("genres", GENRES_MAX_TOKENS, False),
        "keyscale": choice("keyscale", KEYSCALES),
        "language": choice("language", (language,) if language else LANGUAGES),
        "timesignature": choice("timesignature", TIME_SIGNATURES),
    }
    items: list[Item] = []
    for position, name in enumerate(FIELD_ORDER):
        opening = (THINK_OPEN + "\n") if position == 0 else ""
        items += [Literal(f"{opening}{name}:".encode()), values[name]]
    items.append(Literal(THINK_CLOSE.encode()))
    items.append(Lyrics() if lyrics else End())
    return Grammar(tuple(items))
