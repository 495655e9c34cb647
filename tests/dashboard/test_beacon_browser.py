"""Strings from data never make the viewer's browser fetch anything: an image-beacon test.

The sample exports are rewritten so that grader ids, cohort ids, a role, sources and
self-identification values carry payloads (a Markdown image, an HTML image, an HTML link with
bold text, a javascript: link, a spreadsheet formula) pointing at a tiny HTTP server on
127.0.0.1 that records every request. `signalboard serve` then runs on that warehouse and
headless Chromium visits every page, picks the views that draw the payloads in charts, and runs
an SQL query that returns them. The test fails if the beacon server got any request, or if any
page holds a link or image made from data; it checks that payloads are shown as their literal
text. Skips without /usr/bin/chromium (fails under CI=true), like tests/dashboard/test_browser.py.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from dashboard.app import PAGE_SPECS
from dashboard.escape import WORD_JOINER
from etl.load import load_paths
from signalboard.settings import Settings
from tests.browser_helpers import (
    APP_IDLE,
    EXCEPTIONS,
    chromium_page,
    require_chromium,
    serving,
)
from tests.conftest import SAMPLE_DIR

pytestmark = pytest.mark.browser


class Beacon:
    """An HTTP server on 127.0.0.1 that answers 204 and remembers every path asked for."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        seen = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                seen.append(self.path)
                self.send_response(204)
                self.end_headers()

            do_POST = do_HEAD = do_GET  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def payloads(base: str) -> dict[str, str]:
    """One payload per place in the exports (no commas: filters are shared as a,b lists)."""
    return {
        "grader_md": f"![g]({base}/beacon-grader-md)",
        "grader_html": f"<img src={base}/beacon-grader-html>",
        "cohort_md": f"![c]({base}/beacon-cohort-md)",
        "cohort_html": f"<img src={base}/beacon-cohort-html>",
        "role": f"<a href={base}/beacon-role><b>data_analyst</b></a>",
        "source_formula": f'=HYPERLINK("{base}/beacon-formula")',
        "source_js": "[link](javascript:alert(1))",
        "attribute_html": f"<img src={base}/beacon-attribute-html>",
        "attribute_md": f"![a]({base}/beacon-attribute-md)",
    }


def hostile_exports(folder: Path, p: dict[str, str]) -> Path:
    """data/sample/ with ids, a role, sources and self-ID values replaced by payloads."""
    shutil.copytree(SAMPLE_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))

    def rewrite(name: str, column: str, mapping: dict[str, str]) -> None:
        frame = pd.read_csv(folder / name, dtype=str, keep_default_na=False)
        frame[column] = frame[column].replace(mapping)
        frame.to_csv(folder / name, index=False)

    # G03 is the sample's planted harsh grader and DA-2025-11-24 its planted funnel alert
    # (docs/generator.md), so both payloads reach the pages' warning boxes too.
    rewrite("scores.csv", "grader_id", {"G03": p["grader_md"], "G05": p["grader_html"]})
    for name in ("applications.csv", "cohorts.csv"):
        rewrite(name, "cohort_id", {"DA-2025-11-24": p["cohort_md"], "SE-2025-01-30": p["cohort_html"]})  # fmt: skip
        rewrite(name, "role", {"data_analyst": p["role"]})
    rewrite("applications.csv", "source", {"social": p["source_formula"], "referral": p["source_js"]})  # fmt: skip
    rewrite("demographics.csv", "age_band", {"18-24": p["attribute_html"]})
    rewrite("demographics.csv", "disability", {"Yes": p["attribute_md"]})
    return folder


