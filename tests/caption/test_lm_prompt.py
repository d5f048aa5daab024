"""The 5 Hz LM's understand prompt byte for byte, the code string, and cutting long songs to the context."""
from __future__ import annotations

import pytest

from daemon.caption.lm_prompt import code_budget, code_string, fit_codes, understand_prompt

# ACESTEP_INTERFACE.md section 8: Qwen3's ChatML with the system instruction, the codes as the user's
# message and the generation prompt; written out by hand so any drift shows.
EXPECTED = (
    "<|im_start|>system\n"
    "# Instruction\n"
    "Understand the given musical conditions and describe the audio semantics accordingly:\n"
    "\n"
    "<|im_end|>\n"
    "<|im_start|>user\n"
    "<|audio_code_0|><|audio_code_63999|><|audio_code_7|><|im_end|>\n"
    "<|im_start|>assistant\n"
)


def test_the_prompt_is_byte_for_byte_acesteps():
    prompt = understand_prompt(code_string([0, 63999, 7]))
    assert prompt.encode("utf-8") == EXPECTED.encode("utf-8")


def test_codes_are_decimal_without_padding_or_separator():
    assert code_string([5, 12, 151]) == "<|audio_code_5|><|audio_code_12|><|audio_code_151|>"
    assert code_string([]) == ""
    with pytest.raises(ValueError, match="64000"):
        code_string([64000])


def test_the_prompt_reads_as_the_demo_lms_own_tokens(demo_root):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(demo_root / "checkpoints" / "acestep-5Hz-lm-demo"))
    ids = tokenizer(understand_prompt(code_string([0, 63999, 7])), add_special_tokens=False).input_ids
    first = tokenizer.convert_tokens_to_ids("<|audio_code_0|>")
    assert ids.count(tokenizer.convert_tokens_to_ids("<|im_start|>")) == 3
    assert [first, first + 63999, first + 7] == [i for i in ids if i >= first]  # one token per code
    assert tokenizer.convert_tokens_to_ids("</think>") == first - 1  # as in the real LM (151668, 151669)
    assert tokenizer.decode(ids) == EXPECTED


def test_a_long_song_is_cut_to_the_context_and_says_so():
    ten_minutes = list(range(3000))  # 600 s at 5 codes per second
    fitted = fit_codes(ten_minutes, context=2048, new_tokens=672)
    assert len(fitted.codes) == code_budget(2048, 672) == 2048 - 64 - 672
    assert fitted.codes == ten_minutes[:len(fitted.codes)]  # the opening is kept
    assert fitted.cut and fitted.note() == "the LM heard the first 262 s of 600 s (its context holds no more)"
    whole = fit_codes(ten_minutes, context=4096, new_tokens=672)
    assert not whole.cut and whole.note() == "" and len(whole.codes) == 3000
    with pytest.raises(ValueError, match="no room"):
        fit_codes(ten_minutes, context=600, new_tokens=672)
