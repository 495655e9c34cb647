"""Time to hire: three clocks, the classic median among hires, and the censoring-aware view.

ATS reports give the median days to hire among the people who were hired. That number ignores
everyone still in the pipeline (right-censored at the warehouse's as-of) and everyone rejected or
withdrawn (competing outcomes), so it says nothing about P(hired by day t). Here the Aalen-Johansen
estimator gives that cumulative incidence with 95% confidence intervals (Collett 2015, p. 411;
the same variance as lifelines' AalenJohansenFitter), stage durations use Kaplan-Meier
(scipy.stats.ecdf on CensoredData), and tracks and roles are compared with the log-rank test
(scipy.stats.logrank) and a seeded bootstrap CI of the ratio of medians.

Durations are whole calendar days between two dates (applied on Jan 1, hired on Jan 31: 30
days), as ATS reports count them. Every estimator here needs only how many applications ended
(and how) or were censored on each day, so the tables are computed from those counts: the
`time_to_hire_day_counts` query counts them in DuckDB (a few thousand rows at a million
applications), and `day_counts` counts `application_journeys` rows the same way. The public
functions take either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb
import numpy as np
import pandas as pd
from scipy import stats

from etl.contract import STAGES
from signalboard.analysis.tables import ReportTable, SectionReport
from signalboard.queries import run_query
from signalboard.settings import Settings
from signalboard.stats.resampling import sampled_medians as _sampled_medians

Clock = Literal["applied_to_hired", "cohort_start_to_hired", "applied_to_selected"]
CLOCKS: tuple[Clock, ...] = ("applied_to_hired", "cohort_start_to_hired", "applied_to_selected")
CLOCK_LABELS: dict[str, str] = {
    "applied_to_hired": "Applied to hired",
    "cohort_start_to_hired": "Cohort start to hired",
    "applied_to_selected": "Applied to selected",
}

CENSORED, EVENT, COMPETING = 0, 1, 2
"""Event codes: censored at as-of, the event of interest (hired / selected), rejected or withdrew."""

STILL_IN_STAGE, LEFT_STAGE = 0, 1
"""Stage outcome codes: still in the stage at the as-of (censored), left it (next stage or end)."""

QUANTILES: tuple[float, ...] = (0.25, 0.5, 0.75, 0.9)
HORIZONS_DAYS: tuple[int, ...] = (30, 60, 90)
CLAIMED_RATIO = 0.6
"""The seed claim: micro-internship pipelines cut time to hire by about 40% (ratio 0.6)."""

DAY_COUNTS_QUERY = "time_to_hire_day_counts"
DAY_COUNT_COLUMNS: tuple[str, ...] = (
    "kind",
    "measure",
    "track",
    "role",
    "days",
    "outcome",
    "applications",
)
"""The `time_to_hire_day_counts` query's columns: kind 'clock' (measure = a clock; outcome
CENSORED / EVENT / COMPETING) or 'stage' (measure = a stage; outcome STILL_IN_STAGE / LEFT_STAGE),
the track and role, whole calendar days, and how many applications."""


# --- durations ---------------------------------------------------------------------------------


def effective_reached_at(journeys: pd.DataFrame, stage: str) -> pd.Series:
    """When each application reached `stage`, counting a later stage as having passed it.

    The earliest timestamp among `stage` and every later stage (an application hired without a
    recorded 'selected' event was selected no later than it was hired).
    """
    return pd.Series(_effective_reached(journeys)[stage], index=journeys.index)


def _datetimes(column: pd.Series) -> np.ndarray:
    # Already datetime64 (the warehouse's rows): use as is; pd.to_datetime on a datetime64[us]
    # column walks it element by element (seconds at a million rows).
    if column.dtype.kind == "M":
        return column.to_numpy()
    return pd.to_datetime(column).to_numpy()


def _effective_reached(journeys: pd.DataFrame) -> dict[str, np.ndarray]:
    """`effective_reached_at` of every stage at once: a running minimum from hired backwards."""
    out: dict[str, np.ndarray] = {}
    running = None
    for stage in reversed(STAGES):
        reached = _datetimes(journeys[f"reached_{stage}_at"])
        # fmin skips NaT as min(skipna=True) does.
        running = reached if running is None else np.fmin(reached, running)
        out[stage] = running
    return out


def _calendar_days(end: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Whole calendar days from the date of `start` to the date of `end`; NaN where either is
    missing (the query's date_diff('day', start::date, end::date))."""
    return (end.astype("datetime64[D]") - start.astype("datetime64[D]")) / np.timedelta64(1, "D")


@dataclass(frozen=True)
class _Clock:
    """One clock's rows: which applications are on it (`rows`), their days and event codes."""

    rows: np.ndarray
    days: np.ndarray
    event: np.ndarray


def _clock(
    journeys: pd.DataFrame,
    clock: Clock,
    effective: dict[str, np.ndarray] | None = None,
    terminal_outcome: np.ndarray | None = None,
) -> _Clock:
    if clock not in CLOCKS:
        raise ValueError(f"unknown clock {clock!r} (one of {', '.join(CLOCKS)})")
    n = len(journeys)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _Clock(empty, np.zeros(0), empty)
    effective = effective if effective is not None else _effective_reached(journeys)
    target = "selected" if clock == "applied_to_selected" else "hired"
    end_event = effective[target]
    rows = np.arange(n)
    if clock == "cohort_start_to_hired":
        starts = _datetimes(journeys["cohort_starts_on"])
        in_cohort = (
            (journeys["track"] == "micro_internship").to_numpy()
            & ~np.isnat(starts)
            & ~np.isnat(effective["selected"])
        )
        rows = rows[in_cohort]
        start = starts[in_cohort]
    else:
        start = _datetimes(journeys["applied_at"])
    end_event = end_event[rows]
    has_event = ~np.isnat(end_event)
    if terminal_outcome is None:
        terminal_outcome = _terminal_outcome(journeys)
    terminal = terminal_outcome[rows] & ~has_event
    outcome_at = _datetimes(journeys["outcome_at"])[rows]
    end = np.where(has_event, end_event, np.where(terminal, outcome_at, np.datetime64("NaT")))
    end = np.where(np.isnat(end), _datetimes(journeys["as_of"])[rows], end)
    event = np.select([has_event, terminal], [EVENT, COMPETING], default=CENSORED).astype(int)
    days = _calendar_days(end, start)
    keep = np.ones(len(rows), dtype=bool)
    if clock == "cohort_start_to_hired":
        # An in-progress application whose cohort has not started is not yet at risk on this clock.
        keep = ~((event == CENSORED) & (days < 0))
        days = np.where(days < 0, 0.0, days)  # clip(lower=0), NaN kept
    keep &= ~np.isnan(days)
    return _Clock(rows[keep], days[keep], event[keep])


