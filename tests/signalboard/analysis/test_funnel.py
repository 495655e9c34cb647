"""Funnel analysis on hand-made journeys with hand-computed numbers, and on the sample warehouse.

Every expected number below was worked out by hand from the rows of the fixture (comments say
how); the exact-test p-values are recomputed from the hypergeometric formula with math.comb.
"""

from __future__ import annotations

import doctest
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from etl.contract import STAGES
from signalboard.analysis import funnel, time_to_hire
from signalboard.analysis.tables import ReportTable
from signalboard.db import connect_readonly
from signalboard.queries import run_query
from signalboard.settings import Settings

T0 = pd.Timestamp("2025-01-01")


def app(
    app_id: str,
    furthest: str,
    outcome: str = "rejected",
    *,
    track: str = "micro_internship",
    cohort: str | None = "c1",
    cohort_start: str | None = "2025-01-10",
    cohort_end: str | None = "2025-01-23",
    stage_days: dict[str, float] | None = None,
    as_of: str = "2025-06-01",
    role: str = "analyst",
    source: str | None = "referral",
    sex: str = "Female",
) -> dict:
    """One application_journeys row: stages up to `furthest` reached on day 2*i after T0."""
    index = STAGES.index(furthest)
    has_cohort = bool(cohort) and track == "micro_internship"  # traditional has no cohorts
    days = {s: 2.0 * i for i, s in enumerate(STAGES)} | (stage_days or {})
    row = {
        "application_id": app_id,
        "candidate_id": f"cand-{app_id}",
        "track": track,
        "cohort_id": cohort if track == "micro_internship" else None,
        "role": role,
        "source": source,
        "country": "US",
        "region": "US-CA",
        "metro": None,
        "applied_at": T0,
        "cohort_starts_on": pd.Timestamp(cohort_start) if cohort_start and has_cohort else pd.NaT,
        "cohort_ends_on": pd.Timestamp(cohort_end) if cohort_end and has_cohort else pd.NaT,
        "furthest_stage_index": index,
        "outcome": outcome,
        "outcome_at": pd.NaT if outcome == "in_progress" else T0 + pd.Timedelta(days=60),
        "as_of": pd.Timestamp(as_of),
        "_sex": sex,
    }
    for i, stage in enumerate(STAGES):
        row[f"reached_{stage}_at"] = T0 + pd.Timedelta(days=days[stage]) if i <= index else pd.NaT
    return row


def journeys(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows)).drop(columns=["_sex"])


def demographics_of(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "application_id": [r["application_id"] for r in rows],
            "attribute": "sex",
            "value": [r["_sex"] for r in rows],
        }
    )


# Four resolved applications: rejected at applied, rejected after selected, withdrew after
# submitted, hired. Reached: applied 4, selected 3, submitted 2, triage..hired 1.
RESOLVED = (
    app("a", "applied"),
    app("b", "selected"),
    app("c", "submitted", "withdrew"),
    app("d", "hired", "hired"),
)
# In progress at applied since day 0; as-of day 10 (inside selection's 14 days): pending at
# 'selected'. In progress at applied without a cohort, as-of day 20: past 14 days, so drop-off,
# not pending. The same in cohort c1 (running until the end of 2025-01-23): pending, since a
# running cohort still moves its applications on whatever the window says.
PENDING_SELECTION = (app("p", "applied", "in_progress", as_of="2025-01-11"),)
STALLED_SELECTION = (app("s", "applied", "in_progress", cohort=None, as_of="2025-01-21"),)
RUNNING_COHORT = (app("s", "applied", "in_progress", as_of="2025-01-21"),)
COHORT_OVER = (app("s", "applied", "in_progress", as_of="2025-01-24"),)
# Selected on day 2 (2025-01-03); cohort 2025-01-10..2025-01-23 is 14 days long, so the
# submission window runs from 2025-01-10 to 2025-01-24 00:00.
SUBMISSION_OPEN = (app("q", "selected", "in_progress", as_of="2025-01-23 12:00"),)
SUBMISSION_CLOSED = (app("q", "selected", "in_progress", as_of="2025-01-24 00:00"),)
# Traditional: 20 days at applied is inside its 60-day selection window.
TRADITIONAL_WAITING = (app("t", "applied", "in_progress", track="traditional", as_of="2025-01-21"),)

