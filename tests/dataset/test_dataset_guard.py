"""No label is lost without asking: a scan keeps the labels already known for its files, a save that
would drop labels or options the file on disk has is refused unless forced, the file it replaces
is kept as `.bak` (issue 9 item 1)."""
from __future__ import annotations

import pytest

from shared.cli import main
from shared.dataset import backup_path, load_dataset, save_dataset
from shared.dataset_guard import LabelLossError
from shared.dataset_scan import label_sources, scan_folder, scan_keeping_labels
from tests.dataset.conftest import write_audio


def labelled_file(folder):
    """dataset.json in `folder`: every sample captioned, a BPM on one, trigger word set."""
    dataset = scan_folder(folder).dataset
    for index, sample in enumerate(dataset.samples):
        sample.caption, sample.labeled = f"caption {index}", True
    dataset.samples[1].bpm = 96
    dataset.options = dataset.options.replace(trigger_word="mystyle", genre_ratio=0.25)
    path = folder / "dataset.json"
    save_dataset(dataset, path)
    return path


def test_a_scan_keeps_the_labels_of_the_folders_dataset_file(audio_folder):
    path = labelled_file(audio_folder)
    write_audio(audio_folder / "new.wav", 1.0)
    sources, problems = label_sources(audio_folder, None)
    result = scan_keeping_labels(audio_folder, sources)
    assert not problems and result.dataset.options.trigger_word == "mystyle"
    by_key = {s.audio: s for s in result.dataset.samples}
    assert by_key["beta.wav"].caption == "caption 1" and by_key["beta.wav"].bpm == 96
    assert not by_key["new.wav"].labeled  # a new file joins unlabelled
    save_dataset(result.dataset, path)  # nothing dropped: no confirmation needed
    assert sum(s.labeled for s in load_dataset(path).samples) == 3


def test_the_open_dataset_wins_over_the_file(audio_folder):
    labelled_file(audio_folder)
    open_dataset = load_dataset(audio_folder / "dataset.json")
    open_dataset.samples[0].caption = "unsaved edit"
    sources, _ = label_sources(audio_folder, open_dataset)
    result = scan_keeping_labels(audio_folder, sources)
    assert result.dataset.samples[0].caption == "unsaved edit"
    assert result.dataset.samples[2].caption == "caption 2"


def test_gone_files_are_reported_not_unreadable_ones(audio_folder):
    labelled_file(audio_folder)
    (audio_folder / "beta.wav").unlink()
    (audio_folder / "alpha.wav").write_bytes(b"no longer audio")
    result = scan_keeping_labels(audio_folder, label_sources(audio_folder, None)[0])
    reasons = {p.path: p.reason for p in result.problems}
    assert reasons["beta.wav"] == "no longer in the folder; removed from the dataset"
    assert reasons["alpha.wav"].startswith("not a valid .wav file")


def test_a_save_that_drops_labels_is_refused_then_forced_with_a_backup(audio_folder):
    path = labelled_file(audio_folder)
    original = path.read_bytes()
    fresh = scan_folder(audio_folder).dataset
    with pytest.raises(LabelLossError) as refused:
        save_dataset(fresh, path)
    assert path.read_bytes() == original and not backup_path(path).exists()
    losses = refused.value.losses
    assert "trigger word 'mystyle'" in losses and "genre ratio 0.25" in losses
    # alpha's caption sidecar gives it another caption: changed, not lost
    assert losses[2:] == ["caption of 2 samples (beta.wav, sub/gamma.wav)", "BPM of 1 sample (beta.wav)"]
    save_dataset(fresh, path, force=True)
    assert backup_path(path).read_bytes() == original
    assert load_dataset(path).options.trigger_word == ""


def test_dropped_samples_and_foreign_files_are_losses(audio_folder, tmp_path):
    path = labelled_file(audio_folder)
    smaller = load_dataset(path)
    del smaller.samples[0]
    with pytest.raises(LabelLossError, match=r"1 labelled sample no longer in the dataset \(alpha.wav\)"):
        save_dataset(smaller, path)
    other = tmp_path / "notes.json"
    other.write_text('{"my": "notes"}')
    with pytest.raises(LabelLossError, match="not a dataset this program reads"):
        save_dataset(smaller, other)
    assert other.read_text() == '{"my": "notes"}'


def test_edits_are_not_losses_and_each_save_keeps_one_generation(audio_folder):
    path = labelled_file(audio_folder)
    first = path.read_bytes()
    dataset = load_dataset(path)
    dataset.samples[0].caption = "changed"
    save_dataset(dataset, path)
    second = path.read_bytes()
    assert backup_path(path).read_bytes() == first
    dataset.samples[0].caption = "changed again"
    save_dataset(dataset, path)
    assert backup_path(path).read_bytes() == second


def test_cli_scan_keeps_labels_and_refuses_to_drop_them_without_force(audio_folder, capsys):
    path = labelled_file(audio_folder)
    assert main(["dataset", "scan", str(audio_folder)]) == 0
    assert "3 samples (3 labeled)" in capsys.readouterr().out
    assert load_dataset(path).options.trigger_word == "mystyle"
    original = path.read_bytes()
    assert main(["dataset", "scan", "--fresh", str(audio_folder)]) == 1
    err = capsys.readouterr().err
    assert "trigger word 'mystyle'" in err and "--force" in err and path.read_bytes() == original
    assert main(["dataset", "scan", "--fresh", "--force", str(audio_folder)]) == 0
    assert load_dataset(path).options.trigger_word == "" and backup_path(path).read_bytes() == original


def test_cli_csv_import_that_clears_captions_needs_force(audio_folder, tmp_path, capsys):
    path = labelled_file(audio_folder)
    csv = tmp_path / "blank.csv"
    csv.write_text("file,caption\nalpha.wav,\n")
    assert main(["dataset", "import-csv", str(path), str(csv)]) == 1
    assert "caption of 1 sample (alpha.wav)" in capsys.readouterr().err
    assert load_dataset(path).samples[0].caption == "caption 0"
    assert main(["dataset", "import-csv", "--force", str(path), str(csv)]) == 0
    assert load_dataset(path).samples[0].caption == ""
