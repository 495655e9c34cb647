"""Sign-in and roles end to end: `signalboard serve --config` on a copy of the sample warehouse,
signing in through a real OpenID Connect provider on 127.0.0.1 (oidc-provider-mock) in headless
Chromium, as each role, as a user with no role and as an anonymous visitor. Each test asserts
what that person can and cannot open, by the navigation and by typed address, what the
downloads and SQL give them, and that the audit trail holds an entry for each of those actions.

One served app and one identity provider for the module; every wait is bounded.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from signalboard.access import audit_path, read_audit
from tests.browser_helpers import (
    APP_IDLE,
    CHROMIUM,
    CHROMIUM_ARGS,
    EXCEPTIONS,
    free_port,
    require_chromium,
    stop_group,
    wait_healthy,
)

pytestmark = pytest.mark.browser

WAIT_MS = 90_000  # bounded waits, not speed assertions: two shared CPUs can be slow
CLIENT_SECRET = "client-" + secrets.token_hex(16)
COOKIE_SECRET = secrets.token_hex(32)
USERS = {
    "talent_lead": "lead@example.org",
    "dei_reviewer": "dei@example.org",
    "analyst": "analyst@example.org",
    "admin": "admin@example.org",
}
STRANGER = "stranger@example.org"
BASE_TITLES = ["Funnel", "Time to hire", "Data health"]


@pytest.fixture(scope="module")
def idp() -> Iterator[str]:
    """oidc-provider-mock on 127.0.0.1: any client id, and whoever types an address signs in
    with it as their e-mail claim."""
    import oidc_provider_mock
    import werkzeug.serving

    server = werkzeug.serving.make_server("127.0.0.1", 0, oidc_provider_mock.app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture(scope="module")
def served(
    idp: str, sample_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """`signalboard serve --config` with sign-in, on a private copy of the sample warehouse."""
    require_chromium()
    folder = tmp_path_factory.mktemp("auth_app")
    db = folder / "warehouse.duckdb"
    shutil.copyfile(sample_db, db)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = folder / "signalboard.toml"
    roles = "\n".join(f'{role} = ["{email}"]' for role, email in USERS.items())
    config.write_text(
        "[auth]\n"
        f'server_metadata_url = "{idp}/.well-known/openid-configuration"\n'
        'client_id = "signalboard"\n'
        f'client_secret = "{CLIENT_SECRET}"\n'
        f'cookie_secret = "{COOKIE_SECRET}"\n'
        f'redirect_uri = "{base}/oauth2callback"\n'
        f"[roles]\n{roles}\n"
    )
    log = folder / "server.log"
    env = dict(os.environ, SIGNALBOARD_SQL_ALLOW_DEMOGRAPHICS="true")
    env.pop("SIGNALBOARD_CONFIG", None)
    command = [sys.executable, "-m", "signalboard.cli", "serve", "--db", str(db)]
    command += ["--port", str(port), "--config", str(config)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        wait_healthy(f"{base}/_stcore/health", process, log)
        yield {"base": base, "idp": idp, "audit": audit_path(db), "log": log}
    finally:
        stop_group(process)


@pytest.fixture(scope="module")
def browser(served: dict[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
        )
        try:
            yield launched
        finally:
            launched.close()


def _new_page(browser: Any) -> Any:
    # A fresh context per person: their own cookies, so one sign-in never leaks into another.
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.set_default_timeout(WAIT_MS)
    return page


def _idle(page: Any) -> None:
    page.locator(APP_IDLE).wait_for(state="attached")


def _h1(page: Any, text: str) -> None:
    page.locator("h1", has_text=text).first.wait_for(state="visible")
    _idle(page)
    assert page.locator(EXCEPTIONS).count() == 0, page.locator(EXCEPTIONS).all_inner_texts()


def _sign_in(browser: Any, served: dict[str, Any], email: str) -> Any:
    page = _new_page(browser)
    page.goto(served["base"] + "/")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(served["idp"] + "/**")
    page.locator('input[name="sub"]').fill(email)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(served["base"] + "/**")
    return page


def _nav_titles(page: Any) -> list[str]:
    links = page.locator('[data-testid="stSidebarNav"] a')
    links.first.wait_for(state="visible")
    # Each link reads "icon name, newline, title": keep the title.
    return [text.strip().splitlines()[-1] for text in links.all_inner_texts()]


def _refused(page: Any, served: dict[str, Any], url_path: str, title: str) -> None:
    """A typed address of a page the role lacks renders a refusal, never the page."""
    page.goto(f"{served['base']}/{url_path}")
    _h1(page, "No access")
    page.get_by_text(f"does not open the {title} page").wait_for(state="visible")
    assert page.locator("h1", has_text=title).count() == 0


def _entries(served: dict[str, Any], who: str) -> list[tuple[str, str]]:
    return [(e["action"], e["what"]) for e in read_audit(served["audit"]) if e["who"] == who]


def _wait_for_entry(served: dict[str, Any], who: str, entry: tuple[str, str]) -> None:
    """Until the audit trail has `entry` (at most 30 s): a download's entry is written by the
    rerun its click starts, and navigating away first would close the session before it runs."""
    deadline = time.monotonic() + 30
    while entry not in _entries(served, who) and time.monotonic() < deadline:
        time.sleep(0.2)


def _breakdown_options(page: Any) -> list[str]:
    box = page.get_by_test_id("stMultiSelect").filter(has_text="Break down by")
    box.click()
    options = page.get_by_role("option")
    options.first.wait_for(state="visible")
    texts = options.all_inner_texts()
    page.keyboard.press("Escape")
    return texts


def _run_adhoc(page: Any, sql: str) -> None:
    page.get_by_role("tab", name="Ad-hoc SQL").click()
    editor = page.get_by_role("textbox", name="SQL", exact=True)
    editor.fill(sql)
    editor.blur()
    page.get_by_role("button", name="Run SQL").click()


def test_an_anonymous_visitor_sees_a_sign_in_button_and_no_data(
    browser: Any, served: dict[str, Any]
) -> None:
    page = _new_page(browser)
    for address in ("/", "/fairness", "/audit"):
        page.goto(served["base"] + address)
        page.get_by_role("button", name="Sign in").wait_for(state="visible")
        _idle(page)
        assert page.get_by_text("Applied from").count() == 0  # no filters, no warehouse line
        assert page.locator('[data-testid="stSidebarNav"]').count() == 0
        assert page.locator('[data-testid="stDataFrame"]').count() == 0
    # Hardening: no Deploy button, and the config's secrets appear nowhere.
    assert page.locator('[data-testid="stAppDeployButton"]').count() == 0
    html = page.content()
    assert CLIENT_SECRET not in html and COOKIE_SECRET not in html
    denied = [w for a, w in _entries(served, "anonymous") if a == "denied"]
    assert {"page fairness", "page audit"} <= set(denied)


def test_a_user_with_no_role_sees_no_access_and_nothing_else(
    browser: Any, served: dict[str, Any]
) -> None:
    page = _sign_in(browser, served, STRANGER)
    _h1(page, "No access")
    page.get_by_text(STRANGER).first.wait_for(state="visible")
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0
    for url_path, title in (("funnel", "Funnel"), ("fairness", "Fairness")):
        page.goto(f"{served['base']}/{url_path}")
        _h1(page, "No access")
        assert page.locator("h1", has_text=title).count() == 0
        assert page.get_by_text("Applied from").count() == 0
    entries = _entries(served, STRANGER)
    assert ("sign_in", "sign-in") in entries
    assert {("denied", "page funnel"), ("denied", "page fairness")} <= set(entries)
    assert not [a for a, _ in entries if a == "page_view"]


def test_talent_lead_gets_no_demographics_anywhere(browser: Any, served: dict[str, Any]) -> None:
    email = USERS["talent_lead"]
    page = _sign_in(browser, served, email)
    _h1(page, "Funnel")
    assert _nav_titles(page) == BASE_TITLES
    options = _breakdown_options(page)
    assert "role" in options and not [o for o in options if "self-ID" in o]
    with page.expect_download() as download:
        page.get_by_role("button", name="Download funnel.csv").click()
    assert download.value.suggested_filename == "funnel.csv"
    # the CSV is written when clicked: the file holds the table, machine column names first
    with open(download.value.path(), encoding="utf-8") as written:
        header, first_row = written.readline(), written.readline()
    assert header.startswith("segment_type,segment,stage,") and first_row.strip()
    _wait_for_entry(served, email, ("download", "funnel.csv"))
    for url_path, title in (("fairness", "Fairness"), ("sql", "SQL"), ("audit", "Audit trail")):
        _refused(page, served, url_path, title)
    page.goto(f"{served['base']}/data_health")
    _h1(page, "Data health")
    entries = set(_entries(served, email))
    assert {("sign_in", "sign-in"), ("page_view", "page funnel"), ("download", "funnel.csv")} <= (
        entries
    )
    assert {("denied", "page fairness"), ("denied", "page sql"), ("denied", "page audit")} <= (
        entries
    )
    assert ("page_view", "page data_health") in entries


def test_dei_reviewer_opens_the_demographic_pages_but_not_sql(
    browser: Any, served: dict[str, Any]
) -> None:
    email = USERS["dei_reviewer"]
    page = _sign_in(browser, served, email)
    _h1(page, "Funnel")
    assert _nav_titles(page) == [
        "Funnel",
        "Time to hire",
        "Assessors",
        "Fairness",
        "Stipends",
        "Data health",
    ]
    assert [o for o in _breakdown_options(page) if "self-ID" in o]
    page.get_by_role("link", name="Fairness").click()
    _h1(page, "Fairness")
    for url_path, title in (("sql", "SQL"), ("audit", "Audit trail")):
        _refused(page, served, url_path, title)
    entries = set(_entries(served, email))
    assert {("page_view", "page funnel"), ("page_view", "page fairness")} <= entries
    assert {("denied", "page sql"), ("denied", "page audit")} <= entries


def test_analyst_runs_sql_but_never_reads_row_level_demographics(
    browser: Any, served: dict[str, Any]
) -> None:
    email = USERS["analyst"]
    page = _sign_in(browser, served, email)
    _h1(page, "Funnel")
    assert _nav_titles(page) == ["Funnel", "Time to hire", "SQL", "Data health"]
    assert not [o for o in _breakdown_options(page) if "self-ID" in o]
    _refused(page, served, "fairness", "Fairness")
    page.goto(f"{served['base']}/sql")
    _h1(page, "SQL")
    page.get_by_role("button", name="Run query").click()
    page.get_by_role("button", name="Download funnel_by_source.csv").wait_for(state="visible")
    # The server allows SQL over demographics (SIGNALBOARD_SQL_ALLOW_DEMOGRAPHICS=true), but
    # not for an analyst.
    _run_adhoc(page, "select * from demographics")
    page.get_by_text("Refused: demographics holds row-level").wait_for(state="visible")
    entries = _entries(served, email)
    assert ("library_query", "funnel_by_source") in entries
    assert ("sql", "select * from demographics") in entries
    sql = next(e for e in read_audit(served["audit"]) if e["who"] == email and e["action"] == "sql")
    assert sql["params"]["status"] == "error" and "Refused" in sql["params"]["error"]
    assert ("denied", "page fairness") in entries and ("page_view", "page sql") in entries


def test_admin_opens_everything_reads_the_audit_trail_and_signs_out(
    browser: Any, served: dict[str, Any]
) -> None:
    email = USERS["admin"]
    page = _sign_in(browser, served, email)
    _h1(page, "Funnel")
    assert _nav_titles(page) == [
        "Funnel",
        "Time to hire",
        "Assessors",
        "Fairness",
        "Stipends",
        "SQL",
        "Data health",
        "Audit trail",
    ]
    page.goto(f"{served['base']}/sql")
    _h1(page, "SQL")
    _run_adhoc(page, "select count(*) as people from demographics")
    page.get_by_role("button", name="Download adhoc_query.csv").wait_for(state="visible")
    page.goto(f"{served['base']}/audit")
    _h1(page, "Audit trail")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download audit_trail.csv").click()
    trail = Path(download.value.path()).read_text()
    # The trail holds the other people's actions from this module's earlier tests.
    for who in (USERS["talent_lead"], USERS["analyst"], STRANGER):
        assert who in trail
    page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Sign out").click()
    # Streamlit ends the session at the provider too (RP-initiated logout), whose page the
    # mock provider asks to confirm; then it sends the browser back, signed out.
    page.wait_for_url(served["idp"] + "/**")
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(served["base"] + "/**")
    page.get_by_role("button", name="Sign in").wait_for(state="visible")
    page.goto(f"{served['base']}/audit")
    page.get_by_role("button", name="Sign in").wait_for(state="visible")
    assert page.locator("h1", has_text="Audit trail").count() == 0
    entries = _entries(served, email)
    assert ("sql", "select count(*) as people from demographics") in entries
    sql = [e for e in read_audit(served["audit"]) if e["who"] == email and e["action"] == "sql"]
    assert sql[-1]["params"] == {"params": {}, "status": "ok", "rows": 1}
    assert {("page_view", "page audit"), ("download", "audit_trail.csv")} <= set(entries)
    assert ("sign_out", "sign-out") in entries
    # Nothing of the config's secrets reached the server's log.
    log = served["log"].read_text()
    assert CLIENT_SECRET not in log and COOKIE_SECRET not in log
