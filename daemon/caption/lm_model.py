"""ACE-Step's 5 Hz LM loaded with transformers, and one understand call (codes in, fields out).

    lm = load_lm(folder, device, dtype)       # AutoModelForCausalLM + its fast tokenizer
    reply = lm.understand(codes, UnderstandOptions(lyrics=True, language="ja"))
    reply.found.caption, reply.found.bpm, reply.fitted.note(), reply.raw

The LM reads the understand prompt (lm_prompt) and answers under the field grammar (lm_grammar,
lm_decoding): sampled at the given temperature, stopped at `<|im_end|>` or `<|endoftext|>` or when
the answer's token budget is spent. The codes are cut to what the context holds beside that
budget. The answer's text is rebuilt from the bytes the grammar checked, so the parser reads
exactly what the grammar allowed. The masks of each grammar are kept with the loaded LM.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from daemon.caption.lm_decoding import FieldConstraint, MaskCache, TokenTable
from daemon.caption.lm_grammar import CAPTION_MAX_TOKENS, Grammar, understand_grammar
from daemon.caption.lm_parse import Understanding, parse_understanding
from daemon.caption.lm_prompt import (
    CODES_PER_SECOND,
    FittedCodes,
    code_budget,
    code_string,
    fit_codes,
    understand_prompt,
)
from daemon.models.checkpoint_files import validate_text_encoder_folder
from shared.errors import CheckpointError

log = logging.getLogger(__name__)

GENRES_FILE = "genres_vocab.txt"
# Tokens the think block needs besides the caption: the field names, short values, genres, tags.
FIELDS_TOKENS = 160


@dataclass(frozen=True)
class UnderstandOptions:
    """How one song is understood."""

    lyrics: bool = False  # let the LM write lyrics after </think>
    language: str | None = None  # the only language the LM may name (a dataset-wide override)
    context: int = 4096
    caption_tokens: int = CAPTION_MAX_TOKENS
    lyrics_tokens: int = 1024
    temperature: float = 0.7
    top_p: float = 1.0
    seed: int = 0

    def new_tokens(self) -> int:
        """The answer's token budget: the think block, and the lyrics when asked for."""
        return self.caption_tokens + FIELDS_TOKENS + (self.lyrics_tokens if self.lyrics else 0)


@dataclass
class Reply:
    """One understand call: what the LM wrote, what it says, and what part of the song it heard."""

    raw: str
    found: Understanding
    fitted: FittedCodes
    tokens: int  # answer tokens generated


@dataclass
class LoadedLM:
    """A loaded 5 Hz LM: model, tokenizer, token bytes, genre vocabulary, the masks of each grammar."""

    model: Any
    tokenizer: Any
    table: TokenTable
    folder: Path
    genres: tuple[str, ...] = ()
    demo: bool = False  # random weights: its text is noise
    _masks: dict[Grammar, MaskCache] = field(default_factory=dict, repr=False)

    @property
    def context(self) -> int:
        """The most tokens the model's positions allow."""
        return int(getattr(self.model.config, "max_position_embeddings", 0) or 4096)

    def audio_seconds(self, options: UnderstandOptions) -> float:
        """How many seconds of audio the context holds beside the answer (more is cut)."""
        return code_budget(min(options.context, self.context), options.new_tokens()) / CODES_PER_SECOND

    def masks(self, grammar: Grammar) -> MaskCache:
        if grammar not in self._masks:
            self._masks[grammar] = MaskCache(grammar, self.table)
        return self._masks[grammar]

    def understand(self, codes: list[int], options: UnderstandOptions, total_codes: int | None = None) -> Reply:
        """Ask the LM about one song's codes; `total_codes`: the whole song's (for the cut note)."""
        context = min(options.context, self.context)
        fitted = fit_codes(codes, context, options.new_tokens())
        fitted = FittedCodes(fitted.codes, max(fitted.total, total_codes or 0))
        grammar = understand_grammar(options.lyrics, options.language, self.genres, options.caption_tokens,
                                     options.lyrics_tokens)
        encoded = self.tokenizer(understand_prompt(code_string(fitted.codes)), return_tensors="pt",
                                 add_special_tokens=False)
        device = next(self.model.parameters()).device
        input_ids = encoded.input_ids.to(device)
        processor = FieldConstraint(self.masks(grammar), input_ids.shape[1])
        budget = min(options.new_tokens(), context - input_ids.shape[1])
        sample = options.temperature > 0
        extra = {"temperature": options.temperature, "top_p": options.top_p, "top_k": 0} if sample else {}
        with torch.inference_mode(), _seeded(options.seed, device):
            output = self.model.generate(
                input_ids=input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=budget,
                do_sample=sample, logits_processor=[processor], eos_token_id=list(self.table.stop_ids),
                pad_token_id=self.table.stop_ids[-1], **extra)
        new = output[0, input_ids.shape[1]:].tolist()
        raw = b"".join(self.table.data[t] or b"" for t in new if t < len(self.table)).decode("utf-8", "replace")
        return Reply(raw, parse_understanding(raw), fitted, len(new))


def load_lm(folder: Path, device: torch.device, dtype: torch.dtype) -> LoadedLM:
    """The LM in `folder` on `device` in eval mode, with its tokenizer and genre vocabulary."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(folder)
    validate_text_encoder_folder(folder)  # config, tokenizer and weights present and whole
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype)
    except (OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{folder}: the 5 Hz LM could not be loaded ({type(err).__name__}: {err})") from None
    if "<|audio_code_0|>" not in tokenizer.get_vocab():
        raise CheckpointError(f"{folder}: its tokenizer has no audio-code tokens (<|audio_code_0|>...); "
                              "is this ACE-Step's 5 Hz LM?")
    model.to(device).eval().requires_grad_(False)
    table = TokenTable.from_tokenizer(tokenizer)
    if not table.stop_ids:
        raise CheckpointError(f"{folder}: its tokenizer has neither <|im_end|> nor <|endoftext|>")
    log.info("loaded 5 Hz LM %s (%s, %s, vocab %d)", folder.name, device, dtype, len(table))
    return LoadedLM(model, tokenizer, table, folder, read_genres(folder), demo=_is_demo(folder))


def read_genres(folder: Path) -> tuple[str, ...]:
    """The genre vocabulary (`genres_vocab.txt`, one per line): in the LM's folder, else where an
    ACE-Step install keeps it (`<install>/acestep/` beside `<install>/checkpoints/`); empty when none."""
    folder = Path(folder)
    for path in (folder / GENRES_FILE, folder.parent.parent / "acestep" / GENRES_FILE):
        if path.is_file():
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            return tuple(dict.fromkeys(line.strip() for line in lines if line.strip() and not line.startswith("#")))
    return ()


def _is_demo(folder: Path) -> bool:
    """The demo checkpoint's LM (random weights): its folder name beside the demo's stamp."""
    from daemon.models.demo_checkpoint import STAMP_NAME
    from daemon.models.demo_lm import LM_NAME

    return folder.name == LM_NAME and (folder.parent / STAMP_NAME).is_file()


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Sample from `seed` without disturbing the global generators other jobs rely on."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
