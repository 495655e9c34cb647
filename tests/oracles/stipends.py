"""Reference oracles for the stipend analysis: the frame-in entry points (frames of
`load_frames` in, the same numbers out) that tests compare production against."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from signalboard.analysis.stipends import (
    StipendAnalysis,
    _arrow,
    _gap_table,
    _pay_results,
    _remediation_effect,
    _Rows,
    _to_pandas,
    _with_groups,
)
from signalboard.stats import pay_gap as pg
from signalboard.stats import pay_policy as pp
from signalboard.stats.blas import single_threaded_blas
from signalboard.stats.ols import independent_indices
from signalboard.stats.pay_gap import (
    INTERSECTION_SEPARATOR,
    MIN_MODEL_N,
    MIN_SMALLER_GROUP,
    UNKNOWN,
    CellColumns,
    Controls,
    GapEstimate,
    Grouping,
    adjusted_gap_estimates,
    answer_groupings,
    cell_design_arrays,
    col_tier,
    log_modelable,
    raw_gap_table,
)


def load_frames(
    con: Any, params: Mapping[str, Any] | None = None, *, vintage: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-application stipend frame and the long attribute frame from the warehouse.

    The stipend frame has every column of queries/stipend_applications.sql but candidate_id.
    The attribute frame has the recorded answers only (queries/stipend_attribute_answers.sql:
    a missing answer is Unknown in the analysis, as in stipend_attributes.sql) and its three
    attribute and value columns are categoricals; application_id is the key `aligned_groups`
    joins them on.
    """
    params = dict(params or {})
    stipends = _arrow(con, "stipend_applications", {**params, "vintage": vintage})
    # without candidate_id: the analysis never needs who, and each id is a Python string
    applications = _to_pandas(stipends, text=("application_id",), drop=("candidate_id",))
    attributes = _to_pandas(
        _arrow(con, "stipend_attribute_answers", params), text=("application_id",)
    )
    return applications, attributes


def attribute_groups(
    attributes: pd.DataFrame,
    *,
    include_intersections: bool = True,
) -> dict[str, pd.Series]:
    """Each application's group per attribute (and per intersection of two attributes).

    Returns a mapping attribute name -> Series indexed by application_id. An intersection is named
    ``"sex / race_ethnicity"`` and its groups ``"Female / Asian"``.
    """
    if attributes.empty:
        return {}
    wide = (
        attributes.pivot_table(
            index="application_id",
            columns="attribute",
            values="value",
            aggfunc="first",
            observed=True,
        )
        .astype(object)
        .fillna(UNKNOWN)
    )
    # sex and race_ethnicity first (the attributes reviewers read first), then the others
    priority = {"sex": 0, "race_ethnicity": 1}
    names = sorted(wide.columns, key=lambda a: (priority.get(a, 2), a))
    out: dict[str, pd.Series] = {name: wide[name].astype(str) for name in names}
    if include_intersections and len(names) >= 2:
        for first, second in itertools.combinations(names[:2], 2):
            out[f"{first}{INTERSECTION_SEPARATOR}{second}"] = (
                wide[first].astype(str) + INTERSECTION_SEPARATOR + wide[second].astype(str)
            )
    return out