def _terminal_outcome(journeys: pd.DataFrame) -> np.ndarray:
    return journeys["outcome"].isin(["rejected", "withdrew"]).to_numpy()


def clock_durations(journeys: pd.DataFrame, clock: Clock) -> pd.DataFrame:
    """One row per application on `clock`: calendar days from the clock's start to its end, and
    the event.

    Parameters
    ----------
    journeys : DataFrame
        Rows of the `application_journeys` query.
    clock : {"applied_to_hired", "cohort_start_to_hired", "applied_to_selected"}
        applied_to_hired: applied_at to hired. cohort_start_to_hired: the cohort's first day to
        hired, for micro-internship applications that were selected into a cohort (a
        traditional application has no cohort; an outcome before the start counts as day 0).
        applied_to_selected: applied_at to selected.

    Returns
    -------
    DataFrame
        application_id, track, role, cohort_id, days (whole calendar days between the two
        dates, as a float), event (1 = the clock's end event, 2 = rejected or withdrew first,
        0 = still in progress: censored at the as-of).

    Examples
    --------
    >>> j = pd.DataFrame({"application_id": ["a"], "track": ["traditional"], "role": ["r"],
    ...     "cohort_id": [None], "applied_at": [pd.Timestamp("2025-01-01 17:00")],
    ...     "cohort_starts_on": [pd.NaT], "outcome": ["hired"],
    ...     "outcome_at": [pd.Timestamp("2025-01-31 09:00")],
    ...     "as_of": [pd.Timestamp("2025-06-01")],
    ...     **{f"reached_{s}_at": [pd.NaT] for s in STAGES}})
    >>> j["reached_hired_at"] = j["outcome_at"]
    >>> clock_durations(j, "applied_to_hired")[["days", "event"]].to_numpy().tolist()
    [[30.0, 1.0]]
    """
    on_clock = _clock(journeys, clock)
    columns = [c for c in ("application_id", "track", "role", "cohort_id") if c in journeys]
    out = {c: journeys[c].to_numpy()[on_clock.rows] for c in columns}
    return pd.DataFrame(out | {"days": on_clock.days, "event": on_clock.event})


