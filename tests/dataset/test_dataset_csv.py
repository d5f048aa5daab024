"""CSV import with a row-by-row report, and export that imports back to the same dataset (DS-3)."""
from __future__ import annotations

import pytest

from shared.dataset_csv import export_csv, import_csv
from shared.dataset_scan import scan_folder
from shared.errors import DatasetError


def write(path, text: str, encoding: str = "utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def by_audio(dataset):
    return {s.audio: s for s in dataset.samples}


def test_semicolons_upper_case_headers_and_a_bom(audio_folder, tmp_path):
    dataset = scan_folder(audio_folder).dataset
    csv = write(tmp_path / "c.csv", "\ufeffFILENAME;Caption;GENRE;BPM;Key;TimeSignature;Language;Instrumental\n"
                                    "alpha.wav;soft piano;ballad;72;Dm;3/4;EN;no\n"
                                    "sub/gamma.wav;loud rock;rock;140 bpm;E major;4;de;yes\n")
    report = import_csv(dataset, csv)
    assert report.ok and report.rows == 2 and report.matched == 2
    alpha, gamma = by_audio(dataset)["alpha.wav"], by_audio(dataset)["sub/gamma.wav"]
    assert (alpha.caption, alpha.genre, alpha.bpm, alpha.keyscale, alpha.timesignature, alpha.language) == (
        "soft piano", "ballad", 72, "D minor", "3", "en")
    assert gamma.is_instrumental and gamma.bpm == 140 and alpha.labeled


def test_excel_sep_line_and_decimal_commas(audio_folder, tmp_path):
    dataset = scan_folder(audio_folder).dataset
    csv = write(tmp_path / "c.csv", "sep=;\r\nfile;caption;bpm\r\nalpha.wav;a, b, c;120,4\r\n")
    assert import_csv(dataset, csv).ok
    assert (dataset.samples[0].caption, dataset.samples[0].bpm) == ("a, b, c", 120)


def test_tabs_quoted_commas_and_multiline_lyrics(audio_folder, tmp_path):
    dataset = scan_folder(audio_folder).dataset
    csv = write(tmp_path / "c.tsv", 'path\tcaption\tlyrics\n'
                                    'beta.wav\t"slow, dreamy, wide"\t"[verse]\nline one\nline two"\n')
    report = import_csv(dataset, csv)
    assert report.ok
    beta = by_audio(dataset)["beta.wav"]
    assert beta.caption == "slow, dreamy, wide" and beta.lyrics == "[verse]\nline one\nline two"


def test_commas_with_quoted_commas_and_windows_encoding(audio_folder, tmp_path):
    dataset = scan_folder(audio_folder).dataset
    csv = write(tmp_path / "c.csv", 'file,caption\r\nalpha.wav,"café, crème"\r\n', encoding="cp1252")
    assert import_csv(dataset, csv).ok
    assert by_audio(dataset)["alpha.wav"].caption == "café, crème"


def test_matches_by_subfolder_path_by_file_name_and_by_absolute_path_inside(audio_folder, tmp_path):
    dataset = scan_folder(audio_folder).dataset
    csv = write(tmp_path / "c.csv", f"file,genre\nsub/gamma.wav,a\nbeta.wav,b\n./sub/../alpha.wav,c\n"
                                    f"{audio_folder / 'beta.wav'},d\nGAMMA.WAV,e\n")
    report = import_csv(dataset, csv)
    samples = by_audio(dataset)
    assert samples["alpha.wav"].genre == "c" and samples["beta.wav"].genre == "d"
    assert samples["sub/gamma.wav"].genre == "e"  # matched by file name, case-insensitive
    # the second row for beta and gamma are reported as overriding the first
    assert [(i.row, i.column) for i in report.issues] == [(5, "file"), (6, "file")]


def test_bad_rows_are_reported_row_by_row_and_the_rest_imports(audio_folder, tmp_path):
    dataset = scan_folder(audio_folder).dataset
    csv = write(tmp_path / "c.csv", "file,caption,bpm,key,mood\n"
                                    "alpha.wav,good row,fast,C major,happy\n"
                                    "missing.wav,nobody,100,,\n"
                                    "../outside.wav,refused,100,,\n"
                                    "/etc/passwd,refused,100,,\n"
                                    "beta.wav,ok,90,H minor,\n"
                                    ",,,,\n"
                                    ",no file,,,\n")
    report = import_csv(dataset, csv)
    issues = {(i.row, i.column): i.message for i in report.issues}
    assert "unknown column" in issues[(1, "mood")]
    assert "'fast' is not a BPM" in issues[(2, "bpm")]
    assert "matches no audio file" in issues[(3, "file")]
    assert "outside the dataset folder" in issues[(4, "file")]
    assert "outside the dataset folder" in issues[(5, "file")]
    assert "'H minor' is not a key" in issues[(6, "key")]
    assert "empty file name" in issues[(8, "file")]
    assert len(report.issues) == 7 and report.matched == 2 and report.rows == 6
    samples = by_audio(dataset)
    assert samples["alpha.wav"].caption == "good row" and samples["alpha.wav"].keyscale == "C major"
    assert samples["alpha.wav"].bpm is None  # the bad value is skipped, the row's other values import
    assert samples["beta.wav"].bpm == 90 and samples["beta.wav"].keyscale == ""
    assert "row 2, bpm:" in str(report.issues[1])


def test_an_ambiguous_file_name_is_reported(tmp_path):
    from tests.dataset.conftest import write_audio

    write_audio(tmp_path / "a" / "take.wav")
    write_audio(tmp_path / "b" / "take.wav")
    dataset = scan_folder(tmp_path).dataset
    report = import_csv(dataset, write(tmp_path / "c.csv", "file,caption\ntake.wav,x\nb/take.wav,y\n"))
    assert "matches several files" in report.issues[0].message and report.matched == 1


def test_no_file_column_is_an_error_naming_the_headers(audio_folder, tmp_path):
    with pytest.raises(DatasetError, match="no file column.*found: name, caption"):
        import_csv(scan_folder(audio_folder).dataset, write(tmp_path / "c.csv", "name,caption\na,b\n"))


def test_empty_cells_clear_and_absent_columns_leave_values_alone(audio_folder, tmp_path):
    dataset = scan_folder(audio_folder).dataset
    alpha = dataset.samples[0]
    alpha.genre, alpha.bpm = "kept", 100
    import_csv(dataset, write(tmp_path / "c.csv", "file,caption\nalpha.wav,\n"))
    assert alpha.caption == "" and alpha.genre == "kept" and alpha.bpm == 100


def test_export_then_import_gives_back_the_same_dataset(audio_folder, tmp_path):
    dataset = scan_folder(audio_folder).dataset
    a, b, g = dataset.samples
    a.caption, a.genre, a.bpm = "x, y; z\t\"q\"", "pop", 99
    a.keyscale, a.timesignature, a.language = "Eb minor", "6", "fr"
    b.lyrics, b.is_instrumental, b.prompt_override, b.custom_tag = "l1\nl2, with comma", True, "caption", "t"
    g.genre, g.prompt_override, g.labeled = "folk", "genre", True
    a.labeled = b.labeled = True
    csv = export_csv(dataset, tmp_path / "out" / "labels.csv")
    fresh = scan_folder(audio_folder).dataset
    report = import_csv(fresh, csv)
    assert report.ok, report.issues
    assert fresh.samples == dataset.samples
    header = csv.read_text(encoding="utf-8").splitlines()[0]
    assert header == "file,caption,genre,lyrics,bpm,keyscale,timesignature,language,instrumental," \
                     "prompt_override,custom_tag,labeled"
