"""Change points of a decay curve: binary segmentation with a bootstrap test.

:meth:`aidebt.decay.Decay.changepoints` segments the per-period counts by binary
segmentation with a binomial likelihood-ratio statistic (a Gaussian one, on the stored
standard errors, for metrics that are not proportions), each split tested against a
parametric bootstrap of the no-change null on the same per-period sizes. It reads the
curve through :class:`aidebt.decay.Decay`'s public attributes (``estimates``, ``stats``,
``label``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from scipy import stats as sps
from scipy.special import xlogy

from aidebt import aggregate
from aidebt import metrics as mreg
from aidebt import stats as st
from aidebt.errors import InvalidArgumentError
from aidebt.groups import iter_groups, label
from aidebt.results import Result, conform

if TYPE_CHECKING:
    from aidebt.decay import Decay

__all__ = ["Changepoints", "binary_segmentation"]

COLUMNS = {
    "before": pl.Float64,
    "before_ci_low": pl.Float64,
    "before_ci_high": pl.Float64,
    "after": pl.Float64,
    "after_ci_low": pl.Float64,
    "after_ci_high": pl.Float64,
    "diff": pl.Float64,
    "statistic": pl.Float64,
    "p_value": pl.Float64,
}
"""The columns of :attr:`Changepoints.table` after the group columns and ``period``."""


def _segment_loglik(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Binomial log-likelihood at the MLE, elementwise, without the binomial coefficient:
    ``x log x + (n-x) log(n-x) - n log n`` (0 log 0 = 0)."""
    return xlogy(x, x) + xlogy(n - x, n - x) - xlogy(n, n)


def _split_stats(y: np.ndarray, n: np.ndarray, kind: str, min_size: int) -> np.ndarray:
    """Likelihood-ratio statistic of one change at each admissible split.

    ``y`` has shape (..., k): the last axis is the periods. For ``kind="binomial"``, ``y``
    are counts and ``n`` trials; for ``"gaussian"``, ``y`` values and ``n`` weights 1/SE².
    Returns (..., k - 2*min_size + 1): splits after period min_size-1 ... k-min_size-1.
    """
    k = y.shape[-1]
    cy = np.cumsum(y, axis=-1)
    cn = np.cumsum(np.broadcast_to(n, y.shape), axis=-1)
    split = np.arange(min_size, k - min_size + 1)  # size of the left part
    left_y, left_n = cy[..., split - 1], cn[..., split - 1]
    tot_y, tot_n = cy[..., -1:], cn[..., -1:]
    right_y, right_n = tot_y - left_y, tot_n - left_n
    if kind == "binomial":
        return 2 * (
            _segment_loglik(left_y, left_n)
            + _segment_loglik(right_y, right_n)
            - _segment_loglik(tot_y, tot_n)
        )
    # Gaussian with known variances: weighted sums of y*w; the statistic is the drop in
    # the weighted sum of squares, (mean_L - mean_R)^2 / (1/W_L + 1/W_R).
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_l, mean_r = left_y / left_n, right_y / right_n
        return (mean_l - mean_r) ** 2 / (1 / left_n + 1 / right_n)


def _test_segment(y, n, kind, min_size, dispersion, n_sim, rng, penalty=None):
    """Best split of one segment and its bootstrap p-value under no change (with a fixed
    ``penalty``: the chi-square(1) tail, and the split is accepted by the caller when the
    statistic exceeds the penalty)."""
    k = len(y)
    obs = _split_stats(y, n, kind, min_size) / dispersion
    best = int(np.nanargmax(obs))
    stat = float(obs[best])
    if penalty is not None:
        return best + min_size, stat, float(sps.chi2.sf(stat, 1))
    if kind == "binomial":
        trials = np.maximum(np.round(n).astype(np.int64), 0)
        pooled = y.sum() / n.sum()
        sims = rng.binomial(trials, pooled, size=(n_sim, k)).astype(float)
        null = _split_stats(sims, trials.astype(float), kind, min_size)
    else:
        mean = (y * n).sum() / n.sum()
        se = 1 / np.sqrt(n)
        sims = mean + se * rng.standard_normal((n_sim, k))
        null = _split_stats(sims * n, n, kind, min_size)
    null_max = np.nanmax(null, axis=-1)
    p = (1 + np.sum(null_max >= stat)) / (n_sim + 1)
    return best + min_size, stat, float(p)