def _stage_spans(
    journeys: pd.DataFrame, effective: dict[str, np.ndarray], stage_index: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, days, left) of the applications that entered STAGES[stage_index].

    Time in a stage runs from reaching it to reaching the next stage, or to the rejection or
    withdrawal that ended the application there; still in it at the as-of: censored.
    """
    entered = effective[STAGES[stage_index]]
    next_reached = effective[STAGES[stage_index + 1]]
    has_next = ~np.isnat(next_reached)
    ended_terminal = ~has_next & _terminal_outcome(journeys)
    end = np.where(
        has_next,
        next_reached,
        np.where(ended_terminal, _datetimes(journeys["outcome_at"]), np.datetime64("NaT")),
    )
    left = ~np.isnat(end)
    end = np.where(left, end, _datetimes(journeys["as_of"]))
    days = _calendar_days(end, entered)  # NaN where the stage was never entered
    rows = np.flatnonzero(~np.isnan(days))
    return rows, np.clip(days[rows], 0.0, None), left[rows]


def day_counts(journeys: pd.DataFrame, *, by: Sequence[str] = ("track", "role")) -> pd.DataFrame:
    """How many applications ended each clock or left each stage after how many calendar days.

    The rows of the `time_to_hire_day_counts` query, counted from `application_journeys` rows
    in pandas (the query counts the warehouse's in DuckDB; tests check they agree).

    Parameters
    ----------
    journeys : DataFrame
        Rows of the `application_journeys` query.
    by : sequence of str
        Columns of `journeys` to count by (the query's: track and role).

    Returns
    -------
    DataFrame
        kind ('clock' or 'stage'), measure (the clock or the stage), the `by` columns, days
        (int), outcome (clocks: 1 = the clock's event, 2 = rejected or withdrew first,
        0 = censored; stages: 1 = left the stage, 0 = still in it), applications.

    Examples
    --------
    >>> j = pd.DataFrame({"application_id": ["a"], "track": ["traditional"], "role": ["r"],
    ...     "cohort_id": [None], "applied_at": [pd.Timestamp("2025-01-01")],
    ...     "cohort_starts_on": [pd.NaT], "outcome": ["hired"],
    ...     "outcome_at": [pd.Timestamp("2025-01-31")], "as_of": [pd.Timestamp("2025-06-01")],
    ...     **{f"reached_{s}_at": [pd.NaT] for s in STAGES}})
    >>> j["reached_applied_at"] = j["applied_at"]
    >>> j["reached_hired_at"] = pd.Timestamp("2025-01-31")
    >>> counts = day_counts(j)
    >>> counts.loc[counts["kind"] == "clock", ["measure", "days", "outcome"]].values.tolist()
    [['applied_to_hired', 30, 1], ['applied_to_selected', 30, 1]]
    """
    by = list(by)
    parts = []
    if len(journeys):
        effective = _effective_reached(journeys)
        terminal = _terminal_outcome(journeys)
        spans = [
            ("clock", clock, _clock(journeys, clock, effective, terminal)) for clock in CLOCKS
        ] + [
            ("stage", stage, _Clock(*_stage_spans(journeys, effective, index)))
            for index, stage in enumerate(STAGES[:-1])
        ]
        for kind, measure, span in spans:
            part = {column: journeys[column].to_numpy()[span.rows] for column in by}
            part |= {"days": span.days.astype(np.int64), "outcome": span.event.astype(np.int64)}
            parts.append(pd.DataFrame(part).assign(kind=kind, measure=measure))
    columns = ["kind", "measure", *by, "days", "outcome"]
    if not parts:
        return pd.DataFrame(columns=[*columns, "applications"]).astype(
            {"days": np.int64, "outcome": np.int64, "applications": np.int64}
        )
    counts = (
        pd.concat(parts, ignore_index=True)
        .groupby(columns, dropna=False, sort=False)
        .size()
        .reset_index(name="applications")
    )
    # The query's order: kind, measure, the keys (missing last), days, outcome.
    return counts.sort_values(columns, na_position="last", kind="stable").reset_index(drop=True)


def _as_counts(data: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Day counts as they are, or `application_journeys` rows counted by `by`."""
    if {"kind", "measure", "days", "outcome", "applications"} <= set(data.columns):
        missing = [column for column in by if column not in data.columns]
        if missing:
            raise ValueError(f"the day counts have no column {missing[0]!r} to group by")
        return data
    return day_counts(data, by=by)


@dataclass(frozen=True)
class _Histogram:
    """One group's applications per distinct day (ascending) and outcome code (columns 0-2)."""

    days: np.ndarray
    counts: np.ndarray

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def total(self) -> np.ndarray:
        return self.counts.sum(axis=1)

    def values(self, outcome: int) -> np.ndarray:
        """The days of the applications with `outcome`, ascending (one value per application)."""
        return np.repeat(self.days, self.counts[:, outcome])


def _histogram(days: np.ndarray, outcome: np.ndarray, weight: np.ndarray) -> _Histogram:
    distinct, inverse = np.unique(np.asarray(days, dtype=float), return_inverse=True)
    counts = np.zeros((len(distinct), 3), dtype=np.int64)
    np.add.at(counts, (inverse, np.asarray(outcome, dtype=np.int64)), weight)
    return _Histogram(distinct, counts)


def _rows_histogram(rows: pd.DataFrame) -> _Histogram:
    """The histogram of day-count rows (summed over every other column)."""
    return _histogram(
        rows["days"].to_numpy(),
        rows["outcome"].to_numpy(),
        rows["applications"].to_numpy(dtype=np.int64),
    )


def _durations_histogram(days: np.ndarray, event: np.ndarray) -> _Histogram:
    """The histogram of one row per application (`clock_durations`' days and event)."""
    return _histogram(days, event, np.ones(len(days), dtype=np.int64))


def _measure_rows(counts: pd.DataFrame, kind: str, measure: str) -> pd.DataFrame:
    return counts.loc[(counts["kind"] == kind) & (counts["measure"] == measure)]


def _by_group(rows: pd.DataFrame, by: str, *, dropna: bool) -> list[tuple[object, pd.DataFrame]]:
    """(value, rows) per value of `by`, in groupby's order (sorted; missing last if kept)."""
    return list(rows.groupby(by, dropna=dropna, sort=True))


# --- Aalen-Johansen cumulative incidence ---------------------------------------------------------


@dataclass(frozen=True)
class CumulativeIncidence:
    """P(event by day t) with competing outcomes and right-censoring, as a step function.

    `time[i]` are the distinct observed times (starting at 0); `cif[i]` holds from `time[i]` on.
    """

    time: np.ndarray
    cif: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    variance: np.ndarray
    at_risk: np.ndarray
    n: int
    events: int
    competing: int
    censored: int

    def at(self, t: float | np.ndarray) -> np.ndarray:
        """Cumulative incidence at day(s) t (0 before the first time)."""
        index = np.searchsorted(self.time, np.asarray(t, dtype=float), side="right") - 1
        return np.where(index >= 0, self.cif[np.clip(index, 0, None)], 0.0)

    def quantile(self, q: float) -> float:
        """First day by which the cumulative incidence reaches q; NaN where it never does."""
        return _first_time(self.time, self.cif, q)

    def quantile_ci(self, q: float) -> tuple[float, float]:
        """95% CI of the q-quantile, from inverting the pointwise band (Brookmeyer-Crowley style)."""
        return _first_time(self.time, self.ci_high, q), _first_time(self.time, self.ci_low, q)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "days": self.time,
                "cumulative_incidence": self.cif,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "at_risk": self.at_risk,
            }
        )


def _first_time(time: np.ndarray, values: np.ndarray, q: float) -> float:
    # NaN compares False (as nan_to_num's -1 would); the first True is the first hit.
    hit = values >= q - 1e-12
    first = int(hit.argmax()) if len(hit) else 0
    return float(time[first]) if len(hit) and hit[first] else float("nan")


def aalen_johansen(
    days: Sequence[float] | np.ndarray,
    events: Sequence[int] | np.ndarray,
    *,
    alpha: float = 0.05,
) -> CumulativeIncidence:
    """Aalen-Johansen cumulative incidence of event 1 with competing events 2 and censoring 0.

    F(t) = sum over event times t_i <= t of S(t_i-) d1_i / n_i, where S is the Kaplan-Meier
    probability of having no event of any kind, d1_i the events of interest at t_i and n_i the
    number at risk. The variance is Collett's Greenwood-type estimator (Modelling Survival Data in
    Medical Research, 3rd ed., p. 411) and the CI uses the log(-log) transform, as lifelines does.

    Parameters
    ----------
    days : array of float
        Time from the clock's start to the event or to censoring.
    events : array of int
        1 = the event of interest, 2 = a competing event, 0 = censored.
    alpha : float
        1 - confidence level of the pointwise intervals.

    Returns
    -------
    CumulativeIncidence

    Examples
    --------
    >>> ci = aalen_johansen([1, 2, 3, 4], [1, 2, 1, 0])
    >>> [round(float(v), 4) for v in ci.at([1, 2, 3, 4])]
    [0.25, 0.25, 0.5, 0.5]
    """
    t = np.asarray(days, dtype=float)
    e = np.asarray(events, dtype=int)
    if t.shape != e.shape:
        raise ValueError("days and events must have the same length")
    if np.any(t < 0) or np.any(~np.isin(e, (CENSORED, EVENT, COMPETING))):
        raise ValueError("days must be >= 0 and events one of 0, 1, 2")
    return _aalen_johansen_counts(_durations_histogram(t, e), alpha=alpha)


