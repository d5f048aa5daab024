"""A CSV file's bytes to rows, with every way a file from a spreadsheet goes wrong said plainly.

    decoded = decode_csv(data, "labels.csv")     # text, encoding, notes ("read as Windows-1252")
    rows = parse_rows(decoded.text, "labels.csv") # [(row number, cells)], or DatasetError

Encodings: a BOM says UTF-8, UTF-16 or UTF-32 (Excel's "Unicode text" is UTF-16); without one,
UTF-8; else Windows-1252 when the bytes look like Western text (spreadsheets on Windows), noted;
anything else (Shift-JIS, GB18030...) is refused with the encoding it looks like, never imported as
mojibake. Parsing is strict: a quote left open would swallow the rows after it, and a cell larger
than CELL_LIMIT characters is refused; both name the row. The delimiter (`,` `;` tab) is taken
from the header line, and Excel's `sep=;` first line is honoured.
"""
from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field

from shared.errors import DatasetError

CELL_LIMIT = 1 << 20  # characters in one cell: far beyond any lyrics, far below a runaway quote
_BOMS = (  # longest first: the UTF-32 LE BOM begins with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"), (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"), (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)
_WESTERN = re.compile(r"^(cp125[0-8]|cp437|cp7\d\d|cp8\d\d|latin_1|iso8859_\d+|mac_\w+|hp_roman8)$")
_NAMES = {"cp932": "Japanese (Shift-JIS)", "shift_jis": "Japanese (Shift-JIS)", "shift_jis_2004": "Japanese "
          "(Shift-JIS)", "euc_jp": "Japanese (EUC-JP)", "gb18030": "Chinese (GB18030)", "gb2312": "Chinese "
          "(GB2312)", "gbk": "Chinese (GBK)", "big5": "Chinese (Big5)", "big5hkscs": "Chinese (Big5)",
          "cp949": "Korean (EUC-KR)", "euc_kr": "Korean (EUC-KR)", "koi8_r": "Cyrillic (KOI8-R)",
          "cp1251": "Cyrillic (Windows-1251)"}


@dataclass
class DecodedCsv:
    """The file's text, the encoding it was read with, and what the user should know about that."""

    text: str
    encoding: str
    notes: list[str] = field(default_factory=list)


def decode_csv(data: bytes, source: str) -> DecodedCsv:
    """The text of a CSV file's bytes; DatasetError when it is not text this program can trust."""
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            try:
                return DecodedCsv(data[len(bom):].decode(codec), name)
            except UnicodeDecodeError as err:
                raise DatasetError(f"{source}: starts like {name} text but byte {err.start + len(bom)} is not "
                                   f"{name}; save it again as UTF-8 CSV") from None
    try:
        return DecodedCsv(data.decode("utf-8"), "UTF-8")
    except UnicodeDecodeError:
        pass
    if b"\x00" in data[:4096]:  # UTF-16 without a BOM: in Latin text every other byte is zero
        codec = "utf-16-le" if data[1:4096:2].count(0) > data[0:4096:2].count(0) else "utf-16-be"
        try:
            return DecodedCsv(data.decode(codec), "UTF-16")
        except UnicodeDecodeError:
            raise DatasetError(f"{source}: holds zero bytes but is not UTF-16 text: not a CSV file?") from None
    guess = _guess_encoding(data)
    if guess is None or _WESTERN.match(guess):
        return DecodedCsv(data.decode("cp1252", errors="replace"), "Windows-1252",
                          ["the file is not UTF-8; it was read as Windows-1252 (Western European). If accents "
                           "look wrong, save it as UTF-8 CSV and import again"])
    raise DatasetError(f"{source}: not UTF-8 text; it looks like {_NAMES.get(guess, guess)}. Nothing was "
                       "imported: save it as UTF-8 (Excel: 'CSV UTF-8') and import again")


def _guess_encoding(data: bytes) -> str | None:
    """charset-normalizer's best guess (Python codec name), None when it has none."""
    from charset_normalizer import from_bytes  # lazily: only files that are not UTF-8 need it

    best = from_bytes(data).best()
    return codecs.lookup(best.encoding).name.replace("-", "_") if best is not None else None


def sniff_delimiter(text: str) -> str:
    """`,`, `;` or tab: whichever the header line holds most of (headers rarely contain one)."""
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def parse_rows(text: str, source: str) -> list[tuple[int, list[str]]]:
    """(row number as a spreadsheet shows it, cells) for every record; DatasetError naming the row
    for a quote left open, a stray quote inside a quoted cell, or a cell over CELL_LIMIT."""
    delimiter = sniff_delimiter(text)
    if text.lower().startswith("sep=") and len(text) > 4:  # Excel's "sep=;" line names the delimiter
        delimiter, text = text[4], text.split("\n", 1)[1] if "\n" in text else ""
    if csv.field_size_limit() < CELL_LIMIT:
        csv.field_size_limit(CELL_LIMIT)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[int, list[str]]] = []
    line = 1
    try:
        for cells in reader:
            rows.append((len(rows) + 1, cells))
            line = reader.line_num + 1
    except csv.Error as err:
        raise DatasetError(f"{source}: row {len(rows) + 1} (line {line}): {_explain(err)}; nothing was "
                           "imported") from None
    return rows


def _explain(err: csv.Error) -> str:
    message = str(err)
    if "field larger than field limit" in message:
        return (f"a cell holds more than {CELL_LIMIT:,} characters (the limit), or a quote opened there is "
                "never closed")
    if "unexpected end of data" in message:
        return "a quote opened in this row is never closed, so every line after it would be read as one cell"
    if "expected after" in message:
        return ("a quote inside a quoted cell ends it too early (write a quote inside a cell as two quotes "
                "\"\"), or a quote opened in this row is never closed")
    return f"not readable as CSV ({message})"
