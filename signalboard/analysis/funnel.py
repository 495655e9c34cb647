"""Funnel health: conversion by stage, breakdowns, cohort trends with alerts, drill-through.

Definitions (the Funnel page's glossary repeats them):

- reached(s): applications whose furthest stage is s or later. An application that reached a
  later stage counts as having passed every earlier one, even without an event for it.
- pending(s): applications still in progress at the stage before s, inside the step's conversion
  window (STEP_WINDOWS_DAYS) or in a cohort still running at the as-of date. In-progress is not
  drop-out: pending is shown apart and left out of the step's denominator, and a cohort with
  anything pending at a step or before it is not complete there, so no alert tests it.
- step_conversion(s) = reached(s) / (reached(s-1) - pending(s)).
- overall_conversion(s) = reached(s) / reached(applied).
- drop_off(s) = reached(s-1) - pending(s) - reached(s): ended (rejected, withdrew) or stalled
  past the window without reaching s.

The input is the `application_journeys` query (one row per application); everything else is
vectorized numpy/pandas over an (applications x stages) matrix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb
import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from etl.contract import STAGES
from signalboard.analysis.tables import ReportTable
from signalboard.db import query_df, quote_identifier
from signalboard.queries import load_query, run_query
from signalboard.settings import Settings
from signalboard.stats.hypergeometric import hypergeom_cdf
from signalboard.stats.suppression import suppress_small_cells

COHORT_LENGTH = "cohort_length"
"""Window marker: the step's window is the cohort's length (starts_on to ends_on, inclusive)."""

STEP_WINDOWS_DAYS: dict[str, float | str] = {
    "selected": 14,
    "submitted": COHORT_LENGTH,
    "triage_passed": 14,
    "rubric_passed": 14,
    "take_home_passed": 14,
    "extension": 30,
    "retainer": 90,
    "hired": 90,
}
"""Micro-internship conversion window of each step, keyed by the stage the step leads to, in days.

