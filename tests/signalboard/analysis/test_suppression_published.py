"""Attack on every published table that counts people by self-identified group: no shown count
is below k, and no difference of two shown counts in the same row that counts people (n -
selected: applicants not selected; n - reached: a step's drop-off; n - n_real: people without
a price level) is between 1 and k-1. Run on the sample warehouse, as the report writes the
tables and as the pages compute them under filters that make groups small.

The LL144 tables are out of scope: the rule requires every category's figures (docs/fairness.md).
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from signalboard.analysis import fairness, funnel, stipends
from signalboard.settings import Settings
from signalboard.stats.suppression import is_hidden

# Per published table: the count columns of people by group, and the (whole, part) pairs whose
# difference counts people too.
COUNTS: dict[str, tuple[tuple[str, ...], tuple[tuple[str, str], ...]]] = {
    "adverse_impact": (("n", "selected"), (("n", "selected"),)),
    "unknowns": (("unknown_n",), ()),
    "funnel": (("reached", "n"), (("n", "reached"),)),
    "stipends": (("n", "n_real"), (("n", "n_real"),)),
    "stipend_cohort_tests": (("n_group", "n_reference"), ()),
    "stipend_pay_gap_reporting": (("n_male", "n_female"), ()),
    "stipend_pay_quartiles": (("n",), ()),
    "stipend_pay_categories": (("n_male", "n_female"), ()),
}
# Funnel rows broken down by these carry no self-ID data and are published unsuppressed.
PLAIN_FUNNEL = {"all", *funnel.DIMENSIONS}


def leaks(name: str, frame: pd.DataFrame, k: int) -> list[tuple[int, str, object]]:
    """(row, what, value) for each shown count under k and each small shown difference."""
    columns, pairs = COUNTS[name]
    if name == "funnel" and "segment_type" in frame:
        types = frame["segment_type"].astype(str).str.split(" x ")
        frame = frame[~types.map(lambda parts: set(parts) <= PLAIN_FUNNEL)]
    found: list[tuple[int, str, object]] = []
    for index, row in frame.iterrows():
        for column in columns:
            value = row[column]
            if value is None or is_hidden(value) or pd.isna(value):
                continue
            if int(value) < k:
                found.append((index, column, value))
        for whole, part in pairs:
            a, b = row[whole], row[part]
            if any(v is None or is_hidden(v) or pd.isna(v) for v in (a, b)):
                continue
            if 1 <= int(a) - int(b) < k:
                found.append((index, f"{whole} - {part}", int(a) - int(b)))
    return found


@pytest.mark.parametrize("k", [5, 8])
def test_report_tables_show_no_small_count_or_difference(sample_con, k: int) -> None:
    settings = dataclasses.replace(Settings(), min_cell_size=k)
    tables = {
        t.name: t.frame
        for section in (fairness, funnel, stipends)
        for t in section.report_tables(sample_con, settings=settings)
    }
    checked = [name for name in COUNTS if name in tables]
    assert {"adverse_impact", "funnel", "stipends", "unknowns"} <= set(checked), sorted(tables)
    for name in checked:
        assert leaks(name, tables[name], k) == [], name
    # The pairs are not vacuous: the tables hold rows where both counts are shown.
    audit = tables["adverse_impact"]
    both = ~audit["n"].map(is_hidden) & ~audit["selected"].map(is_hidden)
    assert both.sum() > 50


@pytest.mark.parametrize(
    "params",
    [{}, {"roles": ["data_analyst"]}, {"start_date": pd.Timestamp("2026-01-01").date()}],
    ids=["all", "one_role", "recent"],
)
def test_page_tables_show_no_small_count_or_difference(sample_con, params) -> None:
    k = 5
    tables = fairness.fairness_tables_from_db(sample_con, params=params, k=k)
    assert leaks("adverse_impact", tables.adverse_impact, k) == []
    assert leaks("unknowns", tables.unknowns, k) == []
    for by in (("sex",), ("race_ethnicity",), ("age_band",), ("sex", "role")):
        table = funnel.funnel_table_sql(sample_con, by=by, params=params, k=k)
        assert "suppressed" in table
        assert leaks("funnel", table.assign(segment_type=" x ".join(by)), k) == [], by
    page = stipends.page_view(sample_con, params, k=k)
    for name, frame in page.tables.items():
        if name in COUNTS and len(frame):
            assert leaks(name, frame, k) == [], name
