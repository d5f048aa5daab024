"""CSV import and export of sample labels, with a row-by-row report of what did not import.

    report = import_csv(dataset, "captions.csv")   # changes `dataset` in place
    for issue in report.issues: print(issue)        # "row 7, bpm: 'fast' is not a BPM ..."
    export_csv(dataset, "labels.csv")              # the same columns: export then import is lossless

Import: `csv_text` reads the bytes (encodings, delimiter, quotes: a file that cannot be read right
is refused whole, naming the row); headers are case-insensitive with common aliases. The file
column (`file`, `filename`, `path`, ...) matches a sample by its path inside the scanned folder,
or by file name when that is unique. A path leading outside the scanned folder is refused. An
empty cell clears the field, a column that is absent leaves it alone. Rows are numbered as a
spreadsheet shows them (header = 1).
"""
from __future__ import annotations

import csv
import io
import logging
import os
import posixpath
import re
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from shared.atomic import write_text_atomic
from shared.csv_text import decode_csv, parse_rows
from shared.dataset import Dataset, Sample
from shared.errors import DatasetError
from shared.labels import FIELD_PARSERS, LabelError
from shared.wording import counted, readable

log = logging.getLogger(__name__)

# Export order; import reads the same names (and the aliases below).
COLUMNS = ("file", "caption", "genre", "lyrics", "bpm", "keyscale", "timesignature", "language",
           "instrumental", "prompt_override", "custom_tag", "labeled")
ALIASES = {
    "file": ("file", "filename", "file_name", "path", "audio", "audio_path", "filepath"),
    "caption": ("caption", "description", "prompt", "tags"),
    "genre": ("genre", "genres", "style"),
    "lyrics": ("lyrics", "lyric"),
    "bpm": ("bpm", "tempo"),
    "keyscale": ("keyscale", "key", "key_scale", "scale"),
    "timesignature": ("timesignature", "time_signature", "time signature", "timesig", "meter"),
    "language": ("language", "lang", "vocal_language"),
    "instrumental": ("instrumental", "is_instrumental"),
    "prompt_override": ("prompt_override", "override"),
    "custom_tag": ("custom_tag", "trigger_word", "tag"),
    "labeled": ("labeled", "labelled"),
}
_ALIAS_TO_COLUMN = {alias: column for column, names in ALIASES.items() for alias in names}

# CSV column -> Sample attribute (parsed by shared.labels.FIELD_PARSERS)
ATTRIBUTE = {column: column for column in COLUMNS if column != "file"} | {"instrumental": "is_instrumental"}


