"""What a file's labels become: the providers' answers and the signal, over what the user already set.

    proposed = proposals(caption_answer, lyrics_answer, signal, trigger_word="mystyle")
    labels, kept = merge(existing, proposed, ours, overwrite=False)

- A model's value wins over the signal's; the signal fills BPM and key when no model said them
  (the key only when its confidence reaches MIN_KEY_CONFIDENCE).
- The trigger word is taken out of captions: the dataset adds it when prompts are built, and a
  caption that already holds it would teach it twice (or keep it when the word is changed).
- A label the user set is kept unless `overwrite`; a value equal to what an earlier caption run
  wrote (`ours`) is the studio's own and may be replaced. `kept` names what was kept.
"""
from __future__ import annotations

import re
from typing import Any

from shared.labels import LabelError, parse_bpm

LABELS = ("caption", "genre", "lyrics", "bpm", "keyscale", "timesignature", "language", "is_instrumental")
EMPTY: dict[str, Any] = {"caption": "", "genre": "", "lyrics": "", "bpm": None, "keyscale": "", "timesignature": "",
                         "language": "unknown", "is_instrumental": False}
MIN_KEY_CONFIDENCE = 0.2


def proposals(caption: dict | None, lyrics: dict | None, signal: dict | None, trigger_word: str = "") -> dict:
    """The labels the answers (Answer.to_dict()) and the signal (SignalAnalysis.to_dict()) propose."""
    out: dict[str, Any] = {}
    if caption:
        out.update(caption.get("labels") or {})
    if lyrics:  # the transcriber's language wins over the captioner's
        out.update(lyrics.get("labels") or {})
    if signal:
        if "bpm" not in out and signal.get("bpm"):
            try:
                out["bpm"] = parse_bpm(signal["bpm"])
            except LabelError:
                pass
        if "keyscale" not in out and signal.get("keyscale") and signal.get("key_confidence", 0) >= MIN_KEY_CONFIDENCE:
            out["keyscale"] = signal["keyscale"]
    if trigger_word and out.get("caption"):
        out["caption"] = strip_trigger(out["caption"], trigger_word)
    return {k: v for k, v in out.items() if k in LABELS and v is not None}


def strip_trigger(caption: str, trigger_word: str) -> str:
    """The caption without the trigger word (whole word, any case) and the comma it came with."""
    word = re.escape(trigger_word.strip())
    if not word:
        return caption
    text = re.sub(rf"(?i)(?<![\w-]){word}(?![\w-])\s*[,;:]?", "", caption)
    text = re.sub(r"\s+([,;.])", r"\1", re.sub(r"\s{2,}", " ", text)).strip(" ,;")
    return text


def merge(existing: dict, proposed: dict, ours: dict | None = None, *, overwrite: bool = False) -> tuple[dict, list]:
    """(labels, kept): `proposed` over `existing`, keeping what the user set unless `overwrite`.
    Lyrics and the instrumental mark go together: lyrics the user wrote are never cleared by an
    [Instrumental] transcript."""
    ours = ours or {}
    labels = {name: existing.get(name, EMPTY[name]) for name in LABELS}
    kept = []

    def user_set(name: str) -> bool:
        return labels[name] != EMPTY[name] and labels[name] != ours.get(name)

    vocals_set = user_set("lyrics") or user_set("is_instrumental")
    for name, value in proposed.items():
        protected = vocals_set if name in ("lyrics", "is_instrumental") else user_set(name)
        if protected and not overwrite:
            if labels[name] != value:
                kept.append(name)
            continue
        labels[name] = value
    if proposed.get("is_instrumental") and (overwrite or not vocals_set):
        labels["lyrics"] = ""
    return labels, kept
