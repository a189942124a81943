"""Refresh the golden set: which production items to label, how many per segment, and why.

A golden set built at launch stops speaking for production when traffic moves: new kinds of
requests have no examples in it, and the old ones weigh what they weighed at launch.
:func:`refresh_plan` says, per segment of ``by``, how many production items to send for
labeling so that the eval metric re-weighted (post-stratified) to production's mix is
measured again on all of production, and :meth:`RefreshPlan.sample` draws those items from
the production log, reproducibly, in the engine that holds the log.

Counting is one aggregation pass per input: the eval set's sufficient statistics per segment
(:func:`aidebt.aggregate.sufficient_stats`) and production's counts per segment
(:func:`aidebt.aggregate.value_counts`). Everything else works on that small table.

The statistics
--------------
Notation: segment (stratum) ``h`` has production share ``W_h`` (treated as known: it comes
from far more rows than the eval set has), ``n_h`` labeled eval items today, ``x_h`` of them
counted by the metric (correct, for accuracy), rate ``p_h``.

*The post-stratified estimate and its variance.* ``p_ps = sum_h W_h x_h / n_h``; given the
``n_h``, its variance is Cochran's stratified variance ``V = sum_h W_h^2 p_h (1 - p_h) / n_h``
(Cochran 1977, *Sampling Techniques*, 3rd ed., §5.3 and §5.10 for proportions; conditioning on
the realised ``n_h`` of a post-stratified sample, §5A.9; finite-population corrections are
dropped, production being far larger than any eval set). Each stratum's ``p_h (1 - p_h)`` is
estimated at its Wilson centre ``(x_h + z^2/2) / (n_h + z^2)``, which never gives a zero
variance to a small stratum that happens to be all correct. The interval is Wilson's at the
design-effect sample size ``n_eff = p~(1 - p~) / V`` (Kish 1965, *Survey Sampling*, §8.2),
shrunk by ``(z / t_df)^2`` with Satterthwaite's degrees of freedom across strata (Cochran
1977, §5.4) for small samples, as Korn & Graubard (1998, *Survey Methodology*
24(2):193-201) do for Clopper-Pearson (Dean & Pagano 2015, *J. Surv. Stat. Methodol.*
3(4):484-503, compare such design-effect intervals, Wilson's among them). Its coverage with
small and extreme strata is checked by simulation in the tests. The function is
:func:`aidebt.stats.poststratified_proportion` (imported here as ``stratified_proportion``);
:func:`aidebt.coverage` uses it too.

*Planning rates.* A plan needs each segment's rate before the labels exist. It uses the point
of the segment's Wilson interval (at ``confidence``) nearest 1/2: the least favourable rate the
eval set still allows, which is 1/2 for a segment with no labels and tends to the observed rate
as a segment's labels grow. Planned widths are therefore upper bounds, not hopes.

*Labels per segment.* The Wilson interval's half-width at rate ``p`` and size ``n`` is
``z sqrt(p q n + z^2/4) / (n + z^2)``, decreasing in ``n``; setting it to ``d`` gives a
quadratic in ``n`` whose positive root is
``n = z^2 [(pq - 2d^2) + sqrt(p^2 q^2 - 4 d^2 pq + d^2)] / (2 d^2)``
(:func:`labels_for_halfwidth`; at ``p = 1/2`` it is ``z^2 / (4 d^2) - z^2``).

*Allocating a budget.* With ``a_h`` new labels at cost ``c_h`` each, minimise
``V(a) = sum_h W_h^2 S_h^2 / (n_h + a_h)`` subject to ``sum_h c_h a_h = B`` and
``L_h <= a_h <= U_h`` (``S_h^2`` the planning variance, ``L_h`` the minimum of an uncovered
segment, ``U_h`` its production rows). ``V`` is convex and separable, so the Karush-Kuhn-Tucker
conditions are sufficient: ``W_h^2 S_h^2 / (n_h + a_h)^2 = lambda c_h`` wherever
``L_h < a_h < U_h``. Hence, with ``k = lambda^(-1/2)``,
``a_h = clip(k W_h S_h / sqrt(c_h) - n_h, L_h, U_h)``: the *total* size ``n_h + a_h`` follows
the cost-weighted Neyman allocation ``n_h ∝ W_h S_h / sqrt(c_h)`` (Cochran 1977, §5.5,
Theorems 5.8-5.9), segments the eval set already over-covers get nothing (a "water-filling"
solution: Boyd & Vandenberghe 2004, *Convex Optimization*, Example 5.2), and a segment whose
optimum exceeds its production rows is capped and the rest re-allocated (Cochran 1977, §5.8).
``k`` is the root of the non-decreasing piecewise-linear ``sum_h c_h a_h(k) = B``
(:func:`optimal_allocation`). Integer labels: floors, then one more label to the segments
with the largest remainders while the budget allows, so a label budget is spent exactly.

Assumptions
-----------
Within a segment, the eval set's existing items and new production items share one rate (the
old items still represent their segment today): the assumption of post-stratification. The
segments of ``by`` should therefore be the ones the metric varies with. New items are drawn
uniformly at random within their segment (:meth:`RefreshPlan.sample`).

The sample
----------
Each production item gets a 62-bit key from arithmetic on its integer id and the seed
(:func:`with_hash_key`): residues modulo two primes below 2^31, mixed by affine maps and fifth
powers modulo those primes (bijections, since 5 divides neither ``p - 1``), so every product
stays below 2^62 and the key is the same in every engine, with no engine's own (unstable) hash
function. Within each segment, the items with the ``n_h`` smallest keys are drawn: a simple
random sample without replacement, and any prefix of the list ranked by key is one too. The
engine first keeps only rows whose key falls under a per-segment threshold set to hold the
``n_h`` smallest keys with overwhelming probability (a few standard deviations above
``n_h``), in one streaming scan; the ranking then runs on those few candidates, so memory
stays bounded by the sample, not the log. A segment that comes up short (more exclusions than
expected) is re-scanned with a higher threshold, which gives exactly the items a full ranking
would.
"""

from __future__ import annotations

import math
import os
import uuid
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import narwhals as nw
import numpy as np
import polars as pl

from aidebt import aggregate, frames, prose
from aidebt import metrics as mreg
from aidebt import stats as st
from aidebt.errors import (
    ColumnTypeError,
    InvalidArgumentError,
    InvalidValueError,
    did_you_mean,
)
from aidebt.results import Headline, Result
from aidebt.stats import poststratified_proportion as stratified_proportion

__all__ = [
    "RefreshPlan",
    "with_hash_key",
    "labels_for_halfwidth",
    "optimal_allocation",
    "planning_rate",
    "refresh_plan",
    "stratified_proportion",
    "wilson_halfwidth",
]

# Metrics measured on every labeled item: a label added to a segment adds one to its
# denominator. (tpr, fpr, precision... count only positives or predicted positives, whose
# share of a segment's new labels is unknown before labeling.)
_PER_LABEL = {("tp", "fn", "fp", "tn"), ("labeled",)}

