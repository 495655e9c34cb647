"""End to end in a real browser: the app served on localhost by `signalboard serve`, every page
opened in headless Chromium (Debian's package, driven by Playwright), no exception and no error
alert shown, the page's title visible, its tables drawn with human headers and formatted cells,
its findings block naming the sample's planted effects, and a full-page screenshot of each saved
to artifacts/screenshots/<page>.png.

Skips when /usr/bin/chromium is missing, except under CI=true, where `python3 dev.py test`
installs it and a missing browser is a failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard.app import PAGE_SPECS, PageSpec
from tests.browser_helpers import (
    APP_IDLE,
    ERROR_ALERTS,
    EXCEPTIONS,
    chromium_page,
    require_chromium,
    serving,
)
from tests.paths import REPO_ROOT
from tests.signalboard.analysis.test_findings import PLANTED

pytestmark = pytest.mark.browser

SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"


@pytest.fixture(scope="module")
def server(sample_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`signalboard serve` on the session's sample warehouse, on a free port; its base URL."""
    require_chromium()
    with serving(sample_db, tmp_path_factory.mktemp("server") / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser_page(server: str) -> Iterator[object]:
    with chromium_page() as page:
        yield page


def _url(base: str, spec: PageSpec) -> str:
    # The default page lives at the root; the others at their file name (st.Page's url_path).
    return base + "/" if spec == PAGE_SPECS[0] else f"{base}/{spec.url_path}"


def _screenshot(page, spec: PageSpec) -> Path:
    """A full-page screenshot in artifacts/screenshots/<page>.png."""
    # Streamlit scrolls inside its main block, not the document: grow the viewport to the
    # content so the full-page screenshot holds the whole page.
    height = page.evaluate(
        '() => Math.max(...[...document.querySelectorAll(\'[data-testid="stMain"], '
        '[data-testid="stAppViewContainer"]\')].map(e => e.scrollHeight), 900)'
    )
    page.set_viewport_size({"width": 1400, "height": min(int(height), 8000)})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"{spec.url_path}.png"
    page.screenshot(path=str(shot), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 900})
    return shot


# Last page first: the first request to the fresh server is then a deep link (/data_health),
# which Streamlit once served without the navigation and filters (see the entry script).
@pytest.mark.parametrize("spec", PAGE_SPECS[::-1], ids=[s.url_path for s in PAGE_SPECS[::-1]])
def test_every_page_in_a_real_browser(spec: PageSpec, server: str, browser_page) -> None:
    page = browser_page
    page.goto(_url(server, spec))
    page.locator("h1", has_text=spec.title).first.wait_for(state="visible")
    page.locator(APP_IDLE).wait_for(state="attached")
    # The sidebar's filters and warehouse line come from the entry point, on every page.
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Applied from").wait_for(state="visible")
    sidebar.get_by_text("As of", exact=False).first.wait_for(state="visible")

    # The screenshot comes first, so a failing page leaves its picture behind.
    shot = _screenshot(page, spec)
    exceptions = page.locator(EXCEPTIONS)
    assert exceptions.count() == 0, exceptions.all_inner_texts()
    # No error alert on any page: findings (a harsh grader, a cohort alert) are warnings, and a
    # red error box means something went wrong.
    alerts = page.locator(ERROR_ALERTS)
    assert alerts.count() == 0, alerts.all_inner_texts()
    sidebar_alerts = sidebar.locator(ERROR_ALERTS)
    assert sidebar_alerts.count() == 0, sidebar_alerts.all_inner_texts()
    assert page.locator("h1", has_text=spec.title).first.is_visible()
    assert shot.stat().st_size > 10_000
    _assert_tables_for_people(page, spec)
    _assert_findings_name_planted_effects(page, spec)


# What each page's findings block must name on the sample: the planted effects of the generator
# (docs/generator.md, the same words as report.html's summary in tests/signalboard/analysis/test_findings.py).
PAGE_FINDINGS: dict[str, tuple[tuple[str, ...], ...]] = {
    "funnel": (PLANTED["submission_leak"],),
    "time_to_hire": (("Micro-internship", "claimed 40% shorter"),),
    "assessors": (PLANTED["harsh_grader"], PLANTED["grader_group_bias"]),
    "fairness": (PLANTED["llm_triage_bias"],),
    "stipends": (PLANTED["stipend_gap"],),
}
# Cells a person should never read: machine blanks, midnight times, raw floats, big numbers
# without thousands separators.
RAW_CELL = re.compile(
    r"^(None|nan|NaN|<NA>|NaT)$|\d{2}:\d{2}:\d{2}|^-?\d+\.\d{5,}$|^-?\d{5,}(\.\d+)?$"
)


def _assert_tables_for_people(page, spec: PageSpec) -> None:
    """The tables as the browser draws them (the grid's accessible cells): human headers, and
    every visible cell formatted."""
    checked = 0
    grids = page.locator('[data-testid="stDataFrame"]')
    if spec.url_path != "sql":
        # The grid draws its cells after the script run ends.
        grids.locator('[role="columnheader"]').first.wait_for(state="attached")
    for index in range(grids.count()):
        grid = grids.nth(index)
        headers = [h.strip() for h in grid.locator('[role="columnheader"]').all_inner_texts()]
        headers = [h for h in headers if h]
        if not headers:  # in a closed expander or tab: not drawn
            continue
        checked += 1
        assert not [h for h in headers if "_" in h], (spec.url_path, headers)
        cells = grid.locator('[role="gridcell"]').all_inner_texts()
        raw = [c for c in cells if RAW_CELL.search(c.strip())]
        assert not raw, (spec.url_path, headers, raw[:5])
    if spec.url_path != "sql":  # the SQL page shows a table once a query runs
        assert checked, f"{spec.url_path}: no table drawn"


def _assert_findings_name_planted_effects(page, spec: PageSpec) -> None:
    expected = PAGE_FINDINGS.get(spec.url_path)
    if expected is None:
        return
    text = " ".join(page.locator(".st-key-findings").first.inner_text().split())
    for words in expected:
        assert all(w in text for w in words), (spec.url_path, words, text)


def test_shared_filters_survive_navigation(server: str, browser_page) -> None:
    """A shared URL sets the filters; clicking another page in the sidebar keeps them, URL too."""
    page = browser_page
    page.goto(f"{server}/time_to_hire?roles=data_analyst&from=2025-03-01")
    page.locator("h1", has_text="Time to hire").first.wait_for(state="visible")
    page.locator(APP_IDLE).wait_for(state="attached")
    sidebar = page.locator('[data-testid="stSidebar"]')
    role = sidebar.locator('[data-testid="stMultiSelect"]').first
    role.get_by_text("data_analyst").wait_for(state="visible")

    sidebar.get_by_role("link", name="Data health").click()
    page.locator("h1", has_text="Data health").first.wait_for(state="visible")
    page.locator(APP_IDLE).wait_for(state="attached")
    role.get_by_text("data_analyst").wait_for(state="visible")
    page.wait_for_url("**/data_health?*roles=data_analyst*")
    assert "from=2025-03-01" in page.url
    # The date widget's separators depend on the browser's locale: compare the digits.
    shown = sidebar.locator("input").first.input_value()
    assert "".join(ch for ch in shown if ch.isdigit()) == "20250301", shown
