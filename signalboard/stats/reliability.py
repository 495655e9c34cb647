"""Inter-rater reliability on sparse grading designs: variance components, ICCs, Krippendorff's
alpha, D-study and design diagnostics.

Each deliverable (an application's submission) is scored by a few of many graders, so the
textbook two-way ANOVA (every judge rates every target) does not apply and dropping every
deliverable that lacks some grader would leave nothing. Instead the crossed random-effects model

    score = mu + deliverable + grader + error

is fitted by the method of fitting constants (Henderson's method III): deliverable effects are
absorbed (scores centred on their deliverable mean), which leaves a grader-by-grader system of
normal equations (one row per grader, however many scores there are), and each variance component
is the adjusted sum of squares set equal to its expectation. On a balanced design (every grader
scores every deliverable) these are exactly the ANOVA estimators, so the ICCs equal the Shrout &
Fleiss (1979) / McGraw & Wong (1996) forms; see tests/signalboard/stats/test_reliability.py.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats
from scipy.sparse.csgraph import connected_components

from signalboard.stats.blas import single_threaded_blas

ICC_METRICS: tuple[str, ...] = ("icc_1_1", "icc_a_1", "icc_c_1", "icc_1_k", "icc_a_k", "icc_c_k")
ALPHA_METRICS: tuple[str, ...] = ("alpha_interval", "alpha_ordinal")
PHI_TARGET = 0.80
GCI_DRAWS = 10_000  # Monte Carlo error of a 2.5% percentile: ~0.002 on the ICC scale


@dataclass(frozen=True)
class CrossedFit:
    """A fitted deliverable x grader crossed model (additive, no interaction).

    Grader effects `grader_effect` are least-squares estimates, centred to a rating-weighted mean
    of 0 within each connected component (only contrasts within a component are estimable);
    positive means the grader scores higher (more lenient) than co-graders on the same work.
    `grader_cov` is their covariance matrix (sigma_e^2 times the generalized inverse of the
    reduced normal equations, projected on the centring).
    """

    units: np.ndarray  # unit label per unit code
    raters: np.ndarray  # rater label per rater code
    unit_code: np.ndarray  # per observation
    rater_code: np.ndarray  # per observation
    y: np.ndarray
    n_per_unit: np.ndarray
    n_per_rater: np.ndarray
    component: np.ndarray  # component id per rater
    n_components: int
    grader_effect: np.ndarray
    grader_cov: np.ndarray
    unit_effect: (
        np.ndarray
    )  # adjusted deliverable mean: mean over its raters of (y - grader effect)
    residual: np.ndarray  # y - unit_effect - grader_effect, per observation
    ss_total: float
    ss_within_unit: float
    ss_within_rater: float
    sse: float
    df_error: int
    r_graders: float  # R(grader | deliverable)
    r_units: float  # R(deliverable | grader)
    k_units: float  # E[MS_d] = s_e + k_units * s_d
    k_raters: float  # E[MS_g] = s_e + k_raters * s_g
    design: CrossedDesign | None = None  # what the codes alone determine (see crossed_design)

    @property
    def n(self) -> int:
        return len(self.y)

    @functools.cached_property
    def shared_deliverables(self) -> sp.csr_matrix:
        """Raters x raters: deliverables each pair of raters both scored (N'N; the diagonal is
        each rater's ratings). Built once per fit: the design summary, grader design and overlap
        tables all read it."""
        if self.design is not None:
            return self.design.shared_deliverables
        incidence = sp.csr_matrix(
            (np.ones(self.n), (self.unit_code, self.rater_code)),
            shape=(len(self.units), len(self.raters)),
        )
        return (incidence.T @ incidence).tocsr()

    @property
    def ms_error(self) -> float:
        return self.sse / self.df_error if self.df_error > 0 else math.nan

    @property
    def df_units(self) -> int:
        return len(self.units) - self.n_components

    @property
    def df_raters(self) -> int:
        return len(self.raters) - self.n_components

    @property
    def ms_units(self) -> float:
        return self.r_units / self.df_units if self.df_units > 0 else math.nan

    @property
    def ms_raters(self) -> float:
        return self.r_graders / self.df_raters if self.df_raters > 0 else math.nan

    @property
    def var_error(self) -> float:
        return self.ms_error

    @property
    def var_rater(self) -> float:
        """Grader (severity) variance component; may be negative on small samples (not truncated)."""
        if self.df_raters <= 0:
            return 0.0
        return (self.ms_raters - self.ms_error) / self.k_raters

    @property
    def var_unit(self) -> float:
        """Deliverable (true-score) variance component; may be negative (not truncated)."""
        return (self.ms_units - self.ms_error) / self.k_units

    # one-way (graders ignored) quantities, for ICC(1,*)
    @property
    def ms_between_units(self) -> float:
        return (self.ss_total - self.ss_within_unit) / (len(self.units) - 1)

    @property
    def ms_within_units(self) -> float:
        df = self.n - len(self.units)
        return self.ss_within_unit / df if df > 0 else math.nan

    @property
    def n0(self) -> float:
        """Effective ratings per deliverable of the one-way model (n for balanced data)."""
        n_i = self.n_per_unit.astype(float)
        return (self.n - float((n_i**2).sum()) / self.n) / (len(self.units) - 1)


def _pinv_psd(matrix: np.ndarray) -> np.ndarray:
    # C is symmetric positive semi-definite with one zero eigenvalue per connected component.
    values, vectors = np.linalg.eigh(matrix)
    cutoff = max(values.max(initial=0.0), 1.0) * 1e-9
    inv = np.where(values > cutoff, 1.0 / np.where(values > cutoff, values, 1.0), 0.0)
    return (vectors * inv) @ vectors.T


@dataclass(frozen=True)
class CrossedDesign:
    """The parts of a crossed fit that depend on who rated what, not on the scores: the same
    for every rubric axis of one set of ratings, so the axes and the total of one grading design
    share one set of sparse matrices and one pseudo-inverse. Built by `crossed_design`."""

    unit_code: np.ndarray
    rater_code: np.ndarray
    n_i: np.ndarray  # ratings per unit (float)
    n_j: np.ndarray  # ratings per rater (float)
    c_pinv: np.ndarray  # generalized inverse of the reduced normal equations (raters x raters)
    centring: np.ndarray  # raters x raters: centres effects within each component
    centred_cov: np.ndarray  # centring @ c_pinv @ centring.T (times sigma_e^2: grader_cov)
    component: np.ndarray  # component number per rater
    n_components: int

    @functools.cached_property
    def chunks(self) -> list[tuple[int, int, int, int]]:
        """`fit_arrays`' passes over the ratings, in pieces of about `_CHUNK_RATINGS` that
        never split a deliverable: (start, stop) of the ratings and (first, end) of their
        deliverable codes. One piece of everything when the ratings are not sorted by
        deliverable (the Assessors codes are)."""
        u = self.unit_code
        n, n_units = len(u), len(self.n_i)
        if n <= _CHUNK_RATINGS or not bool((u[1:] >= u[:-1]).all()):
            return [(0, n, 0, n_units)]
        # each piece starts at the first rating of the deliverable at a multiple of the size
        starts = np.unique(np.searchsorted(u, u[np.arange(0, n, _CHUNK_RATINGS)], side="left"))
        stops = np.append(starts[1:], n)
        firsts = u[starts]
        firsts[0] = 0  # the pieces' deliverables cover every code, 0 to n_units
        ends = np.append(firsts[1:], n_units)
        pieces = zip(starts.tolist(), stops.tolist(), firsts.tolist(), ends.tolist(), strict=True)
        return list(pieces)

    @functools.cached_property
    def c_eigenvalues(self) -> np.ndarray:
        """The non-zero eigenvalues of the reduced normal equations C (those of its generalized
        inverse, inverted): R(grader | deliverable) is a sum of independent chi-square(1) terms
        weighted s_e + s_g * eigenvalue (see `icc_forms`)."""
        with single_threaded_blas():
            values = np.linalg.eigvalsh(self.c_pinv)
        cutoff = max(float(np.abs(values).max(initial=0.0)), 1.0) * 1e-9
        return 1.0 / values[values > cutoff]

    @functools.cached_property
    def shared_deliverables(self) -> sp.csr_matrix:
        """Raters x raters deliverables in common (see `CrossedFit.shared_deliverables`)."""
        incidence = sp.csr_matrix(
            (np.ones(len(self.unit_code)), (self.unit_code, self.rater_code)),
            shape=(len(self.n_i), len(self.n_j)),
        )
        return (incidence.T @ incidence).tocsr()


# Ratings per chunk of `fit_arrays`' passes: its score, code and temporary arrays (8 bytes per
# rating each) stay within a core's L2 cache.
_CHUNK_RATINGS = 1 << 15


def _unit_rows(
    values: np.ndarray, u: np.ndarray, r: np.ndarray, n_i: np.ndarray, n_raters: int
) -> sp.csr_matrix:
    """Units x raters sparse matrix of `values` at (u, r). Ratings sorted by unit and then rater,
    each pair once (as the Assessors codes come) are already its CSR arrays, so they are used as
    they are instead of converting coordinates (which sorts them)."""
    shape = (len(n_i), n_raters)
    if len(u) > 1:
        key = u * n_raters + r
        if bool((key[1:] > key[:-1]).all()):
            indptr = np.zeros(len(n_i) + 1, dtype=np.int64)
            np.cumsum(n_i.astype(np.int64), out=indptr[1:])
            return sp.csr_matrix((values, r, indptr), shape=shape)
    return sp.csr_matrix((values, (u, r)), shape=shape)


# Deliverables with at most this many ratings (every design's so far: two to four graders) have
# their grader pairs summed offset by offset; more take the sparse product.
_MAX_PAIR_OFFSET = 8


def _shared_deliverables(
    u: np.ndarray, r: np.ndarray, n_i: np.ndarray, n_raters: int
) -> np.ndarray:
    """N' diag(1/n_i) N (N the units x raters incidence): per pair of raters the deliverables
    they both rated, each weighted by 1 / its ratings; on the diagonal each rater's own.

    On ratings sorted by unit, two ratings d rows apart belong to one deliverable when their
    unit codes are equal, so the pairs are sums over a few offsets d (one bincount each) instead
    of a sparse matrix product (which converts the incidence matrix to its transpose first).
    """
    m_max = int(n_i.max(initial=0))
    if m_max > _MAX_PAIR_OFFSET or (len(u) > 1 and not bool((u[1:] >= u[:-1]).all())):
        incidence = _unit_rows(np.ones(len(u)), u, r, n_i, n_raters)
        # diag(1/n_i) N built directly (the same entries as the sparse product, one matmul less)
        scaled = _unit_rows(1.0 / n_i[u], u, r, n_i, n_raters)
        return (incidence.T @ scaled).toarray()
    weight = 1.0 / n_i[u]
    bins = n_raters * n_raters
    shared = np.bincount(r * (n_raters + 1), weight, minlength=bins).reshape(n_raters, n_raters)
    for d in range(1, m_max):
        # rows d apart in two deliverables land in a spare bin, dropped (cheaper than
        # compacting the pairs out)
        key = np.where(u[d:] == u[:-d], r[:-d] * n_raters + r[d:], bins)
        pairs = np.bincount(key, weight[d:], minlength=bins + 1)[:bins].reshape(n_raters, n_raters)
        shared += pairs + pairs.T
    return shared


def crossed_design(u: np.ndarray, r: np.ndarray, *, n_units: int, n_raters: int) -> CrossedDesign:
    """The score-free part of `fit_arrays` for unit codes `u` and rater codes `r` (dense codes,
    one rating per (u, r) pair); pass it to `fit_arrays` for each set of scores on them."""
    u = np.asarray(u, dtype=np.int64)
    r = np.asarray(r, dtype=np.int64)
    n_i = np.bincount(u, minlength=n_units).astype(float)
    n_j = np.bincount(r, minlength=n_raters).astype(float)
    # Reduced normal equations for the grader effects after absorbing deliverables:
    # C = diag(n_j) - N' diag(1/n_i) N, rhs = G'(y - deliverable mean). C is graders x graders.
    shared = _shared_deliverables(u, r, n_i, n_raters)
    c_matrix = np.diag(n_j) - shared
    # Connected components of the grader-deliverable graph, found on the graders x graders graph
    # (graders are linked when they share a deliverable; every deliverable hangs on its graders),
    # numbered as a search over the bipartite graph, deliverables first, numbers them: by each
    # component's first deliverable.
    n_comp, rater_component = connected_components(sp.csr_matrix(shared > 0), directed=False)
    first_unit = np.full(n_comp, n_units, dtype=np.int64)
    np.minimum.at(first_unit, rater_component[r], u)
    rank = np.empty(n_comp, dtype=np.int64)
    rank[np.argsort(first_unit, kind="stable")] = np.arange(n_comp)
    rater_component = rank[rater_component]
    # The dense algebra is graders x graders (grader-months for drift: ~150 x 150). On matrices
    # this small a multithreaded BLAS spends its time spinning threads, not computing
    # (OpenBLAS's own advice for small problems; measurements in docs/performance.md).
    with single_threaded_blas():
        c_pinv = _pinv_psd(c_matrix)
        # Centre within each component on the rating-weighted mean (L b), covariance L C^+ L' s_e.
        weights = np.zeros((n_raters, n_raters))
        for comp in range(n_comp):
            members = np.flatnonzero(rater_component == comp)
            weights[np.ix_(members, members)] = n_j[members] / n_j[members].sum()
        centring = np.eye(n_raters) - weights
        centred_cov = centring @ c_pinv @ centring.T
    return CrossedDesign(
        unit_code=u,
        rater_code=r,
        n_i=n_i,
        n_j=n_j,
        c_pinv=c_pinv,
        centring=centring,
        centred_cov=centred_cov,
        component=rater_component.astype(np.int64),
        n_components=int(n_comp),
    )


def fit_arrays(
    u: np.ndarray,
    r: np.ndarray,
    y: np.ndarray,
    *,
    units: np.ndarray,
    raters: np.ndarray,
    design: CrossedDesign | None = None,
) -> CrossedFit:
    """Fit score = mu + deliverable + grader + error by fitting constants on a sparse design.

    `u` and `r` are dense codes (0..len(units)-1, 0..len(raters)-1, every code used, in the
    order of the sorted labels `units` and `raters`) with one finite `y` per (u, r) pair.
    `design`: `crossed_design` of these same `u` and `r`, when several fits share it.

    Examples
    --------
    >>> fit = fit_arrays(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]),
    ...                  np.array([3.0, 4.0, 2.0, 3.0]), units=np.array([1, 2]),
    ...                  raters=np.array(["a", "b"]))
    >>> round(float(fit.grader_effect[1] - fit.grader_effect[0]), 3)
    1.0
    """
    y = np.asarray(y, dtype=float)
    n_obs, n_units, n_raters = len(y), len(units), len(raters)
    if n_obs < 2 or n_units < 2:
        raise ValueError("need at least two deliverables with scores")
    if design is None:
        design = crossed_design(u, r, n_units=n_units, n_raters=n_raters)
    u, r, n_i, n_j = design.unit_code, design.rater_code, design.n_i, design.n_j
    n_comp = design.n_components

    # Two passes over the ratings, a cache-sized chunk of whole deliverables at a time
    # (`CrossedDesign.chunks`): at 10M applications the ratings' arrays are far larger than the
    # caches, so each whole-array step (a gather, a difference, a square) would be another
    # read from memory. Chunks never split a deliverable, so its mean is complete in its chunk.
    ss_within_unit, rater_sum, rhs = 0.0, np.zeros(n_raters), np.zeros(n_raters)
    for start, stop, first, end in design.chunks:
        y_part, r_part, u_part = y[start:stop], r[start:stop], u[start:stop] - first
        unit_mean = np.bincount(u_part, y_part, minlength=end - first) / n_i[first:end]
        centred = y_part - unit_mean[u_part]
        ss_within_unit += float(centred @ centred)
        rhs += np.bincount(r_part, centred, minlength=n_raters)
        rater_sum += np.bincount(r_part, y_part, minlength=n_raters)
    with single_threaded_blas():
        effect = design.c_pinv @ rhs
        r_graders = float(effect @ rhs)
        sse = max(ss_within_unit - r_graders, 0.0)
        df_error = n_obs - n_units - n_raters + n_comp
        grader_effect = design.centring @ effect
        sigma2 = sse / df_error if df_error > 0 else math.nan
        grader_cov = design.centred_cov * sigma2

    y_mean, rater_mean = rater_sum.sum() / n_obs, rater_sum / n_j
    ss_total = ss_within_rater = 0.0
    residual = np.empty(n_obs)
    unit_effect = np.empty(n_units)
    for start, stop, first, end in design.chunks:
        y_part, r_part, u_part = y[start:stop], r[start:stop], u[start:stop] - first
        deviation = y_part - y_mean
        ss_total += float(deviation @ deviation)
        np.subtract(y_part, rater_mean[r_part], out=deviation)
        ss_within_rater += float(deviation @ deviation)
        part = np.subtract(y_part, grader_effect[r_part], out=residual[start:stop])
        effect_part = np.bincount(u_part, part, minlength=end - first) / n_i[first:end]
        unit_effect[first:end] = effect_part
        part -= effect_part[u_part]
    r_units = ss_within_rater - sse

    # Expected-mean-square coefficients (Searle 1971, ch. 10): N - sum_ij n_ij^2 / n_i for graders,
    # N - sum_ij n_ij^2 / n_j for deliverables; each cell holds one score here (n_ij = 1).
    coef_rater = float(n_obs - n_units)
    coef_unit = float(n_obs - n_raters)
    df_raters = n_raters - n_comp
    df_units = n_units - n_comp
    return CrossedFit(
        units=units,
        raters=raters,
        unit_code=u,
        rater_code=r,
        y=y,
        n_per_unit=n_i.astype(np.int64),
        n_per_rater=n_j.astype(np.int64),
        component=design.component,
        n_components=int(n_comp),
        grader_effect=grader_effect,
        grader_cov=grader_cov,
        unit_effect=unit_effect,
        residual=residual,
        ss_total=ss_total,
        ss_within_unit=ss_within_unit,
        ss_within_rater=ss_within_rater,
        sse=sse,
        df_error=int(df_error),
        r_graders=r_graders,
        r_units=float(r_units),
        k_units=coef_unit / df_units if df_units > 0 else math.nan,
        k_raters=coef_rater / df_raters if df_raters > 0 else math.nan,
        design=design,
    )


def _ratio(num: float, den: float) -> float:
    return num / den if den != 0 and np.isfinite(den) else math.nan


def _grader_df(fit: CrossedFit) -> float:
    """Satterthwaite degrees of freedom of R(grader | deliverable).

    With grader effects N(0, s_g) and errors N(0, s_e), R = sum_i (s_e + s_g l_i) chi2_1 over the
    non-zero eigenvalues l_i of the reduced normal equations, so it is s_e + k_g s_g times a
    chi-square on df_graders only when the l_i are equal (a balanced design). On a sparse design
    (a rarely used grader, pools that overlap in a ring) they are not, and the weights' effective
    degrees of freedom (sum w)^2 / sum w^2 (Satterthwaite 1946), from the estimated components,
    are fewer."""
    if fit.df_raters <= 0:
        return float(fit.df_raters)
    s_g = max(fit.var_rater, 0.0)
    if fit.design is None or s_g == 0 or not fit.ms_error > 0:
        return float(fit.df_raters)
    weights = fit.ms_error + s_g * fit.design.c_eigenvalues
    return min(float(weights.sum() ** 2 / (weights**2).sum()), float(fit.df_raters))


def _within_df(fit: CrossedFit) -> float:
    """Satterthwaite degrees of freedom of the one-way within-deliverable mean square, whose sum
    of squares is SSE + R(grader | deliverable) (see `icc_forms`)."""
    parts = fit.df_error * fit.ms_error**2 if fit.df_error > 0 else 0.0
    if fit.df_raters > 0:
        parts += fit.r_graders**2 / _grader_df(fit)
    df_within = fit.n - len(fit.units)
    if parts <= 0 or df_within <= 0:
        return float(df_within)
    return min(fit.ss_within_unit**2 / parts, float(df_within))


def _agreement_gci(
    fit: CrossedFit, *, confidence: float
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Generalized confidence intervals of ICC(A,1) and ICC(A,k) (see `icc_forms`)."""
    nan = (math.nan, math.nan)
    if fit.df_error <= 0 or fit.df_units <= 0 or not fit.sse > 0:
        return nan, nan
    rng = np.random.default_rng(0)
    s_e = fit.sse / rng.chisquare(fit.df_error, GCI_DRAWS)
    s_d = np.maximum((fit.r_units / rng.chisquare(fit.df_units, GCI_DRAWS) - s_e) / fit.k_units, 0)
    if fit.df_raters > 0:
        # E[R_g] = df_g s_e + tr(C) s_g, R_g ~ E[R_g] chi2(nu) / nu on `_grader_df`'s nu
        nu = _grader_df(fit)
        expected = fit.r_graders * nu / rng.chisquare(nu, GCI_DRAWS)
        s_g = np.maximum((expected / fit.df_raters - s_e) / fit.k_raters, 0.0)
    else:
        # one grader per component: no severity to separate, agreement = consistency
        s_g = np.zeros(GCI_DRAWS)
    k = fit.k_units
    tail = (1 - confidence) / 2 * 100
    with np.errstate(divide="ignore", invalid="ignore"):
        single = np.percentile(s_d / (s_d + s_g + s_e), [tail, 100 - tail])
        mean_k = np.percentile(s_d / (s_d + (s_g + s_e) / k), [tail, 100 - tail])
    return (float(single[0]), float(single[1])), (float(mean_k[0]), float(mean_k[1]))


