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
item-level (Poisson) bootstrap all run on that small table. Label sources reduce to a
2 x 2 table per source and segment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import narwhals as nw
import numpy as np
import polars as pl

from aidebt import frames, prose
from aidebt.aggregate import flag_fix, present
from aidebt.errors import (
    ColumnTypeError,
    InvalidArgumentError,
    InvalidValueError,
    did_you_mean,
)
from aidebt.frames import as_list, columns, group_key, is_numeric, require_columns, to_lazy
from aidebt.groups import check_names
from aidebt.results import Headline, Result
from aidebt.stats import adjust_pvalues, check_confidence, normal_quantile, wilson_ci

__all__ = [
    "Agreement",
    "Corrected",
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
_MAX_PACKED_VALUES = 8  # up to this many, polars packs an item's counts in one key (8+ bits)
_BOOT_CELLS = 20_000_000  # replicates x patterns held in memory at once by the bootstrap


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


def _check_label_type(frame: nw.LazyFrame, label: str, level: str, role: str) -> bool:
    """Whether the label column is numeric; text at a non-nominal level is refused."""
    numeric = is_numeric(columns(frame)[label])
    if level != "nominal" and not numeric:
        from aidebt.frames import sample_values

        raise ColumnTypeError(
            f"Column {label!r} ({role}) holds text such as {sample_values(frame, label)}, but "
            f"level={level!r} needs numbers: an {level} scale measures distances between "
            "values. Map the labels to numbers (e.g. 'poor'=1 ... 'great'=5), or use "
            "level='nominal' for unordered categories."
        )
    return numeric


def _value_list(
    found: pl.Series, label: str, level: str, numeric: bool
) -> tuple[list[Any], np.ndarray | None]:
    """Distinct non-null labels -> sorted list and numeric values (None if nominal text)."""
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


def _label_values(
    frame: nw.LazyFrame, label: str, level: str, *, role: str = "label"
) -> tuple[list[Any], np.ndarray | None]:
    """The distinct non-null labels, sorted, and their numeric values (None if nominal text)."""
    numeric = _check_label_type(frame, label, level, role)
    found = (
        frame.select(_label_expr(frame, label).alias(label))
        .filter(~nw.col(label).is_null())
        .unique()
        .collect(backend="polars")
        .to_native()
        .get_column(label)
    )
    return _value_list(found, label, level, numeric)


def _catalog(
    frame: nw.LazyFrame, label: str, rater: str, level: str
) -> tuple[list[Any], np.ndarray | None, list[Any]]:
    """The distinct labels (as :func:`_label_values`) and the raters who gave a label.

    One small query (a count per label x rater) answers both.
    """
    numeric = _check_label_type(frame, label, level, "label")
    found = (
        frame.select(_label_expr(frame, label).alias("_label"), nw.col(rater))
        .filter(~nw.col("_label").is_null())
        .group_by("_label", rater)
        .agg(nw.len().alias("_n"))
        .collect(backend="polars")
        .to_native()
    )
    values, as_float = _value_list(found.get_column("_label").unique(), label, level, numeric)
    raters = found.get_column(rater).unique().sort(nulls_last=True).to_list()
    return values, as_float, raters


def _label_expr(frame: nw.LazyFrame, label: str) -> nw.Expr:
    """The label column, booleans as 0/1 and NaN as null (a missing rating)."""
    dtype = columns(frame)[label]
    col = nw.col(label)
    if dtype == nw.Boolean:
        return col.cast(nw.Int8)
    return present(frame, label)


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
    Sorted by segment and pattern, whatever the engine (the bootstrap's draws follow it).
    """
    names = [f"_n{i}" for i in range(len(values))]
    lab = _label_expr(frame, label)
    rated = (
        _segments(frame, by).with_columns(lab.alias("_label")).filter(~nw.col("_label").is_null())
    )
    table = None
    if rated.implementation is nw.Implementation.POLARS and len(values) <= _MAX_PACKED_VALUES:
        table = _packed_patterns(rated.to_native(), item, values, by)
    if table is None:
        table = _portable_patterns(rated, item, values, by)
    table = table.select(
        *by,
        *[pl.col(n).cast(pl.Float64) for n in names],
        pl.col("_items").cast(pl.Float64),
        _m=pl.sum_horizontal(names).cast(pl.Float64),
    )
    return table.sort([*by, *names])


def _packed_patterns(
    rated: pl.LazyFrame, item: str, values: list[Any], by: list[str]
) -> pl.DataFrame | None:
    """The pattern pass on polars: each item's pattern packed into one 64-bit key.

    Value ``i`` adds ``2**(b i)`` to the item's key (``b = 64 // V`` bits a value), so the
    key's ``b``-bit fields are the item's counts; one sum per item instead of one per
    value, and one group key instead of V (about 20% faster than the bare
    count-per-value query). A count of ``2**b`` or more carries into the next field and
    makes the fields sum to less than the item's ``_m``: checked on every pattern, and
    then None (the caller counts per value instead).
    """
    bits = 64 // len(values)
    code = pl.lit(0, pl.UInt64)
    for i, v in enumerate(values):
        code = (
            pl.when(pl.col("_label") == v).then(pl.lit(1 << (bits * i), pl.UInt64)).otherwise(code)
        )
    grouped = (
        rated.group_by([*by, item])
        .agg(code.sum().alias("_key"), pl.len().alias("_m"))
        .group_by([*by, "_key", "_m"])
        .agg(pl.len().alias("_items"))
        .collect()
    )
    keys = grouped.get_column("_key").to_numpy().astype(np.uint64)
    shifts = (bits * np.arange(len(values))).astype(np.uint64)
    mask = np.uint64((1 << bits) - 1)
    counts = (keys[:, None] >> shifts[None, :]) & mask
    if not np.array_equal(counts.sum(axis=1), grouped.get_column("_m").to_numpy()):
        return None
    names = [f"_n{i}" for i in range(len(values))]
    return grouped.select(*by, "_items").hstack(
        pl.from_numpy(counts.astype(np.int64), schema=names).get_columns()
    )


def _portable_patterns(
    rated: nw.LazyFrame, item: str, values: list[Any], by: list[str]
) -> pl.DataFrame:
    """The pattern pass in any engine: a count per value and item, then per pattern."""
    names = [f"_n{i}" for i in range(len(values))]
    if len(values) <= _MAX_PIVOT_VALUES:
        wide = rated.with_columns(
            [
                (nw.col("_label") == v).cast(nw.Int32).alias(n)
                for v, n in zip(values, names, strict=True)
            ]
        )
        per_item = wide.group_by([*by, item]).agg([nw.col(n).sum() for n in names])
        return (
            per_item.group_by([*by, *names])
            .agg(nw.len().alias("_items"))
            .collect(backend="polars")
            .to_native()
        )
    # many distinct values (a fine interval scale): count per (item, value), pivot here
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
        wide = (
            wide.rename({str(i): n})
            if str(i) in wide.columns
            else wide.with_columns(pl.lit(0).alias(n))
        )
    return wide.group_by([*by, *names]).agg(pl.len().alias("_items"))


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


def cohen_kappa(
    table: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
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
    (0.4, 0.127)
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


def _bootstrap(
    features: np.ndarray,
    items: np.ndarray,
    seg: np.ndarray,
    n_seg: int,
    statistics: Sequence[Callable[[np.ndarray, np.ndarray], np.ndarray]],
    n_boot: int,
    seed: int,
) -> list[np.ndarray]:
    """Replicates of statistics of per-segment feature sums, each ``(n_boot, n_seg)``.

    ``features`` (P x F) are additive per-pattern contributions. A replicate weighs each
    item Poisson(1) (the Poisson bootstrap: Hanley & MacGibbon 2006, *Comput. Methods
    Programs Biomed.* 83, 57-62), so a pattern shared by ``n`` items weighs Poisson(``n``):
    one draw per pattern and replicate, then one sparse product sums ``weight x feature``
    per segment. Every statistic is computed on the same replicates;
    ``statistic(sums (B, S, F), items (B, S))`` turns sums into one.
    """
    from scipy import sparse  # when it runs, not at import

    rng = np.random.default_rng(seed)
    n_pat, n_feat = features.shape
    rows = np.repeat(np.arange(n_pat), n_feat)
    cols = (seg[:, None] * n_feat + np.arange(n_feat)[None, :]).ravel()
    block = sparse.csr_matrix((features.ravel(), (rows, cols)), shape=(n_pat, n_seg * n_feat))
    member = sparse.csr_matrix((np.ones(n_pat), (np.arange(n_pat), seg)), shape=(n_pat, n_seg))
    chunk = max(1, _BOOT_CELLS // max(n_pat, 1))
    out: list[list[np.ndarray]] = [[] for _ in statistics]
    for start in range(0, n_boot, chunk):
        reps = min(chunk, n_boot - start)
        k = rng.poisson(items, size=(reps, n_pat)).astype(float).T
        sums = np.asarray((block.T @ k).T).reshape(reps, n_seg, n_feat)
        counts = np.asarray((member.T @ k).T)
        for acc, statistic in zip(out, statistics, strict=True):
            acc.append(statistic(sums, counts))
    return [np.concatenate(acc, axis=0) for acc in out]


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
            f"Raters agree {verdict}: Krippendorff's alpha {prose.number(row['value'])} "
            f"{_bracket(row['ci_low'], row['ci_high'])} over {prose.count(row['n_items'], 'item')}."
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
                    f"Agreement is lowest for {name}: alpha {prose.number(low['value'])} "
                    f"{_bracket(low['ci_low'], low['ci_high'])} over "
                    f"{prose.count(low['n_items'], 'item')}."
                )
        weak = self._weakest()
        if weak is not None:
            lines.append(
                f"Rater {weak['rater_a']} agrees least with the others: alpha against the rest "
                f"{prose.number(weak['kappa'])} {_bracket(weak['ci_low'], weak['ci_high'])}, "
                f"against {prose.number(weak['others'])} for a typical rater. Check this rater's work "
                "before trusting their labels."
            )
        return lines

    def notes(self) -> list[str]:
        notes = [
            f"Level of measurement: {self.level}. Alpha's interval: an item-level bootstrap "
            f"({self.n_boot:,} resamples of the items with Poisson weights, percentile "
            "interval)."
        ]
        if self.single_rated:
            notes.append(
                f"{prose.count(self.single_rated, 'item')} {'has' if self.single_rated == 1 else 'have'} "
                "a single rating: they say nothing about agreement and are left out."
            )
        return notes

    def chart(self):
        """A heat map of rater x rater agreement (kappa), with each rater against the rest."""
        from aidebt.charts import agreement_heatmap

        return agreement_heatmap(self.pairs)


def _bracket(lo: float | None, hi: float | None) -> str:
    """A coefficient's interval: '[0.61, 0.74]'."""
    return prose.interval(lo, hi, prose.number, 2, brackets=True)


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


# The columns of agreement's table beside the ``by`` columns.
_AGREEMENT_TAKEN = {
    "coefficient",
    "value",
    "ci_low",
    "ci_high",
    "interval",
    "n_items",
    "n_pairable",
}


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
    Tibshirani 1993), in its Poisson form (Hanley & MacGibbon 2006): each resample weighs
    every item Poisson(1) instead of drawing exactly n items with replacement, so the
    ``n`` items of a rating pattern weigh Poisson(``n``) together, one draw per pattern
    (vectorized, ``seed``-fixed; both coefficients use the same resamples). It matches
    the classical bootstrap as items grow and covers at the nominal rate in the tests
    (200 items, 3 raters, 10% missing). Hayes & Krippendorff (2007) bootstrap pairs of
    values instead, which ignores that the ratings of an item are correlated.

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"item": [1, 1, 2, 2, 3, 3, 4, 4], "rater": ["a", "b"] * 4,
    ...                    "label": [1, 1, 0, 0, 1, 0, 1, 1]})
    >>> r = agreement(df, item="item", rater="rater", label="label")
    >>> r.table.select("coefficient", "value").rows()[0]
    ('krippendorff_alpha', 0.5333333333333333)
    """
    _check_level(level)
    _check_weights(weights)
    confidence = check_confidence(confidence)
    by_cols = as_list(by)
    check_names(by_cols, _AGREEMENT_TAKEN, role="a by column")
    frame = to_lazy(labels)
    require_columns(frame, [item], role="item")
    require_columns(frame, [rater], role="rater")
    require_columns(frame, [label], role="label")
    require_columns(frame, by_cols, role="by")
    # Per-item window sums: pandas runs them expression by expression (and warns).
    frame = frames.in_polars(frame, [item, rater, label, *by_cols])
    values, numeric, raters = _catalog(frame, label, rater, level)
    if weights is not None and numeric is None:
        raise ColumnTypeError(
            f"weights={weights!r} needs ordered numeric labels, but column {label!r} holds "
            "text. Map the labels to scores first, or use weights=None."
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
            [
                rows,
                _cohen_rows(
                    frame, item, rater, label, values, numeric, raters, by_cols, weights, confidence
                ),
            ],
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
        .sort(names)  # a fixed order: the bootstrap's draws follow it
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
        full = full.join(segs.with_row_index("_seg"), on=by, how="left", maintain_order="left")
    else:
        full = full.with_columns(_seg=pl.lit(0, dtype=pl.UInt32))
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
    n_items = np.bincount(seg, weights=items, minlength=n_seg)
    n_pairable = np.bincount(seg, weights=items * m, minlength=n_seg)
    # Fleiss' kappa needs the same number of ratings for every item of a segment,
    # single-rated items included (they break the design).
    same_m = full.group_by("_seg").agg((pl.col("_m").min() == pl.col("_m").max()).alias("_equal"))
    equal = np.zeros(n_seg, dtype=bool)  # by segment number (group_by's order is arbitrary)
    equal[same_m["_seg"].to_numpy()] = same_m["_equal"].to_numpy()
    vv = v * v

    def alpha_stat(sums, _items):
        return _alpha(sums[..., :vv].reshape(*sums.shape[:-1], v, v), level, numeric)

    def fleiss_stat(sums, boot_items):
        return _fleiss(sums[..., vv:], boot_items)

    features = contrib.reshape(len(items), vv)
    statistics = [alpha_stat]
    if equal.any():  # both coefficients from the same resamples of the items
        parts = _fleiss_parts(counts, m)
        features = np.hstack([features, parts])
        statistics.append(fleiss_stat)
    reps = _bootstrap(features, items, seg, n_seg, statistics, n_boot, seed)
    lo, hi = _percentile_ci(reps[0], confidence)
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
    if equal.any():
        sums = np.zeros((n_seg, parts.shape[1]))
        np.add.at(sums, seg, parts * items[:, None])
        kappa = _fleiss(sums, n_items)
        klo, khi = _percentile_ci(reps[1], confidence)
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
    other = rated.select(nw.col(item), nw.col(rater).alias("_rater_b"), nw.col("_c").alias("_c_b"))
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
    z = normal_quantile(confidence)
    se = np.sqrt(var)
    n = tables.sum(axis=(1, 2))
    cols = ["coefficient", "value", "ci_low", "ci_high", "interval", "n_items", "n_pairable"]
    return groups.with_columns(
        coefficient=pl.lit("cohen_kappa"),
        value=pl.Series(kappa),
        ci_low=pl.Series(np.clip(kappa - z * se, -1, 1)),
        ci_high=pl.Series(np.clip(kappa + z * se, -1, 1)),
        interval=pl.lit("analytic" if weights is None else f"analytic ({weights} weights)"),
        n_items=pl.Series(n),
        n_pairable=pl.Series(2 * n),
    ).select([*by, *cols])


def _pairs_factory(frame, item, rater, label, level, values, numeric, weights, confidence):
    """The deferred computation of ``Agreement.pairs`` (two passes of its own)."""

    def compute() -> pl.DataFrame:
        k = len(values)
        counts = _pair_counts(frame, item, rater, label, values, [])
        groups, tables = _tables(counts, ["rater_a", "rater_b"], k)
        kappa, var = cohen_kappa(tables, _kappa_weights(numeric, weights, k))
        z = normal_quantile(confidence)
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
            [
                pairs.with_columns(
                    pl.col("rater_a").cast(pl.String), pl.col("rater_b").cast(pl.String)
                ),
                rest.with_columns(pl.col("rater_a").cast(pl.String)),
            ],
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
    rated = rated.with_columns(nw.col("_one").sum().over(item).alias("_m")).filter(
        nw.col("_m") >= 2
    )
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
        z = normal_quantile(confidence)
        value = 1 - mean / d_e
    agree = None
    if level == "nominal":
        agree = 1 - mean  # share of the other ratings of the item equal to the rater's
    return per_rater.select("rater_a", "n_items").with_columns(
        rater_b=pl.lit("(rest)"),
        agreement=pl.Series(agree, dtype=pl.Float64)
        if agree is not None
        else pl.lit(None, pl.Float64),
        kappa=pl.Series(value),
        ci_low=pl.Series(value - z * se / d_e),
        ci_high=pl.Series(value + z * se / d_e),
    )


# ======================================================================================
# Label sources against gold
# ======================================================================================


def _binary_labels(frame: nw.LazyFrame, label: str) -> None:
    values, _ = _label_values(frame, label, "nominal")
    if not set(values) <= {0, 1}:
        shown = ", ".join(repr(v) for v in values[:8])
        raise InvalidValueError(
            f"Column {label!r} holds {shown}; comparing label sources needs 0/1 (or boolean) "
            "labels, 1 meaning the positive outcome (e.g. resolved). Map the labels first, e.g. "
            f"{flag_fix(frame, label)}."
        )


def _accuracy_ci(row: Mapping[str, Any]) -> str:
    return prose.interval(row["accuracy_ci_low"], row["accuracy_ci_high"], brackets=True)


class LabelSources(Result):
    """Each label source against gold: one row per source (and segment).

    Columns: by-columns..., ``source``, ``n_labels``, ``n_both`` (items labeled by the
    source and by gold), ``accuracy``, ``sensitivity``, ``specificity`` (Wilson
    intervals), ``bias`` = P(source says 1) - P(gold says 1) on the shared items (paired
    interval), ``kappa`` (Cohen's, analytic interval), ``cost_per_label``,
    ``cost_per_correct_label`` (interval from accuracy's), the confusion counts ``tp, fp,
    fn, tn`` (gold = truth), and with ``by`` the disparities: ``bias_p_adjusted`` (Holm,
    ``bias_gap``: the segment's bias minus the same source's bias on its other segments,
    with ``bias_gap_p_adjusted`` (Holm over every source and segment) and ``flag``
    (``lenient``: says 1 more often than gold there than elsewhere, ``strict``: less
    often), ``accuracy_gap`` to the source's other segments (Newcombe interval). Each estimate ``x`` has ``x_ci_low`` and ``x_ci_high``.
    """

    title = "Label sources against gold"

    def __init__(self, table: pl.DataFrame, **info: Any) -> None:
        super().__init__(table)
        self.by: list[str] = info["by"]
        self.gold: str = info["gold"]
        self.confidence: float = info["confidence"]
        self.positive: str = info["positive"]
        self.has_cost: bool = info["has_cost"]

    def overall(self) -> pl.DataFrame:
        """The rows that pool every segment (the whole table without ``by``)."""
        if not self.by:
            return self.table
        return self.table.filter(pl.all_horizontal([pl.col(c) == ALL for c in self.by]))

    def segments(self) -> pl.DataFrame:
        """The per-segment rows (empty without ``by``)."""
        if not self.by:
            return self.table.head(0)
        return self.table.filter(~pl.all_horizontal([pl.col(c) == ALL for c in self.by]))

    def row(self, source: str, **segment: str) -> dict[str, Any]:
        """One source's row (pooled, or of the segment given as ``column=value``)."""
        t = self.table.filter(pl.col("source") == source)
        for c in self.by:
            t = t.filter(pl.col(c) == segment.get(c, ALL))
        if t.height == 0:
            raise InvalidArgumentError(
                f"No row for source {source!r} {segment or ''}. "
                f"{did_you_mean(source, self.table['source'].unique().to_list())}"
            )
        return t.row(0, named=True)

    def frontier(self) -> pl.DataFrame:
        """Cost against accuracy per source (pooled rows), with the cost-efficient frontier.

        ``on_frontier`` is true for a source that no other source beats on both counts
        (cheaper per label and at least as accurate). The gold source is accurate by
        definition (accuracy 1).
        """
        t = self.overall().select(
            "source",
            "cost_per_label",
            "accuracy",
            "accuracy_ci_low",
            "accuracy_ci_high",
            "cost_per_correct_label",
            "cost_per_correct_label_ci_low",
            "cost_per_correct_label_ci_high",
            "n_both",
        )
        cost = t["cost_per_label"].fill_null(np.nan).to_numpy()
        acc = t["accuracy"].fill_null(np.nan).to_numpy()
        dominated = (
            (cost[None, :] <= cost[:, None])
            & (acc[None, :] >= acc[:, None])
            & ((cost[None, :] < cost[:, None]) | (acc[None, :] > acc[:, None]))
        ).any(axis=1)
        return t.with_columns(on_frontier=pl.Series(~dominated & np.isfinite(acc))).sort(
            "cost_per_label", nulls_last=True
        )

    def chart(self):
        """Cost per label (log scale) against accuracy with its interval, per source."""
        from aidebt.charts import label_frontier

        return label_frontier(self.frontier(), gold=self.gold)

    def _flagged(self) -> pl.DataFrame:
        if not self.by:
            return self.table.head(0)
        return self.segments().filter(pl.col("flag") != "").sort("bias_gap_p_adjusted")

    def headline(self) -> Headline:
        others = self.overall().filter(pl.col("source") != self.gold).drop_nulls("accuracy")
        if others.height == 0:
            return Headline("No label source shares items with gold.", {})
        cheapest = others.sort("cost_per_label", nulls_last=True).row(0, named=True)
        flags = self._flagged().filter(pl.col("source") == cheapest["source"])
        sentence = self._source_sentence(cheapest, flags)
        figures = {
            f"{cheapest['source']}_accuracy": cheapest["accuracy"],
            f"{cheapest['source']}_kappa": cheapest["kappa"],
        }
        if self.has_cost:
            figures[f"{cheapest['source']}_cost_per_correct_label"] = cheapest[
                "cost_per_correct_label"
            ]
        if flags.height:
            f = flags.row(0, named=True)
            figures[f"{cheapest['source']}_worst_segment_bias"] = f["bias"]
        return Headline(sentence, figures)

    def _source_sentence(self, row: dict[str, Any], flags: pl.DataFrame) -> str:
        cost = (
            f" costs {prose.money(row['cost_per_label'])} a label and"
            if self.has_cost and row["cost_per_label"] is not None
            else ""
        )
        text = (
            f"{row['source']}{cost} agrees with {self.gold} {prose.percent(row['accuracy'])} of "
            f"the time {_accuracy_ci(row)} overall"
        )
        if flags.height == 0:
            return text + f" (kappa {prose.number(row['kappa'])}), and no segment stands out."
        f = flags.row(0, named=True)
        where = " / ".join(f"{c} {f[c]}" for c in self.by)
        more = "more" if f["bias"] > 0 else "fewer"
        effect = "overstates" if f["bias"] > 0 else "understates"
        return (
            text
            + f", but on {where} it marks {prose.points(abs(f['bias']), 0)} points {more} items "
            f"as {self.positive} than {self.gold} does "
            f"{prose.interval(f['bias_ci_low'], f['bias_ci_high'], prose.difference, brackets=True)}: a "
            f"rate measured with its labels {effect} the {self.positive} rate there."
        )

    def summary(self) -> list[str]:
        lines = []
        overall = self.overall().filter(pl.col("source") != self.gold)
        flags = self._flagged()
        for row in overall.sort("cost_per_label", nulls_last=True).iter_rows(named=True):
            if row["n_both"] == 0:
                lines.append(
                    f"{row['source']} shares no item with {self.gold}: it cannot be judged."
                )
                continue
            lines.append(
                self._source_sentence(row, flags.filter(pl.col("source") == row["source"]))
            )
        judged = overall.filter(pl.col("n_both") > 0)
        if judged.height >= 3:
            worst = judged.sort("accuracy").row(0, named=True)
            rest = judged.filter(pl.col("source") != worst["source"])
            if worst["accuracy_ci_high"] < rest["accuracy"].min():
                cost = (
                    "; a correct label from it costs "
                    f"{prose.money(worst['cost_per_correct_label'])}"
                    if self.has_cost
                    else ""
                )
                lines.append(
                    f"{worst['source']} is the least accurate source: "
                    f"{prose.percent(worst['accuracy'])} {_accuracy_ci(worst)}, below every "
                    f"other source{cost}."
                )
        return lines

    def notes(self) -> list[str]:
        notes = [
            f"Gold is {self.gold}: its label is taken as the truth. Each source is compared on "
            "the items gold labeled too; a source that labeled few of them has wide intervals."
        ]
        if self.by:
            notes.append(
                "A segment is flagged when a source's bias there differs from its bias on the "
                "other segments beyond chance (Holm adjustment over every source and segment)."
            )
        return notes


# The columns of label_sources' table beside the ``by`` columns: counts, and each figure
# with its interval (``accuracy``, ``accuracy_ci_low``, ``accuracy_ci_high``...).
_SOURCE_FIGURES = ("accuracy", "sensitivity", "specificity", "bias", "kappa", "bias_gap")
_SOURCES_TAKEN = {
    *("source", "n_labels", "n_both", "tp", "fp", "fn", "tn", "flag", "cost_per_label"),
    *("bias_gap_p_adjusted", "accuracy_gap", "cost_per_correct_label"),
    *(f"{f}{end}" for f in (*_SOURCE_FIGURES, "accuracy_gap", "cost_per_correct_label")
      for end in ("", "_ci_low", "_ci_high")),
}  # fmt: skip


def label_sources(
    labels: Any,
    *,
    item: str,
    source: str,
    label: str,
    gold: str,
    cost: str | Mapping[str, float] | None = None,
    by: str | Sequence[str] | None = None,
    confidence: float = 0.95,
    positive: str = "positive",
) -> LabelSources:
    """Score every label source against a trusted gold source, with costs and segments.

    Parameters
    ----------
    labels
        Long-format 0/1 labels: one row per item x source (or rater), any input aidebt reads.
    item, source, label
        Columns: what was labeled, who labeled it, the 0/1 label.
    gold
        The value of ``source`` whose labels are the truth (e.g. ``"expert"``); one label
        per item.
    cost
        A column with each label's cost, or a mapping ``{source: cost per label}``.
    by
        Segment columns (e.g. the item's language).
    confidence
        Level of every interval.
    positive
        What a 1 means, for the sentences of ``.summary()`` (e.g. ``"resolved"``).

    Returns
    -------
    LabelSources

    Notes
    -----
    Accuracy, sensitivity and specificity: Wilson intervals (the items are independent).
    Bias: the paired difference of the two positive rates on the same items, with the
    Agresti & Min (2005) interval (Wald after adding 1/2 to each cell of the paired 2 x 2
    table, which holds its coverage with few discordant items) and a McNemar z test.
    Kappa: Cohen's, with the Fleiss-Cohen-Everitt variance. Cost per correct label: cost
    per label / accuracy, its interval the same division of accuracy's (costs are known).
    A source with several labels per item (a pool of workers) counts every label: name
    each worker as its own source to compare them.

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"item": [1, 1, 2, 2, 3, 3], "source": ["gold", "llm"] * 3,
    ...                    "label": [1, 1, 0, 1, 1, 1]})
    >>> r = label_sources(df, item="item", source="source", label="label", gold="gold")
    >>> r.row("llm")["accuracy"], r.row("llm")["bias"]
    (0.6666666666666666, 0.3333333333333333)
    """
    confidence = check_confidence(confidence)
    by_cols = as_list(by)
    check_names(by_cols, _SOURCES_TAKEN, role="a by column")
    frame = to_lazy(labels)
    require_columns(frame, [item], role="item")
    require_columns(frame, [source], role="source")
    require_columns(frame, [label], role="label")
    require_columns(frame, by_cols, role="by")
    cost_col = cost if isinstance(cost, str) else None
    if cost_col is not None:
        require_columns(frame, [cost_col], role="cost")
    elif cost is not None and not isinstance(cost, Mapping):
        raise InvalidArgumentError(
            f"cost={cost!r} must be a column name or a mapping {{source: cost per label}}."
        )
    _binary_labels(frame, label)
    sources = (
        (
            frame.select(nw.col(source).cast(nw.String))
            .unique()
            .collect(backend="polars")
            .to_native()
        )
        .get_column(source)
        .drop_nulls()
        .to_list()
    )
    if not isinstance(gold, str) and str(gold) in sources:
        gold = str(gold)  # sources are compared as text: gold=1 on a column of 1, 2, 3
    if gold not in sources:
        raise InvalidArgumentError(
            f"gold={gold!r} is not a value of column {source!r}. {did_you_mean(gold, sorted(sources))}"
        )
    table = _source_counts(frame, item, source, label, gold, cost_col, by_cols)
    if table.filter(pl.col("_conflicts") > 0).height:
        raise InvalidValueError(
            f"Gold source {gold!r} gives different labels to the same item (e.g. several "
            "experts who disagree). Keep one gold label per item (the adjudicated one), or "
            "measure the experts' agreement with aidebt.labels.agreement first."
        )
    if table.filter((pl.col("source") != gold) & (pl.col("n_both") > 0)).height == 0:
        raise InvalidValueError(
            f"No item was labeled both by gold {gold!r} and by another source: there is nothing "
            f"to compare. Have {gold!r} label a sample of the items the other sources labeled "
            f"(the same {item!r} values)."
        )
    if isinstance(cost, Mapping):
        missing = sorted(set(sources) - set(cost))
        if missing:
            raise InvalidArgumentError(
                f"cost has no price for source(s) {', '.join(map(repr, missing))}; give every "
                "source a cost per label."
            )
        table = table.with_columns(
            _cost=pl.col("source").replace_strict(
                {k: float(v) for k, v in cost.items()}, return_dtype=pl.Float64
            )
            * pl.col("n_labels")
        )
    out = _source_metrics(table, by_cols, gold, confidence, has_cost=cost is not None)
    return LabelSources(
        out,
        by=by_cols,
        gold=gold,
        confidence=confidence,
        positive=positive,
        has_cost=cost is not None,
    )


def _source_counts(frame, item, source, label, gold, cost_col, by) -> pl.DataFrame:
    """One pass: per (segment, source) the labels, their cost and the 2 x 2 table vs gold."""
    lab = _label_expr(frame, label)
    rows = (
        _segments(frame, by)
        .with_columns(lab.cast(nw.Int8).alias("_y"), nw.col(source).cast(nw.String).alias("_src"))
        .filter(~nw.col("_y").is_null())
    )
    golden = (
        rows.filter(nw.col("_src") == gold)
        .group_by(item)
        .agg(nw.col("_y").max().alias("_g"), nw.col("_y").min().alias("_gmin"))
    )
    joined = rows.join(golden, on=item, how="left")
    y, g = nw.col("_y"), nw.col("_g")

    def cell(cond):
        return nw.when(cond).then(1).otherwise(0)

    joined = joined.with_columns(
        cell(~g.is_null()).alias("_both"),
        cell((y == 1) & (g == 1)).alias("tp"),
        cell((y == 1) & (g == 0)).alias("fp"),
        cell((y == 0) & (g == 1)).alias("fn"),
        cell((y == 0) & (g == 0)).alias("tn"),
        cell(~g.is_null() & (g != nw.col("_gmin"))).alias("_conflicts"),
        (nw.col(cost_col).cast(nw.Float64) if cost_col else nw.lit(0.0)).alias("_cost"),
    )
    keys = [*by, "_src"]
    sums = ["_both", "tp", "fp", "fn", "tn", "_conflicts", "_cost"]
    out = (
        joined.group_by(keys)
        .agg(nw.len().alias("n_labels"), *[nw.col(c).sum() for c in sums])
        .collect(backend="polars")
        .to_native()
        .rename({"_src": "source", "_both": "n_both"})
        .with_columns(
            pl.col("n_labels", "n_both", "tp", "fp", "fn", "tn", "_conflicts", "_cost").cast(
                pl.Float64
            )
        )
    )
    if not cost_col:
        out = out.with_columns(_cost=pl.lit(None, dtype=pl.Float64))
    if by:
        pooled = (
            out.group_by("source")
            .agg(pl.exclude([*by, "source"]).sum())
            .with_columns([pl.lit(ALL).alias(c) for c in by])
        )
        if not cost_col:
            pooled = pooled.with_columns(_cost=pl.lit(None, dtype=pl.Float64))
        out = pl.concat([pooled.select(out.columns), out])
    return out


def paired_difference(b, c, n, confidence: float = 0.95) -> dict[str, np.ndarray]:
    """Difference of two paired proportions ``(b - c) / n`` with the Agresti-Min interval.

    ``b`` and ``c`` are the discordant counts of a paired 2 x 2 table of ``n`` items (``b``:
    first says 1, second 0). Interval: Wald on the table with 1/2 added to each cell
    (Agresti & Min 2005); p-value: McNemar's z test. Vectorized; NaN where ``n == 0``.

    Examples
    --------
    >>> r = paired_difference(12, 4, 100)
    >>> round(float(r["diff"]), 2), round(float(r["lo"]), 3), round(float(r["hi"]), 3)
    (0.08, 0.001, 0.156)
    """
    from aidebt.distributions import norm_sf

    b, c, n = (np.asarray(v, dtype=float) for v in (b, c, n))
    z = normal_quantile(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = np.where(n > 0, (b - c) / n, np.nan)
        b2, c2, n2 = b + 0.5, c + 0.5, n + 2
        center = (b2 - c2) / n2
        se = np.sqrt(np.maximum((b2 + c2) - (b2 - c2) ** 2 / n2, 0)) / n2
        stat = np.where(b + c > 0, (b - c) / np.sqrt(b + c), 0.0)
    p = np.where(n > 0, 2 * norm_sf(np.abs(stat)), np.nan)
    lo = np.where(n > 0, np.clip(center - z * se, -1, 1), np.nan)
    hi = np.where(n > 0, np.clip(center + z * se, -1, 1), np.nan)
    return {"diff": diff, "lo": lo, "hi": hi, "p": p, "center": center, "se": se}


def _source_metrics(table: pl.DataFrame, by, gold, confidence, *, has_cost) -> pl.DataFrame:
    from aidebt.stats import two_normals, two_proportions

    tp, fp, fn, tn = (table[c].to_numpy() for c in ("tp", "fp", "fn", "tn"))
    n = tp + fp + fn + tn
    cols: dict[str, np.ndarray] = {}

    def rate(name, x, d):
        with np.errstate(divide="ignore", invalid="ignore"):
            cols[name] = np.where(d > 0, x / d, np.nan)
        cols[f"{name}_ci_low"], cols[f"{name}_ci_high"] = wilson_ci(x, d, confidence)

    rate("accuracy", tp + tn, n)
    rate("sensitivity", tp, tp + fn)
    rate("specificity", tn, tn + fp)
    bias = paired_difference(fp, fn, n, confidence)
    cols["bias"], cols["bias_ci_low"], cols["bias_ci_high"] = bias["diff"], bias["lo"], bias["hi"]
    kappa, var = cohen_kappa(np.stack([np.stack([tn, fp], -1), np.stack([fn, tp], -1)], -2))
    z = normal_quantile(confidence)
    ok = n > 0
    cols["kappa"] = np.where(ok, kappa, np.nan)
    cols["kappa_ci_low"] = np.where(ok, np.clip(kappa - z * np.sqrt(var), -1, 1), np.nan)
    cols["kappa_ci_high"] = np.where(ok, np.clip(kappa + z * np.sqrt(var), -1, 1), np.nan)
    labels_n = table["n_labels"].to_numpy()
    cost = table["_cost"].fill_null(np.nan).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        per_label = cost / labels_n
        cols["cost_per_label"] = per_label
        cols["cost_per_correct_label"] = per_label / cols["accuracy"]
        cols["cost_per_correct_label_ci_low"] = per_label / cols["accuracy_ci_high"]
        cols["cost_per_correct_label_ci_high"] = per_label / cols["accuracy_ci_low"]
    out = (
        table.select([*by, "source", "n_labels", "n_both"])
        .with_columns([pl.Series(k, v) for k, v in cols.items()])
        .with_columns(table.select("tp", "fp", "fn", "tn"))
    )
    if by:
        pooled = pl.all_horizontal([pl.col(c) == ALL for c in by])
        seg = ~out.select(pooled).to_series().to_numpy()
        # Disparities: a segment against the same source's other segments. A source that
        # errs the same way everywhere is not flagged on its largest segment; one that is
        # fine overall and lenient on one segment is.
        totals = out.filter(pooled).select(
            "source", *[pl.col(c).alias(f"_t{c}") for c in ("tp", "fp", "fn", "tn")]
        )
        joined = out.join(totals, on="source", how="left")
        rest = {
            c: joined[f"_t{c}"].to_numpy() - joined[c].to_numpy() for c in ("tp", "fp", "fn", "tn")
        }
        rest_n = sum(rest.values())
        rest_bias = paired_difference(rest["fp"], rest["fn"], rest_n, confidence)
        gap = two_normals(
            bias["center"], bias["se"], rest_bias["center"], rest_bias["se"], confidence
        )
        judged = seg & (n > 0) & (rest_n > 0) & (table["source"].to_numpy() != gold)
        p = np.where(judged, gap["p"], np.nan)
        # Holm over the whole scorecard (every source x segment): a flag is a finding.
        adj = adjust_pvalues(p, "holm")
        flag = np.where(adj < 1 - confidence, np.where(gap["diff"] > 0, "lenient", "strict"), "")
        acc_gap = two_proportions(tp + tn, n, rest["tp"] + rest["tn"], rest_n, confidence)
        out = out.with_columns(
            bias_gap=pl.Series(np.where(judged, gap["diff"], np.nan)),
            bias_gap_ci_low=pl.Series(np.where(judged, gap["diff_lo"], np.nan)),
            bias_gap_ci_high=pl.Series(np.where(judged, gap["diff_hi"], np.nan)),
            bias_gap_p_adjusted=pl.Series(adj),
            flag=pl.Series(flag),
            accuracy_gap=pl.Series(np.where(judged, acc_gap["diff"], np.nan)),
            accuracy_gap_ci_low=pl.Series(np.where(judged, acc_gap["diff_lo"], np.nan)),
            accuracy_gap_ci_high=pl.Series(np.where(judged, acc_gap["diff_hi"], np.nan)),
        )
    if not has_cost:
        out = out.drop([c for c in out.columns if c.startswith("cost_per")])
        out = out.with_columns(
            cost_per_label=pl.lit(None, pl.Float64),
            cost_per_correct_label=pl.lit(None, pl.Float64),
            cost_per_correct_label_ci_low=pl.lit(None, pl.Float64),
            cost_per_correct_label_ci_high=pl.lit(None, pl.Float64),
        )
    # Gold against itself is right by definition: no interval to show.
    is_gold = pl.col("source") == gold
    out = out.with_columns(
        [
            pl.when(~is_gold).then(pl.col(c))
            for c in out.columns
            if c.endswith(("_ci_low", "_ci_high"))
        ]
    )
    out = out.with_columns(pl.exclude(pl.String, pl.Boolean).fill_nan(None))
    return out.sort([pl.col(c) != ALL for c in by] + [*by, pl.col("source") != gold, "source"])


# ======================================================================================
# Correcting a rate for imperfect labels (Rogan-Gladen)
# ======================================================================================


class _Rate(NamedTuple):
    """A proportion with its evidence: ``x`` successes of ``n`` (``n`` inf: known exactly)."""

    value: np.ndarray
    x: np.ndarray
    n: np.ndarray


def _as_rate(spec: Any, name: str) -> _Rate:
    """A sensitivity/specificity given as a number, (successes, trials) or a mapping."""
    if isinstance(spec, Mapping):
        if "x" in spec and "n" in spec:
            spec = (spec["x"], spec["n"])
        elif "value" in spec and "n" in spec:
            spec = (np.asarray(spec["value"], float) * np.asarray(spec["n"], float), spec["n"])
        else:
            raise InvalidArgumentError(
                f"{name}={spec!r}: give {{'x': successes, 'n': trials}} or {{'value': v, 'n': trials}}."
            )
    if isinstance(spec, tuple) and len(spec) == 2:
        x, n = (np.asarray(v, dtype=float) for v in spec)
        if (n <= 0).any() or (x < 0).any() or (x > n).any():
            raise InvalidArgumentError(
                f"{name}={spec!r} must be (successes, trials) with 0 <= successes <= trials, trials > 0."
            )
        return _Rate(x / n, x, n)
    if isinstance(spec, (int, float, np.floating, np.integer)) and not isinstance(spec, bool):
        v = float(spec)
        if not 0 <= v <= 1:
            raise InvalidArgumentError(f"{name}={spec!r} must be a proportion between 0 and 1.")
        return _Rate(np.asarray(v), np.asarray(np.nan), np.asarray(np.inf))
    raise InvalidArgumentError(
        f"{name}={spec!r} is not a rate: pass a number (taken as exact), (successes, trials) "
        "from a gold comparison, or labels=<LabelSources>, source=<name>."
    )


def rogan_gladen(
    q, n, sensitivity: _Rate, specificity: _Rate, confidence: float = 0.95
) -> dict[str, np.ndarray]:
    """Rogan-Gladen corrected rate with an interval for every source of uncertainty.

    A share ``q`` of ``n`` items (``n`` inf: ``q`` known exactly) were labeled positive by a source with the given sensitivity and
    specificity (each estimated from ``successes`` of ``trials`` gold items, or known).
    The corrected rate is ``(x/n + Sp - 1) / (Se + Sp - 1)`` (Rogan & Gladen 1978),
    clipped to [0, 1]. Its interval: the delta method over the three independent
    binomial estimates, on Agresti-Coull-adjusted proportions (``z^2/2`` pseudo-successes
    for the observed rate, 1 of 2 for sensitivity and specificity), as Lang & Reiczigel
    (2014) propose; the plain Wald version under-covers with a few hundred gold items.
    """
    q, n = np.asarray(q, dtype=float), np.asarray(n, dtype=float)
    z = normal_quantile(confidence)
    se, sp = sensitivity, specificity
    j = se.value + sp.value - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        x = q * n
        value = np.clip((q + sp.value - 1) / j, 0, 1)
        raw = (q + sp.value - 1) / j
        finite_n = np.isfinite(n)
        qa = np.where(finite_n, (x + z**2 / 2) / (n + z**2), q)
        var_q = np.where(finite_n, qa * (1 - qa) / (n + z**2), 0.0)

        def adjusted(r: _Rate):
            known = ~np.isfinite(r.n)
            v = np.where(known, r.value, (r.x + 1) / (r.n + 2))
            return v, np.where(known, 0.0, v * (1 - v) / (r.n + 2))

        sea, var_se = adjusted(se)
        spa, var_sp = adjusted(sp)
        ja = sea + spa - 1
        center = (qa + spa - 1) / ja
        var = (var_q + center**2 * var_se + (1 - center) ** 2 * var_sp) / ja**2
        half = z * np.sqrt(var)
    return {
        "value": value,
        "raw": raw,
        "se": np.sqrt(var),
        "lo": np.clip(center - half, 0, 1),
        "hi": np.clip(center + half, 0, 1),
        "youden": j,
    }


def corrected_accuracy(
    x1, n1, x0, n0, sensitivity: _Rate, specificity: _Rate, confidence: float = 0.95
) -> dict[str, np.ndarray]:
    """Accuracy of 0/1 decisions corrected for error in the labels they are scored against.

    ``x1`` of ``n1`` items the feature called positive, and ``x0`` of ``n0`` it called
    negative, were labeled positive by the imperfect source. Within each decision group
    the true positive rate is Rogan-Gladen corrected; accuracy is
    ``w1 p1 + w0 (1 - p0)`` with the groups' shares ``w``. Assumes the source's errors do
    not depend on the feature's decision given the truth (non-differential error). The
    interval is the delta method over the four independent estimates, with the same
    adjusted proportions as :func:`rogan_gladen`; sensitivity and specificity are shared
    by both groups, so their terms enter once with the combined gradient.
    """
    x1, n1, x0, n0 = (np.asarray(v, dtype=float) for v in (x1, n1, x0, n0))
    z = normal_quantile(confidence)
    se, sp = sensitivity, specificity
    total = n1 + n0
    w1, w0 = n1 / total, n0 / total
    with np.errstate(divide="ignore", invalid="ignore"):
        j = se.value + sp.value - 1
        p1 = np.clip((x1 / n1 + sp.value - 1) / j, 0, 1)
        p0 = np.clip((x0 / n0 + sp.value - 1) / j, 0, 1)
        value = np.nan_to_num(w1 * p1) + np.nan_to_num(w0 * (1 - p0))

        def adj_q(x, n):
            a = (x + z**2 / 2) / (n + z**2)
            return a, a * (1 - a) / (n + z**2)

        def adj_r(r: _Rate):
            known = ~np.isfinite(r.n)
            v = np.where(known, r.value, (r.x + 1) / (r.n + 2))
            return v, np.where(known, 0.0, v * (1 - v) / (r.n + 2))

        q1, vq1 = adj_q(x1, n1)
        q0, vq0 = adj_q(x0, n0)
        sea, vse = adj_r(se)
        spa, vsp = adj_r(sp)
        ja = sea + spa - 1
        c1, c0 = (q1 + spa - 1) / ja, (q0 + spa - 1) / ja
        center = w1 * c1 + w0 * (1 - c0)
        g_se = -(w1 * c1 - w0 * c0) / ja
        g_sp = (w1 * (1 - c1) - w0 * (1 - c0)) / ja
        var = (w1 / ja) ** 2 * vq1 + (w0 / ja) ** 2 * vq0 + g_se**2 * vse + g_sp**2 * vsp
        half = z * np.sqrt(var)
    return {
        "value": value,
        "se": np.sqrt(var),
        "lo": np.clip(center - half, 0, 1),
        "hi": np.clip(center + half, 0, 1),
        "youden": j,
    }


class Corrected(Result):
    """Rates corrected for label error: ``metric``, ``observed``, ``value`` (corrected),
    ``ci_low``, ``ci_high``, ``se``, ``n``, ``sensitivity``, ``specificity``, ``youden``."""

    title = "Corrected for label error"

    def __init__(self, table: pl.DataFrame, **info: Any) -> None:
        super().__init__(table)
        self.by: list[str] = info.get("by", [])
        self.source: str | None = info.get("source")

    def _main(self) -> dict[str, Any]:
        t = self.table
        if self.by:
            t = t.filter(pl.all_horizontal([pl.col(c) == ALL for c in self.by]))
        pick = t.filter(pl.col("metric") == "accuracy")
        return (pick if pick.height else t).row(0, named=True)

    def headline(self) -> Headline:
        r = self._main()
        who = f"{self.source}'s" if self.source else "the"
        moved = r["value"] - r["observed"]
        ci = prose.interval(r["ci_low"], r["ci_high"], prose.percent, 1, brackets=True)
        sentence = (
            f"Measured with {who} labels, {r['metric']} is {prose.percent(r['observed'], 1)}; "
            f"corrected for their errors it is {prose.percent(r['value'], 1)} {ci}, "
            f"{prose.points(abs(moved))} points {'higher' if moved >= 0 else 'lower'}."
        )
        return Headline(
            sentence,
            {
                f"{r['metric']}_observed": r["observed"],
                f"{r['metric']}_corrected": r["value"],
                f"{r['metric']}_corrected_ci_low": r["ci_low"],
                f"{r['metric']}_corrected_ci_high": r["ci_high"],
            },
        )

    def summary(self) -> list[str]:
        return [self.headline().sentence]

    def notes(self) -> list[str]:
        return [
            "The correction assumes the label source errs at the same rates on these items as "
            "on the gold sample, whatever the feature decided. Its interval carries the "
            "sampling error of both the figure and the gold sample."
        ]


def _refuse_near_chance(youden: np.ndarray, min_youden: float, where: str = "") -> None:
    bad = np.asarray(youden, dtype=float) < min_youden
    if bad.any():
        j = float(np.min(youden))
        raise InvalidValueError(
            f"Sensitivity + specificity is {1 + j:.2f}{where}, too close to 1 to correct: the "
            f"label source tells positives from negatives barely better than a coin (Youden's "
            f"J = {j:.2f} < min_youden = {min_youden}). The correction divides by J, so each "
            f"point of sampling noise in the observed rate becomes {1 / max(j, 1e-9):.0f} points "
            "in the corrected one: the figure would be meaningless. Fix or replace the label "
            "source, or score the metric on gold labels directly."
        )


def correct(
    observed: Any,
    sensitivity: Any = None,
    specificity: Any = None,
    *,
    labels: LabelSources | None = None,
    source: str | None = None,
    y_true: str | None = None,
    y_pred: str | None = None,
    by: str | Sequence[str] | None = None,
    n: float | None = None,
    confidence: float = 0.95,
    min_youden: float = 0.2,
) -> Corrected:
    """Correct a rate measured with imperfect labels for the labels' errors.

    Parameters
    ----------
    observed
        What was measured with the imperfect labels, one of:

        - a :class:`~aidebt.disaggregate.Disaggregation` with the ``prevalence`` metric
          (the share of positive labels; every group and the overall are corrected);
        - a table with ``value`` and ``n`` columns (other columns are kept as keys);
        - ``(positives, n)`` or a rate with ``n=`` (without ``n`` it is taken as exact);
        - raw data with ``y_true=`` (the imperfect 0/1 labels; ``by=`` splits it) and,
          optionally, ``y_pred=``: then the feature's accuracy is corrected too.
    sensitivity, specificity
        The label source's rates against gold: a number (taken as exact), or
        ``(successes, trials)`` from the gold comparison (so their uncertainty counts).
    labels, source
        Instead of the two rates: a :func:`label_sources` result and the source whose
        labels ``observed`` used. With segments on both sides, each segment gets its own
        rates.
    confidence
        Level of the intervals.
    min_youden
        Refuse when sensitivity + specificity - 1 is below this: near 1 the correction
        divides by almost zero and its result is noise.

    Returns
    -------
    Corrected

    Notes
    -----
    Rogan & Gladen (1978): the observed positive rate ``q`` of a source with sensitivity
    ``Se`` and specificity ``Sp`` estimates ``p Se + (1 - p)(1 - Sp)``; solving for the
    true rate gives ``(q + Sp - 1) / (Se + Sp - 1)``. The interval carries the sampling
    error of ``q`` and of the gold estimates of ``Se`` and ``Sp`` (delta method on
    adjusted proportions, Lang & Reiczigel 2014; coverage checked by simulation with a
    300-item gold sample in the tests). Assumes the gold items are a random sample of the
    same population and the source's error rates are the same on both.

    Examples
    --------
    >>> r = correct((780, 1000), sensitivity=(190, 200), specificity=(85, 100))
    >>> round(r.table["value"][0], 4)
    0.7875
    """
    confidence = check_confidence(confidence)
    by_cols = as_list(by)
    se_by = None
    if labels is not None:
        if not isinstance(labels, LabelSources):
            raise InvalidArgumentError("labels= must be the result of aidebt.labels.label_sources.")
        if source is None:
            choices = [s for s in labels.table["source"].unique().to_list() if s != labels.gold]
            raise InvalidArgumentError(
                f"Name the source whose labels were used: source=... {did_you_mean('', sorted(choices))}"
            )
        rows = labels.table.filter(pl.col("source") == source)
        if rows.height == 0:
            raise InvalidArgumentError(
                f"source={source!r} is not in the label sources. "
                f"{did_you_mean(source, labels.table['source'].unique().to_list())}"
            )
        rows = rows.with_columns(
            _se_x=pl.col("tp"),
            _se_n=pl.col("tp") + pl.col("fn"),
            _sp_x=pl.col("tn"),
            _sp_n=pl.col("tn") + pl.col("fp"),
        )
        se_by = rows
    elif sensitivity is None or specificity is None:
        raise InvalidArgumentError(
            "Give the label source's sensitivity= and specificity= (numbers, or (successes, "
            "trials) from a gold comparison), or labels=<LabelSources> with source=."
        )
    # The observed figure(s) as a table: keys..., metric, _x, _n (and _x0, _n0 for accuracy).
    obs, keys = _observed_table(observed, y_true, y_pred, by_cols, n)
    if se_by is not None:
        seg_keys = [c for c in labels.by if c in keys]
        if seg_keys:
            rates = se_by.select([*seg_keys, "_se_x", "_se_n", "_sp_x", "_sp_n"])
            obs = obs.with_columns([pl.col(c).cast(pl.String) for c in seg_keys]).join(
                rates, on=seg_keys, how="left"
            )
        else:
            pooled = se_by
            if labels.by:
                pooled = se_by.filter(pl.all_horizontal([pl.col(c) == ALL for c in labels.by]))
            r = pooled.row(0, named=True)
            obs = obs.with_columns(
                _se_x=pl.lit(r["_se_x"]),
                _se_n=pl.lit(r["_se_n"]),
                _sp_x=pl.lit(r["_sp_x"]),
                _sp_n=pl.lit(r["_sp_n"]),
            )
        if obs.filter(
            pl.col("_se_n").is_null() | (pl.col("_se_n") == 0) | (pl.col("_sp_n") == 0)
        ).height:
            raise InvalidValueError(
                f"Source {source!r} has no gold comparison for some rows (no gold positive or "
                "no gold negative in a segment): its sensitivity or specificity is unknown there."
            )
        sens, spec = (
            _Rate(obs[x].to_numpy() / obs[t].to_numpy(), obs[x].to_numpy(), obs[t].to_numpy())
            for x, t in (("_se_x", "_se_n"), ("_sp_x", "_sp_n"))
        )
    else:
        sens, spec = _as_rate(sensitivity, "sensitivity"), _as_rate(specificity, "specificity")
    _refuse_near_chance(sens.value + spec.value - 1, min_youden)
    prev = rogan_gladen(obs["_q"].to_numpy(), obs["_n"].to_numpy(), sens, spec, confidence)
    out = obs.select(*keys, metric=pl.lit("prevalence"), observed=pl.col("_q")).with_columns(
        value=pl.Series(prev["value"]),
        ci_low=pl.Series(prev["lo"]),
        ci_high=pl.Series(prev["hi"]),
        se=pl.Series(prev["se"]),
        n=pl.Series(obs["_n"].to_numpy()),
        sensitivity=pl.Series(np.broadcast_to(sens.value, (obs.height,)).astype(float)),
        specificity=pl.Series(np.broadcast_to(spec.value, (obs.height,)).astype(float)),
        youden=pl.Series(np.broadcast_to(prev["youden"], (obs.height,)).astype(float)),
    )
    if "_x1" in obs.columns:
        acc = corrected_accuracy(
            *(obs[c].to_numpy() for c in ("_x1", "_n1", "_x0", "_n0")), sens, spec, confidence
        )
        x1, n1, x0, n0 = (obs[c].to_numpy() for c in ("_x1", "_n1", "_x0", "_n0"))
        accuracy = out.with_columns(
            metric=pl.lit("accuracy"),
            observed=pl.Series((x1 + (n0 - x0)) / (n1 + n0)),
            value=pl.Series(acc["value"]),
            ci_low=pl.Series(acc["lo"]),
            ci_high=pl.Series(acc["hi"]),
            se=pl.Series(acc["se"]),
        )
        out = pl.concat([accuracy, out])
    return Corrected(out, by=[k for k in keys if k != "metric"], source=source)


def _observed_table(observed, y_true, y_pred, by, n) -> tuple[pl.DataFrame, list[str]]:
    if y_true is not None:
        frame = to_lazy(observed)
        require_columns(frame, [y_true], role="y_true")
        require_columns(frame, [y_pred], role="y_pred")
        require_columns(frame, by, role="by")
        yt = _label_expr(frame, y_true).cast(nw.Float64)
        rows = _segments(frame, by).with_columns(yt.alias("_y")).filter(~nw.col("_y").is_null())
        aggs = [nw.len().alias("_n"), nw.col("_y").sum().alias("_x")]
        if y_pred is not None:
            yp = _label_expr(frame, y_pred).cast(nw.Float64)
            rows = rows.with_columns(yp.alias("_p"))
            aggs += [
                nw.col("_p").sum().alias("_n1"),
                (nw.col("_y") * nw.col("_p")).sum().alias("_x1"),
            ]
        t = (
            (rows.group_by(by).agg(aggs) if by else rows.select(aggs))
            .collect(backend="polars")
            .to_native()
            .with_columns(pl.exclude(by).cast(pl.Float64))
        )
        if by:
            pooled = t.select(pl.exclude(by).sum()).with_columns([pl.lit(ALL).alias(c) for c in by])
            t = pl.concat([pooled.select(t.columns), t.sort(by)])
        t = t.with_columns(_q=pl.col("_x") / pl.col("_n"))
        if y_pred is not None:
            t = t.with_columns(_n0=pl.col("_n") - pl.col("_n1"), _x0=pl.col("_x") - pl.col("_x1"))
        return t, by
    if isinstance(observed, tuple) and len(observed) == 2:
        x, size = (float(v) for v in observed)
        if size <= 0 or not 0 <= x <= size:
            raise InvalidArgumentError(
                f"observed={observed!r} must be (positives, n) with 0 <= positives <= n, n > 0."
            )
        return pl.DataFrame({"_q": [x / size], "_n": [size]}), []
    if isinstance(observed, (int, float)) and not isinstance(observed, bool):
        if not 0 <= observed <= 1:
            raise InvalidArgumentError(f"observed={observed!r} must be a rate between 0 and 1.")
        size = float("inf") if n is None else float(n)
        return pl.DataFrame({"_q": [float(observed)], "_n": [size]}), []
    table = None
    if hasattr(observed, "table") and hasattr(observed, "overall") and hasattr(observed, "by"):
        rows = observed.table.filter(pl.col("metric") == "prevalence")
        if rows.height == 0:
            raise InvalidArgumentError(
                "The result has no 'prevalence' rows: run it with metrics=[..., 'prevalence'] "
                "(the share of positive labels, the rate label errors distort)."
            )
        over = observed.overall.filter(pl.col("metric") == "prevalence")
        keys = list(observed.by)
        over = over.with_columns([pl.lit(ALL).alias(c) for c in keys])
        table = pl.concat(
            [over.select([*keys, "value", "n"]), rows.select([*keys, "value", "n"])],
            how="diagonal_relaxed",
        )
    else:
        native = to_lazy(observed).collect(backend="polars").to_native()
        missing = [c for c in ("value", "n") if c not in native.columns]
        if missing:
            raise InvalidArgumentError(
                f"The observed table has no {', '.join(map(repr, missing))} column: give a "
                "table with the measured rate in 'value' and its sample size in 'n', a "
                "Disaggregation, (positives, n), or raw data with y_true=."
            )
        table = native
        keys = [c for c in native.columns if c not in ("value", "n", "ci_low", "ci_high")]
        keys = [c for c in keys if native.schema[c] in (pl.String, pl.Categorical)]
    table = table.with_columns(_n=pl.col("n").cast(pl.Float64), _q=pl.col("value").cast(pl.Float64))
    return table, keys


# ======================================================================================
# How many labels: Wilson half-width -> sample size, and a per-segment budget
# ======================================================================================


def wilson_halfwidth(p, n, confidence: float = 0.95) -> np.ndarray:
    """Half-width of the Wilson interval at an observed share ``p`` of ``n`` items."""
    p, n = np.asarray(p, dtype=float), np.asarray(n, dtype=float)
    z = normal_quantile(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        return z * np.sqrt(p * (1 - p) * n + z**2 / 4) / (n + z**2)


def wilson_n(p, halfwidth, confidence: float = 0.95) -> np.ndarray:
    """The smallest n whose Wilson interval at share ``p`` is at most ``halfwidth`` wide
    on each side (exact in integers; vectorized).

    The Wilson half-width ``z sqrt(p q n + z^2/4) / (n + z^2)`` decreases in ``n`` for
    every ``p``, so the answer is the ceiling of the positive root of
    ``h^2 (n + z^2)^2 = z^2 (p q n + z^2 / 4)``, checked (and nudged by one where
    floating point rounding put it on the wrong side) against the half-width itself.

    Examples
    --------
    >>> wilson_n([0.9], 0.03).tolist()
    [388]
    """
    p, h = np.broadcast_arrays(np.asarray(p, dtype=float), np.asarray(halfwidth, dtype=float))
    z = normal_quantile(confidence)
    pq = p * (1 - p)
    a = h**2
    b = 2 * h**2 * z**2 - z**2 * pq
    c = h**2 * z**4 - z**4 / 4
    with np.errstate(invalid="ignore"):
        root = (-b + np.sqrt(np.maximum(b**2 - 4 * a * c, 0))) / (2 * a)
    n = np.maximum(np.ceil(root - 1e-9), 1)
    for _ in range(3):  # exactness at the integer boundary
        over = wilson_halfwidth(p, n, confidence) > h
        n = np.where(over, n + 1, n)
        under = (n > 1) & (wilson_halfwidth(p, n - 1, confidence) <= h)
        n = np.where(under, n - 1, n)
    return n.astype(np.int64)


class LabelBudget(Result):
    """Labels needed per segment: ``p``, ``halfwidth``, ``labels`` and, with data,
    ``volume`` (items available) and ``feasible``."""

    title = "Label budget"

    def __init__(self, table: pl.DataFrame, **info: Any) -> None:
        super().__init__(table)
        self.by: list[str] = info.get("by", [])
        self.confidence: float = info.get("confidence", 0.95)

    @property
    def total(self) -> int:
        """Labels needed over all segments."""
        return int(self.table["labels"].sum())

    def headline(self) -> Headline:
        t = self.table
        short = t.filter(~pl.col("feasible")) if "feasible" in t.columns else t.head(0)
        h = t["halfwidth"].max()
        sentence = (
            f"{self.total:,} labels give every segment a {prose.percent(self.confidence)} interval "
            f"no wider than {prose.points(h, sign='±')} points"
        )
        if short.height:
            names = ", ".join(
                " / ".join(str(r[c]) for c in self.by) for r in short.iter_rows(named=True)
            )
            sentence += f"; too few items to reach it in {names}"
        return Headline(
            sentence + ".",
            {"labels_total": float(self.total), "segments_short": float(short.height)},
        )

    def summary(self) -> list[str]:
        lines = [self.headline().sentence]
        if self.by and self.table.height > 1:
            top = self.table.sort("labels", descending=True).row(0, named=True)
            name = " / ".join(str(top[c]) for c in self.by)
            lines.append(
                f"{name} needs the most: {top['labels']:,} labels (expected rate {prose.percent(top['p'])})."
            )
        return lines

    def notes(self) -> list[str]:
        return [
            "Sample sizes for a Wilson interval at the expected rate; a design effect above 1 "
            "(labels clustered in conversations or days) multiplies them."
        ]


def labels_needed(
    p: float | Sequence[float] | str,
    halfwidth: float | Sequence[float],
    *,
    by: str | Sequence[str] | None = None,
    data: Any = None,
    confidence: float = 0.95,
    design_effect: float = 1.0,
) -> LabelBudget:
    """How many labels each segment needs for an interval of a given half-width.

    Parameters
    ----------
    p
        The expected rate: a number (0.5 is the worst case), one per segment, with
        ``data`` a 0/1 column whose mean per segment is the expected rate, or a
        :func:`~aidebt.disaggregate` result (its first metric per group, e.g. last
        month's accuracy by language; its groups are the segments).
    halfwidth
        The wanted half-width of the interval (0.03: ±3 points).
    by, data
        Segment columns of ``data``: one row per segment, with its ``volume`` (rows in
        ``data``, e.g. next month's expected traffic from this month's) and whether the
        labels fit in it (``feasible``).
    confidence
        Level of the interval.
    design_effect
        Variance inflation from clustered labels (>= 1): the labels needed are multiplied.

    Returns
    -------
    LabelBudget

    Notes
    -----
    Exact in integers: the smallest ``n`` whose Wilson interval (Wilson 1927) at share
    ``p`` has half-width at most ``halfwidth`` (:func:`wilson_n`); monotone: more labels
    for a narrower interval and for a rate nearer 1/2. The expected rate is an
    assumption: when it is uncertain, plan with the rate nearest 1/2 you find plausible.

    Examples
    --------
    >>> labels_needed(0.9, 0.03).table["labels"].to_list()
    [388]
    """
    confidence = check_confidence(confidence)
    if not isinstance(design_effect, (int, float)) or design_effect < 1:
        raise InvalidArgumentError(
            f"design_effect={design_effect!r} must be a number >= 1 (1: independent labels)."
        )
    h = np.asarray(halfwidth, dtype=float)
    if (h <= 0).any() or (h >= 1).any():
        raise InvalidArgumentError(
            f"halfwidth={halfwidth!r} must be between 0 and 1, e.g. 0.03 for ±3 points."
        )
    by_cols = as_list(by)
    if hasattr(p, "table") and hasattr(p, "by") and hasattr(p, "metrics"):
        # A result with a rate per segment (e.g. last month's accuracy by language).
        result, by_cols = p, list(p.by)
        metric = result.metrics[0]
        p = (
            result.table.filter(pl.col("metric") == metric)
            .select([*by_cols, pl.col("value").alias("p")])
            .sort(by_cols)
        )
    if isinstance(p, pl.DataFrame):
        if data is None:
            table = p
        else:
            frame = to_lazy(data)
            require_columns(frame, by_cols, role="by")
            volume = (
                _segments(frame, by_cols)
                .group_by(by_cols)
                .agg(nw.len().alias("volume"))
                .collect(backend="polars")
                .to_native()
                .with_columns(pl.col("volume").cast(pl.Float64))
            )
            table = p.join(volume, on=by_cols, how="left").with_columns(
                pl.col("volume").fill_null(0.0)
            )
    elif data is None:
        if by_cols or isinstance(p, str):
            raise InvalidArgumentError(
                "by= and a column name for p need data=: the table whose segments to budget."
            )
        pv = np.atleast_1d(np.asarray(p, dtype=float))
        table = pl.DataFrame({"p": pv})
    if isinstance(p, pl.DataFrame):
        pass
    elif data is not None:
        frame = to_lazy(data)
        require_columns(frame, by_cols, role="by")
        aggs = [nw.len().alias("volume")]
        rows = _segments(frame, by_cols)
        if isinstance(p, str):
            require_columns(frame, [p], role="p")
            rows = rows.with_columns(_label_expr(frame, p).cast(nw.Float64).alias("_p"))
            aggs.append(nw.col("_p").mean().alias("p"))
        out = rows.group_by(by_cols).agg(aggs) if by_cols else rows.select(aggs)
        table = (
            out.collect(backend="polars")
            .to_native()
            .with_columns(pl.col("volume").cast(pl.Float64))
        )
        table = table.sort(by_cols) if by_cols else table
        if not isinstance(p, str):
            pv = np.asarray(p, dtype=float)
            if pv.ndim and pv.size != table.height:
                raise InvalidArgumentError(
                    f"p has {pv.size} values but there are {table.height} segments."
                )
            table = table.with_columns(
                p=pl.Series(np.broadcast_to(pv, (table.height,)).astype(float))
            )
    pv = table["p"].to_numpy().astype(float)
    if np.isnan(pv).any() or (pv < 0).any() or (pv > 1).any():
        raise InvalidValueError(
            "p must be a rate between 0 and 1 for every segment (a segment with no labeled "
            "row has no rate: give a planning value instead)."
        )
    needed = wilson_n(pv, np.broadcast_to(h, pv.shape), confidence)
    needed = np.ceil(needed * design_effect - 1e-9).astype(np.int64)
    table = table.with_columns(
        halfwidth=pl.Series(np.broadcast_to(h, pv.shape).astype(float)), labels=pl.Series(needed)
    )
    if "volume" in table.columns:
        table = table.with_columns(
            share=pl.col("labels") / pl.col("volume"), feasible=pl.col("labels") <= pl.col("volume")
        )
    return LabelBudget(table, by=by_cols, confidence=confidence)
