"""Constrained decoding of the 5 Hz LM: a transformers LogitsProcessor that keeps its answer inside
the field grammar (lm_grammar), so every value it writes is one the dataset takes.

    table = TokenTable.from_tokenizer(tokenizer)                  # once per loaded LM
    processor = FieldConstraint(grammar, table, prompt_length)    # once per generate call
    model.generate(ids, logits_processor=LogitsProcessorList([processor]), ...)

Each token is known by its bytes (byte-level BPE tokens through GPT-2's byte alphabet; added tokens
by their text). At every step the processor feeds the row's new tokens to the grammar and keeps
only the tokens whose bytes stay inside it; everything else gets -inf. Audio-code tokens and every
special token other than the ends of the answer are never allowed. The allowed ids depend only on
the grammar state, so they are computed once per state and kept (`MaskCache`, held with the LM).
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import LogitsProcessor

from daemon.caption.lm_grammar import THINK_CLOSE, THINK_OPEN, Grammar, State, Text

log = logging.getLogger(__name__)

STOP_TOKENS = ("<|im_end|>", "<|endoftext|>")
TEXT_ADDED_TOKENS = (THINK_OPEN, THINK_CLOSE)  # added tokens that are part of the answer's text
LOOP_FAST_PATH = 128  # states that loop on this many bytes (free text) take whole tokens by bitmask


@dataclass
class TokenTable:
    """What the grammar needs of a tokenizer: each id's bytes (None: never text) and the stop ids."""

    data: list[bytes | None]
    stop_ids: tuple[int, ...]
    _by_first: dict[int, list[int]] = field(default_factory=dict, repr=False)
    _bits: list[int] = field(default_factory=list, repr=False)
    _subset: dict[frozenset, tuple[torch.Tensor, list[int]]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        by_first: dict[int, list[int]] = defaultdict(list)
        for token_id, data in enumerate(self.data):
            bits = 0
            if data:
                by_first[data[0]].append(token_id)
                for byte in set(data):
                    bits |= 1 << byte
            self._bits.append(bits)
        self._by_first = dict(by_first)

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> "TokenTable":
        size = len(tokenizer)
        added = {token_id: text for text, token_id in tokenizer.get_added_vocab().items()}
        pieces = tokenizer.convert_ids_to_tokens(list(range(size)))
        decoder = _byte_decoder()
        data: list[bytes | None] = []
        for token_id, piece in enumerate(pieces):
            if token_id in added:
                text = added[token_id]
                data.append(text.encode("utf-8") if text in TEXT_ADDED_TOKENS else None)
            elif piece is None:
                data.append(None)
            elif all(char in decoder for char in piece):
                data.append(bytes(decoder[char] for char in piece))
            else:  # not byte-level BPE: the token's own decoded text
                data.append(tokenizer.decode([token_id]).encode("utf-8") or None)
        stops = tuple(tokenizer.convert_tokens_to_ids(name) for name in STOP_TOKENS if name in tokenizer.get_vocab())
        return cls(data, stops)

    def __len__(self) -> int:
        return len(self.data)

    def starting_with(self, first_bytes: set[int]) -> list[int]:
        return [token_id for byte in first_bytes for token_id in self._by_first.get(byte, ())]

    def split_by(self, loop: frozenset) -> tuple[torch.Tensor, list[int]]:
        """(ids whose bytes all lie in `loop`, the other text ids), cached per byte set."""
        if loop not in self._subset:
            outside = ~sum(1 << byte for byte in loop)
            inside, rest = [], []
            for token_id, bits in enumerate(self._bits):
                if bits:
                    (rest if bits & outside else inside).append(token_id)
            self._subset[loop] = (torch.tensor(inside, dtype=torch.long), rest)
        return self._subset[loop]


class MaskCache:
    """The allowed ids of each (grammar state, limited) of one grammar; reused across answers."""

    def __init__(self, grammar: Grammar, table: TokenTable) -> None:
        self.grammar, self.table = grammar, table
        self._ids: dict[tuple, torch.Tensor] = {}

    def allowed(self, state: State | None, limited: bool) -> torch.Tensor:
        key = (state, limited)
        if key not in self._ids:
            self._ids[key] = self._compute(state, limited)
        return self._ids[key]

    def _compute(self, state: State | None, limited: bool) -> torch.Tensor:
        grammar, table = self.grammar, self.table
        stops = list(table.stop_ids) if grammar.accepts_end(state) or state is None else []
        if state is None:
            return torch.tensor(stops, dtype=torch.long)
        steps = {byte: grammar.step(state, byte, limited) for byte in range(256)}
        firsts = {byte for byte, nxt in steps.items() if nxt is not None}
        loop = frozenset(byte for byte, nxt in steps.items() if nxt == state)
        parts = [torch.tensor(stops, dtype=torch.long)]
        if len(loop) >= LOOP_FAST_PATH:
            inside, rest = table.split_by(loop)
            parts.append(inside)
            candidates = [t for t in rest if table.data[t][0] in firsts]
        else:
            candidates = table.starting_with(firsts)
        parts.append(torch.tensor([t for t in candidates if grammar.feed(state, table.data[t], limited) is not None],
                                  dtype=torch.long))
        ids = torch.unique(torch.cat(parts))
        if ids.numel() == 0:  # a dead end (a field ran out of tokens mid-value): stop the answer
            log.warning("the LM's grammar has no way on from %s; the answer ends here", state)
            ids = torch.tensor(list(table.stop_ids), dtype=torch.long)
        return ids


@dataclass
class _Row:
    """Where one generated sequence stands in the grammar."""

    state: State | None
    consumed: int = 0
    tokens_in_field: int = 0
    finished: bool = False


class FieldConstraint(LogitsProcessor):
    """Masks every token that would leave the grammar (see the module docstring)."""

    def __init__(self, masks: MaskCache, prompt_length: int) -> None:
        self.masks = masks
        self.grammar = masks.grammar
        self.prompt_length = prompt_length
        self._rows: dict[int, _Row] = {}
        self._device_ids: dict[tuple, torch.Tensor] = {}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        out = torch.full_like(scores, float("-inf"))
        for row in range(input_ids.shape[0]):
            track = self._rows.setdefault(row, _Row(self.grammar.start()))
            new = input_ids[row, self.prompt_length + track.consumed:].tolist()
            for token_id in new:
                self._feed(track, token_id)
            track.consumed += len(new)
            ids = self._ids_on(scores.device, track)
            out[row, ids] = scores[row, ids]
        return out

    def state_of(self, row: int = 0) -> State | None:
        """The grammar state row `row` reached (tests and the caller's summary read it)."""
        return self._rows[row].state if row in self._rows else self.grammar.start()

    def _feed(self, track: _Row, token_id: int) -> None:
        table = self.masks.table
        if track.finished or track.state is None:
            return
        data = table.data[token_id] if token_id < len(table) else None
        if data is None:
            track.finished = token_id in table.stop_ids
            if not track.finished:
                track.state = None
            return
        before = track.state[0]
        track.state = self.grammar.feed(track.state, data, self._limited(track))
        same_field = track.state is not None and track.state[0] == before
        track.tokens_in_field = track.tokens_in_field + 1 if same_field else 0

    def _limited(self, track: _Row) -> bool:
        item = self.grammar.item(track.state) if track.state is not None else None
        return isinstance(item, Text) and track.tokens_in_field >= item.max_tokens

    def _ids_on(self, device: torch.device, track: _Row) -> torch.Tensor:
        state = None if track.finished else track.state
        limited = state is not None and self._limited(track)
        key = (state, limited, str(device))
        if key not in self._device_ids:
            self._device_ids[key] = self.masks.allowed(state, limited).to(device)
        return self._device_ids[key]


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte alphabet reversed: the character a byte-level BPE token uses -> the byte."""
    from transformers.models.gpt2.tokenization_gpt2 import bytes_to_unicode

    return {char: byte for byte, char in bytes_to_unicode().items()}
