"""What a user does on a Streamlit page, as Playwright calls: find a widget by the label they read,
type and press Enter, pick from a select box, click a button, wait for the page to settle.

Streamlit reruns the script after every interaction; `settle` waits until that rerun has drawn
(no running indicator, no stale or placeholder elements), so the next look sees its result.
"""
from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

# The page is settled when Streamlit is not running the script and nothing drawn is stale.
SETTLED_JS = """() => !document.querySelector('[data-testid="stStatusWidget"]')
    && !document.querySelector('[data-stale="true"]')
    && !document.querySelector('[data-testid="stSkeleton"]')"""
# Every plotly chart on the page: its title (Streamlit's theme bolds it) and the points of each
# trace (gaps not counted).
CHARTS_JS = """() => Object.fromEntries([...document.querySelectorAll('.js-plotly-plot')].map(g => [
    g.layout.title.text.replace(/<[^>]+>/g, ''),
    Object.fromEntries(g.data.map(t => [t.name, t.x.filter(x => x !== null).length]))]))"""

ROW_PX = 35  # a data editor's row (and header) height
MAIN_HEIGHT_JS = """() => document.querySelector('[data-testid="stMain"]')?.scrollHeight || 1000"""


def settle(page: Page, timeout_ms: int = 60_000) -> None:
    page.wait_for_timeout(300)  # a click's rerun starts a moment later
    page.wait_for_function(SETTLED_JS, timeout=timeout_ms, polling=200)


def open_page(page: Page, title: str) -> None:
    """Click the page's entry in the sidebar, as a user does."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
    settle(page)


def field(page: Page, label: str) -> Locator:
    return page.get_by_label(label, exact=True)


def type_into(page: Page, label: str, text: str) -> None:
    """Replace a text or number field's value and press Enter (Streamlit takes it then)."""
    box = field(page, label)
    box.fill(str(text))
    box.press("Enter")
    settle(page)


def choose(page: Page, label: str, option: str) -> None:
    """Open a select box and click the option whose text starts with `option`."""
    box = page.get_by_role("combobox", name=label, exact=True)
    wanted = page.get_by_role("option").filter(has_text=option).first
    for _ in range(5):  # a rerun that lands just after the click closes the list again: click again
        box.click()
        try:
            wanted.wait_for(timeout=3000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    wanted.click()
    settle(page)


def click(page: Page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()
    settle(page)


def edit_cell(page: Page, table: Locator, row: int, column: int, text: str) -> None:
    """Edit one cell of a data editor as a person does with the keyboard: click the row's first cell,
    arrow right to the column, Enter to open the editor, replace the text, Enter to commit. The grid
    is a canvas: its accessible twin (`glide-cell-<column>-<row>`) says which cell is selected."""
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    page.mouse.click(box["x"] + 20, box["y"] + ROW_PX * (row + 1) + ROW_PX // 2)  # below the header
    expect(table.locator(f"#glide-cell-0-{row}")).to_have_attribute("aria-selected", "true")
    for col in range(1, column + 1):
        page.keyboard.press("ArrowRight")
        expect(table.locator(f"#glide-cell-{col}-{row}")).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Enter")
    editor = page.locator("textarea.gdg-input")  # the grid's overlay editor
    expect(editor).to_be_visible()
    editor.fill(text)
    editor.press("Enter")
    settle(page)


def strip(page: Page) -> str:
    """The workflow strip's text, e.g. "check_circle Dataset → radio_button_unchecked Preprocess ..."."""
    return page.get_by_test_id("stCaptionContainer").filter(has_text="→").first.inner_text()


def charts(page: Page) -> dict[str, dict[str, int]]:
    return page.evaluate(CHARTS_JS)


def shot(page: Page, folder: Path, name: str) -> None:
    """A screenshot of the whole page (the main area scrolls itself: the window is made tall enough)."""
    settle(page)
    height = page.evaluate(MAIN_HEIGHT_JS)
    page.set_viewport_size({"width": 1400, "height": max(1000, min(int(height) + 100, 8000))})
    page.screenshot(path=str(folder / f"{name}.png"))
    page.set_viewport_size({"width": 1400, "height": 1000})


def dump(obj: object) -> str:
    return json.dumps(obj, indent=1, default=str)
