"""Distribution shift with honest thresholds, and how well an eval set still covers traffic.

Every function here counts rows per value (or per bin) in one group-by pass in the
engine that holds the data (:func:`aidebt.aggregate.value_counts`), then compares the
small count tables:

- **categorical** columns: Jensen-Shannon distance (base 2, in [0, 1]) and a chi-square
  test of homogeneity of the reference and current counts;
- **numeric** columns: the population stability index (PSI) on quantile bins fixed on the
  reference and stored in a :class:`DriftProfile`, so that every month is measured on the
  same bins, and a Kolmogorov-Smirnov statistic on a fine grid of reference quantiles;
- ``drifted`` needs two things together: a test whose threshold depends on the sample
  sizes rejects (never a fixed 0.1 / 0.25 PSI rule, which fires on most small samples
  even when nothing moved), adjusted over the columns (and periods) judged at once; and
  the effect is material: the Jensen-Shannon distance, corrected for its small-sample
  bias (:func:`js_distance`), reaches ``min_effect`` (default 0.05), so that a
  negligible shift is not flagged however many rows make it significant.

The PSI null distribution is a parametric bootstrap of the homogeneity null: reference and
current bin counts are redrawn as multinomials at the pooled bin proportions with the
observed sample sizes, ``n_sim`` times (vectorized), and the PSI recomputed with the same
smoothing. ``psi_threshold`` is its ``confidence`` quantile: the PSI that would be
surprising for these sample sizes. Empty bins get half a count added on both sides before
the PSI is computed (so a category new in the current data gives a large but finite
PSI); the distance and the tests use the raw counts.

Numeric bins are quantiles of the reference; with a frequency-weight column they are the
weighted quantiles (the quantiles of the rows the weights stand for), so a pre-aggregated
table is binned, counted and judged exactly as its rows would be.

The reference quantiles are exact by default, on every engine. On Spark, where exact
quantiles sort each column, ``quantile_error=e`` asks for approximate ones instead: every
edge of every numeric column from one aggregation (Spark's ``percentile_approx``, a
Greenwald-Khanna summary, Greenwald and Khanna 2001, with ``accuracy = ceil(1 / e)``),
whose documented, deterministic guarantee is that the returned value ``x`` for probability
``p`` over ``N`` values has ``floor((p - e) N) <= rank(x) <= ceil((p + e) N)``. The
bins are still fixed on the reference before the current data is counted, and every
count is exact, so the tests keep their level; only where the bin boundaries fall moves
(each reference bin's share is within ``2 e`` of an even split, give or take a row).
Other engines compute exact quantiles cheaply and do so even when asked for approximate
ones (the result's notes say so), so that one setting serves a laptop and a cluster.

How well a golden eval set still covers production is :func:`aidebt.coverage.coverage`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import narwhals as nw
import numpy as np
import polars as pl
from scipy.special import rel_entr

from aidebt import aggregate, frames
from aidebt import stats as st
from aidebt._deprecated import alpha_to_confidence, renamed
from aidebt.errors import ColumnTypeError, InvalidArgumentError
from aidebt.periods import Every, as_date, epoch_day, epoch_days
from aidebt.results import Result, conform

__all__ = [
    "MIN_EFFECT",
    "Drift",
    "DriftOverTime",
    "DriftProfile",
    "drift",
    "drift_over_time",
    "drift_profile",
    "js_distance",
]

# coverage moved to aidebt.coverage; importable from here for branches written before.
from aidebt.coverage import Coverage, coverage  # noqa: E402, F401

_SMOOTH = 0.5  # counts added to every bin before the PSI (Jeffreys-style), see module doc
_MAX_LEVELS = 1000


# --------------------------------------------------------------------------------------
# The reference profile: bins fixed on the reference, and its counts
# --------------------------------------------------------------------------------------
@dataclass
class ColumnProfile:
    """One column of a :class:`DriftProfile`.

    ``edges`` (numeric) are the interior PSI bin edges, quantiles of the reference; a value
    ``v`` falls in bin ``sum(v > edge)`` (bins are closed on the right). ``fine_edges`` are
    the finer quantile grid of the KS statistic; ``fine_to_bin`` maps each fine bin to its
    PSI bin. ``counts`` are the reference's weighted counts per key (a category, or a fine
    bin number as a string; ``(missing)`` for null/NaN).
    """

    name: str
    kind: str
    edges: list[float] = field(default_factory=list)
    fine_edges: list[float] = field(default_factory=list)
    fine_to_bin: list[int] = field(default_factory=list)
    counts: dict[str, float] = field(default_factory=dict)

    def key_expr(self, dtype: Any) -> nw.Expr:
        """Row -> its key: the category itself, or the fine bin number (null stays null;
        the counting pass turns keys into strings after the group-by, on the small table)."""
        col = nw.col(self.name)
        if dtype.is_float():
            col = nw.when(col.is_nan()).then(None).otherwise(col)
        if self.kind == "categorical":
            return col
        if not self.fine_edges:
            return nw.when(col.is_null()).then(None).otherwise(nw.lit(0))
        return nw.when(col.is_null()).then(None).otherwise(_bin_search(col, self.fine_edges))

    def bin_labels(self) -> list[str]:
        """Readable PSI bin labels: '<= 0.12', '(0.12, 0.34]', '> 0.9'."""
        e = self.edges
        if not e:
            return ["all values"]
        out = [f"<= {e[0]:.4g}"]
        out += [f"({a:.4g}, {b:.4g}]" for a, b in zip(e[:-1], e[1:], strict=True)]
        return [*out, f"> {e[-1]:.4g}"]


def _bin_search(col: nw.Expr, edges: list[float], lo: int = 0, hi: int | None = None) -> nw.Expr:
    """``sum(col > edge)`` as a balanced CASE tree: about log2(len(edges)) comparisons per
    row in SQL engines, instead of one per edge."""
    hi = len(edges) if hi is None else hi
    if lo >= hi:
        return nw.lit(lo, nw.Int64)
    mid = (lo + hi) // 2
    return (
        nw.when(col > float(edges[mid]))
        .then(_bin_search(col, edges, mid + 1, hi))
        .otherwise(_bin_search(col, edges, lo, mid))
    )


class DriftProfile:
    """Reference distributions with their bins, reusable across periods and runs.

    Build it once with :func:`drift_profile` (or take ``Drift.profile``); pass it as the
    ``reference`` of :func:`drift` or :func:`drift_over_time` so that every month is
    measured on the same bins. ``table`` lists the reference shares per column and bin.
    """

    def __init__(
        self,
        columns: dict[str, ColumnProfile],
        n: float,
        bins: int,
        *,
        quantile_error: float | None = None,
        exact_because: str | None = None,
    ) -> None:
        self.columns = columns
        self.n = n
        self.bins = bins
        # The rank error of the numeric edges (None: exact quantiles), and, when an
        # approximation was asked for but the exact path ran, why.
        self.quantile_error = quantile_error
        self.exact_because = exact_because

    def _with(self, columns: dict[str, ColumnProfile]) -> DriftProfile:
        """The same profile on a subset of its columns."""
        return DriftProfile(
            columns,
            self.n,
            self.bins,
            quantile_error=self.quantile_error,
            exact_because=self.exact_because,
        )

    def notes(self) -> list[str]:
        """How the numeric bins' edges were computed, when it is not the exact default."""
        if not any(p.kind == "numeric" for p in self.columns.values()):
            return []
        if self.quantile_error is not None:
            e = self.quantile_error
            return [
                f"The numeric bins' edges are approximate quantiles of the reference, as "
                f"asked: each edge's rank among the reference values is within {_pct(e)} of "
                f"the rows of the exact quantile's (at most {math.ceil(e * self.n):,} of "
                f"{self.n:,.0f} rows). The bins are still fixed on the reference before the "
                f"current data is counted, and every count is exact, so the tests keep their "
                f"false-alarm rate; only where the boundaries fall moves, so a reference "
                f"bin can hold up to {_pct(2 * e)} of the rows more or less than an even split."
            ]
        if self.exact_because:
            return [
                f"Approximate bin edges were asked for, but the reference quantiles are "
                f"exact: {self.exact_because}."
            ]
        return []

    @property
    def table(self) -> pl.DataFrame:
        rows = []
        for prof in self.columns.values():
            keys, ref = _psi_counts(prof, prof.counts)
            labels = prof.bin_labels() if prof.kind == "numeric" else keys
            total = sum(ref) or 1.0
            for lab, r in zip(labels, ref, strict=False):
                rows.append(
                    {"column": prof.name, "kind": prof.kind, "bin": lab, "n": r, "share": r / total}
                )
        return pl.DataFrame(
            rows,
            schema={
                "column": pl.String,
                "kind": pl.String,
                "bin": pl.String,
                "n": pl.Float64,
                "share": pl.Float64,
            },
        )

    def __repr__(self) -> str:
        kinds = ", ".join(f"{c} ({p.kind})" for c, p in self.columns.items())
        return f"DriftProfile of {self.n:,.0f} reference rows: {kinds}"


