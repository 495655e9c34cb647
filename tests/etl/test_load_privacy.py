"""Privacy of the load: no names or emails anywhere in the warehouse, ids replaced by keyed
pseudonyms (HMAC-SHA256 computed in DuckDB, checked against Python's hmac), a secret kept outside
the warehouse, and the same pseudonym for the same id on every load.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import stat
import string
from pathlib import Path

import duckdb
import pytest

from etl.pseudonym import HEX_CHARS, PseudonymKey, key_params, load_or_create_key, pseudonym_sql
from signalboard.settings import Settings
from tests.load_helpers import EMAILS, EXPORTS, NAMES, load, settings_for, write_exports

RAW_APPLICATION_IDS = [f"GH-APP-{n:04d}" for n in range(1, 6)]
RAW_CANDIDATE_IDS = [f"GH-CAND-{n:04d}" for n in range(1, 6)]


def distinctive(text: str) -> str:
    """The sample set with ids that cannot occur by chance inside other values."""
    for n in range(5, 0, -1):
        text = text.replace(f"A{n},", f"{RAW_APPLICATION_IDS[n - 1]},")
        text = text.replace(f"P{n},", f"{RAW_CANDIDATE_IDS[n - 1]},")
    return text


def pii_exports(folder: Path) -> Path:
    bad_application = (
        "A5,P5,contract,,data_analyst,2024-01-09 10:00:00,job_board,US,,,,,,"
        "Dorothy Vaughan,dorothy@example.com"
    )
    malformed = "A5,Hedy Lamarr,hedy@example.com"
    replace = {name.removesuffix(".csv"): distinctive(text) for name, text in EXPORTS.items()}
    replace["applications"] = distinctive(
        EXPORTS["applications.csv"] + bad_application + "\n" + malformed + "\n"
    )
    return write_exports(folder, **replace)


SECRETS = [*NAMES, *EMAILS, "Dorothy Vaughan", "dorothy@example.com", "Hedy Lamarr", "hedy@"]


def varchar_columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    return con.execute(
        "select table_name, column_name from information_schema.columns "
        "where data_type = 'VARCHAR' order by all"
    ).fetchall()


def test_no_name_email_or_raw_id_anywhere_in_the_warehouse(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    result = load([pii_exports(tmp_path / "in")], settings)
    assert result.rows_rejected == 2  # the bad application and the malformed line
    needles = SECRETS + RAW_APPLICATION_IDS + RAW_CANDIDATE_IDS
    con = duckdb.connect(str(settings.db_path), read_only=True)
    try:
        columns = varchar_columns(con)
        tables = {t for t, _ in columns}
        assert {"applications", "demographics", "rejects", "demographic_attributes"} <= tables
        hits = []
        for table, column in columns:
            found = con.execute(
                f'select count(*) from "{table}" '
                f'where len(list_filter($needles, lambda n: contains("{column}", n))) > 0',
                {"needles": needles},
            ).fetchall()[0][0]
            if found:
                hits.append((table, column))
        assert hits == []
        attributes = con.execute("select distinct attribute from demographic_attributes").fetchall()
        assert sorted(a for (a,) in attributes) == ["disability", "race_ethnicity", "sex"]
        ids = con.execute(
            "select application_id, candidate_id from applications "
            "union all select application_id, null from scores "
            "union all select application_id, null from stage_events "
            "union all select null, candidate_id from demographics"
        ).fetchall()
        assert all(a is None or (a.startswith("a_") and len(a) == 2 + HEX_CHARS) for a, _ in ids)
        assert all(c is None or (c.startswith("c_") and len(c) == 2 + HEX_CHARS) for _, c in ids)
    finally:
        con.close()
    raw = settings.db_path.read_bytes()
    secret = settings.pseudonym_key_file.read_text().strip()
    for needle in [*SECRETS, secret]:
        assert needle.encode() not in raw


def test_rejected_rows_show_pseudonyms_not_ids(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    load([pii_exports(tmp_path / "in")], settings)
    key = load_or_create_key(settings.pseudonym_key_file)
    con = duckdb.connect(str(settings.db_path), read_only=True)
    try:
        rejects = con.execute("select line, reason, original_text from rejects order by line")
        (bad_line, bad_reason, bad_text), (malformed_line, malformed_reason, malformed_text) = (
            rejects.fetchall()
        )
    finally:
        con.close()
    assert (bad_line, malformed_line) == (6, 7)
    assert bad_reason == "not one of micro_internship, traditional: contract"
    assert bad_text.startswith(
        f"application_id={key.pseudonym('application', RAW_APPLICATION_IDS[4])}, "
        f"candidate_id={key.pseudonym('candidate', RAW_CANDIDATE_IDS[4])}, track=contract"
    )
    assert malformed_reason.startswith("line could not be parsed (missing columns")
    assert malformed_text is None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sql_hmac_matches_python_hmac(seed: int) -> None:
    """RFC 2104 HMAC-SHA256 in DuckDB equals Python's `hmac` on random ids and key lengths."""
    rng = random.Random(seed)
    secret = bytes(rng.getrandbits(8) for _ in range(rng.choice([16, 32, 64, 65, 100])))
    key = PseudonymKey(secret)
    alphabet = string.ascii_letters + string.digits + "-_ éü漢"
    ids = ["", "0", *("".join(rng.choices(alphabet, k=rng.randint(1, 80))) for _ in range(200))]
    con = duckdb.connect()
    try:
        got = con.execute(
            f"select {pseudonym_sql('candidate', 'id')} from (select unnest($ids) as id, "
            "generate_subscripts($ids, 1) as i) order by i",
            {"ids": ids, **key_params(key)},
        ).fetchall()
    finally:
        con.close()
    expected = [
        "c_" + hmac.new(secret, f"candidate:{i}".encode(), hashlib.sha256).hexdigest()[:HEX_CHARS]
        for i in ids
    ]
    assert [g for (g,) in got] == expected
    assert [key.pseudonym("candidate", i) for i in ids] == expected