@dataclass(frozen=True)
class CsvIssue:
    """One problem in one row (row 1 is the header), with the column it concerns."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, {self.column}: {self.message}"


@dataclass
class CsvReport:
    """What an import did: rows read, samples updated, and every problem row by row."""

    path: str
    rows: int = 0
    matched: int = 0
    columns: list[str] = field(default_factory=list)
    issues: list[CsvIssue] = field(default_factory=list)
    encoding: str = "UTF-8"
    notes: list[str] = field(default_factory=list)  # about the whole file (its encoding)

    @property
    def ok(self) -> bool:
        return not self.issues

    def summary(self) -> str:
        return report_summary(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "rows": self.rows, "matched": self.matched, "columns": self.columns,
                "encoding": self.encoding, "notes": list(self.notes),
                "issues": [{"row": i.row, "column": i.column, "message": i.message} for i in self.issues]}


def report_summary(report: dict[str, Any]) -> str:
    """One line for a report (as `CsvReport.to_dict` gives it): "x.csv: 1 row, 1 sample updated, no problems"."""
    problems = counted(len(report["issues"]), "problem") if report["issues"] else "no problems"
    return (f"{report['path']}: {counted(report['rows'], 'row')}, "
            f"{counted(report['matched'], 'sample')} updated, {problems}")


def import_csv(dataset: Dataset, path: str | os.PathLike, data: bytes | None = None) -> CsvReport:
    """Apply a CSV's labels to the matching samples; returns the row-by-row report. `data` is the
    file's content when it did not come from `path` (an upload); nothing changes on a DatasetError."""
    path_str = str(path)
    try:
        data = Path(path).read_bytes() if data is None else data
    except OSError as err:
        raise DatasetError(f"{path_str}: cannot read the CSV ({err})") from None
    decoded = decode_csv(data, path_str)
    rows = parse_rows(decoded.text, path_str)
    if not rows:
        raise DatasetError(f"{path_str}: the CSV is empty")
    report = CsvReport(path_str, encoding=decoded.encoding, notes=list(decoded.notes))
    header = rows[0][1]
    columns = _map_header(header, report)
    if "file" not in columns.values():
        raise DatasetError(f"{path_str}: no file column; the header needs one of "
                           f"{', '.join(ALIASES['file'])} (found: {', '.join(header)})")
    report.columns = list(columns.values())
    headers = {column: header[i].strip() for i, column in columns.items()}
    index = _SampleIndex(dataset)
    seen: dict[str, int] = {}
    for number, row in rows[1:]:
        if not any(cell.strip() for cell in row):
            continue
        report.rows += 1
        cells = {columns[i]: unescape_formula(cell) for i, cell in enumerate(row) if i in columns}
        _report_swallowed_rows(cells, number, headers, report)
        sample = index.match(cells.get("file", ""), CsvIssue(number, headers["file"], ""), report)
        if sample is None:
            continue
        if sample.audio in seen:
            report.issues.append(CsvIssue(number, headers["file"], f"{dataset.key(sample)} was already set by "
                                           f"row {seen[sample.audio]}; this row wins"))
        seen[sample.audio] = number
        _apply_row(sample, cells, number, report, headers)
        report.matched += 1
    log.info("%s", report.summary())
    return report


_AUDIO_NAME = re.compile(r"[^\n]*\.(wav|flac|mp3|ogg|opus|m4a|aac)\b", re.IGNORECASE)


def _report_swallowed_rows(cells: dict[str, str], number: int, headers: dict[str, str], report: CsvReport) -> None:
    """A cell whose later lines start like rows of this file: a quote was not closed where it should."""
    for column, cell in cells.items():
        later = cell.split("\n")[1:]
        if any(_AUDIO_NAME.match(line.strip().strip('"')) for line in later):
            report.issues.append(CsvIssue(number, headers[column], "this cell runs over several lines that look "
                                          "like rows of their own: is a quote in it left open? Check them"))


def _map_header(header: list[str], report: CsvReport) -> dict[int, str]:
    columns: dict[int, str] = {}
    for i, name in enumerate(header):
        key = " ".join(name.strip().lower().split())
        column = _ALIAS_TO_COLUMN.get(key) or _ALIAS_TO_COLUMN.get(key.replace(" ", "_"))
        if column is None:
            if key:
                report.issues.append(CsvIssue(1, name, "unknown column, ignored; known: " + ", ".join(COLUMNS)))
        elif column in columns.values():
            report.issues.append(CsvIssue(1, name, f"a second {column} column, ignored"))
        else:
            columns[i] = column
    return columns


def _apply_row(sample: Sample, cells: dict[str, str], number: int, report: CsvReport,
               headers: dict[str, str]) -> None:
    """Set each parsed cell; a cell that does not parse is reported under the file's own header."""
    for column, cell in cells.items():
        if column == "file":
            continue
        attribute = ATTRIBUTE[column]
        try:
            setattr(sample, attribute, FIELD_PARSERS[attribute](cell))
        except LabelError as err:
            report.issues.append(CsvIssue(number, headers[column], str(err)))
    if "labeled" not in cells and (sample.caption or sample.genre):
        sample.labeled = True


