"""The synthetic export generator: determinism, the contract, integrity, and the planted effects.

Every check reads the generated CSVs back with pandas, the way a user's export would be read.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from etl.contract import STAGES, TABLES, TABLES_BY_NAME
from etl.generate import (
    AXES,
    EFFECTS,
    MAX_SCORE,
    MIN_SCORE,
    PASS_MARK,
    TRIAGE_THRESHOLD,
    GeneratorConfig,
    generate,
    planted_effects,
)
from signalboard.cli import main as cli_main
from tests.paths import REPO_ROOT

SAMPLE_DIR = REPO_ROOT / "data" / "sample"
SAMPLE_CONFIG = GeneratorConfig(n_applications=3000, seed=7)
FILES = tuple(f"{t.name}.csv" for t in TABLES)


def _hashes(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in FILES}


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)


class Export:
    """The generated tables of one folder, parsed once."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.apps = _read(folder, "applications")
        self.dem = _read(folder, "demographics")
        self.cohorts = _read(folder, "cohorts")
        self.rubrics = _read(folder, "rubrics")
        self.col = _read(folder, "cost_of_living")
        self.fx = _read(folder, "fx_rates")
        self.scores = _read(folder, "scores")
        self.scores["score"] = self.scores["score"].astype(float)
        self.events = _read(folder, "stage_events")
        self.events["t"] = pd.to_datetime(self.events["occurred_at"])
        self.apps["t"] = pd.to_datetime(self.apps["applied_at"])


@pytest.fixture(scope="module")
def sample_export() -> Export:
    return Export(SAMPLE_DIR)


@pytest.fixture(scope="module")
def fresh_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fresh_sample")
    generate(folder, config=SAMPLE_CONFIG)
    return folder


def _generated(tmp_path_factory: pytest.TempPathFactory, config: GeneratorConfig) -> Export:
    folder = tmp_path_factory.mktemp("gen")
    generate(folder, config=config)
    return Export(folder)


# ---------------------------------------------------------------------------------------------
# Determinism


def test_sample_equals_fresh_generate(fresh_sample: Path) -> None:
    """data/sample is exactly `signalboard generate --applications 3000 --seed 7` (make sample)."""
    assert _hashes(SAMPLE_DIR) == _hashes(fresh_sample)


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path: Path, fresh_sample: Path) -> None:
    again = tmp_path / "again"
    counts = generate(again, config=SAMPLE_CONFIG)
    assert _hashes(again) == _hashes(fresh_sample)
    assert set(counts) == set(FILES)
    other = tmp_path / "other"
    generate(other, config=GeneratorConfig(n_applications=3000, seed=8))
    differing = {n for n in FILES if _hashes(other)[n] != _hashes(fresh_sample)[n]}
    # Reference tables do not depend on the seed; everything generated does.
    assert differing == set(FILES) - {"rubrics.csv", "cost_of_living.csv", "fx_rates.csv"}


def test_counts_match_files(tmp_path: Path) -> None:
    counts = generate(tmp_path, config=GeneratorConfig(n_applications=500, seed=3))
    for name, rows in counts.items():
        assert len(pd.read_csv(tmp_path / name, dtype=str)) == rows, name
    assert counts["applications.csv"] == 500


def test_chunks_keep_ids_integrity_and_determinism(tmp_path: Path) -> None:
    """20,000 applications in five chunks: ids run on across chunk boundaries, same bytes twice."""
    config = GeneratorConfig(n_applications=20_000, seed=11, chunk_size=4_000)
    generate(tmp_path / "a", config=config)
    generate(tmp_path / "b", config=config)
    assert _hashes(tmp_path / "a") == _hashes(tmp_path / "b")
    ex = Export(tmp_path / "a")
    expected = [f"A{i:07d}" for i in range(20_000)]
    assert ex.apps["application_id"].tolist() == expected
    assert ex.dem["candidate_id"].is_unique
    assert set(ex.apps["candidate_id"]) == set(ex.dem["candidate_id"])
    assert set(ex.events["application_id"]) == set(expected)
    assert set(ex.scores["application_id"]) <= set(expected)
    # Headers are written once, not per chunk.
    assert not (ex.apps["application_id"] == "application_id").any()
    assert not (ex.events["event"] == "event").any()


