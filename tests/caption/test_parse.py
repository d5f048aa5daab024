"""Parsers for captioner and transcriber answers (shared/caption_parse.py), on answers as models write them."""
from __future__ import annotations

import pytest

from shared.caption_parse import (
    INSTRUMENTAL,
    find_bpm,
    find_genre,
    find_keyscale,
    find_timesignature,
    looks_looped,
    parse_caption,
    parse_transcript,
    split_metadata,
)

# (model answer, expected {field: value}); fields not listed must come back empty.
CAPTIONS = [
    ("An electronic pop track in D minor with a driving beat, shimmering synth pads and a breathy female vocal.",
     {"keyscale": "D minor", "genre": "electronic, pop"}),
    ("This song is in C# major and moves at 128 BPM with a four-on-the-floor kick.",
     {"keyscale": "C# major", "bpm": 128, "timesignature": "4"}),
    ("A mellow lo-fi hip hop beat with dusty vinyl crackle and jazzy Rhodes chords.\nKey: D minor\nBPM: 84",
     {"keyscale": "D minor", "bpm": 84, "genre": "lo-fi, hip hop"}),
    ("Key: Bb min\nTime signature: 4/4\nTempo: 90\nGenre: soul, r&b\nA warm soul ballad with a gospel choir.",
     {"keyscale": "Bb minor", "timesignature": "4", "bpm": 90, "genre": "soul, r&b"}),
    ("A gentle folk waltz played on nylon-string guitar and accordion, in G major.",
     {"keyscale": "G major", "timesignature": "3", "genre": "folk, waltz"}),
    ("Cinematic orchestral piece in the key of A, slow and majestic, with soaring French horns.",
     {"keyscale": "A major", "genre": "cinematic, orchestral"}),
    ("The track is in F♯ minor, a dark techno groove at around 132 bpm with rumbling sub bass.",
     {"keyscale": "F# minor", "bpm": 132, "genre": "techno"}),
    ("Upbeat pop-punk song in E♭ major, fast palm-muted guitars and shouted gang vocals, 170 BPM.",
     {"keyscale": "Eb major", "bpm": 170}),
    ("- Genre: Synthwave\n- Key: A minor\n- BPM: 118\n- Time signature: 4/4\n"
     "- Caption: Retro synthwave with gated reverb drums and a neon arpeggio.",
     {"genre": "Synthwave", "keyscale": "A minor", "bpm": 118, "timesignature": "4"}),
    ("**Key:** E minor  \n**Tempo:** 100 BPM  \n**Genre:** indie rock\n\nJangly indie rock with chorus-laden guitars.",
     {"keyscale": "E minor", "bpm": 100, "genre": "indie rock"}),
    ('{"caption": "Bright acoustic pop with claps and whistling", "genre": "pop", "key": "G major", '
     '"bpm": 112, "time_signature": "4/4"}',
     {"keyscale": "G major", "bpm": 112, "timesignature": "4", "genre": "pop"}),
    ('```json\n{"description": "Moody trip hop with a scratchy breakbeat", "keyscale": "Cm", "tempo": "92 bpm", '
     '"genres": ["trip hop", "downtempo"]}\n```',
     {"keyscale": "C minor", "bpm": 92, "genre": "trip hop, downtempo"}),
    ("A baroque-style harpsichord piece in 3/4 time, in D major, with ornamented melodies.",
     {"keyscale": "D major", "timesignature": "3"}),
    ("A jig played on fiddle and bodhrán in 6/8, lively and bright, G major.",
     {"keyscale": "G major", "timesignature": "6"}),
    ("Bold brass march in two, B-flat major, with snare rolls and cymbal crashes.",
     {"keyscale": "Bb major", "timesignature": "2", "genre": "march"}),
    ("A slow blues shuffle in E with a crying slide guitar. Tempo: 72.",
     {"bpm": 72, "genre": "blues"}),
    ("Ambient drone piece without a clear pulse; evolving pads in Db major and distant bells.",
     {"keyscale": "Db major", "genre": "ambient"}),
    ("Aggressive drum and bass at 174 BPM, reese bass, chopped amen breaks, key of F minor.",
     {"keyscale": "F minor", "bpm": 174, "genre": "drum and bass"}),
    ("A minor-key piano ballad with a soft male voice and light strings.", {}),
    ("The song features a minor role for the bass, letting a bright ukulele lead.", {}),
    ("Reggae one-drop groove with offbeat skank guitar, Am, relaxed 76 bpm.",
     {"keyscale": "A minor", "bpm": 76, "genre": "reggae"}),
    ("Key: Am\nGenre: reggaeton\nA reggaeton beat with a dembow rhythm.",
     {"keyscale": "A minor", "genre": "reggaeton"}),
    ("Smooth jazz in the key of Eb, brushed drums and a tenor saxophone melody, swing feel at 140 bpm.",
     {"keyscale": "Eb major", "bpm": 140, "genre": "jazz, swing"}),
    ("Dreamy shoegaze, walls of fuzz guitar, vocals buried in reverb; the key is B major.",
     {"keyscale": "B major", "genre": "shoegaze"}),
    ("Epic trailer music, huge taiko hits and choir, D minor, 6/8 meter.",
     {"keyscale": "D minor", "timesignature": "6"}),
    ("Funky disco house with a filtered bassline and chopped vocal samples at 124 BPM.",
     {"bpm": 124, "genre": "disco, house"}),
    ("Progressive rock in 7/8 with odd accents and a Hammond organ solo, E minor.",
     {"keyscale": "E minor", "genre": "rock"}),
    ("tempo: 95\nkey: g# minor\nA trap beat with rolling hi-hats and an 808 glide.",
     {"bpm": 95, "keyscale": "G# minor", "genre": "trap"}),
    ("Soft bossa nova with nylon guitar and brushed snare, F major, around 120-124 bpm.",
     {"keyscale": "F major", "bpm": 120, "genre": "bossa nova"}),
    ("Heavy metal track with double-kick drums and shredding guitar solos in C♯ minor, common time.",
     {"keyscale": "C# minor", "timesignature": "4", "genre": "heavy metal"}),
    ("An orchestral waltz for strings, gently swaying, at 150 beats per minute.",
     {"bpm": 150, "timesignature": "3", "genre": "orchestral, waltz"}),
    ("Chiptune video game tune, square-wave lead, in C major, key changes to D major in the last chorus.",
     {"keyscale": "C major", "genre": "chiptune"}),
    ("A K-pop dance track with glossy synths, a rap verse and a big chorus; key: F# major, 4/4 time.",
     {"keyscale": "F# major", "timesignature": "4", "genre": "k-pop, dance, rap"}),
    ("Deep house groove, warm chords, 122bpm, G minor.",
     {"bpm": 122, "keyscale": "G minor", "genre": "deep house"}),
    ("A solo classical guitar study, tempo of 66, in E minor.",
     {"bpm": 66, "keyscale": "E minor", "genre": "classical"}),
    ("An energetic country song with banjo and fiddle. Style: country, bluegrass. Key is A.",
     {"keyscale": "A major", "genre": "country, bluegrass"}),
    ("Style: lo-fi / chillhop\nGentle beat for studying.", {"genre": "lo-fi, chillhop"}),
    ("Gospel choir with Hammond organ and handclaps in Ab major, triple meter.",
     {"keyscale": "Ab major", "timesignature": "3", "genre": "gospel"}),
    ("Sparse minimal techno at 1300 bpm? No: 130 BPM, hypnotic.", {"bpm": 130, "genre": "techno"}),
    ("A flamenco piece in E phrygian with rapid rasgueado strums and palmas.", {"genre": "flamenco"}),
    ("Salsa with a tight horn section and piano montuno, in two feel at 96 BPM, Bb major.",
     {"bpm": 96, "keyscale": "Bb major", "timesignature": "2", "genre": "salsa"}),
    ("Afrobeat groove with interlocking guitars, F minor, tempo ~ 110.",
     {"keyscale": "F minor", "bpm": 110, "genre": "afrobeat"}),
    ("Time signature: 3/4\nKey: E major\nA lilting ballad.", {"timesignature": "3", "keyscale": "E major"}),
    ("<think>\n</think>\nA punchy grime instrumental with a square bass, D# minor, 140 bpm.<|im_end|>",
     {"keyscale": "D# minor", "bpm": 140, "genre": "grime"}),
]