FUNNEL_CASES = [
    # name, rows, windows, {stage: (reached, pending, n, step_conversion, overall, drop_off)}
    (
        "resolved",
        RESOLVED,
        None,
        {
            "applied": (4, 0, 4, np.nan, 1.0, 0),
            "selected": (3, 0, 4, 0.75, 0.75, 1),
            "submitted": (2, 0, 3, 2 / 3, 0.5, 1),
            "triage_passed": (1, 0, 2, 0.5, 0.25, 1),
            "hired": (1, 0, 1, 1.0, 0.25, 0),
        },
    ),
    (
        "pending at selection is left out of the denominator",
        RESOLVED + PENDING_SELECTION,
        None,
        {
            "applied": (5, 0, 5, np.nan, 1.0, 0),
            "selected": (3, 1, 4, 0.75, 0.6, 1),
            "submitted": (2, 0, 3, 2 / 3, 0.4, 1),
        },
    ),
    (
        "stalled past the window is drop-off",
        RESOLVED + STALLED_SELECTION,
        None,
        {"selected": (3, 0, 5, 0.6, 0.6, 2)},
    ),
    (
        "a running cohort makes it pending, window closed or not",
        RESOLVED + RUNNING_COHORT,
        None,
        {"selected": (3, 1, 4, 0.75, 0.6, 1)},
    ),
    (
        "once the cohort is over the closed window makes it drop-off",
        RESOLVED + COHORT_OVER,
        None,
        {"selected": (3, 0, 5, 0.6, 0.6, 2)},
    ),
    (
        "a longer window makes it pending",
        RESOLVED + STALLED_SELECTION,
        {"selected": 30},
        {"selected": (3, 1, 4, 0.75, 0.6, 1)},
    ),
    (
        "submission window = the cohort's length, open",
        RESOLVED + SUBMISSION_OPEN,
        None,
        {"selected": (4, 0, 5, 0.8, 0.8, 1), "submitted": (2, 1, 3, 2 / 3, 0.4, 1)},
    ),
    (
        "submission window = the cohort's length, closed",
        RESOLVED + SUBMISSION_CLOSED,
        None,
        {"submitted": (2, 0, 4, 0.5, 0.4, 2)},
    ),
    (
        "traditional track has its own windows",
        RESOLVED + TRADITIONAL_WAITING,
        None,
        {"selected": (3, 1, 4, 0.75, 0.6, 1)},
    ),
    (
        "per-track override",
        RESOLVED + TRADITIONAL_WAITING,
        {"traditional": {"selected": 7}},
        {"selected": (3, 0, 5, 0.6, 0.6, 2)},
    ),
]


@pytest.mark.parametrize(
    ("name", "rows", "windows", "expected"), FUNNEL_CASES, ids=[c[0] for c in FUNNEL_CASES]
)
def test_funnel_numbers_by_hand(name, rows, windows, expected):
    table = funnel.funnel_table(journeys(*rows), windows=windows).set_index("stage")
    for stage, (reached, pending, n, step, overall, drop) in expected.items():
        row = table.loc[stage]
        assert (row["reached"], row["pending"], row["n"], row["drop_off"]) == (
            reached,
            pending,
            n,
            drop,
        ), stage
        np.testing.assert_allclose(row["step_conversion"], step, err_msg=stage)
        np.testing.assert_allclose(row["overall_conversion"], overall, err_msg=stage)


def test_reached_counts_later_stages_as_passed():
    # A traditional hire has no submitted/triage/rubric/extension/retainer events at all.
    rows = journeys(app("h", "hired", "hired", track="traditional", cohort=None))
    rows.loc[0, [f"reached_{s}_at" for s in ("submitted", "triage_passed", "extension")]] = pd.NaT
    table = funnel.funnel_table(rows)
    assert table["reached"].tolist() == [1] * len(STAGES)