def _aalen_johansen_counts(histogram: _Histogram, *, alpha: float) -> CumulativeIncidence:
    """`aalen_johansen` of the applications counted per distinct day and outcome.

    The estimator only needs, at each distinct time, how many had the event (d1), a competing
    event (d2) or left at all, so a million applications cost as much as their few hundred
    distinct days.
    """
    if len(histogram.days) and histogram.days[0] < 0:
        raise ValueError("days must be >= 0 and events one of 0, 1, 2")
    counts = histogram.counts.astype(float)
    times = histogram.days
    if len(times) == 0 or times[0] != 0:
        # The curve starts at day 0 (F = 0), whether or not anyone ended on day 0.
        times = np.concatenate([[0.0], times])
        counts = np.concatenate([np.zeros((1, 3)), counts])
    d1, d2 = counts[:, EVENT], counts[:, COMPETING]
    leaving = counts.sum(axis=1)
    n = histogram.n
    at_risk = n - np.concatenate([[0.0], np.cumsum(leaving)[:-1]])
    d = d1 + d2
    # Everyone at risk at every time (the usual case: each distinct time is someone's): the
    # guards below would keep every value, so they are skipped (the same floats, fewer passes).
    everyone = bool((at_risk > 0).all())

    def where_at_risk(values: np.ndarray) -> np.ndarray:
        return values if everyone else np.where(at_risk > 0, values, 0.0)

    with np.errstate(divide="ignore", invalid="ignore"):
        hazard_all = where_at_risk(d / at_risk)
        surv = np.cumprod(1.0 - hazard_all)
        lag_surv = np.concatenate([[1.0], surv[:-1]])
        increment = where_at_risk(lag_surv * d1 / at_risk)
        cif = np.cumsum(increment)
        # Var F(t_j) = sum_{i<=j} (F_j - F_i)^2 a_i + b_i - 2 (F_j - F_i) c_i, expanded into
        # prefix sums so it is O(n): a_i = d_i / (n_i (n_i - d_i)), b_i = S_{i-1}^2 d1_i
        # (n_i - d1_i) / n_i^3, c_i = S_{i-1} d1_i / n_i^2. Where everyone left at once
        # (n_i = d_i) the Greenwood term is undefined; it is left out, as in KM practice.
        a = np.where((at_risk > d) & (d > 0), d / (at_risk * (at_risk - d)), 0.0)
        b = where_at_risk(lag_surv**2 * d1 * (at_risk - d1) / at_risk**3)
        c = where_at_risk(lag_surv * d1 / at_risk**2)
        variance = (
            cif**2 * np.cumsum(a)
            - 2 * cif * np.cumsum(a * cif)
            + np.cumsum(a * cif**2)
            + np.cumsum(b)
            - 2 * (cif * np.cumsum(c) - np.cumsum(c * cif))
        )
        variance = np.clip(variance, 0.0, None)
        z = stats.norm.isf(alpha / 2)
        log_f = np.log(cif)
        se = np.sqrt(variance) / (cif * np.abs(log_f))
        loglog = np.log(-log_f)
        low = np.exp(-np.exp(loglog + z * se))
        high = np.exp(-np.exp(loglog - z * se))
    zero = cif <= 0
    low[zero] = 0.0
    high[zero] = 0.0
    # F = 1 exactly: the transform is undefined; the point estimate is the only sensible bound.
    one = cif >= 1.0
    low[one] = 1.0
    high[one] = 1.0
    totals = histogram.counts.sum(axis=0)
    return CumulativeIncidence(
        time=times,
        cif=cif,
        ci_low=low,
        ci_high=high,
        variance=variance,
        at_risk=at_risk,
        n=n,
        events=int(totals[EVENT]),
        competing=int(totals[COMPETING]),
        censored=int(totals[CENSORED]),
    )


# --- Kaplan-Meier time in stage -------------------------------------------------------------------


@dataclass(frozen=True)
class Survival:
    """Kaplan-Meier survival of a duration: time[i] and the probability of lasting beyond it."""

    time: np.ndarray
    survival: np.ndarray
    n: int
    censored: int

    def quantile(self, q: float) -> float:
        """First day by which a share q has ended (survival <= 1 - q); NaN if never reached."""
        return _first_time(self.time, 1.0 - self.survival, q)


def kaplan_meier(
    days: Sequence[float] | np.ndarray, ended: Sequence[bool] | np.ndarray
) -> Survival:
    """Kaplan-Meier estimate of how long something lasts, with right-censoring.

    Wraps scipy.stats.ecdf(scipy.stats.CensoredData(uncensored=..., right=...)).

    Examples
    --------
    >>> km = kaplan_meier([1, 2, 3, 4], [True, False, True, True])
    >>> km.quantile(0.5)
    3.0
    """
    t = np.asarray(days, dtype=float)
    observed = np.asarray(ended, dtype=bool)
    if not observed.any():
        return Survival(np.array([0.0]), np.array([1.0]), int(len(t)), int(len(t)))
    result = stats.ecdf(stats.CensoredData(uncensored=t[observed], right=t[~observed]))
    return Survival(
        time=np.asarray(result.sf.quantiles, dtype=float),
        survival=np.asarray(result.sf.probabilities, dtype=float),
        n=int(len(t)),
        censored=int((~observed).sum()),
    )


def _kaplan_meier_counts(histogram: _Histogram) -> Survival:
    """`kaplan_meier` of applications counted per distinct day: outcome 1 ended, 0 censored.

    The same arithmetic as scipy.stats.ecdf (scipy/stats/_survival.py, `_ecdf_uncensored` and
    `_ecdf_right_censored`) on the same integer counts, so the same floats:
    tests/signalboard/analysis/test_time_to_hire_speed.py compares them.
    """
    n_total = histogram.n
    ended = histogram.counts[:, LEFT_STAGE]
    censored = n_total - int(ended.sum())
    if not ended.any():
        return Survival(np.array([0.0]), np.array([1.0]), n_total, n_total)
    total = histogram.total()
    if censored == 0:
        survival = 1 - np.cumsum(total) / n_total
        return Survival(histogram.days, survival, n_total, 0)
    at_risk = n_total - np.concatenate([[0], np.cumsum(total)[:-1]])
    survival = np.cumprod((at_risk - ended) / at_risk)
    return Survival(histogram.days, survival, n_total, censored)