# ---------------------------------------------------------------------------------------------
# The contract


@pytest.mark.parametrize("table", [t.name for t in TABLES])
def test_files_have_the_contract_columns(sample_export: Export, table: str) -> None:
    header = pd.read_csv(SAMPLE_DIR / f"{table}.csv", nrows=0).columns.tolist()
    spec = TABLES_BY_NAME[table]
    contract = [c.name for c in spec.columns]
    assert header[: len(contract)] == contract
    if table == "demographics":
        assert header[len(contract) :] == ["disability", "veteran", "age_band"]
    else:
        assert len(header) == len(contract)


@pytest.mark.parametrize("table", [t.name for t in TABLES])
def test_keys_unique_and_required_values_present(sample_export: Export, table: str) -> None:
    frame = _read(SAMPLE_DIR, table)
    spec = TABLES_BY_NAME[table]
    assert not frame.duplicated(list(spec.key)).any()
    for column in spec.columns:
        if column.required:
            assert (frame[column.name] != "").all(), column.name
        if column.allowed:
            assert set(frame[column.name]) <= set(column.allowed), column.name


def test_references_resolve(sample_export: Export) -> None:
    ex = sample_export
    app_ids = set(ex.apps["application_id"])
    assert set(ex.events["application_id"]) == app_ids  # every application has its applied event
    assert set(ex.scores["application_id"]) <= app_ids
    assert set(ex.apps["candidate_id"]) == set(ex.dem["candidate_id"])
    micro = ex.apps["track"] == "micro_internship"
    assert set(ex.apps.loc[micro, "cohort_id"]) <= set(ex.cohorts["cohort_id"])
    assert (ex.apps.loc[~micro, "cohort_id"] == "").all()
    assert set(ex.cohorts["rubric_version"]) <= set(ex.rubrics["rubric_version"])
    paid = ex.apps["stipend_currency"] != ""
    assert set(ex.apps.loc[paid, "stipend_currency"]) <= set(ex.fx["currency"])


def test_dates_scores_and_ranges(sample_export: Export) -> None:
    ex = sample_export
    assert (ex.cohorts["ends_on"] >= ex.cohorts["starts_on"]).all()
    hours = ex.cohorts["estimated_hours"].astype(float)
    assert hours.between(10, 40).all()
    starts = pd.to_datetime(ex.cohorts["starts_on"])
    assert len(ex.cohorts) >= 20 and (starts.max() - starts.min()).days >= 480
    assert ex.scores["score"].between(MIN_SCORE, MAX_SCORE).all()
    assert (ex.scores["score"] == ex.scores["score"].round()).all()
    assert set(ex.scores["axis"]) == set(AXES)
    rub = ex.rubrics.astype({"min_score": float, "max_score": float})
    assert (rub["min_score"] < rub["max_score"]).all()
    stipend = pd.to_numeric(ex.apps["stipend_amount"])
    assert (stipend.dropna() >= 0).all()
    assert (pd.to_numeric(ex.apps["hours_logged"]).dropna() > 0).all()


