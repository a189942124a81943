"""The annotation economy: how much raters agree, how label sources compare with gold,
what a correct label costs, and how much a metric moves once label error is accounted for.

Every metric aidebt reports is only as good as its ``y_true``. This module measures the
labels themselves, from a long table of labels (one row per item x rater or source):

- :func:`agreement`: Krippendorff's alpha (nominal, ordinal, interval, ratio; missing
  ratings allowed), Fleiss' kappa when every item has the same number of ratings, Cohen's
  kappa for exactly two raters; rater x rater agreement and each rater against the rest.
- :func:`label_sources`: each source against a trusted gold source: accuracy,
  sensitivity, specificity, bias, kappa, cost per label and per correct label, per segment.
- :func:`correct`: a rate measured with an imperfect label source, corrected for that
  source's sensitivity and specificity (Rogan-Gladen), with an interval that carries both
  the production sample's error and the gold subset's.
- :func:`labels_needed`: how many labels each segment needs for a Wilson interval of a
  given half-width; with ``data``, next month's label budget.

Sufficient statistics, as everywhere in aidebt. Agreement depends on the data only through
each item's *rating pattern* (how many of its ratings took each value): one group-by in
the data's engine counts the items of each pattern, and alpha, Fleiss' kappa and an exact
item-level bootstrap all run on that small table. Label sources reduce to a 2 x 2 table
per source and segment.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import narwhals as nw
import numpy as np
import polars as pl
from scipy import sparse

from aidebt.errors import (
    ColumnTypeError,
    InvalidArgumentError,
    InvalidValueError,
    did_you_mean,
)
from aidebt.frames import as_list, columns, group_key, is_numeric, require_columns, to_lazy
from aidebt.results import Result
from aidebt.stats import _z, adjust_pvalues, check_confidence, wilson_ci

__all__ = [
    "Agreement",
    "Corrected",
    "Headline",
    "LabelBudget",
    "LabelSources",
    "agreement",
    "correct",
    "label_sources",
    "labels_needed",
]

LEVELS = ("nominal", "ordinal", "interval", "ratio")
WEIGHTS = (None, "linear", "quadratic")
ALL = "(all)"
"""The segment value of the rows that pool every segment."""

_MAX_PIVOT_VALUES = 40  # above this many distinct labels, pivot after collecting instead
_BOOT_CELLS = 20_000_000  # replicates x patterns held in memory at once by the bootstrap


class Headline(NamedTuple):
    """One sentence for a monthly report, and the key figures behind it."""

    sentence: str
    figures: dict[str, float]


def _pct(x: float, digits: int = 0) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.{digits}f}%"


def _num(x: float, digits: int = 2) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _count(n: float, noun: str) -> str:
    return f"{n:,.0f} {noun}" + ("" if n == 1 else "s")


def _money(x: float) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    if x >= 0.1:
        return f"${x:,.2f}"
    return f"${x:.3g}"


# ======================================================================================
# Input checks and the label catalog (one small query: which raters, which values)
# ======================================================================================


def _check_level(level: str) -> str:
    if level not in LEVELS:
        raise InvalidArgumentError(
            f"level={level!r} is not a level of measurement; use one of {list(LEVELS)}: "
            "'nominal' for categories, 'ordinal' for ranked categories (1-5 stars), "
            "'interval' for scores where differences mean the same everywhere, 'ratio' "
            "for non-negative quantities with a true zero."
        )
    return level


def _check_weights(weights: str | None) -> str | None:
    if weights not in WEIGHTS:
        raise InvalidArgumentError(
            f"weights={weights!r} is not a kappa weighting; use None (unweighted), "
            "'linear' or 'quadratic'."
        )
    return weights


def _label_values(
    frame: nw.LazyFrame, label: str, level: str, *, role: str = "label"
) -> tuple[list[Any], np.ndarray | None]:
    """The distinct non-null labels, sorted, and their numeric values (None if nominal text)."""
    dtype = columns(frame)[label]
    numeric = is_numeric(dtype)
    if level != "nominal" and not numeric:
        from aidebt.frames import sample_values

        raise ColumnTypeError(
            f"Column {label!r} ({role}) holds text such as {sample_values(frame, label)}, but "
            f"level={level!r} needs numbers: an {level} scale measures distances between "
            "values. Map the labels to numbers (e.g. 'poor'=1 ... 'great'=5), or use "
            "level='nominal' for unordered categories."
        )
    expr = nw.col(label).cast(nw.Int8) if dtype == nw.Boolean else nw.col(label)
    found = (
        frame.select(expr.alias(label))
        .filter(~nw.col(label).is_null())
        .unique()
        .collect(backend="polars")
        .to_native()
        .get_column(label)
    )
    if found.dtype.is_float():
        found = found.filter(~found.is_nan())
    values = found.sort().to_list()
    if not numeric:
        return values, None
    as_float = np.asarray(values, dtype=float)
    if level == "ratio" and (as_float < 0).any():
        raise InvalidValueError(
            f"Column {label!r} has negative values (e.g. {as_float.min():g}), but the ratio "
            "level needs non-negative quantities with a true zero. Use level='interval'."
        )
    return values, as_float


def _label_expr(frame: nw.LazyFrame, label: str) -> nw.Expr:
    """The label column, booleans as 0/1 and NaN as null (a missing rating)."""
    dtype = columns(frame)[label]
    col = nw.col(label)
    if dtype == nw.Boolean:
        return col.cast(nw.Int8)
    if dtype.is_float():
        return nw.when(~col.is_nan()).then(col)
    return col


def _segments(frame: nw.LazyFrame, by: list[str]) -> nw.LazyFrame:
    """Group columns as strings with an explicit (missing) group (frames.group_key)."""
    schema = columns(frame)
    return frame.with_columns([group_key(c, schema[c]) for c in by]) if by else frame


# ======================================================================================
# Agreement: rating patterns -> coincidence matrix -> alpha; Fleiss; Cohen
# ======================================================================================


def _patterns(
    frame: nw.LazyFrame, item: str, label: str, values: list[Any], by: list[str]
) -> pl.DataFrame:
    """The one pass: items counted by (segment, rating pattern).

    A pattern is the number of ratings an item received for each value (``_n0`` ...);
    items with the same pattern contribute the same to every agreement statistic, so this
    small table is a sufficient statistic (also for an item-level bootstrap). ``_m`` is
    the number of ratings of the item, ``_items`` how many items share the pattern.
    """
    names = [f"_n{i}" for i in range(len(values))]
    lab = _label_expr(frame, label)
    rated = _segments(frame, by).with_columns(lab.alias("_label")).filter(~nw.col("_label").is_null())
    if len(values) <= _MAX_PIVOT_VALUES:
        wide = rated.with_columns(
            [(nw.col("_label") == v).cast(nw.Int32).alias(n) for v, n in zip(values, names, strict=True)]
        )
        per_item = wide.group_by([*by, item]).agg([nw.col(n).sum() for n in names])
        table = (
            per_item.group_by([*by, *names])
            .agg(nw.len().alias("_items"))
            .collect(backend="polars")
            .to_native()
        )
    else:  # many distinct values (a fine interval scale): count per (item, value), pivot here
        code = {v: i for i, v in enumerate(values)}
        long = (
            rated.group_by([*by, item, "_label"])
            .agg(nw.len().alias("_c"))
            .collect(backend="polars")
            .to_native()
            .with_columns(pl.col("_label").replace_strict(code, return_dtype=pl.Int64))
        )
        wide = long.pivot(on="_label", index=[*by, item], values="_c").fill_null(0)
        for i, n in enumerate(names):
            wide = wide.rename({str(i): n}) if str(i) in wide.columns else wide.with_columns(pl.lit(0).alias(n))
        table = wide.group_by([*by, *names]).agg(pl.len().alias("_items"))
    table = table.with_columns([pl.col(n).cast(pl.Float64) for n in names]).with_columns(
        pl.col("_items").cast(pl.Float64), _m=pl.sum_horizontal(names)
    )
    return table.sort([*by, *names])


def _delta2(level: str, values: np.ndarray | None, margins: np.ndarray) -> np.ndarray:
    """Krippendorff's squared difference function, shape ``margins.shape[:-1] + (V, V)``.

    Ordinal differences depend on the value distribution (the margins of the coincidence
    matrix): ``delta_ck = sum_{g=c..k} n_g - (n_c + n_k) / 2``, i.e. the distance between
    the mid-ranks of ``c`` and ``k``.
    """
    v = margins.shape[-1]
    if level == "nominal":
        return np.broadcast_to(1.0 - np.eye(v), margins.shape[:-1] + (v, v))
    if level == "ordinal":
        mid = np.cumsum(margins, axis=-1) - margins / 2
        return (mid[..., None, :] - mid[..., :, None]) ** 2
    x = np.asarray(values, dtype=float)
    if level == "interval":
        d = (x[None, :] - x[:, None]) ** 2
    else:  # ratio
        with np.errstate(divide="ignore", invalid="ignore"):
            d = ((x[None, :] - x[:, None]) / (x[None, :] + x[:, None])) ** 2
        d = np.nan_to_num(d)  # 0/0 when both values are 0: no difference
    return np.broadcast_to(d, margins.shape[:-1] + (v, v))


def _alpha(coincidence: np.ndarray, level: str, values: np.ndarray | None) -> np.ndarray:
    """Krippendorff's alpha from coincidence matrices ``(..., V, V)``; NaN where undefined.

    ``alpha = 1 - D_o / D_e`` with ``D_o = sum o_ck d_ck / n`` and
    ``D_e = sum n_c n_k d_ck / (n (n - 1))`` (Krippendorff 2011, eqs. for any metric).
    """
    margins = coincidence.sum(axis=-1)
    n = margins.sum(axis=-1)
    d = _delta2(level, values, margins)
    observed = (coincidence * d).sum(axis=(-2, -1))
    expected = (margins[..., :, None] * margins[..., None, :] * d).sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 1.0 - (n - 1) * observed / expected
    return np.where(expected > 0, out, np.nan)


def _pattern_coincidences(counts: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Each pattern's contribution to the coincidence matrix, ``(P, V, V)``.

    An item with ``n_c`` ratings of value ``c`` and ``m`` ratings in all adds
    ``n_c n_k / (m - 1)`` to ``o_ck`` (``c != k``) and ``n_c (n_c - 1) / (m - 1)`` to
    ``o_cc``: each of its ``m (m - 1)`` ordered pairs of ratings, weighted ``1/(m - 1)``.
    """
    outer = counts[:, :, None] * counts[:, None, :]
    idx = np.arange(counts.shape[1])
    outer[:, idx, idx] -= counts
    return outer / (m - 1)[:, None, None]