def binary_segmentation(
    y: np.ndarray,
    n: np.ndarray,
    *,
    kind: str = "binomial",
    alpha: float = 0.01,
    min_size: int = 2,
    max_changes: int | None = None,
    dispersion: float = 1.0,
    penalty: float | None = None,
    n_sim: int = 2000,
    seed: int = 0,
) -> list[tuple[int, float, float]]:
    """Change points of a sequence of per-period counts: [(position, statistic, p), ...].

    ``position`` is the index of the first period after a change. ``kind="binomial"``:
    ``y`` successes out of ``n`` trials; ``"gaussian"``: ``n`` the weights ``1/SE^2`` of
    the per-period values and ``y`` the weighted values ``value * n``.

    Examples
    --------
    >>> n = np.full(12, 1000.0)
    >>> y = np.r_[np.full(6, 900.0), np.full(6, 850.0)]
    >>> [pos for pos, _, _ in binary_segmentation(y, n)]
    [6]
    """
    rng = np.random.default_rng(seed)
    y, n = np.asarray(y, dtype=float), np.asarray(n, dtype=float)
    found: list[tuple[int, float, float]] = []
    queue = [(0, len(y))]
    while queue:
        lo, hi = queue.pop(0)
        if hi - lo < 2 * min_size:
            continue
        if max_changes is not None and len(found) >= max_changes:
            break
        pos, stat, p = _test_segment(
            y[lo:hi], n[lo:hi], kind, min_size, dispersion, n_sim, rng, penalty
        )
        if (stat > penalty) if penalty is not None else (p < alpha):
            found.append((lo + pos, stat, p))
            queue.extend([(lo, lo + pos), (lo + pos, hi)])
    return sorted(found)


class Changepoints(Result):
    """Result of :meth:`Decay.changepoints`.

    Attributes
    ----------
    table : polars.DataFrame
        One row per change point (per group with ``by``): ``period`` (first period after
        the change), ``before``, ``before_ci_low``, ``before_ci_high``, ``after``,
        ``after_ci_low``, ``after_ci_high`` (the metric over the segments on either side,
        pooled from their sufficient statistics), ``diff`` (after - before), ``statistic``
        (likelihood ratio) and ``p_value`` (parametric bootstrap).
    segments : polars.DataFrame
        Each segment between change points: ``start``, ``end``, ``value``, ``ci_low``,
        ``ci_high``, ``n``.
    index : polars.Series
        The period number of each change point (``table``'s order), as
        :meth:`aidebt.decay.Decay.label` and ``fit(start=...)`` read them.
    decay : Decay
        The curve the change points were found in.
    """

    title = "Change points"

    @classmethod
    def from_decay(
        cls, d: Decay, alpha, min_size, max_changes, dispersion, penalty, n_sim, seed
    ) -> Changepoints:
        """Detect a decay curve's change points (see :meth:`aidebt.decay.Decay.changepoints`)."""
        if not 0 < alpha < 1:
            raise InvalidArgumentError(f"alpha={alpha!r} must be between 0 and 1, e.g. 0.01.")
        if not isinstance(min_size, int) or min_size < 1:
            raise InvalidArgumentError(f"min_size={min_size!r} must be an integer >= 1.")
        if not isinstance(dispersion, (int, float)) or dispersion <= 0:
            raise InvalidArgumentError(f"dispersion={dispersion!r} must be a number > 0.")
        if penalty is not None and (not isinstance(penalty, (int, float)) or penalty < 0):
            raise InvalidArgumentError(f"penalty={penalty!r} must be a number >= 0 or None.")
        m = d.metric
        kind = "binomial" if m.binomial else "gaussian"
        data = d.estimates.filter(pl.col("value").is_not_null() & (pl.col("n") > 0))
        if d.by:
            by_group = d.stats.partition_by(d.by, as_dict=True, maintain_order=True)
        else:
            by_group = {(): d.stats}
        changes, segments = [], []
        z = st.normal_quantile(d.confidence)
        for key, part in iter_groups(data, d.by):
            idx = part.get_column("_p").to_numpy()
            if kind == "binomial":
                y = part.get_column("_x").to_numpy().astype(float)
                n = part.get_column("n").to_numpy().astype(float)
            else:
                se = part.get_column("_se").fill_null(np.nan).to_numpy().astype(float)
                ok = np.isfinite(se) & (se > 0)
                part, idx, se = part.filter(pl.Series(ok)), idx[ok], se[ok]
                n = 1 / se**2
                y = part.get_column("value").to_numpy().astype(float) * n
            if len(idx) == 0:
                continue
            found = binary_segmentation(
                y,
                n,
                kind=kind,
                alpha=alpha,
                min_size=min_size,
                max_changes=max_changes,
                dispersion=dispersion,
                penalty=penalty,
                n_sim=n_sim,
                seed=seed,
            )
            bounds = [0, *[pos for pos, _, _ in found], len(idx)]
            seg_rows = _segment_values(d, idx, bounds, by_group[key], part, z)
            for a, b, seg in zip(bounds[:-1], bounds[1:], seg_rows, strict=True):
                segments.append(
                    {
                        **dict(zip(d.by, key, strict=True)),
                        "start": d.label(idx[a]),
                        "end": d.label(idx[b - 1]),
                        "periods": b - a,
                        **seg,
                    }
                )
            for i, (pos, stat, p) in enumerate(found):
                before, after = seg_rows[i], seg_rows[i + 1]
                changes.append(
                    {
                        **dict(zip(d.by, key, strict=True)),
                        "_p": int(idx[pos]),
                        "before": before["value"],
                        "before_ci_low": before["ci_low"],
                        "before_ci_high": before["ci_high"],
                        "after": after["value"],
                        "after_ci_low": after["ci_low"],
                        "after_ci_high": after["ci_high"],
                        "diff": (after["value"] or np.nan) - (before["value"] or np.nan),
                        "statistic": stat,
                        "p_value": p,
                    }
                )
        table = conform(changes, {"_p": pl.Int64, **COLUMNS}, lead=dict.fromkeys(d.by, pl.String))
        if d.axis == "calendar":
            period = pl.Series("period", d.every.start(table["_p"].to_numpy())).cast(pl.Date)
        else:
            period = table["_p"].alias("period")
        table = table.with_columns(period).select(*d.by, "period", *COLUMNS, "_p")
        out = cls(table.drop("_p"))
        out.index = table["_p"]
        out.segments = pl.DataFrame(segments, infer_schema_length=None)
        out.decay = d
        out.alpha = alpha
        out.min_size = min_size
        out.n_sim = n_sim
        out.penalty = penalty
        return out

    def summary(self) -> list[str]:
        d = self.decay
        name = d.metric.name
        lines = []
        if self.table.height == 0:
            rule = (
                f"a split needs a likelihood ratio above {self.penalty:g}"
                if self.penalty is not None
                else f"each split tested at {self.alpha:g} against a bootstrap of no change"
            )
            return [
                f"No change point in {name} (binary segmentation, {rule}; segments of "
                f">= {self.min_size} periods)."
            ]
        for row, idx in zip(self.table.iter_rows(named=True), self.index, strict=True):
            who = f" for {label(row, d.by)}" if d.by else ""
            lines.append(
                f"{name}{who} changed at {d.label(idx)}: {row['before']:.3f} "
                f"({row['before_ci_low']:.3f} to {row['before_ci_high']:.3f}) before, "
                f"{row['after']:.3f} ({row['after_ci_low']:.3f} to {row['after_ci_high']:.3f}) "
                + (
                    f"after (likelihood ratio {row['statistic']:.1f} > penalty {self.penalty:g})."
                    if self.penalty is not None
                    else f"after (bootstrap {_p_text(row['p_value'], self.n_sim)})."
                )
            )
        return lines

    def chart(self, **kwargs: Any):
        """The decay curve with a rule at each change point."""
        from aidebt import charts

        d = self.decay
        return charts.decay_chart(
            d.table,
            by=d.by,
            metric=d.metric.name,
            axis=d.axis,
            unit=d.every.noun(),
            changepoints=self.table,
            **kwargs,
        )


