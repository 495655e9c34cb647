"""The EU/UK gender pay gap reporting view (UK regs 8, 9 and 13; Directive (EU) 2023/970)."""

from __future__ import annotations

import numpy as np
import pandas as pd

EU_GAP_THRESHOLD_PCT = 5.0
"""Directive (EU) 2023/970, art. 10: a gap of at least 5% in a category triggers a joint pay
assessment unless justified by objective, gender-neutral criteria."""


def uk_quartile_bands(pay: pd.Series, sex: pd.Series) -> pd.Series:
    """The quartile pay band (1 = lower .. 4 = upper) of each person, per UK regulation 13.

    Step 1 ranks people from lowest to highest hourly pay; step 2 divides them into four sections
    of (so far as possible) equal size. Regulation 13(2): where people with the same hourly pay
    fall within more than one band, rank them so that the proportions of men and women with that
    pay are the same in each band; here the tied people of each sex are spread evenly through the
    tie (each takes the position (i + 0.5) / n_sex within it), interleaving the sexes.
    """
    if isinstance(sex.dtype, pd.CategoricalDtype) and sex.cat.categories.is_monotonic_increasing:
        sex_code = sex.cat.codes.to_numpy()  # categories in text order: codes sort like text
    else:
        sex_code = pd.factorize(sex.astype(str).to_numpy(), sort=True)[0]
    bands = quartile_bands(pay.to_numpy(float), sex_code)
    return pd.Series(bands, index=pay.index)


def quartile_bands(values: np.ndarray, sex_code: np.ndarray) -> np.ndarray:
    """`uk_quartile_bands` on arrays (`sex_code`: codes that sort like the sexes' texts).

    The full ranking orders people by pay, then by their place in the tie (see above), then by
    sex, then by position. Only a tie that a band boundary cuts needs that order: every other tie
    lies inside one band whatever its order. So one sort by pay gives every band, and the rule
    is applied to the (at most three) cut ties alone.
    """
    n = len(values)
    sizes = [len(a) for a in np.array_split(np.arange(n), 4)]
    band_of_rank = np.repeat(np.arange(1, 5), sizes)
    # any order of a tie will do: a tie inside one band is all one band, and a cut tie is
    # ordered below by position and the tie rule
    order = np.argsort(values)
    bands = np.empty(n, dtype=np.int64)
    bands[order] = band_of_rank
    if n == 0:
        return bands
    ranked = values[order]
    # ties: equal pay; the missing pay (sorted last) ranks as one tie, its people each alone
    missing = np.isnan(ranked)
    new_tie = np.r_[True, (ranked[1:] != ranked[:-1]) & ~(missing[1:] & missing[:-1])]
    tie_starts = np.flatnonzero(new_tie)
    tie_ends = np.r_[tie_starts[1:], n]
    cut_ties = set()
    for cut in np.cumsum(sizes)[:-1]:
        tie = int(np.searchsorted(tie_starts, cut, side="right")) - 1
        if 0 < cut < n and tie_starts[tie] < cut:
            cut_ties.add(tie)
    for tie in sorted(cut_ties):
        low, high = int(tie_starts[tie]), int(tie_ends[tie])
        members = np.sort(order[low:high])  # by position
        member_sex = sex_code[members]
        # each member's place (i + 0.5) / n_sex among the tie's people of their sex
        by_sex = np.argsort(member_sex, kind="stable")
        counts = np.bincount(member_sex[by_sex] - member_sex.min())
        first = np.repeat(np.cumsum(counts) - counts, counts)
        size = np.repeat(counts, counts)
        within = np.empty(len(members))
        within[by_sex] = (np.arange(len(members)) - first + 0.5) / size
        if missing[low]:
            within[:] = 0.5  # missing pay: each person a tie of one, as `!=` treats NaN
        bands[members[np.lexsort((members, member_sex, within))]] = band_of_rank[low:high]
    return bands