def stage_durations(data: pd.DataFrame, *, by: str | None = None) -> pd.DataFrame:
    """Calendar days spent in each stage, counting applications still in it (Kaplan-Meier).

    Time in a stage runs from reaching it to reaching the next stage, or to the rejection or
    withdrawal that ended the application there; an application still in the stage at the as-of
    is right-censored. 'hired' is an end state and has no duration.

    Parameters
    ----------
    data : DataFrame
        `application_journeys` rows, or their day counts (`day_counts`, the
        `time_to_hire_day_counts` query), which can be grouped by track or role.
    by : str, optional
        A column to break the table down by.

    Returns
    -------
    DataFrame
        stage, [by], n, still_in_stage, median_days, p75_days, p90_days (NaN where the share that
        left never reaches 50/75/90%).

    Examples
    --------
    >>> j = pd.DataFrame({"application_id": ["a", "b"], "track": ["t", "t"],
    ...     "applied_at": pd.to_datetime(["2025-01-01", "2025-01-01"]), "cohort_starts_on": pd.NaT,
    ...     "outcome": ["rejected", "in_progress"],
    ...     "outcome_at": pd.to_datetime(["2025-01-05", None]),
    ...     "as_of": pd.to_datetime(["2025-01-11", "2025-01-11"]),
    ...     **{f"reached_{s}_at": pd.to_datetime([None, None]) for s in STAGES}})
    >>> j["reached_applied_at"] = j["applied_at"]
    >>> stage_durations(j)[["stage", "n", "still_in_stage", "median_days"]].head(1).to_dict("records")
    [{'stage': 'applied', 'n': 2, 'still_in_stage': 1, 'median_days': 4.0}]
    """
    counts = _as_counts(data, [by] if by is not None else [])
    stage_rows = counts.loc[counts["kind"] == "stage"]
    groups: list[tuple[object, pd.DataFrame]] = (
        [(None, stage_rows)] if by is None else _by_group(stage_rows, by, dropna=False)
    )
    rows = []
    for key, group_rows in groups:
        for stage in STAGES[:-1]:
            km = _kaplan_meier_counts(_rows_histogram(_measure_rows(group_rows, "stage", stage)))
            row: dict[str, object] = {"stage": stage}
            if by is not None:
                row[by] = key
            row.update(
                n=km.n,
                still_in_stage=km.censored,
                median_days=km.quantile(0.5) if km.n else float("nan"),
                p75_days=km.quantile(0.75) if km.n else float("nan"),
                p90_days=km.quantile(0.9) if km.n else float("nan"),
            )
            rows.append(row)
    columns = ["stage"] + ([by] if by else []) + ["n", "still_in_stage"]
    columns += ["median_days", "p75_days", "p90_days"]
    return pd.DataFrame(rows, columns=columns)


STAGE_DURATION_COLUMNS = [
    "stage",
    "track",
    "n",
    "still_in_stage",
    "median_days",
    "p75_days",
    "p90_days",
]


def stage_duration_table(data: pd.DataFrame) -> pd.DataFrame:
    """stage_durations.csv: `stage_durations` for all applications (track 'all') and per track.

    `data`: `application_journeys` rows or their day counts.
    """
    counts = _as_counts(data, ["track"])
    overall, by_track = stage_durations(counts), stage_durations(counts, by="track")
    return pd.concat([overall.assign(track="all"), by_track], ignore_index=True)[
        STAGE_DURATION_COLUMNS
    ]


# --- summaries ------------------------------------------------------------------------------------


def summarize_clock(durations: pd.DataFrame, *, alpha: float = 0.05) -> dict[str, float | int]:
    """The time-to-hire summary of one group of `clock_durations` rows.

    n, hired (events of interest), median_days_among_hired (the ATS number: median over events
    only), p_hired_by_30d/60d/90d (Aalen-Johansen), p25/p50/p75/p90 of the cumulative incidence
    where reached, and the CI of its median.

    Examples
    --------
    >>> d = pd.DataFrame({"days": [10.0, 20.0, 40.0, 50.0], "event": [1, 1, 2, 0]})
    >>> summarize_clock(d)["p_hired_by_30d"]
    0.5
    """
    histogram = _durations_histogram(
        durations["days"].to_numpy(dtype=float), durations["event"].to_numpy(dtype=int)
    )
    return _summarize(histogram, alpha)


def _summarize(histogram: _Histogram, alpha: float) -> dict[str, float | int]:
    hired = histogram.values(EVENT)
    out: dict[str, float | int] = {
        "n": histogram.n,
        "hired": len(hired),
        "median_days_among_hired": _sorted_median(hired) if len(hired) else np.nan,
    }
    if histogram.n == 0:
        for h in HORIZONS_DAYS:
            out[f"p_hired_by_{h}d"] = np.nan
        for q in QUANTILES:
            out[f"p{int(q * 100)}_days_cif"] = np.nan
        out.update(median_days_cif=np.nan, median_ci_low=np.nan, median_ci_high=np.nan)
        return out
    cif = _aalen_johansen_counts(histogram, alpha=alpha)
    for h in HORIZONS_DAYS:
        out[f"p_hired_by_{h}d"] = float(cif.at(h))
    for q in QUANTILES:
        out[f"p{int(q * 100)}_days_cif"] = cif.quantile(q)
    low, high = cif.quantile_ci(0.5)
    out.update(median_days_cif=cif.quantile(0.5), median_ci_low=low, median_ci_high=high)
    return out


