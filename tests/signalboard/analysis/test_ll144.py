"""NYC Local Law 144 tables for the LLM triage: the rule's worked examples, ties, unknowns,
suppression and the HTML summary."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from signalboard.analysis import ll144
from signalboard.analysis.ll144 import (
    LL144_COLUMNS,
    intersectional_categories,
    ll144_audit,
    rates_table,
    render_summary_html,
    suppress_ll144,
)

# NYC DCWP rules 6 RCNY 5-301 (adopted 2023-04-06), examples in 5-301(b) (A: selection rates)
# and 5-301(d) (B: scoring rates), copied from ../shared/oracles/ll144-examples.csv:
# (table, category, n, selected, printed rate, printed impact ratio).
EXAMPLE_A = [
    ("sex", "Male", 1390, 667, "48%", "1.00"),
    ("sex", "Female", 1181, 555, "47%", "0.979"),
    ("race", "Hispanic or Latino", 408, 204, "50%", "0.97"),
    ("race", "White", 797, 412, "52%", "1.00"),
    ("race", "Black or African American", 390, 170, "44%", "0.84"),
    ("race", "Native Hawaiian or Pacific Islander", 119, 52, "44%", "0.85"),
    ("race", "Asian", 616, 302, "49%", "0.95"),
    ("race", "Native American or Alaska Native", 41, 18, "44%", "0.85"),
    ("race", "Two or More Races", 213, 96, "45%", "0.87"),
    ("inter", "Hispanic or Latino|Male", 205, 90, "43.9%", "0.841"),
    ("inter", "Hispanic or Latino|Female", 190, 82, "43.2%", "0.827"),
    ("inter", "White|Male", 412, 215, "52.2%", "1.000"),
    ("inter", "Black or African American|Male", 226, 95, "42.0%", "0.806"),
    ("inter", "Native Hawaiian or Pacific Islander|Male", 87, 37, "42.5%", "0.815"),
    ("inter", "Asian|Male", 321, 167, "52.0%", "0.997"),
    ("inter", "Native American or Alaska Native|Male", 24, 11, "45.8%", "0.878"),
    ("inter", "Two or More Races|Male", 115, 52, "45.2%", "0.866"),
    ("inter", "White|Female", 385, 197, "51.2%", "0.981"),
    ("inter", "Black or African American|Female", 164, 75, "45.7%", "0.876"),
    ("inter", "Native Hawaiian or Pacific Islander|Female", 32, 15, "46.9%", "0.898"),
    ("inter", "Asian|Female", 295, 135, "45.8%", "0.877"),
    ("inter", "Native American or Alaska Native|Female", 17, 7, "41.2%", "0.789"),
    ("inter", "Two or More Races|Female", 98, 44, "44.9%", "0.860"),
]
EXAMPLE_B = [
    ("sex", "Male", 92, 50, "54.3%", "1.00"),
    ("sex", "Female", 76, 34, "44.7%", "0.82"),
    ("race", "Hispanic or Latino", 28, 18, "64.2%", "1.00"),
    ("race", "White", 40, 15, "37.5%", "0.58"),
    ("race", "Black or African American", 32, 16, "50.0%", "0.78"),
    ("race", "Native Hawaiian or Pacific Islander", 8, 5, "62.5%", "0.97"),
    ("race", "Asian", 24, 10, "41.7%", "0.65"),
    ("race", "Native American or Alaska Native", 16, 10, "62.5%", "0.97"),
    ("race", "Two or More Races", 20, 10, "50.0%", "0.78"),
    ("inter", "Hispanic or Latino|Male", 16, 12, "75%", "1.00"),
    ("inter", "Hispanic or Latino|Female", 12, 6, "50%", "0.67"),
    ("inter", "White|Male", 20, 7, "35%", "0.47"),
    ("inter", "Black or African American|Male", 20, 10, "50%", "0.67"),
    ("inter", "Native Hawaiian or Pacific Islander|Male", 4, 3, "75%", "1.00"),
    ("inter", "Asian|Male", 12, 7, "58.3%", "0.78"),
    ("inter", "Native American or Alaska Native|Male", 8, 5, "62.5%", "0.83"),
    ("inter", "Two or More Races|Male", 12, 6, "50%", "0.67"),
    ("inter", "White|Female", 20, 8, "40%", "0.53"),
    ("inter", "Black or African American|Female", 12, 6, "50%", "0.67"),
    ("inter", "Native Hawaiian or Pacific Islander|Female", 4, 2, "50%", "0.67"),
    ("inter", "Asian|Female", 12, 3, "25%", "0.33"),
    ("inter", "Native American or Alaska Native|Female", 8, 5, "62.5%", "0.83"),
    ("inter", "Two or More Races|Female", 8, 4, "50%", "0.67"),
]
EXAMPLE_B_UNKNOWN = 15  # individuals with unknown sex or race/ethnicity in example B


def _decimals(printed: str) -> int:
    return len(printed.split(".")[1]) if "." in printed else 0


def _check_example(rows, table: str) -> None:
    picked = [r for r in rows if r[0] == table]
    counts = pd.DataFrame(
        {
            "category": [r[1] for r in picked],
            "n": [r[2] for r in picked],
            "count": [r[3] for r in picked],
        }
    )
    # The rule computes every impact ratio, small categories included (min_share=0).
    out = rates_table(counts, min_share=0)
    for (_, category, _, _, rate, ratio), got in zip(picked, out.itertuples(), strict=True):
        assert got.category == category
        # Rates: the rule prints them rounded (or truncated: 18/28 = 64.29% is printed 64.2%).
        # Within one unit of the last printed place.
        printed = rate.rstrip("%")
        unit = 10.0 ** -_decimals(printed)
        assert 100 * got.rate == pytest.approx(float(printed), abs=unit + 1e-9), category
        places = _decimals(ratio)
        assert round(got.impact_ratio, places) == pytest.approx(float(ratio)), category


@pytest.mark.parametrize("table", ["sex", "race", "inter"])
def test_example_a_selection_rates(table: str) -> None:
    """6 RCNY 5-301(b) example A: selection rates and impact ratios, from the counts (the race
    table's Hispanic row is not the sum of its intersectional cells: each table is its own)."""
    _check_example(EXAMPLE_A, table)


@pytest.mark.parametrize("table", ["sex", "race", "inter"])
def test_example_b_scoring_rates(table: str) -> None:
    """6 RCNY 5-301(d) example B: scoring rates and impact ratios."""
    _check_example(EXAMPLE_B, table)


def test_intersectional_order_is_the_rules() -> None:
    assert intersectional_categories() == [r[1] for r in EXAMPLE_A if r[0] == "inter"]


def test_small_categories_excluded_by_default() -> None:
    """Under 2% of the individuals: n and rate kept, impact ratio left out (5-301 allows it)."""
    picked = [r for r in EXAMPLE_A if r[0] == "inter"]
    counts = pd.DataFrame(
        {
            "category": [r[1] for r in picked],
            "n": [r[2] for r in picked],
            "count": [r[3] for r in picked],
        }
    )
    out = rates_table(counts).set_index("category")
    small = out.loc["Native American or Alaska Native|Female"]  # 17 of 2,571 = 0.7%
    assert small["excluded_from_ir"] and np.isnan(small["impact_ratio"])
    assert small["rate"] == pytest.approx(7 / 17)
    assert not out.loc["White|Male", "excluded_from_ir"]


def _example_b_people() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Individuals reproducing example B: each intersectional cell's people, `count` of them with
    a high distinct score and the rest low, plus 15 with unknown sex and race/ethnicity. With 92
    low scores out of 183 the median is the highest low score (1 tie, not above it)."""
    rows = []
    for _, category, n, hits, _, _ in (r for r in EXAMPLE_B if r[0] == "inter"):
        race, sex = category.split("|")
        rows += [(race, sex, True)] * hits + [(race, sex, False)] * (n - hits)
    rows += [("Unknown", "Unknown", True)] * 7 + [("Unknown", "Unknown", False)] * 8
    people = pd.DataFrame(rows, columns=["race_ethnicity", "sex", "hit"])
    people["candidate_id"] = [f"C{i:04d}" for i in range(len(people))]
    people["application_id"] = [f"A{i:04d}" for i in range(len(people))]
    low = np.flatnonzero(~people["hit"].to_numpy())
    high = np.flatnonzero(people["hit"].to_numpy())
    score = np.empty(len(people))
    score[low] = 1.0 + np.arange(len(low)) / 1000
    score[high] = 3.0 + np.arange(len(high)) / 1000
    journeys = pd.DataFrame(
        {
            "application_id": people["application_id"],
            "candidate_id": people["candidate_id"],
            # the triage passes exactly the high scorers
            "furthest_stage_index": np.where(people["hit"], 3, 2),
            "outcome": np.where(people["hit"], "in_progress", "rejected"),
            "applied_at": pd.Timestamp("2025-03-01") + pd.to_timedelta(np.arange(len(people)), "h"),
        }
    )
    demographics = people.melt(
        id_vars=["candidate_id"], value_vars=["sex", "race_ethnicity"], var_name="attribute"
    )
    llm = pd.DataFrame(
        {
            "application_id": people["application_id"],
            "llm_score": score,
            "llm_scored_at": pd.Timestamp("2025-03-10"),
        }
    )
    return journeys, demographics, llm


def test_example_b_end_to_end_from_individuals() -> None:
    """From person-level rows: the scoring tables equal example B, 15 unknown, median tie
    counted, and the selection tables (triage passes the high scorers) give the same counts."""
    journeys, demographics, llm = _example_b_people()
    result = ll144_audit(journeys, demographics, llm, min_share=0)
    assert result.n_scoring == 168 + EXAMPLE_B_UNKNOWN
    assert result.ties_at_median == 1
    assert result.median_score == pytest.approx(1.0 + 91 / 1000)
    names = {"sex": "sex", "race": "race_ethnicity", "inter": "intersectional"}
    for mode in ("scoring", "selection"):
        table = result.table[result.table["mode"] == mode]
        for short, category, n, hits, _, ratio in EXAMPLE_B:
            row = table[(table["table"] == names[short]) & (table["category"] == category)].iloc[0]
            assert (row["n"], row["count"]) == (n, hits), (mode, category)
            assert round(row["impact_ratio"], _decimals(ratio)) == pytest.approx(float(ratio))
        unknown = table[table["category"] == "Unknown"]
        assert unknown["n"].tolist() == [EXAMPLE_B_UNKNOWN] * 3
        assert unknown["excluded_from_ir"].all()
    assert result.date_start == dt.date(2025, 3, 1)
    assert list(result.table.columns) == list(LL144_COLUMNS)


def test_ties_are_not_above_the_median() -> None:
    journeys = pd.DataFrame(
        {
            "application_id": ["a", "b", "c", "d", "e"],
            "candidate_id": ["a", "b", "c", "d", "e"],
            "furthest_stage_index": [3, 3, 3, 2, 2],
            "outcome": ["hired", "hired", "rejected", "rejected", "rejected"],
            "applied_at": pd.Timestamp("2025-01-01"),
        }
    )
    demographics = pd.DataFrame(
        {
            "candidate_id": list("abcde") * 2,
            "attribute": ["sex"] * 5 + ["race_ethnicity"] * 5,
            "value": ["Male", "Female", "Male", "Female", "Male"] + ["White"] * 5,
        }
    )
    llm = pd.DataFrame(
        {
            "application_id": list("abcde"),
            "llm_score": [4.0, 3.0, 3.0, 3.0, 2.0],
            "llm_scored_at": None,
        }
    )
    result = ll144_audit(journeys, demographics, llm, min_share=0)
    assert result.median_score == 3.0
    assert result.ties_at_median == 3
    scoring = result.table[(result.table["mode"] == "scoring") & (result.table["table"] == "sex")]
    assert scoring.set_index("category").loc["Male", "count"] == 1  # only the 4.0
    assert scoring.set_index("category").loc["Female", "count"] == 0


def test_suppression_and_summary_html() -> None:
    journeys, demographics, llm = _example_b_people()
    result = ll144_audit(journeys, demographics, llm)
    published = suppress_ll144(result.table, k=5)
    inter = published[published["table"] == "intersectional"].set_index(["mode", "category"])
    # NHPI|Male has 4 individuals: masked, and its rate hidden
    assert inter.loc[("scoring", "Native Hawaiian or Pacific Islander|Male"), "n"] == "<5"
    assert inter.loc[("scoring", "Native Hawaiian or Pacific Islander|Male"), "rate"] is None
    for column in ("n", "count"):
        shown = published[column][published[column].map(lambda v: not isinstance(v, str))]
        assert (shown.astype(int) >= 5).all()
    page = render_summary_html(result, published, k=5, audit_date=dt.date(2026, 1, 2))
    assert page.startswith("<!doctype html>")
    assert "2025-03-01 to 2025-03-10" in page
    assert "Date of the bias audit</dt><dd>2026-01-02" in page
    assert "Hispanic or Latino, Male" in page
    assert "&lt;5" in page
    assert "<script" not in page and "http" not in page  # self-contained


# 6 RCNY 5-301, examples in (b) (selection rates, example A) and (d) (scoring rates, example B),
# as the rule prints them: example, table, category, n, selected, rate, impact ratio.
DCWP_EXAMPLES = """\
A,sex,Male,1390,667,48%,1.00
A,sex,Female,1181,555,47%,0.979
A,race,Hispanic or Latino,408,204,50%,0.97
A,race,White,797,412,52%,1.00
A,race,Black or African American,390,170,44%,0.84
A,race,Native Hawaiian or Pacific Islander,119,52,44%,0.85
A,race,Asian,616,302,49%,0.95
A,race,Native American or Alaska Native,41,18,44%,0.85
A,race,Two or More Races,213,96,45%,0.87
A,inter,Hispanic or Latino|Male,205,90,43.9%,0.841
A,inter,Hispanic or Latino|Female,190,82,43.2%,0.827
A,inter,White|Male,412,215,52.2%,1.000
A,inter,Black or African American|Male,226,95,42.0%,0.806
A,inter,Native Hawaiian or Pacific Islander|Male,87,37,42.5%,0.815
A,inter,Asian|Male,321,167,52.0%,0.997
A,inter,Native American or Alaska Native|Male,24,11,45.8%,0.878
A,inter,Two or More Races|Male,115,52,45.2%,0.866
A,inter,White|Female,385,197,51.2%,0.981
A,inter,Black or African American|Female,164,75,45.7%,0.876
A,inter,Native Hawaiian or Pacific Islander|Female,32,15,46.9%,0.898
A,inter,Asian|Female,295,135,45.8%,0.877
A,inter,Native American or Alaska Native|Female,17,7,41.2%,0.789
A,inter,Two or More Races|Female,98,44,44.9%,0.860
B,sex,Male,92,50,54.3%,1.00
B,sex,Female,76,34,44.7%,0.82
B,race,Hispanic or Latino,28,18,64.2%,1.00
B,race,White,40,15,37.5%,0.58
B,race,Black or African American,32,16,50.0%,0.78
B,race,Native Hawaiian or Pacific Islander,8,5,62.5%,0.97
B,race,Asian,24,10,41.7%,0.65
B,race,Native American or Alaska Native,16,10,62.5%,0.97
B,race,Two or More Races,20,10,50.0%,0.78
B,inter,Hispanic or Latino|Male,16,12,75%,1.00
B,inter,Hispanic or Latino|Female,12,6,50%,0.67
B,inter,White|Male,20,7,35%,0.47
B,inter,Black or African American|Male,20,10,50%,0.67
B,inter,Native Hawaiian or Pacific Islander|Male,4,3,75%,1.00
B,inter,Asian|Male,12,7,58.3%,0.78
B,inter,Native American or Alaska Native|Male,8,5,62.5%,0.83
B,inter,Two or More Races|Male,12,6,50%,0.67
B,inter,White|Female,20,8,40%,0.53
B,inter,Black or African American|Female,12,6,50%,0.67
B,inter,Native Hawaiian or Pacific Islander|Female,4,2,50%,0.67
B,inter,Asian|Female,12,3,25%,0.33
B,inter,Native American or Alaska Native|Female,8,5,62.5%,0.83
B,inter,Two or More Races|Female,8,4,50%,0.67
"""


def _dcwp_tables() -> list[tuple[str, str, pd.DataFrame]]:
    rows = [line.split(",") for line in DCWP_EXAMPLES.splitlines()]
    frame = pd.DataFrame(rows, columns=["example", "table", "category", "n", "count", "rate", "ir"])
    return [
        (example, table, part.reset_index(drop=True))
        for (example, table), part in frame.groupby(["example", "table"], sort=False)
    ]


def _unit(printed: str) -> float:
    """One unit of the printed value's last digit (the rule rounds or truncates to it)."""
    digits = printed.rstrip("%").partition(".")[2]
    return 10.0 ** -len(digits) * (0.01 if printed.endswith("%") else 1.0)


def _value(printed: str) -> float:
    return float(printed.rstrip("%")) / (100.0 if printed.endswith("%") else 1.0)


@pytest.mark.parametrize(
    ("example", "table", "printed"), _dcwp_tables(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_dcwp_worked_examples_reproduce_in_full(example, table, printed) -> None:
    """6 RCNY 5-301 (adopted 2023-04-06), examples A (5-301(b), selection) and B (5-301(d),
    scoring): every category's n, rate and impact ratio as the rule prints them, within one unit
    of the printed last digit (the rule rounds some values and truncates others, e.g. 18/28 as
    64.2%). The rule's examples rank every category, so min_share=0 reproduces them; example B's
    worst ratio, Asian female 0.33 (n=12), is among the rows, since LL144 tables are published
    without suppression."""
    counts = pd.DataFrame(
        {
            "category": printed["category"],
            "n": printed["n"].astype(int),
            "count": printed["count"].astype(int),
        }
    )
    out = ll144.rates_table(counts, min_share=0.0)
    assert out["n"].tolist() == counts["n"].tolist()
    for row, got in zip(printed.itertuples(index=False), out.itertuples(index=False), strict=True):
        assert abs(got.rate - _value(row.rate)) <= _unit(row.rate) + 1e-12, row
        assert abs(got.impact_ratio - _value(row.ir)) <= _unit(row.ir) + 1e-12, row
    published = ll144.publish_ll144(
        out.assign(mode="selection", table=table, suppressed=False)[list(ll144.LL144_COLUMNS[:-1])]
    )
    assert published["impact_ratio"].notna().all()
    assert (published["n"] == counts["n"]).all()


def test_dcwp_example_a_with_the_two_percent_exclusion() -> None:
    """Example A's race table with the rule's optional 2% exclusion: Native American or Alaska
    Native (41 of 2,584, 1.6%) loses its ratio, keeps n=41 and rate 18/41, and says why."""
    (part,) = [p for e, t, p in _dcwp_tables() if (e, t) == ("A", "race")]
    counts = pd.DataFrame(
        {
            "category": part["category"],
            "n": part["n"].astype(int),
            "count": part["count"].astype(int),
        }
    )
    out = ll144.rates_table(counts)
    published = ll144.publish_ll144(
        out.assign(mode="selection", table="race_ethnicity", suppressed=False)[
            list(ll144.LL144_COLUMNS[:-1])
        ]
    )
    row = published[published["category"] == "Native American or Alaska Native"].iloc[0]
    assert row["excluded_from_ir"] and np.isnan(row["impact_ratio"])
    assert row["n"] == 41 and row["rate"] == pytest.approx(18 / 41)
    assert "under 2%" in row["ir_note"]
    others = published[published["category"] != "Native American or Alaska Native"]
    assert others["impact_ratio"].notna().all() and (others["ir_note"] == "").all()
