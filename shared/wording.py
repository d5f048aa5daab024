"""Small wording helpers for messages people read ("1 row", "3 rows", printable file names)."""
from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """"1 row", "0 rows", "2 samples": the count with the noun in the right number."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def readable(text: str) -> str:
    """A file name as people can read and print it: bytes that are not UTF-8 (kept by Python as
    surrogates) become U+FFFD, which any output takes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