def pseudonyms(settings: Settings) -> list[tuple[str, str]]:
    con = duckdb.connect(str(settings.db_path), read_only=True)
    try:
        return con.execute(
            "select application_id, candidate_id from applications order by applied_at"
        ).fetchall()
    finally:
        con.close()


def test_key_file_is_private_and_pseudonyms_are_stable(tmp_path: Path) -> None:
    folder = write_exports(tmp_path / "in")
    first = settings_for(tmp_path / "one")
    (tmp_path / "one").mkdir()
    load([folder], first)
    mode = stat.S_IMODE(os.stat(first.pseudonym_key_file).st_mode)
    assert mode == 0o600
    assert len(bytes.fromhex(first.pseudonym_key_file.read_text().strip())) == 32

    # Same key, another warehouse, a later re-load: the same person gets the same pseudonym.
    same_key = Settings(
        db_path=tmp_path / "two.duckdb", pseudonym_key_file=first.pseudonym_key_file
    )
    load([folder], same_key)
    assert pseudonyms(same_key) == pseudonyms(first)
    rows = pseudonyms(first)
    assert rows[0][1] == rows[3][1]  # P1 applied twice: one candidate pseudonym

    other_key = Settings(db_path=tmp_path / "three.duckdb", pseudonym_key_file=tmp_path / "k2")
    load([folder], other_key)
    assert set(pseudonyms(other_key)).isdisjoint(pseudonyms(first))


def test_a_broken_key_file_stops_the_load(tmp_path: Path) -> None:
    from etl.load import LoadError

    settings = settings_for(tmp_path)
    settings.pseudonym_key_file.write_text("not hex at all")
    with pytest.raises(LoadError, match="does not hold a hex key"):
        load([write_exports(tmp_path / "in")], settings)
