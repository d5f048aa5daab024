"""The Train page through AppTest against a real daemon: presets seed the form, a job starts on
the demo assets, wrong settings are named, profiles load; then the Monitor page opened late."""
from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from shared.presets import load_preset
from shared.train_profile import dump_profile, read_profile
from shared.train_settings import TrainSettings
from tests.conftest import ROOT
from tests.conftest import open_page
from tests.dashboard.conftest import plotly_traces


def form(at: AppTest) -> str:
    """The current key prefix of the form's widgets (a preset or a profile renews it)."""
    return f"train.f{at.session_state['train.form_version']}"


def test_train_page_starts_a_preset_job_and_monitor_draws_it_late(daemon, dit_dir, train_tensors, monkeypatch):
    rank = load_preset("quick_test").settings.rank
    at = open_page(monkeypatch, daemon.home, "pages/train.py")
    assert at.selectbox(key="train.preset").value == "quick_test"  # no GPU here: the short preset
    assert at.number_input(key=f"{form(at)}.rank").value == rank
    at.selectbox(key="train.preset").set_value("recommended").run()
    assert at.number_input(key=f"{form(at)}.rank").value == load_preset("recommended").settings.rank
    at.selectbox(key="train.preset").set_value("quick_test").run()

    at.text_input(key=f"{form(at)}.tensors_dir").set_value(str(train_tensors))
    at.text_input(key=f"{form(at)}.checkpoint").set_value(str(dit_dir))
    at.number_input(key=f"{form(at)}.epochs").set_value(2)
    at.number_input(key=f"{form(at)}.save_every_epochs").set_value(1)
    at.run()
    assert not at.error, [e.value for e in at.error]
    assert "2 sample(s)" in " ".join(c.value for c in at.caption)
    at.button(key="train.start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    job = daemon.jobs()[-1]
    assert job["kind"] == "train" and job["state"] in ("queued", "running")
    submitted = json.loads((Path(job["run_dir"]) / "settings.json").read_text())["settings"]
    assert submitted["rank"] == rank and submitted["epochs"] == 2 and submitted["tensors_dir"] == str(train_tensors)

    done = daemon.wait(job["id"], timeout=120)
    assert done["state"] == "done", done.get("error")
    at.run()
    assert any("Done:" in s.value for s in at.success)
    resume = at.selectbox(key=f"{form(at)}.resume")
    label = next(o for o in resume.options if "checkpoints/epoch_2 (epoch 2" in o)  # the new run's, to resume from
    resume.set_value(label).run()
    checkpoint = str(Path(job["run_dir"]) / "checkpoints" / "epoch_2")
    assert at.session_state["train.values"]["resume_from"] == checkpoint
    at.number_input(key=f"{form(at)}.rank").set_value(rank + 1).run()
    assert any(f"rank: {rank} → {rank + 1}" in w.value for w in at.warning)  # a resume would be refused: said before
    at.button(key="train.use_checkpoint_settings").click().run()
    assert at.number_input(key=f"{form(at)}.rank").value == rank
    assert at.selectbox(key=f"{form(at)}.resume").value == checkpoint

    # The Monitor page opened after the run: every step it logged (events went out only a few
    # times a second), the epoch closes, and what it checked before its first step.
    steps = done["result"]["global_step"]
    monitor = open_page(monkeypatch, daemon.home, "pages/monitor.py")
    charts = plotly_traces(monitor)
    assert charts["Loss"]["loss"] == steps
    assert charts["Loss"]["epoch loss"] == 2
    assert charts["Learning rate"]["learning rate"] == steps
    assert "Gradient norm" in charts
    assert any(job["id"] in s.value for s in monitor.success)
    assert any("2 samples" in c.value and "trainable parameters" in c.value for c in monitor.caption)  # pre-flight
    assert any("checkpoints/epoch_2 (epoch 2)" in c.value for c in monitor.caption)  # outputs with epochs

    # The same run picked in the selector.
    monitor.selectbox(key="monitor.job").set_value(job["id"]).run()
    assert plotly_traces(monitor)["Loss"]["loss"] == steps

    app = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=30)
    app.session_state["_studio_client"] = daemon  # as a page caches it: the strip asks the daemon
    app.run()
    strip = next(c.value for c in app.caption if "→" in c.value)
    assert ":material/check_circle: Train" in strip and ":material/radio_button_unchecked: Preprocess" in strip