def icc_forms(fit: CrossedFit, *, confidence: float = 0.95) -> pd.DataFrame:
    """The six intraclass correlations with confidence intervals.

    ICC(1,*) is the one-way model (graders ignored: their severity counts as error);
    ICC(A,*) absolute agreement and ICC(C,*) consistency come from the crossed model's variance
    components: ICC(A,1) = s_d / (s_d + s_g + s_e), ICC(C,1) = s_d / (s_d + s_e). The k forms are
    the reliability of the mean of k ratings, k = the design's effective ratings per deliverable
    (`k` column; the number of graders on balanced data).

    Intervals. ICC(C,*) use the F intervals of Shrout & Fleiss (1979) / McGraw & Wong (1996),
    written in the adjusted mean squares of the sparse fit (exact on balanced data).

    ICC(1,*) use the one-way F interval with the within-deliverable mean square's degrees of
    freedom replaced by Satterthwaite's (1946): when graders recur across deliverables, SS_within
    is the sum of two independent parts, SSE (df_error, E = s_e) and R(grader | deliverable)
    (E = df_g s_e + tr(C) s_g, on nu degrees of freedom: see `_grader_df`), so
    v = SS_within^2 / (df_e MSE^2 + R_g^2 / nu). With a handful of graders nu is small and the
    interval widens: the grader effects are a sample of ~14, however many deliverables there are. When every deliverable has its own graders (Shrout
    & Fleiss's Case 1) SSE is empty, v = N - n and this is their interval exactly.

    ICC(A,*) use a generalized confidence interval (Weerahandi 1993; for the two-way crossed
    model without interaction, Ionan et al. 2014, BMC Med Res Methodol 14:121): each variance
    component's generalized pivot is its adjusted sum of squares over an independent chi-square
    draw on its degrees of freedom, s_e* = SSE / W_e, s_d* = (R_d / W_d - s_e*) / k_d,
    s_g* = (R_g nu / (df_g W_g) - s_e*) / k_g with W_g on `_grader_df`'s nu (negative parts set
    to 0); the interval is the percentiles of the ICC computed from `GCI_DRAWS` such draws (fixed
    seed, so a report is reproducible). On balanced data nu = df_g. The F interval with
    Satterthwaite degrees of freedom (McGraw & Wong's, after Fleiss & Shrout 1978) under-covered
    on sparse designs with large grader variance; the simulations are in docs/assessors.md.

    Returns
    -------
    pandas.DataFrame
        metric, value, ci_low, ci_high, k.

    Examples
    --------
    >>> sf = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    >>> fit = fit_arrays(np.repeat(np.arange(6), 4), np.tile(np.arange(4), 6),
    ...                  np.ravel(sf).astype(float), units=np.arange(6), raters=np.arange(4))
    >>> round(float(icc_forms(fit).set_index("metric").loc["icc_a_1", "value"]), 4)
    0.2898
    """
    alpha = 1.0 - confidence
    rows: list[dict[str, float | str]] = []

    def f_quantile(df1: float, df2: float) -> float:
        return float(stats.f.ppf(1 - alpha / 2, df1, df2))

    # one-way, on Satterthwaite degrees of freedom for the within-deliverable mean square
    bms, wms, n0 = fit.ms_between_units, fit.ms_within_units, fit.n0
    df1 = len(fit.units) - 1
    df2 = _within_df(fit)
    f1 = _ratio(bms, wms)
    fl = f1 / f_quantile(df1, df2) if df2 > 0 else math.nan
    fu = f1 * f_quantile(df2, df1) if df2 > 0 else math.nan
    rows.append(
        {
            "metric": "icc_1_1",
            "value": _ratio(bms - wms, bms + (n0 - 1) * wms),
            "ci_low": _ratio(fl - 1, fl + n0 - 1),
            "ci_high": _ratio(fu - 1, fu + n0 - 1),
            "k": n0,
        }
    )
    rows.append(
        {
            "metric": "icc_1_k",
            "value": _ratio(bms - wms, bms),
            "ci_low": 1 - _ratio(1.0, fl),
            "ci_high": 1 - _ratio(1.0, fu),
            "k": n0,
        }
    )

    # crossed: in terms of MS_d, MSE, s_g and k = k_units (McGraw & Wong 1996, Table 7, with
    # k*(JMS-EMS)/n written as k*s_g)
    msd, mse, k = fit.ms_units, fit.ms_error, fit.k_units
    s_g = fit.var_rater
    dfd, dfe = fit.df_units, fit.df_error
    fc = _ratio(msd, mse)
    fcl = fc / f_quantile(dfd, dfe) if dfe > 0 else math.nan
    fcu = fc * f_quantile(dfe, dfd) if dfe > 0 else math.nan

    def agreement(ms: float, *, single: bool) -> float:
        if single:
            return _ratio(ms - mse, ms + (k - 1) * mse + k * s_g)
        return _ratio(ms - mse, ms + s_g)

    icc_a1 = agreement(msd, single=True)
    bounds_1, bounds_k = _agreement_gci(fit, confidence=confidence)
    rows.append(
        {
            "metric": "icc_a_1",
            "value": icc_a1,
            "ci_low": bounds_1[0],
            "ci_high": bounds_1[1],
            "k": k,
        }
    )
    rows.append(
        {
            "metric": "icc_c_1",
            "value": _ratio(msd - mse, msd + (k - 1) * mse),
            "ci_low": _ratio(fcl - 1, fcl + k - 1),
            "ci_high": _ratio(fcu - 1, fcu + k - 1),
            "k": k,
        }
    )
    rows.append(
        {
            "metric": "icc_a_k",
            "value": agreement(msd, single=False),
            "ci_low": bounds_k[0],
            "ci_high": bounds_k[1],
            "k": k,
        }
    )
    rows.append(
        {
            "metric": "icc_c_k",
            "value": _ratio(msd - mse, msd),
            "ci_low": 1 - _ratio(1.0, fcl),
            "ci_high": 1 - _ratio(1.0, fcu),
            "k": k,
        }
    )
    order = {m: i for i, m in enumerate(ICC_METRICS)}
    out = pd.DataFrame(rows)
    return out.sort_values("metric", key=lambda s: s.map(order)).reset_index(drop=True)


