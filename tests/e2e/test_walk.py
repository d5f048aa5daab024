"""A new user's first adapter, in a real browser: load the demo model, scan the demo folder, import
the demo CSV, edit a caption in the table, set a trigger word, save, preprocess, train while the
loss chart gains points, stop, resume for a few more steps to the end, hear the run's samples,
export the adapter. Each page is saved as a screenshot under test-artifacts/e2e/. What the walk
finds confusing or broken is fixed in the pages, never here.
"""
from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import Page, expect

from shared.client import StudioClient
from tests.e2e import ui

CAPTION = "a wide cinematic theme, edited in the browser"
TRIGGER = "zqwalk"
LONG_RUN = 4000  # max steps of the run the walk stops: the stop ends it, however fast the machine
MORE_STEPS = 12  # the resumed run's steps after the stopped one's last


def wait_for(check, what: str, timeout_s: float = 240.0, every_s: float = 1.0):
    """Poll `check()` until it returns something truthy (what a person waiting at the page does)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"waited {timeout_s:.0f} s for {what}"
        time.sleep(every_s)


def loss_points(page: Page) -> int:
    return ui.charts(page).get("Loss", {}).get("loss", 0)


def load_the_demo_model(page: Page, shots) -> None:
    """Service page: Load, and the models panel shows the DiT loaded without a reload."""
    expect(page.get_by_role("heading", name="Service", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Deploy")).to_have_count(0)  # an app, not a Streamlit playground
    expect(page.get_by_text("Nothing loaded", exact=False)).to_be_visible()
    ui.click(page, "Load")
    expect(page.get_by_text("Loaded from acestep-v15-demo")).to_be_visible(timeout=120_000)
    expect(page.get_by_text("Nothing loaded", exact=False)).to_have_count(0)
    expect(page.get_by_text("load done", exact=True)).to_have_count(1)  # event log: once, in words
    ui.shot(page, shots, "01_service_loaded")


def label_the_dataset(page: Page, studio, shots) -> None:
    """Dataset page: scan the demo folder, import the CSV, edit a caption, set the trigger word, save."""
    folder = studio.demo_root / "dataset"
    ui.open_page(page, "Dataset")
    page.get_by_role("tab", name="Scan a folder").click()
    ui.type_into(page, "Audio folder (searched recursively, sidecars read)", str(folder))
    ui.click(page, "Scan")
    expect(page.get_by_test_id("stMetric").filter(has_text="Samples")).to_contain_text("8")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(folder / "captions.csv"))
    ui.settle(page)
    ui.click(page, "Import CSV")
    expect(page.get_by_text("captions.csv: 8 rows, 8 samples updated")).to_be_visible()

    ui.edit_cell(page, page.get_by_test_id("stDataFrame").first, row=0, column=2, text=CAPTION)  # 2: caption
    expect(ui.field(page, "Caption")).to_have_value(CAPTION)  # the one-sample editor (row 1) shows it landed
    ui.type_into(page, "Trigger word", TRIGGER)
    ui.shot(page, shots, "02_dataset_edited")
    ui.click(page, "Save")
    expect(page.get_by_text("Saved 8 samples to")).to_be_visible()
    saved = json.loads((folder / "dataset.json").read_text())
    assert saved["trigger_word"] == TRIGGER
    assert CAPTION in [s["caption"] for s in saved["samples"]]


def preprocess(page: Page, shots) -> None:
    """Preprocess page: the saved dataset and a folder beside it are filled in; start and wait."""
    ui.open_page(page, "Preprocess")
    assert field_value(page, "Dataset file").endswith("dataset.json")
    ui.click(page, "Start preprocessing")
    expect(page.get_by_text("Done: 8 written")).to_be_visible(timeout=900_000)
    ui.shot(page, shots, "03_preprocessed")


def field_value(page: Page, label: str) -> str:
    return ui.field(page, label).input_value()


def train(page: Page, shots, max_steps: int, resume: bool = False) -> None:
    """Train page: the quick-test preset, the tensors just made, at most `max_steps` steps; start."""
    ui.open_page(page, "Train")
    assert field_value(page, "Training tensors folder").endswith("tensors")
    if resume:
        ui.choose(page, "Resume from a checkpoint", "checkpoints/")  # the stopped run's, newest first
    else:
        ui.type_into(page, "Epochs", str(LONG_RUN))
    if not ui.field(page, "Max steps").is_visible():
        page.get_by_text("Training: advanced").click()
    ui.type_into(page, "Max steps", str(max_steps))
    ui.shot(page, shots, "05_train_resume" if resume else "04_train")
    ui.click(page, "Start training")


def watch_and_stop(page: Page, shots) -> None:
    """Monitor page: the loss chart gains points while the run goes; Stop saves and ends it, and the
    job selector says so without a reload."""
    ui.open_page(page, "Monitor")
    first = wait_for(lambda: loss_points(page) >= 3 and loss_points(page), "the first loss points")
    wait_for(lambda: loss_points(page) > first + 2, "more loss points", every_s=0.3)
    ui.shot(page, shots, "06_monitor_running")
    page.get_by_role("button", name="Stop (saves first)").click()
    expect(page.get_by_text("stopped.", exact=False).first).to_be_visible(timeout=120_000)
    selector = page.get_by_role("combobox", name="Job", exact=True)
    assert selector.input_value().startswith("Live")
    selector.click()  # the job selector lists the run as stopped now, without a reload
    expect(page.get_by_role("option").filter(has_text="· stopped")).to_have_count(1)
    expect(page.get_by_role("option").filter(has_text="· running")).to_have_count(0)
    page.keyboard.press("Escape")
    ui.shot(page, shots, "07_monitor_stopped")


def stopped_at(studio) -> int:
    """The step the stopped run saved at (the resumed run goes on from there)."""
    client = StudioClient(studio.home)
    try:
        run = client.request("runs", {"kinds": ["train"]})["runs"][0]
    finally:
        client.close()
    assert run["state"] == "stopped", run
    return run["last_step"]


def watch_to_the_end(page: Page, shots, steps: int) -> None:
    """Monitor page: the resumed run ends done at `steps`; its chart continues the stopped run's."""
    ui.open_page(page, "Monitor")
    expect(page.get_by_text(f"done: {steps} steps", exact=False)).to_be_visible(timeout=600_000)
    assert wait_for(lambda: loss_points(page) == steps, "every step of both runs on the loss chart")
    expect(page.get_by_text("resumed").first).to_be_visible()
    # the page redraws its frame once it sees the run end (a moment after the fragment shows it)
    wait_for(lambda: "check_circle Train" in ui.strip(page), "the workflow strip's Train step done", every_s=0.3)
    assert "check_circle Preprocess" in ui.strip(page)
    ui.shot(page, shots, "08_monitor_done")


