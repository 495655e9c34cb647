"""The stipend analysis's scale paths (issue 7) against the straightforward computations.

- Regressions run on (group, control cell) sufficient statistics; here they are checked against
  statsmodels fitted on the rows (the design built row by row, rows of leverage 1 removed as
  before), on data with missing controls, a one-person role and collinear controls.
- Above `EXACT_BOOTSTRAP_ROWS` stipend rows the median bootstrap draws each resample's median
  from its exact distribution. For odd n the bootstrap median is the j-th order statistic with
  P(median* <= x_(j)) = P(Binomial(n, j/n) >= (n + 1) / 2) (Efron 1979, "Bootstrap methods:
  another look at the jackknife", Ann. Statist. 7(1), section 3; Maritz & Jarrett 1978); the
  sampler's frequencies are checked against that formula and, for even n, against resampling.
- `aligned_groups` (integer codes) gives the groups `attribute_groups` + `_with_group` give.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from signalboard.analysis import stipends as sa
from signalboard.queries import run_query
from signalboard.stats import ols, pay_gap, pay_policy, pay_reporting
from tests.oracles import stipends as oracle
from tests.signalboard.analysis.test_stipends import synthetic


def rowwise_gaps(frame: pd.DataFrame, *, reference: str, with_location: bool) -> dict:
    """The adjusted gaps as the first implementation computed them: the design row by row,
    rows of leverage 1 removed, statsmodels OLS with HC3."""
    usable = frame[frame["real_stipend_usd"].gt(0) & frame["role"].notna()]
    groups = sorted(set(usable["group"]) - {reference})
    names = [f"group[{g}]" for g in groups]
    part = usable
    for _ in range(5):
        design = part.assign(
            **{n: (part["group"] == g).astype(float) for n, g in zip(names, groups, strict=True)}
        )
        X = oracle.design_matrix(design, with_location=with_location, indicators=names)
        values = X.to_numpy(float)
        exact = ((values @ np.linalg.pinv(values.T @ values)) * values).sum(axis=1) > 1 - 1e-9
        if not exact.any():
            break
        part = part[~exact]
    fit = sm.OLS(np.log(part["real_stipend_usd"]), X).fit(cov_type="HC3")
    n_reference = int((part["group"] == reference).sum())
    out = {}
    for n, g in zip(names, groups, strict=True):
        if n not in X:
            continue
        # t reference on the smaller group's df (the product's small-sample correction)
        df = max(
            min(int((part["group"] == g).sum()), n_reference, len(part) - X.shape[1] + 1) - 1, 1
        )
        beta, se = fit.params[n], fit.bse[n]
        half = stats.t.ppf(0.975, df) * se
        out[g] = (beta, beta - half, beta + half, 2 * stats.t.sf(abs(beta / se), df))
    return out


def awkward_frame(seed: int) -> pd.DataFrame:
    apps, attrs = synthetic(400, seed=seed, female_gap=-0.08)
    frame = oracle._with_group(apps, oracle.attribute_groups(attrs)["race_ethnicity"])
    rng = np.random.default_rng(seed)
    # missing estimated hours (filled with the mean), a one-person role (leverage 1), and a
    # price level that is a function of the tier for a block of rows
    frame.loc[rng.choice(len(frame), 25, replace=False), "estimated_hours"] = np.nan
    frame.loc[frame.index[0], "role"] = "only_one"
    frame.loc[frame.index[1:4], "real_stipend_usd"] = np.nan
    return frame


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("with_location", [False, True])
def test_cell_regressions_equal_rowwise_statsmodels(seed: int, with_location: bool) -> None:
    frame = awkward_frame(seed)
    reference = "White"
    ours = oracle.adjusted_gaps(frame, reference=reference, with_location=with_location)
    theirs = rowwise_gaps(frame, reference=reference, with_location=with_location)
    assert theirs and set(theirs) <= set(ours)
    for group, (beta, low, high, p_value) in theirs.items():
        estimate = ours[group]
        assert estimate.method == "ols_hc3"
        assert estimate.estimate_pct == pytest.approx(100 * np.expm1(beta), rel=1e-9, abs=1e-9)
        assert estimate.ci_low == pytest.approx(100 * np.expm1(low), rel=1e-9, abs=1e-9)
        assert estimate.ci_high == pytest.approx(100 * np.expm1(high), rel=1e-9, abs=1e-9)
        assert estimate.p_value == pytest.approx(p_value, rel=1e-7, abs=1e-12)


def test_cell_predictions_equal_rowwise_statsmodels() -> None:
    frame = awkward_frame(5)
    ours = oracle.group_neutral_predictions(frame)
    has_level = frame["price_level"].gt(0) & frame["role"].notna()
    fit_rows = frame[has_level & frame["real_stipend_usd"].gt(0)]
    X_fit = oracle.design_matrix(fit_rows, with_location=True)
    result = sm.OLS(np.log(fit_rows["real_stipend_usd"]), X_fit).fit()
    X_all = oracle.design_matrix(frame[has_level], with_location=True).reindex(
        columns=X_fit.columns, fill_value=0.0
    )
    predicted = np.exp(X_all.to_numpy(float) @ result.params.to_numpy(float))
    sd = np.std(result.resid, ddof=X_fit.shape[1])
    np.testing.assert_allclose(ours["predicted_real_usd"], predicted, rtol=1e-10)
    real = frame.loc[has_level, "real_stipend_usd"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        expected_sd = np.where(real > 0, np.log(real) - np.log(predicted), -np.inf) / sd
    np.testing.assert_allclose(ours["residual_sd"], expected_sd, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("n", [41, 201])
def test_bootstrap_median_sampler_matches_the_exact_distribution(n: int) -> None:
    """Odd n: frequencies of each order statistic vs P(Bin(n, j/n) >= (n+1)/2) (Efron 1979)."""
    rng = np.random.default_rng(n)
    values = np.sort(rng.normal(size=n))
    draws = 40_000
    medians = pay_gap._bootstrap_medians(values, draws, np.random.default_rng(0))
    j = np.searchsorted(values, medians) + 1  # which order statistic each median is
    empirical = np.array([(j <= i).mean() for i in range(1, n + 1)])
    exact = stats.binom.sf((n + 1) // 2 - 1, n, np.arange(1, n + 1) / n)
    se = np.sqrt(exact * (1 - exact) / draws)
    assert np.all(np.abs(empirical - exact) <= 5 * se + 1e-12)


def test_bootstrap_median_sampler_even_n_matches_resampling() -> None:
    """Even n (the median averages two order statistics): quantiles of 40,000 sampler draws
    against 40,000 brute-force resamples, with ties in the data."""
    rng = np.random.default_rng(7)
    values = np.sort(rng.integers(0, 30, 60).astype(float))
    draws = 40_000
    fast = pay_gap._bootstrap_medians(values, draws, np.random.default_rng(1))
    brute = np.median(values[rng.integers(0, len(values), (draws, len(values)))], axis=1)
    for q in (2.5, 10, 25, 50, 75, 90, 97.5):
        assert np.percentile(fast, q) == pytest.approx(np.percentile(brute, q), abs=0.51)
    assert stats.ks_2samp(fast, brute).pvalue > 1e-4


def test_raw_gaps_large_path_agrees_with_resampling(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same frame through both bootstrap paths: identical point estimates and means, and
    median CIs within Monte Carlo error of each other."""
    apps, attrs = synthetic(1500, seed=11, female_gap=-0.1)
    frame = oracle._with_group(apps, oracle.attribute_groups(attrs)["sex"])
    exact = oracle.raw_gaps(frame, reference="Male").set_index("group")
    monkeypatch.setattr(pay_gap, "EXACT_BOOTSTRAP_ROWS", 0)
    fast = oracle.raw_gaps(frame, reference="Male").set_index("group")
    same = [c for c in exact.columns if "median_gap" not in c or not c.endswith(("low", "high"))]
    pd.testing.assert_frame_equal(exact[same], fast[same])
    for column in ("median_gap_pct_nominal_ci_low", "median_gap_pct_nominal_ci_high"):
        assert fast.loc["Female", column] == pytest.approx(exact.loc["Female", column], abs=1.5)


