"""The per-group crossing paths the vectorized ones replaced (aidebt.trend's
``Trend.crossing`` loop with its ``_cross``, aidebt.curve's ``Curve.crossing`` loop with
its ``_relative_crossing``), as they were. Kept only to prove the vectorized crossings give
the same table (tests/test_crossing.py) and to time them (benchmarks/bench_trend_groups.py).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from aidebt.groups import iter_groups
from aidebt.results import conform
from aidebt.trend import _check_threshold, _crossing_columns, _link


def reference_crossing(
    trend, threshold: float, method: str = "fieller", max_ahead=None
) -> pl.DataFrame:
    """The crossing table of ``trend.crossing(threshold, ...)``, one group at a time."""
    _check_threshold(threshold, trend.metric, trend.model)
    link = _link(trend.model)[0]
    target = float(link(np.float64(threshold)))
    rows = []
    for row in trend.estimates.iter_rows(named=True):
        key = tuple(row[c] for c in trend.by)
        out = dict(zip(trend.by, key, strict=True))
        fit = trend.fits.get(key)
        if fit is None:
            rows.append({**out, "status": "no fit", "reason": row["note"] or "no trend was fitted"})
            continue
        rows.append({**out, **_cross(fit, target, threshold, method, max_ahead, trend)})
    table = pl.DataFrame(rows, infer_schema_length=None)
    table = table.with_columns(threshold=pl.lit(float(threshold)))
    lead = dict.fromkeys(trend.by, pl.String)
    return conform(table, _crossing_columns(trend.decay.axis), lead=lead)


def _cross(fit, target: float, threshold: float, method: str, max_ahead, trend) -> dict:
    """Inverse prediction on one group's line; a row of the crossing table."""
    d = trend.decay
    b0, b1 = fit.params
    v00, v01, v11 = fit.cov[0, 0], fit.cov[0, 1], fit.cov[1, 1]
    t2 = fit.crit**2
    span = fit.x_last - fit.x_first
    ahead_limit = float(max_ahead) if max_ahead is not None else max(float(span), 1.0)
    out: dict[str, Any] = {"status": "none", "method": method}
    if b1 == 0:
        return {**out, "reason": "the fitted trend is flat: it never crosses"}
    xc = (target - b0) / b1  # centred at x0
    x_star = xc + fit.x0
    est_eta, _ = fit.eta(np.array([fit.x_last]))
    side = "above" if est_eta[0] > target else "below"
    where = f"{threshold:g}"
    # the one change: outside the years 1 to 9999 the label crashed (a ValueError from
    # strftime), even where the point was not shown (a crossing long before the data)
    near = abs(x_star) < 1e6
    if d.axis == "calendar":
        at = trend.every.at(x_star)[0]
        near = near and np.datetime64("0001-01-01") <= at < np.datetime64("10000-01-01")
    point = d.label(x_star) if near else "never"
    if method == "fieller":
        a = b1**2 - t2 * v11
        bq = (b0 - target) * b1 - t2 * v01
        cq = (b0 - target) ** 2 - t2 * v00
        disc = bq**2 - a * cq
        bounded = a > 0 and disc >= 0
        if bounded:
            r = np.sqrt(disc)
            lo, hi = sorted(((-bq - r) / a + fit.x0, (-bq + r) / a + fit.x0))
    else:
        se = np.sqrt(max(v00 + 2 * xc * v01 + xc**2 * v11, 0)) / abs(b1)
        lo, hi = x_star - fit.crit * se, x_star + fit.crit * se
        bounded = abs(b1) > fit.crit * np.sqrt(v11)
    if x_star < fit.x_first:
        moving = "away from" if (side == "above") == (b1 > 0) else "further past"
        return {
            **out,
            "status": "not crossing",
            "reason": f"the fitted curve is {side} {where} over the whole fitted window and "
            f"moves {moving} it: no crossing ahead",
        }
    if not bounded:
        return {
            **out,
            "status": "uncertain",
            "reason": f"the slope is not distinguishable from zero at {trend.confidence:.0%}, so "
            f"the crossing date cannot be bounded (the point estimate would be {point})",
        }
    status = "crossed" if x_star <= fit.x_last else "ahead"
    if x_star - fit.x_last > ahead_limit:
        return {
            **out,
            "status": "too far",
            "reason": f"the fitted curve crosses {where} around {point}, {x_star - fit.x_last:.0f} "
            f"periods after the last one: further ahead than the {ahead_limit:.0f} periods the "
            "data reach back, too far to trust the extrapolation",
        }
    values = _x_values(np.array([x_star, lo, hi]), trend)
    return {
        **out,
        "status": status,
        "estimate": values[0],
        "ci_low": values[1],
        "ci_high": values[2],
        "periods_ahead": float(x_star - fit.x_last),
        "_x": float(x_star),
        "_x_low": float(lo),
        "_x_high": float(hi),
        "reason": None,
    }


def _x_values(x: np.ndarray, trend) -> list:
    if trend.decay.axis != "calendar":
        return [float(v) for v in x]
    return [v.item() for v in trend.every.at(x)]


