"""The Dataset page through Streamlit's AppTest: open, edit in the table and one by one, options,
CSV import, scan problems, split job, save; edits survive reruns and page changes."""
from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from daemon.dataset_demo import write_demo_dataset
from shared.dataset import load_dataset, save_dataset
from tests.conftest import ROOT

APP = str(ROOT / "dashboard" / "app.py")
PAGE = "pages/dataset.py"


@pytest.fixture
def demo_file(tmp_path):
    return write_demo_dataset(tmp_path / "demo")


def open_page(monkeypatch, home, dataset_file=None) -> AppTest:
    monkeypatch.setenv("ACESTEP_STUDIO_HOME", str(home))
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    if dataset_file is not None:
        at.text_input(key="dataset.open.path").set_value(str(dataset_file))
        at.button(key="dataset.open").click().run()
        assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    return at


def editor(at: AppTest):
    version = at.session_state["dataset.table_version"]
    [table] = [d for d in at.data_editor if d.key == f"dataset.editor.{version}"]
    return table, f"dataset.editor.{version}"


def sample_key(at: AppTest, index: int) -> str:
    return f"dataset.sample.{at.session_state['dataset.editor_version']}.{index}"


def edit_cells(at: AppTest, rows: dict) -> None:
    _, key = editor(at)
    at.session_state[key] = {"edited_rows": rows, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception, at.exception


def test_open_edit_a_cell_and_save(tmp_path, monkeypatch, demo_file):
    at = open_page(monkeypatch, tmp_path / "home", demo_file)
    table, _ = editor(at)
    assert len(table.value) == 8 and table.value.loc[0, "file"] == "instrumental/theme.wav"
    assert table.proto.HasField("placeholder") and table.proto.placeholder == ""  # an empty BPM is blank, not None
    assert table.value.loc[0, "training prompt"].startswith("demotone, ")

    edit_cells(at, {0: {"caption": "edited in the table", "bpm": 101, "key": "F# minor"}})
    table, _ = editor(at)
    assert table.value.loc[0, "training prompt"] == "demotone, edited in the table"
    assert any("Unsaved" in c.value for c in at.caption)

    at.button(key="dataset.save").click().run()
    assert not at.exception and any("Saved 8 samples" in s.value for s in at.success)
    saved = load_dataset(demo_file).samples[0]
    assert (saved.caption, saved.bpm, saved.keyscale) == ("edited in the table", 101, "F# minor")


def test_edits_survive_reruns_and_a_page_change(tmp_path, monkeypatch, demo_file):
    at = open_page(monkeypatch, tmp_path / "home", demo_file)
    edit_cells(at, {1: {"genre": "bolero"}})
    at.run()
    at.switch_page("pages/service.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert at.session_state["dataset.working"].samples[1].genre == "bolero"
    table, _ = editor(at)
    assert table.value.loc[1, "genre"] == "bolero"
    # text typed in the one-sample editor and the page left in the same step: still kept
    key = sample_key(at, 0)
    at.text_area(key=f"{key}.caption").input("typed, then left the page")
    at.switch_page("pages/service.py").run()
    assert at.session_state["dataset.working"].samples[0].caption == "typed, then left the page"


def test_options_change_the_training_prompt(tmp_path, monkeypatch, demo_file):
    at = open_page(monkeypatch, tmp_path / "home", demo_file)
    key = f"dataset.options.{at.session_state['dataset.generation']}"
    at.text_input(key=f"{key}.trigger_word").set_value("newtag").run()
    at.selectbox(key=f"{key}.tag_position").set_value("append").run()
    at.selectbox(key=f"{key}.language").set_value("ja").run()
    assert not at.exception
    table, _ = editor(at)
    assert table.value.loc[0, "training prompt"] == "cinematic instrumental theme, wide chords, newtag"
    at.selectbox(key=f"{key}.tag_position").set_value("replace").run()
    assert any("captions are dropped" in w.value for w in at.warning)
    at.button(key="dataset.save").click().run()
    options = load_dataset(demo_file).options
    assert (options.trigger_word, options.tag_position, options.language_override) == ("newtag", "replace", "ja")


def test_one_sample_editor_applies_and_shows_the_prompts(tmp_path, monkeypatch, demo_file):
    at = open_page(monkeypatch, tmp_path / "home", demo_file)
    at.selectbox(key="dataset.pick").set_value(2).run()
    assert at.get("audio"), "the sample's audio player is shown"
    key = sample_key(at, 2)
    at.text_area(key=f"{key}.lyrics").input("[verse]\nnew words").run()
    assert sample_key(at, 2) == key  # not rebuilt under the user's hands
    at.checkbox(key=f"{key}.is_instrumental").check().run()
    assert not at.exception
    sample = at.session_state["dataset.working"].samples[2]
    assert sample.lyrics == "[verse]\nnew words" and sample.is_instrumental
    assert any("[Instrumental]<|endoftext|>" in c.value for c in at.code)


def test_csv_import_shows_the_row_report(tmp_path, monkeypatch, demo_file):
    at = open_page(monkeypatch, tmp_path / "home", demo_file)
    csv = tmp_path / "fix.csv"
    csv.write_text("File;Caption;BPM\nvocal/drive.wav;night drive;fast\nnope.wav;x;100\n", encoding="utf-8")
    at.text_input(key="dataset.csv.path").set_value(str(csv)).run()
    at.button(key="dataset.csv.import").click().run()
    assert not at.exception
    assert any("2 rows, 1 sample updated, 2 problems" in w.value for w in at.warning)
    report = [d.value for d in at.dataframe if "message" in d.value.columns][0]
    assert list(report["row"]) == [2, 3] and list(report["column"]) == ["BPM", "File"]
    table, _ = editor(at)
    assert "night drive" in set(table.value["caption"])


def test_opening_another_dataset_asks_before_dropping_unsaved_edits(tmp_path, monkeypatch, demo_file):
    at = open_page(monkeypatch, tmp_path / "home", demo_file)
    edit_cells(at, {0: {"caption": "unsaved"}})
    assert at.button(key="dataset.open").disabled
    at.checkbox(key="dataset.discard.open").check().run()
    at.button(key="dataset.open").click().run()
    assert at.session_state["dataset.working"].samples[0].caption != "unsaved"
    assert not at.button(key="dataset.open").disabled


def test_scan_lists_unreadable_files(tmp_path, monkeypatch, demo_file):
    (demo_file.parent / "broken.wav").write_bytes(b"not audio")
    at = open_page(monkeypatch, tmp_path / "home")
    at.text_input(key="dataset.scan.folder").set_value(str(demo_file.parent)).run()
    at.button(key="dataset.scan").click().run()
    assert not at.exception
    problems = [d.value for d in at.dataframe if "problem" in d.value.columns][0]
    assert list(problems["file"]) == ["broken.wav"]
    assert len(editor(at)[0].value) == 8


def test_split_without_a_daemon_says_so(tmp_path, monkeypatch, demo_file):
    at = open_page(monkeypatch, tmp_path / "no-daemon-home", demo_file)
    at.button(key="dataset.split.run").click().run()
    assert not at.exception
    assert any("daemon is not running" in e.value for e in at.error)


def test_split_submits_the_job_to_the_daemon(daemon, tmp_path, monkeypatch, demo_file):
    at = open_page(monkeypatch, daemon.home, demo_file)
    at.radio(key="dataset.split.seconds").set_value(30.0).run()
    at.button(key="dataset.split.run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    job_id = at.session_state["dataset.split.job"]
    job = daemon.wait(job_id, timeout=30)
    assert job["state"] == "done" and job["result"]["copied"] == 8
    settings = json.loads((daemon.home / "runs" / job_id / "settings.json").read_text())["settings"]
    assert settings["segment_seconds"] == 30.0 and settings["output_dir"].endswith("demo_30s")


def scan(at: AppTest, folder, keep: bool = True) -> None:
    at.text_input(key="dataset.scan.folder").set_value(str(folder))
    at.checkbox(key="dataset.scan.keep").set_value(keep).run()
    at.button(key="dataset.scan").click().run()
    assert not at.exception, at.exception


def labeled_metric(at: AppTest) -> str:
    return next(m.value for m in at.metric if m.label == "Labeled")


def test_scan_of_a_labelled_folder_keeps_its_labels_and_save_keeps_a_backup(tmp_path, monkeypatch, demo_file):
    before = load_dataset(demo_file)
    at = open_page(monkeypatch, tmp_path / "home")  # a fresh browser session: nothing open
    scan(at, demo_file.parent)
    assert labeled_metric(at) == "8/8"
    assert at.session_state["dataset.working"].options.trigger_word == "demotone"
    at.button(key="dataset.save").click().run()
    assert not at.exception and any("Saved 8 samples" in s.value for s in at.success)
    after = load_dataset(demo_file)
    assert after.options.trigger_word == "demotone"
    assert [(s.caption, s.genre, s.bpm, s.keyscale, s.labeled) for s in after.samples] == \
        [(s.caption, s.genre, s.bpm, s.keyscale, s.labeled) for s in before.samples]
    assert load_dataset(demo_file.with_name("dataset.json.bak")).options.trigger_word == "demotone"


def test_a_save_that_drops_labels_asks_first(tmp_path, monkeypatch, demo_file):
    original = demo_file.read_bytes()
    at = open_page(monkeypatch, tmp_path / "home")
    scan(at, demo_file.parent, keep=False)  # the user opted out: sidecars only
    assert labeled_metric(at) == "0/8"
    at.button(key="dataset.save").click().run()
    assert not at.exception and demo_file.read_bytes() == original
    [warning] = [w.value for w in at.warning if "drops" in w.value]
    assert "trigger word 'demotone'" in warning and "caption of 8 samples" in warning
    at.button(key="dataset.save.confirm").click().run()
    assert not at.exception and any("Saved 8 samples" in s.value for s in at.success)
    assert load_dataset(demo_file).options.trigger_word == ""
    assert demo_file.with_name("dataset.json.bak").read_bytes() == original


def test_a_failed_import_clears_the_last_report_and_names_every_file_column(tmp_path, monkeypatch, demo_file):
    at = open_page(monkeypatch, tmp_path / "home", demo_file)
    first = tmp_path / "first.csv"
    first.write_text("file,bpm\nvocal/drive.wav,fast\n", encoding="utf-8")
    at.text_input(key="dataset.csv.path").set_value(str(first)).run()
    at.button(key="dataset.csv.import").click().run()
    assert any("1 row, 1 sample updated, 1 problem;" in w.value for w in at.warning)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("name,caption\nx,y\n", encoding="utf-8")
    at.text_input(key="dataset.csv.path").set_value(str(wrong)).run()
    at.button(key="dataset.csv.import").click().run()
    assert not at.exception
    [error] = [e.value for e in at.error]
    assert "file, filename, file_name, path, audio, audio_path, filepath" in error
    assert not [w for w in at.warning if "updated" in w.value], "the first import's report is gone"
    assert not [d for d in at.dataframe if "message" in d.value.columns]


def test_a_new_browser_session_reopens_the_last_dataset(tmp_path, monkeypatch, demo_file):
    home = tmp_path / "home"
    open_page(monkeypatch, home, demo_file)
    at = open_page(monkeypatch, home)  # a browser reload: a new session, nothing in it
    assert at.session_state["dataset.path"] == str(demo_file)
    assert any(f"Reopened {demo_file}" in c.value for c in at.caption)
    assert len(editor(at)[0].value) == 8
    assert (home / "dashboard" / "recent.json").is_file()  # the dashboard's own file, not the daemon's


def test_the_table_is_never_rebuilt_under_the_user(tmp_path, monkeypatch, demo_file):
    """A rebuilt table drops what is being typed in it and an edit committed to the old one."""
    dataset = load_dataset(demo_file)
    for sample in dataset.samples:  # no key anywhere: the column held only empty cells
        sample.keyscale = ""
    save_dataset(dataset, demo_file, force=True)
    at = open_page(monkeypatch, tmp_path / "home", demo_file)
    table, key = editor(at)
    identity = table.proto.id
    pending = {0: {"key": "D major"}}
    at.session_state[key] = {"edited_rows": pending, "added_rows": [], "deleted_rows": []}
    at.run()
    assert editor(at)[0].proto.id == identity  # the first key in an empty column kept the table
    at.selectbox(key="dataset.pick").set_value(3).run()
    at.text_input(key=f"{sample_key(at, 3)}.genre").input("jazz").run()
    assert editor(at)[0].proto.id == identity  # an edit below, of a row the table did not edit
    pending[3] = {"caption": "typed in the table"}
    at.session_state[key] = {"edited_rows": pending, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception
    working = at.session_state["dataset.working"].samples
    assert (working[0].keyscale, working[3].caption, working[3].genre) == ("D major", "typed in the table", "jazz")
    assert at.text_area(key=f"{sample_key(at, 3)}.caption").value == "typed in the table"
    # the same cell edited below: the table is renewed, so its old edit is not applied over the new text
    at.text_area(key=f"{sample_key(at, 3)}.caption").input("typed below").run()
    assert working[3].caption == "typed below" and editor(at)[0].value.loc[3, "caption"] == "typed below"
