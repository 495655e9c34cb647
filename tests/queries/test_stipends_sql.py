"""queries/stipend_applications.sql and stipend_attributes.sql on a hand-made warehouse.

Price levels used (published, from the team's cost-of-living notes): BEA MARPP 2023 San
Francisco-Oakland-Fremont (CBSA 41860) 117.55; BEA SARPP 2023 California 112.6. The Canadian
level 88.888889 is 100 * PPP 1.2 / exchange rate 1.35 (World Bank PA.NUS.PRVT.PP, 2023, rounded).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from etl.warehouse import create_schema
from signalboard.db import connect_memory
from signalboard.queries import run_query

COHORTS = [
    # cohort_id, role, brief, starts_on, ends_on, rubric, estimated_hours
    ("c1", "data_analyst", "Churn", "2024-03-01", "2024-03-14", "v1", 25.0),
    ("c2", "engineer", "API", "2024-04-01", "2024-04-10", "v1", 10.0),
]
APPLICATIONS = [
    # id, candidate, cohort, role, applied_at, country, region, metro, amount, currency, hours
    ("a1", "p1", "c1", "data_analyst", "2024-02-01 10:00", "US", "US-CA", "41860", 1000, "USD", 40),
    ("a2", "p2", "c1", "data_analyst", "2024-02-02 10:00", "US", "US-CA", "99999", 1000, "USD", None),
    ("a3", "p3", "c1", "data_analyst", "2024-02-03 10:00", "US", "US-TX", None, 1000, "USD", None),
    ("a4", "p4", "c1", "data_analyst", "2024-02-04 10:00", "CA", "CA-ON", None, 1200, "CAD", 0),
    ("a5", "p5", "c2", "engineer", "2024-02-05 10:00", "BR", None, None, 500, "BRL", None),
    ("a6", "p6", "c2", "engineer", "2024-02-06 10:00", "XX", None, None, 800, "USD", None),
    ("a7", "p7", "c2", "engineer", "2024-02-07 10:00", "US", "US-CA", None, 0, "USD", None),
    ("a8", "p8", "c2", "engineer", "2024-02-08 10:00", "US", "US-CA", None, None, None, None),
]  # fmt: skip
COST_OF_LIVING = [
    ("US", "41860", 117.55, "BEA MARPP", "2023"),
    ("US", "41860", 116.0, "BEA MARPP", "2022"),
    ("US", "US-CA", 112.6, "BEA SARPP", "2023"),
    ("US", None, 100.0, "World Bank PA.NUS.PRVT.PLI", "2024"),
    ("CA", None, 88.888889, "World Bank PA.NUS.PRVT.PP", "2023"),
    ("BR", None, 50.0, "World Bank PA.NUS.PRVT.PP", "2023"),
]
FX = [("CAD", 0.74, "2024-02-28"), ("CAD", 0.80, "2024-03-05"), ("USD", 1.0, "2024-01-01")]
ATTRIBUTES = [("p1", "sex", "Female"), ("p1", "race_ethnicity", "Asian"), ("p2", "sex", "Male")]


def build_warehouse(
    con: duckdb.DuckDBPyConnection,
    *,
    cohorts=COHORTS,
    applications=APPLICATIONS,
    cost_of_living=COST_OF_LIVING,
    fx=FX,
    attributes=ATTRIBUTES,
) -> None:
    """Create the schema and insert hand-made rows (shared with the other stipend tests)."""
    create_schema(con)
    con.executemany("insert into cohorts values (?, ?, ?, ?, ?, ?, ?)", list(cohorts))
    con.executemany(
        "insert into applications (application_id, candidate_id, track, cohort_id, role, "
        "applied_at, country, region, metro, stipend_amount, stipend_currency, hours_logged) "
        "values (?, ?, 'micro_internship', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        list(applications),
    )
    if cost_of_living:
        con.executemany("insert into cost_of_living values (?, ?, ?, ?, ?)", list(cost_of_living))
    if fx:
        con.executemany("insert into fx_rates values (?, ?, ?)", list(fx))
    if attributes:
        con.executemany("insert into demographic_attributes values (?, ?, ?)", list(attributes))


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = connect_memory()
    build_warehouse(connection)
    yield connection
    connection.close()


def _by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("application_id")


def test_real_stipend_by_hand(con: duckdb.DuckDBPyConnection) -> None:
    """real = usd / (price_level / 100), from the most specific place's latest vintage."""
    rows = _by_id(run_query(con, "stipend_applications", queries_dir=Path("queries")))
    assert "a8" not in rows.index  # no stipend yet: not a stipend row
    a1 = rows.loc["a1"]  # metro price level wins over the state and the country
    assert (a1["col_match"], a1["col_vintage"], a1["price_level"]) == ("metro", "2023", 117.55)
    assert a1["real_stipend_usd"] == pytest.approx(1000 / 1.1755)  # 850.70
    assert a1["hourly_usd"] == pytest.approx(40.0)  # 1000 / 25 estimated hours
    assert a1["hourly_logged_usd"] == pytest.approx(25.0)  # 1000 / 40 hours logged
    assert a1["real_hourly_usd"] == pytest.approx(1000 / 1.1755 / 25)
    assert a1["cohort_length_days"] == 14
    a2 = rows.loc["a2"]  # unknown metro: the state
    assert (a2["col_match"], a2["price_level"]) == ("region", 112.6)
    assert a2["real_stipend_usd"] == pytest.approx(888.0995, rel=1e-6)
    a3 = rows.loc["a3"]  # no state level for TX: the country
    assert (a3["col_match"], a3["real_stipend_usd"]) == ("country", 1000.0)


