"""The Captioner page through AppTest against a real daemon: run the demo captioner over a dataset,
review a file beside its audio (bytes from the daemon), edit, accept into the dataset; settings
saved and restored."""
from __future__ import annotations

import time

from shared.dataset import load_dataset, save_dataset
from shared.dataset_scan import scan_folder
from tests.conftest import open_page


def wait_done(client, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = [j for j in client.jobs() if j["kind"] == "caption"]
        if jobs and jobs[-1]["state"] in ("done", "failed", "stopped", "cancelled"):
            return jobs[-1]
        time.sleep(0.3)
    raise AssertionError("the caption job did not end")


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


def test_caption_review_edit_and_accept(daemon_proc, demo_root, demo_captioners, clip_folder, monkeypatch):
    dataset = scan_folder(clip_folder).dataset
    dataset.options = dataset.options.replace(trigger_word="sks")
    dataset_file = clip_folder / "dataset.json"
    save_dataset(dataset, dataset_file)
    at = open_page(monkeypatch, daemon_proc.home, "pages/captioner.py")
    at.text_input(key="caption.source").set_value(str(dataset_file))
    at.number_input(key="caption.form.caption_max_tokens").set_value(16)
    button(at, "Caption").click().run()
    job = wait_done(daemon_proc.client)
    assert job["state"] == "done", job.get("error")

    at.run()
    assert not at.exception
    assert any("random weights" in w.value for w in at.warning)  # the demo model's text is noise, said so
    assert len(at.get("audio")) == 1  # the chosen file's player, its bytes from the daemon
    assert any("**Signal:** 110 BPM" in m.value for m in at.markdown)  # cancion.wav, listed first
    table = at.dataframe(key=f"caption.table.{job['id']}").value
    assert list(table["file"]) == ["vocal/cancion.wav", "vocal/march.wav"]
    assert list(table["signal BPM"]) == [110.0, 112.3] and list(table["signal key"]) == ["D minor", "Bb major"]

    at.text_area(key=f"caption.edit.{job['id']}.vocal/cancion.wav.caption").set_value("latin groove, woodblock")
    button(at, "Keep these edits").click().run()
    button(at, "Accept").click().run()
    assert not at.exception and any("1 sample" in s.value or "2 samples" in s.value for s in at.success)
    cancion = load_dataset(dataset_file).find("vocal/cancion.wav")
    assert cancion.caption == "latin groove, woodblock" and cancion.bpm == 110 and cancion.keyscale == "D minor"

    again = open_page(monkeypatch, daemon_proc.home, "pages/captioner.py")  # a new session
    assert again.text_input(key="caption.source").value == str(dataset_file)  # the settings came back
    assert again.number_input(key="caption.form.caption_max_tokens").value == 16
