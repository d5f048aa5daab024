"""Small wording helpers for messages people read ("1 row", "3 rows")."""
from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """"1 row", "0 rows", "2 samples": the count with the noun in the right number."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
