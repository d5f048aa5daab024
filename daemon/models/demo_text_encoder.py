"""The demo text encoder: a tiny real Qwen3Model with a byte-level BPE tokenizer built locally.

It stands in for `Qwen3-Embedding-0.6B/` (hidden size 1024 in the real model; `DEMO_TEXT_HIDDEN`
here, which the demo DiT's `text_hidden_dim` must equal). The tokenizer is trained with the
`tokenizers` library on a small built-in corpus, so nothing is downloaded, and is saved as a
`PreTrainedTokenizerFast` that `AutoTokenizer` loads, with `<|endoftext|>` as in Qwen3.
"""
from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

DEMO_TEXT_HIDDEN = 64
DEMO_VOCAB_SIZE = 1024
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

_CORPUS = """
# Instruction
Fill the audio semantic mask based on the given conditions:
# Caption
# Metas
- bpm: N/A
- timesignature: N/A
- keyscale: N/A
- duration: 30 seconds
# Languages
en
# Lyric
[Instrumental]
[verse] [chorus] [bridge] [intro] [outro]
Understand the given musical conditions and describe the audio semantics accordingly:
upbeat electronic dance track with punchy drums, warm analog synth bass and a bright lead melody
calm acoustic guitar ballad with soft female vocals, gentle piano and light strings
dark cinematic ambient drone, slow evolving pads, distant percussion and deep sub bass
energetic rock song with distorted electric guitars, driving bass, loud drums and male vocals
lofi hip hop beat, dusty vinyl crackle, mellow rhodes chords, relaxed boom bap groove
jazz trio with upright bass, brushed snare, swinging ride cymbal and improvised piano solo
orchestral film score, soaring brass, sweeping violins, timpani rolls and a choir
funk groove with slap bass, tight horns, wah guitar and a syncopated drum break
techno, house, trance, dubstep, drum and bass, ambient, classical, pop, rock, metal, folk, blues
country, reggae, soul, disco, gospel, latin, afrobeat, k-pop, j-pop, chiptune, synthwave, trap
C major, A minor, G major, E minor, D major, B minor, F major, D minor, Bb major, Eb major
4/4, 3/4, 6/8, 2/4, 120 bpm, 90 bpm, 140 bpm, 174 bpm, 70 bpm
I walk along the river where the city lights are low
and every song I ever sang comes back to let me know
we are dancing in the night, hold on, hold on, never let go
la la la, oh oh oh, yeah yeah, hey hey
the quick brown fox jumps over the lazy dog 0123456789
"""


def build_tokenizer(vocab_size: int = DEMO_VOCAB_SIZE):
    """Train a byte-level BPE on the built-in corpus; deterministic for a given corpus and size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    lines = [line for line in _CORPUS.splitlines() if line.strip()]
    tokenizer.train_from_iterator(lines * 4, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:], model_max_length=32768,
    )


def write_text_encoder(folder: Path, hidden_size: int = DEMO_TEXT_HIDDEN) -> None:
    """Write a tiny Qwen3Model and its tokenizer to `folder` (weights seeded by the caller)."""
    from transformers import Qwen3Config, Qwen3Model

    tokenizer = build_tokenizer()
    config = Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        head_dim=hidden_size // 4, max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None, tie_word_embeddings=False,
    )
    model = Qwen3Model(config).eval()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    log.info("demo text encoder written to %s (vocab %d, hidden %d)", folder, len(tokenizer), hidden_size)