def test_aligned_groups_equal_attribute_groups_on_the_sample(
    sample_con: duckdb.DuckDBPyConnection,
) -> None:
    applications, attributes = oracle.load_frames(sample_con)
    aligned = oracle.aligned_groups(applications, attributes)
    expected = oracle.attribute_groups(attributes)
    assert list(aligned) == list(expected)
    for name, series in expected.items():
        want = oracle._with_group(applications, series)["group"].to_numpy(dtype=object)
        got = aligned[name].labels.take(aligned[name].codes)
        assert (got == want).all(), name


def test_recorded_answers_give_the_groups_of_the_full_attribute_query(
    sample_con: duckdb.DuckDBPyConnection,
) -> None:
    """load_frames reads stipend_attribute_answers (recorded answers, no order); the groups equal
    those of stipend_attributes (every application x attribute, Unknown filled in, sorted)."""
    applications, answers = oracle.load_frames(sample_con)
    full = run_query(sample_con, "stipend_attributes")
    assert len(answers) <= len(full)
    expected = oracle.attribute_groups(full)
    aligned = oracle.aligned_groups(applications, answers)
    assert list(aligned) == list(expected)
    for name, series in expected.items():
        want = oracle._with_group(applications, series)["group"].to_numpy(dtype=object)
        assert (aligned[name].labels.take(aligned[name].codes) == want).all(), name


