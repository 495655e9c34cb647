"""The access policy, config validation and audit trail (signalboard.access), through its
public functions, on real files; and the trail surviving a real load that swaps the warehouse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signalboard.access import (
    LOCAL,
    ROLE_PAGES,
    ConfigError,
    append_audit,
    audit_path,
    capabilities_for,
    load_config,
    pages_for,
    parse_config,
    read_audit,
    roles_for,
)
from tests.load_helpers import load, settings_for, write_exports

AUTH = {
    "server_metadata_url": "https://idp.example.org/.well-known/openid-configuration",
    "client_id": "signalboard",
    "client_secret": "client-secret-value",
    "cookie_secret": "c" * 32,
    "redirect_uri": "https://signalboard.example.org/oauth2callback",
}
ROLES = {
    "talent_lead": ["Lead@Example.org"],
    "dei_reviewer": ["dei@example.org", "dei-team"],
    "analyst": ["analyst@example.org"],
    "admin": ["admin@example.org"],
}


def _toml(auth: dict[str, str] | None, roles: dict[str, list[str]] | None) -> str:
    lines = []
    if auth is not None:
        lines.append("[auth]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in auth.items()]
    if roles is not None:
        lines.append("[roles]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in roles.items()]
    return "\n".join(lines) + "\n"


def test_a_full_config_reads_auth_and_lower_cased_members(tmp_path: Path) -> None:
    path = tmp_path / "signalboard.toml"
    path.write_text(_toml(AUTH, ROLES))
    config = load_config(path)
    assert not config.local
    assert config.auth is not None and config.auth["client_id"] == "signalboard"
    assert config.roles["talent_lead"] == ("lead@example.org",)
    # The secrets never appear in the config's text form (logs, tracebacks).
    assert AUTH["client_secret"] not in repr(config) and AUTH["cookie_secret"] not in repr(config)


@pytest.mark.parametrize("path", [None, ""])
def test_no_config_is_local_single_user_mode(path: str | None) -> None:
    config = load_config(path)
    assert config.local and config is LOCAL
    assert roles_for(config, email=None) == {"admin"}


@pytest.mark.parametrize(
    ("auth", "roles", "message"),
    [
        ({**AUTH, "client_secret": ""}, ROLES, "[auth] is missing client_secret"),
        (
            {k: v for k, v in AUTH.items() if k not in ("client_id", "redirect_uri")},
            ROLES,
            "[auth] is missing client_id, redirect_uri",
        ),
        ({**AUTH, "cookie_secret": "short"}, ROLES, "cookie_secret must be at least 32"),
        ({**AUTH, "redirect_uri": "https://x.example/cb"}, ROLES, "must end with /oauth2callback"),
        ({**AUTH, "client_secrt": "typo"}, ROLES, "unknown key(s) client_secrt"),
        (AUTH, {**ROLES, "viewer": ["a@example.org"]}, "unknown role(s) viewer"),
        (AUTH, {"admin": "admin@example.org"}, "roles.admin must be a list"),
        (AUTH, {}, "[roles] names nobody"),
        (AUTH, None, "[roles] names nobody"),
    ],
)
def test_a_bad_config_is_refused_with_one_line(
    tmp_path: Path, auth: dict[str, str], roles: dict[str, object] | None, message: str
) -> None:
    path = tmp_path / "signalboard.toml"
    path.write_text(_toml(auth, roles))  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert message in text and "\n" not in text
    for secret in (AUTH["client_secret"], AUTH["cookie_secret"]):
        assert secret not in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("[auth\nclient_id = 1", "is not valid TOML"),
        ("[deploy]\nx = 1\n", "unknown section(s) deploy"),
    ],
)
def test_an_unusable_config_file_is_one_line(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "signalboard.toml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match="signalboard.toml") as caught:
        load_config(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("email", "verified", "groups", "expected"),
    [
        ("lead@example.org", None, (), {"talent_lead"}),
        ("LEAD@EXAMPLE.ORG", True, (), {"talent_lead"}),  # addresses compare case-insensitively
        ("lead@example.org", False, (), set()),  # an unverified address matches nothing
        ("someone@example.org", None, ["dei-team"], {"dei_reviewer"}),  # a group claim
        ("someone@example.org", None, ["other-team"], set()),
        ("analyst@example.org", None, ["dei-team"], {"analyst", "dei_reviewer"}),
        (None, None, (), set()),
        ("stranger@example.org", None, (), set()),
        ("lead@example.org.evil.test", None, (), set()),
    ],
)
def test_roles_are_found_by_address_or_group(
    email: str | None, verified: bool | None, groups: tuple[str, ...], expected: set[str]
) -> None:
    config = parse_config({"auth": AUTH, "roles": ROLES})
    assert roles_for(config, email=email, email_verified=verified, groups=groups) == expected


@pytest.mark.parametrize(
    ("roles", "pages", "capabilities", "allow"),
    [
        ((), set(), set(), True),
        (("talent_lead",), {"funnel", "time_to_hire", "data_health"}, set(), True),
        (
            ("dei_reviewer",),
            {"funnel", "time_to_hire", "data_health", "assessors", "fairness", "stipends"},
            {"demographics"},
            True,
        ),
        (("analyst",), {"funnel", "time_to_hire", "data_health", "sql"}, {"sql"}, True),
        (
            ("admin",),
            set(ROLE_PAGES["dei_reviewer"]) | {"sql", "audit"},
            {"demographics", "sql", "sql_demographics", "audit"},
            True,
        ),
        # SQL over demographics needs the setting too, even for an admin.
        (("admin",), set(ROLE_PAGES["admin"]), {"demographics", "sql", "audit"}, False),
        (
            ("analyst", "dei_reviewer"),
            set(ROLE_PAGES["dei_reviewer"]) | {"sql"},
            {"demographics", "sql"},
            True,
        ),
    ],
)
def test_pages_and_capabilities_by_role(
    roles: tuple[str, ...], pages: set[str], capabilities: set[str], allow: bool
) -> None:
    assert pages_for(roles) == pages  # type: ignore[arg-type]
    assert capabilities_for(roles, sql_allow_demographics=allow) == capabilities  # type: ignore[arg-type]


def test_the_audit_trail_appends_and_reads_back_every_entry(tmp_path: Path) -> None:
    path = audit_path(tmp_path / "warehouse.duckdb")
    assert path.name == "warehouse.duckdb.audit.jsonl"
    assert read_audit(path) == []
    first = append_audit(
        path,
        who="a@example.org",
        role="analyst",
        action="sql",
        what="select 1",
        params={"since": __import__("datetime").date(2025, 1, 2), "roles": ("x", "y")},
    )
    append_audit(path, who="b@example.org", action="denied", what="page fairness")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    # A write cut short by a crash leaves a torn line: kept, marked, not dropped.
    with path.open("a") as handle:
        handle.write('{"who": "torn')
    entries = read_audit(path)
    assert [e["action"] for e in entries] == ["sql", "denied", "unreadable"]
    assert entries[0]["params"] == {"since": "2025-01-02", "roles": ["x", "y"]}
    assert entries[0]["at"] == first["at"] and entries[1]["who"] == "b@example.org"


def test_the_audit_trail_survives_loads_that_swap_the_warehouse(tmp_path: Path) -> None:
    folder = write_exports(tmp_path / "exports")
    settings = settings_for(tmp_path)
    load([folder], settings)
    trail = audit_path(settings.db_path)
    append_audit(trail, who="admin@example.org", action="page_view", what="page funnel")
    inode = settings.db_path.stat().st_ino
    # A changed export, so the second load builds and swaps in a new warehouse file.
    fx = (folder / "fx_rates.csv").read_text() + "EUR,1.08,2024-01-31\n"
    load([write_exports(tmp_path / "again", fx_rates=fx)], settings)
    assert settings.db_path.stat().st_ino != inode  # the load swapped the file in
    assert [e["what"] for e in read_audit(trail)] == ["page funnel"]