def pay_gap_reporting(
    frame: pd.DataFrame,
    *,
    pay_column: str = "hourly_usd",
    category_column: str = "role",
    male: str = "Male",
    female: str = "Female",
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The EU/UK gender pay gap view on hourly pay.

    Gap in % = ``100 * (men - women) / men`` for the mean and the median (positive: women paid
    less), as in the UK Gender Pay Gap Information Regulations 2017 (regs 8 and 9) and Directive
    (EU) 2023/970. Returns (summary, quartile bands, categories): the summary's mean and median
    gap; per band, the number and share of men and women (reg 13, with its tie rule); per
    category (`category_column`), the gaps and ``eu_flag`` when the absolute mean gap is at least
    5% (art. 10).
    """
    # numpy on the people's rows in frame order (the same arrays pandas' filters gave, so the
    # same means and medians; boolean masks and codes instead of a DataFrame per band and role)
    group = frame["group"]
    is_male = (group == male).to_numpy(dtype=bool, na_value=False)
    is_female = (group == female).to_numpy(dtype=bool, na_value=False)
    pay_all = pd.to_numeric(frame[pay_column], errors="coerce").to_numpy(float, na_value=np.nan)
    taken = np.flatnonzero((is_male | is_female) & ~np.isnan(pay_all))
    pay, male_row = pay_all[taken], is_male[taken]
    m, f = pay[male_row], pay[~male_row]

    def gap(mv: np.ndarray, fv: np.ndarray, how: str) -> float:
        if len(mv) == 0 or len(fv) == 0:
            return np.nan
        agg = np.mean if how == "mean" else np.median
        base = agg(mv)
        return 100 * (base - agg(fv)) / base if base > 0 else np.nan

    summary = pd.DataFrame(
        [
            {
                "pay": pay_column,
                "n_male": len(m),
                "n_female": len(f),
                "mean_gap_pct": gap(m, f, "mean"),
                "median_gap_pct": gap(m, f, "median"),
            }
        ]
    )
    quartile_rows = []
    if len(taken):
        sexes = group.iloc[taken]
        if isinstance(sexes.dtype, pd.CategoricalDtype):
            sexes = sexes.cat.remove_unused_categories()
        bands = uk_quartile_bands(pd.Series(pay), sexes.reset_index(drop=True)).to_numpy()
        counts = np.bincount(2 * (bands - 1) + (~male_row), minlength=8).reshape(4, 2)
        names = {1: "lower", 2: "lower middle", 3: "upper middle", 4: "upper"}
        for band in range(1, 5):
            in_band = int(counts[band - 1].sum())
            for sex, count in ((male, counts[band - 1, 0]), (female, counts[band - 1, 1])):
                quartile_rows.append(
                    {
                        "band": names[band],
                        "sex": sex,
                        "n": int(count),
                        "pct": 100 * int(count) / in_band if in_band else np.nan,
                    }
                )
    quartiles = pd.DataFrame(quartile_rows, columns=["band", "sex", "n", "pct"])
    category_rows = []
    # categories sorted as text (a categorical from the warehouse keeps its load order), as
    # groupby on the text sorts them; rows without a category are left out, as groupby does
    category = frame[category_column].iloc[taken]
    if isinstance(category.dtype, pd.CategoricalDtype):
        codes = category.cat.codes.to_numpy().astype(np.int64)
        labels = category.cat.categories.to_numpy(dtype=object)
    else:
        codes, labels = pd.factorize(category.astype(object))
        labels = np.asarray(labels, dtype=object)
    present = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(labels)))
    for code in sorted(present, key=lambda c: labels[c]):
        in_category = codes == code
        pm = pay[in_category & male_row]
        pf = pay[in_category & ~male_row]
        mean_gap = gap(pm, pf, "mean")
        category_rows.append(
            {
                "category": labels[code],
                "n_male": len(pm),
                "n_female": len(pf),
                "mean_gap_pct": mean_gap,
                "median_gap_pct": gap(pm, pf, "median"),
                "eu_flag": bool(abs(mean_gap) >= EU_GAP_THRESHOLD_PCT)
                if not np.isnan(mean_gap)
                else False,
            }
        )
    categories = pd.DataFrame(
        category_rows,
        columns=["category", "n_male", "n_female", "mean_gap_pct", "median_gap_pct", "eu_flag"],
    )
    return summary, quartiles, categories