# The sampling hash: two primes below 2^31 (so products of residues stay below 2^62) with
# gcd(5, p - 1) = 1 (so y -> y^5 mod p is a bijection).
_P1 = 2_147_483_647  # 2^31 - 1
_P2 = 2_147_483_629
KEY_SPACE = _P1 * _P2
"""Keys of :func:`with_hash_key` are integers in ``[0, KEY_SPACE)``, about 2^62."""
_MASK64 = (1 << 64) - 1


# --------------------------------------------------------------------------------------
# Statistics on the small table
# --------------------------------------------------------------------------------------
def wilson_halfwidth(p, n, confidence: float = 0.95) -> np.ndarray:
    """Half the width of the Wilson interval at rate ``p`` and size ``n``: 1/2 at ``n = 0``.

    Examples
    --------
    >>> round(float(wilson_halfwidth(0.5, 1000)), 4)
    0.0309
    """
    p, n = np.asarray(p, dtype=float), np.asarray(n, dtype=float)
    z2 = st.normal_quantile(confidence) ** 2
    return np.sqrt(z2) * np.sqrt(p * (1 - p) * n + z2 / 4) / (n + z2)


def labels_for_halfwidth(p, halfwidth: float, confidence: float = 0.95) -> np.ndarray:
    """Smallest ``n`` whose Wilson interval at rate ``p`` is at most ``halfwidth`` wide each side.

    The positive root of the quadratic that sets :func:`wilson_halfwidth` to ``halfwidth``
    (see the module docstring), rounded up.

    Examples
    --------
    >>> int(labels_for_halfwidth(0.5, 0.03)[()])
    1064
    >>> float(wilson_halfwidth(0.5, 1064)) <= 0.03 < float(wilson_halfwidth(0.5, 1063))
    True
    """
    p = np.asarray(p, dtype=float)
    d = float(halfwidth)
    z2 = st.normal_quantile(confidence) ** 2
    pq = p * (1 - p)
    root = z2 * ((pq - 2 * d * d) + np.sqrt(np.maximum(pq * pq - 4 * d * d * pq + d * d, 0)))
    n = root / (2 * d * d)
    return np.maximum(np.ceil(n - 1e-9), 0)


def planning_rate(x, n, confidence: float = 0.95) -> np.ndarray:
    """The rate a plan assumes: the point of the Wilson interval of ``x / n`` nearest 1/2.

    1/2 where ``n = 0`` (nothing is known); the observed rate as ``n`` grows. ``x = None``
    (no labels at all) gives 1/2 everywhere.

    Examples
    --------
    >>> planning_rate([0, 930, 5], [0, 1000, 5]).round(3).tolist()
    [0.5, 0.912, 0.566]
    """
    n = np.asarray(n, dtype=float)
    if x is None:
        return np.full(n.shape, 0.5)
    lo, hi = st.wilson_ci(np.asarray(x, dtype=float), n, confidence)
    return np.where(n > 0, np.clip(0.5, np.nan_to_num(lo), np.nan_to_num(hi, nan=1.0)), 0.5)


def optimal_allocation(
    weight,
    sd,
    existing,
    budget: float,
    *,
    cost=None,
    lower=None,
    upper=None,
) -> np.ndarray:
    """New sample sizes ``a`` minimising ``sum W^2 S^2 / (existing + a)`` for a budget.

    Subject to ``sum(cost * a) = budget`` and ``lower <= a <= upper`` (continuous; the
    derivation is in the module docstring). With nothing existing, unit costs and no bound
    binding, it is Neyman's ``a_h = budget * W_h S_h / sum(W S)``. A budget beyond what the
    upper bounds can absorb returns ``upper``; one below ``sum(cost * lower)`` raises.

    Examples
    --------
    >>> optimal_allocation([0.5, 0.5], [0.5, 0.25], [0, 0], 300).round(6).tolist()
    [200.0, 100.0]
    >>> optimal_allocation([0.5, 0.5], [0.5, 0.25], [0, 150], 300).round(6).tolist()
    [300.0, 0.0]
    """
    w, s, n0 = (np.asarray(v, dtype=float) for v in (weight, sd, existing))
    c = np.ones_like(w) if cost is None else np.broadcast_to(np.asarray(cost, float), w.shape)
    lo = np.zeros_like(w) if lower is None else np.asarray(lower, dtype=float)
    hi = np.full_like(w, np.inf) if upper is None else np.asarray(upper, dtype=float)
    budget = float(budget)
    if np.any(c <= 0) or np.any(lo > hi):
        raise InvalidArgumentError("optimal_allocation needs costs > 0 and lower <= upper.")
    floor_spend = float(np.sum(c * lo))
    if budget < floor_spend - 1e-9:
        raise InvalidArgumentError(
            f"A budget of {budget:,.6g} is below the {floor_spend:,.6g} the minimums need."
        )
    g = w * s / np.sqrt(c)
    active = g > 0

    def alloc(k: float) -> np.ndarray:
        return np.where(active, np.clip(k * g - n0, lo, hi), lo)

    def spend(k: float) -> float:
        return float(np.sum(c * alloc(k)))

    if not active.any():
        return lo.copy()
    top = float(np.sum(c * np.where(active, hi, lo)))
    if budget >= top:
        return np.where(active, hi, lo)
    k_lo, k_hi = 0.0, 1.0
    while spend(k_hi) < budget:
        k_hi *= 2
    for _ in range(200):  # bisection: spend is non-decreasing and continuous in k
        mid = 0.5 * (k_lo + k_hi)
        if spend(mid) < budget:
            k_lo = mid
        else:
            k_hi = mid
        if k_hi - k_lo <= 1e-15 * k_hi:
            break
    # Exact k on the final active set (the segments strictly between their bounds).
    a = alloc(k_hi)
    free = active & (a > lo) & (a < hi)
    if free.any():
        k = (budget - np.sum(c[~free] * a[~free]) + np.sum(c[free] * n0[free])) / np.sum(
            c[free] * g[free]
        )
        a = np.where(free, np.clip(k * g - n0, lo, hi), a)
    return a


def _round_allocation(a, cost, budget, lower, upper) -> np.ndarray:
    """Integer labels: floors, then +1 by largest remainder while the budget allows."""
    a = np.asarray(a, dtype=float)
    base = np.floor(a + 1e-9)
    base = np.clip(base, lower, upper)
    left = float(budget) - float(np.sum(cost * base))
    frac = a - base
    for i in np.argsort(-frac, kind="stable"):
        if frac[i] <= 1e-9:
            break
        if cost[i] <= left + 1e-9 and base[i] + 1 <= upper[i]:
            base[i] += 1
            left -= cost[i]
    return base