def test_the_adapter_type_is_chosen_once_and_the_form_shows_its_settings_only(daemon, monkeypatch):
    at = open_page(monkeypatch, daemon.home, "pages/train.py")
    labels = [b.label for b in at.selectbox]
    assert labels.count("Adapter type") == 1 and not [label for label in labels if "variant" in label.lower()]
    shown = {w.key.split(".")[-1] for w in at.number_input}
    assert {"rank", "alpha"} <= shown and not {"lokr_linear_dim", "lokr_factor"} & shown

    at.selectbox(key="train.adapter_type").set_value("lokr").run()
    lokr = load_preset("quick_test", "lokr").settings
    basic = {w.key.split(".")[-1]: w.value for w in at.number_input}
    assert basic["lokr_linear_dim"] == lokr.lokr_linear_dim and basic["lokr_linear_alpha"] == lokr.lokr_linear_alpha
    assert "rank" not in basic and "alpha" not in basic  # LoRA's, not read by a LoKr
    folded = {w.key.split(".")[-1] for e in at.expander for w in e.number_input}
    assert "lokr_factor" in folded and not {"lokr_linear_dim", "lokr_linear_alpha"} & folded  # basic, in view
    assert at.session_state["train.values"]["adapter_type"] == "lokr"
    assert at.session_state["train.values"]["learning_rate"] == lokr.learning_rate  # the preset's LoKr variant


def test_wrong_settings_are_named_and_nothing_starts(daemon, train_tensors, monkeypatch, tmp_path):
    at = open_page(monkeypatch, daemon.home, "pages/train.py")
    assert any(e.value.startswith("Training tensors folder: choose") for e in at.error)
    assert at.button(key="train.start").disabled
    missing = tmp_path / "no-tensors"  # the daemon reads the folder (it may be on another machine) and says why
    at.text_input(key=f"{form(at)}.tensors_dir").set_value(str(missing)).run()
    assert [e.value for e in at.error] == [f"Training tensors folder: {missing}: not a folder of training tensors "
                                           "(no such folder)"]
    assert at.button(key="train.start").disabled
    at.text_input(key=f"{form(at)}.tensors_dir").set_value(str(train_tensors))
    at.selectbox(key=f"{form(at)}.optimizer").set_value("prodigy").run()
    assert any(e.value.startswith("Learning rate: Prodigy") for e in at.error)
    assert at.button(key="train.start").disabled
    assert daemon.jobs() == []


def test_profiles_load_with_unknown_keys_reported(daemon, train_tensors, monkeypatch):
    at = open_page(monkeypatch, daemon.home, "pages/train.py")
    bad = json.dumps({"settings": {"rank": "many"}}).encode()
    at.file_uploader(key="train.profile_upload").set_value(("bad.json", bad, "application/json")).run()
    assert any("bad.json" in e.value and "Rank: expected int" in e.value for e in at.error)

    profile = json.loads(dump_profile(TrainSettings(rank=24, epochs=7, tensors_dir=str(train_tensors)), "/d.json"))
    profile["settings"]["shift"] = 3.0
    text = json.dumps(profile).encode()
    at.file_uploader(key="train.profile_upload").set_value(("mine.json", text, "application/json")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.number_input(key=f"{form(at)}.rank").value == 24
    assert at.number_input(key=f"{form(at)}.epochs").value == 7
    assert at.text_input(key=f"{form(at)}.tensors_dir").value == str(train_tensors)
    assert any("shift" in w.value for w in at.warning)
    at.number_input(key=f"{form(at)}.rank").set_value(32).run()  # an edit after loading is kept
    assert at.number_input(key=f"{form(at)}.rank").value == 32


def test_profile_round_trip_keeps_every_setting():
    settings = TrainSettings(adapter_type="lokr", lokr_linear_dim=8, resume_from="/ck", tensors_dir="/t")
    profile = read_profile(dump_profile(settings, "/data/dataset.json"))
    assert profile.settings == settings and profile.dataset == "/data/dataset.json" and profile.unknown == []
    assert read_profile(json.dumps({"rank": 8, "odd": 1})).unknown == ["odd"]  # a bare settings object


def _tensors_default_script(home: str) -> None:
    import streamlit as st

    from dashboard.components.train_sources import default_tensors_dir
    from shared.client import StudioClient

    st.session_state["preprocess.output_dir"] = "/typed"
    st.text(default_tensors_dir(StudioClient(home)))


def test_the_tensors_folder_defaults_to_the_last_preprocessing_output(daemon):
    """Runs of an earlier daemon count: the newest preprocess run that ended done, as the daemon lists it."""
    for run_id, state, output in [("20250101-100000-preprocess-aaaaaa", "done", "/t/a"),
                                  ("20250101-110000-preprocess-bbbbbb", "failed", None),
                                  ("20250101-120000-train-cccccc", "done", None)]:
        folder = Path(daemon.home) / "runs" / run_id
        folder.mkdir(parents=True)
        (folder / "job.json").write_text(json.dumps({"id": run_id, "kind": run_id.split("-")[2], "state": state,
                                                     "result": {"output_dir": output} if output else None}))
    at = AppTest.from_function(_tensors_default_script, args=(str(daemon.home),))
    at.run()
    assert not at.exception, at.exception
    assert at.text[0].value == "/t/a"
