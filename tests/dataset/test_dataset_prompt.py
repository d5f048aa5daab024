"""The prompt a sample is trained with, and ACE-Step's prompt templates (DS-5, DS-8; interface 4.3, 4.5)."""
from __future__ import annotations

from pathlib import Path

import pytest

from shared.dataset import Dataset, DatasetOptions, Sample
from shared.prompt import (
    effective_language,
    genre_picks,
    lyrics_prompt,
    sample_prompts,
    text_prompt,
    training_caption,
    training_captions,
)


def make(n: int = 20, **options) -> Dataset:
    samples = [Sample(audio=f"dir/s{i:02d}.wav", duration=30.0, caption=f"caption {i}", genre=f"genre {i}")
               for i in range(n)]
    return Dataset(root=Path("/data"), options=DatasetOptions(**options), samples=samples)


def test_default_tag_position_is_prepend_and_keeps_the_caption():
    dataset = make(1, trigger_word="zqx")
    assert DatasetOptions().tag_position == "prepend"
    assert training_caption(dataset, dataset.samples[0]) == "zqx, caption 0"


@pytest.mark.parametrize("position, expected", [
    ("prepend", "zqx, caption 0"), ("append", "caption 0, zqx"), ("replace", "zqx"),
])
def test_tag_positions(position, expected):
    dataset = make(1, trigger_word="zqx", tag_position=position)
    assert training_caption(dataset, dataset.samples[0]) == expected


def test_no_trigger_word_leaves_the_caption_and_a_sample_tag_overrides_it():
    dataset = make(2)
    dataset.samples[1].custom_tag = "own"
    assert training_captions(dataset) == ["caption 0", "own, caption 1"]


def test_genre_ratio_picks_exactly_that_share_reproducibly_by_seed():
    dataset = make(20, genre_ratio=0.25, genre_ratio_seed=7)
    captions = training_captions(dataset)
    assert sum(c.startswith("genre") for c in captions) == 5
    assert training_captions(make(20, genre_ratio=0.25, genre_ratio_seed=7)) == captions
    other_seeds = {frozenset(genre_picks(make(20, genre_ratio=0.25, genre_ratio_seed=s))) for s in range(5)}
    assert len(other_seeds) > 1
    assert make(20, genre_ratio=0.0).samples and not genre_picks(make(20, genre_ratio=0.0))
    assert len(genre_picks(make(20, genre_ratio=1.0))) == 20


def test_genre_choice_is_stable_per_sample_when_the_dataset_grows():
    small = make(20, genre_ratio=0.5, genre_ratio_seed=3)
    big = make(21, genre_ratio=0.5, genre_ratio_seed=3)
    assert len(genre_picks(small) ^ genre_picks(big)) <= 2  # at most one choice moves, plus the new one


def test_genre_choice_does_not_depend_on_where_the_dataset_file_is():
    here = make(10, genre_ratio=0.5)
    there = make(10, genre_ratio=0.5)
    for s in there.samples:
        s.audio = "../../elsewhere/" + s.audio
    there.audio_dir = "../../elsewhere"
    assert training_captions(here) == training_captions(there)


def test_prompt_override_forces_caption_or_genre():
    dataset = make(4, genre_ratio=1.0)
    dataset.samples[0].prompt_override = "caption"
    dataset.options = dataset.options.replace(genre_ratio=0.0)
    dataset.samples[1].prompt_override = "genre"
    assert training_captions(dataset)[:2] == ["caption 0", "genre 1"]
    dataset.options = dataset.options.replace(genre_ratio=1.0)
    assert training_captions(dataset) == ["caption 0", "genre 1", "genre 2", "genre 3"]


def test_a_sample_without_genre_keeps_its_caption_and_vice_versa():
    dataset = make(2, genre_ratio=1.0, trigger_word="t")
    dataset.samples[0].genre = ""
    dataset.samples[1].caption = ""
    dataset.options = dataset.options.replace(genre_ratio=0.0)
    assert training_captions(dataset) == ["t, caption 0", "t, genre 1"]


TEMPLATE_FULL = (
    "# Instruction\nFill the audio semantic mask based on the given conditions:\n\n"
    "# Caption\nzqx, warm piano\n\n"
    "# Metas\n- bpm: 120\n- timesignature: 4\n- keyscale: C major\n- duration: 30 seconds\n<|endoftext|>\n"
)
TEMPLATE_EMPTY = (
    "# Instruction\nFill the audio semantic mask based on the given conditions:\n\n"
    "# Caption\nzqx\n\n"
    "# Metas\n- bpm: N/A\n- timesignature: N/A\n- keyscale: N/A\n- duration: 12 seconds\n<|endoftext|>\n"
)


def test_text_prompt_is_exactly_the_template():
    assert text_prompt("zqx, warm piano", 120, "4", "C major", 30.9) == TEMPLATE_FULL
    assert text_prompt("zqx", None, "", "", 12.0) == TEMPLATE_EMPTY
    assert text_prompt("zqx", 0, None, None, 12.5) == TEMPLATE_EMPTY


def test_lyrics_prompt_and_instrumental():
    assert lyrics_prompt("en", "[verse]\nhi", False) == "# Languages\nen\n\n# Lyric\n[verse]\nhi<|endoftext|>"
    assert lyrics_prompt("en", "ignored", True) == "# Languages\nen\n\n# Lyric\n[Instrumental]<|endoftext|>"


def test_language_override_applies_to_samples_with_vocals_only():
    dataset = make(2, language_override="ko")
    dataset.samples[0].language = "en"
    dataset.samples[1].is_instrumental = True
    assert effective_language(dataset, dataset.samples[0]) == "ko"
    assert effective_language(dataset, dataset.samples[1]) == "unknown"
    dataset.options = dataset.options.replace(language_override=None)
    assert effective_language(dataset, dataset.samples[0]) == "en"


def test_sample_prompts_use_the_encoded_duration():
    dataset = make(1, trigger_word="zqx")
    sample = dataset.samples[0]
    sample.bpm, sample.keyscale, sample.timesignature, sample.lyrics, sample.language = 90, "A minor", "3", "la", "es"
    text, lyrics = sample_prompts(dataset, sample, duration_s=12.7)
    assert text == text_prompt("zqx, caption 0", 90, "3", "A minor", 12)
    assert lyrics == "# Languages\nes\n\n# Lyric\nla<|endoftext|>"
    assert "- duration: 30 seconds" in sample_prompts(dataset, sample)[0]
