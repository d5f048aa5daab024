"""The Captioner page with the `lm` provider, through AppTest against a real daemon on the demo assets:
the LM labels a file, its invented lyrics are flagged beside the editor and in the run's notes."""
from __future__ import annotations

import pytest

from daemon.caption.lm import LYRICS_NOTE
from dashboard.components.caption_review import LM_LYRICS
from shared.dataset_scan import scan_folder
from tests.caption.test_lm_labeller import write_clip
from tests.caption.test_page import button, wait_done
from tests.conftest import open_page


@pytest.mark.slow
def test_the_lm_provider_from_the_page(daemon_proc, demo_root, tmp_path, monkeypatch):
    folder = tmp_path / "songs"
    write_clip(folder / "song.wav", 1.0, 3)
    at = open_page(monkeypatch, daemon_proc.home, "pages/captioner.py")
    at.text_input(key="caption.source").set_value(str(folder))
    at.selectbox(key="caption.form.provider").set_value("lm")
    at.checkbox(key="caption.form.lyrics").check()
    at.selectbox(key="caption.form.lyrics_provider").set_value("lm")
    at.number_input(key="caption.form.caption_max_tokens").set_value(16)
    at.number_input(key="caption.form.lyrics_max_tokens").set_value(16)
    button(at, "Caption").click().run()
    job = wait_done(daemon_proc.client)
    assert job["state"] == "done", job.get("error")

    at.run()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert any("random weights" in w for w in warnings) and LM_LYRICS in warnings
    assert any(LYRICS_NOTE in m.value and "song.wav" in m.value for m in at.markdown)  # the run's notes
    sample = scan_folder(folder).dataset.find("song.wav")  # the sidecar the daemon wrote
    assert sample.caption and sample.bpm and sample.lyrics