The program's defaults: selection 14, submission = the cohort's length (counted from the later of
selection and the cohort's first day), take-home 14, extension 30, retainer 90. Triage and rubric
scoring follow a submission like the take-home (14); the hire decision after a retainer gets the
retainer's 90. Without a cohort a cohort-length window falls back to 14 days.
"""

TRADITIONAL_WINDOWS_DAYS: dict[str, float | str] = {
    "selected": 60,
    "submitted": 90,
    "triage_passed": 90,
    "rubric_passed": 90,
    "take_home_passed": 90,
    "extension": 180,
    "retainer": 180,
    "hired": 180,
}
"""Traditional-track windows. That track records applied, selected (screen), take_home_passed and
hired only, so an application waits at 'selected' for the take-home (the step to 'submitted' in
funnel order) and at 'take_home_passed' for the offer (the step to 'extension'). A screen, a
take-home and an offer take weeks to months, not the micro-internship's days: 60, 90, 180.
"""

FALLBACK_WINDOW_DAYS = 14.0
DIMENSIONS: tuple[str, ...] = ("role", "cohort_id", "source", "country", "region", "track")
"""Breakdowns taken from the applications themselves; any other name is a self-ID attribute."""
DIMENSION_ALIASES: dict[str, str] = {"cohort": "cohort_id"}
BLANK = "(blank)"
DAY = pd.Timedelta(days=1)

FUNNEL_COLUMNS = [
    "segment_type",
    "segment",
    "stage",
    "stage_index",
    "reached",
    "n",
    "pending",
    "drop_off",
    "step_conversion",
    "overall_conversion",
    "drop_off_rate",
]
DEMOGRAPHIC_NOTE = (
    "Demographic rows: reached and n (the step's denominator) below k shown as '<k', "
    "complementary cells as '*', the rates they would reveal hidden; pending and drop_off are "
    "left blank (a status count of 0-4 per cell would hide nearly every rate, and drop_off gives "
    "a hidden count back by subtraction)."
)


# --- per-application stage matrix -----------------------------------------------------------------


def _dimension(name: str) -> str:
    return DIMENSION_ALIASES.get(name, name)


WindowOverrides = Mapping[str, "float | str | Mapping[str, float | str]"]


def step_windows(windows: WindowOverrides | None = None) -> dict[str, dict[str, float | str]]:
    """Windows per track and step: the defaults with `windows` overriding some of them.

    `windows` is either flat, ``{"selected": 10}`` (every track), or per track,
    ``{"traditional": {"selected": 45}}``. Unknown steps and negative windows are refused.

    Examples
    --------
    >>> step_windows({"traditional": {"selected": 45}})["traditional"]["selected"]
    45
    """
    merged = {
        "micro_internship": dict(STEP_WINDOWS_DAYS),
        "traditional": dict(TRADITIONAL_WINDOWS_DAYS),
    }
    for key, value in (windows or {}).items():
        if isinstance(value, Mapping):
            if key not in merged:
                raise ValueError(f"unknown track {key!r} (one of {', '.join(merged)})")
            targets, items = [key], list(value.items())
        else:
            targets, items = list(merged), [(key, value)]
        for stage, days in items:
            if stage not in STEP_WINDOWS_DAYS:
                raise ValueError(
                    f"unknown step {stage!r}: windows are keyed by {', '.join(STEP_WINDOWS_DAYS)}"
                )
            if days != COHORT_LENGTH and not float(days) >= 0:
                raise ValueError(f"window for {stage} must be >= 0 days or {COHORT_LENGTH!r}")
            for track in targets:
                merged[track][stage] = days
    return merged


@dataclass(frozen=True)
class StageMatrix:
    """reached[i, s] and pending[i, s] for application i and stage s (STAGES order)."""

    reached: np.ndarray
    pending: np.ndarray


def stage_matrix(journeys: pd.DataFrame, *, windows: WindowOverrides | None = None) -> StageMatrix:
    """Which stages each application reached and at which step it is pending.

    Pending at step s: in progress, furthest stage is s-1, and either the as-of is inside the
    window that opened when it reached s-1 (for submission: at the later of selection and the
    cohort start) or the application's cohort is still running at the as-of (the as-of is before
    the end of the cohort's last day).

    Examples
    --------
    >>> j = pd.DataFrame({"track": ["micro_internship"], "furthest_stage_index": [1],
    ...     "outcome": ["in_progress"],
    ...     "reached_selected_at": [pd.Timestamp("2025-01-01")],
    ...     "cohort_starts_on": [pd.Timestamp("2025-01-10")],
    ...     "cohort_ends_on": [pd.Timestamp("2025-02-08")], "as_of": [pd.Timestamp("2025-02-01")],
    ...     **{f"reached_{s}_at": [pd.NaT] for s in STAGES if s != "selected"}})
    >>> m = stage_matrix(j)
    >>> m.reached[0].astype(int).tolist()[:3], m.pending[0].astype(int).tolist()[:3]
    ([1, 1, 0], [0, 0, 1])
    """
    merged = step_windows(windows)
    furthest = journeys["furthest_stage_index"].to_numpy(dtype=int)
    stage_index = np.arange(len(STAGES))
    reached = furthest[:, None] >= stage_index[None, :]
    pending = np.zeros_like(reached)
    if len(journeys) == 0:
        return StageMatrix(reached, pending)
    in_progress = (journeys["outcome"] == "in_progress").to_numpy()
    is_traditional = journeys["track"] == "traditional"
    as_of = pd.to_datetime(journeys["as_of"])
    # A cohort running at the as-of date (its last day not over) still moves its applications
    # on, whatever the step's window says: pending, not drop-out, until the cohort ends.
    running = (as_of < pd.to_datetime(journeys["cohort_ends_on"]) + DAY).to_numpy()
    for s in range(1, len(STAGES)):
        stage, previous = STAGES[s], STAGES[s - 1]
        at_previous = in_progress & (furthest == s - 1)
        opened = pd.to_datetime(journeys[f"reached_{previous}_at"])
        closes = pd.Series(pd.NaT, index=journeys.index, dtype="datetime64[ns]")
        for track, track_windows in merged.items():
            # Tracks other than traditional (none in the contract today) use the cohort windows.
            rows = is_traditional if track == "traditional" else ~is_traditional
            closes = closes.where(~rows, _closes(journeys, opened, track_windows[stage]))
        pending[:, s] = at_previous & ((as_of < closes).to_numpy() | running)
    return StageMatrix(reached, pending)


def _closes(journeys: pd.DataFrame, opened: pd.Series, window: float | str) -> pd.Series:
    """When a step's window closes for each application, given when it opened."""
    if window != COHORT_LENGTH:
        return opened + pd.Timedelta(days=float(window))
    starts = pd.to_datetime(journeys["cohort_starts_on"])
    length = (pd.to_datetime(journeys["cohort_ends_on"]) - starts) / DAY + 1.0
    length = length.fillna(FALLBACK_WINDOW_DAYS)
    opened = pd.concat([opened, starts], axis=1).max(axis=1)
    return opened + pd.to_timedelta(length, unit="D")


def with_demographics(
    journeys: pd.DataFrame, demographics: pd.DataFrame | None, attributes: Sequence[str]
) -> pd.DataFrame:
    """journeys with one column per requested self-ID attribute (missing -> 'Unknown').

    `demographics` is the `funnel_demographic_attributes` query: application_id, attribute, value.
    """
    if not attributes:
        return journeys
    if demographics is None:
        raise ValueError(
            f"breakdown by {', '.join(attributes)} needs the demographic attributes "
            "(funnel_demographic_attributes query)"
        )
    wanted = demographics.loc[demographics["attribute"].isin(attributes)]
    wide = wanted.pivot_table(
        index="application_id", columns="attribute", values="value", aggfunc="first"
    )
    out = journeys.merge(wide, how="left", left_on="application_id", right_index=True)
    for attribute in attributes:
        if attribute not in out:
            out[attribute] = "Unknown"
        out[attribute] = out[attribute].fillna("Unknown")
    return out


# --- funnel table ---------------------------------------------------------------------------------


def funnel_table(
    journeys: pd.DataFrame,
    *,
    by: Sequence[str] = (),
    windows: WindowOverrides | None = None,
    demographics: pd.DataFrame | None = None,
    k: int = 5,
) -> pd.DataFrame:
    """Reached, pending, step and overall conversion and drop-off per stage and segment.

    Parameters
    ----------
    journeys : DataFrame
        Rows of the `application_journeys` query.
    by : sequence of str
        Breakdown dimensions, several at once: role, cohort (cohort_id), source, country, region,
        track, or any self-ID attribute (sex, race_ethnicity, ...). Empty: one segment 'all'.
    windows : mapping, optional
        Step conversion windows overriding STEP_WINDOWS_DAYS (keyed by the step's stage).
    demographics : DataFrame, optional
        The `funnel_demographic_attributes` query; needed when `by` names a self-ID attribute.
    k : int
        Smallest demographic count shown (settings.min_cell_size).

    Returns
    -------
    DataFrame
        segment_type ("all", "role", "role x sex"), segment ("all", "data_analyst | Female"),
        one column per `by` dimension, stage, stage_index, reached, n (the step's denominator:
        reached(s-1) - pending(s); for applied, reached), pending, drop_off, step_conversion,
        overall_conversion, drop_off_rate. Step conversion of 'applied' is NaN. With a self-ID
        attribute in `by`, reached and n are suppressed (strings '<k' / '*'), the rates they
        would reveal hidden, pending and drop_off blank; the frame gains `suppressed`.

    Examples
    --------
    >>> j = pd.DataFrame({"application_id": ["a", "b", "c", "d"],
    ...     "furthest_stage_index": [0, 1, 1, 8],
    ...     "outcome": ["rejected", "rejected", "in_progress", "hired"],
    ...     "track": "micro_internship", "as_of": pd.Timestamp("2025-03-01"),
    ...     "cohort_starts_on": pd.NaT, "cohort_ends_on": pd.NaT,
    ...     **{f"reached_{s}_at": pd.Timestamp("2025-02-25") for s in STAGES}})
    >>> f = funnel_table(j)
    >>> f.loc[f["stage"] == "submitted", ["reached", "pending", "step_conversion"]].to_dict("records")
    [{'reached': 1, 'pending': 1, 'step_conversion': 0.5}]
    """
    dims = _checked_dims(by)
    demographic = [d for d in dims if d not in DIMENSIONS]
    frame = with_demographics(journeys, demographics, demographic)
    matrix = stage_matrix(frame, windows=windows)
    return _funnel_from_matrices(
        frame[dims], matrix.reached, matrix.pending, dims=dims, demographic=demographic, k=k
    )


def _checked_dims(by: Sequence[str]) -> list[str]:
    dims = [_dimension(b) for b in by]
    if len(set(dims)) != len(dims):
        raise ValueError("each breakdown dimension may appear once")
    return dims


def _state_matrices(counts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """reached and pending (rows x stages) of a counts frame, weighted by its applications.

    A row of `furthest_stage_index` f reached every stage up to f; a pending row is pending at
    the step after f (the only step an application can be pending at).
    """
    furthest = counts["furthest_stage_index"].to_numpy(dtype=np.int64)
    weight = counts["applications"].to_numpy(dtype=np.int64)
    stage_index = np.arange(len(STAGES))
    reached = (furthest[:, None] >= stage_index[None, :]) * weight[:, None]
    pending_at = counts["pending"].to_numpy(dtype=bool)
    pending = (pending_at[:, None] & (furthest[:, None] + 1 == stage_index[None, :])) * weight[
        :, None
    ]
    return reached, pending


def funnel_table_from_counts(
    counts: pd.DataFrame, *, by: Sequence[str] = (), k: int = 5
) -> pd.DataFrame:
    """`funnel_table` from counts of applications instead of one row per application.

    `counts` has the `by` columns (dimensions, self-ID attribute values with 'Unknown' for
    missing), furthest_stage_index, pending (pending at the step after it) and applications (how
    many applications share these values): the output of `stage_counts`. Same result as
    `funnel_table` on the applications themselves; the aggregation happens in DuckDB.
    """
    dims = _checked_dims(by)
    demographic = [d for d in dims if d not in DIMENSIONS]
    reached, pending = _state_matrices(counts)
    return _funnel_from_matrices(
        counts[dims], reached, pending, dims=dims, demographic=demographic, k=k
    )


def _funnel_from_matrices(
    keys: pd.DataFrame,
    reached_rows: np.ndarray,
    pending_rows: np.ndarray,
    *,
    dims: list[str],
    demographic: list[str],
    k: int,
) -> pd.DataFrame:
    n_stages = len(STAGES)
    reached_cols = [f"_r{s}" for s in range(n_stages)]
    pending_cols = [f"_p{s}" for s in range(n_stages)]
    counts = pd.DataFrame(
        np.hstack([reached_rows, pending_rows]).astype(np.int64),
        columns=reached_cols + pending_cols,
        index=keys.index,
    )
    if dims:
        keys = keys[dims].astype("string").fillna(BLANK)
        grouped = pd.concat([keys, counts], axis=1).groupby(dims, sort=True).sum()
    else:
        grouped = counts.sum().to_frame().T
        grouped.index = pd.Index(["all"], name="_all")
    reached = grouped[reached_cols].to_numpy()
    pending = grouped[pending_cols].to_numpy()
    previous = np.hstack([reached[:, :1], reached[:, :-1]])
    denominator = previous - pending
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(
            denominator > 0, reached / np.where(denominator > 0, denominator, 1), np.nan
        )
        overall = np.where(
            reached[:, :1] > 0, reached / np.where(reached[:, :1] > 0, reached[:, :1], 1), np.nan
        )
    step[:, 0] = np.nan
    drop = denominator - reached
    drop[:, 0] = 0
    n_segments = len(grouped)
    out = pd.DataFrame(
        {
            "segment_type": " x ".join(dims) if dims else "all",
            "segment": np.repeat(
                [" | ".join(map(str, k if isinstance(k, tuple) else (k,))) for k in grouped.index]
                if dims
                else ["all"],
                n_stages,
            ),
            "stage": np.tile(STAGES, n_segments),
            "stage_index": np.tile(np.arange(n_stages), n_segments),
            "reached": reached.ravel(),
            "n": np.where(np.arange(n_stages)[None, :] == 0, reached, denominator).ravel(),
            "pending": pending.ravel(),
            "drop_off": drop.ravel(),
            "step_conversion": step.ravel(),
            "overall_conversion": overall.ravel(),
            "drop_off_rate": 1.0 - step.ravel(),
        }
    )
    for position, dim in enumerate(dims):
        values = grouped.index.get_level_values(position) if dims else []
        out.insert(2 + position, dim, np.repeat(np.asarray(values, dtype=object), n_stages))
    if demographic:
        out = _suppress(out, dims=dims, k=k)
    return out


def _suppress(frame: pd.DataFrame, *, dims: Sequence[str], k: int) -> pd.DataFrame:
    """Small-cell suppression for a breakdown that includes a self-ID attribute.

    Published per cell: reached and the step's denominator n (both suppressed under k), and the
    rates. pending and drop_off are left blank: pending is a status, nearly always 0-4 per
    demographic cell, and as a suppressed count it would hide almost every rate; drop_off would
    give a hidden reached back by subtraction (n - drop_off).
    """
    out = suppress_small_cells(
        frame.drop(columns=["pending", "drop_off"]),
        count_columns=["reached", "n"],
        k=k,
        rate_columns=["step_conversion", "overall_conversion", "drop_off_rate"],
        group_columns=["stage"],
        cross_columns=list(dims) if len(dims) > 1 else (),
        # n - reached is the step's drop-off, a count of people that two shown cells would print.
        nested=[("n", "reached")],
    )
    # overall_conversion = reached(s) / reached(applied): with reached(applied) hidden, a shown
    # reached(s) and its overall conversion would give it back.
    hidden_reached = out["reached"].map(lambda v: isinstance(v, str)).to_numpy()
    segment_start = out["stage_index"].to_numpy() == 0
    applied_hidden = (
        pd.Series(np.where(segment_start, hidden_reached, False))
        .groupby(out["segment"].to_numpy())
        .transform("max")
        .to_numpy(dtype=bool)
    )
    out.loc[applied_hidden, "overall_conversion"] = np.nan
    out.loc[applied_hidden, "suppressed"] = True
    out.insert(out.columns.get_loc("n") + 1, "pending", np.nan)
    out.insert(out.columns.get_loc("pending") + 1, "drop_off", np.nan)
    return out


# --- cohort trends and alerts ---------------------------------------------------------------------


def entry_cohorts(journeys: pd.DataFrame) -> pd.DataFrame:
    """Each application's entry cohort: its cohort (micro-internship) or application month.

    Returns application_id, entry_cohort, cohort_start (the cohort's first day, or the month's).
    """
    month = pd.to_datetime(journeys["applied_at"]).dt.to_period("M").dt.to_timestamp()
    has_cohort = journeys["cohort_id"].notna() & journeys["cohort_starts_on"].notna()
    entry = journeys["cohort_id"].where(
        has_cohort, journeys["track"].astype(str) + " " + month.dt.strftime("%Y-%m")
    )
    start = pd.to_datetime(journeys["cohort_starts_on"]).where(has_cohort, month)
    return pd.DataFrame(
        {
            "application_id": journeys["application_id"].to_numpy(),
            "entry_cohort": entry.to_numpy(),
            "cohort_start": start.to_numpy(),
        }
    )


TREND_COLUMNS = [
    "track",
    "cohort_id",
    "cohort_start",
    "stage",
    "stage_index",
    "reached_previous",
    "pending",
    "n",
    "reached",
    "rate",
    "previous_rate",
    "change",
    "complete",
    "baseline_cohorts",
    "expected_rate",
    "lower_limit",
    "upper_limit",
    "p_value",
    "p_adjusted",
    "flagged",
]


def cohort_trends(
    journeys: pd.DataFrame,
    *,
    windows: WindowOverrides | None = None,
    alpha: float = 0.05,
    correction: Literal["holm", "bonferroni", "fdr_bh"] = "holm",
    min_baseline_cohorts: int = 2,
) -> pd.DataFrame:
    """Step conversion per entry cohort, the change against the previous one, and alerts.

    A cohort's step conversion is compared with the pooled conversion of all earlier complete
    cohorts of the same track (the p-chart centre line): p_value is the one-sided exact test
    (Fisher's, i.e. the hypergeometric tail P(X <= reached) given both cohorts' totals, computed
    exactly by `signalboard.stats.hypergeometric.hypergeom_cdf`), adjusted
    for every test in the table with statsmodels' `multipletests` (`correction`). A cohort is
    flagged when it is complete (no application pending at this step or an earlier one) and the
    adjusted p-value is at most `alpha`. lower_limit/upper_limit are the normal-approximation
    limits of the same test at the per-test level alpha / m, for the chart.

    Parameters
    ----------
    journeys : DataFrame
        Rows of the `application_journeys` query.
    windows : mapping, optional
        Step conversion windows (see STEP_WINDOWS_DAYS).
    alpha : float
        Family-wise (or, with fdr_bh, false-discovery) error level of the alerts.
    correction : {"holm", "bonferroni", "fdr_bh"}
        Multiple-comparison control over all (cohort, step) tests.
    min_baseline_cohorts : int
        Earlier complete cohorts needed before a cohort is tested.

    Returns
    -------
    DataFrame
        One row per (track, entry cohort, step) with TREND_COLUMNS.

    Examples
    --------
    >>> rows = []
    >>> for i, (n, x) in enumerate([(100, 50), (100, 50), (100, 20)]):
    ...     for j in range(n):
    ...         rows.append({"application_id": f"{i}-{j}", "track": "micro_internship",
    ...             "cohort_id": f"c{i}", "cohort_starts_on": pd.Timestamp(2025, i + 1, 1),
    ...             "cohort_ends_on": pd.Timestamp(2025, i + 1, 20),
    ...             "applied_at": pd.Timestamp(2024, 12, 1), "as_of": pd.Timestamp(2026, 1, 1),
    ...             "furthest_stage_index": 1 if j < x else 0,
    ...             "outcome": "rejected", "reached_applied_at": pd.Timestamp(2024, 12, 1),
    ...             **{f"reached_{s}_at": pd.NaT for s in STAGES[1:]}})
    >>> t = cohort_trends(pd.DataFrame(rows))
    >>> t.loc[(t["cohort_id"] == "c2") & (t["stage"] == "selected"), "flagged"].item()
    True
    """
    if len(journeys) == 0:
        return pd.DataFrame(columns=TREND_COLUMNS)
    matrix = stage_matrix(journeys, windows=windows)
    cohorts = entry_cohorts(journeys)
    base = pd.DataFrame(
        {
            "track": journeys["track"].astype(str).to_numpy(),
            "cohort_id": cohorts["entry_cohort"].to_numpy(),
            "cohort_start": cohorts["cohort_start"].to_numpy(),
        }
    )
    return _trends_from_matrices(
        base,
        matrix.reached,
        matrix.pending,
        alpha=alpha,
        correction=correction,
        min_baseline_cohorts=min_baseline_cohorts,
    )


def cohort_trends_from_counts(
    counts: pd.DataFrame,
    *,
    alpha: float = 0.05,
    correction: Literal["holm", "bonferroni", "fdr_bh"] = "holm",
    min_baseline_cohorts: int = 2,
) -> pd.DataFrame:
    """`cohort_trends` from counts of applications per track, entry cohort and stage state.

    `counts` has track, entry_cohort, cohort_start, furthest_stage_index, pending and
    applications: `stage_counts(con, by=TREND_KEYS)`. Same result as `cohort_trends` on the
    applications themselves.
    """
    if len(counts) == 0 or counts["applications"].sum() == 0:
        return pd.DataFrame(columns=TREND_COLUMNS)
    base = pd.DataFrame(
        {
            "track": counts["track"].astype(str).to_numpy(),
            "cohort_id": counts["entry_cohort"].to_numpy(),
            "cohort_start": counts["cohort_start"].to_numpy(),
        }
    )
    reached, pending = _state_matrices(counts)
    return _trends_from_matrices(
        base,
        reached,
        pending,
        alpha=alpha,
        correction=correction,
        min_baseline_cohorts=min_baseline_cohorts,
    )


def _trends_from_matrices(
    base: pd.DataFrame,
    reached_rows: np.ndarray,
    pending_rows: np.ndarray,
    *,
    alpha: float,
    correction: Literal["holm", "bonferroni", "fdr_bh"],
    min_baseline_cohorts: int,
) -> pd.DataFrame:
    n_stages = len(STAGES)
    reached_cols = [f"_r{s}" for s in range(n_stages)]
    pending_cols = [f"_p{s}" for s in range(n_stages)]
    counts = pd.DataFrame(
        np.hstack([reached_rows, pending_rows]).astype(np.int64),
        columns=reached_cols + pending_cols,
    )
    grouped = (
        pd.concat([base, counts], axis=1)
        .groupby(["track", "cohort_id", "cohort_start"], sort=False)
        .sum()
        .reset_index()
        .sort_values(["track", "cohort_start", "cohort_id"], kind="stable")
        .reset_index(drop=True)
    )
    reached = grouped[reached_cols].to_numpy()
    pending = grouped[pending_cols].to_numpy()
    # Complete for step s: nobody pending at s or any earlier step (later arrivals would change it).
    open_any = np.cumsum(pending, axis=1) > 0
    long = pd.DataFrame(
        {
            "track": np.repeat(grouped["track"].to_numpy(), n_stages - 1),
            "cohort_id": np.repeat(grouped["cohort_id"].to_numpy(), n_stages - 1),
            "cohort_start": np.repeat(grouped["cohort_start"].to_numpy(), n_stages - 1),
            "stage": np.tile(STAGES[1:], len(grouped)),
            "stage_index": np.tile(np.arange(1, n_stages), len(grouped)),
            "reached_previous": reached[:, :-1].ravel(),
            "pending": pending[:, 1:].ravel(),
            "reached": reached[:, 1:].ravel(),
            "complete": ~open_any[:, 1:].ravel(),
        }
    )
    long["n"] = long["reached_previous"] - long["pending"]
    long["rate"] = np.where(
        long["n"] > 0, long["reached"] / long["n"].where(long["n"] > 0, 1), np.nan
    )
    key = ["track", "stage"]
    long = long.sort_values(key + ["cohort_start", "cohort_id"], kind="stable").reset_index(
        drop=True
    )
    has_rate = long["n"] > 0
    long["previous_rate"] = (
        long["rate"]
        .where(has_rate)
        .groupby([long["track"], long["stage"]])
        .transform(lambda s: s.ffill().shift(1))
    )
    long["change"] = long["rate"] - long["previous_rate"]
    # Baseline: every earlier complete cohort (strictly earlier start) of the track, pooled.
    used = long["complete"] & has_rate
    per_start = (
        long.assign(
            _x=np.where(used, long["reached"], 0),
            _n=np.where(used, long["n"], 0),
            _c=used.astype(int),
        )
        .groupby(key + ["cohort_start"], sort=True)[["_x", "_n", "_c"]]
        .sum()
    )
    cumulative = per_start.groupby(level=[0, 1]).cumsum() - per_start
    long = long.merge(
        cumulative.rename(columns={"_x": "_bx", "_n": "_bn", "_c": "baseline_cohorts"}),
        left_on=key + ["cohort_start"],
        right_index=True,
        how="left",
    )
    baseline_n = long["_bn"].to_numpy(dtype=float)
    baseline_x = long["_bx"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(baseline_n > 0, baseline_x / baseline_n, np.nan)
    long["expected_rate"] = expected
    # A baseline of 0% or 100% has no variation to fall below (a stage the track skips, such
    # as triage for traditional applications, converts 100% by construction): not tested.
    testable = (
        has_rate.to_numpy()
        & (long["baseline_cohorts"].to_numpy() >= min_baseline_cohorts)
        & (expected > 0)
        & (expected < 1)
    )
    x = long["reached"].to_numpy(dtype=float)
    n = long["n"].to_numpy(dtype=float)
    p_value = np.full(len(long), np.nan)
    p_value[testable] = hypergeom_cdf(
        x[testable],
        (baseline_n + n)[testable],
        (baseline_x + x)[testable],
        n[testable],
    )
    long["p_value"] = p_value
    family = testable & long["complete"].to_numpy()
    m = int(family.sum())
    p_adjusted = np.full(len(long), np.nan)
    if m:
        p_adjusted[family] = multipletests(p_value[family], alpha=alpha, method=correction)[1]
    long["p_adjusted"] = p_adjusted
    z = stats.norm.isf(alpha / max(m, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = np.sqrt(expected * (1 - expected) * (1 / n + 1 / baseline_n))
    long["lower_limit"] = np.where(testable, np.clip(expected - z * sigma, 0, 1), np.nan)
    long["upper_limit"] = np.where(testable, np.clip(expected + z * sigma, 0, 1), np.nan)
    long["flagged"] = family & (p_adjusted <= alpha) & (long["rate"].to_numpy() < expected)
    long["baseline_cohorts"] = long["baseline_cohorts"].fillna(0).astype(int)
    long = long.sort_values(["track", "cohort_start", "cohort_id", "stage_index"], kind="stable")
    return long[TREND_COLUMNS].reset_index(drop=True)


ALERT_COLUMNS = [
    "cohort_id",
    "stage",
    "rate",
    "expected_rate",
    "lower_limit",
    "p_value",
    "flagged",
    "track",
    "cohort_start",
    "n",
    "reached",
    "p_adjusted",
    "complete",
]


def funnel_alerts(trends: pd.DataFrame) -> pd.DataFrame:
    """funnel_alerts.csv: every tested (cohort, step) of `cohort_trends`, flagged ones first."""
    tested = trends.loc[trends["p_value"].notna(), ALERT_COLUMNS]
    return tested.sort_values(
        ["flagged", "p_value"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)


MONTHLY_COLUMNS = [
    "track",
    "month",
    "stage",
    "stage_index",
    "cohorts",
    "n",
    "reached",
    "rate",
    "ci_low",
    "ci_high",
    "complete",
    "flagged_cohorts",
]


def monthly_trends(trends: pd.DataFrame, *, confidence: float = 0.95) -> pd.DataFrame:
    """Step conversion per entry month: reached / n pooled over the entry cohorts that start in
    the month, with its Wilson score interval.

    A program that opens a cohort every few days has thousands of entry cohorts; a chart of one
    point per cohort and step is a solid block. Pooled by the month a cohort starts in, the rate
    is what a reader compares across time; the cohorts flagged by `cohort_trends` stay as marked
    points beside it (`flagged_cohorts` counts them). The interval is statsmodels'
    `proportion_confint(method="wilson")` (Wilson 1927), which stays inside [0, 1] for rates
    near 0 or 1 and small n.

    Parameters
    ----------
    trends : DataFrame
        `cohort_trends` output (TREND_COLUMNS).
    confidence : float
        Coverage of the interval.

    Returns
    -------
    DataFrame
        One row per (track, month, step) with MONTHLY_COLUMNS: `cohorts` with a rate that
        month, `complete` when every one of them is complete at the step.

    Examples
    --------
    >>> trends = pd.DataFrame({"track": "micro_internship", "cohort_id": ["a", "b", "c"],
    ...     "cohort_start": pd.to_datetime(["2025-01-03", "2025-01-20", "2025-02-02"]),
    ...     "stage": "selected", "stage_index": 1, "n": [40, 60, 50], "reached": [20, 30, 10],
    ...     "complete": True, "flagged": [False, False, True]})
    >>> monthly = monthly_trends(trends)
    >>> monthly["rate"].tolist(), monthly["cohorts"].tolist(), monthly["flagged_cohorts"].tolist()
    ([0.5, 0.2], [2, 1], [0, 1])
    """
    rows = trends.loc[pd.to_numeric(trends["n"], errors="coerce") > 0]
    if rows.empty:
        return pd.DataFrame(columns=MONTHLY_COLUMNS)
    month = pd.to_datetime(rows["cohort_start"]).dt.to_period("M").dt.to_timestamp()
    grouped = (
        rows.assign(
            month=month,
            n=rows["n"].astype(np.int64),
            reached=rows["reached"].astype(np.int64),
            complete=rows["complete"].astype(bool),
            flagged=rows["flagged"].astype(bool).astype(np.int64),
            cohorts=1,
        )
        .groupby(["track", "month", "stage", "stage_index"], sort=True)
        .agg(
            cohorts=("cohorts", "sum"),
            n=("n", "sum"),
            reached=("reached", "sum"),
            complete=("complete", "all"),
            flagged_cohorts=("flagged", "sum"),
        )
        .reset_index()
    )
    grouped["rate"] = grouped["reached"] / grouped["n"]
    low, high = proportion_confint(
        grouped["reached"].to_numpy(), grouped["n"].to_numpy(), alpha=1 - confidence,
        method="wilson",
    )  # fmt: skip
    # At 0% or 100% the Wilson bound equals the rate; rounding can leave it a hair inside.
    grouped["ci_low"] = np.minimum(np.asarray(low, dtype=float), grouped["rate"])
    grouped["ci_high"] = np.maximum(np.asarray(high, dtype=float), grouped["rate"])
    grouped = grouped.sort_values(["track", "stage_index", "month"], kind="stable")
    return grouped[MONTHLY_COLUMNS].reset_index(drop=True)


# --- drill-through --------------------------------------------------------------------------------

DrillStatus = Literal["reached", "pending", "dropped", "denominator"]
DRILL_COLUMNS = [
    "application_id",
    "candidate_id",
    "track",
    "cohort_id",
    "entry_cohort",
    "role",
    "source",
    "country",
    "region",
    "applied_at",
    "furthest_stage",
    "outcome",
    "outcome_at",
]


def drill_through(
    journeys: pd.DataFrame,
    *,
    stage: str,
    status: DrillStatus = "reached",
    segment: Mapping[str, str] | None = None,
    windows: WindowOverrides | None = None,
) -> pd.DataFrame:
    """The pseudonymized applications behind one number of the funnel or its trends.

    Parameters
    ----------
    stage : str
        The stage (for pending, dropped and denominator: the step that leads to it).
    status : {"reached", "pending", "dropped", "denominator"}
        reached: reached `stage`; pending: pending at the step; dropped: in the step's
        denominator without reaching `stage` (drop_off); denominator: reached the previous stage
        and not pending.
    segment : mapping, optional
        Values of breakdown dimensions (role, cohort, source, country, region, track, and
        entry_cohort from the trends), as shown in the table; '(blank)' matches a missing value.
        Self-ID attributes are refused: demographic breakdowns are aggregate only.

    Returns
    -------
    DataFrame
        One row per application, DRILL_COLUMNS; ids are the warehouse's keyed pseudonyms.

    Examples
    --------
    >>> j = pd.DataFrame({"application_id": ["a", "b"], "candidate_id": ["x", "y"],
    ...     "track": "traditional", "cohort_id": None, "role": ["r1", "r2"], "source": None,
    ...     "country": "US", "region": None, "applied_at": pd.Timestamp("2025-01-01"),
    ...     "cohort_starts_on": pd.NaT, "cohort_ends_on": pd.NaT, "furthest_stage_index": [1, 0],
    ...     "outcome": "rejected", "outcome_at": pd.Timestamp("2025-01-05"),
    ...     "as_of": pd.Timestamp("2025-03-01"),
    ...     **{f"reached_{s}_at": pd.Timestamp("2025-01-02") for s in STAGES}})
    >>> drill_through(j, stage="selected", status="dropped")["application_id"].tolist()
    ['b']
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r} (one of {', '.join(STAGES)})")
    s = STAGES.index(stage)
    frame = journeys.reset_index(drop=True)
    cohorts = entry_cohorts(frame)
    frame = frame.assign(
        entry_cohort=cohorts["entry_cohort"].to_numpy(),
        furthest_stage=np.asarray(STAGES, dtype=object)[
            frame["furthest_stage_index"].to_numpy(dtype=int)
        ]
        if len(frame)
        else pd.Series(dtype=object),
    )
    matrix = stage_matrix(frame, windows=windows)
    reached = matrix.reached[:, s]
    previous = matrix.reached[:, s - 1] if s > 0 else matrix.reached[:, 0]
    pending = matrix.pending[:, s]
    selectors = {
        "reached": reached,
        "pending": pending,
        "denominator": previous & ~pending,
        "dropped": previous & ~pending & ~reached if s > 0 else np.zeros(len(frame), bool),
    }
    if status not in selectors:
        raise ValueError(f"unknown status {status!r} (one of {', '.join(selectors)})")
    mask = selectors[status].copy()
    for name, value in (segment or {}).items():
        column = "entry_cohort" if name == "entry_cohort" else _dimension(name)
        if column not in DIMENSIONS and column != "entry_cohort":
            raise ValueError(
                f"drill-through by {name!r} is not offered: demographic breakdowns are aggregate "
                f"only (dimensions: {', '.join(DIMENSIONS + ('entry_cohort',))})"
            )
        mask &= (frame[column].astype("string").fillna(BLANK) == str(value)).to_numpy()
    return frame.loc[mask, DRILL_COLUMNS].reset_index(drop=True)


# --- queries and report ---------------------------------------------------------------------------


STATES_QUERY = "funnel_application_states"
"""The per-application input of the SQL path: dimensions, entry cohort, furthest stage, pending."""
TREND_KEYS: tuple[str, ...] = ("track", "entry_cohort", "cohort_start")
"""The grouping `cohort_trends_from_counts` needs."""
FILTER_PARAMS: tuple[str, ...] = ("start_date", "end_date", "roles", "cohorts")
REPORT_STATE_COLUMNS: tuple[str, ...] = (
    "candidate_id",
    *DIMENSIONS,
    *TREND_KEYS[1:],
    "furthest_stage_index",
    "pending",
    "in_progress",
)


def window_params(windows: WindowOverrides | None = None) -> dict[str, float | None]:
    """The conversion windows as the `funnel_application_states` query's parameters.

    A cohort-length window is null there.

    Examples
    --------
    >>> window_params({"selected": 10})["traditional_selected_days"]
    10.0
    """
    params: dict[str, float | None] = {}
    for track, prefix in (("micro_internship", "micro"), ("traditional", "traditional")):
        for stage, days in step_windows(windows)[track].items():
            params[f"{prefix}_{stage}_days"] = None if days == COHORT_LENGTH else float(days)
    return params


def _states_sql(
    params: Mapping | None, windows: WindowOverrides | None, queries_dir: Path | None
) -> tuple[str, dict]:
    query = load_query(STATES_QUERY, queries_dir=queries_dir)
    given = {key: value for key, value in (params or {}).items() if key in FILTER_PARAMS}
    return query.sql, query.bind(given | window_params(windows))


def stage_counts(
    con: duckdb.DuckDBPyConnection,
    *,
    by: Sequence[str] = (),
    params: Mapping | None = None,
    windows: WindowOverrides | None = None,
    queries_dir: Path | None = None,
) -> pd.DataFrame:
    """Applications per (`by` values, furthest stage, pending, in progress), counted in DuckDB.

    `by` takes the breakdown dimensions, self-ID attributes (joined from demographic_attributes,
    'Unknown' where a candidate has no value) and the trend keys (entry_cohort, cohort_start).
    The result feeds `funnel_table_from_counts` and `cohort_trends_from_counts`: a few rows per
    segment instead of a row per application.
    """
    dims = _checked_dims(by)
    sql, bound = _states_sql(params, windows, queries_dir)
    select, joins = [], []
    for position, dim in enumerate(dims):
        if dim in DIMENSIONS or dim in TREND_KEYS:
            select.append(f"states.{quote_identifier(dim)} as _k{position}")
        else:
            # A self-ID attribute is a bound value, never SQL text.
            alias = f"_a{position}"
            joins.append(
                f"left join demographic_attributes as {alias} "
                f"on {alias}.candidate_id = states.candidate_id "
                f"and {alias}.attribute = $_attribute{position}"
            )
            bound[f"_attribute{position}"] = dim
            select.append(f"coalesce({alias}.value, 'Unknown') as _k{position}")
    keys = "".join(f"{column}, " for column in select)
    counted = query_df(
        con,
        f"with states as ({sql}) "
        f"select {keys}states.furthest_stage_index, states.pending, states.in_progress, "
        f"count(*) as applications from states {' '.join(joins)} group by all",
        bound,
    )
    counted.columns = dims + ["furthest_stage_index", "pending", "in_progress", "applications"]
    return counted


def report_counts(
    con: duckdb.DuckDBPyConnection,
    *,
    params: Mapping | None = None,
    windows: WindowOverrides | None = None,
    queries_dir: Path | None = None,
) -> dict[str, pd.DataFrame]:
    """Every `stage_counts` the report needs, from one pass over the applications.

    Keys: "all", each of DIMENSIONS, each self-ID attribute in the warehouse, and "trends"
    (TREND_KEYS). The per-application states are computed once (a materialized CTE) and grouped
    by each breakdown in the same statement.
    """
    sql, bound = _states_sql(params, windows, queries_dir)
    state = "furthest_stage_index, pending, in_progress"
    # Two levels: the applications are grouped twice (by where they come from, by their entry
    # cohort), a few thousand rows each, and every breakdown is summed from those groups instead
    # of hashing the million states once per breakdown.
    levels = {
        "places": (
            [d for d in DIMENSIONS if d != "cohort_id"],
            {"all": [], **{d: [d] for d in DIMENSIONS if d != "cohort_id"}},
        ),
        "cohorts": (
            ["cohort_id", *TREND_KEYS],
            {"cohort_id": ["cohort_id"], "trend": ["track", *TREND_KEYS[1:]]},
        ),
    }
    selects = []
    for level, (keys, sets) in levels.items():

        def mask(grouped: list[str], keys: list[str] = keys) -> int:
            # grouping(): one bit per key, most significant first, set where it is rolled up.
            return sum(1 << (len(keys) - 1 - i) for i, key in enumerate(keys) if key not in grouped)

        dims = [name for name in sets if name in DIMENSIONS]
        kind = " ".join(
            f"when {mask(cols)} then '{'dimension' if name in DIMENSIONS else name}'"
            for name, cols in sets.items()
        )
        name = " ".join(f"when {mask([d])} then '{d}'" for d in dims)
        value = " ".join(f"when {mask([d])} then {quote_identifier(d)}::varchar" for d in dims)
        if "trend" in sets:
            trend = mask(sets["trend"])
            name += f" when {trend} then track"
            value += f" when {trend} then entry_cohort"
            start = f"case g when {trend} then cohort_start end"
        else:
            start = "null::timestamp"
        grouping_sets = ", ".join(f"({', '.join([*cols, state])})" for cols in sets.values())
        selects.append(
            f"select case g {kind} end as kind, case g {name} end as name, "
            f"case g {value} end as value, {start} as start, {state}, applications "
            f"from (select {', '.join(keys)}, {state}, "
            f"sum(applications)::bigint as applications, grouping({', '.join(keys)}) as g "
            f"from {level} group by grouping sets ({grouping_sets}))"
        )
    pre_aggregates = ", ".join(
        f"{level} as (select {', '.join(keys)}, {state}, count(*) as applications "
        "from states group by all)"
        for level, (keys, _) in levels.items()
    )
    # Recorded values only (one join on candidate_id); the 'Unknown' rest is filled in below
    # by subtraction from the totals, which is cheaper than a cross join of every attribute.
    by_attribute = (
        f"select 'attribute', attribute_values.attribute, attribute_values.value, null, "
        f"{state}, count(*) as applications from states "
        "inner join demographic_attributes as attribute_values "
        "on attribute_values.candidate_id = states.candidate_id group by all"
    )
    counted = query_df(
        con,
        # Only the columns the groupings use are materialized (the rest are never computed).
        f"with states as materialized (select {', '.join(REPORT_STATE_COLUMNS)} from ({sql})), "
        f"{pre_aggregates} {' union all '.join(selects)} union all {by_attribute}",
        bound,
    )
    counted.columns = ["kind", "name", "value", "cohort_start"] + list(counted.columns[4:])
    out: dict[str, pd.DataFrame] = {}
    state_columns = ["furthest_stage_index", "pending", "in_progress", "applications"]
    # Row positions of each (kind, name) part, found in one pass instead of comparing the text
    # columns once per part.
    parts = counted.groupby(["kind", "name"], sort=False, dropna=False).indices
    empty = np.array([], dtype=np.int64)

    def rows_of(wanted: str) -> np.ndarray:
        return np.sort(np.concatenate([empty, *(p for (k, _), p in parts.items() if k == wanted)]))

    out["all"] = counted.iloc[rows_of("all")][state_columns].reset_index(drop=True)
    for (kind, name), positions in parts.items():
        if kind not in ("dimension", "attribute"):
            continue
        rows = counted.iloc[positions][["value"] + state_columns].rename(columns={"value": name})
        if kind == "attribute":
            rows = _with_unknown(rows, out["all"], name)
        out[name] = rows.reset_index(drop=True)
    for dim in DIMENSIONS:
        out.setdefault(dim, pd.DataFrame(columns=[dim] + state_columns))
    trends = counted.iloc[rows_of("trend")]
    out["trends"] = pd.DataFrame(
        {
            "track": trends["name"].to_numpy(),
            "entry_cohort": trends["value"].to_numpy(),
            "cohort_start": trends["cohort_start"].to_numpy(),
            **{c: trends[c].to_numpy() for c in state_columns},
        }
    )
    return out


def _with_unknown(known: pd.DataFrame, total: pd.DataFrame, attribute: str) -> pd.DataFrame:
    """Counts of one self-ID attribute with the applications without a value added as 'Unknown'.

    `known` counts the recorded values; `total` (the "all" counts) minus their sum per stage
    state is the applications whose candidate has no value, which the funnel_demographic_attributes
    query calls 'Unknown' (as does a recorded 'Unknown').
    """
    state = ["furthest_stage_index", "pending", "in_progress"]
    recorded = known.groupby(state)["applications"].sum()
    everyone = total.set_index(state)["applications"]
    missing = everyone.sub(recorded, fill_value=0).astype(np.int64).reset_index()
    missing.insert(0, attribute, "Unknown")
    both = pd.concat([known, missing[known.columns]], ignore_index=True)
    both = both.groupby([attribute, *state], as_index=False, sort=False)["applications"].sum()
    return both.loc[both["applications"] > 0].reset_index(drop=True)


def drill_through_rows(
    con: duckdb.DuckDBPyConnection,
    *,
    stage: str,
    status: DrillStatus = "reached",
    segment: Mapping[str, str] | None = None,
    params: Mapping | None = None,
    windows: WindowOverrides | None = None,
    limit: int | None = 1000,
    queries_dir: Path | None = None,
) -> tuple[pd.DataFrame, int]:
    """`drill_through` in DuckDB: the first `limit` applications (by id) and how many there are.

    Same selection and columns as `drill_through` on the journeys, with the values bound as
    parameters; the page shows the first rows instead of fetching a million.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r} (one of {', '.join(STAGES)})")
    s = STAGES.index(stage)
    previous = max(s - 1, 0)
    pending = f"(pending and furthest_stage_index = {s - 1})"
    selectors = {
        "reached": f"furthest_stage_index >= {s}",
        "pending": pending,
        "denominator": f"furthest_stage_index >= {previous} and not {pending}",
        "dropped": f"furthest_stage_index = {s - 1} and not {pending}" if s > 0 else "false",
    }
    if status not in selectors:
        raise ValueError(f"unknown status {status!r} (one of {', '.join(selectors)})")
    sql, bound = _states_sql(params, windows, queries_dir)
    conditions = [selectors[status]]
    for position, (name, value) in enumerate((segment or {}).items()):
        column = "entry_cohort" if name == "entry_cohort" else _dimension(name)
        if column not in DIMENSIONS and column != "entry_cohort":
            raise ValueError(
                f"drill-through by {name!r} is not offered: demographic breakdowns are aggregate "
                f"only (dimensions: {', '.join(DIMENSIONS + ('entry_cohort',))})"
            )
        conditions.append(
            f"coalesce({quote_identifier(column)}::varchar, $_blank) = $_value{position}"
        )
        bound[f"_value{position}"] = str(value)
        bound["_blank"] = BLANK
    limit_sql = ""
    if limit is not None:
        limit_sql = "limit $_limit"
        bound["_limit"] = int(limit)
    columns = ", ".join(quote_identifier(c) for c in DRILL_COLUMNS)
    rows = query_df(
        con,
        f"with states as ({sql}) select {columns}, count(*) over () as _total from states "
        f"where {' and '.join(conditions)} order by application_id {limit_sql}",
        bound,
    )
    total = int(rows["_total"].iloc[0]) if len(rows) else 0
    return rows[DRILL_COLUMNS], total


def funnel_table_sql(
    con: duckdb.DuckDBPyConnection,
    *,
    by: Sequence[str] = (),
    params: Mapping | None = None,
    windows: WindowOverrides | None = None,
    k: int = 5,
    queries_dir: Path | None = None,
) -> pd.DataFrame:
    """`funnel_table` of the warehouse's applications (filtered by `params`), counted in DuckDB."""
    counts = stage_counts(con, by=by, params=params, windows=windows, queries_dir=queries_dir)
    return funnel_table_from_counts(counts, by=by, k=k)


def cohort_trends_sql(
    con: duckdb.DuckDBPyConnection,
    *,
    params: Mapping | None = None,
    windows: WindowOverrides | None = None,
    queries_dir: Path | None = None,
) -> pd.DataFrame:
    """`cohort_trends` of the warehouse's applications (filtered by `params`), counted in DuckDB."""
    counts = stage_counts(
        con, by=TREND_KEYS, params=params, windows=windows, queries_dir=queries_dir
    )
    return cohort_trends_from_counts(counts)


@dataclass(frozen=True)
class FunnelOverview:
    """What the Funnel page shows before any breakdown, from one pass over the applications.

    counts: `stage_counts` without a breakdown; summary: `funnel_summary` of the counts; table:
    `funnel_table_sql` without a breakdown; trends: `cohort_trends_sql`; alerts: `funnel_alerts`
    of the trends; monthly: `monthly_trends` of the trends (what the trend chart draws).
    """

    counts: pd.DataFrame
    summary: dict[str, int]
    table: pd.DataFrame
    trends: pd.DataFrame
    alerts: pd.DataFrame
    monthly: pd.DataFrame


def funnel_overview(
    con: duckdb.DuckDBPyConnection,
    *,
    params: Mapping | None = None,
    windows: WindowOverrides | None = None,
    k: int = 5,
    queries_dir: Path | None = None,
) -> FunnelOverview:
    """The counts, the funnel table and the cohort trends from one `stage_counts` by TREND_KEYS.

    Every application has one track and entry cohort, so the counts per (track, entry cohort,
    state) summed over track and cohort are the counts without a breakdown: the same numbers as
    three separate passes (`stage_counts`, `funnel_table_sql`, `cohort_trends_sql`), each of
    which evaluates the per-application states again.
    """
    by_cohort = stage_counts(
        con, by=TREND_KEYS, params=params, windows=windows, queries_dir=queries_dir
    )
    state = ["furthest_stage_index", "pending", "in_progress"]
    overall = (
        by_cohort.groupby(state, sort=True)["applications"].sum().reset_index()
        if len(by_cohort)
        else pd.DataFrame(columns=[*state, "applications"])
    )
    trends = cohort_trends_from_counts(by_cohort)
    return FunnelOverview(
        counts=overall,
        summary=funnel_summary(overall),
        table=funnel_table_from_counts(overall, k=k),
        trends=trends,
        alerts=funnel_alerts(trends),
        monthly=monthly_trends(trends),
    )


def funnel_summary(counts: pd.DataFrame) -> dict[str, int]:
    """Applications, hired and in progress (no outcome yet) of a `stage_counts` frame."""
    weight = counts["applications"].to_numpy(dtype=np.int64)
    return {
        "applications": int(weight.sum()),
        "hired": int(weight[counts["furthest_stage_index"].to_numpy() == len(STAGES) - 1].sum()),
        "in_progress": int(weight[counts["in_progress"].to_numpy(dtype=bool)].sum()),
    }


def demographic_attribute_names_in(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The self-ID attributes in the warehouse (what `demographic_attribute_names` lists)."""
    frame = query_df(con, "select distinct attribute from demographic_attributes")
    return sorted(frame["attribute"].dropna().tolist())


def load_journeys(con: duckdb.DuckDBPyConnection, params: Mapping | None = None) -> pd.DataFrame:
    """The application_journeys query with the global filter parameters."""
    return run_query(con, "application_journeys", params)


def load_demographics(
    con: duckdb.DuckDBPyConnection, params: Mapping | None = None
) -> pd.DataFrame:
    """The funnel_demographic_attributes query (application_id, attribute, value)."""
    return run_query(con, "funnel_demographic_attributes", params)


def demographic_attribute_names(demographics: pd.DataFrame) -> list[str]:
    return sorted(demographics["attribute"].dropna().unique().tolist()) if len(demographics) else []


def report_funnel(
    journeys: pd.DataFrame, demographics: pd.DataFrame, *, k: int = 5
) -> pd.DataFrame:
    """funnel.csv: the whole funnel, then one breakdown per dimension and self-ID attribute."""
    frames = [funnel_table(journeys)]
    for dim in DIMENSIONS:
        frames.append(funnel_table(journeys, by=[dim]).rename(columns={dim: "_value"}))
    for attribute in demographic_attribute_names(demographics):
        frames.append(
            funnel_table(journeys, by=[attribute], demographics=demographics, k=k).rename(
                columns={attribute: "_value"}
            )
        )
    return _report_frame(frames)


def report_funnel_from_counts(counts: Mapping[str, pd.DataFrame], *, k: int = 5) -> pd.DataFrame:
    """funnel.csv from `report_counts`: the same table as `report_funnel`, counted in DuckDB."""
    frames = [funnel_table_from_counts(counts["all"])]
    for dim in DIMENSIONS:
        frames.append(
            funnel_table_from_counts(counts[dim], by=[dim]).rename(columns={dim: "_value"})
        )
    attributes = sorted(name for name in counts if name not in (*DIMENSIONS, "all", "trends"))
    for attribute in attributes:
        frames.append(
            funnel_table_from_counts(counts[attribute], by=[attribute], k=k).rename(
                columns={attribute: "_value"}
            )
        )
    return _report_frame(frames)


def _report_frame(frames: list[pd.DataFrame]) -> pd.DataFrame:
    out = pd.concat(frames, ignore_index=True).drop(columns=["_value"], errors="ignore")
    if "suppressed" in out:
        out["suppressed"] = out["suppressed"].eq(True)
    for column in ("pending", "drop_off"):
        # Blank in demographic rows; whole numbers everywhere else.
        out[column] = out[column].astype("Int64")
    columns = FUNNEL_COLUMNS + (["suppressed"] if "suppressed" in out else [])
    return out[columns]


def report_tables(con: duckdb.DuckDBPyConnection, *, settings: Settings) -> list[ReportTable]:
    """funnel.csv, funnel_trend_by_month.csv and funnel_alerts.csv for `signalboard report`."""
    # Counted in DuckDB (a few rows per segment), not a million journeys fetched into pandas.
    counts = report_counts(con, queries_dir=settings.queries_dir)
    # The cohort tests (mostly numpy: the hypergeometric tails release the GIL) run in a worker
    # while this thread builds the funnel table (mostly pandas), so both cores work.
    with ThreadPoolExecutor(max_workers=1) as pool:
        trends_job = pool.submit(cohort_trends_from_counts, counts["trends"])
        funnel = report_funnel_from_counts(counts, k=settings.min_cell_size)
        trends = trends_job.result()
    alerts = funnel_alerts(trends)
    flagged = int(alerts["flagged"].sum()) if len(alerts) else 0
    return [
        ReportTable(
            name="funnel",
            title="Funnel by stage",
            frame=funnel,
            description="Reached, pending (in progress inside the step's window, left out of the "
            "step's denominator), step and overall conversion, for all applications and by each "
            "breakdown. An application that reached a later stage counts as having passed the "
            "earlier ones.",
            notes=(DEMOGRAPHIC_NOTE,),
        ),
        ReportTable(
            name="funnel_trend_by_month",
            title="Step conversion by entry month",
            frame=monthly_trends(trends),
            description="Entry cohorts pooled by the month they start in: reached / n over the "
            "month's cohorts with its 95% Wilson interval, how many cohorts, and how many of them "
            "are flagged in funnel_alerts.",
        ),
        ReportTable(
            name="funnel_alerts",
            title="Cohort conversion alerts",
            frame=alerts,
            description=f"Each entry cohort's step conversion against the pooled earlier "
            f"complete cohorts of its track: one-sided exact test, Holm-adjusted over all tests; "
            f"{flagged} flagged.",
        ),
    ]
