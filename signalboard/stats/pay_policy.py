"""Pay policy rules: flags per application and the group-neutral remediation plan."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

PLAN_COLUMNS = [
    "application_id", "current_usd", "proposed_usd", "raise_usd", "predicted_real_usd",
    "residual_pct",
]  # fmt: skip


def remediation_plan(
    merged: pd.DataFrame, *, tolerance_pct: float
) -> tuple[pd.DataFrame, np.ndarray]:
    """The plan from applications joined to their predictions, and the rows of `merged` it
    raises (in `merged`'s order)."""
    real = merged["real_stipend_usd"].to_numpy(float)
    predicted = merged["predicted_real_usd"].to_numpy(float)
    current = merged["stipend_usd"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        below = np.flatnonzero(real < predicted * (1 - tolerance_pct / 100))
    proposed = np.round(merged["predicted_usd"].to_numpy(float)[below], 2)
    raise_usd = np.round(proposed - current[below], 2)
    with np.errstate(invalid="ignore"):
        raised = raise_usd > 0
    rows, proposed, raise_usd = below[raised], proposed[raised], raise_usd[raised]
    ids = merged["application_id"].to_numpy()[rows]
    plan = pd.DataFrame(
        {
            "application_id": ids,
            "current_usd": current[rows],
            "proposed_usd": proposed,
            "raise_usd": raise_usd,
            "predicted_real_usd": predicted[rows],
            "residual_pct": merged["residual_pct"].to_numpy(float)[rows],
        },
        columns=PLAN_COLUMNS,
    )
    # largest raise first, then by application id; ids already in order need no string sort
    if strictly_increasing(ids):
        order = np.lexsort((np.arange(len(rows)), -raise_usd))
    else:
        order = plan.sort_values(
            ["raise_usd", "application_id"], ascending=[False, True], kind="stable"
        ).index.to_numpy()
    return plan.iloc[order].reset_index(drop=True), rows[order]


def policy_flags(
    applications: pd.DataFrame,
    predictions: pd.DataFrame | None = None,
    *,
    pay_floor_per_hour: float = 20.0,
    tiers: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per application and problem: application_id, reason, detail.

    Reasons: ``unpaid`` (stipend 0), ``below_pay_floor`` (stipend per estimated hour below
    `pay_floor_per_hour` US dollars), ``outside_tier`` (outside the cohort's tier's min_usd ..
    max_usd when a tier table with cohort_id, tier, min_usd, max_usd is given),
    ``missing_cost_of_living`` (no price level for the place: real value blank, stipend kept),
    ``missing_fx_rate`` (no market rate for the currency), ``low_outlier`` (below -2 SD of the
    group-neutral prediction).

    Examples
    --------
    >>> apps = pd.DataFrame({"application_id": ["a"], "stipend_usd": [100.0],
    ...     "stipend_amount": [100.0], "stipend_currency": ["USD"], "estimated_hours": [10.0],
    ...     "price_level": [100.0], "country": ["US"], "region": ["US-CA"], "metro": [None],
    ...     "cohort_id": ["c1"]})
    >>> policy_flags(apps)["reason"].tolist()
    ['below_pay_floor']
    """
    apps = applications
    parts: list[pd.DataFrame] = []
    ids = apps["application_id"].to_numpy()

    # Details are written for the flagged rows only (a million applications, a few percent
    # flagged): `detail` gets the flagged rows' positions.
    def add(mask: pd.Series, reason: str, detail: Any) -> None:
        rows = np.flatnonzero(mask.to_numpy(dtype=bool, na_value=False))
        if len(rows):
            parts.append(
                pd.DataFrame(
                    {"application_id": ids[rows], "reason": reason, "detail": detail(rows)}
                )
            )

    def text(column: str, rows: np.ndarray, fill: str) -> list[str]:
        values = apps[column].iloc[rows]
        return [fill if v is None or v != v else str(v) for v in values.astype(object)]

    usd = apps["stipend_usd"]
    add(apps["stipend_amount"].eq(0), "unpaid", lambda rows: "stipend is 0 (unpaid trial)")
    hourly = usd / apps["estimated_hours"].where(apps["estimated_hours"] > 0)
    hourly_values = hourly.to_numpy(float)
    add(
        usd.gt(0) & hourly.lt(pay_floor_per_hour),
        "below_pay_floor",
        lambda rows: [
            f"${h:,.2f} per estimated hour < ${pay_floor_per_hour:,.2f} floor"
            for h in hourly_values[rows]
        ],
    )
    if tiers is not None and len(tiers):
        bounds = (
            apps[["cohort_id"]]
            .astype(object)
            .merge(tiers[["cohort_id", "tier", "min_usd", "max_usd"]], on="cohort_id", how="left")
        )
        bounds.index = apps.index
        outside = usd.notna() & (usd.lt(bounds["min_usd"]) | usd.gt(bounds["max_usd"]))
        add(
            outside,
            "outside_tier",
            lambda rows: [
                f"${u:,.2f} outside tier {t} (${lo:,.2f}-${hi:,.2f})"
                for u, t, lo, hi in zip(
                    usd.to_numpy(float)[rows],
                    bounds["tier"].to_numpy()[rows],
                    bounds["min_usd"].to_numpy(float)[rows],
                    bounds["max_usd"].to_numpy(float)[rows],
                    strict=True,
                )
            ],
        )

    def place(rows: np.ndarray) -> list[str]:
        return [
            "no price level for "
            + f"{country} {region}{f' metro {metro}' if metro else ''}".strip()
            + "; stipend kept, real value blank"
            for country, region, metro in zip(
                text("country", rows, "?"),
                text("region", rows, ""),
                text("metro", rows, ""),
                strict=True,
            )
        ]

    add(usd.notna() & apps["price_level"].isna(), "missing_cost_of_living", place)
    add(
        usd.isna(),
        "missing_fx_rate",
        lambda rows: [
            f"no market rate for currency {c}" for c in text("stipend_currency", rows, "(blank)")
        ],
    )
    if predictions is not None and len(predictions):
        low = predictions[predictions["low_outlier"]]
        if len(low):
            parts.append(
                pd.DataFrame(
                    {
                        "application_id": low["application_id"].to_numpy(),
                        "reason": "low_outlier",
                        "detail": [
                            f"{p:.1f}% ({s:.1f} SD) below the group-neutral prediction"
                            for p, s in zip(-low["residual_pct"], -low["residual_sd"], strict=True)
                        ],
                    }
                )
            )
    if not parts:
        return pd.DataFrame(columns=["application_id", "reason", "detail"])
    # one reason per part: parts in reason order whose ids increase are already sorted by
    # (reason, application_id), as the rows of applications in id order give them
    parts.sort(key=lambda part: part["reason"].iloc[0])
    if all(strictly_increasing(part["application_id"].to_numpy()) for part in parts):
        return pd.concat(parts, ignore_index=True)
    return (
        pd.concat(parts, ignore_index=True)
        .sort_values(["reason", "application_id"])
        .reset_index(drop=True)
    )


def strictly_increasing(values: np.ndarray) -> bool:
    """Each value greater than the one before (no repeats): a sort by them keeps the order."""
    if len(values) < 2:
        return True
    try:
        with np.errstate(invalid="ignore"):
            return bool(np.all(values[1:] > values[:-1]))
    except TypeError:  # ids of mixed types (None among texts): let the sort decide
        return False