def _with_group(applications: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    frame = applications.copy()
    frame["group"] = frame["application_id"].map(groups).fillna(UNKNOWN)
    return frame


def _grouping_from_series(applications: pd.DataFrame, groups: pd.Series) -> Grouping:
    """The groups of `attribute_groups` aligned to the rows (as `_with_group` assigns them)."""
    return Grouping.of(applications["application_id"].map(groups).fillna(UNKNOWN))


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(values)
    return np.asarray(codes, dtype=np.int64), np.asarray(uniques, dtype=object)


def aligned_groups(
    applications: pd.DataFrame,
    attributes: pd.DataFrame,
    *,
    include_intersections: bool = True,
) -> dict[str, Grouping]:
    """`attribute_groups` followed by `_with_group`, computed on integer codes: each row's group
    per attribute (and intersection), Unknown where the application has no value."""
    if attributes.empty:
        return {}
    app_ids = applications["application_id"].to_numpy(dtype=object)
    id_column = attributes["application_id"]
    if (
        isinstance(id_column.dtype, pd.CategoricalDtype)
        and len(id_column.cat.categories) == len(app_ids)
        and bool((id_column.cat.categories.to_numpy(dtype=object) == app_ids).all())
    ):
        # load_frames: the categories are the applications' ids, the codes their rows
        id_codes, ids = id_column.cat.codes.to_numpy().astype(np.int64), app_ids
    else:
        id_codes, ids = _codes(id_column)
    attr_codes, names_found = _codes(attributes["attribute"])
    value_codes, values = _codes(attributes["value"])
    if ids is app_ids or (len(ids) == len(app_ids) and bool((ids == app_ids).all())):
        position = None
    else:
        position = pd.Index(ids).get_indexer(app_ids)
    return answer_groupings(
        len(ids),
        id_codes,
        attr_codes,
        names_found,
        value_codes,
        values,
        position=position,
        include_intersections=include_intersections,
    )


def default_reference(frame: pd.DataFrame) -> str | None:
    """The largest known group (ties: first in text order) of at least `MIN_MODEL_N` people
    with a stipend, no Unknown part; counted with pandas, independently of the product."""
    sizes = frame.groupby("group")["stipend_usd"].count()
    known = np.array([not pg.is_unknown(g) for g in sizes.index], dtype=bool)
    sizes = sizes[known & (sizes >= MIN_MODEL_N).to_numpy()]
    if sizes.empty:
        return None
    return str(sizes.sort_index(kind="stable").idxmax())


def raw_gaps(
    frame: pd.DataFrame,
    *,
    reference: str,
    n_boot: int = 400,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean and median stipend per group, nominal and real, and the raw gap vs `reference`.

    The raw gap of group g in % is ``100 * (mean_g / mean_ref - 1)`` (likewise for medians).
    Mean gaps have a delta-method 95% CI on the log ratio; median gaps a percentile bootstrap.

    Parameters
    ----------
    frame : per-application rows with ``group``, ``stipend_usd`` and ``real_stipend_usd``.
    reference : the group the others are compared with.

    Examples
    --------
    >>> frame = pd.DataFrame({"group": ["a", "a", "b", "b"], "stipend_usd": [100.0, 100, 90, 90],
    ...                       "real_stipend_usd": [100.0, 100, 100, 100]})
    >>> raw_gaps(frame, reference="a").set_index("group").loc["b", "raw_gap_pct_nominal"]
    np.float64(-10.0)
    """
    return raw_gap_table(
        frame["stipend_usd"].to_numpy(float),
        frame["real_stipend_usd"].to_numpy(float),
        Grouping.of(frame["group"]),
        reference=reference,
        n_boot=n_boot,
        seed=seed,
    )


def design_matrix(
    frame: pd.DataFrame,
    *,
    with_location: bool,
    indicators: Sequence[str] = (),
    weights: np.ndarray | None = None,
) -> pd.DataFrame:
    """Regressors: a constant, the `indicators` columns, role dummies, cohort length in days,
    log estimated hours (a stipend scales with the hours) and, with location, cost-of-living tier
    dummies and log price level. Constant and collinear columns are dropped.

    With `weights`, each row of `frame` stands for that many identical rows (a cell): missing
    controls are filled with the weighted mean and collinearity is judged on the weighted rows,
    so the result is the design of the expanded rows, one row per cell.
    """
    parts = [pd.Series(1.0, index=frame.index, name="const")]
    parts.append(
        pd.get_dummies(frame["role"].astype(str), prefix="role", drop_first=True, dtype=float)
    )
    hours = pd.to_numeric(frame["estimated_hours"], errors="coerce").astype(float)
    controls = {
        "cohort_length_days": pd.to_numeric(frame["cohort_length_days"], errors="coerce"),
        "log_estimated_hours": np.log(hours.where(hours > 0)),
    }
    if with_location:
        level = pd.to_numeric(frame["price_level"], errors="coerce").astype(float)
        controls["log_price_level"] = np.log(level.where(level > 0))
        tier = col_tier(frame["price_level"]).fillna("unknown")
        parts.append(pd.get_dummies(tier, prefix="col", drop_first=True, dtype=float))
    for name, values in controls.items():
        values = values.astype(float)
        known = values.notna().to_numpy()
        if not known.any():
            fill = 0.0
        elif weights is None:
            fill = values.mean()
        else:
            fill = float(np.average(values.to_numpy()[known], weights=weights[known]))
        parts.append(values.fillna(fill).rename(name))
    # Indicators last: one that the controls determine is the column dropped as collinear.
    parts += [frame[c].astype(float) for c in indicators]
    X = pd.concat(parts, axis=1)
    keep = ["const"] + [c for c in X.columns if c != "const" and X[c].nunique() > 1]
    return _independent_columns(X[keep], weights=weights)


def _cell_design(
    cells: pd.DataFrame,
    weights: np.ndarray,
    *,
    with_location: bool,
    indicators: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """`design_matrix(cells.assign(**indicators), weights=weights)` in numpy: the same columns,
    names and values, without pandas' per-call overhead (a few hundred cells, dozens of fits)."""
    names, values = cell_design_arrays(
        CellColumns.of(cells),
        np.arange(len(cells)),
        np.asarray(weights, dtype=float),
        with_location=with_location,
        indicators=indicators,
    )
    return pd.DataFrame(values, columns=names)


def _independent_columns(X: pd.DataFrame, *, weights: np.ndarray | None = None) -> pd.DataFrame:
    """Drop regressors that are linear combinations of earlier ones (for example estimated hours
    when every cohort of a role has the same hours), left to right, so the indicators listed
    first stay unless they are themselves collinear with the constant."""
    return X.iloc[:, independent_indices(X.to_numpy(float), weights=weights)]


def adjusted_gaps(
    frame: pd.DataFrame,
    *,
    reference: str,
    with_location: bool = False,
    min_n: int = MIN_MODEL_N,
    min_smaller: int = MIN_SMALLER_GROUP,
) -> dict[str, GapEstimate]:
    """The adjusted gap of every other group vs `reference`: ``exp(beta_g) - 1`` in %.

    One OLS of log(real stipend) on an indicator per group (the reference is the baseline) and
    the controls (role, cohort length, log estimated hours and, with location, cost-of-living
    tier and log price level), with HC3 robust SEs and a normal 95% CI. Only rows with a positive
    real stipend enter. A group enters only if its comparison with the reference has at least
    `min_n` people and `min_smaller` in the smaller of the two; the others get method
    "too_few_to_model". A group that the controls determine (all of it in one role or tier) is
    "not_identifiable". Rows that a model fits exactly (leverage 1: the only one of their role or
    tier) carry no information on the gaps and would make HC3 undefined, so they are left out.
    """
    return adjusted_gap_estimates(
        log_modelable(frame),
        Grouping.of(frame["group"]),
        Controls.of(frame),
        reference=reference,
        with_location=with_location,
        min_n=min_n,
        min_smaller=min_smaller,
    )


def adjusted_gap(
    frame: pd.DataFrame,
    *,
    group: str,
    reference: str,
    with_location: bool = False,
    min_n: int = MIN_MODEL_N,
    min_smaller: int = MIN_SMALLER_GROUP,
) -> GapEstimate:
    """The adjusted gap of one `group` vs `reference`, modelled on those two groups alone (see
    `adjusted_gaps` for the model).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> n = 200
    >>> frame = pd.DataFrame({"group": np.repeat(["a", "b"], n // 2), "role": "analyst",
    ...     "cohort_length_days": 10, "estimated_hours": rng.choice([10, 20], n),
    ...     "price_level": 100.0})
    >>> frame["real_stipend_usd"] = np.exp(6 + np.where(frame["group"] == "b", np.log(0.9), 0)
    ...                                     + rng.normal(0, 0.05, n))
    >>> round(adjusted_gap(frame, group="b", reference="a").estimate_pct)
    -10
    """
    pair = frame[frame["group"].isin([group, reference])]
    return adjusted_gaps(
        pair,
        reference=reference,
        with_location=with_location,
        min_n=min_n,
        min_smaller=min_smaller,
    ).get(
        group,
        GapEstimate(np.nan, np.nan, np.nan, np.nan, 0, 0, 0, "too_few_to_model", with_location),
    )


def cohort_view(frame: pd.DataFrame, *, group: str, reference: str) -> pd.DataFrame:
    """Within each cohort, the real stipend of `group` vs `reference`: means, Welch's t-test and
    the Mann-Whitney U test (for comparisons too small to model)."""
    value = "real_stipend_usd" if frame["real_stipend_usd"].notna().any() else "stipend_usd"
    part = frame[frame["group"].isin([group, reference]) & frame[value].notna()]
    return pg.cohort_view(part, group=group, reference=reference, value=value)


def group_neutral_predictions(
    applications: pd.DataFrame, *, with_location: bool = True
) -> pd.DataFrame:
    """The stipend each application would get from the controls alone (no demographic input).

    OLS of log(real stipend) on role, cohort length and estimated hours and, with location (the
    default: a location-based pay policy is group-neutral), the cost-of-living tier, fitted on applications with a positive real stipend; the prediction
    ``exp(fitted)`` is a real stipend, converted back to US dollars with the application's price
    level. Residual in % is ``100 * (real / predicted - 1)``; in SD it is the log residual over
    the residuals' standard deviation; below -2 SD is an outlier.

    Returns one row per application with a price level: application_id, predicted_real_usd,
    predicted_usd, residual_pct, residual_sd, low_outlier.
    """
    return pg.group_neutral_predictions(
        applications, Controls.of(applications), with_location=with_location
    )


def remediation_plan(
    applications: pd.DataFrame, predictions: pd.DataFrame, *, tolerance_pct: float = 5.0
) -> pd.DataFrame:
    """Raise every application whose real stipend is more than `tolerance_pct` below its
    group-neutral prediction up to the prediction. The rule uses pay and the controls only: no
    one is raised, or left out, because of a protected group.

    Returns application_id, current_usd, proposed_usd, raise_usd, predicted_real_usd,
    residual_pct (one row per raise, largest first).

    Examples
    --------
    >>> apps = pd.DataFrame({"application_id": ["a", "b"], "stipend_usd": [80.0, 100.0],
    ...                      "real_stipend_usd": [80.0, 100.0]})
    >>> preds = pd.DataFrame({"application_id": ["a", "b"], "predicted_real_usd": [100.0, 100.0],
    ...                       "predicted_usd": [100.0, 100.0], "residual_pct": [-20.0, 0.0]})
    >>> remediation_plan(apps, preds)["raise_usd"].tolist()
    [20.0]
    """
    merged = applications[["application_id", "stipend_usd", "real_stipend_usd"]].merge(
        predictions, on="application_id", how="inner"
    )
    return pp.remediation_plan(merged, tolerance_pct=tolerance_pct)[0]


def apply_raises(applications: pd.DataFrame, plan: pd.DataFrame) -> pd.DataFrame:
    """The applications with the plan's proposed stipends (real values recomputed)."""
    out = applications.copy()
    proposed = out["application_id"].map(plan.set_index("application_id")["proposed_usd"])
    out["stipend_usd"] = proposed.fillna(out["stipend_usd"])
    out["real_stipend_usd"] = out["stipend_usd"] / (out["price_level"] / 100.0)
    return out


def gap_table(
    applications: pd.DataFrame,
    groups: Mapping[str, pd.Series],
    *,
    reference: Mapping[str, str] | None = None,
    k: int = 5,
    n_boot: int = 400,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stipends table (one row per attribute and group) and the cohort tests of the
    comparisons too small to model."""
    groupings = {name: _grouping_from_series(applications, s) for name, s in groups.items()}
    return _gap_table(_Rows.of(applications), groupings, reference=reference, k=k, n_boot=n_boot)


def analyze(
    applications: pd.DataFrame,
    attributes: pd.DataFrame,
    *,
    reference: Mapping[str, str] | None = None,
    tolerance_pct: float = 5.0,
    pay_floor_per_hour: float = 20.0,
    tiers: pd.DataFrame | None = None,
    include_intersections: bool = True,
    k: int = 5,
    n_boot: int = 400,
) -> StipendAnalysis:
    """Run the whole stipend equity analysis on the frames of `load_frames`.

    `reference` maps an attribute to its reference group (default: the highest-paid group).
    """
    with single_threaded_blas():
        return _analyze(
            applications,
            attributes,
            reference=reference,
            tolerance_pct=tolerance_pct,
            pay_floor_per_hour=pay_floor_per_hour,
            tiers=tiers,
            include_intersections=include_intersections,
            k=k,
            n_boot=n_boot,
        )


def _analyze(
    applications: pd.DataFrame,
    attributes: pd.DataFrame,
    *,
    reference: Mapping[str, str] | None,
    tolerance_pct: float,
    pay_floor_per_hour: float,
    tiers: pd.DataFrame | None,
    include_intersections: bool,
    k: int,
    n_boot: int,
) -> StipendAnalysis:
    groupings = aligned_groups(
        applications, attributes, include_intersections=include_intersections
    )
    return _analyze_groups(
        applications,
        groupings,
        reference=reference,
        tolerance_pct=tolerance_pct,
        pay_floor_per_hour=pay_floor_per_hour,
        tiers=tiers,
        k=k,
        n_boot=n_boot,
    )


def _analyze_groups(
    applications: pd.DataFrame,
    groupings: Mapping[str, Grouping],
    *,
    reference: Mapping[str, str] | None,
    tolerance_pct: float,
    pay_floor_per_hour: float,
    tiers: pd.DataFrame | None,
    k: int,
    n_boot: int = 400,
) -> StipendAnalysis:
    """`analyze` on each row's groups (`aligned_groups`)."""
    pay = _pay_results(
        applications,
        tolerance_pct=tolerance_pct,
        pay_floor_per_hour=pay_floor_per_hour,
        tiers=tiers,
    )
    return _with_groups(pay, groupings, reference=reference, k=k, n_boot=n_boot)


def remediation_effect(
    applications: pd.DataFrame,
    plan: pd.DataFrame,
    groups: Mapping[str, pd.Series],
    gaps: pd.DataFrame,
) -> pd.DataFrame:
    """The adjusted gap of every modelled comparison before and after the plan's raises."""
    raised = apply_raises(applications, plan)
    groupings = {name: _grouping_from_series(applications, s) for name, s in groups.items()}
    return _remediation_effect(log_modelable(raised), Controls.of(raised), groupings, gaps)


def _fetch(
    con: Any,
    name: str,
    params: Mapping[str, Any],
    *,
    text: Sequence[str] = (),
    drop: Sequence[str] = (),
) -> pd.DataFrame:
    """A library query as a DataFrame whose text columns, except `text`, are categoricals."""
    return _to_pandas(_arrow(con, name, params), text=text, drop=drop)
