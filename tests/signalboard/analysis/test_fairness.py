"""The funnel adverse-impact audit: step counts on hand-made journeys, the report tables on the
sample warehouse (suppressed, columns as issue 5 names them), the generator's planted triage
disparity flagged over several seeds, and null data within the nominal false-flag rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from etl.contract import STAGES
from etl.generate import GeneratorConfig, generate, planted_effects
from etl.load import load_paths
from signalboard.analysis import fairness
from signalboard.db import readonly
from signalboard.settings import Settings
from signalboard.stats.suppression import is_hidden

ADVERSE_IMPACT_COLUMNS = [
    "step",
    "track",
    "attribute",
    "group",
    "n",
    "selected",
    "selection_rate",
    "impact_ratio",
    "below_four_fifths",
    "p_value",
    "q_value",
    "shortfall",
    "status",
    "suppressed",
    "excluded_from_ir",
]
LL144_COLUMNS = [
    "mode",
    "table",
    "category",
    "n",
    "count",
    "rate",
    "impact_ratio",
    "excluded_from_ir",
]
UNKNOWNS_COLUMNS = ["step", "attribute", "unknown_n"]


def _journeys(rows: list[tuple[str, str, str, int, str]]) -> pd.DataFrame:
    """(application_id, candidate_id, track, furthest_stage_index, outcome) -> journeys frame."""
    frame = pd.DataFrame(
        rows, columns=["application_id", "candidate_id", "track", "furthest_stage_index", "outcome"]
    )
    for i, stage in enumerate(STAGES[1:], start=1):
        frame[f"reached_{stage}_at"] = np.where(
            frame["furthest_stage_index"] >= i, pd.Timestamp("2025-01-01"), pd.NaT
        )
    frame["applied_at"] = pd.Timestamp("2025-01-01")
    return frame


def test_step_counts_leave_out_undecided_and_withdrawn() -> None:
    journeys = _journeys(
        [
            ("a1", "c1", "t", 1, "rejected"),  # selected, rejected at selected->submitted
            ("a2", "c2", "t", 0, "rejected"),  # rejected at applied->selected
            ("a3", "c3", "t", 1, "in_progress"),  # selected, waiting: not in selected->submitted
            ("a4", "c4", "t", 0, "withdrew"),  # withdrew before a decision: not in step 1
            ("a5", "c5", "t", 8, "hired"),
        ]
    )
    demographics = pd.DataFrame(
        {
            "candidate_id": ["c1", "c2", "c3", "c4", "c5"],
            "attribute": "sex",
            "value": ["Female", "Female", "Male", "Male", "Unknown"],
        }
    )
    counts = fairness.step_counts(journeys, demographics)
    sex = counts[counts["attribute"] == "sex"].set_index(["step", "group"])
    assert sex.loc[("applied->selected", "Female"), ["n", "selected"]].tolist() == [2, 1]
    assert sex.loc[("applied->selected", "Male"), ["n", "selected"]].tolist() == [1, 1]
    assert sex.loc[("selected->submitted", "Male"), ["n", "selected"]].tolist() == [0, 0]
    # the bottom line leaves out everything undecided anywhere
    assert sex.loc[("applied->hired", "Unknown"), ["n", "selected"]].tolist() == [1, 1]
    assert sex.loc[("applied->hired", "Male"), "n"] == 0
    # a single track: no "all" rows repeating it
    assert set(counts["track"]) == {"t"}
    # the intersection is Unknown when race is (nobody here has a race)
    inter = counts[counts["attribute"] == fairness.INTERSECTION]
    assert set(inter["group"]) == {"Unknown"}


def test_tracks_get_their_own_steps() -> None:
    """A track that skips stages (traditional: applied, selected, take_home_passed, hired) gets
    steps between the stages it uses and is not counted as passing the triage it never had."""
    micro = [(f"m{i}", f"m{i}", "micro", i % 9, "rejected") for i in range(18)]
    trad = _journeys(
        [(f"t{i}", f"t{i}", "trad", [0, 1, 5, 8][i % 4], "rejected") for i in range(8)]
    )
    for stage in ("submitted", "triage_passed", "rubric_passed", "extension", "retainer"):
        trad[f"reached_{stage}_at"] = pd.NaT
    journeys = pd.concat([_journeys(micro), trad], ignore_index=True)
    steps = fairness.track_steps(journeys)
    assert [name for name, _, _ in steps["trad"]] == [
        "applied->selected",
        "selected->take_home_passed",
        "take_home_passed->hired",
        "applied->hired",
    ]
    demographics = pd.DataFrame(columns=["candidate_id", "attribute", "value"])
    counts = fairness.step_counts(journeys, demographics)
    triage = counts[counts["step"] == "submitted->triage_passed"]
    assert set(triage["track"]) == {"micro"}
    assert set(counts.loc[counts["step"] == "applied->selected", "track"]) == {
        "all",
        "micro",
        "trad",
    }


@pytest.fixture(scope="module")
def sample_tables(sample_settings: Settings):
    with readonly(sample_settings.db_path) as con:
        tables = fairness.report_tables(con, settings=sample_settings)
    return {t.name: t.frame for t in tables}


def test_report_tables_have_the_issue_columns(sample_tables) -> None:
    assert set(sample_tables) == {"adverse_impact", "unknowns", "ll144_triage"}
    assert set(ADVERSE_IMPACT_COLUMNS) <= set(sample_tables["adverse_impact"].columns)
    assert set(LL144_COLUMNS) <= set(sample_tables["ll144_triage"].columns)
    assert set(UNKNOWNS_COLUMNS) <= set(sample_tables["unknowns"].columns)
    audit = sample_tables["adverse_impact"]
    assert {"sex", "race_ethnicity", fairness.INTERSECTION} <= set(audit["attribute"])
    assert "applied->hired" in set(audit["step"])
    ll144 = sample_tables["ll144_triage"]
    inter = ll144[(ll144["mode"] == "selection") & (ll144["table"] == "intersectional")]
    assert len(inter[inter["category"] != "Unknown"]) >= 14


def test_no_small_count_leaves_the_report(sample_tables) -> None:
    """Every shown count is k (5) or more; every masked row has its rates hidden."""
    for name, columns, rates in (
        ("adverse_impact", ["n", "selected"], ["selection_rate", "impact_ratio", "shortfall"]),
        ("unknowns", ["unknown_n"], ["unknown_share"]),
    ):
        frame = sample_tables[name]
        hidden = np.zeros(len(frame), dtype=bool)
        for column in columns:
            masked = frame[column].map(is_hidden).to_numpy()
            hidden |= masked
            shown = frame.loc[~masked, column].astype(int)
            assert (shown >= 5).all(), name
        assert hidden.any(), name  # the sample has small groups: something was masked
        assert frame.loc[hidden, rates].isna().all().all(), name
        assert frame["suppressed"].to_numpy()[hidden].all(), name


def test_sample_triage_disparity_is_flagged(sample_tables) -> None:
    """The sample (seed 7) plants the LLM triage bias against Hispanic or Latino applicants."""
    audit = sample_tables["adverse_impact"]
    row = audit[
        (audit["step"] == "submitted->triage_passed")
        & (audit["attribute"] == "race_ethnicity")
        & (audit["group"] == "Hispanic or Latino")
    ].iloc[0]
    assert row["status"] == "below_four_fifths_significant"
    # The next step's complement (42 in, 39 through) is a count under 5, so the row's counts are
    # hidden and its test statistics with them; the status still names the finding.
    assert row["suppressed"]
    assert pd.isna(row["q_value"]) and pd.isna(row["p_value"])


def _audit_for(config: GeneratorConfig, folder: Path) -> tuple[pd.DataFrame, object]:
    generate(folder / "csv", config=config)
    settings = Settings(db_path=folder / "w.duckdb", pseudonym_key_file=folder / "key")
    load_paths([folder / "csv"], settings=settings, progress=False)
    with readonly(settings.db_path) as con:
        journeys, demographics, _ = fairness.load_inputs(con, settings=settings)
    return fairness.audit(journeys, demographics).table, planted_effects(config)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_planted_triage_bias_is_flagged(seed: int, tmp_path: Path) -> None:
    """The generator's llm_triage_bias: the planted group is below four-fifths and significant
    after BH at the triage step (measured: 14 of 14 seeds at 3,000 applications)."""
    table, planted = _audit_for(GeneratorConfig(n_applications=3000, seed=seed), tmp_path)
    row = table[
        (table["step"] == fairness.TRIAGE_STEP)
        & (table["attribute"] == planted.llm_bias_attribute)
        & (table["group"] == planted.llm_bias_group)
    ]
    assert len(row) == 1
    assert row["status"].iloc[0] == "below_four_fifths_significant"


def test_null_data_stays_quiet(tmp_path: Path) -> None:
    """No planted effect: BH runs per funnel step, so the nominal rate is at most 5% of
    (dataset, step) families with any significant row; over 5 seeds (about 50 families) at most
    5 may have one (P(X > 5) is about 4% at the nominal rate). benchmarks/calibration_fairness.py
    measures the rate over many datasets (docs/fairness.md)."""
    families = 0
    flagged = 0
    for seed in range(5):
        table, _ = _audit_for(
            GeneratorConfig(n_applications=1500, seed=seed, plant_effects=False),
            tmp_path / str(seed),
        )
        assert table["p_value"].notna().sum() > 100  # the tests really ran
        per_step = table.assign(hit=table["q_value"] < 0.05).groupby("step")["hit"].any()
        families += len(per_step)
        flagged += int(per_step.sum())
    assert families >= 40
    assert flagged <= 5


def test_report_writes_the_ll144_summary(sample_settings: Settings) -> None:
    """`signalboard report` collects ll144_summary.html through the report_files hook."""
    from signalboard.report import collect_files

    with readonly(sample_settings.db_path) as con:
        files = collect_files(con, settings=sample_settings)
    page = files["ll144_summary.html"]
    assert page.startswith("<!doctype html>")
    assert "Selection rates (triage pass)" in page and "Scoring rates" in page
    assert "Hispanic or Latino, Female" in page


def test_ll144_tables_show_every_required_figure(sample_tables) -> None:
    """6 RCNY 5-303: n, rate and impact ratio of every category are published, small ones
    included; only a category under 2% lacks a ratio, and its row says why and keeps n and rate."""
    ll144 = sample_tables["ll144_triage"]
    assert not ll144["suppressed"].any()
    for column in ("n", "count"):
        assert not ll144[column].map(is_hidden).any(), column
    known = ll144[ll144["category"] != "Unknown"]
    n = known["n"].astype(int)
    assert known.loc[n > 0, "rate"].notna().all()  # a category nobody is in has no rate
    assert ((n > 0) & (n < 5)).any()  # the sample has categories under 5: shown all the same
    ranked = known[~known["excluded_from_ir"] & (known["n"].astype(int) > 0)]
    assert ranked["impact_ratio"].notna().all()
    assert (ranked["ir_note"] == "").all()
    assert ll144.loc[ll144["category"] == "Unknown", "ir_note"].str.startswith("unknown").all()
    excluded = known[known["excluded_from_ir"]]
    assert len(excluded) > 0
    assert excluded["impact_ratio"].isna().all()
    assert excluded["ir_note"].str.contains("under 2%").all()


def test_report_tables_on_an_empty_warehouse(tmp_path: Path) -> None:
    """A warehouse with the schema and no rows gives empty tables, not an error."""
    from etl.warehouse import connect_writable, create_schema

    path = tmp_path / "empty.duckdb"
    con = connect_writable(path)
    create_schema(con)
    con.close()
    settings = Settings(db_path=path, pseudonym_key_file=tmp_path / "key")
    with readonly(path) as con:
        tables = {t.name: t.frame for t in fairness.report_tables(con, settings=settings)}
    assert set(tables) == {"adverse_impact", "unknowns", "ll144_triage"}
    assert len(tables["adverse_impact"]) == 0


def test_published_audit_gives_no_hidden_cell_away(sample_settings: Settings) -> None:
    """On the sample: in every published line (a step and attribute's whole table, each track's
    groups, each group across tracks; Unknown included) no hidden count can be worked out from
    the line total and the shown cells, unless the whole line is hidden."""
    from signalboard.stats.suppression import determined_cells

    with readonly(sample_settings.db_path) as con:
        journeys, demographics, llm = fairness.load_inputs(con, settings=sample_settings)
    result = fairness.audit(journeys, demographics)
    published, unknowns = fairness.suppress_audit(result, k=5)
    raw = pd.concat(
        [
            result.table[["step", "track", "attribute", "group", "n", "selected"]],
            result.unknowns.rename(
                columns={"unknown_n": "n", "unknown_selected": "selected"}
            ).assign(group="Unknown")[["step", "track", "attribute", "group", "n", "selected"]],
        ],
        ignore_index=True,
    )
    shown = pd.concat(
        [published[["n"]], unknowns[["unknown_n"]].rename(columns={"unknown_n": "n"})],
        ignore_index=True,
    )
    raw["hidden_n"] = shown["n"].map(is_hidden).to_numpy()
    checked = 0
    for _, part in raw.groupby(["step", "attribute"]):
        lines = (
            [part] + [g for _, g in part.groupby("track")] + [g for _, g in part.groupby("group")]
        )
        for line in lines:
            hidden = line["hidden_n"].tolist()
            if not any(hidden) or all(hidden):
                continue
            assert not any(determined_cells(line["n"].tolist(), hidden, k=5))
            checked += 1
    assert checked > 10


def test_report_uses_the_minimum_comparator_share(sample_settings: Settings) -> None:
    """settings.min_comparator_share reaches the report's audit: at 30% only a group holding
    30% of its table can be the comparator."""
    from dataclasses import replace

    with readonly(sample_settings.db_path) as con:
        wide = fairness.compute(con, settings=replace(sample_settings, min_comparator_share=0.3))
        default = fairness.compute(con, settings=sample_settings)
    table = wide.adverse_impact
    n = pd.to_numeric(table["n"], errors="coerce")
    keys = ["step", "track", "attribute"]
    total = n.groupby([table[k] for k in keys]).transform("sum")
    reference = table["reference"].astype(bool)
    assert reference.any()
    assert (n[reference] >= 0.3 * total[reference]).all()
    assert not table["reference"].equals(default.adverse_impact["reference"])