def _kinds(
    frame: nw.LazyFrame, columns: Sequence[str] | None, categorical: Sequence[str], skip: set[str]
) -> dict[str, str]:
    schema = frames.columns(frame)
    names = [c for c in schema if c not in skip] if columns is None else frames.as_list(columns)
    frames.require_columns(frame, names, role="a drift column")
    frames.require_columns(frame, categorical, role="a categorical column")
    kinds = {}
    for name in names:
        dtype = schema[name]
        if frames.is_temporal(dtype):
            if columns is None:
                continue
            raise ColumnTypeError(
                f"Column {name!r} is a {dtype}: drift compares value distributions, not time. "
                "Use drift_over_time(..., time=...) to follow drift month by month."
            )
        numeric = dtype.is_numeric() and dtype != nw.Boolean and name not in categorical
        kinds[name] = "numeric" if numeric else "categorical"
    if not kinds:
        raise InvalidArgumentError("No column to compare: pass columns=[...].")
    return kinds


def drift_profile(
    reference: Any,
    columns: str | Sequence[str] | None = None,
    *,
    bins: int = 10,
    ks_bins: int = 100,
    weight: str | None = None,
    categorical: str | Sequence[str] | None = None,
    quantile_error: float | None = None,
) -> DriftProfile:
    """Fix the bins of each numeric column on the reference, and count the reference.

    Parameters
    ----------
    reference
        The reference data (any input aidebt reads).
    columns
        Columns to profile (default: every column but dates and ``weight``).
    bins
        PSI bins per numeric column: edges at the reference's ``1/bins`` quantiles
        (duplicates merged, so a column with few values gets fewer bins).
    ks_bins
        The finer quantile grid on which the KS statistic is computed (rounded up to a
        multiple of ``bins``, so that PSI bins are unions of grid cells).
    weight
        Frequency weights of the reference.
    categorical
        Numeric columns to treat as categories (codes, small integers).
    quantile_error
        ``None`` (default): exact reference quantiles, on every engine. A rank error
        ``e`` (``0 < e < 0.5``, e.g. ``0.001``): on Spark, approximate quantiles from one
        aggregation of every numeric column (``percentile_approx`` with ``accuracy =
        ceil(1 / e)``), each edge's rank within ``e`` times the column's non-null rows
        of the requested one (``floor((p - e) N) <= rank <= ceil((p + e) N)``, Spark's
        documented bound). The bins stay fixed on the reference and every count stays
        exact, so the tests keep their level; only the bins' placement moves (see the
        module docstring). On other engines, and with ``weight`` (Spark's approximation
        takes no weights), the exact quantiles are computed anyway, and ``notes()`` say
        so.

    Examples
    --------
    >>> import aidebt as ad
    >>> p = drift_profile(ad.datasets.demo_eval(500), ["score", "intent"])
    >>> p.columns["score"].kind, len(p.columns["score"].edges)
    ('numeric', 9)
    """
    if not isinstance(bins, int) or bins < 2:
        raise InvalidArgumentError(f"bins={bins!r} must be an integer >= 2, e.g. 10.")
    if not isinstance(ks_bins, int) or ks_bins < bins:
        raise InvalidArgumentError(f"ks_bins={ks_bins!r} must be an integer >= bins.")
    ks_bins = bins * -(-ks_bins // bins)
    quantile_error = check_quantile_error(quantile_error)
    frame = frames.to_lazy(reference)
    frames.require_columns(frame, [weight], role="weight")
    kinds = _kinds(frame, columns, frames.as_list(categorical), {weight} if weight else set())
    frame = _at_the_door(frame, [*kinds, weight])
    schema = frames.columns(frame)
    numeric = [c for c, k in kinds.items() if k == "numeric"]
    profiles = {c: ColumnProfile(c, k) for c, k in kinds.items()}
    approximate, exact_because = None, None
    if numeric:
        # Quantiles in the engine (linear interpolation: the one every backend supports).
        # With frequency weights, the quantiles of the rows the weights stand for, so a
        # pre-aggregated table gets the bins of its expanded rows.
        qs = np.arange(1, ks_bins) / ks_bins
        spark = frame.implementation.is_pyspark() or frame.implementation.is_pyspark_connect()
        if quantile_error is not None and weight is None and spark:
            quantiles = _spark_quantiles(frame, numeric, schema, qs, quantile_error)
            approximate = quantile_error
        elif weight is None:
            quantiles = _quantiles(frame, numeric, schema, qs)
        else:
            quantiles = _weighted_quantiles(frame, numeric, schema, qs, weight)
        if quantile_error is not None and approximate is None:
            exact_because = (
                "Spark's approximate quantiles take no frequency weights"
                if spark
                else f"{_engine_name(frame)} computes exact ones cheaply; only Spark "
                "uses approximate ones"
            )
        step = ks_bins // bins
        for c in numeric:
            values = quantiles[c]
            values = values[np.isfinite(values)]
            fine = np.unique(values)
            coarse = np.unique(values[step - 1 :: step]) if values.size else values
            prof = profiles[c]
            prof.fine_edges = [float(v) for v in fine]
            prof.edges = [float(v) for v in coarse]
            # Fine bin i holds (fine[i-1], fine[i]]; its PSI bin counts coarse edges below it.
            lower = np.r_[-np.inf, fine]
            prof.fine_to_bin = [int(np.searchsorted(coarse, v, side="right")) for v in lower]
    counts = _count(frame, profiles, schema, weight=weight)
    total = 0.0
    for c, prof in profiles.items():
        part = counts.filter(pl.col("column") == c)
        prof.counts = dict(zip(part["value"].to_list(), part["n"].to_list(), strict=True))
        total = max(total, float(part["n"].sum()))
    return DriftProfile(
        profiles, total, bins, quantile_error=approximate, exact_because=exact_because
    )


def check_quantile_error(value: Any, name: str = "quantile_error") -> float | None:
    """``None``, or a rank error strictly between 0 and 0.5 (as a float)."""
    if value is None:
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not 0 < value < 0.5 or not math.isfinite(value):
        raise InvalidArgumentError(
            f"{name}={value!r} must be a rank error between 0 and 0.5, e.g. 0.001 "
            "(each bin edge within 0.1% of the rows of the exact quantile), or None for "
            "exact quantiles."
        )
    return float(value)


def _pct(x: float) -> str:
    """A small share in plain percent, three significant digits: 0.001 -> '0.1%'."""
    return f"{100 * x:.3g}%"


def _engine_name(frame: nw.LazyFrame) -> str:
    """The engine holding the rows, in words: 'polars', 'DuckDB', 'pandas'..."""
    impl = frame.implementation
    names = {"duckdb": "DuckDB", "pyarrow": "pyarrow", "pandas": "pandas", "ibis": "Ibis"}
    return names.get(impl.name.lower(), impl.name.lower())


def _at_the_door(frame: nw.LazyFrame, names: Sequence[str | None]) -> nw.LazyFrame:
    """pandas or pyarrow rows of the columns drift reads, handed to polars once.

    Reference quantiles and fine bins are where pandas is slow (a quantile call each, a
    nested condition over every row); polars does both in one expression per column, on
    the same values, so the result is that of the same rows in polars to the last digit
    (:func:`aidebt.frames.in_polars`). Names not in the data are left for the checks that
    name them.
    """
    schema = frames.columns(frame)
    return frames.in_polars(frame, [c for c in names if c is not None and c in schema])


def _quantiles(frame: nw.LazyFrame, numeric: list[str], schema, qs: np.ndarray) -> dict:
    """Quantiles of each numeric column (NaN as null) in the engine: one small query.

    Linear interpolation, the one method every backend supports. On polars all the
    quantiles of a column come from one expression, and on Spark from one ``percentile``
    aggregate with the array of probabilities (one value map per column: one aggregate per
    quantile, narwhals' way, holds ``len(qs)`` maps of every value and ran out of a 4 GB
    heap at 200,000 rows of three columns); elsewhere one narwhals expression per quantile
    (SQL engines share the sort).
    """
    impl = frame.implementation
    if impl.is_pyspark() or impl.is_pyspark_connect():
        return _spark_quantiles(frame, numeric, schema, qs, None)
    if impl.is_polars():
        native = frame.to_native()
        exprs = []
        for c in numeric:
            col = pl.col(c).cast(pl.Float64).fill_nan(None)
            exprs.append(col.quantile(list(map(float, qs)), interpolation="linear").alias(c))
        row = native.select(exprs).collect().row(0, named=True)
        return {c: np.array(row[c] or [], dtype=float) for c in numeric}
    exprs = []
    for j, c in enumerate(numeric):
        col = nw.col(c)
        if schema[c].is_float():
            col = nw.when(col.is_nan()).then(None).otherwise(col)
        exprs += [
            col.quantile(float(q), interpolation="linear").alias(f"_q{j}_{i}")
            for i, q in enumerate(qs)
        ]
    row = frame.select(exprs).collect(backend="polars").to_native().row(0)
    return {
        c: np.array(row[j * len(qs) : (j + 1) * len(qs)], dtype=float)
        for j, c in enumerate(numeric)
    }


def _spark_quantiles(
    frame: nw.LazyFrame, numeric: list[str], schema, qs: np.ndarray, error: float | None
) -> dict:
    """Quantiles of each numeric column (NaN as null) on Spark, all in one aggregation.

    ``error=None``: exact, ``percentile(col, [q...])`` per column (linear interpolation,
    the figures of one ``percentile`` per quantile). A rank error: ``percentile_approx(col,
    [q...], accuracy)``, one pass over the rows, each column summarised by a
    Greenwald-Khanna sketch of relative error ``1 / accuracy <= error``; the values
    returned are values of the column (no interpolation), with ranks within
    ``error * N`` of the requested ones.
    """
    from pyspark.sql import functions as F  # noqa: N812

    probabilities = [float(q) for q in qs]
    exprs = []
    for j, c in enumerate(numeric):
        col = F.col("`" + c.replace("`", "``") + "`").cast("double")
        if schema[c].is_float():
            col = F.when(F.isnan(col), None).otherwise(col)
        if error is None:
            agg = F.percentile(col, probabilities)
        else:
            agg = F.percentile_approx(col, probabilities, math.ceil(1 / error))
        exprs.append(agg.alias(f"_q{j}"))
    row = frame.to_native().agg(*exprs).first()
    return {c: np.array(row[f"_q{j}"] or [], dtype=float) for j, c in enumerate(numeric)}


def _weighted_quantiles(
    frame: nw.LazyFrame, numeric: list[str], schema, qs: np.ndarray, weight: str
) -> dict:
    """Quantiles of each numeric column under frequency weights, in the engine.

    The linear-interpolation quantile of the rows the weights stand for: with ``W`` the
    total weight of a column's non-null values, quantile ``q`` sits at position
    ``h = q (W - 1)`` of the expanded sorted values (0-based), and the value at position
    ``t`` is the smallest value whose cumulative weight exceeds ``t``; ``h`` between two
    positions interpolates linearly, as the unweighted quantile does. So a table with a
    weight column gets exactly the quantiles of its rows written out one by one (and
    non-integer weights a smooth generalisation). Two small queries: the total weights,
    then a cumulative sum of the weights in value order (a window function) and two
    conditional minima per quantile.
    """
    w = nw.col(weight).cast(nw.Float64).fill_null(0.0)
    values, weights = {}, {}
    for c in numeric:
        col = nw.col(c).cast(nw.Float64)
        if schema[c].is_float():
            col = nw.when(col.is_nan()).then(None).otherwise(col)
        values[c] = col
        weights[c] = nw.when(col.is_null()).then(0.0).otherwise(w)
    totals = (
        frame.select(weights[c].sum().alias(c) for c in numeric)
        .collect(backend="polars")
        .to_native()
        .row(0, named=True)
    )
    cums = {f"_aidebt_cum{j}": weights[c].cum_sum().over(order_by=c) for j, c in enumerate(numeric)}
    exprs, plan = [], {}
    for j, c in enumerate(numeric):
        total = float(totals[c] or 0.0)
        if total <= 0:
            plan[c] = None
            continue
        cum = nw.col(f"_aidebt_cum{j}")
        h = np.maximum(qs * (total - 1), 0.0)
        positions = np.unique(np.r_[np.floor(h), np.ceil(h)])
        for i, t in enumerate(positions):
            exprs.append(nw.when(cum > float(t)).then(values[c]).min().alias(f"_aidebt_q{j}_{i}"))
        plan[c] = (j, h, positions)
    if not exprs:
        return {c: np.array([], dtype=float) for c in numeric}
    query = frame.with_columns(**cums).select(exprs)
    got = query.collect(backend="polars").to_native().row(0, named=True)
    out = {}
    for c, spec in plan.items():
        if spec is None:
            out[c] = np.array([], dtype=float)
            continue
        j, h, positions = spec
        at = np.array([got[f"_aidebt_q{j}_{i}"] for i in range(len(positions))], dtype=float)
        lo = at[np.searchsorted(positions, np.floor(h))]
        hi = at[np.searchsorted(positions, np.ceil(h))]
        out[c] = lo + (h - np.floor(h)) * (hi - lo)
    return out


def _count(frame, profiles, schema, *, weight=None, derived_keys=None) -> pl.DataFrame:
    """One pass: weighted counts per (derived keys, column, key).

    On polars the fine bin of a numeric value is a binary search (``search_sorted``) added
    lazily to the same query; other engines get the portable sum of comparisons.
    """
    stack = {}
    if frame.implementation.is_polars():
        extra = {}
        for i, (c, p) in enumerate(profiles.items()):
            if p.kind == "numeric" and p.fine_edges:
                col = pl.col(c).cast(pl.Float64).fill_nan(None)
                edges = pl.lit(pl.Series(p.fine_edges, dtype=pl.Float64))
                name = f"__aidebt_bin_{i}"
                extra[name] = (
                    pl.when(col.is_null())
                    .then(None)
                    .otherwise(edges.search_sorted(col, side="left"))
                    .cast(pl.Int64)
                )
                stack[c] = nw.col(name)
        if extra:
            frame = nw.from_native(frame.to_native().with_columns(**extra))
    for c, p in profiles.items():
        stack.setdefault(c, p.key_expr(schema[c]))
    return aggregate.value_counts(frame, weight=weight, derived_keys=derived_keys, stack=stack)


# --------------------------------------------------------------------------------------
# Comparing two count vectors
# --------------------------------------------------------------------------------------
def _psi_counts(prof: ColumnProfile, counts: dict[str, float]) -> tuple[list[str], list[float]]:
    """Counts per PSI bin (numeric: fine bins merged; plus (missing) when present)."""
    if prof.kind == "categorical":
        keys = sorted(counts)
        return keys, [counts[k] for k in keys]
    n_bins = len(prof.edges) + 1
    out = np.zeros(n_bins)
    for key, n in counts.items():
        if key == frames.MISSING_GROUP:
            continue
        out[prof.fine_to_bin[int(key)] if prof.fine_to_bin else 0] += n
    keys = [str(i) for i in range(n_bins)]
    vals = list(out)
    if frames.MISSING_GROUP in counts or frames.MISSING_GROUP in prof.counts:
        keys.append(frames.MISSING_GROUP)
        vals.append(counts.get(frames.MISSING_GROUP, 0.0))
    return keys, vals


def _aligned(
    prof: ColumnProfile, cur: dict[str, float]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Reference and current counts on the same bins (the union of categories)."""
    if prof.kind == "categorical":
        keys = sorted(set(prof.counts) | set(cur))
        return (
            keys,
            np.array([prof.counts.get(k, 0.0) for k in keys]),
            np.array([cur.get(k, 0.0) for k in keys]),
        )
    merged = {**dict.fromkeys(prof.counts, 0.0), **cur}
    keys, c = _psi_counts(prof, merged)
    _, r = _psi_counts(prof, {**dict.fromkeys(cur, 0.0), **prof.counts})
    return keys, np.asarray(r, dtype=float), np.asarray(c, dtype=float)


def psi(ref: np.ndarray, cur: np.ndarray, smooth: float = _SMOOTH) -> np.ndarray:
    """Population stability index of count vectors (last axis = bins), smoothed.

    ``sum((c - r) * log(c / r))`` over bin shares, after adding ``smooth`` to every count
    of both sides so that an empty bin gives a finite value.

    Examples
    --------
    >>> round(float(psi(np.array([50, 50]), np.array([50, 50]))), 6)
    0.0
    """
    ref = np.asarray(ref, dtype=float) + smooth
    cur = np.asarray(cur, dtype=float) + smooth
    r = ref / ref.sum(axis=-1, keepdims=True)
    c = cur / cur.sum(axis=-1, keepdims=True)
    return np.sum((c - r) * np.log(c / r), axis=-1)


def psi_null(ref: np.ndarray, cur: np.ndarray, *, n_sim: int = 2000, seed: int = 0) -> np.ndarray:
    """Bootstrap draws of the PSI when both samples come from the same distribution.

    Both count vectors are redrawn as multinomials at the pooled shares with their own
    sizes (rounded to whole rows), and the smoothed PSI recomputed: the null distribution
    of the PSI at these sample sizes. The chi-square approximation ``PSI * n_eff ~
    chi2(bins - 1)``, ``n_eff = 1 / (1/n_ref + 1/n_cur)``, is its large-sample limit.
    """
    ref, cur = np.asarray(ref, dtype=float), np.asarray(cur, dtype=float)
    pooled = (ref + cur) / (ref.sum() + cur.sum())
    rng = np.random.default_rng(seed)
    n_ref, n_cur = int(round(ref.sum())), int(round(cur.sum()))
    sim_r = rng.multinomial(max(n_ref, 1), pooled, size=n_sim)
    sim_c = rng.multinomial(max(n_cur, 1), pooled, size=n_sim)
    return psi(sim_r, sim_c)


def _jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """The Jensen-Shannon distance in base 2, step for step as
    ``scipy.spatial.distance.jensenshannon(p, q, base=2)`` (equal to the last bit; the
    tests compare), without importing ``scipy.spatial``, which costs more than a drift
    check on a million rows."""
    p, q = p / np.sum(p), q / np.sum(q)
    m = (p + q) / 2.0
    js = np.sum(rel_entr(p, m)) + np.sum(rel_entr(q, m))
    return float(np.sqrt(js / np.log(2) / 2.0))


def js_distance(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """Jensen-Shannon distance (base 2) of two count vectors: plug-in and bias-corrected.

    The plug-in distance of sample shares is biased upwards: two samples of the same
    distribution are never at distance 0, and at 100 rows over 10 bins they sit about
    0.18 apart. The corrected distance removes the first-order bias of each entropy in
    ``JSD = H(M) - (H(P) + H(Q)) / 2`` (Miller 1955; the Miller-Madow correction
    ``(k - 1) / 2n`` for ``H(P)`` and ``H(Q)``, and ``sum_i Var(m_i) / 2 m_i`` for the
    mixture), estimated at the observed shares:

    ``bias = (k_P - 1) / 4 n_P + (k_Q - 1) / 4 n_Q
    - sum_i (p_i (1 - p_i) / n_P + q_i (1 - q_i) / n_Q) / 8 m_i``

    (in nats; ``k`` counts the non-empty bins). With no drift it is
    ``(k - 1)(1/n_P + 1/n_Q) / 8``. The corrected divergence ``max(JSD - bias, 0)`` is
    turned back into a distance (square root, base 2). Assumes independent rows
    (multinomial counts; frequency weights count as rows).

    Examples
    --------
    >>> d, corrected = js_distance(np.array([50, 50]), np.array([48, 52]))
    >>> round(d, 3), corrected
    (0.017, 0.0)
    """
    ref, cur = np.asarray(ref, dtype=float), np.asarray(cur, dtype=float)
    n_p, n_q = ref.sum(), cur.sum()
    p, q = ref / n_p, cur / n_q
    plug_in = _jensen_shannon(p, q)
    m = (p + q) / 2
    used = m > 0
    bias = (np.count_nonzero(p) - 1) / (4 * n_p) + (np.count_nonzero(q) - 1) / (4 * n_q)
    bias -= np.sum((p * (1 - p) / n_p + q * (1 - q) / n_q)[used] / m[used]) / 8
    jsd = plug_in**2 * np.log(2) - bias  # nats
    return plug_in, float(np.sqrt(max(jsd, 0.0) / np.log(2)))


def _compare(
    prof: ColumnProfile, cur_counts: dict[str, float], *, alpha: float, n_sim: int, seed: int
) -> dict[str, Any]:
    keys, r, c = _aligned(prof, cur_counts)
    n_ref, n_cur = float(r.sum()), float(c.sum())
    out: dict[str, Any] = {"kind": prof.kind, "n_reference": n_ref, "n": n_cur, "bins": len(keys)}
    if n_cur == 0 or n_ref == 0:
        return {**out, "note": "no rows" if n_cur == 0 else "no reference rows"}
    if prof.kind == "categorical" and len(keys) > _MAX_LEVELS:
        return {**out, "note": f"{len(keys)} distinct values (an identifier?): not compared"}
    out["distance"], out["distance_corrected"] = js_distance(r, c)
    value = float(psi(r, c))
    null = psi_null(r, c, n_sim=n_sim, seed=seed)
    out["psi"] = value
    out["psi_threshold"] = float(np.quantile(null, 1 - alpha))
    out["psi_p_value"] = float((1 + np.sum(null >= value - 1e-12)) / (n_sim + 1))
    share_change = c / n_cur - r / n_ref
    top = int(np.argmax(np.abs(share_change)))
    label = keys[top]
    if prof.kind == "numeric" and label != frames.MISSING_GROUP:
        label = prof.bin_labels()[int(label)]
    out["top_change"] = f"{label}: {r[top] / n_ref:.1%} -> {c[top] / n_cur:.1%}"
    if prof.kind == "categorical":
        used = (r + c) > 0
        if used.sum() < 2:
            chi2, p = 0.0, 1.0
        else:
            from scipy import stats as sps  # at the first categorical test, not at import

            chi2, p, _, _ = sps.chi2_contingency(np.vstack([r[used], c[used]]), correction=False)
        out.update(chi2=float(chi2), chi2_p_value=float(p), p_value=float(p), test="chi-square")
    else:
        out.update(p_value=out["psi_p_value"], test="PSI bootstrap")
        out.update(_ks(prof, cur_counts))
    return out


def _ks(prof: ColumnProfile, cur: dict[str, float]) -> dict[str, float]:
    """KS distance on the fine grid of reference quantiles (a lower bound of the exact
    statistic: the two CDFs are compared at the grid points only), with the asymptotic
    two-sample p-value (conservative for the same reason)."""
    k = len(prof.fine_edges) + 1
    r, c = np.zeros(k), np.zeros(k)
    for counts, arr in ((prof.counts, r), (cur, c)):
        for key, n in counts.items():
            if key != frames.MISSING_GROUP:
                arr[int(key)] += n
    if r.sum() == 0 or c.sum() == 0:
        return {}
    d = float(np.max(np.abs(np.cumsum(r) / r.sum() - np.cumsum(c) / c.sum())))
    en = r.sum() * c.sum() / (r.sum() + c.sum())
    from scipy import stats as sps  # at the first numeric test, not at import

    # Exact one-sample distribution at the effective size (as scipy's ks_2samp "asymp"),
    # or its Kolmogorov limit when that size is large (the exact one is slow there).
    p = sps.kstwo.sf(d, max(int(round(en)), 1)) if en < 5000 else sps.kstwobign.sf(d * np.sqrt(en))
    return {"ks": d, "ks_p_value": float(p)}


COLUMNS = {
    "column": pl.String,
    "kind": pl.String,
    "n_reference": pl.Float64,
    "n": pl.Float64,
    "distance": pl.Float64,
    "distance_corrected": pl.Float64,
    "psi": pl.Float64,
    "psi_threshold": pl.Float64,
    "psi_p_value": pl.Float64,
    "ks": pl.Float64,
    "ks_p_value": pl.Float64,
    "chi2": pl.Float64,
    "chi2_p_value": pl.Float64,
    "test": pl.String,
    "p_value": pl.Float64,
    "drifted": pl.Boolean,
    "top_change": pl.String,
    "bins": pl.Int64,
    "note": pl.String,
}
"""The columns of a drift table (then ``p_adjusted``), after ``period`` over time."""


MIN_EFFECT = 0.05
"""The default effect floor of ``drifted``: a bias-corrected Jensen-Shannon distance of
0.05, about a 0.12-standard-deviation shift of a numeric column or five points of share
moving between two even categories. Smaller shifts are never flagged, however many rows
make them significant."""


def _flag(table: pl.DataFrame, alpha: float, adjust: str | None, min_effect) -> pl.DataFrame:
    """``drifted``: the (adjusted) test rejects AND the corrected distance reaches the floor."""
    p = table.get_column("p_value").fill_null(np.nan).to_numpy()
    p_adj = st.adjust_pvalues(p, adjust)
    effect = pl.col("distance_corrected") >= float(min_effect or 0.0)
    return table.with_columns(
        p_adjusted=pl.Series(p_adj, nan_to_null=True),
    ).with_columns(drifted=((pl.col("p_adjusted") < alpha) & effect).fill_null(False))


def _check_common(confidence, n_sim, min_effect=None) -> float:
    """The tests' level ``alpha = 1 - confidence``, after checking the arguments."""
    confidence = st.check_confidence(confidence)
    if not isinstance(n_sim, int) or n_sim < 100:
        raise InvalidArgumentError(f"n_sim={n_sim!r} must be an integer >= 100.")
    if min_effect is not None and (
        isinstance(min_effect, bool)
        or not isinstance(min_effect, int | float)
        or not 0 <= min_effect <= 1
    ):
        raise InvalidArgumentError(
            f"min_effect={min_effect!r} must be a Jensen-Shannon distance in [0, 1] "
            f"(default {MIN_EFFECT}), or None for no floor."
        )
    return st.test_level(confidence)


# --------------------------------------------------------------------------------------
# drift
# --------------------------------------------------------------------------------------
class Drift(Result):
    """Result of :func:`drift`.

    Attributes
    ----------
    table : polars.DataFrame
        One row per column: ``column``, ``kind``, ``n_reference``, ``n``, ``distance``
        (Jensen-Shannon, base 2, on categories or PSI bins), ``distance_corrected`` (the
        same with its small-sample bias removed, :func:`js_distance`), ``psi``,
        ``psi_threshold``
        (the PSI that would be surprising at these sample sizes), ``psi_p_value``, ``ks``
        and ``ks_p_value`` (numeric), ``chi2`` and ``chi2_p_value`` (categorical), ``test``
        and ``p_value`` (the test behind the flag), ``p_adjusted``, ``drifted`` (the
        adjusted test rejects and ``distance_corrected`` reaches ``min_effect``),
        ``top_change`` (the bin whose share moved most) and ``note``.
    profile : DriftProfile
        The reference bins and counts, to measure later data on the same bins.
    """

    title = "Drift"

    def __init__(
        self,
        table: pl.DataFrame,
        profile: DriftProfile,
        confidence: float,
        min_effect: float | None = MIN_EFFECT,
    ) -> None:
        super().__init__(table)
        self.profile = profile
        self.confidence = confidence
        self.alpha = st.test_level(confidence)
        self.min_effect = min_effect

    def summary(self) -> list[str]:
        moved = self.table.filter(pl.col("drifted")).sort("distance", descending=True)
        lines = []
        for r in moved.iter_rows(named=True):
            stat = (
                f"PSI {r['psi']:.3f} vs {r['psi_threshold']:.3f} expected by chance"
                if r["kind"] == "numeric"
                else f"chi-square p={r['p_value']:.2g}"
            )
            lines.append(
                f"{r['column']} drifted (JS distance {r['distance']:.3f}, "
                f"{r['distance_corrected']:.3f} after the small-sample correction; {stat}); "
                f"largest change {r['top_change']}."
            )
        steady = self.table.filter(~pl.col("drifted") & pl.col("p_value").is_not_null())
        if steady.height:
            floor = f" by more than a distance of {self.min_effect:g}" if self.min_effect else ""
            lines.append(
                f"No drift detected{floor} at level {self.alpha:g} in: "
                f"{', '.join(steady['column'])}."
            )
        return lines

    def notes(self) -> list[str]:
        return self.profile.notes()

    def chart(self, **kwargs: Any):
        """A one-period heat map of the distances (see :func:`aidebt.charts.drift_heatmap`)."""
        from aidebt import charts

        return charts.drift_heatmap(self.table.with_columns(period=pl.lit("current")), **kwargs)

    def _display_table(self) -> pl.DataFrame:
        return self.table.select(
            "column",
            "kind",
            "n",
            "distance",
            "distance_corrected",
            "psi",
            "psi_threshold",
            "p_value",
            "drifted",
            "top_change",
        )


@renamed(alpha=("confidence", alpha_to_confidence))
def drift(
    reference: Any,
    current: Any,
    columns: str | Sequence[str] | None = None,
    *,
    bins: int = 10,
    weight: str | None = None,
    categorical: str | Sequence[str] | None = None,
    confidence: float = 0.95,
    adjust: str | None = "bh",
    min_effect: float | None = MIN_EFFECT,
    n_sim: int = 2000,
    seed: int = 0,
    quantile_error: float | None = None,
) -> Drift:
    """Compare the distribution of each column between a reference and current data.

    Parameters
    ----------
    reference
        Reference data, or a :class:`DriftProfile` (``Drift.profile`` of an earlier run):
        numeric bins are then exactly those of the earlier run.
    current
        The data to compare.
    columns
        Columns to compare (default: every column of the reference but dates and weight).
    bins
        PSI bins per numeric column, at reference quantiles.
    weight
        Frequency-weight column (in both frames).
    categorical
        Numeric columns to treat as categories.
    confidence
        The tests behind ``drifted`` run at level ``1 - confidence``: Pearson's
        chi-square test of homogeneity for categorical columns, the parametric-bootstrap
        PSI null for numeric ones (see the module docstring). Both assume independent
        rows (a frequency weight counts as that many rows). At ``confidence=0.95`` a
        column that did not drift is flagged at most 5% of the time whatever the sample
        size. (``alpha=0.05``, the earlier spelling, still works for one release.)
    adjust
        Multiple-comparison adjustment across the columns: ``"bh"`` (default,
        Benjamini-Hochberg 1995: among the flags, at most 5% false on average; with no
        drift anywhere, any false flag at most 5% of the time), ``"holm"`` (Holm 1979:
        any false flag at most 5% of the time, whatever drifts), ``"by"`` or ``None``.
    min_effect
        The effect floor: a column is flagged only when its test rejects AND its
        bias-corrected Jensen-Shannon distance (``distance_corrected``, see
        :func:`js_distance`) is at least this much. Default :data:`MIN_EFFECT` (0.05),
        so that a negligible shift in a very large sample (0.02 standard deviations at
        a million rows: significant, distance 0.008) is not flagged; ``None`` or 0 for
        the test alone.
    n_sim, seed
        Bootstrap draws of the PSI null, and their seed.
    quantile_error
        ``None`` (default): the numeric bins' edges are exact reference quantiles. A rank
        error ``e`` in (0, 0.5), e.g. ``0.001``: on Spark, approximate edges from one
        aggregation, each within ``e`` times the reference rows (in rank) of the exact
        quantile; the bins stay fixed on the reference and the counts exact, so the
        tests keep their level and only the bins' placement moves. Other engines compute
        the exact edges anyway (they are cheap there). ``notes()`` state which, and the
        bound (see :func:`drift_profile`). Ignored when ``reference`` is a profile.

    Returns
    -------
    Drift
        ``.table`` (one row per column), ``.profile``, ``.summary()``, ``.chart()``.

    Examples
    --------
    >>> import aidebt as ad
    >>> logs = ad.datasets.demo(5_000)
    >>> first = logs.filter(logs["ts"].dt.month() == 10)
    >>> last = logs.filter((logs["ts"].dt.month() == 11) & (logs["ts"].dt.year() == 2026))
    >>> r = ad.drift(first, last, ["intent", "region", "score"])
    >>> dict(zip(r.table["column"], r.table["drifted"]))
    {'intent': True, 'region': False, 'score': True}
    """
    alpha = _check_common(confidence, n_sim, min_effect)
    quantile_error = check_quantile_error(quantile_error)
    if isinstance(reference, DriftProfile):
        profile = reference
        if columns is not None:
            missing = [c for c in frames.as_list(columns) if c not in profile.columns]
            if missing:
                raise InvalidArgumentError(
                    f"Columns {missing} are not in the reference profile "
                    f"({', '.join(profile.columns)}): build a profile that includes them."
                )
            profile = profile._with({c: profile.columns[c] for c in frames.as_list(columns)})
    else:
        profile = drift_profile(
            reference,
            columns,
            bins=bins,
            weight=weight,
            categorical=categorical,
            quantile_error=quantile_error,
        )
    frame = frames.to_lazy(current)
    frames.require_columns(frame, list(profile.columns), role="a drift column")
    frame = _at_the_door(frame, [*profile.columns, weight])
    counts = _count(frame, profile.columns, frames.columns(frame), weight=weight)
    rows = []
    for i, (c, prof) in enumerate(profile.columns.items()):
        part = counts.filter(pl.col("column") == c)
        cur = dict(zip(part["value"].to_list(), part["n"].to_list(), strict=True))
        rows.append({"column": c, **_compare(prof, cur, alpha=alpha, n_sim=n_sim, seed=seed + i)})
    table = _flag(conform(rows, COLUMNS), alpha, adjust, min_effect)
    return Drift(table, profile, confidence, min_effect)


# --------------------------------------------------------------------------------------
# drift over time
# --------------------------------------------------------------------------------------
class DriftOverTime(Result):
    """Result of :func:`drift_over_time`.

    Attributes
    ----------
    table : polars.DataFrame
        Long: one row per (column, period) with ``period`` first, then the columns of
        :class:`Drift` (``distance``, ``psi``, ``psi_threshold``, ``p_value``,
        ``drifted``...).
    profile : DriftProfile
        The reference bins and counts.
    """

    title = "Drift over time"

    def __init__(
        self,
        table: pl.DataFrame,
        profile: DriftProfile,
        confidence: float,
        every: Every,
        reference: str,
    ) -> None:
        super().__init__(table)
        self.profile = profile
        self.confidence = confidence
        self.alpha = st.test_level(confidence)
        self.every = every
        self.reference = reference

    def wide(self, value: str = "distance") -> pl.DataFrame:
        """The columns x periods table of one measure (``distance``, ``psi``, ``p_value``,
        ``drifted``...): one row per column, one column per period.

        Examples
        --------
        >>> import aidebt as ad
        >>> r = ad.drift_over_time(ad.datasets.demo(2_000, months=3), "ts", ["intent"])
        >>> r.wide().columns
        ['column', '2025-10-01', '2025-11-01', '2025-12-01']
        """
        if value not in self.table.columns:
            raise InvalidArgumentError(f"value={value!r} is not a column of the drift table.")
        return self.table.with_columns(pl.col("period").cast(pl.String)).pivot(
            on="period", index="column", values=value, maintain_order=True
        )

    @property
    def matrix(self) -> pl.DataFrame:
        """``wide("distance")``: Jensen-Shannon distance, columns x periods."""
        return self.wide("distance")

    def summary(self) -> list[str]:
        lines = [f"Reference: {self.reference}."]
        flagged = self.table.filter(pl.col("drifted"))
        for col, part in flagged.group_by("column", maintain_order=True):
            part = part.sort("period")
            worst = part.sort("distance", descending=True).row(0, named=True)
            lines.append(
                f"{col[0]} drifted in {part.height} of {self.table.filter(pl.col('column') == col[0]).height} "
                f"periods, first in {self.every.label(self.every.index_of(part['period'][0]))}; "
                f"largest JS distance {worst['distance']:.3f} in "
                f"{self.every.label(self.every.index_of(worst['period']))} ({worst['top_change']})."
            )
        steady = sorted(set(self.table["column"]) - set(flagged["column"]))
        if steady:
            lines.append(f"No drift detected in: {', '.join(steady)}.")
        return lines

    def notes(self) -> list[str]:
        return self.profile.notes()

    def chart(self, **kwargs: Any):
        """Heat map: columns x periods, colour = JS distance, a dot where drifted."""
        from aidebt import charts

        return charts.drift_heatmap(self.table, **kwargs)


def _period_filter(frame, time, every, reference):
    """The reference rows of drift_over_time, and a description of them."""
    col = nw.col(time)
    if isinstance(reference, str) and reference == "first":
        first = (
            frame.select(every.index(col).min().alias("p")).collect(backend="polars").to_native()
        )["p"][0]
        if first is None:
            raise InvalidArgumentError(f"Column {time!r} has no values: nothing to compare.")
        return frame.filter(
            every.index(col) == int(first)
        ), f"the first period ({every.label(first)})"
    if isinstance(reference, (tuple, list)) and len(reference) == 2:
        lo, hi = (as_date(v, "reference") for v in reference)
        days = epoch_days(col)
        lo_d, hi_d = epoch_day(lo), epoch_day(hi)
        return (
            frame.filter((days >= lo_d) & (days < hi_d)),
            f"rows from {lo.isoformat()} to before {hi.isoformat()}",
        )
    if isinstance(reference, str):
        p = every.index_of(reference)
        return frame.filter(every.index(col) == p), f"the period {every.label(p)}"
    return None, None


@renamed(alpha=("confidence", alpha_to_confidence))
def drift_over_time(
    data: Any,
    time: str,
    columns: str | Sequence[str] | None = None,
    every: str = "1mo",
    reference: Any = "first",
    *,
    bins: int = 10,
    weight: str | None = None,
    categorical: str | Sequence[str] | None = None,
    confidence: float = 0.95,
    adjust: str | None = "bh",
    min_effect: float | None = MIN_EFFECT,
    n_sim: int = 2000,
    seed: int = 0,
    quantile_error: float | None = None,
) -> DriftOverTime:
    """Drift of each column in every period against one fixed reference: columns x periods.

    Parameters
    ----------
    data
        The data over time (any input aidebt reads).
    time
        Date/Datetime column.
    columns
        Columns to follow (default: every column but ``time``, dates and ``weight``).
    every
        Period length (``"1w"``, ``"1mo"``, ``"1q"``...; see :func:`aidebt.decay`).
    reference
        ``"first"`` (the first period, default), a period (``"2026-01"``), a
        ``(start, end)`` pair of dates (rows with ``start <= time < end``), a
        :class:`DriftProfile`, or separate reference data. The numeric bins are fixed on
        it once, so every period is measured on the same bins.
    bins, weight, categorical, confidence, adjust, min_effect, n_sim, seed, quantile_error
        As in :func:`drift` (``quantile_error``: approximate edges on Spark, fixed once on
        the reference, with the rank bound in ``notes()``); ``adjust`` runs over every (column, period) test of the
        grid (default ``"bh"``: with no drift anywhere, a grid shows any false flag at
        most ``1 - confidence`` of the time; ``None`` judges each cell alone, and a 12 x 4
        grid then shows a false flag most of the time).

    Returns
    -------
    DriftOverTime
        ``.table`` (long: period, column, measures), ``.wide(value)`` and ``.matrix`` (the
        columns x periods table), ``.chart()`` (heat map), ``.summary()``.

    Examples
    --------
    >>> import aidebt as ad
    >>> r = ad.drift_over_time(ad.datasets.demo(5_000), "ts", ["intent", "region"])
    >>> r.wide("drifted").filter(pl.col("column") == "intent").row(0)[-3:]
    (True, True, True)
    """
    alpha = _check_common(confidence, n_sim, min_effect)
    quantile_error = check_quantile_error(quantile_error)
    ev = Every.parse(every)
    frame = frames.to_lazy(data)
    if not isinstance(time, str):
        raise InvalidArgumentError(f"time={time!r} must be the name of a Date/Datetime column.")
    frames.require_temporal(frame, time, needed_by="drift_over_time")
    schema = frames.columns(frame)
    if columns is None:
        skip = {time, *([weight] if weight else [])}
        columns = [c for c, d in schema.items() if c not in skip and not frames.is_temporal(d)]
    frame = _at_the_door(frame, [time, *frames.as_list(columns), weight])
    schema = frames.columns(frame)
    if isinstance(reference, DriftProfile):
        profile, described = reference, "a stored profile"
        missing = [c for c in frames.as_list(columns) if c not in profile.columns]
        if missing:
            raise InvalidArgumentError(f"Columns {missing} are not in the reference profile.")
    else:
        ref_frame, described = _period_filter(frame, time, ev, reference)
        if ref_frame is None:
            ref_frame, described = frames.to_lazy(reference), "separate reference data"
        profile = drift_profile(
            ref_frame,
            columns,
            bins=bins,
            weight=weight,
            categorical=categorical,
            quantile_error=quantile_error,
        )
        if profile.n == 0:
            raise InvalidArgumentError(
                f"The reference ({described}) has no rows: choose another reference."
            )
    cols = {c: profile.columns[c] for c in frames.as_list(columns)}
    counts = _count(frame, cols, schema, weight=weight, derived_keys={"_p": ev.index(nw.col(time))})
    counts = counts.filter(pl.col("_p").is_not_null()).with_columns(pl.col("_p").cast(pl.Int64))
    if counts.height == 0:
        raise InvalidArgumentError(f"Column {time!r} has no values: nothing to compare.")
    lo, hi = int(counts["_p"].min()), int(counts["_p"].max())
    rows = []
    for p in range(lo, hi + 1):
        in_period = counts.filter(pl.col("_p") == p)
        for i, (c, prof) in enumerate(cols.items()):
            part = in_period.filter(pl.col("column") == c)
            cur = dict(zip(part["value"].to_list(), part["n"].to_list(), strict=True))
            row = {
                "_p": p,
                "column": c,
                **_compare(prof, cur, alpha=alpha, n_sim=n_sim, seed=seed + i),
            }
            if not cur:
                row["note"] = "no rows in this period (a gap)"
            rows.append(row)
    table = _flag(conform(rows, COLUMNS, lead={"_p": pl.Int64}), alpha, adjust, min_effect)
    period = pl.Series("period", ev.start(table["_p"].to_numpy())).cast(pl.Date)
    table = table.with_columns(period).select(
        "period", *[c for c in table.columns if c not in ("_p", "period")]
    )
    return DriftOverTime(table, profile, confidence, ev, described)
