"""The 5 Hz LM's understand prompt and the audio-code string it reads (ACESTEP_INTERFACE.md section 8).

    text = code_string([12, 63999])            # "<|audio_code_12|><|audio_code_63999|>"
    prompt = understand_prompt(text)           # ChatML: system instruction, codes, assistant turn
    fit = fit_codes(codes, context=4096, new_tokens=640)   # codes cut to what the context holds

The prompt is written out here byte for byte rather than through the tokenizer's chat template:
it is what Qwen3's template makes of these two messages with the generation prompt added (no
thinking switch, no tools), and a tokenizer without that template (or with another one) must not
change what the model reads. No torch here.
"""
from __future__ import annotations

from dataclasses import dataclass

CODES_PER_SECOND = 5
CODE_COUNT = 64_000  # residual FSQ levels 8*8*8*5*5*5
INSTRUCTION = "Understand the given musical conditions and describe the audio semantics accordingly:"
SYSTEM_MESSAGE = f"# Instruction\n{INSTRUCTION}\n\n"
# What the prompt costs besides one token per code: the ChatML markers and the instruction. Real
# tokenizers spend ~25 tokens on it; the margin keeps a tokenizer that splits words finer in bounds.
PROMPT_OVERHEAD_TOKENS = 64


def code_token(code: int) -> str:
    """The added token of one 5 Hz code: `<|audio_code_N|>`, N in decimal without padding."""
    if not 0 <= code < CODE_COUNT:
        raise ValueError(f"audio code {code} is outside 0..{CODE_COUNT - 1}")
    return f"<|audio_code_{code}|>"


def code_string(codes: list[int]) -> str:
    """The codes as the LM reads them: their tokens joined with no separator."""
    return "".join(code_token(int(code)) for code in codes)


def understand_prompt(codes: str) -> str:
    """The whole prompt for one song: system instruction, the code string as the user's message,
    and the opened assistant turn the answer continues."""
    return (f"<|im_start|>system\n{SYSTEM_MESSAGE}<|im_end|>\n"
            f"<|im_start|>user\n{codes}<|im_end|>\n"
            "<|im_start|>assistant\n")


@dataclass(frozen=True)
class FittedCodes:
    """The codes the LM reads, and how much of the song they cover."""

    codes: list[int]
    total: int  # codes of the whole (decoded) audio

    @property
    def cut(self) -> bool:
        return len(self.codes) < self.total

    @property
    def seconds(self) -> float:
        return len(self.codes) / CODES_PER_SECOND

    @property
    def total_seconds(self) -> float:
        return self.total / CODES_PER_SECOND

    def note(self) -> str:
        """A line for the summary when the song was cut; empty when the LM heard all of it."""
        if not self.cut:
            return ""
        return (f"the LM heard the first {self.seconds:.0f} s of {self.total_seconds:.0f} s "
                "(its context holds no more)")


def code_budget(context: int, new_tokens: int) -> int:
    """How many codes fit in `context` tokens beside the prompt's own text and the answer."""
    return max(0, context - PROMPT_OVERHEAD_TOKENS - new_tokens)


def fit_codes(codes: list[int], context: int, new_tokens: int) -> FittedCodes:
    """The first codes that fit the context (a song keeps its opening: lyrics start there)."""
    budget = code_budget(context, new_tokens)
    if budget <= 0:
        raise ValueError(f"an LM context of {context} tokens leaves no room for audio beside {new_tokens} "
                         "answer tokens")
    return FittedCodes(list(codes[:budget]), len(codes))