class _SampleIndex:
    """Finds a sample by its path inside the scanned folder, or by its unique file name."""

    def __init__(self, dataset: Dataset) -> None:
        self.folder = dataset.audio_folder()
        # Names as exported (bytes that are not UTF-8 shown as U+FFFD): a CSV cannot hold others.
        self.by_key = {readable(dataset.key(s)): s for s in dataset.samples}
        self.by_name: dict[str, list[Sample]] = {}
        for s in dataset.samples:
            self.by_name.setdefault(readable(s.filename).lower(), []).append(s)

    def match(self, raw: str, where: CsvIssue, report: CsvReport) -> Sample | None:
        """The sample a file cell names, or None with the reason added to the report at `where`."""
        text = raw.strip().strip('"')

        def problem(message: str) -> None:
            report.issues.append(replace(where, message=message))

        if not text:
            problem("empty file name; row ignored")
            return None
        key = self._relative(text)
        if key is None:
            problem(f"{text!r} points outside the dataset folder {self.folder}; row refused")
            return None
        if key in self.by_key:
            return self.by_key[key]
        same_name = self.by_name.get(posixpath.basename(key).lower(), [])
        if len(same_name) == 1:
            return same_name[0]
        if same_name:
            names = ", ".join(readable(s.audio) for s in same_name[:4])
            problem(f"{text!r} matches several files ({names}); give the path inside the folder")
        else:
            problem(f"{text!r} matches no audio file in the dataset")
        return None

    def _relative(self, text: str) -> str | None:
        """The path relative to the scanned folder, posix; None when it leads outside."""
        pure = PureWindowsPath(text) if "\\" in text or ":" in text[:3] else PurePosixPath(text)
        if pure.is_absolute() or pure.drive:
            try:
                return Path(os.path.normpath(str(pure))).relative_to(self.folder).as_posix()
            except ValueError:
                return None
        normal = posixpath.normpath("/".join(pure.parts))
        if normal == ".." or normal.startswith("../"):
            return None
        return normal


# A cell starting with one of these is a formula to a spreadsheet (CSV injection): `=HYPERLINK(...)`
# in a caption would run when the export is opened. Export writes such a cell with a leading
# apostrophe, which spreadsheets show as text; import takes exactly one apostrophe off again.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(text: str) -> str:
    """`=1+1` -> `'=1+1`; apostrophes already before a formula start get one more (lossless)."""
    return "'" + text if text.lstrip("'").startswith(FORMULA_STARTS) else text


def unescape_formula(text: str) -> str:
    """The inverse of `escape_formula`: one apostrophe off a cell that escapes a formula start."""
    return text[1:] if text.startswith("'") and text.lstrip("'").startswith(FORMULA_STARTS) else text


def export_rows(dataset: Dataset) -> list[dict[str, str]]:
    """One dict per sample with the CSV columns as text (file = path inside the scanned folder);
    cells a spreadsheet would run as formulas are escaped."""
    return [{column: escape_formula(value) for column, value in row.items()} for row in _plain_rows(dataset)]


def _plain_rows(dataset: Dataset) -> list[dict[str, str]]:
    out = []
    for s in dataset.samples:
        out.append({
            "file": readable(dataset.key(s)), "caption": s.caption, "genre": s.genre, "lyrics": s.lyrics,
            "bpm": "" if s.bpm is None else str(s.bpm), "keyscale": s.keyscale,
            "timesignature": s.timesignature, "language": s.language,
            "instrumental": "true" if s.is_instrumental else "false",
            "prompt_override": s.prompt_override or "", "custom_tag": s.custom_tag,
            "labeled": "true" if s.labeled else "false",
        })
    return out


def csv_text(dataset: Dataset) -> str:
    """The export as text: a header of COLUMNS, one row per sample, comma separated."""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(export_rows(dataset))
    return buffer.getvalue()


def export_csv(dataset: Dataset, path: str | os.PathLike) -> Path:
    """Write every sample's labels as CSV (comma, UTF-8), atomically; returns the path."""
    path = Path(path).absolute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, csv_text(dataset))
    except OSError as err:
        raise DatasetError(f"{path}: cannot write the CSV ({err})") from None
    return path