@pytest.mark.parametrize("answer, expected", CAPTIONS, ids=[f"answer{i}" for i in range(len(CAPTIONS))])
def test_caption_answers_give_their_labels(answer, expected):
    fields = parse_caption(answer)
    for name in ("keyscale", "timesignature", "bpm", "genre"):
        empty = None if name == "bpm" else ""
        assert getattr(fields, name) == expected.get(name, empty), (name, answer)
    assert fields.caption and "Key:" not in fields.caption and "<think>" not in fields.caption


def test_the_table_is_big_enough():
    assert len(CAPTIONS) >= 40


def test_metadata_lines_leave_the_caption():
    caption, values = split_metadata("Genre: pop\nA bright pop song.\nKey: C major\nInstrumentation: piano")
    assert caption == "A bright pop song. Instrumentation: piano"
    assert values == {"genre": "pop", "keyscale": "C major"}


def test_json_caption_keeps_only_the_caption_text():
    fields = parse_caption('{"caption": "Warm soul", "key": "D minor", "bpm": "n/a"}')
    assert fields.caption == "Warm soul" and fields.keyscale == "D minor" and fields.bpm is None


@pytest.mark.parametrize("text, expected", [
    ("is in C# major", "C# major"), ("Key: D minor", "D minor"), ("Bb min", "Bb minor"), ("in the key of A", "A major"),
    ("key of A minor", "A minor"), ("E flat major", "Eb major"), ("G♭ major", "Gb major"), ("a minor detail", ""),
    ("I Am the one", ""), ("Cmaj7 and Fmaj7 chords", ""), ("C major, relative minor A minor", "C major"),
    ("passing F major chord; the song is in the key of D minor", "D minor"),
])
def test_key_mining(text, expected):
    assert find_keyscale(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("4/4", "4"), ("in 3/4", "3"), ("6/8 meter", "6"), ("a march in two", "2"), ("in three,", "3"),
    ("waltz", "3"), ("5/4 groove", ""), ("split in two halves", ""), ("24/7", ""), ("cut time", "2"),
])
def test_time_signature_mining(text, expected):
    assert find_timesignature(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("at 128 BPM", 128), ("tempo: 90", 90), ("BPM 75", 75), ("~100bpm", 100), ("12 bpm", None),
    ("400 BPM", None), ("a tempo of about 88", 88), ("released in 1998", None),
])
def test_bpm_mining(text, expected):
    assert find_bpm(text) == expected


