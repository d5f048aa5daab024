"""The dashboard's entry point: one navigation, one file per page under `pages/`."""
from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` from anywhere
    sys.path.insert(0, str(ROOT))

from dashboard.workflow import render_workflow_strip  # noqa: E402

HERE = Path(__file__).parent

# (title, file under dashboard/, icon). Each feature adds its page here, in workflow order.
PAGES = [
    ("Quick start", "pages/quick_start.py", ":material/rocket_launch:"),  # first: the page `make run` opens
    ("Service", "pages/service.py", ":material/dns:"),
    ("Dataset", "pages/dataset.py", ":material/library_music:"),
    ("Captioner", "pages/captioner.py", ":material/subtitles:"),
    ("Preprocess", "pages/preprocess.py", ":material/memory:"),
    ("Train", "pages/train.py", ":material/model_training:"),
    ("Monitor", "pages/monitor.py", ":material/monitoring:"),
    ("Samples", "pages/samples.py", ":material/headphones:"),
    ("Export", "pages/export.py", ":material/ios_share:"),
]

st.set_page_config(page_title="ACE-Step LoRA Studio", page_icon=":material/graphic_eq:", layout="wide")
page = st.navigation([st.Page(str(HERE / path), title=title, icon=icon) for title, path, icon in PAGES])
render_workflow_strip()
page.run()
