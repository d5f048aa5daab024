"""The 5 Hz LM's constrained decoding at the real vocabulary size, measured in one process (target in brackets):

1. processor step, masks cached / plain sampling step over the same logits               [<= 1.0]
2. first answer (masks built on the way) / a cached answer, absolute seconds printed     [report]

The table is synthetic but Qwen3-sized: 151,669 byte-level text tokens (single digits, words with
and without a leading space, a few thousand with newlines, as Qwen's BPE has) followed by the 64,000
audio-code tokens; no tokenizer download is needed. Sampling uses random logits, so the caption
runs to its 512-token limit: the worst case of the think block.

    .venv/bin/python bench/lm_constraint.py [--answers 3]
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TEXT_TOKENS = 151_669
CODE_TOKENS = 64_000


def synthetic_table():
    from daemon.caption.lm_decoding import TokenTable

    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    data: list[bytes | None] = [bytes([b]) for b in range(256)]
    seen = set(data)
    fixed = [b"<think>", b"</think>", b"\n\n", b"\n\n\n", b".\n", b",\n", b":\n", b" \n", b"\n ", b"\n  "]
    while len(data) < TEXT_TOKENS:
        kind = rng.random()
        word = "".join(rng.choice(letters) for _ in range(rng.randint(2, 9))).encode()
        if kind < 0.5:
            token = b" " + word
        elif kind < 0.98:
            token = word
        else:
            token = word + b"\n" if kind < 0.99 else b"\n" + word
        if token not in seen:
            seen.add(token)
            data.append(token)
    data[256:256 + len(fixed)] = fixed
    data += [None] * CODE_TOKENS + [None, None]  # code tokens, then <|im_end|> and <|endoftext|>
    return TokenTable(data, (len(data) - 2, len(data) - 1))


def answer(masks, width: int, generator: torch.Generator) -> tuple[int, float, float]:
    """(tokens, processor seconds, plain sampling seconds) of one random-logit answer."""
    from daemon.caption.lm_decoding import FieldConstraint

    processor = FieldConstraint(masks, prompt_length=0)
    ids: list[int] = []
    in_processor = in_sampling = 0.0
    while True:
        scores = torch.randn(1, width, generator=generator)
        started = time.perf_counter()
        masked = processor(torch.tensor([ids], dtype=torch.long), scores)
        middle = time.perf_counter()
        token = int(torch.multinomial(torch.softmax(masked[0], dim=-1), 1, generator=generator))
        in_processor += middle - started
        in_sampling += time.perf_counter() - middle
        ids.append(token)
        if token in masks.table.stop_ids:
            return len(ids), in_processor, in_sampling


def main() -> int:
    from daemon.caption.lm_decoding import MaskCache
    from daemon.caption.lm_grammar import understand_grammar

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    table = synthetic_table()
    print(f"token table of {len(table)} ids: {time.perf_counter() - started:.2f} s")
    masks = MaskCache(understand_grammar(), table)
    generator = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    tokens, processor_s, sampling_s = answer(masks, len(table), generator)
    first = time.perf_counter() - started
    print(f"first answer: {tokens} tokens in {first:.2f} s (masks built on the way: {len(masks._ids)} states)")
    totals = [0, 0.0, 0.0]
    for _ in range(args.answers):
        for i, value in enumerate(answer(masks, len(table), generator)):
            totals[i] += value
    step, plain = totals[1] / totals[0] * 1000, totals[2] / totals[0] * 1000
    print(f"cached answers: processor {step:.2f} ms / step, plain sampling {plain:.2f} ms / step")
    print(f"1. processor step / plain sampling step = {step / plain:.2f}  [<= 1.0]")
    print(f"2. first answer / cached answer = {first / (totals[1] + totals[2]) * args.answers:.1f}  [report]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
