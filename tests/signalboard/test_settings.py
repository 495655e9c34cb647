"""Settings: defaults, environment parsing and the --db option."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from signalboard.settings import SettingsError, get_settings
from tests.paths import REPO_ROOT


def test_relative_db_option_is_relative_to_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = get_settings({}).with_db("here.duckdb")
    assert settings.db_path == tmp_path / "here.duckdb"
    # The default lives in the per-user data folder, wherever the command runs, never in the
    # installation; the key sits beside whichever warehouse is used.
    home = tmp_path / "home"
    defaults = get_settings({"SIGNALBOARD_HOME": str(home)})
    assert defaults.db_path == home / "warehouse.duckdb"
    assert defaults.pseudonym_key_file == home / "pseudonym.key"
    assert settings.pseudonym_key_file == tmp_path / "pseudonym.key"
    xdg = get_settings({"XDG_DATA_HOME": str(tmp_path / "xdg")})
    assert xdg.db_path == tmp_path / "xdg" / "signalboard" / "warehouse.duckdb"


def test_a_pinned_key_file_stays_when_the_warehouse_moves(tmp_path: Path) -> None:
    pinned = get_settings({"SIGNALBOARD_PSEUDONYM_KEY_FILE": str(tmp_path / "vault" / "k")})
    assert pinned.with_db(tmp_path / "w.duckdb").pseudonym_key_file == tmp_path / "vault" / "k"


def test_environment_overrides_are_typed() -> None:
    settings = get_settings(
        {
            "SIGNALBOARD_MIN_CELL_SIZE": "10",
            "SIGNALBOARD_SQL_ALLOW_DEMOGRAPHICS": "true",
            "SIGNALBOARD_DB": "/tmp/elsewhere.duckdb",
        }
    )
    assert settings.min_cell_size == 10
    assert settings.sql_allow_demographics is True
    assert settings.db_path == Path("/tmp/elsewhere.duckdb")
    assert get_settings({}).sql_allow_demographics is False


def test_env_example_lists_every_variable() -> None:
    """.env.example documents every SIGNALBOARD_* variable settings.py reads."""
    source = (REPO_ROOT / "signalboard" / "settings.py").read_text()
    import re

    read = set(re.findall(r'"(SIGNALBOARD_[A-Z_]+)"', source))
    listed = set(
        re.findall(r"^(SIGNALBOARD_[A-Z_]+)=", (REPO_ROOT / ".env.example").read_text(), re.M)
    )
    assert read and read == listed


def test_cli_processes_start_numpy_without_huge_page_advice() -> None:
    """signalboard sets NUMPY_MADVISE_HUGEPAGE=0 before numpy is imported (signalboard/__init__.py),
    and a user's own value wins; checked in fresh interpreters, as the CLI starts."""
    probe = "import signalboard, numpy; print(numpy._core.multiarray._get_madvise_hugepage())"
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    off = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert off.stdout.strip() == "False", off.stderr
    on = subprocess.run(
        [sys.executable, "-c", probe],
        env={**env, "NUMPY_MADVISE_HUGEPAGE": "1"},
        capture_output=True,
        text=True,
    )
    assert on.stdout.strip() == "True", on.stderr


def test_stipend_reference_is_read_here_and_parsed_by_the_section() -> None:
    from signalboard.analysis.stipends import reference_setting

    settings = get_settings({"SIGNALBOARD_STIPEND_REFERENCE": " sex=Male, race_ethnicity=White "})
    assert reference_setting(settings.stipend_reference) == {
        "sex": "Male",
        "race_ethnicity": "White",
    }
    assert reference_setting(get_settings({}).stipend_reference) == {}


def test_min_comparator_share_is_read_and_never_under_the_ll144_two_percent() -> None:
    assert get_settings({}).min_comparator_share == 0.05
    assert get_settings({"SIGNALBOARD_MIN_COMPARATOR_SHARE": "0.1"}).min_comparator_share == 0.1
    for bad in ("0.01", "1.5", "five"):
        with pytest.raises(ValueError, match="SIGNALBOARD_MIN_COMPARATOR_SHARE"):
            get_settings({"SIGNALBOARD_MIN_COMPARATOR_SHARE": bad})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SIGNALBOARD_MIN_CELL_SIZE", "five", "must be a whole number, not 'five'"),
        ("SIGNALBOARD_PORT", "80.5", "must be a whole number, not '80.5'"),
        ("SIGNALBOARD_SEVERITY_THRESHOLD", "high", "must be a number, not 'high'"),
        ("SIGNALBOARD_LOAD_MEMORY_LIMIT", "lots", "must be a size such as 1500MB or 4GB"),
        ("SIGNALBOARD_SQL_MEMORY_LIMIT", "-1GB", "must be a size such as 1500MB or 4GB"),
        ("SIGNALBOARD_SQL_MAX_BYTES", "64 megs", "must be a size such as 1500MB or 4GB"),
    ],
)
def test_a_bad_value_is_an_error_that_names_the_variable(
    name: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=f"^{name} {message}"):
        get_settings({name: value})


@pytest.mark.parametrize(
    ("value", "expected"), [("", "auto"), ("AUTO", "auto"), ("4GB", "4GB"), (" 2GiB ", "2GiB")]
)
def test_load_memory_limit_defaults_to_auto(value: str, expected: str) -> None:
    assert get_settings({"SIGNALBOARD_LOAD_MEMORY_LIMIT": value}).load_memory_limit == expected


def test_cli_reports_a_bad_setting_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from signalboard.cli import main

    monkeypatch.setenv("SIGNALBOARD_MIN_CELL_SIZE", "abc")
    assert main(["query", "--list"]) == 2
    assert capsys.readouterr().err == (
        "signalboard: error: SIGNALBOARD_MIN_CELL_SIZE must be a whole number, not 'abc'\n"
    )
