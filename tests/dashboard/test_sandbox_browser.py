"""The sandbox's walls on the SQL page, in headless Chromium against `signalboard serve`.

Each attack an analyst could type into the Ad-hoc SQL tab ends as one error message on the page:
no traceback, no warehouse path, no demographic value. The CSV download neutralises formula
text. Skips without /usr/bin/chromium (fails under CI=true), like tests/dashboard/test_browser.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser_helpers import (
    APP_IDLE,
    ERROR_ALERTS,
    EXCEPTIONS,
    chromium_page,
    require_chromium,
    serving,
)

pytestmark = pytest.mark.browser

TIMEOUT_SECONDS = 2
MAX_BYTES = "1MB"


@pytest.fixture(scope="module")
def sql_server(sample_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`signalboard serve` on the sample warehouse with a short SQL time limit; its base URL."""
    require_chromium()
    env = {
        "SIGNALBOARD_SQL_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
        "SIGNALBOARD_SQL_MAX_BYTES": MAX_BYTES,
    }
    with serving(sample_db, tmp_path_factory.mktemp("sql_server") / "server.log", env=env) as url:
        yield url


@pytest.fixture(scope="module")
def sql_page(sql_server: str) -> Iterator[object]:
    with chromium_page(accept_downloads=True) as page:
        yield page


def _run_adhoc(page, server: str, sql: str) -> None:
    page.goto(f"{server}/sql")
    page.locator("h1", has_text="SQL").first.wait_for(state="visible")
    page.locator(APP_IDLE).wait_for(state="attached")
    page.get_by_role("tab", name="Ad-hoc SQL").click()
    editor = page.get_by_role("textbox", name="SQL", exact=True)
    editor.fill(sql)
    editor.press("Control+Enter")  # commit the text area's value to the app
    page.locator(APP_IDLE).wait_for(state="attached")
    page.get_by_role("button", name="Run SQL").click()
    page.locator(APP_IDLE).wait_for(state="attached")


ATTACKS = [
    ("select * from read_duckdb('{db}', table_name='demographics')", "files"),
    ("select octet_length(content) as n from read_blob('{db}')", "files"),
    ("select * from glob('.tmp/*')", "files"),
    ("select * from read_text('{db}.wal')", "files"),
    ("select name, value from duckdb_settings()", "duckdb_settings()"),
    ("select path from duckdb_databases()", "duckdb_databases()"),
    ("select * from pragma_storage_info('demographics')", "pragma_storage_info()"),
    ("select current_setting('allowed_paths') as p", "current_setting()"),
    ("select * from demographics", "self-identification"),
    (
        "select levenshtein(repeat('a', 200000), repeat('b', 200000)) as d",
        f"ran longer than the {TIMEOUT_SECONDS} s limit",
    ),
]


@pytest.mark.parametrize(("sql", "words"), ATTACKS, ids=[sql[:32] for sql, _ in ATTACKS])
def test_attack_ends_as_one_message(
    sql_server: str, sql_page, sample_db: Path, sql: str, words: str
) -> None:
    page = sql_page
    _run_adhoc(page, sql_server, sql.format(db=sample_db))
    alert = page.locator(ERROR_ALERTS)
    alert.first.wait_for(state="visible")
    assert words in alert.first.inner_text()
    assert page.locator(EXCEPTIONS).count() == 0
    text = alert.first.inner_text()
    assert len(text.strip().splitlines()) == 1, text
    if str(sample_db.parent) not in sql:
        assert str(sample_db.parent) not in page.locator("body").inner_text()
    assert page.get_by_text("Download adhoc_query.csv").count() == 0


def test_csv_download_neutralises_formulas(sql_server: str, sql_page, tmp_path: Path) -> None:
    page = sql_page
    _run_adhoc(
        page,
        sql_server,
        'select \'=HYPERLINK("http://evil.example","x")\' as label, -3 as n, 2.5 as v',
    )
    button = page.get_by_role("button", name="Download adhoc_query.csv")
    button.wait_for(state="visible")
    with page.expect_download() as download_info:
        button.click()
    path = tmp_path / "adhoc_query.csv"
    download_info.value.save_as(path)
    assert path.read_text(encoding="utf-8") == (
        'label,n,v\n"\'=HYPERLINK(""http://evil.example"",""x"")",-3,2.5\n'
    )


def test_a_huge_result_is_cut_at_the_byte_cap_with_a_notice(sql_server: str, sql_page) -> None:
    """~1 GB of rows asked for: the page shows the first 1 MB of them and says which cap cut."""
    page = sql_page
    _run_adhoc(page, sql_server, "select range as i, repeat('x', 1000) as s from range(1000000)")
    notice = page.locator('[data-testid="stAlertContentWarning"]').filter(has_text="MB of data")
    notice.first.wait_for(state="visible")
    assert "1.0 MB of data (SIGNALBOARD_SQL_MAX_BYTES)" in notice.first.inner_text()
    assert page.locator(EXCEPTIONS).count() == 0
    assert page.locator(ERROR_ALERTS).count() == 0
    page.get_by_role("button", name="Download adhoc_query.csv").wait_for(state="visible")