def hear_the_samples(page: Page, shots) -> None:
    """Samples page: the newest run's clips, each a player with its audio."""
    ui.open_page(page, "Samples")
    players = page.locator("audio")
    expect(players.first).to_be_attached(timeout=60_000)
    assert all(player.get_attribute("src") for player in players.all())
    ui.shot(page, shots, "09_samples")


def export_the_adapter(page: Page, shots) -> None:
    """Export page: the newest run's adapter for ComfyUI; the workflow strip's Export turns done."""
    ui.open_page(page, "Export")
    ui.click(page, "Export")
    expect(page.get_by_text("export done:", exact=False)).to_be_visible(timeout=120_000)
    expect(page.get_by_text(".safetensors", exact=False).first).to_be_visible()
    ui.open_page(page, "Monitor")
    assert "check_circle Export" in ui.strip(page)
    ui.open_page(page, "Export")
    ui.shot(page, shots, "10_export")


@pytest.mark.timeout(1800)  # about 3 minutes alone on 2 cores; room for a busy machine
def test_a_new_user_trains_a_first_adapter(studio, page, artifacts):
    page.goto(f"{studio.url}/monitor")  # a bookmark: the first page this server shows is not the first in the menu
    ui.settle(page)
    expect(page.get_by_text("No job has run yet")).to_be_visible()
    assert "radio_button_unchecked Dataset" in ui.strip(page)  # the app's frame around every page
    ui.open_page(page, "Service")
    load_the_demo_model(page, artifacts)
    label_the_dataset(page, studio, artifacts)
    preprocess(page, artifacts)
    train(page, artifacts, LONG_RUN)
    watch_and_stop(page, artifacts)
    steps = stopped_at(studio) + MORE_STEPS
    train(page, artifacts, steps, resume=True)
    watch_to_the_end(page, artifacts, steps)
    hear_the_samples(page, artifacts)
    export_the_adapter(page, artifacts)