TIME_TO_HIRE_COLUMNS = [
    "clock",
    "track",
    "segment",
    "n",
    "hired",
    "median_days_among_hired",
    "p_hired_by_30d",
    "p_hired_by_60d",
    "p_hired_by_90d",
    "median_days_cif",
    "median_ci_low",
    "median_ci_high",
    "p25_days_cif",
    "p50_days_cif",
    "p75_days_cif",
    "p90_days_cif",
]


def time_to_hire_table(
    data: pd.DataFrame,
    *,
    clocks: Sequence[Clock] = CLOCKS,
    segment_by: str | None = "role",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """time_to_hire.csv: one row per clock, track ('all' and each) and segment ('all', each role).

    `data`: `application_journeys` rows, or their day counts (`day_counts`, the
    `time_to_hire_day_counts` query).

    Examples
    --------
    >>> j = pd.DataFrame({"application_id": ["a"], "track": ["traditional"], "role": ["r"],
    ...     "cohort_id": [None], "applied_at": [pd.Timestamp("2025-01-01")],
    ...     "cohort_starts_on": [pd.NaT], "outcome": ["hired"],
    ...     "outcome_at": [pd.Timestamp("2025-01-31")], "as_of": [pd.Timestamp("2025-06-01")],
    ...     **{f"reached_{s}_at": [pd.NaT] for s in STAGES}})
    >>> j["reached_hired_at"] = pd.Timestamp("2025-01-31")
    >>> t = time_to_hire_table(j, clocks=["applied_to_hired"], segment_by=None)
    >>> t[["track", "median_days_among_hired", "median_days_cif"]].head(1).to_dict("records")
    [{'track': 'all', 'median_days_among_hired': 30.0, 'median_days_cif': 30.0}]
    """
    for clock in clocks:
        if clock not in CLOCKS:
            raise ValueError(f"unknown clock {clock!r} (one of {', '.join(CLOCKS)})")
    counts = _as_counts(data, ["track"] + ([segment_by] if segment_by is not None else []))
    rows = []
    for clock in clocks:
        clock_rows = _measure_rows(counts, "clock", clock)
        tracks = [("all", clock_rows)] + [
            (str(track), rows_of_track)
            for track, rows_of_track in _by_group(clock_rows, "track", dropna=True)
        ]
        for track, track_rows in tracks:
            segments = [("all", track_rows)]
            if segment_by is not None:
                segments += [
                    (f"{segment_by}={value}", segment_rows)
                    for value, segment_rows in _by_group(track_rows, segment_by, dropna=True)
                ]
            for segment, segment_rows in segments:
                row = {"clock": clock, "track": track, "segment": segment}
                row.update(_summarize(_rows_histogram(segment_rows), alpha))
                rows.append(row)
    return pd.DataFrame(rows, columns=TIME_TO_HIRE_COLUMNS)


def incidence_curves(
    data: pd.DataFrame,
    *,
    clock: Clock = "applied_to_hired",
    by: str = "track",
    resolution_days: float | None = None,
) -> pd.DataFrame:
    """Aalen-Johansen curves for plotting: group, days, cumulative_incidence, ci_low, ci_high.

    `data`: `application_journeys` rows, or their day counts. With `resolution_days`, each
    curve keeps only the last of its rows in every bin of that many days (and its first row):
    the same step function at that resolution, fewer points to draw.

    Examples
    --------
    >>> j = pd.DataFrame({"application_id": ["a", "b"], "track": "t", "role": "r",
    ...     "cohort_id": None, "applied_at": pd.Timestamp("2025-01-01"),
    ...     "cohort_starts_on": pd.NaT, "outcome": "hired",
    ...     "outcome_at": pd.to_datetime(["2025-01-02", "2025-01-09"]),
    ...     "as_of": pd.Timestamp("2025-06-01"), **{f"reached_{s}_at": pd.NaT for s in STAGES}})
    >>> j["reached_hired_at"] = j["outcome_at"]
    >>> incidence_curves(j, resolution_days=7)[["days", "cumulative_incidence"]].values.tolist()
    [[0.0, 0.0], [1.0, 0.5], [8.0, 1.0]]
    """
    if clock not in CLOCKS:
        raise ValueError(f"unknown clock {clock!r} (one of {', '.join(CLOCKS)})")
    counts = _as_counts(data, [by])
    frames = []
    for key, rows in _by_group(_measure_rows(counts, "clock", clock), by, dropna=True):
        curve = _aalen_johansen_counts(_rows_histogram(rows), alpha=0.05).to_frame()
        if resolution_days is not None and len(curve) > 1:
            bins = np.floor(curve["days"].to_numpy() / resolution_days)
            last_in_bin = np.append(bins[1:] != bins[:-1], True)
            last_in_bin[0] = True
            curve = curve.loc[last_in_bin].reset_index(drop=True)
        curve.insert(0, "group", str(key))
        frames.append(curve)
    if not frames:
        return pd.DataFrame(
            columns=["group", "days", "cumulative_incidence", "ci_low", "ci_high", "at_risk"]
        )
    return pd.concat(frames, ignore_index=True)


# --- comparisons ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """Group a against group b on one clock.

    ratio = median days among hires in a / in b, with a percentile bootstrap CI (hires resampled
    within each group); log-rank test on the hazard of the clock's end event (competing outcomes
    and in-progress treated as censored: a cause-specific comparison).
    """

    group_a: str
    group_b: str
    n_a: int
    n_b: int
    hired_a: int
    hired_b: int
    median_a: float
    median_b: float
    ratio: float
    ci_low: float
    ci_high: float
    logrank_statistic: float
    p_value: float


_BOOTSTRAP_BLOCK_VALUES = 4_000_000
"""Resampled values drawn at once (32 MB of float64), so a million hires stay in bounded memory."""

EXACT_BOOTSTRAP_ROWS = 5_000
"""Up to this many values in the larger group, the ratio's bootstrap draws every resample
(`rng.integers`: the sample and the hand-checked tests keep their intervals); above, it draws
each resample's median from its exact distribution (`resampling.sampled_medians`): the same
bootstrap, O(n_resamples) random numbers instead of O(n_resamples x n) (docs/performance.md)."""


def _bootstrap_medians(
    values: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """Medians of `n_resamples` resamples with replacement, drawn in blocks of resamples."""
    per_block = max(1, _BOOTSTRAP_BLOCK_VALUES // len(values))
    medians = [
        np.median(
            values[
                rng.integers(0, len(values), size=(min(per_block, n_resamples - i), len(values)))
            ],
            axis=1,
        )
        for i in range(0, n_resamples, per_block)
    ]
    return np.concatenate(medians)


def bootstrap_ratio_of_medians(
    a: np.ndarray, b: np.ndarray, *, n_resamples: int = 2000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float, float]:
    """median(a) / median(b) and its percentile bootstrap CI (seeded, vectorized).

    Up to EXACT_BOOTSTRAP_ROWS values in the larger group every resample is drawn; above, each
    resample's median is drawn from its exact distribution (`resampling.sampled_medians`; the same
    bootstrap, other random numbers: the CI moves by Monte Carlo error only).

    Examples
    --------
    >>> bootstrap_ratio_of_medians(np.array([6.0, 6.0]), np.array([10.0, 10.0]))
    (0.6, 0.6, 0.6)
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if len(a) == 0 or len(b) == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    if max(len(a), len(b)) <= EXACT_BOOTSTRAP_ROWS:
        ratio = float(np.median(a) / np.median(b)) if np.median(b) > 0 else float("nan")
        med_a = _bootstrap_medians(a, n_resamples, rng)
        med_b = _bootstrap_medians(b, n_resamples, rng)
    else:
        a, b = np.sort(a), np.sort(b)
        median_b = _sorted_median(b)
        ratio = float(_sorted_median(a) / median_b) if median_b > 0 else float("nan")
        med_a = _sampled_medians(a, n_resamples, rng)
        med_b = _sampled_medians(b, n_resamples, rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = med_a / med_b
    ratios = ratios[np.isfinite(ratios)]
    if len(ratios) == 0:
        return ratio, float("nan"), float("nan")
    low, high = np.quantile(ratios, [alpha / 2, 1 - alpha / 2])
    return ratio, float(low), float(high)


def _sorted_median(sorted_values: np.ndarray) -> float:
    """np.median of values already in ascending order (the same float: the middle one or two)."""
    n = len(sorted_values)
    return float(np.median(sorted_values[(n - 1) // 2 : n // 2 + 1]))


def logrank(a: pd.DataFrame, b: pd.DataFrame) -> tuple[float, float]:
    """Two-sided log-rank test of the end event's hazard between two `clock_durations` groups.

    Returns the chi-square statistic (1 df, as lifelines and most software report it) and p.
    """
    if (
        len(a) == 0
        or len(b) == 0
        or not ((a["event"] == EVENT).any() or (b["event"] == EVENT).any())
    ):
        return float("nan"), float("nan")

    def censored(frame: pd.DataFrame) -> stats.CensoredData:
        hit = frame["event"].to_numpy() == EVENT
        days = frame["days"].to_numpy(dtype=float)
        return stats.CensoredData(uncensored=days[hit], right=days[~hit])

    result = stats.logrank(censored(a), censored(b))
    return float(result.statistic) ** 2, float(result.pvalue)


def _logrank_counts(a: _Histogram, b: _Histogram) -> tuple[float, float]:
    """`logrank` of two groups counted per distinct day (outcome 1 = the event).

    scipy.stats.logrank's arithmetic (scipy/stats/_survival.py) on the same counts (at risk and
    events per distinct time, pooled and in a), so the same floats at the sizes where its integer
    products are exact: tests/signalboard/analysis/test_time_to_hire_speed.py compares them. Floats here, because
    those products (at risk x at risk x events x ...) pass 2**63 at a million applications.
    """
    if a.n == 0 or b.n == 0 or not (a.counts[:, EVENT].any() or b.counts[:, EVENT].any()):
        return float("nan"), float("nan")
    days = np.union1d(a.days, b.days)

    def on_days(histogram: _Histogram) -> tuple[np.ndarray, np.ndarray]:
        index = np.searchsorted(days, histogram.days)
        total, hits = np.zeros(len(days)), np.zeros(len(days))
        total[index] = histogram.total()
        hits[index] = histogram.counts[:, EVENT]
        return total, hits

    total_a, hits_a = on_days(a)
    total_b, hits_b = on_days(b)
    total = total_a + total_b
    deaths = hits_a + hits_b
    at_risk = total.sum() - np.concatenate([[0.0], np.cumsum(total)[:-1]])
    at_risk_a = total_a.sum() - np.concatenate([[0.0], np.cumsum(total_a)[:-1]])
    idx = deaths > 0
    at_risk_xy, deaths_xy, at_risk_x = at_risk[idx], deaths[idx], at_risk_a[idx]
    at_risk_y = at_risk_xy - at_risk_x
    num = at_risk_x * at_risk_y * deaths_xy * (at_risk_xy - deaths_xy)
    den = at_risk_xy**2 * (at_risk_xy - 1)
    i = at_risk_xy > 1
    sum_var = np.sum(num[i] / den[i])
    n_died_x = hits_a.sum()
    sum_exp_deaths_x = np.sum(at_risk_x * (deaths_xy / at_risk_xy))
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = (n_died_x - sum_exp_deaths_x) / np.sqrt(sum_var)
    # scipy.stats.logrank's two-sided p-value of the standard normal statistic.
    pvalue = stats._stats_py._get_pvalue(
        statistic, stats._stats_py._SimpleNormal(), "two-sided", xp=np
    )
    return float(statistic) ** 2, float(pvalue)


def _compare_histograms(
    a: _Histogram,
    b: _Histogram,
    *,
    group_a: str,
    group_b: str,
    n_resamples: int,
    seed: int,
) -> Comparison:
    # Hires in ascending order of days: the bootstrap resamples positions, so an order that does
    # not depend on how the rows arrived gives the same CI from rows and from counts.
    hires_a, hires_b = a.values(EVENT), b.values(EVENT)
    ratio, low, high = bootstrap_ratio_of_medians(
        hires_a, hires_b, n_resamples=n_resamples, seed=seed
    )
    statistic, p_value = _logrank_counts(a, b)
    return Comparison(
        group_a=group_a,
        group_b=group_b,
        n_a=a.n,
        n_b=b.n,
        hired_a=len(hires_a),
        hired_b=len(hires_b),
        median_a=_sorted_median(hires_a) if len(hires_a) else float("nan"),
        median_b=_sorted_median(hires_b) if len(hires_b) else float("nan"),
        ratio=ratio,
        ci_low=low,
        ci_high=high,
        logrank_statistic=statistic,
        p_value=p_value,
    )


def compare_groups(
    durations: pd.DataFrame,
    *,
    by: str,
    group_a: str,
    group_b: str | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Compare `group_a` with `group_b` (default: everyone else) on `clock_durations` rows.

    Examples
    --------
    >>> d = pd.DataFrame({"track": ["m", "m", "t", "t"], "days": [6.0, 6.0, 10.0, 10.0],
    ...                   "event": [1, 1, 1, 1]})
    >>> compare_groups(d, by="track", group_a="m", group_b="t").ratio
    0.6
    """
    in_a = (durations[by] == group_a).to_numpy()
    in_b = (durations[by] == group_b).to_numpy() if group_b is not None else ~in_a
    days = durations["days"].to_numpy(dtype=float)
    event = durations["event"].to_numpy(dtype=int)
    return _compare_histograms(
        _durations_histogram(days[in_a], event[in_a]),
        _durations_histogram(days[in_b], event[in_b]),
        group_a=group_a,
        group_b=group_b if group_b is not None else "all others",
        n_resamples=n_resamples,
        seed=seed,
    )


def track_comparison(
    data: pd.DataFrame, *, clock: Clock = "applied_to_hired", seed: int = 0
) -> Comparison:
    """micro_internship against traditional: the measured counterpart of the '40% faster' claim.

    `data`: `application_journeys` rows, or their day counts.
    """
    clock_rows = _measure_rows(_as_counts(data, ["track"]), "clock", clock)
    track = clock_rows["track"]
    return _compare_histograms(
        _rows_histogram(clock_rows.loc[track == "micro_internship"]),
        _rows_histogram(clock_rows.loc[track == "traditional"]),
        group_a="micro_internship",
        group_b="traditional",
        n_resamples=2000,
        seed=seed,
    )


def role_comparisons(
    data: pd.DataFrame, *, clock: Clock = "applied_to_hired", seed: int = 0
) -> pd.DataFrame:
    """Each role against all other roles: one row per role with the Comparison's fields.

    `data`: `application_journeys` rows, or their day counts.
    """
    clock_rows = _measure_rows(_as_counts(data, ["role"]), "clock", clock)
    role = clock_rows["role"]
    rows = [
        _compare_histograms(
            _rows_histogram(clock_rows.loc[role == value]),
            # Everyone else, applications without a role included.
            _rows_histogram(clock_rows.loc[role != value]),
            group_a=str(value),
            group_b="all others",
            n_resamples=2000,
            seed=seed,
        ).__dict__
        for value in sorted(role.dropna().unique())
    ]
    return pd.DataFrame(rows, columns=list(Comparison.__dataclass_fields__))


# --- report ---------------------------------------------------------------------------------------


def load_journeys(con: duckdb.DuckDBPyConnection, params: dict | None = None) -> pd.DataFrame:
    """The application_journeys query with the global filter parameters."""
    return run_query(con, "application_journeys", params)


def load_day_counts(
    con: duckdb.DuckDBPyConnection,
    params: Mapping | None = None,
    *,
    queries_dir: Path | None = None,
) -> pd.DataFrame:
    """The `time_to_hire_day_counts` query: what every function here needs, counted in DuckDB.

    A few thousand rows at a million applications, instead of a row per application sorted per
    clock and per stage (docs/performance.md).
    """
    counts = run_query(con, DAY_COUNTS_QUERY, params, queries_dir=queries_dir)
    return counts.astype({"days": np.int64, "outcome": np.int64, "applications": np.int64})


def row_count(data: pd.DataFrame) -> int:
    """Applications in the selection (`application_journeys` rows, or their day counts)."""
    if {"kind", "measure", "applications"} <= set(data.columns):
        # Every application is on the applied-to-hired clock, once.
        return int(_measure_rows(data, "clock", "applied_to_hired")["applications"].sum())
    return len(data)


def report_tables(con: duckdb.DuckDBPyConnection, *, settings: Settings) -> list[ReportTable]:
    """time_to_hire.csv and stage_durations.csv for `signalboard report`."""
    return report(con, settings=settings).tables


def report(con: duckdb.DuckDBPyConnection, *, settings: Settings) -> SectionReport:
    """`report_tables` and the interval of the track comparison the findings quote, from one
    count of the days and one bootstrap."""
    counts = load_day_counts(con, queries_dir=settings.queries_dir)
    comparison = track_comparison(counts)
    notes = (
        "Days are calendar days between two dates. Censoring-aware columns (p_hired_by_*, *_cif) "
        "use the Aalen-Johansen estimator: in-progress applications are censored at the "
        "warehouse as-of; rejection and withdrawal compete.",
        f"micro_internship / traditional ratio of median days to hire among hires: "
        f"{comparison.ratio:.2f} (95% bootstrap CI {comparison.ci_low:.2f}-{comparison.ci_high:.2f}; "
        f"log-rank p = {comparison.p_value:.3g}). The seed claim of about 40% faster is a ratio "
        f"of {CLAIMED_RATIO}.",
    )
    tables = [
        ReportTable(
            name="time_to_hire",
            title="Time to hire",
            frame=time_to_hire_table(counts),
            description="Three clocks in calendar days, by track and role: the median among "
            "hires (what ATS reports show) beside P(hired by day t) with in-progress censored.",
            notes=notes,
        ),
        ReportTable(
            name="stage_durations",
            title="Time in each stage",
            frame=stage_duration_table(counts),
            description="Kaplan-Meier calendar days in each stage, counting applications still "
            "in it (censored at the as-of).",
        ),
    ]
    return SectionReport(tables=tables, time_ratio_ci=(comparison.ci_low, comparison.ci_high))