def test_events_ordered_never_before_applied_nor_after_cutoff(sample_export: Export) -> None:
    ex = sample_export
    ev = ex.events.merge(ex.apps[["application_id", "t", "track"]], on="application_id")
    assert (ev["t_x"] >= ev["t_y"]).all()
    assert ev["t_x"].max() <= pd.Timestamp(SAMPLE_CONFIG.cutoff)
    assert ex.apps["t"].max() <= pd.Timestamp(SAMPLE_CONFIG.cutoff)
    # Stages in funnel order have non-decreasing times; the terminal outcome comes last.
    rank = {s: i for i, s in enumerate(STAGES)} | {"rejected": 99, "withdrew": 99}
    ev["rank"] = ev["event"].map(rank)
    ordered = ev.sort_values(["application_id", "rank"], kind="stable")
    assert (ordered.groupby("application_id")["t_x"].diff().dropna() >= pd.Timedelta(0)).all()
    # Each application: applied once, at most one terminal outcome, stages without gaps.
    terminal = ev[ev["event"].isin(["hired", "rejected", "withdrew"])]
    assert not terminal["application_id"].duplicated().any()
    micro_stages = ev[(ev["track"] == "micro_internship") & (ev["rank"] < 99)]
    depth = micro_stages.groupby("application_id")["rank"].agg(["max", "size"])
    assert (depth["max"] + 1 == depth["size"]).all()
    trad = ev[ev["track"] == "traditional"]
    assert set(trad["event"]) == {"applied", "selected", "take_home_passed", "hired"} | {
        "rejected",
        "withdrew",
    }
    in_progress = set(ex.apps["application_id"]) - set(terminal["application_id"])
    assert 30 <= len(in_progress) <= 600


def test_stipends_only_after_selection(sample_export: Export) -> None:
    ex = sample_export
    selected = set(ex.events.loc[ex.events["event"] == "selected", "application_id"])
    micro = ex.apps["track"] == "micro_internship"
    paid = ex.apps["stipend_amount"] != ""
    assert set(ex.apps.loc[paid, "application_id"]) == set(
        ex.apps.loc[micro & ex.apps["application_id"].isin(selected), "application_id"]
    )
    assert ((ex.apps["stipend_currency"] != "") == paid).all()
    # Local currencies, several countries, and some locations without a bundled price level.
    assert ex.apps["stipend_currency"].nunique() >= 6
    assert ex.apps["country"].nunique() >= 6 and ex.apps["region"].nunique() >= 20
    known = set(ex.col["country"])
    assert (~ex.apps["country"].isin(known)).sum() > 0


def test_grading_design(sample_export: Export) -> None:
    """LLM on every axis of each scored deliverable; humans: 2-3 graders, each on every axis."""
    ex = sample_export
    s = ex.scores
    human = s[s["grader_kind"] == "human"]
    llm = s[s["grader_kind"] == "llm"]
    assert (llm["grader_id"] == "llm").all()
    assert llm.groupby("application_id")["axis"].nunique().eq(len(AXES)).all()
    per_grader = human.groupby(["application_id", "grader_id"])["axis"].nunique()
    assert per_grader.eq(len(AXES)).all()
    graders = human.groupby("application_id")["grader_id"].nunique()
    assert graders.between(2, 3).all()
    assert set(human["application_id"]) <= set(llm["application_id"])
    assert human["grader_id"].nunique() >= 10
    # Connected grader-deliverable graph: union-find over graders sharing a deliverable.
    parent = {g: g for g in human["grader_id"].unique()}

    def find(g: str) -> str:
        while parent[g] != g:
            g = parent[g]
        return g

    for _, group in human.groupby("application_id")["grader_id"]:
        ids = sorted(set(group))
        for other in ids[1:]:
            parent[find(other)] = find(ids[0])
    assert len({find(g) for g in parent}) == 1
    # Sparse overlap: most grader pairs never score the same deliverable.
    pairs = human[["application_id", "grader_id"]].drop_duplicates()
    co = pairs.merge(pairs, on="application_id")
    co = co[co["grader_id_x"] < co["grader_id_y"]]
    n = human["grader_id"].nunique()
    assert co[["grader_id_x", "grader_id_y"]].drop_duplicates().shape[0] < 0.5 * n * (n - 1) / 2


