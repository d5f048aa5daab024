"""Reading the 5 Hz LM's answers: a table of answers as the LM writes them, into the dataset's fields."""
from __future__ import annotations

import pytest

from daemon.caption.lm_parse import parse_understanding

FULL = (
    "<think>\n"
    "bpm: 124\n"
    "caption: An energetic synth-pop track driven by a punchy four-on-the-floor kick and bright\n"
    "  arpeggiated synths. A breathy female vocal carries the verses,\n"
    "  and the chorus opens up with layered harmonies.\n"
    "duration: 215\n"
    "genres: synth-pop, electronic\n"
    "keyscale: F♯ minor\n"
    "language: en\n"
    "timesignature: 4\n"
    "</think>\n\n"
    "# Lyric\n"
    "[Verse 1]\n"
    "City lights are calling me\n"
    "\n"
    "[Chorus]\n"
    "Hold on, hold on<|im_end|>"
)

# (answer, expected fields, expected lyrics, complete)
TABLE = [
    (FULL,
     {"bpm": 124, "duration": 215, "genres": "synth-pop, electronic", "keyscale": "F# minor", "language": "en",
      "timesignature": "4",
      "caption": "An energetic synth-pop track driven by a punchy four-on-the-floor kick and bright arpeggiated "
                 "synths. A breathy female vocal carries the verses, and the chorus opens up with layered harmonies."},
     "[Verse 1]\nCity lights are calling me\n\n[Chorus]\nHold on, hold on", True),
    ("<think>\nbpm: 90\ncaption: A slow ballad.\nduration: 180\nkeyscale: B♭ major\nlanguage: ja\n"
     "timesignature: 3\n</think>\n# Lyrics\n[Instrumental]<|endoftext|>",
     {"bpm": 90, "duration": 180, "keyscale": "Bb major", "language": "ja", "timesignature": "3",
      "caption": "A slow ballad."},
     "[Instrumental]", True),
    # ACE-Step's own labeller reads vocal_language: an answer with that key still gives the language
    ("<think>\nbpm: 70\ncaption: Dark ambient drone.\nvocal_language: unknown\n</think>",
     {"bpm": 70, "caption": "Dark ambient drone.", "language": "unknown"}, "", True),
    ("<think>\nlanguage: zh\nvocal_language: en\n</think>", {"language": "zh"}, "", True),
    # cut by the token limit inside the caption: the fields so far, no lyrics
    ("<think>\nbpm: 128\ncaption: A driving techno track with\n  rolling", {"bpm": 128,
     "caption": "A driving techno track with rolling"}, "", False),
    # values in other spellings go through the dataset's parsers; refused ones are left out
    ("<think>\nbpm: 20\nkeyscale: Dm\ntimesignature: 6/8\nlanguage: Japanese\nduration: 3:05\n</think>",
     {"keyscale": "D minor", "timesignature": "6", "language": "ja"}, "", True),
    ("bpm: 100\ncaption: No think tag at all.\n</think>\nla la la", {"bpm": 100, "caption": "No think tag at all."},
     "la la la", True),
    ("<think>\nbpm: N/A\ncaption:\nkeyscale: C major\n</think>\n\n", {"keyscale": "C major"}, "", True),
]


@pytest.mark.parametrize("answer, fields, lyrics, complete", TABLE)
def test_answers_as_the_lm_writes_them(answer, fields, lyrics, complete):
    found = parse_understanding(answer)
    said = {name: getattr(found, name) for name in ("bpm", "caption", "duration", "genres", "keyscale", "language",
                                                     "timesignature") if getattr(found, name) not in ("", None)}
    assert said == fields
    assert found.lyrics == lyrics
    assert found.complete is complete


def test_refused_values_are_named():
    found = parse_understanding("<think>\nbpm: 20\nkeyscale: H major\n</think>")
    assert found.bpm is None and found.keyscale == ""
    assert [p.split(":")[0] for p in found.problems] == ["bpm", "keyscale"]


def test_labels_use_the_dataset_names_and_lyrics_only_when_asked():
    found = parse_understanding(FULL)
    labels = found.labels()
    assert labels == {"caption": found.caption, "genre": "synth-pop, electronic", "bpm": 124, "keyscale": "F# minor",
                      "timesignature": "4", "language": "en"}  # no duration: the dataset reads it from the file
    with_lyrics = found.labels(lyrics=True)
    assert with_lyrics["lyrics"].startswith("[Verse 1]") and with_lyrics["is_instrumental"] is False
    instrumental = parse_understanding("<think>\nbpm: 90\n</think>\n[Instrumental]").labels(lyrics=True)
    assert instrumental["is_instrumental"] is True and "lyrics" not in instrumental