@pytest.mark.parametrize(
    "params",
    [{}, {"roles": ["data_analyst"]}, {"start_date": "2024-03-01", "cohorts": None}],
    ids=["all", "one_role", "from_march"],
)
def test_report_loader_equals_load_frames_then_aligned_groups(
    sample_con: duckdb.DuckDBPyConnection, params: dict
) -> None:
    """The report's loader joins answers to rows by application_id; the projected frame and every row's
    group equal those of load_frames + aligned_groups (answers matched by application id), and
    the groups those of the full attribute query under the same filters."""
    frame, attributes = oracle.load_frames(sample_con, params)
    stipends = sa._arrow(
        sample_con, "stipend_applications", {**params, "vintage": None},
        columns=sa.ANALYSIS_COLUMNS,
    )  # fmt: skip
    applications = sa._to_pandas(stipends, text=("application_id",))
    pd.testing.assert_frame_equal(applications, frame[list(sa.ANALYSIS_COLUMNS)])
    groupings = sa._fetch_groupings(sample_con, params, stipends["application_id"].combine_chunks())
    expected = oracle.aligned_groups(frame, attributes)
    assert len(applications) and list(groupings) == list(expected)
    full = oracle.attribute_groups(run_query(sample_con, "stipend_attributes", params))
    assert list(full) == list(groupings)
    for name, grouping in groupings.items():
        np.testing.assert_array_equal(grouping.codes, expected[name].codes)
        np.testing.assert_array_equal(grouping.labels, expected[name].labels)
        want = oracle._with_group(frame, full[name])["group"].to_numpy(dtype=object)
        assert (grouping.labels.take(grouping.codes) == want).all(), name


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_answers_join_their_rows_by_key_whatever_either_order(
    sample_con: duckdb.DuckDBPyConnection, seed: int
) -> None:
    """Shuffling the answers, or the stipend rows, changes no row's group: the answers are
    joined to the rows on application_id, not by position."""
    ids = sa._arrow(
        sample_con, "stipend_applications", {"vintage": None}, columns=("application_id",)
    )["application_id"].combine_chunks()
    answers = sa._arrow(sample_con, "stipend_attribute_answers", {})
    expected = sa.answer_groupings_by_key(ids, answers)
    assert expected and len(ids) > 100
    rng = np.random.default_rng(seed)
    shuffled_answers = answers.take(rng.permutation(answers.num_rows))
    row_order = rng.permutation(len(ids))
    for got, order in (
        (sa.answer_groupings_by_key(ids, shuffled_answers), np.arange(len(ids))),
        (sa.answer_groupings_by_key(ids.take(row_order), answers), row_order),
        # the report's loader: the same join in DuckDB
        (sa._fetch_groupings(sample_con, {}, ids.take(row_order)), row_order),
    ):
        assert list(got) == list(expected)
        for name, grouping in got.items():
            want = expected[name].values()[order]
            assert (grouping.values() == want).all(), name
    # an answer of an application that is not a stipend row is left out, not misplaced
    fewer = sa.answer_groupings_by_key(ids.slice(1), answers)
    fetched = sa._fetch_groupings(sample_con, {}, ids.slice(1))
    for name, grouping in fewer.items():
        assert (grouping.values() == expected[name].values()[1:]).all(), name
        assert (fetched[name].values() == expected[name].values()[1:]).all(), name


