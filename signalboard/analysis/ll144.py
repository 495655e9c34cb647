"""NYC Local Law 144 bias-audit tables for the LLM triage, and their one-page HTML summary.

The LLM triage is an automated employment decision tool: it scores every submitted deliverable
and only those it passes reach the human graders. The DCWP rule (6 RCNY 5-300..5-304, in force
from 2023-07-05) asks for, per category of sex, of race/ethnicity and of the 14 intersectional
sex x race/ethnicity cells:

- selection rate: the share of the category the tool passed (here: triage_passed), and
- scoring rate: the share of the category scoring above the median score of the full sample,

each with its impact ratio (rate / the highest category rate), plus the number of individuals
whose sex or race/ethnicity is unknown (left out of the tables). A category under 2% of the data
may be left out of the impact-ratio calculation; its n and rate are still given.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from etl.contract import RACE_ETHNICITY_VALUES, UNKNOWN
from signalboard.stats.adverse_impact import impact_table
from signalboard.stats.fairness_cells import INTERSECTION, cells_from_frames, furthest_from_mask
from signalboard.stats.suppression import is_hidden, suppress_small_cells

Mode = Literal["selection", "scoring"]
SEXES: tuple[str, ...] = ("Male", "Female")
TABLES: tuple[str, ...] = ("sex", "race_ethnicity", "intersectional")
HISPANIC = "Hispanic or Latino"
LL144_COLUMNS: tuple[str, ...] = (
    "mode",
    "table",
    "category",
    "n",
    "count",
    "rate",
    "impact_ratio",
    "excluded_from_ir",
    "suppressed",
    "ir_note",
)
EXCLUSION_NOTE = (
    "excluded from the impact ratios: under 2% of the individuals assessed "
    "(6 RCNY 5-301(b) and (d) allow leaving such a category out)"
)
"""Why a category has no impact ratio: the only reason the rule allows (`ir_note`)."""
UNKNOWN_NOTE = "unknown sex or race/ethnicity: counted, not a category of the impact ratios"


def _ir_notes(table: pd.DataFrame) -> np.ndarray:
    """`ir_note` of each row: why it has no impact ratio, empty when it has one."""
    unknown = (table["category"] == UNKNOWN).to_numpy()
    excluded = table["excluded_from_ir"].to_numpy(dtype=bool)
    return np.where(unknown, UNKNOWN_NOTE, np.where(excluded, EXCLUSION_NOTE, ""))


TIE_RULE = (
    "Scoring rate: share of the category whose LLM score (mean over the rubric axes) is strictly "
    "above the median of every scored individual, unknowns included; a score equal to the median "
    "is not above it."
)


def intersectional_categories(sexes: tuple[str, ...] = SEXES) -> list[str]:
    """The rule's intersectional rows, "<race_ethnicity>|<sex>", in its order: Hispanic or Latino
    by sex, then each non-Hispanic race for the first sex, then for the second.

    Examples
    --------
    >>> intersectional_categories()[:3]
    ['Hispanic or Latino|Male', 'Hispanic or Latino|Female', 'White|Male']
    >>> len(intersectional_categories())
    14
    """
    cells = [f"{HISPANIC}|{sex}" for sex in sexes]
    for sex in sexes:
        cells += [f"{race}|{sex}" for race in RACE_ETHNICITY_VALUES if race != HISPANIC]
    return cells


def rates_table(counts: pd.DataFrame, *, min_share: float = 0.02) -> pd.DataFrame:
    """Rates and impact ratios of one LL144 table from its counts.

    Impact ratio = category rate / highest category rate, computed from the counts (not from
    rounded rates); categories under `min_share` of the table's individuals are excluded from
    the ranking (`excluded_from_ir`, impact_ratio missing) but keep n and rate.

    Parameters
    ----------
    counts
        One row per category: `category`, `n` (individuals assessed), `count` (selected, or
        scoring above the median).

    Examples
    --------
    >>> counts = pd.DataFrame({"category": ["Male", "Female"], "n": [1390, 1181],
    ...                        "count": [667, 555]})
    >>> rates_table(counts)["impact_ratio"].round(3).tolist()
    [1.0, 0.979]
    """
    frame = counts.rename(columns={"category": "group", "count": "selected"})
    out = impact_table(frame[["group", "n", "selected"]], min_share=min_share)
    return pd.DataFrame(
        {
            "category": out["group"],
            "n": out["n"].astype("int64"),
            "count": out["selected"].astype("int64"),
            "rate": out["selection_rate"],
            "impact_ratio": out["impact_ratio"],
            "excluded_from_ir": out["excluded_from_ir"].astype(bool),
        }
    )


@dataclass(frozen=True)
class LL144Result:
    """The LL144 tables before suppression, and the facts the summary states."""

    table: pd.DataFrame
    n_selection: int
    n_scoring: int
    median_score: float
    ties_at_median: int
    unknown: dict[tuple[str, str], int]
    date_start: dt.date | None
    date_end: dt.date | None


_ATTRIBUTES: dict[str, str] = {
    "sex": "sex",
    "race_ethnicity": "race_ethnicity",
    "intersectional": INTERSECTION,
}
"""Each LL144 table and the attribute of `queries/fairness_cells.sql` it is a breakdown of."""


def _table_rows(
    mode: Mode, sample: pd.DataFrame, hit: np.ndarray, *, min_share: float
) -> tuple[list[pd.DataFrame], dict[tuple[str, str], int]]:
    """One mode's three tables from cells: `sample` holds attribute, group and applications,
    `hit` says which rows were selected (or scored above the median)."""
    rows: list[pd.DataFrame] = []
    unknown: dict[tuple[str, str], int] = {}
    weight = sample["applications"].to_numpy(dtype=np.int64)
    frame = pd.DataFrame(
        {
            "attribute": sample["attribute"].to_numpy(),
            "category": sample["group"].to_numpy(),
            "n": weight,
            "hit": weight * hit.astype(np.int64),
        }
    )
    sexes = frame.loc[frame["attribute"] == "sex", "category"]
    extra_sexes = tuple(
        sorted(set(sexes) - set(SEXES) - {UNKNOWN})
    )  # another recorded sex value gets its own rows after Male and Female
    order = {
        "sex": list(SEXES) + list(extra_sexes),
        "race_ethnicity": list(RACE_ETHNICITY_VALUES),
        "intersectional": intersectional_categories(SEXES + extra_sexes),
    }
    for table, attribute in _ATTRIBUTES.items():
        part_frame = frame[frame["attribute"] == attribute]
        grouped = part_frame.groupby("category")[["n", "hit"]].sum()
        known = [c for c in order[table]] + sorted(
            set(grouped.index) - set(order[table]) - {UNKNOWN}
        )
        counts = pd.DataFrame(
            {
                "category": known,
                "n": grouped["n"].reindex(known, fill_value=0).to_numpy(),
                "count": grouped["hit"].reindex(known, fill_value=0).to_numpy(),
            }
        )
        part = rates_table(counts, min_share=min_share)
        nu = int(grouped["n"].get(UNKNOWN, 0))
        su = int(grouped["hit"].get(UNKNOWN, 0))
        unknown[(mode, table)] = nu
        # Unknowns are left out of the table and reported as a count (the rule's "unknown").
        unknown_row = pd.DataFrame(
            {
                "category": [UNKNOWN],
                "n": [nu],
                "count": [su],
                "rate": [np.nan],
                "impact_ratio": [np.nan],
                "excluded_from_ir": [True],
            }
        )
        part = pd.concat([part, unknown_row], ignore_index=True)
        part.insert(0, "table", table)
        part.insert(0, "mode", mode)
        rows.append(part)
    return rows, unknown


def _median_and_ties(scores: np.ndarray, weights: np.ndarray) -> tuple[float, int]:
    """`np.median` of the scores repeated `weights` times, and how many equal it, without
    repeating them: the middle one (odd count) or the mean of the middle two (even)."""
    total = int(weights.sum())
    if total == 0:
        return float("nan"), 0
    order = np.argsort(scores, kind="stable")
    values, ends = scores[order], np.cumsum(weights[order])
    low = values[np.searchsorted(ends, (total - 1) // 2, side="right")]
    high = values[np.searchsorted(ends, total // 2, side="right")]
    median = float(np.median(np.array([low, high])))
    return median, int(weights[scores == median].sum())


def ll144_from_cells(cells: pd.DataFrame, *, min_share: float = 0.02) -> LL144Result:
    """The LL144 selection-rate and scoring-rate tables from `queries/fairness_cells.sql` rows.

    See `ll144_audit` for the definitions; this is the same computation on counts, so a million
    applications cost no more than a sample.
    """
    scored = cells[
        cells["llm_score"].notna() & cells["attribute"].isin(list(_ATTRIBUTES.values()))
    ].reset_index(drop=True)
    furthest = furthest_from_mask(scored["reached_mask"].to_numpy(dtype=np.int64))
    undecided = scored["undecided"].to_numpy(dtype=bool)

    # Selection: the individuals the tool assessed (scored by the LLM) whose triage decision is
    # in: passed, or rejected at submission; in progress or withdrawn there is no decision yet.
    submitted, triaged = 2, 3  # etl.contract.STAGES positions
    decided = (furthest >= triaged) | ((furthest == submitted) & ~undecided)
    selection = scored[decided].reset_index(drop=True)
    sel_rows, unknown = _table_rows(
        "selection", selection, furthest[decided] >= triaged, min_share=min_share
    )

    # Means of a few axis scores: round away float noise so equal means tie exactly.
    score = scored["llm_score"].to_numpy(dtype=float).round(9)
    # Each individual is in every attribute's rows once; the sex rows count each one once.
    is_sex = (scored["attribute"] == "sex").to_numpy()
    median, ties = _median_and_ties(
        score[is_sex], scored["applications"].to_numpy(dtype=np.int64)[is_sex]
    )
    score_rows, score_unknown = _table_rows("scoring", scored, score > median, min_share=min_share)
    unknown.update(score_unknown)

    table = pd.concat(sel_rows + score_rows, ignore_index=True)
    table["suppressed"] = False
    table["ir_note"] = _ir_notes(table)
    people = scored[is_sex]
    first = pd.to_datetime(people["first_at"]).min()
    last = pd.to_datetime(people["last_at"]).max()
    return LL144Result(
        table=table[list(LL144_COLUMNS)],
        n_selection=int(selection.loc[selection["attribute"] == "sex", "applications"].sum()),
        n_scoring=int(people["applications"].sum()),
        median_score=median,
        ties_at_median=ties,
        unknown=unknown,
        date_start=None if pd.isna(first) else first.date(),
        date_end=None if pd.isna(last) else last.date(),
    )


def ll144_audit(
    journeys: pd.DataFrame,
    demographics: pd.DataFrame,
    llm_scores: pd.DataFrame,
    *,
    min_share: float = 0.02,
) -> LL144Result:
    """The LL144 selection-rate and scoring-rate tables of the LLM triage.

    Selection: every application the LLM scored whose triage decision is in (passed, or rejected
    at submission; still in progress or withdrawn there: left out); selected = reached
    `triage_passed`. Scoring: every application the LLM scored; scoring above
    the median = LLM score strictly above the median of all scored applications (ties stated).

    Parameters
    ----------
    journeys
        `queries/application_journeys.sql` rows (filters applied there apply here).
    demographics
        `queries/fairness_demographics.sql` rows.
    llm_scores
        `queries/ll144_llm_scores.sql` rows (application_id, llm_score, llm_scored_at).
    min_share
        Categories under this share are excluded from the impact ratios (the rule's 2%).
    """
    sex_race = demographics[demographics["attribute"].isin(["sex", "race_ethnicity"])]
    cells = cells_from_frames(journeys, sex_race, llm_scores)
    return ll144_from_cells(cells, min_share=min_share)


def suppress_ll144(
    table: pd.DataFrame, *, k: int, force: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The LL144 tables as they may leave the system: small n and counts "<k", complements "*".

    Each table (sex, race/ethnicity, intersectional) is a partition holding its Unknown row;
    within it the two modes and the categories are cross-classified, because the same people
    are often in both the selection and the scoring sample. `force` (mode, table, category, n,
    count; booleans) names cells to hide whatever their value (counts another file shows).
    """
    if len(table) == 0:
        return table.copy()
    also = None
    if force is not None and len(force):
        keys = ["mode", "table", "category"]
        forced = table[keys].merge(
            force.rename(columns={"n": "_fn", "count": "_fc"}), on=keys, how="left"
        )
        also = {
            "n": forced["_fn"].eq(True).to_numpy(dtype=bool),
            "count": forced["_fc"].eq(True).to_numpy(dtype=bool),
        }
    out = suppress_small_cells(
        table.drop(columns="suppressed"),
        count_columns=["n", "count"],
        k=k,
        rate_columns=["rate", "impact_ratio"],
        group_columns=["table"],
        cross_columns=["mode", "category"],
        also_hide=also,
    )
    return out[list(LL144_COLUMNS)]


def publish_ll144(table: pd.DataFrame) -> pd.DataFrame:
    """The LL144 tables as the rule requires them published: every category's n, count, rate
    and impact ratio, and the number of unknowns, without small-cell suppression.

    6 RCNY 5-303 requires the number of individuals, the rate and the impact ratio of every
    category in the published summary (its example B shows a category of 4 people); the only
    figure it lets an auditor leave out is the impact ratio of a category under 2% of the
    individuals assessed, and then the summary must say so (`ir_note`) and still give the
    category's n and rate. So these tables are a legal disclosure and are not suppressed at k.
    """
    out = table.copy()
    out["suppressed"] = False
    if "ir_note" not in out.columns:
        out["ir_note"] = _ir_notes(out)
    return out[list(LL144_COLUMNS)]


def _fmt_rate(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return f"{float(value):.1%}"


def _fmt_ratio(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return f"{float(value):.3f}"


def _fmt_count(value: object) -> str:
    return html.escape(str(value)) if is_hidden(value) else f"{int(value):,}"  # type: ignore[call-overload]


def render_summary_html(
    result: LL144Result,
    published: pd.DataFrame,
    *,
    k: int,
    audit_date: dt.date | None = None,
    tool_distribution_date: str | None = None,
    employer: str = "the employer",
) -> str:
    """One self-contained HTML page: the bias-audit summary in the layout of 6 RCNY 5-303.

    Date of the audit, source and explanation of the data with its date range, the number of
    individuals assessed and of unknowns, then the selection-rate and scoring-rate tables by
    sex, race/ethnicity and intersectional category with impact ratios. `published` is the
    suppressed table from `suppress_ll144`.

    Examples
    --------
    >>> result = LL144Result(pd.DataFrame(columns=list(LL144_COLUMNS)), 0, 0, float("nan"), 0,
    ...                      {}, None, None)
    >>> "<h1>Bias audit summary" in render_summary_html(result, result.table, k=5)
    True
    """
    audit_date = audit_date or dt.date.today()
    period = (
        f"{result.date_start.isoformat()} to {result.date_end.isoformat()}"
        if result.date_start and result.date_end
        else "no data"
    )
    titles = {
        "sex": "Sex categories",
        "race_ethnicity": "Race/ethnicity categories",
        "intersectional": "Intersectional categories",
    }
    head = {
        "selection": ("Number of applicants", "Number selected", "Selection rate"),
        "scoring": ("Number of applicants", "Number above median", "Scoring rate"),
    }
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Bias audit summary: LLM triage</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:60rem;color:#222;"
        "font-size:.85rem}table{border-collapse:collapse;margin:.3rem 0 1rem}"
        "th,td{padding:.15rem .5rem;border:1px solid #bbb;text-align:right}"
        "td:first-child,th:first-child{text-align:left}th{background:#eee}"
        "h1{font-size:1.3rem}h2{font-size:1.05rem;margin-top:1.2rem}h3{font-size:.95rem}"
        "dl{display:grid;grid-template-columns:max-content auto;gap:.1rem 1rem}dt{font-weight:600}"
        "@media print{body{margin:0}}</style></head><body>",
        "<h1>Bias audit summary: automated employment decision tool (LLM triage)</h1>",
        "<dl>",
        f"<dt>Date of the bias audit</dt><dd>{audit_date.isoformat()}</dd>",
        "<dt>Distribution date of the tool</dt>"
        f"<dd>{html.escape(tool_distribution_date or 'not stated')}</dd>",
        "<dt>Source and explanation of the data</dt>"
        f"<dd>Historical data of {html.escape(employer)}: deliverables submitted in paid "
        "micro-internships and triaged by the LLM before human grading. Sex and race/ethnicity "
        "are voluntary self-identification.</dd>",
        f"<dt>Data period</dt><dd>{period}</dd>",
        f"<dt>Individuals assessed</dt><dd>selection: {result.n_selection:,}; scoring: "
        f"{result.n_scoring:,}</dd>",
    ]
    for mode in ("selection", "scoring"):
        for table in TABLES:
            parts.append(
                f"<dt>Unknown {table.replace('_', '/')} ({mode})</dt>"
                f"<dd>{_fmt_count(_unknown_shown(published, mode, table, result, k))}</dd>"
            )
    parts.append("</dl>")
    for mode in ("selection", "scoring"):
        label = "Selection rates (triage pass)" if mode == "selection" else "Scoring rates"
        parts.append(f"<h2>{label}</h2>")
        if mode == "scoring":
            parts.append(
                f"<p>Median LLM score of the full sample: {result.median_score:.3f}; "
                f"{result.ties_at_median:,} individuals scored exactly the median. "
                f"{html.escape(TIE_RULE)}</p>"
            )
        for table in TABLES:
            rows = published[
                (published["mode"] == mode)
                & (published["table"] == table)
                & (published["category"] != UNKNOWN)
            ]
            parts.append(f"<h3>{titles[table]}</h3><table><tr><th>Category</th>")
            parts.append(
                "".join(f"<th>{h}</th>" for h in head[mode]) + "<th>Impact ratio</th></tr>"
            )
            for row in rows.itertuples(index=False):
                category = html.escape(str(row.category).replace("|", ", "))
                ratio = (
                    "excluded: under 2% of individuals assessed"
                    if row.excluded_from_ir
                    else _fmt_ratio(row.impact_ratio)
                )
                parts.append(
                    f"<tr><td>{category}</td><td>{_fmt_count(row.n)}</td>"
                    f"<td>{_fmt_count(row.count)}</td><td>{_fmt_rate(row.rate)}</td>"
                    f"<td>{ratio}</td></tr>"
                )
            parts.append("</table>")
    excluded = published[published["excluded_from_ir"].astype(bool)]
    parts.append(
        "<p>Impact ratio: a category's rate divided by the highest category rate, from the "
        "counts. A category under 2% of the individuals assessed has no impact ratio (6 RCNY "
        "5-301 allows leaving it out of the calculation); its number of applicants and rate are "
        f"shown all the same ({len(excluded)} such rows here). Every figure the rule requires is "
        "shown in full, small categories included: this summary is a legal disclosure and is "
        "not subject to the report's small-cell suppression.</p></body></html>"
    )
    return "\n".join(parts)


def _unknown_shown(
    published: pd.DataFrame, mode: str, table: str, result: LL144Result, k: int
) -> object:
    match = published[
        (published["mode"] == mode)
        & (published["table"] == table)
        & (published["category"] == UNKNOWN)
    ]
    if len(match):
        return match["n"].iloc[0]
    return result.unknown.get((mode, table), 0)


def notes(result: LL144Result) -> tuple[str, ...]:
    """The facts a reader of the LL144 tables needs: data period, sample sizes, median and ties."""
    period = (
        f"{result.date_start} to {result.date_end}" if result.date_start else "no data in range"
    )
    return (
        f"Data period {period}; {result.n_selection} individuals in the selection tables, "
        f"{result.n_scoring} in the scoring tables.",
        f"Median LLM score {result.median_score:.3f}; {result.ties_at_median} tied at the "
        f"median. {TIE_RULE}",
    )