# -- aidebt.curve ----------------------------------------------------------------------
_FOUND = ("crossed", "ahead")


def reference_curve_crossing(c, relative=0.85, *, threshold=None, **fit) -> pl.DataFrame:
    """The table of ``c.crossing(relative, threshold=..., **fit)``, one group at a time."""
    from aidebt.curve import CROSSING_COLUMNS
    from aidebt.errors import InvalidArgumentError

    trend = c.fit(**fit)
    u = c.axis.unit

    def scaled(v):
        return None if v is None or not np.isfinite(v) else float(v) * u

    absolute = reference_crossing(trend, threshold) if threshold is not None else None
    rows = []
    for key, part in iter_groups(trend.estimates, c.by):
        out: dict[str, Any] = dict(zip(c.by, key, strict=True))
        fitted = trend.fits.get(key)
        if fitted is None:
            rows.append({**out, "status": "no fit", "reason": part["note"][0]})
            continue
        group = key if c.by else None
        band = trend.predict([fitted.x_first], group=group).row(0, named=True)
        if absolute is not None:
            found = absolute
            if c.by:
                found = found.filter(
                    pl.all_horizontal([pl.col(k) == v for k, v in zip(c.by, key, strict=True)])
                )
            row = found.row(0, named=True)
            level, method = threshold, "fieller"
            where = {k: row[k] for k in ("status", "reason")}
            where.update(_x=row["_x"], _x_low=row["_x_low"], _x_high=row["_x_high"])
        else:
            level, method = relative * band["fit"], "delta"
            if trend.model == "logistic" and not 0 < level < 1:
                raise InvalidArgumentError(
                    f"relative={relative!r} puts the threshold at {level:.3g}, outside 0 to 1."
                )
            where = _relative_crossing(fitted, trend.model, relative, trend.confidence)
            where["reason"] = _reason(where, c.axis, trend.confidence)
        rows.append(
            {
                **out,
                "start": fitted.x_first * u,
                "start_level": band["fit"],
                "start_ci_low": band["fit_low"],
                "start_ci_high": band["fit_high"],
                "relative": relative,
                "threshold": level,
                "status": where["status"],
                "estimate": scaled(where.get("_x")) if where["status"] in _FOUND else None,
                "ci_low": scaled(where.get("_x_low")) if where["status"] in _FOUND else None,
                "ci_high": scaled(where.get("_x_high")) if where["status"] in _FOUND else None,
                "method": method,
                "reason": where["reason"],
            }
        )
    return conform(rows, CROSSING_COLUMNS, lead=dict.fromkeys(c.by, pl.String))


def _relative_crossing(fit, model: str, relative: float, confidence: float) -> dict[str, Any]:
    b0, b1 = (float(v) for v in fit.params)
    v00, v01, v11 = fit.cov[0, 0], fit.cov[0, 1], fit.cov[1, 1]
    s = fit.x_first
    eta_s = b0 + b1 * (s - fit.x0)
    if model == "logistic":
        p = 1 / (1 + math.exp(-eta_s))
        q = relative * p
        h, k = math.log(q / (1 - q)), (1 - p) / (1 - q)
    else:
        h, k = relative * eta_s, relative
    alpha, delta = 1 - k, k * (s - fit.x0)
    c0 = b0 - h + b1 * delta
    t2 = fit.crit**2
    out: dict[str, Any] = {"gap": c0 + b1 * (fit.x_last - fit.x0 - delta)}
    if b1 == 0:
        return {**out, "status": "none"}
    x_star = -c0 / b1 + delta + fit.x0
    out["_x"] = x_star
    a = b1**2 - t2 * v11
    bq = c0 * b1 - t2 * alpha * v01
    cq = c0**2 - t2 * alpha**2 * v00
    disc = bq**2 - a * cq
    if x_star < fit.x_first:
        return {**out, "status": "not crossing"}
    if not (a > 0 and disc >= 0):
        return {**out, "status": "uncertain"}
    r = math.sqrt(disc)
    lo, hi = sorted(((-bq - r) / a, (-bq + r) / a))
    out.update(_x_low=lo + delta + fit.x0, _x_high=hi + delta + fit.x0)
    span = max(fit.x_last - fit.x_first, 1e-12)
    if x_star - fit.x_last > span:
        return {**out, "status": "too far"}
    return {**out, "status": "crossed" if x_star <= fit.x_last else "ahead"}


def _reason(found: dict[str, Any], axis, confidence: float) -> str | None:
    status = found["status"]
    point = axis.text(found["_x"]) if found.get("_x") is not None else "none"
    return {
        "none": "the fitted trend is flat: it never falls to that level",
        "not crossing": "the fitted curve does not fall to that level along the data: its "
        "trend moves away from it",
        "uncertain": f"the slope is not distinguishable from zero at {confidence:.0%}, so the "
        f"position cannot be bounded (the point estimate would be {point})",
        "too far": f"the fitted curve reaches that level around {point}, further along the "
        "axis than the data reach: too far to trust the extrapolation",
    }.get(status)
