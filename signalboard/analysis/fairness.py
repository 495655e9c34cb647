"""Adverse-impact audit across the hiring funnel, and the Fairness report tables.

For every funnel step (applied -> selected, selected -> submitted, ..., retainer -> hired) and
the bottom line (applied -> hired), overall and per track, and for every self-identification
attribute (sex, race/ethnicity, their intersection, and any further attribute of
`demographic_attributes`): applicants, selected, selection rate, impact ratio against the
comparator (the highest-rate group large enough), the four-fifths flag, a score test and the
score interval it inverts for the same comparison, Benjamini-Hochberg q per funnel step,
shortfall, flip-flop and bounds from the unknowns.
The statistics are in `signalboard.stats.adverse_impact`; the LL144 tables in
`signalboard.analysis.ll144`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from etl.contract import STAGES, UNKNOWN
from signalboard.analysis import ll144
from signalboard.analysis.tables import ReportTable, SectionReport
from signalboard.queries import run_query
from signalboard.settings import Settings
from signalboard.stats.adverse_impact import (
    MIN_COMPARATOR_SHARE,
    MIN_SHARE,
    check_comparator_share,
    impact_tables,
)
from signalboard.stats.fairness_cells import (
    INTERSECTION,
    attribute_order,
    cells_from_frames,
    furthest_from_mask,
    stage_masks,
)
from signalboard.stats.suppression import is_hidden, suppress_small_cells

ALL_TRACKS = "all"

TRIAGE_STEP = "submitted->triage_passed"

AUDIT_COLUMNS: tuple[str, ...] = (
    "step",
    "track",
    "attribute",
    "group",
    "n",
    "selected",
    "selection_rate",
    "impact_ratio",
    "ir_ci_low",
    "ir_ci_high",
    "below_four_fifths",
    "test",
    "p_value",
    "q_value",
    "shortfall",
    "flip_flop",
    "status",
    "suppressed",
    "excluded_from_ir",
    "reference",
    "ir_unknowns_in_group",
    "ir_unknowns_proportional",
    "ir_bound_low",
    "ir_bound_high",
    "p_exact",
)
RATE_COLUMNS: tuple[str, ...] = (
    "selection_rate",
    "impact_ratio",
    "ir_ci_low",
    "ir_ci_high",
    "shortfall",
    "ir_unknowns_in_group",
    "ir_unknowns_proportional",
    "ir_bound_low",
    "ir_bound_high",
    # A test statistic is a function of the counts: with the table's shown totals a p-value
    # can be solved back for a hidden n, so a row with a hidden count shows none.
    "p_value",
    "q_value",
    "p_exact",
)


@dataclass(frozen=True)
class Audit:
    """The audit before suppression: one row per step, track, attribute and known group, and the
    unknowns per table (step, track, attribute)."""

    table: pd.DataFrame
    unknowns: pd.DataFrame


def _steps_from_used(used: dict[str, set[int]]) -> dict[str, list[tuple[str, int, int]]]:
    steps: dict[str, list[tuple[str, int, int]]] = {}
    for track in sorted(used):
        stages = [0] + [i for i in range(1, len(STAGES)) if i in used[track]]
        pairs = [(stages[j], stages[j + 1]) for j in range(len(stages) - 1)]
        bottom = (0, len(STAGES) - 1)
        if bottom not in pairs:
            pairs.append(bottom)
        steps[track] = [(f"{STAGES[a]}->{STAGES[b]}", a, b) for a, b in pairs]
    return steps


def track_steps(journeys: pd.DataFrame) -> dict[str, list[tuple[str, int, int]]]:
    """Each track's funnel steps: consecutive pairs of the stages that track uses, then the
    bottom line. A stage is used when any application of the track reached it, so the
    traditional track (applied, selected, take_home_passed, hired) gets its own steps and is not
    counted as passing a triage it never had.
    """
    frame = pd.DataFrame({"track": journeys["track"], "mask": stage_masks(journeys)})
    return _cell_steps(frame)


def _cell_steps(frame: pd.DataFrame) -> dict[str, list[tuple[str, int, int]]]:
    used: dict[str, set[int]] = {}
    for track, masks in frame.groupby("track", sort=True)["mask"]:
        combined = int(np.bitwise_or.reduce(masks.to_numpy(dtype=np.int64)))
        used[str(track)] = {i for i in range(1, len(STAGES)) if (combined >> i) & 1}
    return _steps_from_used(used)


def step_counts_from_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """Applicants and selected per step, track, attribute and group (Unknown included), from
    `queries/fairness_cells.sql` rows (or `cells_from_frames`); see `step_counts`."""
    columns = ["step", "track", "attribute", "group", "n", "selected"]
    cells = cells[cells["track"].notna()]
    if len(cells) == 0:
        return pd.DataFrame(columns=columns)
    # Per-application facts, summed over the LLM scores (which the funnel steps ignore).
    cells = (
        cells.groupby(
            ["track", "reached_mask", "undecided", "attribute", "group"], sort=False, dropna=False
        )["applications"]
        .sum()
        .reset_index()
    )
    order = attribute_order(cells["attribute"].unique())
    mask = cells["reached_mask"].to_numpy(dtype=np.int64)
    furthest = furthest_from_mask(mask)
    undecided = cells["undecided"].to_numpy(dtype=bool)
    weight = cells["applications"].to_numpy(dtype=np.int64)
    track = cells["track"].astype(str).to_numpy()
    attribute = pd.Categorical(cells["attribute"].astype(str), categories=order, ordered=True)
    group = cells["group"].astype(str).to_numpy()
    per_track = _cell_steps(pd.DataFrame({"track": track, "mask": mask}))
    all_steps = sorted(
        {step for steps in per_track.values() for step in steps},
        # funnel order, the bottom line (applied->hired) last
        key=lambda step: (step[1] == 0 and step[2] == len(STAGES) - 1, step[1], step[2]),
    )
    frames = []
    for name, first, last in all_steps:
        tracks = [t for t, steps in per_track.items() if (name, first, last) in steps]
        member = np.isin(track, tracks)
        eligible = member & (furthest >= first) & ~(undecided & (furthest < last))
        selected = eligible & (furthest >= last)
        part = pd.DataFrame(
            {
                "track": track,
                "attribute": attribute,
                "group": group,
                "n": weight * eligible,
                "selected": weight * selected,
            }
        )[member]
        pieces = [
            part.groupby(["track", "attribute", "group"], observed=True, sort=True)[
                ["n", "selected"]
            ]
            .sum()
            .reset_index()
        ]
        if len(tracks) > 1:
            overall = (
                part.groupby(["attribute", "group"], observed=True, sort=True)[["n", "selected"]]
                .sum()
                .reset_index()
            )
            overall.insert(0, "track", ALL_TRACKS)
            pieces.insert(0, overall)
        both = pd.concat(pieces, ignore_index=True)
        both.insert(0, "step", name)
        frames.append(both)
    counts = pd.concat(frames, ignore_index=True)
    counts["attribute"] = counts["attribute"].astype(str)
    counts["n"] = counts["n"].astype(np.int64)
    counts["selected"] = counts["selected"].astype(np.int64)
    return counts[columns]


def step_counts(journeys: pd.DataFrame, demographics: pd.DataFrame) -> pd.DataFrame:
    """Applicants and selected per step, track, attribute and group (Unknown included).

    An application counts in a step's applicants when it reached the step's first stage and its
    decision is in: one still in progress, or withdrawn, at a stage before the step's last is
    left out (a withdrawal is not a selection decision; 1979 Q&A 15), so in-flight cohorts do not
    look like rejections. It counts as selected when it reached the step's last stage. Steps are
    per track (`track_steps`); the "all" track pools the tracks that share a step and appears
    only for steps that more than one track has (otherwise it would repeat that track's table).
    """
    return step_counts_from_cells(cells_from_frames(journeys, demographics))


def audit(
    journeys: pd.DataFrame,
    demographics: pd.DataFrame,
    *,
    min_share: float = MIN_SHARE,
    min_comparator_share: float = MIN_COMPARATOR_SHARE,
    alpha: float = 0.05,
) -> Audit:
    """The adverse-impact audit of every funnel step, before suppression.

    Parameters
    ----------
    journeys
        `queries/application_journeys.sql` rows (application_id, candidate_id, track,
        furthest_stage_index, outcome).
    demographics
        `queries/fairness_demographics.sql` rows (candidate_id, attribute, value).
    min_share
        Groups under this share of a table's applicants are shown but not ranked (default 2%).
    min_comparator_share
        Groups under this share cannot be the comparator (default 5%, never under 2%):
        `SIGNALBOARD_MIN_COMPARATOR_SHARE`.
    alpha
        Significance level of the BH q-values, one family per funnel step (see
        `signalboard.stats.adverse_impact.impact_tables`).

    Returns
    -------
    Audit
        `table`: the adverse_impact columns (see AUDIT_COLUMNS, `suppressed` all False);
        `unknowns`: step, track, attribute, unknown_n, unknown_selected, n_total.
    """
    counts = step_counts(journeys, demographics)
    return audit_from_counts(
        counts, min_share=min_share, min_comparator_share=min_comparator_share, alpha=alpha
    )


def audit_from_counts(
    counts: pd.DataFrame,
    *,
    min_share: float = MIN_SHARE,
    min_comparator_share: float = MIN_COMPARATOR_SHARE,
    alpha: float = 0.05,
) -> Audit:
    """`audit` from the step counts (`step_counts` or `step_counts_from_cells`)."""
    keys = ["step", "track", "attribute"]
    is_unknown = counts["group"] == UNKNOWN
    unknowns = (
        counts[is_unknown]
        .rename(columns={"n": "unknown_n", "selected": "unknown_selected"})
        .drop(columns="group")
    )
    known = counts[~is_unknown]
    totals = counts.groupby(keys, sort=False)["n"].sum().rename("n_total").reset_index()
    unknowns = totals.merge(unknowns, on=keys, how="left").fillna(
        {"unknown_n": 0, "unknown_selected": 0}
    )
    unknowns = unknowns.astype({"unknown_n": "int64", "unknown_selected": "int64"})
    unknowns = unknowns[unknowns["n_total"] > 0][
        keys + ["unknown_n", "unknown_selected", "n_total"]
    ].reset_index(drop=True)
    # A table with no applicants (a step a track does not have) is no table.
    known = known.merge(unknowns[keys], on=keys, how="inner")
    table = impact_tables(
        known,
        table_columns=keys,
        family_columns=["step"],
        unknowns=unknowns,
        min_share=min_share,
        min_comparator_share=check_comparator_share(min_comparator_share),
        alpha=alpha,
    )
    if len(table) == 0:
        table = pd.DataFrame(columns=list(AUDIT_COLUMNS))
    table["suppressed"] = False
    return Audit(table=table[list(AUDIT_COLUMNS)], unknowns=unknowns)


def _shared_count_masks(frame: pd.DataFrame, hidden_n: np.ndarray, hidden_s: np.ndarray):
    """Cells that repeat a hidden count of another step of the same track and group: a step's
    `selected` is the next step's `n` (up to in-flight applications), and the bottom line shares
    its `n` with the first step and its `selected` with the last."""
    if len(frame) == 0:
        return hidden_n.copy(), hidden_s.copy()
    steps = frame["step"].astype(str).str.split("->", n=1, expand=True)
    cells = pd.DataFrame(
        {
            "key": frame[["track", "attribute", "group"]].astype(str).agg("\x1f".join, axis=1),
            "first": steps[0],
            "last": steps[1],
            "hn": hidden_n,
            "hs": hidden_s,
            "row": np.arange(len(frame)),
        }
    )
    force_n = hidden_n.copy()
    force_s = hidden_s.copy()
    # (this row's count, that row's count): (selected, n) where this.last == that.first, etc.
    links = (
        ("last", "hs", "first", "hn"),
        ("last", "hs", "last", "hs"),
        ("first", "hn", "first", "hn"),
    )
    for left_on, left_flag, right_on, right_flag in links:
        pairs = cells.merge(cells, left_on=["key", left_on], right_on=["key", right_on])
        pairs = pairs[pairs["row_x"] != pairs["row_y"]]
        either = pairs[f"{left_flag}_x"].to_numpy() | pairs[f"{right_flag}_y"].to_numpy()
        for flag, rows in ((left_flag, pairs["row_x"]), (right_flag, pairs["row_y"])):
            target = force_s if flag == "hs" else force_n
            target[rows.to_numpy()[either]] = True
    return force_n, force_s


def _suppress_combined(
    audit_result: Audit, *, k: int, force: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Audit rows and Unknown rows in one frame, suppressed (see `suppress_audit`).

    `force` (step, track, attribute, group, n, selected; booleans) names cells to hide whatever
    their value: counts another file shows (the LL144 selection table).
    """
    table, unknowns = audit_result.table, audit_result.unknowns
    unknown_rows = unknowns.rename(columns={"unknown_n": "n", "unknown_selected": "selected"})
    unknown_rows = unknown_rows.assign(group=UNKNOWN, is_unknown=True)
    frame = pd.concat(
        [table.assign(is_unknown=False), unknown_rows.drop(columns="n_total")], ignore_index=True
    )
    frame["n"] = frame["n"].astype("int64")
    frame["selected"] = frame["selected"].astype("int64")
    zeros = np.zeros(len(frame), dtype=bool)
    also: dict[str, np.ndarray] = {"n": zeros.copy(), "selected": zeros.copy()}
    if force is not None and len(force) and len(frame):
        keys = ["step", "track", "attribute", "group"]
        forced = frame[keys].merge(
            force.rename(columns={"n": "_fn", "selected": "_fs"}), on=keys, how="left"
        )
        also["n"] = forced["_fn"].eq(True).to_numpy(dtype=bool)
        also["selected"] = forced["_fs"].eq(True).to_numpy(dtype=bool)
    out = frame
    for _ in range(20):
        out = suppress_small_cells(
            frame,
            count_columns=["n", "selected"],
            k=k,
            rate_columns=RATE_COLUMNS,
            group_columns=["step", "attribute"],
            cross_columns=["track", "group"],
            also_hide=also,
            # n - selected (applicants not selected) printed by two shown cells is a count too.
            nested=[("n", "selected")],
        )
        hidden_n = out["n"].map(is_hidden).to_numpy(dtype=bool)
        hidden_s = out["selected"].map(is_hidden).to_numpy(dtype=bool)
        force_n, force_s = _shared_count_masks(frame, hidden_n, hidden_s)
        if (force_n == hidden_n).all() and (force_s == hidden_s).all():
            break
        also = {"n": force_n, "selected": force_s}
    return out


def _split_combined(out: pd.DataFrame, unknowns: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    flags = out["is_unknown"].to_numpy(dtype=bool)
    published = out[~flags][list(AUDIT_COLUMNS)].reset_index(drop=True)
    unknown_out = out[flags][["step", "track", "attribute", "n", "suppressed"]]
    unknown_out = unknown_out.rename(columns={"n": "unknown_n"}).reset_index(drop=True)
    unknown_out.insert(4, "n_total", unknowns["n_total"].to_numpy())
    shown = pd.to_numeric(unknown_out["unknown_n"].where(~unknown_out["suppressed"]))
    unknown_out.insert(5, "unknown_share", shown / unknown_out["n_total"].clip(lower=1))
    return published, unknown_out


def suppress_audit(audit_result: Audit, *, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The audit and unknowns tables as they may leave the system: small counts "<k", and "*"
    for counts hidden so that a small one cannot be worked out.

    Partitions are (step, attribute), the unknowns being one more cell of each; within one,
    tracks and groups are cross-classified (each track's total and each group's all-tracks count
    are published). Counts shared between steps are hidden together, repeating until nothing
    changes.

    Returns
    -------
    (adverse_impact, unknowns)
        adverse_impact: AUDIT_COLUMNS; unknowns: step, track, attribute, unknown_n, n_total,
        unknown_share, suppressed.
    """
    return _split_combined(_suppress_combined(audit_result, k=k), audit_result.unknowns)


_LL144_ATTRIBUTE = {
    "sex": "sex",
    "race_ethnicity": "race_ethnicity",
    "intersectional": INTERSECTION,
}


def _triage_cells(combined: pd.DataFrame) -> pd.DataFrame:
    """The audit's triage-step cells that the LL144 selection table repeats, keyed like it."""
    rows = combined[combined["step"] == TRIAGE_STEP]
    if rows.empty:
        return pd.DataFrame(columns=["table", "category", "track", "n", "selected"])
    track = ALL_TRACKS if (rows["track"] == ALL_TRACKS).any() else rows["track"].iloc[0]
    rows = rows[rows["track"] == track]
    back = {v: k for k, v in _LL144_ATTRIBUTE.items()}
    rows = rows[rows["attribute"].isin(list(back))]
    return pd.DataFrame(
        {
            "table": rows["attribute"].map(back).to_numpy(),
            "category": rows["group"].to_numpy(),
            "track": track,
            "n": rows["n"].map(is_hidden).to_numpy(dtype=bool),
            "selected": rows["selected"].map(is_hidden).to_numpy(dtype=bool),
        }
    )


def suppress_jointly(
    audit_result: Audit, triage: ll144.LL144Result, *, k: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Suppress the audit, the unknowns and the LL144 tables so that a count hidden in one is
    hidden in the other too: the LL144 selection table repeats the audit's triage step (nearly
    the same people), so a complement shown in one file could give a small cell of the other away.
    Repeats until neither changes.
    """
    force_audit: pd.DataFrame | None = None
    force_ll144: pd.DataFrame | None = None
    for _ in range(10):
        combined = _suppress_combined(audit_result, k=k, force=force_audit)
        triage_out = ll144.suppress_ll144(triage.table, k=k, force=force_ll144)
        cells = _triage_cells(combined)
        selection = triage_out[triage_out["mode"] == "selection"]
        shown_by_ll144 = pd.DataFrame(
            {
                "table": selection["table"].to_numpy(),
                "category": selection["category"].to_numpy(),
                "n_l": selection["n"].map(is_hidden).to_numpy(dtype=bool),
                "count_l": selection["count"].map(is_hidden).to_numpy(dtype=bool),
            }
        )
        pairs = cells.merge(shown_by_ll144, on=["table", "category"])
        new_audit = pd.DataFrame(
            {
                "step": TRIAGE_STEP,
                "track": pairs["track"],
                "attribute": pairs["table"].map(_LL144_ATTRIBUTE),
                "group": pairs["category"],
                "n": pairs["n_l"] & ~pairs["n"],
                "selected": pairs["count_l"] & ~pairs["selected"],
            }
        )
        new_ll144 = pd.DataFrame(
            {
                "mode": "selection",
                "table": pairs["table"],
                "category": pairs["category"],
                "n": pairs["n"] & ~pairs["n_l"],
                "count": pairs["selected"] & ~pairs["count_l"],
            }
        )
        if not (new_audit[["n", "selected"]].any().any() or new_ll144[["n", "count"]].any().any()):
            break
        force_audit = _union(force_audit, new_audit, ["step", "track", "attribute", "group"])
        force_ll144 = _union(force_ll144, new_ll144, ["mode", "table", "category"])
    published, unknowns = _split_combined(combined, audit_result.unknowns)
    return published, unknowns, triage_out


def _union(old: pd.DataFrame | None, new: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    both = new if old is None else pd.concat([old, new], ignore_index=True)
    return both.groupby(keys, as_index=False, sort=False).any()


@dataclass(frozen=True)
class FairnessTables:
    """Everything the Fairness page and the report publish, already suppressed."""

    adverse_impact: pd.DataFrame
    unknowns: pd.DataFrame
    ll144_triage: pd.DataFrame
    ll144_summary_html: str
    ll144_notes: tuple[str, ...]
    k: int


def fairness_tables(
    journeys: pd.DataFrame,
    demographics: pd.DataFrame,
    llm_scores: pd.DataFrame,
    *,
    k: int = 5,
    min_share: float = MIN_SHARE,
    min_comparator_share: float = MIN_COMPARATOR_SHARE,
    alpha: float = 0.05,
) -> FairnessTables:
    """The audit, the unknowns and the LL144 tables, suppressed at `k`, plus the LL144 summary,
    from per-application frames (`load_inputs`); see `audit` and
    `signalboard.analysis.ll144.ll144_audit` for the definitions. The page and the report read
    the warehouse through `fairness_tables_from_db`, which gives the same tables.
    """
    cells = cells_from_frames(journeys, demographics, llm_scores)
    return fairness_tables_from_cells(
        cells, k=k, min_share=min_share, min_comparator_share=min_comparator_share, alpha=alpha
    )


def fairness_tables_from_cells(
    cells: pd.DataFrame,
    *,
    k: int = 5,
    min_share: float = MIN_SHARE,
    min_comparator_share: float = MIN_COMPARATOR_SHARE,
    alpha: float = 0.05,
) -> FairnessTables:
    """`fairness_tables` from `queries/fairness_cells.sql` rows (or `cells_from_frames`)."""
    result = audit_from_counts(
        step_counts_from_cells(cells),
        min_share=min_share,
        min_comparator_share=min_comparator_share,
        alpha=alpha,
    )
    triage = ll144.ll144_from_cells(cells, min_share=min_share)
    # The LL144 tables are published in full (ll144.publish_ll144: the rule requires every
    # category's figures), so there is nothing of theirs for the audit's suppression to follow.
    published, unknowns = suppress_audit(result, k=k)
    triage_published = ll144.publish_ll144(triage.table)
    return FairnessTables(
        adverse_impact=published,
        unknowns=unknowns,
        ll144_triage=triage_published,
        ll144_summary_html=ll144.render_summary_html(triage, triage_published, k=k),
        ll144_notes=ll144.notes(triage),
        k=k,
    )


ADVERSE_IMPACT_DESCRIPTION = (
    "Per step, track, attribute and group: selection rate, impact ratio against the "
    "comparator (the highest-rate group holding at least the minimum comparator share), "
    "four-fifths flag (exact integer comparison), and one comparison with the comparator: "
    "score interval for the ratio and the score (pooled z) test it inverts, so the two agree; "
    "where an expected count is under 5, Fisher's exact p and the status too_few_to_test. "
    "Benjamini-Hochberg q per funnel step over every pair of groups that could have been the "
    "comparison; shortfall, flip-flop and status."
)

TOO_MANY_BITS = "need more than 127 bits"
"""Part of the error `queries/fairness_cells.sql` raises when the self-ID values do not fit."""


def load_cells(
    con: duckdb.DuckDBPyConnection,
    *,
    params: Mapping[str, Any] | None = None,
    queries_dir: Path | None = None,
) -> pd.DataFrame:
    """`queries/fairness_cells.sql` with the global filters `params`: the fairness cells.

    A warehouse whose self-ID attributes have too many values to pack into the query's 127 bits
    (some dozen attributes) gets the same rows from the per-application frames instead: slower,
    never wrong.
    """
    try:
        return run_query(con, "fairness_cells", params or {}, queries_dir=queries_dir)
    except duckdb.Error as error:
        if TOO_MANY_BITS not in str(error):
            raise
    journeys = run_query(con, "application_journeys", params or {}, queries_dir=queries_dir)
    demographics = run_query(con, "fairness_demographics", queries_dir=queries_dir)
    llm = run_query(con, "ll144_llm_scores", queries_dir=queries_dir)
    return cells_from_frames(journeys, demographics, llm)


def fairness_tables_from_db(
    con: duckdb.DuckDBPyConnection,
    *,
    params: Mapping[str, Any] | None = None,
    k: int = 5,
    queries_dir: Path | None = None,
    min_share: float = MIN_SHARE,
    min_comparator_share: float = MIN_COMPARATOR_SHARE,
    alpha: float = 0.05,
) -> FairnessTables:
    """`fairness_tables` of the warehouse behind `con` with the global filters `params`
    (start_date, end_date, roles, cohorts), suppressed at `k`.

    The counting happens in DuckDB (`queries/fairness_cells.sql`): at a million applications
    only a few thousand rows reach pandas, and the result is small enough for the dashboard to
    cache (`ui.cached_on_warehouse`).
    """
    cells = load_cells(con, params=params, queries_dir=queries_dir)
    return fairness_tables_from_cells(
        cells, k=k, min_share=min_share, min_comparator_share=min_comparator_share, alpha=alpha
    )


def load_inputs(
    con: duckdb.DuckDBPyConnection, *, settings: Settings, params: dict | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The three per-application inputs of `fairness_tables`: journeys, demographics and LLM
    scores (for tests and callers that want the rows; the page and report use
    `fairness_tables_from_db`)."""
    folder = settings.queries_dir
    journeys = run_query(con, "application_journeys", params or {}, queries_dir=folder)
    demographics = run_query(con, "fairness_demographics", queries_dir=folder)
    llm = run_query(con, "ll144_llm_scores", queries_dir=folder)
    return journeys, demographics, llm


def compute(con: duckdb.DuckDBPyConnection, *, settings: Settings) -> FairnessTables:
    """The section's one computation for the report: `fairness_tables_from_db` of the whole
    warehouse, suppressed at `settings.min_cell_size`. `report`, `report_tables` and
    `report_files` publish from it."""
    return fairness_tables_from_db(
        con,
        k=settings.min_cell_size,
        queries_dir=settings.queries_dir,
        min_comparator_share=settings.min_comparator_share,
    )


def publish_tables(tables: FairnessTables) -> list[ReportTable]:
    """adverse_impact.csv, unknowns.csv and ll144_triage.csv of one computation."""
    k = tables.k
    return [
        ReportTable(
            name="adverse_impact",
            title="Adverse impact across the funnel",
            frame=tables.adverse_impact,
            description=ADVERSE_IMPACT_DESCRIPTION,
            notes=(
                "Groups under 2% of a table are shown but not ranked (excluded_from_ir); the "
                "comparator holds at least SIGNALBOARD_MIN_COMPARATOR_SHARE of its table.",
                f"Counts under {k} are shown as <{k}; * marks a count hidden so that a small "
                "one cannot be worked out from the totals.",
            ),
        ),
        ReportTable(
            name="unknowns",
            title="Applicants with an unknown attribute",
            frame=tables.unknowns,
            description="Left out of each adverse-impact table and counted here.",
        ),
        ReportTable(
            name="ll144_triage",
            title="NYC Local Law 144 tables for the LLM triage",
            frame=tables.ll144_triage,
            description=(
                "Selection rate (triage pass) and scoring rate (LLM score above the median of the "
                "full sample) by sex, race/ethnicity and the 14 intersectional categories, with "
                "impact ratios; the Unknown rows are left out of each table and counted. Published "
                "in full as 6 RCNY 5-303 requires (no small-cell suppression); ir_note says why a "
                "category under 2% has no impact ratio."
            ),
            notes=tables.ll144_notes,
        ),
    ]


def publish_files(tables: FairnessTables) -> dict[str, str]:
    """ll144_summary.html of one computation: the one-page LL144 bias-audit summary."""
    return {"ll144_summary.html": tables.ll144_summary_html}


def report(con: duckdb.DuckDBPyConnection, *, settings: Settings) -> SectionReport:
    """The section's tables and files from one computation (what `signalboard report` calls)."""
    tables = compute(con, settings=settings)
    return SectionReport(tables=publish_tables(tables), files=publish_files(tables))


def report_tables(con: duckdb.DuckDBPyConnection, *, settings: Settings) -> list[ReportTable]:
    """adverse_impact.csv, unknowns.csv and ll144_triage.csv, suppressed at settings.min_cell_size."""
    return publish_tables(compute(con, settings=settings))


def report_files(con: duckdb.DuckDBPyConnection, *, settings: Settings) -> dict[str, str]:
    """ll144_summary.html, written beside report.html."""
    return publish_files(compute(con, settings=settings))
