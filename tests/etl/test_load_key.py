"""The pseudonym key is bound to its warehouse: another key or a lost key is refused, a new key is
made only for a new warehouse, and rotation re-keys every pseudonym in one atomic step."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest

from etl.load import LoadError
from etl.pseudonym import read_key
from etl.rotate import rotate_key
from signalboard.cli import main as cli_main
from signalboard.settings import Settings
from tests.load_helpers import load, settings_for, write_exports


def rows(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_new_warehouse_gets_a_new_key_and_says_so(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    result = load([write_exports(tmp_path / "in")], settings)
    assert result.key_created == settings.pseudonym_key_file
    assert "created a new pseudonym key" in result.summary_text()
    fingerprint = read_key(settings.pseudonym_key_file).fingerprint
    assert rows(settings.db_path, "select fingerprint from pseudonym_key") == [(fingerprint,)]
    assert settings.pseudonym_key_file.read_text().strip() not in fingerprint
    again = load([write_exports(tmp_path / "in2", fx_rates=None)], settings)
    assert again.key_created is None


def test_a_failed_first_load_writes_no_key(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "scores.csv").write_text("application_id,grader_id\n")
    with pytest.raises(LoadError):
        load([tmp_path / "in"], settings)
    assert not settings.pseudonym_key_file.exists() and not settings.db_path.exists()


def test_another_key_is_refused_and_the_warehouse_is_unchanged(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    load([write_exports(tmp_path / "in")], settings)
    before = sha(settings.db_path)
    other = Settings(db_path=settings.db_path, pseudonym_key_file=tmp_path / "other.key")
    load(
        [write_exports(tmp_path / "elsewhere")],
        Settings(tmp_path / "x.duckdb", other.pseudonym_key_file),
    )
    with pytest.raises(LoadError, match=r"is not the key this warehouse was built with") as error:
        load([write_exports(tmp_path / "in3")], other)
    assert "\n" not in str(error.value) and "--db" in str(error.value)
    assert sha(settings.db_path) == before
    assert rows(settings.db_path, "select count(*) from applications") == [(4,)]


def test_a_missing_key_for_an_existing_warehouse_is_an_error_not_a_new_key(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    load([write_exports(tmp_path / "in")], settings)
    settings.pseudonym_key_file.unlink()
    with pytest.raises(LoadError, match="is missing but the warehouse already holds data"):
        load([write_exports(tmp_path / "in2")], settings)
    assert not settings.pseudonym_key_file.exists()


def test_rotation_rekeys_every_pseudonym_and_later_loads_match(tmp_path: Path) -> None:
    folder = write_exports(tmp_path / "in")
    settings = settings_for(tmp_path)
    # A rejected scores row puts pseudonyms into rejects.original_text too.
    from tests.load_helpers import EXPORTS

    load(
        [
            write_exports(
                folder, scores=EXPORTS["scores.csv"] + "A1,g9,human,nope,4,2024-01-29 10:00:00\n"
            )
        ],
        settings,
    )
    query = "select application_id, candidate_id from applications order by applied_at"
    before = rows(settings.db_path, query)
    old_key = read_key(settings.pseudonym_key_file)
    rotation = rotate_key(db_path=settings.db_path, key_file=settings.pseudonym_key_file)
    new_key = read_key(settings.pseudonym_key_file)
    assert len(new_key.secrets) == 2 and new_key.secrets[0] == old_key.secrets[0]
    assert rotation.old_fingerprint == old_key.fingerprint != rotation.new_fingerprint
    after = rows(settings.db_path, query)
    assert after == [
        (new_key.pseudonym("application", a), new_key.pseudonym("candidate", c))
        for a, c in (("A1", "P1"), ("A2", "P2"), ("A3", "P3"), ("A4", "P1"))
    ]
    assert set(after).isdisjoint(before)
    # Every table that stores an id now holds the new pseudonyms only.
    ids = {a for a, _ in after}
    for table in ("scores", "stage_events"):
        assert {a for (a,) in rows(settings.db_path, f"select application_id from {table}")} <= ids
    people = {c for _, c in after}
    assert {c for (c,) in rows(settings.db_path, "select candidate_id from demographics")} <= people
    attributes = rows(settings.db_path, "select distinct candidate_id from demographic_attributes")
    assert {c for (c,) in attributes} <= people
    [(text,)] = rows(settings.db_path, "select original_text from rejects")
    assert text.startswith(f"application_id={new_key.pseudonym('application', 'A1')}, grader_id=g9")
    # A later load with the rotated key maps the same ids to the same pseudonyms: no new people.
    load([write_exports(tmp_path / "later", fx_rates=None)], settings)
    assert rows(settings.db_path, "select count(*) from applications") == [(4,)]
    assert not (tmp_path / "pseudonym.key.rotated").exists()


def test_rotation_with_the_wrong_key_changes_nothing(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    load([write_exports(tmp_path / "in")], settings)
    load([write_exports(tmp_path / "in2")], Settings(tmp_path / "o.duckdb", tmp_path / "o.key"))
    before, key_before = sha(settings.db_path), (tmp_path / "o.key").read_text()
    with pytest.raises(LoadError, match="is not the key of"):
        rotate_key(db_path=settings.db_path, key_file=tmp_path / "o.key")
    assert sha(settings.db_path) == before and (tmp_path / "o.key").read_text() == key_before


def test_key_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path)
    monkeypatch.setenv("SIGNALBOARD_PSEUDONYM_KEY_FILE", str(settings.pseudonym_key_file))
    load([write_exports(tmp_path / "in")], settings)
    db = ["--db", str(settings.db_path)]
    assert cli_main(["key", "fingerprint", *db]) == 0
    fingerprint = read_key(settings.pseudonym_key_file).fingerprint
    assert f"fingerprint {fingerprint}, matches" in capsys.readouterr().out
    assert cli_main(["key", "rotate", *db]) == 0
    assert "re-keyed 34 pseudonyms" in capsys.readouterr().out
    assert cli_main(["key", "fingerprint", *db, "--key-file", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