def test_triage_and_rubric_decisions_follow_scores(sample_export: Export) -> None:
    ex = sample_export
    s = ex.scores
    reached = ex.events.groupby("event")["application_id"].apply(set)
    llm_mean = s[s["grader_kind"] == "llm"].groupby("application_id")["score"].mean()
    decided = reached["triage_passed"] | (
        set(llm_mean.index) & (reached["rejected"] | reached["withdrew"])
    )
    for app, mean in llm_mean.items():
        if app in decided:
            assert (app in reached["triage_passed"]) == (mean >= TRIAGE_THRESHOLD), app
    human_mean = s[s["grader_kind"] == "human"].groupby("application_id")["score"].mean()
    audited = set(human_mean.index) - reached["triage_passed"]
    assert len(audited) > 0  # triage-failed deliverables in the human audit sample
    for app in reached["rubric_passed"]:
        assert human_mean[app] >= PASS_MARK
    failed = (set(human_mean.index) & reached["triage_passed"]) - reached["rubric_passed"]
    assert all(human_mean[a] < PASS_MARK for a in failed & reached["rejected"])


def test_demographics_have_unknowns_and_repeat_applicants(sample_export: Export) -> None:
    ex = sample_export
    unknown_sex = ex.dem["sex"].isin(["", "Decline to state"]).mean()
    assert 0.05 <= unknown_sex <= 0.2
    unknown_race = ~ex.dem["race_ethnicity"].isin(
        [
            "Hispanic or Latino",
            "White",
            "Black or African American",
            "Native Hawaiian or Pacific Islander",
            "Asian",
            "Native American or Alaska Native",
            "Two or More Races",
        ]
    )
    assert 0.08 <= unknown_race.mean() <= 0.25
    assert ex.apps["candidate_id"].duplicated().sum() > 50
    assert ex.apps["full_name"].str.contains(" ").all()
    assert ex.apps["email"].str.endswith("@example.com").all()
    assert (ex.apps["track"] == "traditional").mean() == pytest.approx(0.25, abs=0.05)


def test_micro_internship_hires_faster(sample_export: Export) -> None:
    """The seed claim: micro-internship time to hire about 40% shorter (median among hires)."""
    ex = sample_export
    hired = ex.events[ex.events["event"] == "hired"].merge(ex.apps, on="application_id")
    days = (hired["t_x"] - hired["t_y"]).dt.days
    medians = days.groupby(hired["track"]).median()
    assert medians["micro_internship"] / medians["traditional"] == pytest.approx(0.6, abs=0.1)


# ---------------------------------------------------------------------------------------------
# Planted effects, measured straight from the CSVs


def _harsh_offset(ex: Export, grader: str) -> float:
    """Mean of (co-graders' mean - grader's score) on the same deliverable and axis."""
    h = ex.scores[ex.scores["grader_kind"] == "human"]
    cell = h.groupby(["application_id", "axis"])["score"].agg(["sum", "count"])
    mine = h[h["grader_id"] == grader].join(cell, on=["application_id", "axis"])
    others = (mine["sum"] - mine["score"]) / (mine["count"] - 1)
    return float((others - mine["score"]).mean())


def _group_offset(ex: Export, grader: str, attribute: str, group: str) -> float:
    """The grader's offset vs co-graders on `group`'s deliverables minus on everyone else's."""
    h = ex.scores[ex.scores["grader_kind"] == "human"].merge(
        ex.apps[["application_id", "candidate_id"]], on="application_id"
    )
    h = h.merge(ex.dem[["candidate_id", attribute]], on="candidate_id")
    cell = h.groupby(["application_id", "axis"])["score"].agg(["sum", "count"])
    mine = h[h["grader_id"] == grader].join(cell, on=["application_id", "axis"])
    offset = (mine["sum"] - mine["score"]) / (mine["count"] - 1) - mine["score"]
    in_group = mine[attribute] == group
    return float(offset[in_group].mean() - offset[~in_group].mean())


def _submission_rate(ex: Export, cohort: str) -> float:
    apps = ex.apps.loc[ex.apps["cohort_id"] == cohort, "application_id"]
    ev = ex.events[ex.events["application_id"].isin(apps)]
    selected = (ev["event"] == "selected").sum()
    return float((ev["event"] == "submitted").sum() / selected)


