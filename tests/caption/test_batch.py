"""The caption batch in this process, with a scripted provider standing in for the model: what it
writes into a dataset (user labels kept, trigger word out, .bak kept), sidecars and the CSV."""
from __future__ import annotations

import json
import shutil

import pytest

from daemon.caption import batch
from daemon.caption.merge import merge, proposals, strip_trigger
from daemon.caption.providers import Answer, Provider
from shared.caption_settings import CaptionSettings
from shared.dataset import backup_path, load_dataset, save_dataset
from shared.dataset_csv import import_csv
from shared.dataset_scan import scan_folder
from tests.caption.conftest import caption_manager
from tests.conftest import job_context

SAID = {  # what the scripted captioner says per file
    "vocal/march.wav": "demotone, A bold brass march in two.\nKey: Bb major\nGenre: march",
    "vocal/cancion.wav": "A latin groove with a woodblock, DEMOTONE style.\nGenre: latin\nBPM: 111",
}


class ScriptedCaptioner(Provider):
    name = "local"
    can_caption = True
    closed = False

    def caption(self, clip, *, lyrics=False):
        from shared.caption_parse import parse_caption
        from daemon.caption.providers import caption_labels

        raw = SAID[clip.key]
        return Answer("local", "scripted", raw, caption_labels(parse_caption(raw)))

    def close(self):
        ScriptedCaptioner.closed = True


@pytest.fixture
def scripted(monkeypatch):
    monkeypatch.setattr(batch, "make_provider", lambda *args, **kwargs: ScriptedCaptioner())


@pytest.fixture
def small_dataset(clip_folder):
    """A dataset of the two clips with a trigger word; cancion.wav has a caption the user wrote."""
    dataset = scan_folder(clip_folder).dataset
    dataset.options = dataset.options.replace(trigger_word="demotone")
    dataset.find("vocal/cancion.wav").caption = "my own words for this one"
    path = clip_folder / "dataset.json"
    save_dataset(dataset, path)
    return path


def run(tmp_path, settings, name="run"):
    ctx = job_context(caption_manager(tmp_path), tmp_path / name, "caption", settings)
    return batch.run_caption(ctx, settings), tmp_path / name


def test_dataset_gets_the_labels_but_keeps_the_users_and_no_trigger_word(scripted, small_dataset, tmp_path):
    result, run_dir = run(tmp_path, CaptionSettings(source=str(small_dataset)))
    assert result["captioned"] == 2 and result["dataset"]["updated"] == 2
    dataset = load_dataset(small_dataset)
    march, cancion = dataset.find("vocal/march.wav"), dataset.find("vocal/cancion.wav")
    assert march.caption == "A bold brass march in two." and march.keyscale == "Bb major"
    assert march.genre == "march" and march.bpm == 112 and march.labeled  # bpm from the signal
    assert cancion.caption == "my own words for this one"  # the user's caption stays
    assert cancion.genre == "latin" and cancion.bpm == 111  # empty fields are filled
    assert "demotone" not in json.dumps([march.caption, cancion.genre]).lower()
    assert dataset.options.trigger_word == "demotone"
    assert backup_path(small_dataset).is_file()  # the file before the run
    assert result["kept"] == 1


def test_overwrite_replaces_the_users_caption(scripted, small_dataset, tmp_path):
    run(tmp_path, CaptionSettings(source=str(small_dataset), overwrite_labels=True))
    cancion = load_dataset(small_dataset).find("vocal/cancion.wav")
    assert cancion.caption == "A latin groove with a woodblock, style."


def test_the_csv_imports_back_unchanged(scripted, clip_folder, tmp_path):
    result, run_dir = run(tmp_path, CaptionSettings(source=str(clip_folder), lyrics=False))
    records = {r["file"]: r for r in json.loads((run_dir / "results.json").read_text())["files"]}
    fresh = tmp_path / "fresh"  # the same audio without the sidecars: labels come from the CSV alone
    shutil.copytree(clip_folder, fresh, ignore=shutil.ignore_patterns("*.json"))
    dataset = scan_folder(fresh).dataset
    report = import_csv(dataset, run_dir / "captions.csv")
    assert report.ok and report.matched == 2, report.issues
    for sample in dataset.samples:
        labels = records[sample.audio]["labels"]
        assert {name: getattr(sample, name) for name in labels} == labels
    sidecar_scan = scan_folder(clip_folder).dataset  # the sidecars say the same
    for sample in sidecar_scan.samples:
        assert sample.caption == records[sample.audio]["labels"]["caption"]


def test_a_sidecar_the_user_wrote_keeps_its_values_or_a_backup(scripted, clip_folder, tmp_path):
    mine = clip_folder / "vocal" / "march.json"
    original = {"genre": "military", "custom_tag": "x"}
    mine.write_text(json.dumps(original), encoding="utf-8")
    run(tmp_path, CaptionSettings(source=str(clip_folder)))
    data = json.loads(mine.read_text(encoding="utf-8"))
    assert data["genre"] == "military" and data["custom_tag"] == "x" and data["keyscale"] == "Bb major"
    assert not (clip_folder / "vocal" / "march.json.bak").exists()  # nothing of the user's changed
    run(tmp_path, CaptionSettings(source=str(clip_folder), overwrite_labels=True, redo=True), "run2")
    assert json.loads(mine.read_text(encoding="utf-8"))["genre"] == "march"
    backup = json.loads((clip_folder / "vocal" / "march.json.bak").read_text())
    assert backup["genre"] == "military" and backup["custom_tag"] == "x"  # the file before the value was replaced


def test_merge_rules():
    caption = {"labels": {"caption": "mystyle, warm pop", "keyscale": "C major"}}
    signal = {"bpm": 119.6, "keyscale": "G major", "key_confidence": 0.9}
    proposed = proposals(caption, {"labels": {"lyrics": "", "is_instrumental": True}}, signal, "mystyle")
    assert proposed == {"caption": "warm pop", "keyscale": "C major", "bpm": 120, "lyrics": "",
                        "is_instrumental": True}
    labels, kept = merge({"lyrics": "la la"}, proposed)
    assert labels["lyrics"] == "la la" and not labels["is_instrumental"] and kept == ["lyrics", "is_instrumental"]
    labels, _ = merge({"caption": "old run"}, proposed, ours={"caption": "old run"})
    assert labels["caption"] == "warm pop"  # an earlier run's value is replaced, a user's is not
    assert strip_trigger("A song, Mystyle; with drums", "mystyle") == "A song, with drums"
    weak = proposals(None, None, {"bpm": None, "keyscale": "D minor", "key_confidence": 0.05})
    assert weak == {}
