"""docs/data-contract.md is the rendering of etl/contract.py; docs/warehouse.md names every
warehouse table and column the DDL creates.
"""

from __future__ import annotations

import re

import duckdb

from etl.contract import TABLES
from etl.contract_docs import render
from etl.warehouse import create_schema
from tests.paths import REPO_ROOT

DOCS = REPO_ROOT / "docs"


def test_data_contract_doc_is_generated_from_the_contract() -> None:
    assert (DOCS / "data-contract.md").read_text() == render(), (
        "regenerate: python -m etl.contract_docs > docs/data-contract.md"
    )
    for spec in TABLES:
        for column in spec.columns:
            assert f"| `{column.name}` |" in render()


def test_warehouse_doc_lists_every_table_and_column() -> None:
    text = (DOCS / "warehouse.md").read_text()
    documented = set(re.findall(r"`([a-z_0-9]+)`", text))
    con = duckdb.connect()
    try:
        create_schema(con)
        columns = con.execute(
            "select table_name, column_name from information_schema.columns"
        ).fetchall()
    finally:
        con.close()
    missing = sorted({t for t, _ in columns} - documented) + sorted(
        f"{t}.{c}" for t, c in columns if c not in documented
    )
    assert missing == []
    assert "duckdb -readonly data/warehouse.duckdb" in text