def test_breakdown_by_several_dimensions():
    rows = journeys(
        app("a", "hired", "hired", role="analyst"),
        app("b", "selected", role="analyst", source=None),
        app("c", "applied", role="designer", track="traditional"),
    )
    table = funnel.funnel_table(rows, by=["role", "source"])
    assert table["segment_type"].unique().tolist() == ["role x source"]
    assert sorted(table["segment"].unique()) == [
        "analyst | (blank)",
        "analyst | referral",
        "designer | referral",
    ]
    hired = table.loc[table["stage"] == "hired"].set_index("segment")["reached"]
    assert hired.to_dict() == {
        "analyst | (blank)": 0,
        "analyst | referral": 1,
        "designer | referral": 0,
    }
    # "cohort" is accepted for cohort_id.
    assert "cohort_id" in funnel.funnel_table(rows, by=["cohort"]).columns


def test_demographic_breakdown_is_suppressed():
    # 7 Female, 2 Male; all reach 'selected', 6 Female and 1 Male reach 'submitted'.
    rows = [app(f"f{i}", "submitted" if i < 6 else "selected", sex="Female") for i in range(7)]
    rows += [app(f"m{i}", "submitted" if i < 1 else "selected", sex="Male") for i in range(2)]
    table = funnel.funnel_table(journeys(*rows), by=["sex"], demographics=demographics_of(*rows))
    selected = table.loc[table["stage"] == "selected"].set_index("sex")
    # Male 2 < 5: "<5"; Female 7 would give it back from the total 9, so it is hidden too.
    assert selected["reached"].to_dict() == {"Female": "*", "Male": "<5"}
    assert selected["step_conversion"].isna().all()
    assert table["pending"].isna().all() and table["drop_off"].isna().all()
    assert table["suppressed"].any()
    with pytest.raises(ValueError, match="aggregate only"):
        funnel.drill_through(journeys(*rows), stage="selected", segment={"sex": "Male"})


def test_demographic_breakdown_needs_the_attributes():
    with pytest.raises(ValueError, match="funnel_demographic_attributes"):
        funnel.funnel_table(journeys(*RESOLVED), by=["sex"])


@pytest.mark.parametrize(
    ("windows", "message"),
    [({"offer": 3}, "unknown step"), ({"selected": -1}, ">= 0"), ({"nope": {}}, "unknown track")],
)
def test_bad_windows_are_refused(windows, message):
    with pytest.raises(ValueError, match=message):
        funnel.step_windows(windows)


DRILL_CASES = [
    # stage, status, segment, expected application ids
    ("selected", "reached", None, ["b", "c", "d"]),
    ("selected", "dropped", None, ["a", "s"]),
    ("selected", "denominator", None, ["a", "b", "c", "d", "s"]),
    ("selected", "pending", None, ["p"]),
    ("submitted", "dropped", None, ["b"]),
    ("hired", "reached", {"role": "analyst"}, ["d"]),
    ("applied", "reached", {"track": "traditional"}, []),
    ("applied", "reached", {"entry_cohort": "c1"}, ["a", "b", "c", "d", "p"]),
]


@pytest.mark.parametrize(("stage", "status", "segment", "expected"), DRILL_CASES)
def test_drill_through_returns_the_applications_behind_a_number(stage, status, segment, expected):
    rows = journeys(*RESOLVED, *PENDING_SELECTION, *STALLED_SELECTION)
    # Give p and s the same as-of as the rest so that only their own windows differ.
    rows["as_of"] = pd.Timestamp("2025-01-11")
    rows.loc[rows["application_id"] == "s", "reached_applied_at"] = pd.Timestamp("2024-12-20")
    out = funnel.drill_through(rows, stage=stage, status=status, segment=segment)
    assert sorted(out["application_id"]) == expected
    assert list(out.columns) == funnel.DRILL_COLUMNS