# --------------------------------------------------------------------------------------
# The sampling key: arithmetic every engine computes the same way
# --------------------------------------------------------------------------------------
def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _constants(seed: int) -> list[int]:
    """Six multipliers/offsets from the seed (SplitMix64: fixed forever, no library stream)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise InvalidArgumentError(f"seed={seed!r} must be an integer, e.g. seed=2026.")
    out, state = [], int(seed) & _MASK64
    for i in range(6):
        state = _splitmix64(state)
        p = _P1 if i < 2 else _P2
        out.append(state % (p - 1) + 1)  # in [1, p): a multiplier must not be 0 mod p
    return out


def with_hash_key(frame: Any, id_column: str, seed: int, name: str = "_key") -> nw.LazyFrame:
    """Add each row's sampling key: a 62-bit integer from its integer id and the seed.

    The same integers in every engine (polars, DuckDB, pandas, pyarrow, Spark through
    narwhals): only ``+``, ``*`` and ``%`` on 64-bit integers whose products stay below
    2^62, computed in a few projection steps (so SQL engines get a short expression, not
    one whose text repeats every sub-expression). Distinct ids below about 4.6e18 get
    distinct keys (the map is a bijection of the id's residues modulo the two primes).
    Null ids get a null key.

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"id": [1, 2, 3]})
    >>> keys = with_hash_key(df, "id", seed=7).collect().to_native()["_key"].to_list()
    >>> keys == [_key_of(i, 7) for i in (1, 2, 3)]
    True
    """
    a1, b1, a2, b2, a3, b3 = _constants(seed)

    def lit(v: int) -> nw.Expr:
        return nw.lit(v, nw.Int64)

    def col(c: str) -> nw.Expr:
        return nw.col(c)

    def round_(lf: nw.LazyFrame, x: nw.Expr, a: int, b: int, p: int, out: str) -> nw.LazyFrame:
        # y = (a x + b) mod p, then y^5 mod p by squaring: each product below 2^62.
        lf = lf.with_columns(((x * lit(a) + lit(b)) % lit(p)).alias("_y"))
        lf = lf.with_columns(((col("_y") * col("_y")) % lit(p)).alias("_y2"))
        lf = lf.with_columns(((col("_y2") * col("_y2")) % lit(p)).alias("_y2"))
        return lf.with_columns(((col("_y2") * col("_y")) % lit(p)).alias(out))

    lf = frames.to_lazy(frame)
    c = nw.col(id_column)
    # Residues in [0, p) whatever the engine's sign convention for %.
    lf = lf.with_columns(
        (((c % lit(_P1)).cast(nw.Int64) + lit(_P1)) % lit(_P1)).alias("_x1"),
        (((c % lit(_P2)).cast(nw.Int64) + lit(_P2)) % lit(_P2)).alias("_x2"),
    )
    lf = round_(lf, col("_x2"), a3, b3, _P2, "_u")
    lf = round_(lf, (col("_x1") + col("_u")) % lit(_P1), a1, b1, _P1, "_hi")
    lf = round_(lf, (col("_x2") + col("_hi")) % lit(_P2), a2, b2, _P2, "_lo")
    lf = lf.with_columns((col("_hi") * lit(_P2) + col("_lo")).alias(name))
    return lf.drop("_x1", "_x2", "_u", "_hi", "_lo", "_y", "_y2")


def _key_of(i: int, seed: int) -> int:
    """:func:`with_hash_key` in plain Python integers: the reference the engines are tested against."""
    a1, b1, a2, b2, a3, b3 = _constants(seed)

    def round_(x: int, a: int, b: int, p: int) -> int:
        return pow((a * x + b) % p, 5, p)

    x1, x2 = i % _P1, i % _P2
    u = round_(x2, a3, b3, _P2)
    hi = round_((x1 + u) % _P1, a1, b1, _P1)
    lo = round_((x2 + hi) % _P2, a2, b2, _P2)
    return hi * _P2 + lo


# --------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------
def _pts(x: float) -> str:
    """A half-width in points: '±3.0'."""
    return prose.points(x, sign="±")


class RefreshPlan(Result):
    """Result of :func:`refresh_plan`: how many production items to label, per segment.

    Attributes
    ----------
    table : polars.DataFrame
        One row per segment (production's and the eval set's): the ``by`` columns,
        ``share`` (of production), ``production_rows`` (its items: rows, or the sum of
        ``weight``; a segment gets at most that many labels), ``eval_rows`` (labeled eval items
        today), ``eval_share``, ``eval_value`` (the metric on them), ``planning_rate``,
        ``covered`` (at least ``min_per_segment`` eval items), ``halfwidth_today``,
        ``labels_needed`` (to bring the segment's interval to ``halfwidth``), ``labels``
        (the plan), ``optimal_labels`` (before integer rounding), ``price`` (per label: 1
        without ``cost``), ``cost`` (``labels * price``),
        ``halfwidth_planned``, ``reaches_target``, ``shortfall`` (labels the budget leaves
        out), ``retire`` (eval items that could go; null unless ``retire`` was given).
    overall : polars.DataFrame
        Two rows, ``today`` and ``planned``: the post-stratified metric (``value``,
        ``ci_low``, ``ci_high`` on the covered traffic, today only), ``halfwidth`` (today:
        of that interval; planned: expected, at the planning rates), ``covered_share``,
        ``bound_low``/``bound_high`` (over all traffic: uncovered segments may be anything
        from 0 to 1), ``halfwidth_all`` (half their distance), ``eval_rows``, ``labels``,
        ``cost``.
    """

    title = "Golden-set refresh plan"

    def __init__(self, table, overall, *, by, metric, halfwidth, confidence, budget,
                 money, min_per_segment, retire, reference, n_segments_dropped) -> None:  # fmt: skip
        super().__init__(table)
        self.overall = overall
        self.by = by
        self.metric = metric
        self.halfwidth = halfwidth
        self.confidence = confidence
        self.budget = budget
        self.money = money
        self.min_per_segment = min_per_segment
        self.retire = retire
        self._reference = reference
        self._eval_only = n_segments_dropped

    # ---- words ------------------------------------------------------------------------
    def _name(self, row: Mapping[str, Any]) -> str:
        return _segment_name(row, self.by)

    def _metric_words(self) -> str:
        return f"re-weighted {self._metric_name()}" if self.metric else "re-weighted metric"

    def _metric_name(self) -> str:
        try:
            return mreg.get(self.metric).display_name
        except InvalidArgumentError:
            return prose.readable_column(str(self.metric))

    def _value(self, v: float) -> str:
        """A figure of the metric: a share in percent ('90.4%'), else by its size."""
        try:
            in_points = mreg.get(self.metric).in_points
        except InvalidArgumentError:
            in_points = False
        return prose.percent(v, 1) if in_points else prose.number(v, None)

    @property
    def labels(self) -> int:
        """Total new labels planned."""
        return int(self.table["labels"].sum())

    def summary(self) -> list[str]:
        t = self.table
        today, planned = (self.overall.row(i, named=True) for i in (0, 1))
        total = self.labels
        lines = []
        if total == 0:
            lines.append(
                f"No new labels needed: every segment's interval is already within "
                f"{_pts(self.halfwidth)} points and every segment has at least "
                f"{self.min_per_segment} eval items."
            )
        else:
            ranked = t.filter(pl.col("labels") > 0).sort("labels", descending=True)
            named = ranked.head(3 if ranked.height <= 3 else 2)
            parts = []
            for r in named.iter_rows(named=True):
                tag = (
                    f" (uncovered, {prose.share(r['share'])} of traffic)"
                    if not r["covered"]
                    else ""
                )
                parts.append(f"{r['labels']:,.0f} {self._name(r)}{tag}")
            rest = ranked.slice(named.height)
            if rest.height:
                parts.append(f"{rest['labels'].sum():,.0f} across the rest")
            spent = f" (cost {planned['cost']:,.2f})" if self.money and planned["cost"] else ""
            lines.append(
                f"Label {prose.count(total, 'new item')}{spent}: "
                + ("; " if len(self.by) > 1 else ", ").join(parts)
                + "."
            )
        unit = " points" if self.metric else ""
        uncovered = 1 - today["covered_share"]
        if self.metric:
            if today["value"] is None:  # no labeled eval item at all: no value, no bounds
                lines.append(
                    f"The eval set has no labeled items today, so it says nothing about the "
                    f"{self.metric}; with the plan, the {self._metric_words()} would be known "
                    f"within {_pts(planned['halfwidth_all'])}{unit}."
                )
            elif uncovered > 0:
                lines.append(
                    f"The {self._metric_words()}'s interval narrows from "
                    f"{_pts(today['halfwidth_all'])} to {_pts(planned['halfwidth_all'])}{unit}: "
                    f"today the eval set has no labeled items for {prose.share(uncovered)} of traffic, "
                    f"so over all traffic it can only say the {self._metric_name()} lies "
                    f"between {self._value(today['bound_low'])} and "
                    f"{self._value(today['bound_high'])} (on the traffic it covers, "
                    f"{self._value(today['value'])} {_pts(today['halfwidth'])} points)."
                )
            else:
                lines.append(
                    f"The {self._metric_words()}'s interval goes from "
                    f"{_pts(today['halfwidth'])} to {_pts(planned['halfwidth'])}{unit} "
                    f"(today {self._value(today['value'])})."
                )
        short = t.filter(~pl.col("reaches_target") & (pl.col("share") > 0))
        if short.height:
            worst = short.sort("shortfall", "halfwidth_planned", descending=True).head(3)

            def why(r: dict) -> str:
                if r["labels"] >= r["production_rows"]:
                    return f"even with all {r['production_rows']:,} of its production items"
                return f"{r['shortfall']:,.0f} more labels would reach it"

            names = ", ".join(
                f"{self._name(r)} ({_pts(r['halfwidth_planned'])} points; {why(r)})"
                for r in worst.iter_rows(named=True)
            )
            what = "The budget leaves" if self.budget is not None else "The plan leaves"
            lines.append(
                f"{what} {short.height} segment{'s' if short.height > 1 else ''} wider than "
                f"{_pts(self.halfwidth)} points: {names}."
            )
        elif total:
            lines.append(
                f"Every segment's interval reaches {_pts(self.halfwidth)} points at its "
                "planning rate."
            )
        if self.retire is not None:
            out = t.filter(pl.col("retire") > 0).sort("retire", descending=True)
            if out.height:
                names = ", ".join(
                    f"{r['retire']:,.0f} {self._name(r)} ({prose.share(r['eval_share'])} of the eval "
                    f"set, {prose.share(r['share'])} of traffic)"
                    for r in out.head(3).iter_rows(named=True)
                )
                lines.append(
                    f"{prose.count(out['retire'].sum(), 'eval item')} could retire from segments "
                    f"that fill over {self.retire:g}x their share of traffic in the eval set: "
                    f"{names}. They are only reported: nothing is deleted."
                )
        return lines

    def headline(self) -> Headline:
        """One sentence and its key figures, for the monthly audit's golden-set line."""
        today, planned = (self.overall.row(i, named=True) for i in (0, 1))
        uncovered = self.table.filter(~pl.col("covered") & (pl.col("share") > 0))
        gap = float(uncovered["share"].sum())
        if self.labels == 0:
            sentence = "The golden set still covers production: no new labels needed."
        else:
            top = uncovered.sort("share", descending=True)
            where = (
                f" ({', '.join(self._name(r) for r in top.head(2).iter_rows(named=True))}"
                + (", ..." if top.height > 2 else "")
                + ")"
                if top.height
                else ""
            )
            lead = (
                f"{prose.share(gap)} of traffic has too few golden examples{where}"
                if gap > 0
                else "the golden set's segments are too thin"
            )
            tail = ""
            if self.metric:
                tail = (
                    f"; the {self._metric_words()} would be known within "
                    f"{_pts(planned['halfwidth_all'])} points over all traffic, against "
                    f"{_pts(today['halfwidth_all'])} today"
                )
            sentence = (
                f"Label {prose.count(self.labels, 'item')} to restore the golden set: {lead}{tail}."
            )
        figures = {
            "labels": self.labels,
            "cost": planned["cost"],
            "uncovered_share": gap,
            "halfwidth_today": today["halfwidth_all"],
            "halfwidth_planned": planned["halfwidth_all"],
            "segments_short": int(
                self.table.filter(~pl.col("reaches_target") & (pl.col("share") > 0)).height
            ),
        }
        return Headline(sentence, figures)

    def notes(self) -> list[str]:
        out = [
            f"Assumes the eval set's existing items still represent their segment of "
            f"{', '.join(self.by)} (post-stratification's assumption): if quality moved "
            "within a segment, its old items mislead, whatever their number.",
            "Planning rates are the least favourable ones the eval set allows (1/2 where a "
            "segment has no labels), so planned widths are upper bounds; production shares "
            "are treated as known.",
        ]
        capped = self.table.filter(
            (pl.col("labels") > 0) & (pl.col("labels") >= pl.col("production_rows"))
        )
        if capped.height:
            out.append(
                f"{capped.height} segment(s) ask for every production item they have: "
                + ", ".join(self._name(r) for r in capped.head(5).iter_rows(named=True))
                + "."
            )
        if self.budget is not None:
            spent = float(self.overall["cost"][1])
            price = float(self.table.filter(pl.col("share") > 0)["price"].max() or 0)
            if spent < self.budget - max(price, 1.0) - 1e-9:
                out.append(
                    f"The budget is more than production can take: {self.budget - spent:,.6g} "
                    "of it is left (every production item of the segments that want more is "
                    "already planned)."
                )
        if self._eval_only:
            out.append(
                f"{self._eval_only} eval segment(s) have no production rows at all (share 0): "
                "they weigh nothing in the re-weighted metric."
            )
        if self.retire is not None:
            out.append(
                "Items to retire are only reported; the planned interval assumes none is removed."
            )
        return out

    def chart(self, **kwargs: Any):
        """Production mix against the eval set's mix today and after the plan, per segment."""
        from aidebt import charts

        return charts.refresh_chart(self.table, self.by, **kwargs)

    def _display_table(self) -> pl.DataFrame:
        return self.table.select(
            *self.by,
            "share",
            "eval_rows",
            "covered",
            "labels_needed",
            "labels",
            "halfwidth_today",
            "halfwidth_planned",
            "reaches_target",
        )

    # ---- the sample -------------------------------------------------------------------
    def sample(
        self,
        current: Any,
        *,
        seed: int,
        id: str,  # noqa: A002 - the column is the item's id
        exclude: Any = None,
        path: str | os.PathLike[str] | None = None,
    ) -> pl.DataFrame:
        """Draw the planned number of items per segment from the production log.

        Parameters
        ----------
        current
            The production log (any input aidebt reads): the rows to draw from, with ``id``
            and the ``by`` columns.
        seed
            Any integer: the same seed draws the same items, in every engine.
        id
            An integer column naming each item (unique). String ids: map them to integers
            first (a stable surrogate key), since no string hash is the same in every engine.
        exclude
            Items never to draw (already in the eval set): a frame or path with the ``id``
            column. Default: the plan's eval set when it has an ``id`` column. ``False``:
            exclude nothing.
        path
            Write the sample there too: ``.parquet`` or ``.csv``.

        Returns
        -------
        polars.DataFrame
            ``id``, the ``by`` columns and ``draw`` (1, 2, ... within the segment: label
            in that order and any prefix is still a random sample), sorted by segment and draw.

        Notes
        -----
        Rows with a null id are never drawn. Ids are checked for duplicates among the
        candidate rows (those the draw looks at), not over the whole log, so that the scan
        stays in bounded memory; a duplicated id that could be drawn raises.

        Examples
        --------
        >>> import aidebt as ad, polars as pl
        >>> prod = ad.datasets.demo(2_000, months=1).with_row_index("item", offset=1)
        >>> plan = refresh_plan(ad.datasets.demo_eval(300), prod, by="intent",
        ...                     y_true="y_true", y_pred="y_pred", budget=100)
        >>> s = plan.sample(prod, seed=1, id="item")
        >>> s.height, s.columns
        (100, ['item', 'intent', 'draw'])
        """
        frame = frames.to_lazy(current)
        frames.require_columns(frame, [id], role="id")
        frames.require_columns(frame, self.by, role="a segment column of the plan")
        schema = frames.columns(frame)
        if not schema[id].is_integer():
            raise ColumnTypeError(
                f"Column {id!r} (id) has type {schema[id]} with values such as "
                f"{frames.sample_values(frame, id)}; the sample needs integer ids, because its "
                "hash is integer arithmetic that every engine computes alike. Map the ids to "
                "integers first (a stable surrogate key kept next to the original id)."
            )
        if path is not None:
            suffix = Path(str(path)).suffix.lower()
            if suffix not in (".parquet", ".pq", ".csv"):
                raise InvalidArgumentError(
                    f"path={str(path)!r}: write the sample as .parquet or .csv."
                )
        excluded = self._excluded_ids(exclude, id)
        plan = self.table.filter(pl.col("labels") > 0).select(
            *self.by, pl.col("labels").cast(pl.Int64), "production_rows"
        )
        if plan.height == 0:
            out = frame.select(id, *self.by).head(0).collect(backend="polars").to_native()
            return out.with_columns(draw=pl.lit(0, pl.Int64)).head(0)
        n_excl = 0 if excluded is None else excluded.height
        need = plan["labels"].to_numpy().astype(float)
        rows = plan["production_rows"].to_numpy().astype(float)
        frac = np.minimum(1.0, (need + 6 * np.sqrt(need) + 32 + n_excl) / np.maximum(rows, 1))
        shift = np.clip(np.floor(-np.log2(frac)), 0, 60).astype(int)
        seg_key = _segment_expr(self.by, schema)
        everywhere = self.table.filter(
            (pl.col("labels") == 0) & (pl.col("production_rows") > 0)
        ).is_empty()
        while True:
            targets = plan.select(
                _segment_strings(plan, self.by),
                "labels",
                pl.Series("_thr", [KEY_SPACE >> int(k) for k in shift], dtype=pl.Int64),
            )
            drawn, short = self._draw(frame, targets, seg_key, seed, id, excluded, everywhere)
            retry = short & (shift > 0)
            if not retry.any():
                break
            # Rare (more exclusions than the margin allowed): 4x the threshold, scan again.
            shift = np.where(retry, np.maximum(shift - 2, 0), shift)
        got = (
            plan.select(*self.by, "labels")
            .join(
                drawn.group_by(self.by).agg(pl.len().alias("_got")),
                on=self.by,
                how="left",
            )
            .with_columns(pl.col("_got").fill_null(0))
        )
        empty = got.filter(pl.col("_got") == 0)
        if empty.height:
            names = ", ".join(self._name(r) for r in empty.head(5).iter_rows(named=True))
            raise InvalidValueError(
                f"The log holds no drawable rows for {empty.height} planned segment(s): "
                f"{names} (no rows, or every row already in the eval set or with a null "
                f"{id!r}). Pass the production log the plan was made on, or re-plan on this one."
            )
        lacking = got.filter(pl.col("_got") < pl.col("labels"))
        if lacking.height:
            names = ", ".join(
                f"{self._name(r)} ({r['_got']:,} of {r['labels']:,})"
                for r in lacking.head(5).iter_rows(named=True)
            )
            warnings.warn(
                f"Fewer drawable items than planned in {lacking.height} segment(s): {names}. "
                "Every one of them is in the sample.",
                stacklevel=2,
            )
        if path is not None:
            _write(drawn, Path(str(path)))
        return drawn

    def _excluded_ids(self, exclude: Any, id: str) -> pl.DataFrame | None:  # noqa: A002
        if exclude is False:
            return None
        if exclude is None:
            ref = frames.to_lazy(self._reference)
            if id not in frames.columns(ref):
                return None
            source = ref
        else:
            source = frames.to_lazy(exclude)
            frames.require_columns(source, [id], role="id of the items to exclude")
        ids = source.select(nw.col(id)).filter(~nw.col(id).is_null()).unique()
        return aggregate.collect(ids)

    def _draw(self, frame, targets, seg_key, seed, id, excluded, everywhere):  # noqa: A002
        """One scan: the rows under their segment's key threshold, then the rank on those few.

        ``targets``: per planned segment, ``_seg`` (its string), ``labels`` and ``_thr``.
        ``everywhere``: every production segment is planned, so one threshold may do.
        """
        tiers = targets.group_by("_thr").agg(pl.col("_seg")).sort("_thr")
        if tiers.height == 1 and everywhere:
            thr = nw.lit(int(tiers["_thr"][0]), nw.Int64)
        else:  # a CASE over a few threshold tiers (powers of two), -1 for unplanned segments
            thr = nw.lit(-1, nw.Int64)
            for t, segs in tiers.iter_rows():
                hit = seg_key.is_in(list(segs))
                thr = nw.when(hit).then(nw.lit(int(t), nw.Int64)).otherwise(thr)
        rows = frame.select(nw.col(id), *(nw.col(c) for c in self.by))
        query = with_hash_key(rows, id, seed).filter(
            ~nw.col("_key").is_null() & (nw.col("_key") < thr)
        )
        cands = aggregate.collect(query)
        dup = cands.filter(pl.col(id).is_duplicated())
        if dup.height:
            shown = ", ".join(repr(v) for v in dup[id].unique().sort().head(5).to_list())
            raise InvalidValueError(
                f"Column {id!r} (id) repeats values among the rows the sample draws from "
                f"(e.g. {shown}): an id must name one production item. Deduplicate the log "
                "(e.g. keep one row per id) or pass a unique key as id=."
            )
        if excluded is not None and cands.height:
            ex = excluded.select(pl.col(id).cast(cands.schema[id], strict=False)).drop_nulls()
            cands = cands.join(ex, on=id, how="anti")
        ranked = (
            cands.with_columns(_segment_strings(cands, self.by))
            .join(targets.select("_seg", "labels"), on="_seg", how="inner")
            .sort("_key", id)
            .with_columns(draw=pl.col("_key").cum_count().over("_seg").cast(pl.Int64))
        )
        have = targets.join(ranked.group_by("_seg").len(), on="_seg", how="left")["len"]
        short = have.fill_null(0).to_numpy() < targets["labels"].to_numpy()
        drawn = (
            ranked.filter(pl.col("draw") <= pl.col("labels"))
            .sort("_seg", "draw")
            .select(id, *self.by, "draw")
        )
        return drawn, short


def _segment_strings(table: pl.DataFrame, by: Sequence[str]) -> pl.Series:
    """``_seg``: one string per row naming its segment, by the rule of :func:`_segment_expr`."""
    frame = nw.from_native(table.select(by))
    return frame.select(_segment_expr(by, frame.schema).alias("_seg")).to_native().to_series()


def _segment_expr(by: Sequence[str], schema: Mapping[str, Any]) -> nw.Expr:
    """In the engine: the row's segment as one string (group values as aidebt tidies them)."""
    keys = [frames.group_key(c, schema[c]) for c in by]
    return keys[0] if len(keys) == 1 else nw.concat_str(keys, separator="\x1f")


def _write(table: pl.DataFrame, path: Path) -> None:
    """Write atomically (a temporary name, then a rename): a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        if path.suffix.lower() == ".csv":
            table.write_csv(tmp)
        else:
            table.write_parquet(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _check_args(halfwidth, budget, cost, min_per_segment, retire) -> None:
    if (
        not isinstance(halfwidth, int | float)
        or isinstance(halfwidth, bool)
        or not (0 < halfwidth < 0.5)
    ):
        raise InvalidArgumentError(
            f"halfwidth={halfwidth!r} must be a number between 0 and 0.5: the interval's "
            "half-width on the metric's scale, e.g. 0.03 for ±3 points."
        )
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, int | float) or not budget > 0
    ):
        raise InvalidArgumentError(
            f"budget={budget!r} must be a positive number: labels, or money with cost=."
        )
    if cost is not None and not isinstance(cost, Mapping):
        if isinstance(cost, bool) or not isinstance(cost, int | float) or not cost > 0:
            raise InvalidArgumentError(
                f"cost={cost!r} must be a positive price per label, or a mapping "
                "{segment: price per label}."
            )
    if (
        isinstance(min_per_segment, bool)
        or not isinstance(min_per_segment, int | np.integer)
        or min_per_segment < 0
    ):
        raise InvalidArgumentError(
            f"min_per_segment={min_per_segment!r} must be a whole number >= 0, e.g. 30."
        )
    if retire is not None and (
        isinstance(retire, bool) or not isinstance(retire, int | float) or not retire > 1
    ):
        raise InvalidArgumentError(
            f"retire={retire!r} must be None or a ratio above 1: flag segments whose share "
            "of the eval set exceeds that many times their share of traffic (e.g. 3)."
        )


def _key_string(value: Any) -> str:
    """A segment value as aidebt's group keys spell it (None: (missing), True: true)."""
    if value is None:
        return frames.MISSING_GROUP
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _segment_name(row: Mapping[str, Any], by: Sequence[str]) -> str:
    """A segment for readers: its value, or ``Intent: x and Tier: y`` for several columns."""
    if len(by) == 1:
        return str(row[by[0]])
    return prose.group_phrase(row, by)


def _costs(cost, seg: pl.DataFrame, by: list[str]) -> np.ndarray:
    """Price per label of each segment (1 when no cost is given)."""
    if cost is None:
        return np.ones(seg.height)
    if not isinstance(cost, Mapping):
        return np.full(seg.height, float(cost))
    names = _segment_strings(seg, by).to_list()
    keys = {}
    for k, v in cost.items():
        parts = (k,) if len(by) == 1 and not isinstance(k, tuple) else tuple(k)
        if len(parts) != len(by):
            raise InvalidArgumentError(
                f"cost key {k!r} must name one value of each of {by} (a tuple)."
            )
        name = "\x1f".join(_key_string(p) for p in parts)
        if isinstance(v, bool) or not isinstance(v, int | float) or not v > 0:
            raise InvalidArgumentError(f"cost[{k!r}]={v!r} must be a positive price per label.")
        keys[name] = float(v)
    in_prod = {n for n, r in zip(names, seg["production_rows"].to_list(), strict=True) if r > 0}
    unknown = [k for k in keys if k not in in_prod]
    if unknown:
        shown = unknown[0].replace("\x1f", " / ")
        raise InvalidArgumentError(
            f"cost names the segment {shown!r}, which has no production rows: nothing there "
            f"to label. {did_you_mean(shown, [n.replace(chr(31), ' / ') for n in in_prod])}"
        )
    missing = [n for n in in_prod if n not in keys]
    if missing:
        shown = ", ".join(repr(n.replace("\x1f", " / ")) for n in missing[:5])
        raise InvalidArgumentError(
            f"cost gives no price for {len(missing)} production segment(s): {shown}. Give "
            "every segment a price, or pass one price for all (cost=0.8)."
        )
    return np.array([keys.get(n, 1.0) for n in names])


def refresh_plan(
    reference: Any,
    current: Any,
    *,
    by: str | Sequence[str],
    y_true: str | None = None,
    y_pred: str | None = None,
    metric: str = "accuracy",
    halfwidth: float = 0.03,
    budget: float | None = None,
    cost: float | Mapping[Any, float] | None = None,
    min_per_segment: int = 30,
    retire: float | None = None,
    confidence: float = 0.95,
    weight: str | None = None,
    reference_weight: str | None = None,
    pos_label: Any = None,
) -> RefreshPlan:
    """Plan the labels that make the golden (eval) set measure today's production again.

    Parameters
    ----------
    reference
        The eval (golden) set, with the ``by`` columns (and labels to measure the metric).
    current
        Production rows (labels not needed), e.g. the latest month of the log.
    by
        Segment column(s), present in both: the kinds of requests the metric varies with.
    y_true, y_pred
        The eval set's label and prediction columns. Without them every segment's rate is
        unknown (planned at 1/2) and no metric is reported.
    metric
        A proportion measured on every labeled item: ``accuracy``, ``error_rate`` or
        ``prevalence``.
    halfwidth
        The target: each segment's interval no wider than this each side (0.03 = ±3 points).
    budget
        Labels to spend, or money when ``cost`` is given. None: the labels that bring every
        segment to ``halfwidth``. With a budget: the allocation that minimises the variance
        of the re-weighted metric (see Notes).
    cost
        Price per label: one number, or ``{segment value (a tuple for several by columns):
        price}`` naming every production segment.
    min_per_segment
        Every segment with fewer eval items than this gets at least enough labels to reach
        it (capped at its production rows). It is also the bar for ``covered``.
    retire
        A ratio above 1: report eval items in segments whose share of the eval set exceeds
        ``retire`` times their share of traffic, beyond what the segment's own interval
        target and ``min_per_segment`` need. Never deletes anything.
    confidence
        Interval level.
    weight, reference_weight
        Frequency weights of production and of the eval set.
    pos_label
        Value of ``y_true``/``y_pred`` meaning positive, when they are not 0/1.

    Returns
    -------
    RefreshPlan
        ``.table`` (per segment), ``.overall`` (today vs planned), ``.summary()``,
        ``.headline()``, ``.notes()``, ``.chart()``, and ``.sample(current, seed=, id=)``
        to draw the items.

    Notes
    -----
    The re-weighted (post-stratified) metric is ``sum_h W_h p_h`` over segments ``h`` with
    production shares ``W_h``; its variance given ``n_h`` labeled items per segment is
    Cochran's ``sum_h W_h^2 p_h (1 - p_h) / n_h``. With a budget ``B`` and prices ``c_h``,
    the new labels ``a_h`` minimise it subject to ``sum c_h a_h = B``: the total ``n_h + a_h``
    follows the cost-weighted Neyman allocation ``∝ W_h S_h / sqrt(c_h)``, clipped at the
    minimums and at what production holds (derivation and references in the module
    docstring). Planning rates are the least favourable values of each segment's Wilson
    interval (1/2 where it has no labels). Assumes each segment's existing eval items still
    represent it.

    Examples
    --------
    >>> import aidebt as ad
    >>> logs = ad.datasets.demo(5_000)
    >>> month = logs.filter(logs["ts"] >= logs["ts"].max().replace(day=1))
    >>> plan = refresh_plan(ad.datasets.demo_eval(), month, by="intent",
    ...                     y_true="y_true", y_pred="y_pred", budget=1_000)
    >>> plan.table.sort("labels", descending=True)["intent"][0]
    'account_recovery'
    >>> plan.labels
    1000
    """
    by_cols = frames.as_list(by)
    if not by_cols:
        raise InvalidArgumentError("refresh_plan needs segment columns: pass by='intent'.")
    confidence = st.check_confidence(confidence)
    _check_args(halfwidth, budget, cost, min_per_segment, retire)
    ev, prod = frames.to_lazy(reference), frames.to_lazy(current)
    frames.require_columns(ev, by_cols, role="a segment column of the eval set (reference)")
    frames.require_columns(prod, by_cols, role="a segment column of production (current)")
    m = None
    if y_true is not None or y_pred is not None:
        m = mreg.get(metric)
        if not m.binomial or tuple(m.denominator) not in _PER_LABEL:
            raise InvalidArgumentError(
                f"refresh_plan plans labels for a proportion measured on every labeled item "
                f"(accuracy, error_rate, prevalence); {m.name!r} "
                + (
                    f"counts only {m.denominator_name}, whose number among new labels is "
                    "unknown before labeling. Plan for 'accuracy' or 'error_rate'."
                    if m.binomial
                    else f"is a {m.kind}. Plan for 'accuracy' or 'error_rate'."
                )
            )
        roles = mreg.roles_for([m], {}, y_true, y_pred, None, reference_weight, pos_label)
        ev_stats = aggregate.sufficient_stats(ev, by_cols, roles)
        ev_counts = ev_stats.select(
            *by_cols,
            pl.sum_horizontal(list(m.numerator)).alias("_x"),
            pl.sum_horizontal(list(m.denominator)).alias("eval_rows"),
        )
    else:
        ev_counts = aggregate.value_counts(ev, by_cols, weight=reference_weight).select(
            *by_cols, pl.lit(None, pl.Float64).alias("_x"), pl.col("n").alias("eval_rows")
        )
    prod_counts = aggregate.value_counts(prod, by_cols, weight=weight)
    total = float(prod_counts["n"].sum()) if prod_counts.height else 0.0
    if total <= 0:
        raise InvalidArgumentError(
            "production (current) has no rows"
            + (" with weight > 0" if weight else "")
            + ": there is no traffic to plan labels for."
        )
    seg = (
        prod_counts.select(
            *by_cols,
            pl.col("n").alias("_w"),
            # Items to draw from: rows, or what frequency weights stand for.
            pl.col("n").floor().alias("production_rows"),
        )
        .join(ev_counts, on=by_cols, how="full", coalesce=True)
        .with_columns(
            pl.col("_w").fill_null(0.0),
            pl.col("production_rows").fill_null(0).cast(pl.Int64),
            pl.col("eval_rows").fill_null(0.0),
        )
        .with_columns(share=pl.col("_w") / total)
        .sort("share", *by_cols, descending=[True, *([False] * len(by_cols))])
    )
    w = seg["share"].to_numpy()
    n0 = seg["eval_rows"].to_numpy()
    x = seg["_x"].fill_null(0.0).to_numpy() if m is not None else None
    rows = seg["production_rows"].to_numpy().astype(float)
    in_prod = rows > 0
    c = _costs(cost, seg, by_cols)
    p_plan = planning_rate(x, n0, confidence)
    sd = np.sqrt(p_plan * (1 - p_plan))
    need_total = labels_for_halfwidth(p_plan, halfwidth, confidence)
    needed = np.where(in_prod, np.minimum(np.maximum(need_total - n0, 0), rows), 0.0)
    needed = np.ceil(needed)
    uncovered = n0 < min_per_segment
    lower = np.where(in_prod & uncovered, np.minimum(np.ceil(min_per_segment - n0), rows), 0.0)
    upper = np.where(in_prod, rows, 0.0)

    if budget is None:
        optimal = np.maximum(needed, lower)
        labels = optimal.copy()
    else:
        floor_spend = float(np.sum(c * lower))
        if budget < floor_spend - 1e-9:
            _raise_budget_too_small(
                seg, by_cols, lower, c, budget, cost is not None, min_per_segment
            )
        optimal = optimal_allocation(w, sd, n0, budget, cost=c, lower=lower, upper=upper)
        spendable = math.floor(budget + 1e-9) if cost is None else float(budget)
        labels = _round_allocation(optimal, c, spendable, lower, upper)
    n1 = n0 + labels
    # Today's per-segment width: at the observed rate (1/2 without labels; 1/2 wide at n = 0).
    observed = x / np.maximum(n0, 1) if x is not None else np.full(n0.shape, 0.5)
    hw_today = wilson_halfwidth(np.where(n0 > 0, observed, 0.5), n0, confidence)
    hw_plan = wilson_halfwidth(p_plan, n1, confidence)
    reaches = (hw_plan <= halfwidth + 1e-12) | ~in_prod
    shortfall = np.where(in_prod, np.maximum(needed - labels, 0), 0)
    eval_total = float(n0.sum())
    retire_n = None
    if retire is not None:
        keep = np.maximum.reduce(
            [
                np.ceil(retire * w * eval_total),
                need_total,
                np.full(w.shape, float(min_per_segment)),
            ]
        )
        keep = np.where(in_prod, keep, 0.0)
        over = (n0 / max(eval_total, 1.0)) > retire * w
        retire_n = np.where(over, np.maximum(n0 - keep, 0), 0)

    table = seg.select(*by_cols).with_columns(
        share=pl.Series(w),
        production_rows=seg["production_rows"],
        eval_rows=pl.Series(n0),
        eval_share=pl.Series(n0 / eval_total if eval_total else np.zeros_like(n0)),
        eval_value=pl.Series(
            np.where((n0 > 0) & (x is not None), observed, np.nan), nan_to_null=True
        ),
        planning_rate=pl.Series(p_plan),
        covered=pl.Series(~uncovered),
        halfwidth_today=pl.Series(hw_today),
        labels_needed=pl.Series(needed).cast(pl.Int64),
        labels=pl.Series(labels).cast(pl.Int64),
        optimal_labels=pl.Series(optimal, dtype=pl.Float64),
        price=pl.Series(c, dtype=pl.Float64),
        cost=pl.Series(labels * c),
        halfwidth_planned=pl.Series(hw_plan),
        reaches_target=pl.Series(reaches),
        shortfall=pl.Series(shortfall).cast(pl.Int64),
        retire=pl.Series(retire_n, dtype=pl.Int64)
        if retire_n is not None
        else pl.lit(None, pl.Int64),
    )
    overall = _overall(w, x, n0, n1, sd, labels, c, m, confidence)
    return RefreshPlan(
        table,
        overall,
        by=by_cols,
        metric=m.name if m is not None else None,
        halfwidth=float(halfwidth),
        confidence=confidence,
        budget=budget,
        money=cost is not None,
        min_per_segment=int(min_per_segment),
        retire=retire,
        reference=reference,
        n_segments_dropped=int((~in_prod).sum()),
    )


def _raise_budget_too_small(seg, by, lower, c, budget, money, min_per_segment) -> None:
    """Say what the budget reaches: the minimums of the largest uncovered segments."""
    order = np.argsort(-seg["share"].to_numpy(), kind="stable")
    need = (c * lower)[order]
    mask = lower[order] > 0
    cum = np.cumsum(np.where(mask, need, 0))
    reached = [
        seg.row(int(i), named=True)
        for i, ok in zip(order, mask & (cum <= budget + 1e-9), strict=True)
        if ok
    ]
    unit = "" if money else " labels"
    what = (
        "It reaches the minimum in "
        + ", ".join(f"{_segment_name(r, by)} ({r['share']:.0%} of traffic)" for r in reached)
        if reached
        else "It reaches the minimum in none of them"
    )
    total = float(np.sum(c * lower))
    n_unc = int((lower > 0).sum())
    raise InvalidArgumentError(
        f"budget={budget:,.6g}{unit} cannot give each of the {n_unc} uncovered segments its "
        f"minimum of {min_per_segment} eval items ({total:,.6g}{unit} needed). {what}. Raise "
        f"the budget to {total:,.6g}, or lower min_per_segment."
    )


def _overall(w, x, n0, n1, sd, labels, c, m, confidence) -> pl.DataFrame:
    """Today vs planned: the post-stratified metric's interval and its bounds over all traffic."""
    z = st.normal_quantile(confidence)
    in_prod = w > 0

    def planned_hw(n: np.ndarray) -> tuple[float, float]:
        ok = in_prod & (n > 0)
        share = float(w[ok].sum())
        if share == 0:
            return float("nan"), 0.0
        ww = w[ok] / share
        return z * math.sqrt(float(np.sum(ww**2 * sd[ok] ** 2 / n[ok]))), share

    rows = []
    hw0, cov0 = planned_hw(n0)
    hw1, cov1 = planned_hw(n1)
    today = dict(value=None, ci_low=None, ci_high=None, halfwidth=hw0)
    if m is not None:
        r = stratified_proportion(w, x, n0, confidence)
        if np.isfinite(r["value"]):
            today = dict(
                value=r["value"],
                ci_low=r["ci_low"],
                ci_high=r["ci_high"],
                halfwidth=(r["ci_high"] - r["ci_low"]) / 2,
            )
    for stage, info, cov, n, lab in (
        ("today", today, cov0, n0, np.zeros_like(labels)),
        ("planned", dict(value=None, ci_low=None, ci_high=None, halfwidth=hw1), cov1, n1, labels),
    ):
        half = info["halfwidth"]
        if info["value"] is not None:
            lo, hi = cov * info["ci_low"], cov * info["ci_high"] + (1 - cov)
        else:
            lo = hi = None
        all_half = (
            (hi - lo) / 2
            if lo is not None
            else (cov * half + (1 - cov) / 2 if half is not None and np.isfinite(half) else 0.5)
        )
        rows.append(
            dict(
                stage=stage,
                metric=m.name if m is not None else None,
                value=info["value"],
                ci_low=info["ci_low"],
                ci_high=info["ci_high"],
                halfwidth=half if half is not None and np.isfinite(half) else None,
                covered_share=cov,
                bound_low=lo,
                bound_high=hi,
                halfwidth_all=float(all_half),
                eval_rows=float(n.sum()),
                labels=int(lab.sum()),
                cost=float(np.sum(lab * c)),
            )
        )
    return pl.DataFrame(
        rows,
        schema={
            "stage": pl.String,
            "metric": pl.String,
            "value": pl.Float64,
            "ci_low": pl.Float64,
            "ci_high": pl.Float64,
            "halfwidth": pl.Float64,
            "covered_share": pl.Float64,
            "bound_low": pl.Float64,
            "bound_high": pl.Float64,
            "halfwidth_all": pl.Float64,
            "eval_rows": pl.Float64,
            "labels": pl.Int64,
            "cost": pl.Float64,
        },
    )
