"""The prompts a sample is trained with: ONE place, used by the Dataset page and preprocessing.

- `training_caption(dataset, sample)`: caption or genre (by the genre ratio, or the sample's
  prompt override) with the trigger word placed by the tag position.
- `text_prompt(caption, bpm, timesignature, keyscale, duration_s)`: ACE-Step's text prompt.
- `lyrics_prompt(language, lyrics, is_instrumental)`: ACE-Step's lyrics prompt.
- `sample_prompts(dataset, sample, duration_s)`: both, for one sample, as preprocessing needs them.

Which samples use their genre is chosen by a hash of the seed and the sample's path inside the
scanned folder: exactly round(ratio * n) of the samples that follow the ratio, the same ones for
the same seed, and adding a sample moves at most one choice.
"""
from __future__ import annotations

import hashlib

from shared.dataset import Dataset, Sample

INSTRUMENTAL_LYRICS = "[Instrumental]"

TEXT_PROMPT_TEMPLATE = (
    "# Instruction\nFill the audio semantic mask based on the given conditions:\n\n"
    "# Caption\n{caption}\n\n# Metas\n{metas}<|endoftext|>\n"
)
METAS_TEMPLATE = (
    "- bpm: {bpm}\n- timesignature: {timesignature}\n- keyscale: {keyscale}\n- duration: {duration} seconds\n"
)
LYRICS_PROMPT_TEMPLATE = "# Languages\n{language}\n\n# Lyric\n{lyrics}<|endoftext|>"


def _rank(seed: int, key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}\x00{key}".encode()).digest()[:8], "big")


def genre_picks(dataset: Dataset) -> set[str]:
    """Audio paths of the samples whose prompt is their genre (overrides included)."""
    picks = {s.audio for s in dataset.samples if s.prompt_override == "genre" and s.genre.strip()}
    following = [s for s in dataset.samples if s.prompt_override is None]
    wanted = int(dataset.options.genre_ratio * len(following) + 0.5)
    candidates = [s for s in following if s.genre.strip()]
    seed = dataset.options.genre_ratio_seed
    candidates.sort(key=lambda s: _rank(seed, dataset.key(s)))
    picks.update(s.audio for s in candidates[:wanted])
    return picks


def place_trigger(text: str, trigger_word: str, tag_position: str) -> str:
    """The trigger word placed by position: prepend "tag, text", append "text, tag", replace "tag"."""
    tag, text = trigger_word.strip(), text.strip()
    if not tag:
        return text
    if tag_position == "replace" or not text:
        return tag
    if tag_position == "append":
        return f"{text}, {tag}"
    if tag_position == "prepend":
        return f"{tag}, {text}"
    raise ValueError(f"tag_position {tag_position!r} is not one of prepend, append, replace")


def training_caption(dataset: Dataset, sample: Sample, picks: set[str] | None = None) -> str:
    """The caption a sample is trained with. Pass `picks` (genre_picks) when doing many samples."""
    if picks is None:
        picks = genre_picks(dataset)
    base = sample.genre if sample.audio in picks else sample.caption
    if not base.strip():  # a sample with only a genre (or only a caption) still gets a prompt
        base = sample.caption or sample.genre
    trigger = sample.custom_tag or dataset.options.trigger_word
    return place_trigger(base, trigger, dataset.options.tag_position)


def training_captions(dataset: Dataset) -> list[str]:
    """`training_caption` for every sample, in order (picks computed once)."""
    picks = genre_picks(dataset)
    return [training_caption(dataset, s, picks) for s in dataset.samples]


def effective_language(dataset: Dataset, sample: Sample) -> str:
    """The sample's language, or the dataset-wide override for samples with vocals."""
    override = dataset.options.language_override
    if override and not sample.is_instrumental:
        return override
    return sample.language or "unknown"


def text_prompt(caption: str, bpm: float | None, timesignature: str | int | None,
                keyscale: str | None, duration_s: float) -> str:
    """ACE-Step's text-encoder prompt, exactly; missing metas are "N/A"."""
    metas = METAS_TEMPLATE.format(
        bpm=_or_na(int(bpm) if bpm else None),
        timesignature=_or_na(timesignature),
        keyscale=_or_na(keyscale),
        duration=int(duration_s),
    )
    return TEXT_PROMPT_TEMPLATE.format(caption=caption, metas=metas)


def lyrics_prompt(language: str, lyrics: str, is_instrumental: bool) -> str:
    """ACE-Step's lyrics prompt; instrumental (or empty) lyrics are "[Instrumental]"."""
    text = lyrics.strip()
    if is_instrumental or not text:
        text = INSTRUMENTAL_LYRICS
    return LYRICS_PROMPT_TEMPLATE.format(language=language or "unknown", lyrics=text)


def sample_prompts(dataset: Dataset, sample: Sample, duration_s: float | None = None,
                   picks: set[str] | None = None) -> tuple[str, str]:
    """(text prompt, lyrics prompt) for a sample; `duration_s` is what is actually encoded."""
    duration = sample.duration if duration_s is None else duration_s
    text = text_prompt(training_caption(dataset, sample, picks), sample.bpm, sample.timesignature,
                       sample.keyscale, duration)
    lyrics = lyrics_prompt(effective_language(dataset, sample), sample.lyrics, sample.is_instrumental)
    return text, lyrics


def _or_na(value: object) -> str:
    text = "" if value is None else str(value).strip()
    return text or "N/A"