@pytest.fixture(scope="module")
def beacon() -> Iterator[Beacon]:
    server = Beacon()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def hostile_server(beacon: Beacon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`signalboard serve` on a warehouse loaded from the hostile exports; its base URL."""
    require_chromium()
    folder = tmp_path_factory.mktemp("hostile")
    exports = hostile_exports(folder / "exports", payloads(beacon.base))
    settings = Settings(db_path=folder / "warehouse.duckdb", pseudonym_key_file=folder / "key")
    load_paths([exports], settings=settings, progress=False)
    with serving(settings.db_path, folder / "server.log") as url:
        yield url


def _idle(page) -> None:
    page.wait_for_timeout(300)  # let a rerun a click started begin before waiting for its end
    page.locator(APP_IDLE).wait_for(state="attached")


def _pick(page, label: str, option: str) -> None:
    """Choose `option` in the selectbox labelled `label`."""
    box = page.get_by_test_id("stSelectbox").filter(has_text=label).first
    choice = page.locator("[role='option']").filter(has_text=option).first
    # A rerun that redraws the widget closes its open list: open it again until the option shows.
    for _ in range(10):
        box.locator("input").first.click()
        try:
            choice.wait_for(state="visible", timeout=3000)
            break
        except Exception:  # playwright's TimeoutError; the list closed before it showed
            page.keyboard.press("Escape")
    choice.click()
    _idle(page)


def _no_markup_from_data(page, beacon: Beacon) -> None:
    """No element made from a payload: no link to the beacon or javascript:, no image from it."""
    for selector in (
        f"[href*='{beacon.base}']",
        f"[src*='{beacon.base}']",
        "[href^='javascript']",
        "a[href*='beacon']",
        "img[src*='beacon']",
    ):
        found = page.locator(selector)
        assert found.count() == 0, (
            selector,
            [
                e.evaluate(
                    "e => e.outerHTML.slice(0, 300) + ' IN ' + e.parentElement.parentElement.outerHTML.slice(0, 300)"
                )
                for e in found.all()
            ],
        )


def _page_text(page) -> str:
    """The page's text as shown, SVG (plotly) included, without the invisible word joiners."""
    return page.evaluate("() => document.body.textContent").replace(WORD_JOINER, "")


def test_no_page_fetches_or_links_anything_from_data(hostile_server: str, beacon: Beacon) -> None:
    p = payloads(beacon.base)
    fetched: list[str] = []
    shown: dict[str, str] = {}
    with chromium_page() as page:
        # Everything the page asks for that is not the app itself (images, links followed).
        page.on(
            "request",
            lambda r: None if r.url.startswith(hostile_server) else fetched.append(r.url),
        )
        for spec in PAGE_SPECS:
            url = hostile_server + "/" + ("" if spec == PAGE_SPECS[0] else spec.url_path)
            page.goto(url)
            page.locator("h1", has_text=spec.title).first.wait_for(state="visible")
            _idle(page)
            if spec.url_path == "time_to_hire":
                page.get_by_test_id("stRadio").filter(has_text="Curves by").get_by_text(
                    "role", exact=True
                ).click()
                _idle(page)
            elif spec.url_path == "fairness":
                _pick(page, "Attribute", "disability")
            elif spec.url_path == "stipends":
                _pick(page, "Attribute", "age_band")
            elif spec.url_path == "sql":
                page.get_by_role("tab", name="Ad-hoc SQL").click()
                editor = page.get_by_role("textbox", name="SQL", exact=True)
                editor.fill(
                    "select source as label, count(*) as n from applications group by all\n"
                    "union all select role, count(*) from applications group by all\n"
                    "union all select cohort_id, count(*) from applications group by all\n"
                    "union all select grader_id, count(*) from scores group by all\n"
                    "order by n desc"
                )
                editor.press("Control+Enter")
                _idle(page)
                page.get_by_role("button", name="Run SQL").click()
                _idle(page)
                page.locator(".js-plotly-plot").first.wait_for(state="visible")
            assert page.locator(EXCEPTIONS).count() == 0, page.locator(EXCEPTIONS).all_inner_texts()
            _no_markup_from_data(page, beacon)
            shown[spec.url_path] = _page_text(page)

    assert beacon.requests == [], beacon.requests
    assert [u for u in fetched if "beacon" in u or beacon.base in u] == [], fetched
    # The payloads are on the pages as their text: in the warning boxes (Markdown) and in the
    # charts (plotly's SVG text).
    assert p["cohort_md"] in shown["funnel"]
    assert p["grader_md"] in shown["assessors"]
    assert p["role"] in shown["time_to_hire"]
    assert p["attribute_md"] in shown["fairness"]
    assert p["attribute_html"] in shown["stipends"]
    for key in ("source_formula", "source_js", "role", "cohort_html", "grader_html"):
        assert p[key] in shown["sql"], key
