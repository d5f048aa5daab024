"""The demo 5 Hz LM: a tiny real Qwen3ForCausalLM in the layout of `acestep-5Hz-lm-*`.

It stands in for ACE-Step's 5 Hz LM (a Qwen3 fine-tune) so auto-labelling runs on a CPU in tests
(ACESTEP_INTERFACE.md section 8): the demo text encoder's byte-level BPE with `<think>`,
`</think>` and the 64000 code tokens `<|audio_code_0|>`.. added after it (in the real tokenizer
they follow the same two tags, from id 151669), `<|im_end|>` as its end of turn, a model of a few
hundred thousand random parameters (tied embeddings, bf16 on disk) and a small
`genres_vocab.txt`. Its weights are random, so what it writes is noise inside the grammar.

The tokenizer is saved as `tokenizer.json` (compact) plus a short `tokenizer_config.json`:
`save_pretrained` would also list all 64000 added tokens in the config, doubling the size for
nothing `AutoTokenizer` needs.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)

LM_NAME = "acestep-5Hz-lm-demo"
LM_HIDDEN = 32
CODE_COUNT = 64_000
GENRES = ("pop", "rock", "electronic", "jazz", "folk", "ambient", "hip hop", "classical", "synthwave", "lo-fi")


def build_lm_tokenizer(base_folder: Path):
    """The text encoder's tokenizer in `base_folder` with the think tags and the code tokens added."""
    from tokenizers import AddedToken
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base_folder))
    tags = [AddedToken(text, special=False, normalized=False) for text in ("<think>", "</think>")]
    codes = [AddedToken(f"<|audio_code_{n}|>", special=False, normalized=False) for n in range(CODE_COUNT)]
    tokenizer.add_tokens(tags)
    tokenizer.add_tokens(codes)
    tokenizer.eos_token = "<|im_end|>"
    return tokenizer


def write_demo_lm(folder: Path, base_tokenizer: Path) -> None:
    """Write the tiny LM and its tokenizer to `folder` (weights seeded by the caller)."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tokenizer = build_lm_tokenizer(base_tokenizer)
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config = Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=LM_HIDDEN, intermediate_size=2 * LM_HIDDEN, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=LM_HIDDEN // 2, max_position_embeddings=4096,
        tie_word_embeddings=True, bos_token_id=None, eos_token_id=[im_end, pad], pad_token_id=pad,
    )
    config.architectures = ["Qwen3ForCausalLM"]
    model = Qwen3ForCausalLM(config).eval().to(torch.bfloat16)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.backend_tokenizer.save(str(folder / "tokenizer.json"), pretty=False)
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
        "model_max_length": 4096, "clean_up_tokenization_spaces": False,
    }, indent=2), encoding="utf-8")
    (folder / "genres_vocab.txt").write_text("\n".join(GENRES) + "\n", encoding="utf-8")
    log.info("demo 5 Hz LM written to %s (vocab %d, hidden %d)", folder, len(tokenizer), LM_HIDDEN)
