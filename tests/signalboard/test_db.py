"""signalboard.db: identifier quoting survives injection attempts on a real DuckDB file."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.warehouse import connect_writable
from signalboard.db import query_rows, query_scalar, quote_identifier


@pytest.mark.parametrize(
    "name",
    ["scores", "weird name", 'x"; drop table keep; --', "Ünïcode", "select"],
)
def test_quote_identifier_round_trips(tmp_path: Path, name: str) -> None:
    con = connect_writable(tmp_path / "w.duckdb")
    con.execute("create table keep as select 1 as i")
    con.execute(f"create table {quote_identifier(name)} as select 42 as v")
    assert query_scalar(con, f"select v from {quote_identifier(name)}") == 42
    # The injection attempt created a table with that literal name and dropped nothing.
    assert query_rows(con, "select i from keep") == [(1,)]
    con.close()


def test_quote_identifier_refuses_nul() -> None:
    with pytest.raises(ValueError, match="NUL"):
        quote_identifier("a\x00b")
