"""Fairness cells: applications counted by track, stages reached, open decision, LLM score and
self-ID group, the common input of the adverse-impact audit (`signalboard.analysis.fairness`) and
the LL144 tables (`signalboard.analysis.ll144`).

At scale the cells come from `queries/fairness_cells.sql` (a million applications become a few
thousand rows); `cells_from_frames` computes the same rows from per-application frames, for
callers that hold those, and as the reference the SQL is tested against.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from etl.contract import STAGES, UNKNOWN

INTERSECTION = "sex x race_ethnicity"
"""Attribute name of the intersectional groups; a group is "<race_ethnicity>|<sex>"."""


def attribute_values(journeys: pd.DataFrame, demographics: pd.DataFrame) -> pd.DataFrame:
    """Each application's group per attribute: columns application_id, attribute, group.

    Candidates without a value are `Unknown`; the intersection is Unknown when either part is.
    Attributes are ordered sex, race/ethnicity, their intersection, then the rest by name.
    """
    apps = journeys[["application_id", "candidate_id"]]
    attrs = sorted(set(demographics["attribute"]) | {"sex", "race_ethnicity"})
    attrs = ["sex", "race_ethnicity"] + [a for a in attrs if a not in ("sex", "race_ethnicity")]
    wide = (
        demographics.drop_duplicates(["candidate_id", "attribute"])
        .pivot(index="candidate_id", columns="attribute", values="value")
        .reindex(columns=attrs)
    )
    merged = apps.merge(wide, left_on="candidate_id", right_index=True, how="left")
    merged[attrs] = merged[attrs].fillna(UNKNOWN).astype(str)
    sex, race = merged["sex"], merged["race_ethnicity"]
    merged[INTERSECTION] = np.where((sex == UNKNOWN) | (race == UNKNOWN), UNKNOWN, race + "|" + sex)
    order = ["sex", "race_ethnicity", INTERSECTION] + attrs[2:]
    long = merged.melt(
        id_vars=["application_id"], value_vars=order, var_name="attribute", value_name="group"
    )
    long["attribute"] = pd.Categorical(long["attribute"], categories=order, ordered=True)
    return long


CELL_COLUMNS: tuple[str, ...] = (
    "track",
    "reached_mask",
    "undecided",
    "llm_score",
    "attribute",
    "group",
    "applications",
    "first_at",
    "last_at",
)
"""Columns of `queries/fairness_cells.sql` and of `cells_from_frames`: applications counted by
track, stages reached (bit i for STAGES[i], i >= 1), open decision, LLM score, attribute and
group; first_at/last_at span the application and scoring times of the LLM-scored ones."""


def stage_masks(journeys: pd.DataFrame) -> np.ndarray:
    """Each application's stages reached as bits (bit i: STAGES[i], i >= 1), from the
    `reached_<stage>_at` columns and the furthest stage, whichever the frame has."""
    mask = np.zeros(len(journeys), dtype=np.int64)
    for i, stage in enumerate(STAGES):
        column = f"reached_{stage}_at"
        if i > 0 and column in journeys.columns:
            mask |= journeys[column].notna().to_numpy().astype(np.int64) << i
    if "furthest_stage_index" in journeys.columns:
        furthest = journeys["furthest_stage_index"].fillna(0).to_numpy(dtype=np.int64)
        mask |= np.where(furthest > 0, np.left_shift(1, furthest), 0)
    return mask


def cells_from_frames(
    journeys: pd.DataFrame,
    demographics: pd.DataFrame,
    llm_scores: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """`queries/fairness_cells.sql` computed from the per-application frames (CELL_COLUMNS).

    The reference the SQL is tested against, and the path of `fairness.step_counts`,
    `fairness.audit` and `ll144.ll144_audit`, whose callers hold journeys rather than a warehouse.
    Per-row work: fine for a sample, not for a million applications
    (`fairness.fairness_tables_from_db` runs the SQL).
    """
    long = attribute_values(journeys, demographics)
    base = pd.DataFrame(
        {
            "application_id": journeys["application_id"].to_numpy(),
            # the LL144 tables do not need a track; without one, no funnel step counts the row
            "track": journeys["track"].to_numpy() if "track" in journeys.columns else None,
            "reached_mask": stage_masks(journeys),
            "undecided": journeys["outcome"].isin(["in_progress", "withdrew"]).to_numpy(),
        }
    )
    if llm_scores is not None and len(llm_scores):
        scored = llm_scores[["application_id", "llm_score", "llm_scored_at"]]
        base["applied_at"] = pd.to_datetime(journeys["applied_at"]).to_numpy()
        base = base.merge(scored, on="application_id", how="left")
        has = base["llm_score"].notna()
        times = pd.DataFrame({"a": base["applied_at"], "s": pd.to_datetime(base["llm_scored_at"])})
        base["first_at"] = times.min(axis=1).where(has)
        base["last_at"] = times.max(axis=1).where(has)
        base = base.drop(columns=["applied_at", "llm_scored_at"])
    else:
        base["llm_score"] = np.nan
        base["first_at"] = pd.NaT
        base["last_at"] = pd.NaT
    long = long.merge(base, on="application_id", how="left")
    long["attribute"] = long["attribute"].astype(str)
    keys = ["track", "reached_mask", "undecided", "llm_score", "attribute", "group"]
    cells = (
        long.groupby(keys, dropna=False, sort=False)
        .agg(
            applications=("application_id", "size"),
            first_at=("first_at", "min"),
            last_at=("last_at", "max"),
        )
        .reset_index()
    )
    return cells[list(CELL_COLUMNS)]


def attribute_order(attributes: object) -> list[str]:
    """Attributes in audit order: sex, race/ethnicity, their intersection, the rest by name."""
    names = set(pd.Series(attributes, dtype=object).astype(str)) | {"sex", "race_ethnicity"}
    rest = sorted(names - {"sex", "race_ethnicity", INTERSECTION})
    return ["sex", "race_ethnicity", INTERSECTION] + rest


def furthest_from_mask(mask: np.ndarray) -> np.ndarray:
    """Furthest stage reached (0 = applied .. 8 = hired): the highest bit of the stage mask."""
    furthest = np.zeros(len(mask), dtype=np.int64)
    for i in range(1, len(STAGES)):
        furthest = np.where((mask >> i) & 1 == 1, i, furthest)
    return furthest