def test_market_rate_on_or_before_cohort_start(con: duckdb.DuckDBPyConnection) -> None:
    rows = _by_id(run_query(con, "stipend_applications", queries_dir=Path("queries")))
    a4 = rows.loc["a4"]  # 1200 CAD at 0.74 (2024-02-28, the last rate before 2024-03-01)
    assert a4["stipend_usd"] == pytest.approx(888.0)
    assert a4["real_stipend_usd"] == pytest.approx(888.0 / 0.88888889)  # 999.0
    assert pd.isna(a4["hourly_logged_usd"])  # 0 hours logged: no rate, not infinity


def test_missing_data_kept_with_blank_real(con: duckdb.DuckDBPyConnection) -> None:
    rows = _by_id(run_query(con, "stipend_applications", queries_dir=Path("queries")))
    assert pd.isna(rows.loc["a5", "stipend_usd"]) and rows.loc["a5", "price_level"] == 50.0
    a6 = rows.loc["a6"]  # no price level for XX: stipend kept, real blank
    assert a6["stipend_usd"] == 800.0 and pd.isna(a6["real_stipend_usd"])
    assert pd.isna(a6["col_source"])
    assert rows.loc["a7", "stipend_usd"] == 0.0


def test_vintage_parameter_pins_one_vintage(con: duckdb.DuckDBPyConnection) -> None:
    rows = _by_id(
        run_query(con, "stipend_applications", {"vintage": "2022"}, queries_dir=Path("queries"))
    )
    assert rows.loc["a1", "price_level"] == 116.0
    assert rows["price_level"].notna().sum() == 1  # only 41860 has a 2022 level


def test_filters_apply(con: duckdb.DuckDBPyConnection) -> None:
    rows = run_query(
        con, "stipend_applications", {"roles": ["engineer"]}, queries_dir=Path("queries")
    )
    assert sorted(rows["application_id"]) == ["a5", "a6", "a7"]


def test_attributes_unknown_when_not_given(con: duckdb.DuckDBPyConnection) -> None:
    rows = run_query(con, "stipend_attributes", queries_dir=Path("queries"))
    assert len(rows) == 7 * 2  # 7 stipend rows x 2 attributes
    wide = rows.pivot(index="application_id", columns="attribute", values="value")
    assert wide.loc["a1"].tolist() == ["Asian", "Female"]
    assert wide.loc["a2"].tolist() == ["Unknown", "Male"]
    assert wide.loc["a6"].tolist() == ["Unknown", "Unknown"]
