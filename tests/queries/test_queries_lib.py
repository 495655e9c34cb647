"""The query-file header parser and typed parameter binding (signalboard.queries)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from signalboard.db import connect_memory
from signalboard.queries import QueryError, parse_query_file, parse_value, run_query

HEADER = """-- grain: one row per number
-- title: Numbers
-- description: Integers up to a limit.
-- param: limit integer = 3 | how many
-- param: since date = null | first day
-- param: tags text[] = a,b | labels

with numbers as (select range as n from range($limit)),
final as (select n, $since as since, len($tags) as tags from numbers)
select * from final
"""


@pytest.mark.parametrize(
    ("raw", "type_", "expected"),
    [
        ("3", "integer", 3),
        ("2.5", "number", 2.5),
        ("2024-02-29", "date", dt.date(2024, 2, 29)),
        ("2024-02-29T10:00:00", "timestamp", dt.datetime(2024, 2, 29, 10)),
        ("yes", "boolean", True),
        ("false", "boolean", False),
        ("null", "date", None),
        ("x, y,,z", "text[]", ["x", "y", "z"]),
        (" hello ", "text", "hello"),
    ],
)
def test_parse_value(raw: str, type_: str, expected: object) -> None:
    assert parse_value(raw, type_) == expected


@pytest.mark.parametrize(
    ("raw", "type_"),
    [("three", "integer"), ("2.5", "integer"), ("2024-13-01", "date"), ("maybe", "boolean")],
)
def test_parse_value_rejects_malformed(raw: str, type_: str) -> None:
    with pytest.raises(QueryError, match="is not a valid"):
        parse_value(raw, type_, name="p")


def test_header_and_binding(tmp_path: Path) -> None:
    path = tmp_path / "numbers.sql"
    path.write_text(HEADER)
    query = parse_query_file(path)
    assert (query.title, query.grain) == ("Numbers", "one row per number")
    assert [p.name for p in query.params] == ["limit", "since", "tags"]
    assert query.bind({"limit": "5"}) == {"limit": 5, "since": None, "tags": ["a", "b"]}
    with pytest.raises(QueryError, match="unknown parameter nope"):
        query.bind({"nope": 1})
    frame = run_query(connect_memory(), path, {"limit": "4"})
    assert frame["n"].tolist() == [0, 1, 2, 3]
    assert frame["tags"].tolist() == [2, 2, 2, 2]


def test_header_missing_grain_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.sql"
    path.write_text("-- title: x\n-- description: y\nselect 1\n")
    with pytest.raises(QueryError, match="header lacks grain"):
        parse_query_file(path)