def cohort_rows(cohort: str, start: str, n: int, selected: int, *, pending: int = 0) -> list:
    """n applications of one cohort: `selected` reach 'selected', `pending` wait inside 14 days."""
    rows = []
    for i in range(n):
        if i < selected:
            rows.append(app(f"{cohort}-{i}", "selected", cohort=cohort, cohort_start=start))
        elif i < selected + pending:
            rows.append(
                app(f"{cohort}-{i}", "applied", "in_progress", cohort=cohort, cohort_start=start)
            )
        else:
            rows.append(app(f"{cohort}-{i}", "applied", cohort=cohort, cohort_start=start))
    frame = journeys(*rows)
    # Everyone applied on T0; as-of 2025-01-05 puts the in-progress ones inside 14 days.
    frame["as_of"] = pd.Timestamp("2025-01-05")
    return frame


def test_cohort_alert_p_value_by_hand():
    data = pd.concat(
        [
            cohort_rows("c0", "2025-02-01", 10, 8),
            cohort_rows("c1", "2025-03-01", 10, 8),
            cohort_rows("c2", "2025-04-01", 10, 2),
            cohort_rows("c3", "2025-05-01", 10, 1, pending=3),
        ],
        ignore_index=True,
    )
    trends = funnel.cohort_trends(data)
    sel = trends.loc[trends["stage"] == "selected"].set_index("cohort_id")
    # c0 has no earlier cohort, c1 one (fewer than min_baseline_cohorts=2): not tested.
    assert sel.loc[["c0", "c1"], "p_value"].isna().all()
    # c2: 2 of 10 against 16 of 20 before. Fisher one-sided = hypergeometric P(X <= 2) with
    # 30 applications, 18 selected in all, 10 drawn.
    by_hand = sum(math.comb(18, k) * math.comb(12, 10 - k) for k in range(3)) / math.comb(30, 10)
    c2 = sel.loc["c2"]
    assert c2["p_value"] == pytest.approx(by_hand, rel=1e-9)
    fisher = stats.fisher_exact([[2, 8], [16, 4]], alternative="less").pvalue
    assert c2["p_value"] == pytest.approx(fisher, rel=1e-9)
    assert (c2["rate"], c2["expected_rate"], c2["previous_rate"]) == (0.2, 0.8, 0.8)
    assert c2["change"] == pytest.approx(-0.6)
    # One complete test in the family: Holm leaves p alone; limit at z(0.05 / 1).
    assert c2["p_adjusted"] == pytest.approx(by_hand)
    z = stats.norm.isf(0.05)
    assert c2["lower_limit"] == pytest.approx(0.8 - z * math.sqrt(0.8 * 0.2 * (1 / 10 + 1 / 20)))
    assert bool(c2["flagged"])
    # c3 still has 3 applications pending selection: incomplete, tested but never flagged, and
    # its pending ones are out of its denominator (1 of 7).
    c3 = sel.loc["c3"]
    assert (bool(c3["complete"]), c3["n"], c3["pending"], bool(c3["flagged"])) == (
        False,
        7,
        3,
        False,
    )
    # The baseline of c3 excludes nothing complete: c0..c2 pooled, 18 of 30.
    assert c3["expected_rate"] == pytest.approx(18 / 30)
    alerts = funnel.funnel_alerts(trends)
    assert alerts.iloc[0][["cohort_id", "stage", "flagged"]].tolist() == ["c2", "selected", True]
    assert set(alerts.columns[:7]) == {
        "cohort_id",
        "stage",
        "rate",
        "expected_rate",
        "lower_limit",
        "p_value",
        "flagged",
    }


def test_ordinary_noise_is_not_flagged():
    data = pd.concat(
        [cohort_rows(f"c{i}", f"2025-{i + 2:02d}-01", 20, s) for i, s in enumerate([8, 10, 9, 7])],
        ignore_index=True,
    )
    trends = funnel.cohort_trends(data)
    assert not trends["flagged"].any()
    assert trends.loc[trends["stage"] == "selected", "p_value"].notna().sum() == 2