def _stipend_ratio(ex: Export, attribute: str, group: str) -> float:
    """Geometric-mean stipend of the group / everyone else's, within cohort and currency."""
    a = ex.apps[ex.apps["stipend_amount"] != ""].merge(ex.dem, on="candidate_id")
    a = a[(a["stipend_amount"].astype(float) > 0) & (a[attribute] != "")]
    a["log"] = np.log(a["stipend_amount"].astype(float))
    a["centred"] = a["log"] - a.groupby(["cohort_id", "stipend_currency"])["log"].transform("mean")
    in_group = a[attribute] == group
    return float(np.exp(a.loc[in_group, "centred"].mean() - a.loc[~in_group, "centred"].mean()))


def _triage_ratio(ex: Export, attribute: str, group: str) -> float:
    """Triage pass rate of the group / everyone else's, among LLM-scored deliverables."""
    llm = ex.scores.loc[ex.scores["grader_kind"] == "llm", "application_id"].unique()
    passed = set(ex.events.loc[ex.events["event"] == "triage_passed", "application_id"])
    a = ex.apps[ex.apps["application_id"].isin(llm)].merge(ex.dem, on="candidate_id")
    a["passed"] = a["application_id"].isin(passed)
    in_group = a[attribute] == group
    return float(a.loc[in_group, "passed"].mean() / a.loc[~in_group, "passed"].mean())


def test_harsh_grader_switches_off(
    sample_export: Export, tmp_path_factory: pytest.TempPathFactory
) -> None:
    truth = planted_effects(SAMPLE_CONFIG)
    with_effect = _harsh_offset(sample_export, truth.harsh_grader)
    without = _generated(tmp_path_factory, SAMPLE_CONFIG.without({"harsh_grader"}))
    assert with_effect == pytest.approx(truth.harsh_severity, abs=0.15)
    assert _harsh_offset(without, truth.harsh_grader) == pytest.approx(0.0, abs=0.12)


def test_grader_group_bias_switches_off(
    sample_export: Export, tmp_path_factory: pytest.TempPathFactory
) -> None:
    truth = planted_effects(SAMPLE_CONFIG)
    args = (truth.biased_grader, truth.bias_attribute, truth.bias_group)
    without = _generated(tmp_path_factory, SAMPLE_CONFIG.without({"grader_group_bias"}))
    assert _group_offset(sample_export, *args) == pytest.approx(truth.bias_points, abs=0.3)
    assert _group_offset(without, *args) == pytest.approx(0.0, abs=0.3)


def test_submission_leak_switches_off(
    sample_export: Export, tmp_path_factory: pytest.TempPathFactory
) -> None:
    truth = planted_effects(SAMPLE_CONFIG)
    assert truth.leak_cohort in set(sample_export.cohorts["cohort_id"])
    without = _generated(tmp_path_factory, SAMPLE_CONFIG.without({"submission_leak"}))
    assert _submission_rate(sample_export, truth.leak_cohort) == pytest.approx(
        truth.leak_rate_after, abs=0.15
    )
    assert _submission_rate(without, truth.leak_cohort) == pytest.approx(
        truth.leak_rate_before, abs=0.12
    )


def test_stipend_gap_switches_off(
    sample_export: Export, tmp_path_factory: pytest.TempPathFactory
) -> None:
    truth = planted_effects(SAMPLE_CONFIG)
    args = (truth.stipend_gap_attribute, truth.stipend_gap_group)
    without = _generated(tmp_path_factory, SAMPLE_CONFIG.without({"stipend_gap"}))
    assert _stipend_ratio(sample_export, *args) == pytest.approx(
        1 - truth.stipend_gap_pct / 100, abs=0.035
    )
    assert _stipend_ratio(without, *args) == pytest.approx(1.0, abs=0.035)


def test_llm_triage_bias_switches_off(
    sample_export: Export, tmp_path_factory: pytest.TempPathFactory
) -> None:
    truth = planted_effects(SAMPLE_CONFIG)
    args = (truth.llm_bias_attribute, truth.llm_bias_group)
    without = _generated(tmp_path_factory, SAMPLE_CONFIG.without({"llm_triage_bias"}))
    assert _triage_ratio(sample_export, *args) < 0.8
    assert _triage_ratio(without, *args) == pytest.approx(1.0, abs=0.15)


