"""Loads that stay bounded and fail in one line: an oversized quoted field, damaged UTF-8 bytes,
a full disk or a forbidden folder during the load or the key's creation. Each leaves the
warehouse and the key exactly as they were."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from pathlib import Path

import duckdb
import pytest

import etl.load
import etl.pseudonym
from etl.load import LoadError
from etl.read import MAX_LINE_BYTES
from tests.etl.test_load_attributes import run_load
from tests.load_helpers import EXPORTS, load, settings_for, write_exports


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


@pytest.mark.parametrize("newlines", [False, True])
def test_an_oversized_quoted_field_is_refused_in_one_line(tmp_path: Path, newlines: bool) -> None:
    settings = settings_for(tmp_path)
    load([write_exports(tmp_path / "first")], settings)
    before = _digest(settings.db_path)
    body = ("x\n" if newlines else "xx") * (MAX_LINE_BYTES // 2 + 10)
    text = EXPORTS["demographics.csv"] + f'P4,"{body}",Asian,No,Someone\n'
    folder = write_exports(tmp_path / "in", demographics=text)
    done = run_load(str(folder), cwd=tmp_path)
    assert done.returncode == 2
    errors = [x for x in done.stderr.splitlines() if not x.startswith('{"event"')]
    assert len(errors) == 1
    assert errors[0].startswith("signalboard: error: demographics.csv: line 5 is longer than 1 MiB")
    assert "Traceback" not in done.stderr
    assert _digest(settings.db_path) == before


def test_an_unclosed_quote_is_refused(tmp_path: Path) -> None:
    text = EXPORTS["demographics.csv"] + 'P4,"Female,Asian,No\n' + "P5,Male,White,No\n" * 70_000
    folder = write_exports(tmp_path / "in", demographics=text)
    with pytest.raises(LoadError, match="line 5 is longer than"):
        load([folder], settings_for(tmp_path))


def test_damaged_utf8_bytes_reject_their_lines_only(tmp_path: Path) -> None:
    text = (
        "candidate_id,sex,race_ethnicity,disability\n"
        "P1,Female,Asian,No\n"
        "P2,Male,Hispanic or Latino,Sí\n"  # valid UTF-8: the file is UTF-8
        "P3,Fem\xffale,White,No\n"
    ).encode()
    text = text.replace("\xff".encode(), b"\xff")
    folder = write_exports(tmp_path / "in", demographics=None)
    (folder / "demographics.csv").write_bytes(text)
    settings = settings_for(tmp_path)
    result = load([folder], settings)
    demographics = next(f for f in result.files if f.table == "demographics")
    assert (demographics.encoding, demographics.rows_loaded, demographics.rows_rejected) == (
        "utf-8",
        2,
        1,
    )
    con = duckdb.connect(str(settings.db_path), read_only=True)
    try:
        rejects = con.execute(
            "select line, reason, original_text from rejects where table_name = 'demographics'"
        ).fetchall()
        kept = con.execute(
            "select value from demographic_attributes where attribute = 'disability' order by 1"
        ).fetchall()
    finally:
        con.close()
    assert rejects == [(4, "line could not be parsed (invalid encoding)", None)]
    assert kept == [("No",), ("Sí",)]


def test_a_latin1_file_is_read_as_latin1_and_says_so(tmp_path: Path) -> None:
    text = EXPORTS["cohorts.csv"].replace("Churn dashboard", "Café dashboard")
    folder = write_exports(tmp_path / "in", cohorts=None)
    (folder / "cohorts.csv").write_bytes(text.encode("latin-1"))
    result = load([folder], settings_for(tmp_path))
    cohorts = next(f for f in result.files if f.table == "cohorts")
    assert (cohorts.encoding, cohorts.rows_loaded) == ("latin-1", 2)
    assert "read as Latin-1" in result.summary_text()


def _enospc(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _eacces(*args: object, **kwargs: object) -> None:
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))


@pytest.mark.parametrize("error", [_enospc, _eacces])
@pytest.mark.parametrize("where", ["copy", "swap", "fsync"])
def test_a_write_error_during_the_load_is_one_line_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, error: object
) -> None:
    settings = settings_for(tmp_path)
    load([write_exports(tmp_path / "first")], settings)
    before = (_digest(settings.db_path), _digest(settings.pseudonym_key_file))
    changed = write_exports(
        tmp_path / "in", fx_rates=EXPORTS["fx_rates.csv"] + "EUR,1.09,2024-01-31\n"
    )
    target = {
        "copy": (shutil, "copyfile"),
        "swap": (os, "replace"),
        "fsync": (etl.load, "_fsync"),
    }[where]
    monkeypatch.setattr(*target, error)
    with pytest.raises(LoadError) as raised:
        load([changed], settings)
    message = str(raised.value)
    assert "\n" not in message
    assert os.strerror(errno.ENOSPC if error is _enospc else errno.EACCES) in message
    assert message.endswith("the warehouse and the key are unchanged")
    monkeypatch.undo()
    assert (_digest(settings.db_path), _digest(settings.pseudonym_key_file)) == before
    assert [p.name for p in tmp_path.iterdir() if ".loading-" in p.name] == []


@pytest.mark.parametrize("error", [_enospc, _eacces])
def test_a_key_that_cannot_be_written_leaves_no_key_and_no_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: object
) -> None:
    settings = settings_for(tmp_path)
    monkeypatch.setattr(etl.pseudonym.os, "write", error)
    with pytest.raises(LoadError) as raised:
        load([write_exports(tmp_path / "in")], settings)
    assert "\n" not in str(raised.value)
    assert "cannot create pseudonym key file" in str(raised.value)
    monkeypatch.undo()
    assert not settings.pseudonym_key_file.exists()
    assert not settings.db_path.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".pseudonym")] == []
    # The next load, with a working disk, creates a good key and loads.
    result = load([tmp_path / "in"], settings)
    assert result.rows_loaded > 0
    assert len(bytes.fromhex(settings.pseudonym_key_file.read_text())) == 32


def test_a_key_folder_that_cannot_be_created_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings = settings_for(tmp_path)
    settings = type(settings)(
        db_path=settings.db_path, pseudonym_key_file=blocker / "pseudonym.key"
    )
    with pytest.raises(LoadError, match="cannot create pseudonym key file"):
        load([write_exports(tmp_path / "in")], settings)
    assert not settings.db_path.exists()
