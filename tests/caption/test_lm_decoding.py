"""Constrained decoding never lets the LM out of the grammar: a property test with random logits over the
demo LM's real tokenizer (byte-level BPE with multi-digit and multi-line tokens, 64000 code tokens)."""
from __future__ import annotations

import pytest
import torch

from daemon.caption.lm_decoding import FieldConstraint, MaskCache, TokenTable
from daemon.caption.lm_grammar import DURATION_RANGE, KEYSCALES, understand_grammar
from daemon.caption.lm_parse import parse_understanding
from daemon.models.demo_lm import GENRES
from shared.labels import LANGUAGES, TIME_SIGNATURES, parse_keyscale

LYRICS_TOKENS = 12


@pytest.fixture(autouse=True)
def one_thread():
    """Hundreds of small steps over a 65k vocabulary: on a shared CPU one intra-op thread is many times
    faster than two waking each other (the property holds either way)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tokenizer(demo_root):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(demo_root / "checkpoints" / "acestep-5Hz-lm-demo"))


@pytest.fixture(scope="module")
def table(tokenizer) -> TokenTable:
    return TokenTable.from_tokenizer(tokenizer)


def sample_answer(masks: MaskCache, generator: torch.Generator, push: torch.Tensor | None, width: int) -> list[int]:
    """Random logits through the processor, sampled, until an end token."""
    processor = FieldConstraint(masks, prompt_length=0)
    ids: list[int] = []
    for _ in range(2000):
        scores = torch.randn(1, width, generator=generator) * 4
        if push is not None:
            scores[0, push] += 40.0  # the "model" wants code tokens and end tokens above all
        scores = processor(torch.tensor([ids], dtype=torch.long), scores)[0]
        allowed = torch.nonzero(torch.isfinite(scores)).flatten()
        assert allowed.numel(), f"no token allowed after {ids[-8:]}"
        # sampled among the allowed only: what sampling over all would pick, without 65k-way multinomials
        token = int(allowed[torch.multinomial(torch.softmax(scores[allowed], dim=-1), 1, generator=generator)])
        ids.append(token)
        if token in masks.table.stop_ids:
            return ids
    raise AssertionError("the answer never ended")


def lyrics_tokens(grammar, table: TokenTable, ids: list[int]) -> int:
    """How many of `ids` were written after </think> (whatever tokens spelled the tag)."""
    state, count = grammar.start(), 0
    for token in ids:
        count += grammar.accepts_end(state)
        state = grammar.feed(state, table.data[token])
    return count


RUNS = [  # (seed, lyrics, language, genres, push the banned tokens)
    (0, False, None, GENRES, False), (1, True, None, None, False), (2, True, "ja", GENRES, True),
    (3, False, None, None, True), (4, False, "de", GENRES, False), (5, True, None, GENRES, True),
]


@pytest.mark.parametrize("seed, lyrics, language, genres, push", RUNS)
def test_random_logits_never_leave_the_grammar(table, tokenizer, seed, lyrics, language, genres, push):
    grammar = understand_grammar(lyrics=lyrics, language=language, genres=genres, caption_tokens=10,
                                 lyrics_tokens=LYRICS_TOKENS)
    masks = MaskCache(grammar, table)
    first_code = tokenizer.convert_tokens_to_ids("<|audio_code_0|>")
    width = len(table) + 40  # the model's vocabulary is often padded beyond the tokenizer's
    banned = torch.tensor([*range(first_code, first_code + 64000), *table.stop_ids, *range(len(table), width)])
    generator = torch.Generator().manual_seed(seed)
    for _ in range(3):
        ids = sample_answer(masks, generator, banned if push else None, width)
        assert ids[-1] in table.stop_ids  # every answer ends, lyrics within their tokens
        body = ids[:-1]
        assert all(table.data[t] is not None for t in body), "a special or code token was emitted"
        text = b"".join(table.data[t] for t in body)
        state = grammar.feed(grammar.start(), text)
        assert state is not None and grammar.accepts_end(state), text
        found = parse_understanding(text.decode("utf-8", "replace"))
        assert found.complete and not found.problems, (text, found.problems)
        assert 30 <= found.bpm <= 300 and DURATION_RANGE[0] <= found.duration <= DURATION_RANGE[1]
        assert parse_keyscale(text.split(b"keyscale:")[1].split(b"\n")[0].decode().strip()) == found.keyscale
        assert text.split(b"keyscale:")[1].split(b"\n")[0].decode().strip() in KEYSCALES
        assert found.language == language if language else found.language in LANGUAGES
        assert found.timesignature in TIME_SIGNATURES and found.caption
        if genres:
            assert set(found.genres.split(", ")) <= set(genres)
        if not lyrics:
            assert text.endswith(b"</think>")
        else:
            assert lyrics_tokens(grammar, table, body) <= LYRICS_TOKENS


def test_the_processor_masks_each_row_of_a_batch_on_its_own(table):
    grammar = understand_grammar(caption_tokens=10)
    processor = FieldConstraint(MaskCache(grammar, table), prompt_length=2)
    prompt = [5, 6]
    think, close_think = table.data.index(b"<think>"), table.data.index(b"</think>")
    rows = torch.tensor([prompt + [think], prompt + [close_think]])  # only row 0 starts as the grammar says
    scores = processor(rows, torch.zeros(2, len(table)))
    assert torch.isfinite(scores[0]).any()  # row 0 is inside the grammar and goes on
    assert set(torch.nonzero(torch.isfinite(scores[1])).flatten().tolist()) == set(table.stop_ids)  # row 1 left it