def test_planted_effects_ground_truth() -> None:
    on = planted_effects(SAMPLE_CONFIG)
    assert on.enabled == frozenset(EFFECTS)
    assert on.harsh_severity > 0 and on.bias_points > 0 and on.llm_bias_points > 0
    assert on.leak_stage == "submitted" and on.leak_rate_after < on.leak_rate_before
    off = planted_effects(GeneratorConfig(plant_effects=False))
    assert off.enabled == frozenset()
    assert off.harsh_severity == off.bias_points == off.llm_bias_points == 0.0
    assert off.stipend_gap_pct == 0.0 and off.leak_rate_after == off.leak_rate_before
    assert off.harsh_grader == on.harsh_grader and off.leak_cohort == on.leak_cohort
    one = planted_effects(SAMPLE_CONFIG.without({"stipend_gap"}))
    assert one.enabled == frozenset(EFFECTS) - {"stipend_gap"}
    with pytest.raises(ValueError, match="unknown effects"):
        SAMPLE_CONFIG.without({"harsh"})


def test_cli_generate_with_disabled_effect(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = cli_main(
        ["generate", "--out", str(tmp_path), "--applications", "300", "--seed", "5"]
        + ["--disable", "harsh_grader", "--disable", "stipend_gap"]
    )
    assert code == 0
    assert "applications.csv: 300 rows" in capsys.readouterr().out
    direct = tmp_path / "direct"
    generate(direct, config=GeneratorConfig(300, 5).without({"harsh_grader", "stipend_gap"}))
    assert _hashes(tmp_path) == _hashes(direct)


@pytest.mark.parametrize("n", [0, 1, 7])
def test_tiny_exports_are_valid(tmp_path: Path, n: int) -> None:
    counts = generate(tmp_path, config=GeneratorConfig(n_applications=n, seed=1))
    assert counts["applications.csv"] == n
    assert pd.read_csv(tmp_path / "stage_events.csv").shape[0] == counts["stage_events.csv"]


def test_cli_rejects_unknown_effect(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = cli_main(["generate", "--out", str(tmp_path), "--disable", "harsh"])
    assert code == 2
    assert "unknown effects ['harsh']" in capsys.readouterr().err


@pytest.mark.parametrize(("n", "cohorts"), [(300, 6), (3_000, 20), (30_000, 200)])
def test_realistic_cohort_shape(tmp_path: Path, n: int, cohorts: int) -> None:
    """One cohort per 150 applications, unique ids, skewed sizes, every reference resolves."""
    config = GeneratorConfig(n_applications=n, seed=3, cohort_shape="realistic")
    assert config.cohort_count == cohorts
    generate(tmp_path, config=config)
    export = Export(tmp_path)
    assert len(export.cohorts) == cohorts
    assert export.cohorts["cohort_id"].is_unique
    assert export.cohorts["cohort_id"].str.fullmatch(r"(DA|SE|PD|MA)-\d{4}-\d\d-\d\d-\d\d").all()
    assert (export.cohorts["starts_on"] == export.cohorts["cohort_id"].str[3:13]).all()
    micro = export.apps[export.apps["track"] == "micro_internship"]
    assert set(micro["cohort_id"]) <= set(export.cohorts["cohort_id"])
    assert planted_effects(config).leak_cohort in set(export.cohorts["cohort_id"])
    if n >= 30_000:
        sizes = micro["cohort_id"].value_counts()
        # lognormal sizes: the largest cohort is several times the median one
        assert sizes.max() > 3 * sizes.median()


def test_cli_generate_cohort_shape(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = cli_main(
        ["generate", "--out", str(tmp_path), "--applications", "900", "--cohort-shape", "realistic"]
    )
    assert code == 0
    assert "cohorts.csv: 6 rows" in capsys.readouterr().out
    with pytest.raises(ValueError, match="unknown cohort shape"):
        GeneratorConfig(cohort_shape="huge")  # type: ignore[arg-type]
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["generate", "--out", str(tmp_path), "--cohort-shape", "huge"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'huge'" in capsys.readouterr().err