def _p_text(p: float, n_sim: int) -> str:
    """'p=0.003', or 'p<0.001' when no bootstrap draw reached the statistic."""
    floor = 1 / (n_sim + 1)
    if p <= floor * 1.000001:
        return f"p<{10 ** np.ceil(np.log10(floor)):.0g}"
    return f"p={p:.2g}"


def _segment_values(d: Decay, idx, bounds, stats, part, z) -> list[dict]:
    """The metric pooled over each segment's periods, from its summed sufficient statistics
    (one :func:`aidebt.metrics.evaluate` call for all the segments of a series)."""
    m = d.metric
    out = []
    if m.additive:
        cols = aggregate.stat_columns(stats, [*d.by, "_p"])
        by_period = stats.select("_p", *cols)
        position = {int(p): i for i, p in enumerate(by_period["_p"].to_list())}
        matrix = by_period.select(cols).to_numpy().astype(float)
        sums = []
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            rows = [position[int(p)] for p in idx[a:b]]
            sums.append(matrix[rows].sum(axis=0))
        pooled = pl.DataFrame(np.vstack(sums), schema=cols, orient="row")
        values = mreg.evaluate(pooled, [], m, confidence=d.confidence, ci=d.ci)
        return [
            {k: row[k] for k in ("value", "ci_low", "ci_high", "n")}
            for row in values.iter_rows(named=True)
        ]
    # AUC has no additive pooling here: inverse-variance weighted mean of the periods.
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        seg = part.slice(a, b - a)
        value = seg["value"].to_numpy()
        w = 1 / seg["_se"].fill_null(np.nan).to_numpy() ** 2
        mean = float(np.sum(w * value) / np.sum(w))
        s = float(1 / np.sqrt(np.sum(w)))
        out.append(
            {
                "value": mean,
                "ci_low": mean - z * s,
                "ci_high": mean + z * s,
                "n": float(seg["n"].sum()),
            }
        )
    return out
