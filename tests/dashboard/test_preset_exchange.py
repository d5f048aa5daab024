"""The Train page's preset exchange through AppTest: a Side-Step preset imports into the form (keys
not carried shown), saves as a preset of one's own, the form exports as a Side-Step file, and the
epoch advice applies only on a click."""
from __future__ import annotations

import json

from shared.presets import list_presets
from tests.conftest import open_page
from tests.presets.test_formats import SIDESTEP_PRESET


def form(at) -> str:
    return f"train.f{at.session_state['train.form_version']}"


def test_a_sidestep_preset_imports_saves_and_the_form_exports(daemon, train_tensors, monkeypatch):
    at = open_page(monkeypatch, daemon.home, "pages/train.py")
    at.text_input(key=f"{form(at)}.tensors_dir").set_value(str(train_tensors)).run()
    epochs = at.number_input(key=f"{form(at)}.epochs").value
    assert any("Advice for this folder: 1500 epochs" in c.value for c in at.caption)
    assert at.number_input(key=f"{form(at)}.epochs").value == epochs  # advice is not applied unasked
    at.button(key="presets.apply_advice").click().run()
    assert at.number_input(key=f"{form(at)}.epochs").value == 1500
    assert at.number_input(key=f"{form(at)}.save_every_epochs").value == 200

    bad = json.dumps({**SIDESTEP_PRESET, "rank": 4096}).encode()
    at.file_uploader(key="presets.import_upload").set_value(("bad.json", bad, "application/json")).run()
    assert any("rank = 4096" in e.value and "above the maximum 1024" in e.value for e in at.error)

    text = json.dumps(SIDESTEP_PRESET).encode()
    at.file_uploader(key="presets.import_upload").set_value(("punchy.json", text, "application/json")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("target_loss = 0.05" in w.value for w in at.warning)
    at.button(key="presets.apply_import").click().run()
    assert at.selectbox(key="train.adapter_type").value == "lokr"  # a LoKr preset: the LoKr settings show
    assert at.number_input(key=f"{form(at)}.lokr_linear_dim").value == 24
    assert at.selectbox(key=f"{form(at)}.scheduler").value == "cosine_with_restarts"
    assert at.text_input(key=f"{form(at)}.tensors_dir").value == str(train_tensors)  # the paths are kept
    assert any("Not carried: target_loss" in w.value for w in at.warning)

    at.text_input(key="presets.import_name").set_value("punchy").run()
    at.button(key="presets.save_import").click().run()
    assert any("Saved as preset punchy" in s.value for s in at.success)
    assert "punchy" in [p.name for p in list_presets(home=daemon.home)]
    at.run()
    assert any(o.startswith("punchy") for o in at.selectbox(key="train.preset").options)

    assert any(b.proto.label == "Download the Side-Step preset" for b in at.get("download_button"))
    assert any("Side-Step has no key for:" in c.value and "crop_frames" in c.value for c in at.caption)