def test_report_tables_equal_the_public_analysis(
    sample_con: duckdb.DuckDBPyConnection, sample_settings
) -> None:
    """report_tables (its own loader and code path) gives the tables of analyze(load_frames)."""
    analysis = oracle.analyze(
        *oracle.load_frames(sample_con),
        pay_floor_per_hour=sample_settings.pay_floor_per_hour,
        k=sample_settings.min_cell_size,
    )
    expected = sa.public_tables(analysis, k=sample_settings.min_cell_size)
    tables = sa.report_tables(sample_con, settings=sample_settings)
    assert [t.name for t in tables] == list(expected)
    for table in tables:
        pd.testing.assert_frame_equal(table.frame, expected[table.name], check_exact=True)


def test_aligned_groups_unsorted_text_and_missing_people() -> None:
    """Plain text columns in any order; an application without any demographics row is
    Unknown, in the intersection too (as `_with_group` fills it)."""
    applications = pd.DataFrame({"application_id": ["a3", "a1", "a2", "a9"]})
    attributes = pd.DataFrame(
        {
            "application_id": ["a2", "a1", "a1", "a2", "a3", "a3"],
            "attribute": ["sex", "race_ethnicity", "sex", "race_ethnicity", "sex", "veteran"],
            "value": ["Male", "Asian", "Female", None, "Female", "Yes"],
        }
    )
    aligned = oracle.aligned_groups(applications, attributes)
    expected = oracle.attribute_groups(attributes)
    assert list(aligned) == list(expected)
    for name, series in expected.items():
        want = oracle._with_group(applications, series)["group"].tolist()
        assert aligned[name].labels.take(aligned[name].codes).tolist() == want, name
    intersection = aligned["sex / race_ethnicity"]
    assert intersection.labels.take(intersection.codes).tolist() == [
        "Female / Unknown", "Female / Asian", "Male / Unknown", "Unknown",
    ]  # fmt: skip


def test_page_view_matches_the_analysis(sample_con: duckdb.DuckDBPyConnection) -> None:
    """The page's cached result carries the analysis's numbers and the public tables."""
    analysis = oracle.analyze(*oracle.load_frames(sample_con))
    view = sa.page_view(sample_con)
    overview = sa.page_overview(sample_con)
    assert view.n_applications == overview.n_applications == len(analysis.applications)
    assert view.n_flags == len(analysis.flags)
    assert view.remediation_cost_usd == pytest.approx(analysis.remediation_cost_usd)
    assert dict(view.flag_counts) == analysis.flags["reason"].value_counts().to_dict()
    public = sa.public_tables(analysis)
    for name, frame in public.items():
        pd.testing.assert_frame_equal(view.tables[name], frame, check_dtype=False)
    vintages = sorted(analysis.applications["col_vintage"].dropna().astype(str).unique())
    assert list(overview.vintages) == vintages