def test_genre_keywords_in_order_and_capped():
    assert find_genre("jazz-funk? no: a funk, soul and jazz jam with disco drums") == "funk, soul, jazz"
    assert find_genre("popular music with rocking riffs") == ""
    assert find_genre("synth-pop") == "synth-pop"


TRANSCRIPTS = [
    ("# Languages\nen\n\n# Lyrics\n[Verse 1]\nI walk alone\nDown the road\n\n[Chorus]\nHold on",
     "en", "[Verse 1]\nI walk alone\nDown the road\n\n[Chorus]\nHold on", False),
    ("# Languages\nja\n\n# Lyrics\n[Instrumental]", "ja", INSTRUMENTAL, True),
    ("# Languages\nen\n\n# Lyrics\n", "en", INSTRUMENTAL, True),
    ("instrumental", "", INSTRUMENTAL, True),
    ("", "", INSTRUMENTAL, True),
    ("[Intro]\n\n[Outro]", "", INSTRUMENTAL, True),
    ("# Languages\nSpanish\n\n# Lyrics\nBaila conmigo<|im_end|>", "es", "Baila conmigo", False),
    ("Just the words\nno headers", "", "Just the words\nno headers", False),
]


@pytest.mark.parametrize("answer, language, lyrics, instrumental", TRANSCRIPTS)
def test_transcripts(answer, language, lyrics, instrumental):
    result = parse_transcript(answer)
    assert (result.language, result.lyrics, result.is_instrumental) == (language, lyrics, instrumental)


def test_a_looping_transcript_is_flagged_and_cut():
    looping = "[Chorus]\n" + "\n".join(["we go on"] * 30)
    result = parse_transcript(looping)
    assert result.looped and result.lyrics.count("we go on") == 4
    assert not looks_looped("Hold on\nHold on\nHold on\nHold on\n[Verse]\nNew day")  # a chorus, not a loop
    assert looks_looped("la " * 40)
    block = "\n".join(["one more time", "we are here"] * 8)
    assert parse_transcript(block).lyrics.count("we are here") == 2