def test_traditional_entry_cohort_is_the_application_month():
    rows = journeys(app("t", "applied", track="traditional", cohort=None))
    rows.loc[0, "applied_at"] = pd.Timestamp("2025-03-17 10:00")
    cohorts = funnel.entry_cohorts(rows)
    assert cohorts.loc[0, "entry_cohort"] == "traditional 2025-03"
    assert cohorts.loc[0, "cohort_start"] == pd.Timestamp("2025-03-01")


# --- on the sample warehouse ---------------------------------------------------------------------


@pytest.fixture
def sample_journeys(sample_con) -> pd.DataFrame:
    return run_query(sample_con, "application_journeys")


def test_sample_funnel_identities(sample_journeys):
    table = funnel.funnel_table(sample_journeys, by=["track"])
    for _, rows in table.groupby("segment"):
        reached = rows["reached"].to_numpy()
        assert (np.diff(reached) <= 0).all()  # reached never grows along the funnel
        assert (rows["n"].iloc[1:].to_numpy() == reached[:-1] - rows["pending"].iloc[1:]).all()
        assert (rows["drop_off"] >= 0).all()
    assert table.groupby("stage")["reached"].sum()["applied"] == len(sample_journeys)


def test_report_tables_have_the_issue_columns(sample_settings: Settings, sample_db: Path):
    con = connect_readonly(sample_db)
    try:
        tables = {t.name: t for t in funnel.report_tables(con, settings=sample_settings)}
    finally:
        con.close()
    assert set(tables) == {"funnel", "funnel_trend_by_month", "funnel_alerts"}
    monthly = tables["funnel_trend_by_month"].frame
    assert list(monthly.columns) == funnel.MONTHLY_COLUMNS
    alerts = tables["funnel_alerts"].frame
    assert monthly["flagged_cohorts"].sum() == alerts["flagged"].sum()
    assert ((monthly["ci_low"] <= monthly["rate"]) & (monthly["rate"] <= monthly["ci_high"])).all()
    assert all(isinstance(t, ReportTable) for t in tables.values())
    funnel_csv = tables["funnel"].frame
    for column in (
        "segment_type",
        "segment",
        "stage",
        "reached",
        "pending",
        "step_conversion",
        "overall_conversion",
    ):
        assert column in funnel_csv.columns
    assert {"all", "role", "cohort_id", "source", "country", "region", "track", "sex"} <= set(
        funnel_csv["segment_type"]
    )
    # Demographic rows (every self-ID attribute) are suppressed; the others are plain counts.
    demographic = ~funnel_csv["segment_type"].isin(["all", *funnel.DIMENSIONS])
    assert funnel_csv.loc[demographic, "suppressed"].any()
    assert not funnel_csv.loc[~demographic, "suppressed"].any()
    alerts = tables["funnel_alerts"].frame
    for column in ("cohort_id", "stage", "rate", "expected_rate", "lower_limit", "p_value"):
        assert column in alerts.columns
    assert alerts["flagged"].dtype == bool


def test_docstring_examples():
    """The printed numbers in the numpydoc Examples blocks of both modules hold."""
    for module in (funnel, time_to_hire):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_sample_cross_demographic_breakdown_shows_no_small_count(sample_con):
    journeys = run_query(sample_con, "application_journeys")
    demographics = run_query(sample_con, "funnel_demographic_attributes")
    table = funnel.funnel_table(
        journeys, by=["sex", "race_ethnicity"], demographics=demographics, k=5
    )
    for column in ("reached", "n"):
        shown = pd.to_numeric(table[column], errors="coerce")
        hidden = table[column].map(lambda v: isinstance(v, str))
        assert (shown[~hidden] >= 5).all(), column
        assert set(table.loc[hidden, column]) <= {"<5", "*"}
        # A row with a hidden count shows no rate that would give it back.
        assert table.loc[hidden, "step_conversion"].isna().all()
    assert table["suppressed"].any() and not table["suppressed"].all()