def variance_components(fit: CrossedFit) -> dict[str, float]:
    """Deliverable, grader and residual variance components (ANOVA / fitting-constants)."""
    return {"deliverable": fit.var_unit, "grader": fit.var_rater, "residual": fit.var_error}


def d_study(
    fit: CrossedFit, *, max_graders: int = 10, target: float = PHI_TARGET
) -> tuple[pd.DataFrame, int | None]:
    """Dependability (Phi) and generalizability (E rho^2) for n' graders per deliverable.

    Phi(n') = s_d / (s_d + (s_g + s_e) / n') counts grader severity as error (absolute decisions
    against a pass mark); E rho^2(n') = s_d / (s_d + s_e / n') only ranks deliverables. Negative
    components are set to 0 here.

    Returns
    -------
    (curve, graders_needed)
        curve: graders, phi, e_rho2; graders_needed: the smallest n' with Phi >= target, or None
        when the deliverable variance is not positive.

    Examples
    --------
    >>> sf = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    >>> fit = fit_arrays(np.repeat(np.arange(6), 4), np.tile(np.arange(4), 6),
    ...                  np.ravel(sf).astype(float), units=np.arange(6), raters=np.arange(4))
    >>> d_study(fit)[1]
    10
    """
    s_d = max(fit.var_unit, 0.0)
    s_g = max(fit.var_rater, 0.0)
    s_e = max(fit.var_error, 0.0)
    n_prime = np.arange(1, max_graders + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = s_d / (s_d + (s_g + s_e) / n_prime)
        rho = s_d / (s_d + s_e / n_prime)
    curve = pd.DataFrame({"graders": n_prime, "phi": phi, "e_rho2": rho})
    if s_d <= 0:
        return curve, None
    needed = math.ceil(target / (1 - target) * (s_g + s_e) / s_d - 1e-12)
    return curve, max(needed, 1)


# --- Krippendorff's alpha -----------------------------------------------------------------------

AlphaLevel = Literal["interval", "ordinal"]


@dataclass(frozen=True)
class _Pairable:
    """Pairable values (units with at least two values) as per-unit sufficient statistics."""

    unit: np.ndarray  # unit code per value
    value: np.ndarray
    m: np.ndarray  # values per unit
    n_units: int


def _dense(codes: np.ndarray) -> np.ndarray:
    """Codes 0..k-1 of non-negative integers, in their sorted order (bincount and cumsum)."""
    present = np.bincount(codes) > 0
    return (np.cumsum(present) - 1)[codes]


@dataclass(frozen=True)
class PairableLayout:
    """Which values of one set of unit codes are pairable (their unit has two or more) and the
    pairable units' dense codes: the same for every axis rated on the same deliverables by the
    same graders, so the Assessors analysis finds it once (`pairable_layout`)."""

    keep: np.ndarray  # per value
    unit: np.ndarray  # dense code per kept value
    m: np.ndarray  # values per pairable unit


def pairable_layout(units: np.ndarray) -> PairableLayout:
    """`PairableLayout` of unit labels or codes `units` (every value present)."""
    units = np.asarray(units)
    if (
        units.dtype.kind in "iu"
        and len(units)
        and 0 <= units.min()
        and units.max() < 4 * len(units)
    ):
        # integer unit codes (the warehouse path): no hashing of half a million labels
        codes = _dense(units)
    else:
        codes = pd.factorize(units)[0]
    m = np.bincount(codes)
    ok = m[codes] >= 2
    codes2 = _dense(codes[ok]) if ok.any() else codes[ok]
    return PairableLayout(ok, codes2.astype(np.int64), np.bincount(codes2))


def _pairable(
    units: np.ndarray, values: np.ndarray, layout: PairableLayout | None = None
) -> _Pairable:
    """The pairable values; `layout`: `pairable_layout(units)`, given when no value is NaN."""
    values = np.asarray(values, dtype=float)
    if layout is None:
        keep = ~np.isnan(values)
        units, values = np.asarray(units)[keep], values[keep]
        layout = pairable_layout(units)
    return _Pairable(layout.unit, values[layout.keep], layout.m, len(layout.m))


def _interval_parts(p: _Pairable) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    s1 = np.bincount(p.unit, p.value, minlength=p.n_units)
    s2 = np.bincount(p.unit, p.value**2, minlength=p.n_units)
    # sum over ordered pairs i != j within a unit of (v_i - v_j)^2, weighted 1/(m_u - 1)
    within = (2 * p.m * s2 - 2 * s1**2) / (p.m - 1)
    return p.m.astype(float), s1, s2, within


def _alpha_interval_from(m: np.ndarray, s1: np.ndarray, s2: np.ndarray, w: np.ndarray) -> float:
    n, t1, t2 = m.sum(), s1.sum(), s2.sum()
    d_e = (2 * n * t2 - 2 * t1**2) / (n * (n - 1))
    d_o = w.sum() / n
    return 1 - d_o / d_e if d_e > 0 else math.nan


def _ordinal_parts(p: _Pairable) -> tuple[sp.csr_matrix, int]:
    """Per-unit coincidences, units x (categories^2), for bootstrap re-weighting.

    o_u[c, k] = sum over ordered pairs of different values i != j in unit u with (v_i, v_j) =
    (c, k) of 1 / (m_u - 1). Pairs are enumerated per unit (m_u is a handful of graders).
    """
    cats, cat_code = np.unique(p.value, return_inverse=True)
    n_cat = len(cats)
    order = np.argsort(p.unit, kind="stable")
    unit_sorted, code_sorted = p.unit[order], cat_code[order]
    start = np.searchsorted(unit_sorted, np.arange(p.n_units))
    size = p.m[unit_sorted]
    first = np.repeat(np.arange(len(unit_sorted)), size)
    offset = np.arange(len(first)) - np.repeat(np.cumsum(size) - size, size)
    second = start[unit_sorted[first]] + offset
    keep = first != second
    first, second = first[keep], second[keep]
    unit_of = unit_sorted[first]
    weight = 1.0 / (p.m[unit_of] - 1)
    per_unit = sp.csr_matrix(
        (weight, (unit_of, code_sorted[first] * n_cat + code_sorted[second])),
        shape=(p.n_units, n_cat * n_cat),
    )
    return per_unit, n_cat


def _alpha_ordinal_from(coincidence: np.ndarray) -> float:
    o = coincidence
    n_c = o.sum(axis=1)
    n = n_c.sum()
    cum = np.concatenate([[0.0], np.cumsum(n_c)])
    idx = np.arange(len(n_c))
    lo, hi = np.minimum.outer(idx, idx), np.maximum.outer(idx, idx)
    delta = (cum[hi + 1] - cum[lo] - (n_c[:, None] + n_c[None, :]) / 2) ** 2
    d_e = float((np.outer(n_c, n_c) * delta).sum())
    if d_e <= 0 or n <= 1:
        return math.nan
    return 1 - (n - 1) * float((o * delta).sum()) / d_e


def _unique_counts(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(key, return_counts=True)` for non-negative integer keys; a bincount when they
    are small (a 1-5 axis: below 4^5), instead of sorting one key per deliverable."""
    if len(key) and key.min() >= 0 and key.max() < 1 << 20:
        counts = np.bincount(key)
        keys = np.flatnonzero(counts)
        return keys, counts[keys]
    return np.unique(key, return_counts=True)


def _unit_patterns(
    units: np.ndarray, values: np.ndarray, layout: PairableLayout | None = None
) -> tuple[_Pairable, np.ndarray]:
    """Pairable units collapsed to their distinct multisets of values.

    Alpha depends on a unit only through the multiset of its values, and a rubric gives few of
    them (2-3 graders on a 1-5 scale: some dozens), so half a million deliverables collapse to a
    few hundred patterns. Returns the patterns as pairable "units" and each pattern's count.
    """
    p = _pairable(units, values, layout)
    if p.n_units == 0:
        return p, np.zeros(0, dtype=np.int64)
    codes, cats = pd.factorize(p.value, sort=True)
    base = int(p.m.max()) + 1
    if len(cats) * math.log2(base) < 52:
        # a multiset is its histogram over the categories, written as one integer in base
        # (max values per unit + 1): exact in float64 below 2^53
        key = np.bincount(p.unit, float(base) ** codes, minlength=p.n_units).astype(np.int64)
        keys, counts = _unique_counts(key)
        histogram = (keys[:, None] // base ** np.arange(len(cats))[None, :]) % base
        rows = np.repeat(np.arange(len(keys)), histogram.sum(axis=1))
        value = np.repeat(np.tile(np.asarray(cats, dtype=float), len(keys)), histogram.ravel())
        m = histogram.sum(axis=1)
        return _Pairable(rows.astype(np.int64), value, m, len(m)), counts
    order = np.lexsort((p.value, p.unit))
    unit, value = p.unit[order], p.value[order]
    start = np.cumsum(p.m) - p.m
    position = np.arange(len(unit)) - start[unit]
    # pad with +inf (inf == inf, unlike NaN, so equal padded rows compare equal)
    padded = np.full((p.n_units, int(p.m.max())), np.inf)
    padded[unit, position] = value
    patterns, counts = np.unique(padded, axis=0, return_counts=True)
    finite = np.isfinite(patterns)
    rows = np.nonzero(finite)[0]
    m = finite.sum(axis=1)
    return _Pairable(rows.astype(np.int64), patterns[finite], m, len(m)), counts


def alpha_bootstraps(
    units: np.ndarray,
    values: np.ndarray,
    *,
    levels: tuple[AlphaLevel, ...] = ("interval", "ordinal"),
    n_boot: int = 500,
    confidence: float = 0.95,
    seed: int = 0,
    layout: PairableLayout | None = None,
) -> dict[AlphaLevel, tuple[float, float, float]]:
    """`alpha_bootstrap` for several levels at once (the patterns are found once; each level
    uses the same replicates, as separate calls with one seed do). `layout`:
    `pairable_layout(units)`, when no value is missing and several axes share the units."""
    p, counts = _unit_patterns(np.asarray(units), np.asarray(values, dtype=float), layout)
    n_units = int(counts.sum())
    if n_units < 2:
        return {level: (math.nan, math.nan, math.nan) for level in levels}
    draws = np.random.default_rng(seed).multinomial(n_units, counts / n_units, size=n_boot)
    draws = draws.astype(float)
    tail = (1 - confidence) / 2 * 100
    out: dict[AlphaLevel, tuple[float, float, float]] = {}
    for level in levels:
        if level == "interval":
            stacked = np.vstack(_interval_parts(p))  # 4 x patterns
            point = _alpha_interval_from(*(stacked * counts))
            tm, t1, t2, tw = (draws @ stacked.T).T
            with np.errstate(divide="ignore", invalid="ignore"):
                d_e = (2 * tm * t2 - 2 * t1**2) / (tm * (tm - 1))
                estimates = np.where(d_e > 0, 1 - (tw / tm) / d_e, np.nan)
        else:
            per_pattern, n_cat = _ordinal_parts(p)
            point = _alpha_ordinal_from(
                np.asarray(per_pattern.T @ counts.astype(float)).reshape(n_cat, n_cat)
            )
            coincidences = np.asarray(per_pattern.T @ draws.T).T  # n_boot x categories^2
            estimates = np.array(
                [_alpha_ordinal_from(o.reshape(n_cat, n_cat)) for o in coincidences]
            )
        low, high = np.nanpercentile(estimates, [tail, 100 - tail])
        out[level] = (float(point), float(low), float(high))
    return out


# --- design diagnostics ------------------------------------------------------------------------


def design_summary(fit: CrossedFit) -> pd.DataFrame:
    """One-row-per-measure summary of the grading design (metric, value).

    Double-scoring rate = share of deliverables with at least two graders; grader overlap = share
    of grader pairs (within the data) that share at least one deliverable.
    """
    shared = fit.shared_deliverables.tocoo()
    off = shared.row < shared.col
    n_r = len(fit.raters)
    pairs = n_r * (n_r - 1) / 2
    largest = np.bincount(fit.component).max() if n_r else 0
    measures = {
        "deliverables": float(len(fit.units)),
        "ratings": float(fit.n),
        "graders": float(n_r),
        "ratings_per_deliverable": fit.n / len(fit.units),
        "double_scoring_rate": float((fit.n_per_unit >= 2).mean()),
        "grader_pairs_overlapping": float(off.sum() / pairs) if pairs else math.nan,
        "connected_components": float(fit.n_components),
        "largest_component_graders": float(largest),
    }
    return pd.DataFrame({"metric": list(measures), "value": list(measures.values())})


def grader_design(fit: CrossedFit) -> pd.DataFrame:
    """Per grader: ratings, double-scored ratings, distinct co-graders and connected component."""
    shared = fit.shared_deliverables.copy()
    shared.setdiag(0)
    shared.eliminate_zeros()
    co_graders = np.diff(shared.indptr)
    double = np.bincount(
        fit.rater_code, (fit.n_per_unit[fit.unit_code] >= 2).astype(float), len(fit.raters)
    )
    return pd.DataFrame(
        {
            "grader_id": fit.raters,
            "n_scored": fit.n_per_rater,
            "double_scored": double.astype(np.int64),
            "co_graders": co_graders.astype(np.int64),
            "component": fit.component + 1,
        }
    )


def grader_overlap(fit: CrossedFit) -> pd.DataFrame:
    """Long table of grader pairs that share deliverables: grader_a, grader_b, shared."""
    shared = fit.shared_deliverables.tocoo()
    keep = shared.row < shared.col
    return pd.DataFrame(
        {
            "grader_a": fit.raters[shared.row[keep]],
            "grader_b": fit.raters[shared.col[keep]],
            "shared": shared.data[keep].astype(np.int64),
        }
    ).sort_values(["grader_a", "grader_b"], ignore_index=True)