@pytest.mark.parametrize("with_location", [False, True])
def test_cell_design_equals_design_matrix(with_location: bool) -> None:
    """The numpy design of the cells equals design_matrix on them (names, values, dropped
    constant and collinear columns), with weights and a missing control."""
    frame = awkward_frame(3)
    controls = pay_gap.Controls.of(frame)
    weights = np.bincount(controls.cell).astype(float)
    cells = controls.cells
    flag = {"group[x]": (np.arange(len(cells)) % 3 == 0).astype(float)}
    fast = oracle._cell_design(cells, weights, with_location=with_location, indicators=flag)
    slow = oracle.design_matrix(
        cells.assign(**flag), with_location=with_location, indicators=list(flag), weights=weights
    )
    pd.testing.assert_frame_equal(fast, slow, check_dtype=False, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_order_statistics_read_as_from_a_full_sort(seed: int) -> None:
    """Reads by position (index arrays near the middle and far from it, slices, reads outside
    the kept window) give np.sort's values, with ties and tiny arrays."""
    rng = np.random.default_rng(seed)
    for n in (1, 2, 3, 10, 2_001, 40_000):
        values = rng.integers(0, 50, n).astype(float) + rng.random(n).round(1)
        expected = np.sort(values)
        ranked = pay_gap.OrderStatistics(values)
        assert len(ranked) == n
        middle = np.clip(n // 2 + rng.integers(-40, 40, 300), 0, n - 1)
        np.testing.assert_array_equal(ranked[middle], expected[middle])
        for part in (slice((n - 1) // 2, n // 2 + 1), slice(0, 3), slice(max(n - 3, 0), n)):
            np.testing.assert_array_equal(ranked[part], expected[part])
        ends = np.array([0, n - 1, n // 3])
        np.testing.assert_array_equal(ranked[ends], expected[ends])
        np.testing.assert_array_equal(ranked[middle[:5]], expected[middle[:5]])
        assert ranked[np.array([], dtype=np.int64)].size == 0


def test_raw_gaps_large_path_equals_full_sorts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above EXACT_BOOTSTRAP_ROWS the medians and bootstrap medians read order statistics from
    partitions; the table is the same as with every group fully sorted."""
    apps, attrs = synthetic(6000, seed=4, female_gap=-0.1)
    frame = oracle._with_group(apps, oracle.attribute_groups(attrs)["race_ethnicity"])
    assert len(frame) > pay_gap.EXACT_BOOTSTRAP_ROWS
    partitioned = oracle.raw_gaps(frame, reference="White", n_boot=200)
    monkeypatch.setattr(pay_gap, "OrderStatistics", np.sort)
    sorted_fully = oracle.raw_gaps(frame, reference="White", n_boot=200)
    pd.testing.assert_frame_equal(partitioned, sorted_fully, check_exact=True)


def lexsort_quartile_bands(pay: pd.Series, sex: pd.Series) -> np.ndarray:
    """uk_quartile_bands as first written: every person ranked by pay, place in the tie, sex and
    position with one lexsort."""
    values = pay.to_numpy(float)
    sex_code = pd.factorize(sex.astype(str).to_numpy(), sort=True)[0]
    position = np.arange(len(values))
    by_tie = np.lexsort((position, sex_code, values))
    tie_values, tie_sex = values[by_tie], sex_code[by_tie]
    starts = np.r_[True, (tie_values[1:] != tie_values[:-1]) | (tie_sex[1:] != tie_sex[:-1])]
    run = np.cumsum(starts) - 1
    run_start = np.flatnonzero(starts)
    run_size = np.diff(np.r_[run_start, len(values)])
    within = np.empty(len(values))
    within[by_tie] = (position - run_start[run] + 0.5) / run_size[run]
    ranked = np.lexsort((position, sex_code, within, values))
    sizes = [len(a) for a in np.array_split(position, 4)]
    bands = np.empty(len(values), dtype=np.int64)
    bands[ranked] = np.repeat(np.arange(1, 5), sizes)
    return bands


@pytest.mark.parametrize("seed", range(6))
def test_quartile_bands_equal_the_full_lexsort(seed: int) -> None:
    """Only the ties a band boundary cuts are ordered by the tie rule; every band equals the
    full ranking's, with few distinct pay values (long ties), missing pay and three sexes."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    pay = rng.integers(0, int(rng.integers(1, 12)), n).astype(float)
    pay[rng.random(n) < 0.1 * (seed % 2)] = np.nan
    sex = pd.Series(rng.choice(["Male", "Female", "Non-binary"], n, p=[0.45, 0.45, 0.1]))
    expected = lexsort_quartile_bands(pd.Series(pay), sex)
    got = pay_reporting.uk_quartile_bands(pd.Series(pay), sex).to_numpy()
    np.testing.assert_array_equal(got, expected)
    categorical = sex.astype(pd.CategoricalDtype(["Female", "Male", "Non-binary"]))
    np.testing.assert_array_equal(
        pay_reporting.uk_quartile_bands(pd.Series(pay), categorical).to_numpy(), expected
    )


def test_pay_gap_reporting_equals_pandas_filters() -> None:
    """The numpy pay gap view equals the pandas one (people filtered, one frame per band and a
    groupby per role) on rows with other sexes, missing pay and roles, categorical or text."""
    rng = np.random.default_rng(3)
    n = 3_000
    frame = pd.DataFrame(
        {
            "group": rng.choice(["Male", "Female", "Non-binary", "Unknown"], n),
            "hourly_usd": rng.integers(10, 40, n).astype(float),
            "role": rng.choice(["engineer", "analyst", "designer", None], n),
        }
    )
    frame.loc[rng.random(n) < 0.05, "hourly_usd"] = np.nan
    people = frame[frame["group"].isin(["Male", "Female"]) & frame["hourly_usd"].notna()]
    bands = lexsort_quartile_bands(people["hourly_usd"], people["group"])
    for variant in (frame, frame.astype({"group": "category", "role": "category"})):
        summary, quartiles, categories = pay_reporting.pay_gap_reporting(variant)
        men = people.loc[people["group"] == "Male", "hourly_usd"]
        women = people.loc[people["group"] == "Female", "hourly_usd"]
        assert summary.loc[0, "n_male"] == len(men) and summary.loc[0, "n_female"] == len(women)
        assert summary.loc[0, "mean_gap_pct"] == 100 * (men.mean() - women.mean()) / men.mean()
        for band, name in enumerate(["lower", "lower middle", "upper middle", "upper"], 1):
            in_band = people[bands == band]
            for sex in ("Male", "Female"):
                row = quartiles[(quartiles["band"] == name) & (quartiles["sex"] == sex)]
                assert row["n"].item() == (in_band["group"] == sex).sum()
        by_role = people.groupby("role", sort=True)
        assert categories["category"].tolist() == list(by_role.groups)
        for row in categories.itertuples():
            part = by_role.get_group(row.category)
            pm = part.loc[part["group"] == "Male", "hourly_usd"].to_numpy(float)
            pf = part.loc[part["group"] == "Female", "hourly_usd"].to_numpy(float)
            assert (row.n_male, row.n_female) == (len(pm), len(pf))
            assert row.median_gap_pct == 100 * (np.median(pm) - np.median(pf)) / np.median(pm)


def column_stack_independent(values: np.ndarray, weights: np.ndarray) -> list[int]:
    """_independent_indices as first written: the basis rebuilt by np.column_stack."""
    values = values * np.sqrt(weights)[:, None]
    basis = np.empty((values.shape[0], 0))
    kept = []
    for j in range(values.shape[1]):
        column = values[:, j]
        norm = np.linalg.norm(column)
        rest = column - basis @ (basis.T @ column)
        rest = rest - basis @ (basis.T @ rest)
        left = np.linalg.norm(rest)
        if norm > 0 and left > 1e-9 * norm:
            basis = np.column_stack([basis, rest / left])
            kept.append(j)
    return kept


@pytest.mark.parametrize("seed", range(4))
def test_independent_columns_in_place_basis(seed: int) -> None:
    """The basis grown in place keeps the columns the copied basis kept: dummies that sum to
    the constant, a copy, a linear combination, a zero column."""
    rng = np.random.default_rng(seed)
    m = 500
    levels = rng.integers(0, 4, m)
    dummies = [(levels == j).astype(float) for j in range(4)]
    x = rng.normal(size=m)
    columns = [np.ones(m), *dummies, x, 2 * x - dummies[1], np.zeros(m), rng.normal(size=m), x]
    values = np.asfortranarray(np.column_stack(columns))
    weights = rng.integers(1, 30, m).astype(float)
    kept = ols.independent_indices(values, weights=weights)
    assert kept == column_stack_independent(values, weights)
    assert kept == [0, 1, 2, 3, 5, 8]


def test_remediation_effect_fitted_beside_the_gap_table_equals_refitting() -> None:
    """The analysis fits the after-raise gaps on a worker thread before the gap table exists;
    the table equals the public remediation_effect refitted from the gap table's rows."""
    apps, attrs = synthetic(1200, seed=8, female_gap=-0.12)
    analysis = oracle.analyze(apps, attrs)
    assert (analysis.gaps["method"] == "ols_hc3").any() and len(analysis.remediation)
    groups = oracle.attribute_groups(attrs)
    expected = oracle.remediation_effect(apps, analysis.remediation, groups, analysis.gaps)
    pd.testing.assert_frame_equal(analysis.remediation_effect, expected, check_exact=True)


@pytest.mark.parametrize("ids", [["a1", "a2", "a3", "a4"], ["a4", "a2", "a3", "a1"]])
def test_policy_flags_sorted_by_reason_then_id(ids: list[str]) -> None:
    """Flags come sorted by reason and application id whether the applications are in id
    order (parts concatenated as they are) or not (sorted)."""
    apps = pd.DataFrame(
        {
            "application_id": ids,
            "stipend_usd": [0.0, 100.0, np.nan, 100.0],
            "stipend_amount": [0.0, 100.0, 50.0, 100.0],
            "stipend_currency": ["USD", "USD", "XXX", "USD"],
            "estimated_hours": [10.0, 10.0, 10.0, 2.0],
            "price_level": [100.0, np.nan, 100.0, np.nan],
            "country": ["US", "ZZ", "US", "ZZ"],
            "region": [None, None, None, None],
            "metro": [None, None, None, None],
            "cohort_id": ["c1"] * 4,
        }
    )
    flags = pay_policy.policy_flags(apps)
    expected = flags.sort_values(["reason", "application_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(flags, expected)
    assert flags["reason"].tolist() == [
        "below_pay_floor", "missing_cost_of_living", "missing_cost_of_living", "missing_fx_rate",
        "unpaid",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("given", "problem"),
    [("Nobody", "not a group"), ("Unknown", "Unknown"), ("Female / Unknown", "Unknown")],
)
def test_an_ineligible_given_reference_falls_back_with_a_warning(given: str, problem: str) -> None:
    """A given reference that is no group, Unknown or contains Unknown is not used: the
    attribute gets its largest known group and the analysis says why."""
    apps, attrs = synthetic(600, seed=2, female_gap=-0.1)
    attrs = attrs[~((attrs["attribute"] == "sex") & (attrs.index % 9 == 0))]  # some Unknown
    attribute = "sex / race_ethnicity" if "/" in given else "sex"
    analysis = oracle.analyze(apps, attrs, reference={attribute: given, "race_ethnicity": "Asian"})
    part = analysis.gaps[analysis.gaps["attribute"] == attribute]
    frame = oracle._with_group(apps, oracle.attribute_groups(attrs)[attribute])
    assert set(part["reference_group"]) == {oracle.default_reference(frame)}
    assert any(given in w and problem in w for w in analysis.warnings), analysis.warnings
    race = analysis.gaps[analysis.gaps["attribute"] == "race_ethnicity"]
    assert set(race["reference_group"]) == {"Asian"}


def test_default_reference_is_the_largest_known_group_not_the_best_paid() -> None:
    """The default reference depends on group sizes only: paying one group far more does not
    make it the reference; intersections never take one with an Unknown part."""
    apps, attrs = synthetic(600, seed=5)
    groups = oracle.attribute_groups(attrs)
    for attribute, series in groups.items():
        frame = oracle._with_group(apps, series)
        largest = oracle.default_reference(frame)
        richer = apps.copy()
        small = frame["group"] != largest
        richer.loc[small, ["stipend_usd", "real_stipend_usd"]] *= 3
        analysis = oracle.analyze(richer, attrs, n_boot=0)
        refs = set(analysis.gaps.loc[analysis.gaps["attribute"] == attribute, "reference_group"])
        assert refs == {largest} and "Unknown" not in largest