def _fleiss_parts(counts: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Per pattern: the item's agreement ``P_i`` and its rating shares ``n_ic / m``."""
    p_i = ((counts**2).sum(axis=1) - m) / (m * (m - 1))
    return np.column_stack([p_i, counts / m[:, None]])


def _fleiss(sums: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Fleiss' kappa from summed ``_fleiss_parts`` ``(..., 1 + V)`` and item counts."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p_bar = sums[..., 0] / items
        shares = sums[..., 1:] / items[..., None]
        p_e = (shares**2).sum(axis=-1)
        out = (p_bar - p_e) / (1 - p_e)
    return np.where(p_e < 1, out, np.nan)


def cohen_kappa(table: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cohen's kappa and its large-sample variance, vectorized over leading axes.

    ``table[..., i, j]`` counts items rater A put in category ``i`` and rater B in ``j``.
    ``weights`` is a disagreement matrix (0 on the diagonal, at most 1), e.g.
    ``|i - j| / (k - 1)`` (linear) or its square (quadratic); None gives the unweighted
    kappa. The variance is Fleiss, Cohen & Everitt (1969), the one SAS PROC FREQ and
    statsmodels' ``cohens_kappa`` report (equal to it to 1e-10, tested).

    Examples
    --------
    >>> k, v = cohen_kappa(np.array([[20., 5.], [10., 15.]]))
    >>> round(float(k), 4), round(float(np.sqrt(v)), 4)
    (0.4, 0.1281)
    """
    table = np.asarray(table, dtype=float)
    k = table.shape[-1]
    w = np.eye(k) if weights is None else 1.0 - np.asarray(weights, dtype=float)
    n = table.sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = table / n[..., None, None]
        rows, cols = p.sum(axis=-1), p.sum(axis=-2)
        agree = (w * p).sum(axis=(-2, -1))
        expected = (w * rows[..., :, None] * cols[..., None, :]).sum(axis=(-2, -1))
        kappa = (agree - expected) / (1 - expected)
        w_row = (w * cols[..., None, :]).sum(axis=-1)  # for each row category i
        w_col = (w * rows[..., :, None]).sum(axis=-2)  # for each column category j
        dev = w - (w_row[..., :, None] + w_col[..., None, :]) * (1 - kappa)[..., None, None]
        var = ((p * dev**2).sum(axis=(-2, -1)) - (kappa - expected * (1 - kappa)) ** 2) / (
            (1 - expected) ** 2 * n
        )
    return kappa, np.maximum(var, 0.0)


def _kappa_weights(values: np.ndarray | None, weights: str | None, k: int) -> np.ndarray | None:
    if weights is None:
        return None
    scores = np.arange(k, dtype=float) if values is None else np.asarray(values, dtype=float)
    span = scores[-1] - scores[0]
    diff = np.abs(scores[:, None] - scores[None, :]) / (span if span > 0 else 1.0)
    return diff if weights == "linear" else diff**2


def _multinomial_counts(
    rng: np.random.Generator, items: np.ndarray, seg: np.ndarray, n_seg: int, reps: int
) -> np.ndarray:
    """Bootstrap item counts per pattern ``(reps, P)``: each segment's items resampled
    with replacement, i.e. a multinomial draw over its patterns (exact, vectorized)."""
    order = np.argsort(seg, kind="stable")
    starts = np.searchsorted(seg[order], np.arange(n_seg))
    pos = np.arange(len(seg)) - starts[seg[order]]
    width = int(np.bincount(seg, minlength=n_seg).max())
    pvals = np.zeros((n_seg, width))
    pvals[seg[order], pos] = items[order]
    totals = pvals.sum(axis=1)
    pvals = pvals / np.where(totals > 0, totals, 1)[:, None]
    pvals[totals == 0, 0] = 1.0
    draws = rng.multinomial(totals.astype(np.int64), pvals, size=(reps, n_seg))
    out = np.empty((reps, len(seg)))
    out[:, order] = draws[:, seg[order], pos]
    return out


def _bootstrap(
    features: np.ndarray,
    items: np.ndarray,
    seg: np.ndarray,
    n_seg: int,
    statistic,
    n_boot: int,
    seed: int,
) -> np.ndarray:
    """Replicates of a statistic of per-segment feature sums, ``(n_boot, n_seg)``.

    ``features`` (P x F) are additive per-pattern contributions; a replicate resamples
    each segment's items (multinomial counts of patterns) and sums ``count x feature``
    per segment with one sparse product. ``statistic(sums (B, S, F), items (B, S))``
    turns sums into the statistic.
    """
    rng = np.random.default_rng(seed)
    n_pat, n_feat = features.shape
    rows = np.repeat(np.arange(n_pat), n_feat)
    cols = (seg[:, None] * n_feat + np.arange(n_feat)[None, :]).ravel()
    block = sparse.csr_matrix((features.ravel(), (rows, cols)), shape=(n_pat, n_seg * n_feat))
    member = sparse.csr_matrix((np.ones(n_pat), (np.arange(n_pat), seg)), shape=(n_pat, n_seg))
    chunk = max(1, _BOOT_CELLS // max(n_pat, 1))
    out = []
    for start in range(0, n_boot, chunk):
        reps = min(chunk, n_boot - start)
        k = _multinomial_counts(rng, items, seg, n_seg, reps)
        sums = np.asarray((block.T @ k.T).T).reshape(reps, n_seg, n_feat)
        counts = np.asarray((member.T @ k.T).T)
        out.append(statistic(sums, counts))
    return np.concatenate(out, axis=0)


def _percentile_ci(reps: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    tail = 100 * (1 - confidence) / 2
    with np.errstate(all="ignore"):
        if np.isnan(reps).all(axis=0).any():
            lo = np.full(reps.shape[1], np.nan)
            hi = np.full(reps.shape[1], np.nan)
            ok = ~np.isnan(reps).all(axis=0)
            if ok.any():
                lo[ok], hi[ok] = np.nanpercentile(reps[:, ok], [tail, 100 - tail], axis=0)
            return lo, hi
        lo, hi = np.nanpercentile(reps, [tail, 100 - tail], axis=0)
    return lo, hi


class Agreement(Result):
    """Inter-rater agreement: coefficients per segment, rater pairs, rater vs the rest.

    ``.table``: by-columns..., ``coefficient`` (``krippendorff_alpha``, ``fleiss_kappa``,
    ``cohen_kappa``), ``value``, ``ci_low``, ``ci_high``, ``interval`` (how the interval
    was computed), ``n_items`` (items with at least two ratings), ``n_pairable`` (their
    ratings). With ``by``, the rows whose segment is ``(all)`` pool every segment.
    ``.pairs``: rater x rater agreement and each rater against the rest (computed on first
    use, with its own pass over the data).
    """

    title = "Inter-rater agreement"

    def __init__(self, table: pl.DataFrame, **info: Any) -> None:
        super().__init__(table)
        self.by: list[str] = info["by"]
        self.level: str = info["level"]
        self.weights: str | None = info["weights"]
        self.confidence: float = info["confidence"]
        self.raters: list[Any] = info["raters"]
        self.values: list[Any] = info["values"]
        self.single_rated: int = info["single_rated"]
        self.n_boot: int = info["n_boot"]
        self._pairs_fn = info["pairs_fn"]
        self._pairs: pl.DataFrame | None = None

    @property
    def pairs(self) -> pl.DataFrame:
        """Rater x rater agreement, and each rater against the rest (``rater_b`` = ``(rest)``).

        Columns: ``rater_a``, ``rater_b``, ``n_items`` (items both rated), ``agreement``
        (share of identical labels), ``kappa`` (Cohen's, with the analysis' weights) for a
        pair / Krippendorff's alpha of the rater against the rest, ``ci_low``, ``ci_high``.

        Against the rest: for each item a rater rated, the mean difference between the
        rater's value and the item's other values, ``D_o(r)``; the rater's alpha is
        ``1 - D_o(r) / D_e`` with the data's expected difference ``D_e``. The overall
        alpha is the average of the raters' alphas weighted by their ratings, so a rater
        well below it disagrees with the others more than they do among themselves. Its
        interval treats items as independent and ``D_e`` as known (``D_e`` rests on every
        rating and varies far less than one rater's ``D_o``).
        """
        if self._pairs is None:
            self._pairs = self._pairs_fn()
        return self._pairs

    def overall(self) -> dict[str, Any]:
        """The pooled row of Krippendorff's alpha (all segments)."""
        t = self.table.filter(pl.col("coefficient") == "krippendorff_alpha")
        if self.by:
            t = t.filter(pl.all_horizontal([pl.col(c) == ALL for c in self.by]))
        return t.row(0, named=True)

    def _weakest(self) -> dict[str, Any] | None:
        rest = self.pairs.filter(pl.col("rater_b") == "(rest)").drop_nulls("kappa")
        if rest.height < 3:
            return None
        worst = rest.sort("kappa").row(0, named=True)
        others = rest.filter(pl.col("rater_a") != worst["rater_a"])
        if worst["ci_high"] is None or worst["ci_high"] >= others["kappa"].median():
            return None
        worst["others"] = float(others["kappa"].median())
        return worst

    def headline(self) -> Headline:
        row = self.overall()
        verdict = _alpha_verdict(row["value"])
        sentence = (
            f"Raters agree {verdict}: Krippendorff's alpha {_num(row['value'])} "
            f"[{_num(row['ci_low'])}, {_num(row['ci_high'])}] over {row['n_items']:,.0f} items."
        )
        figures = {
            "alpha": row["value"],
            "alpha_ci_low": row["ci_low"],
            "alpha_ci_high": row["ci_high"],
            "items": row["n_items"],
        }
        return Headline(sentence, figures)

    def summary(self) -> list[str]:
        lines = [self.headline().sentence]
        if self.by:
            seg = self.table.filter(
                (pl.col("coefficient") == "krippendorff_alpha")
                & ~pl.all_horizontal([pl.col(c) == ALL for c in self.by])
            ).drop_nulls("value")
            if seg.height > 1:
                low = seg.sort("value").row(0, named=True)
                name = " / ".join(str(low[c]) for c in self.by)
                lines.append(
                    f"Agreement is lowest for {name}: alpha {_num(low['value'])} "
                    f"[{_num(low['ci_low'])}, {_num(low['ci_high'])}] over {low['n_items']:,.0f} items."
                )
        weak = self._weakest()
        if weak is not None:
            lines.append(
                f"Rater {weak['rater_a']} agrees least with the others: alpha against the rest "
                f"{_num(weak['kappa'])} [{_num(weak['ci_low'])}, {_num(weak['ci_high'])}], "
                f"against {_num(weak['others'])} for a typical rater. Check this rater's work "
                "before trusting their labels."
            )
        return lines

    def notes(self) -> list[str]:
        notes = [
            f"Level of measurement: {self.level}. Alpha's interval: an item-level bootstrap "
            f"({self.n_boot:,} resamples of the items, percentile interval)."
        ]
        if self.single_rated:
            notes.append(
                f"{_count(self.single_rated, 'item')} {'has' if self.single_rated == 1 else 'have'} "
                "a single rating: they say nothing about agreement and are left out."
            )
        return notes

    def chart(self):
        """A heat map of rater x rater agreement (kappa), with each rater against the rest."""
        from aidebt.charts import agreement_heatmap

        return agreement_heatmap(self.pairs)


def _alpha_verdict(alpha: float) -> str:
    # Krippendorff (2004, p. 241): rely on variables with alpha >= .800, consider
    # tentative conclusions only for .667 <= alpha < .800.
    if alpha is None or not np.isfinite(alpha):
        return "in an undefined way (every rating has the same value)"
    if alpha >= 0.8:
        return "well enough to rely on the labels"
    if alpha >= 0.667:
        return "only well enough for tentative conclusions"
    return "too little to rely on the labels"


def agreement(
    labels: Any,
    *,
    item: str,
    rater: str,
    label: str,
    level: str = "nominal",
    by: str | Sequence[str] | None = None,
    weights: str | None = None,
    confidence: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
) -> Agreement:
    """How much raters agree beyond chance, from long-format labels.

    One row per item x rater; a null label (or a rater absent for an item) is a missing
    rating. Krippendorff's alpha is always reported; Fleiss' kappa too when every item of
    a segment has the same number of ratings, and Cohen's kappa when there are exactly two
    raters.

    Parameters
    ----------
    labels
        Any input aidebt reads (polars, pandas, pyarrow, DuckDB, Spark, a path).
    item, rater, label
        Columns: what was labeled, who labeled it, the label.
    level
        ``"nominal"`` (categories), ``"ordinal"``, ``"interval"`` or ``"ratio"``: the
        difference function of alpha. Non-nominal levels need numeric labels.
    by
        Segment columns (constant within an item, e.g. the ticket's language).
    weights
        Cohen's kappa weights for ordered labels: None, ``"linear"`` or ``"quadratic"``
        (scores are the label values).
    confidence
        Level of the intervals.
    n_boot, seed
        Bootstrap resamples for alpha's and Fleiss' intervals, and the seed.

    Returns
    -------
    Agreement

    Notes
    -----
    *Alpha* (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability") is computed
    from the coincidence matrix, which is a sum over items of a contribution that depends
    only on the item's rating pattern: one group-by in the data's engine counts the items
    of each pattern. Assumes raters are interchangeable and items independent.

    *Intervals*. Cohen's kappa: the large-sample variance of Fleiss, Cohen & Everitt
    (1969), normal interval. Alpha and Fleiss' kappa have no dependable closed form with
    missing ratings, so their interval is a percentile bootstrap over items (Efron &
    Tibshirani 1993): each resample draws the segment's items with replacement, which is
    a multinomial draw of the rating patterns' counts (exact, vectorized, ``seed``-fixed;
    Hayes & Krippendorff 2007 bootstrap pairs of values instead, which ignores that the
    ratings of an item are correlated).

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"item": [1, 1, 2, 2, 3, 3, 4, 4], "rater": ["a", "b"] * 4,
    ...                    "label": [1, 1, 0, 0, 1, 0, 1, 1]})
    >>> r = agreement(df, item="item", rater="rater", label="label")
    >>> r.table.select("coefficient", "value").rows()[0]
    ('krippendorff_alpha', 0.5)
    """
    _check_level(level)
    _check_weights(weights)
    confidence = check_confidence(confidence)
    by_cols = as_list(by)
    frame = to_lazy(labels)
    require_columns(frame, [item], role="item")
    require_columns(frame, [rater], role="rater")
    require_columns(frame, [label], role="label")
    require_columns(frame, by_cols, role="by")
    values, numeric = _label_values(frame, label, level)
    if weights is not None and numeric is None:
        raise ColumnTypeError(
            f"weights={weights!r} needs ordered numeric labels, but column {label!r} holds "
            "text. Map the labels to scores first, or use weights=None."
        )
    lab = _label_expr(frame, label)
    raters = (
        frame.filter(~lab.is_null())
        .select(nw.col(rater))
        .unique()
        .collect(backend="polars")
        .to_native()
        .get_column(rater)
        .sort(nulls_last=True)
        .to_list()
    )
    if len(raters) < 2:
        who = repr(raters[0]) if raters else "nobody"
        raise InvalidValueError(
            f"Agreement needs at least two raters, but column {rater!r} has only {who} with "
            "a label. Pass the column that names who gave each label, with one row per item "
            "x rater."
        )
    table = _patterns(frame, item, label, values, by_cols)
    names = [f"_n{i}" for i in range(len(values))]
    single = int(table.filter(pl.col("_m") == 1)["_items"].sum())
    pair_fn = _pairs_factory(frame, item, rater, label, level, values, numeric, weights, confidence)
    if table.filter(pl.col("_m") >= 2).height == 0:
        raise InvalidValueError(
            f"No item has two ratings: every value of {item!r} was rated once, so there is "
            "no agreement to measure. Check that the item column identifies what was "
            "labeled (the same key for every rater of an item)."
        )
    rows = _agreement_rows(table, names, by_cols, level, numeric, confidence, n_boot, seed)
    if len(raters) == 2:
        rows = pl.concat(
            [rows, _cohen_rows(frame, item, rater, label, values, numeric, raters, by_cols, weights, confidence)],
            how="diagonal_relaxed",
        )
    order = {"krippendorff_alpha": 0, "fleiss_kappa": 1, "cohen_kappa": 2}
    rows = (
        rows.with_columns(_o=pl.col("coefficient").replace_strict(order, return_dtype=pl.Int8))
        .sort([pl.col(c) != ALL for c in by_cols] + [*by_cols, "_o"])
        .drop("_o")
    )
    return Agreement(
        rows,
        by=by_cols,
        level=level,
        weights=weights,
        confidence=confidence,
        raters=raters,
        values=values,
        single_rated=single,
        n_boot=n_boot,
        pairs_fn=pair_fn,
    )


def _with_overall(table: pl.DataFrame, names: list[str], by: list[str]) -> pl.DataFrame:
    """Add the pooled ``(all)`` segment to a pattern table (patterns re-summed)."""
    if not by:
        return table
    pooled = (
        table.group_by([*names, "_m"])
        .agg(pl.col("_items").sum())
        .with_columns([pl.lit(ALL).alias(c) for c in by])
    )
    return pl.concat([pooled.select(table.columns), table])


def _agreement_rows(
    table: pl.DataFrame,
    names: list[str],
    by: list[str],
    level: str,
    numeric: np.ndarray | None,
    confidence: float,
    n_boot: int,
    seed: int,
) -> pl.DataFrame:
    full = _with_overall(table, names, by)
    segs = full.select(by).unique(maintain_order=True) if by else pl.DataFrame({"_s": [0]})
    if by:
        full = full.join(segs.with_row_index("_seg"), on=by, how="left")
    else:
        full = full.with_columns(_seg=pl.lit(0, dtype=pl.UInt32))
    # Fleiss' kappa needs the same number of ratings for every item of a segment,
    # single-rated items included (they break the design).
    same_m = full.group_by("_seg").agg(
        (pl.col("_m").min() == pl.col("_m").max()).alias("_equal")
    )
    pairable = full.filter(pl.col("_m") >= 2)
    seg = pairable["_seg"].to_numpy().astype(np.int64)
    n_seg = segs.height
    counts = pairable.select(names).to_numpy()
    m = pairable["_m"].to_numpy()
    items = pairable["_items"].to_numpy()
    contrib = _pattern_coincidences(counts, m)
    v = len(names)
    coinc = np.zeros((n_seg, v, v))
    np.add.at(coinc, seg, contrib * items[:, None, None])
    alpha = _alpha(coinc, level, numeric)

    def alpha_stat(sums, _items):
        return _alpha(sums.reshape(*sums.shape[:-1], v, v), level, numeric)

    reps = _bootstrap(contrib.reshape(len(items), v * v), items, seg, n_seg, alpha_stat, n_boot, seed)
    lo, hi = _percentile_ci(reps, confidence)
    n_items = np.bincount(seg, weights=items, minlength=n_seg)
    n_pairable = np.bincount(seg, weights=items * m, minlength=n_seg)
    base = segs.drop("_s") if not by else segs
    out = [
        base.with_columns(
            coefficient=pl.lit("krippendorff_alpha"),
            value=pl.Series(alpha),
            ci_low=pl.Series(lo),
            ci_high=pl.Series(hi),
            interval=pl.lit("bootstrap"),
            n_items=pl.Series(n_items),
            n_pairable=pl.Series(n_pairable),
        )
    ]
    equal = segs.with_row_index("_seg").join(same_m, on="_seg")["_equal"].to_numpy()
    if equal.any():
        parts = _fleiss_parts(counts, m)
        sums = np.zeros((n_seg, parts.shape[1]))
        np.add.at(sums, seg, parts * items[:, None])
        kappa = _fleiss(sums, n_items)
        reps = _bootstrap(parts, items, seg, n_seg, _fleiss, n_boot, seed + 1)
        klo, khi = _percentile_ci(reps, confidence)
        fl = base.with_columns(
            coefficient=pl.lit("fleiss_kappa"),
            value=pl.Series(kappa),
            ci_low=pl.Series(klo),
            ci_high=pl.Series(khi),
            interval=pl.lit("bootstrap"),
            n_items=pl.Series(n_items),
            n_pairable=pl.Series(n_pairable),
        ).filter(pl.Series(equal))
        out.append(fl)
    return pl.concat(out)


def _codes(frame: nw.LazyFrame, label: str, values: list[Any]) -> nw.Expr:
    """The label's position in ``values`` (0..V-1) as an engine expression; null if missing."""
    lab = _label_expr(frame, label)
    code = nw.lit(0)
    for i, v in enumerate(values[1:], start=1):
        code = code + (lab == v).cast(nw.Int32) * i
    return nw.when(~lab.is_null()).then(code)


def _pair_counts(
    frame: nw.LazyFrame, item: str, rater: str, label: str, values: list[Any], by: list[str]
) -> pl.DataFrame:
    """Joint label counts of every ordered pair of raters over the items both rated.

    A self-join on the item in the data's engine, then one group-by: the result has
    (segments x) raters^2 x values^2 rows at most.
    """
    rated = (
        _segments(frame, by)
        .with_columns(_codes(frame, label, values).alias("_c"))
        .filter(~nw.col("_c").is_null())
        .select([*by, item, rater, "_c"])
    )
    other = rated.select(
        nw.col(item), nw.col(rater).alias("_rater_b"), nw.col("_c").alias("_c_b")
    )
    joined = rated.join(other, on=item, how="inner").filter(nw.col(rater) != nw.col("_rater_b"))
    return (
        joined.group_by([*by, rater, "_rater_b", "_c", "_c_b"])
        .agg(nw.len().alias("_n"))
        .collect(backend="polars")
        .to_native()
        .rename({rater: "rater_a", "_rater_b": "rater_b"})
        .with_columns(pl.col("_n").cast(pl.Float64))
    )


def _tables(counts: pl.DataFrame, keys: list[str], k: int) -> tuple[pl.DataFrame, np.ndarray]:
    """Pair counts -> one k x k table per key combination."""
    groups = counts.select(keys).unique(maintain_order=True).sort(keys)
    idx = counts.join(groups.with_row_index("_g"), on=keys, how="left")
    tables = np.zeros((groups.height, k, k))
    np.add.at(
        tables,
        (idx["_g"].to_numpy(), idx["_c"].to_numpy(), idx["_c_b"].to_numpy()),
        idx["_n"].to_numpy(),
    )
    return groups, tables


def _cohen_rows(frame, item, rater, label, values, numeric, raters, by, weights, confidence):
    counts = _pair_counts(frame, item, rater, label, values, by).filter(
        pl.col("rater_a") == raters[0]
    )
    if by:
        pooled = counts.group_by(["rater_a", "rater_b", "_c", "_c_b"]).agg(pl.col("_n").sum())
        counts = pl.concat(
            [pooled.with_columns([pl.lit(ALL).alias(c) for c in by]).select(counts.columns), counts]
        )
    keys = [*by, "rater_a"]
    groups, tables = _tables(counts, keys, len(values))
    kappa, var = cohen_kappa(tables, _kappa_weights(numeric, weights, len(values)))
    z = _z(confidence)
    se = np.sqrt(var)
    n = tables.sum(axis=(1, 2))
    label_w = "cohen_kappa" if weights is None else "cohen_kappa"
    return groups.select(by).with_columns(
        coefficient=pl.lit(label_w),
        value=pl.Series(kappa),
        ci_low=pl.Series(kappa - z * se),
        ci_high=pl.Series(kappa + z * se),
        interval=pl.lit("analytic" if weights is None else f"analytic ({weights} weights)"),
        n_items=pl.Series(n),
        n_pairable=pl.Series(2 * n),
    )


def _pairs_factory(frame, item, rater, label, level, values, numeric, weights, confidence):
    """The deferred computation of ``Agreement.pairs`` (two passes of its own)."""

    def compute() -> pl.DataFrame:
        k = len(values)
        counts = _pair_counts(frame, item, rater, label, values, [])
        groups, tables = _tables(counts, ["rater_a", "rater_b"], k)
        kappa, var = cohen_kappa(tables, _kappa_weights(numeric, weights, k))
        z = _z(confidence)
        n = tables.sum(axis=(1, 2))
        agree = np.trace(tables, axis1=1, axis2=2) / np.where(n > 0, n, np.nan)
        pairs = groups.with_columns(
            n_items=pl.Series(n),
            agreement=pl.Series(agree),
            kappa=pl.Series(kappa),
            ci_low=pl.Series(kappa - z * np.sqrt(var)),
            ci_high=pl.Series(kappa + z * np.sqrt(var)),
        )
        rest = _rater_vs_rest(frame, item, rater, label, level, values, numeric, confidence)
        out = pl.concat(
            [pairs.with_columns(pl.col("rater_a").cast(pl.String), pl.col("rater_b").cast(pl.String)),
             rest.with_columns(pl.col("rater_a").cast(pl.String))],
            how="diagonal_relaxed",
        )
        return out.sort("rater_a", pl.col("rater_b") == "(rest)", "rater_b")

    return compute


def _rater_vs_rest(frame, item, rater, label, level, values, numeric, confidence) -> pl.DataFrame:
    """Each rater's alpha against the other raters, with an item-level interval.

    For a rating ``x`` of an item with ``m`` ratings, ``e = sum_c n_c delta(x, c) / (m - 1)``
    is its mean difference from the item's other ratings (window sums over the item in the
    data's engine); a rater's ``D_o`` is the mean of ``e`` over the items they rated.
    """
    lab = _label_expr(frame, label)
    code = _codes(frame, label, values)
    rated = frame.with_columns(lab.alias("_x"), code.alias("_c")).filter(~nw.col("_c").is_null())
    rated = rated.with_columns(nw.lit(1).alias("_one"))
    rated = rated.with_columns(nw.col("_one").sum().over(item).alias("_m")).filter(nw.col("_m") >= 2)
    if level == "nominal":
        same = nw.col("_one").sum().over(item, "_c")
        diff = nw.col("_m") - same
    elif level in ("interval", "ordinal"):
        if level == "ordinal":
            # Ordinal differences are interval differences of mid-ranks of the value
            # distribution over pairable ratings; computed from a small count first.
            dist = (
                rated.group_by("_c").agg(nw.len().alias("_k")).collect(backend="polars").to_native()
            )
            margins = np.zeros(len(values))
            margins[dist["_c"].to_numpy()] = dist["_k"].to_numpy()
            mid = np.cumsum(margins) - margins / 2
            x = nw.lit(0.0)
            for i, g in enumerate(mid):
                x = x + (nw.col("_c") == i).cast(nw.Float64) * float(g)
            rated = rated.with_columns(x.alias("_x"))
        rated = rated.with_columns(nw.col("_x").cast(nw.Float64).alias("_x"))
        s1 = nw.col("_x").sum().over(item)
        s2 = (nw.col("_x") ** 2).sum().over(item)
        diff = nw.col("_m") * nw.col("_x") ** 2 - 2 * nw.col("_x") * s1 + s2
    else:  # ratio: sum over the values of (count of the value on the item) x delta
        x = nw.col("_x").cast(nw.Float64)
        diff = nw.lit(0.0)
        for i, v in enumerate(numeric):
            n_c = (nw.col("_c") == i).cast(nw.Float64).sum().over(item)
            d = ((x - v) / (x + v)) ** 2 if v > 0 else nw.when(x > 0).then(1.0).otherwise(0.0)
            diff = diff + n_c * d
    e = (diff / (nw.col("_m") - 1)).cast(nw.Float64).alias("_e")
    per_rater = (
        rated.with_columns(e)
        .group_by(rater)
        .agg(
            nw.len().alias("n_items"),
            nw.col("_e").sum().alias("_s"),
            (nw.col("_e") ** 2).sum().alias("_ss"),
        )
        .collect(backend="polars")
        .to_native()
        .rename({rater: "rater_a"})
        .with_columns(pl.col("n_items", "_s", "_ss").cast(pl.Float64))
    )
    # D_e from the pairable value distribution (the margins of the coincidence matrix).
    dist = rated.group_by("_c").agg(nw.len().alias("_k")).collect(backend="polars").to_native()
    margins = np.zeros(len(values))
    margins[dist["_c"].to_numpy()] = dist["_k"].to_numpy()
    d = _delta2(level, numeric, margins)
    total = margins.sum()
    d_e = float((margins[:, None] * margins[None, :] * d).sum() / (total * (total - 1)))
    n = per_rater["n_items"].to_numpy()
    mean = per_rater["_s"].to_numpy() / n
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(n > 1, (per_rater["_ss"].to_numpy() - n * mean**2) / (n - 1), np.nan)
        se = np.sqrt(np.maximum(var, 0) / n)
        z = _z(confidence)
        value = 1 - mean / d_e
    agree = None
    if level == "nominal":
        agree = 1 - mean  # share of the other ratings of the item equal to the rater's
    return per_rater.select("rater_a", "n_items").with_columns(
        rater_b=pl.lit("(rest)"),
        agreement=pl.Series(agree, dtype=pl.Float64) if agree is not None else pl.lit(None, pl.Float64),
        kappa=pl.Series(value),
        ci_low=pl.Series(value - z * se / d_e),
        ci_high=pl.Series(value + z * se / d_e),
    )
