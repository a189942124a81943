"""Crossings for every group at once: ``Trend.crossing`` and ``Curve.crossing`` computed
as arrays over the fitted lines equal the per-group paths they replaced
(tests/crossing_reference.py) on every column, in every case a crossing can be in.

Equality: strings, statuses and dates exactly; the positions (``_x``, ``_x_low``,
``_x_high``, ``periods_ahead``, a curve's ``estimate``/``ci_low``/``ci_high``/levels) to a
relative 1e-12 (the same floating-point operations in the same order, elementwise; numpy's
vectorized exp and log may differ from ``math``'s in the last bit).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from crossing_reference import reference_crossing, reference_curve_crossing

import aidebt as ad
from aidebt.datasets import demo_versions
from aidebt.trend import _quadratic_interval

MONTHS = [dt.date(2024 + (k // 12), k % 12 + 1, 1) for k in range(36)]
STATUSES = {"no fit", "none", "not crossing", "uncertain", "too far", "crossed", "ahead"}
RTOL = 1e-12


def _groups(seed: int, groups: int = 150) -> pl.DataFrame:
    """Pre-aggregated counts of ``groups`` curves: 1 to 14 months (gaps in some), slopes
    falling, flat and rising, steep and slight, 50 to 20,000 rows a month, one at 0%."""
    rng = np.random.default_rng(seed)
    frames = []
    for g in range(groups):
        k = int(rng.integers(1, 15))
        months = np.sort(rng.choice(18, k, replace=False)) if g % 3 else np.arange(k)
        slope = rng.choice([-0.4, -0.15, -0.05, -0.01, 0.0, 0.02, 0.1])
        eta = rng.normal(1.5, 0.8) + slope * months + rng.normal(0, 0.05, k)
        n = rng.integers(50, 20_000, k)
        correct = np.zeros(k, dtype=np.int64) if g == 7 else rng.binomial(n, 1 / (1 + np.exp(-eta)))
        frames.append(
            pl.DataFrame(
                {
                    "sim": f"g{g}",
                    "t": [MONTHS[m] for m in months] * 2,
                    "y": [1] * k + [0] * k,
                    "w": np.r_[correct, n - correct],
                }
            )
        )
    return pl.concat(frames).with_columns(p=pl.lit(1, pl.Int8))


def assert_same(got: pl.DataFrame, want: pl.DataFrame) -> float:
    """Equal tables (floats to RTOL); returns the largest relative difference of a float."""
    assert got.schema == want.schema
    worst = 0.0
    for name in got.columns:
        a, b = got.get_column(name), want.get_column(name)
        assert a.is_null().to_list() == b.is_null().to_list(), name
        if a.dtype == pl.Float64:
            x, y = a.drop_nulls().to_numpy(), b.drop_nulls().to_numpy()
            assert np.array_equal(np.isnan(x), np.isnan(y)), name
            x, y = x[~np.isnan(x)], y[~np.isnan(y)]
            np.testing.assert_allclose(x, y, rtol=RTOL, atol=0, err_msg=name)
            if x.size:
                worst = max(worst, float(np.max(np.abs(x - y) / np.maximum(np.abs(y), 1e-300))))
        else:
            assert a.to_list() == b.to_list(), name
    return worst


@pytest.fixture(scope="module")
def decay() -> ad.Decay:
    return ad.decay(_groups(3), "t", "y", "p", weight="w", by="sim")


@pytest.mark.filterwarnings("ignore")
def test_every_group_at_once_equals_the_per_group_crossing(decay):
    """150 ragged groups (too few months, a fit that does not converge, falling, flat and
    rising lines) under both models and noise models, thresholds from 0.3 to 0.95, both
    intervals, the default horizon and two others: the same table as one group at a
    time, and every status occurs."""
    seen: set[str] = set()
    worst = 0.0
    for model, dispersion in [
        ("logistic", "history"),
        ("logistic", "pearson"),
        ("linear", "history"),
    ]:
        trend = decay.fit(model, dispersion=dispersion)
        for threshold in (0.3, 0.75, 0.9, 0.95):
            for method in ("fieller", "delta"):
                for max_ahead in (None, 2, 40):
                    got = trend.crossing(threshold, method=method, max_ahead=max_ahead)
                    want = reference_crossing(trend, threshold, method, max_ahead)
                    worst = max(worst, assert_same(got.table, want))
                    seen |= set(got.table["status"])
    print(f"\nlargest relative difference from the per-group crossing: {worst:.2g}")
    assert seen == STATUSES  # "none": the linear fit of the group at 0% is exactly flat


def _forced(trend, cases: dict[int, tuple[list[float], list[list[float]]]]):
    """``trend`` with some groups' fitted lines replaced (by row of its table)."""
    f = trend.fits._fit
    for row, (params, cov) in cases.items():
        g = trend._groups[row]
        assert g >= 0
        f["params"][g] = params
        f["cov"][g] = cov
    return trend


@pytest.mark.parametrize("method", ["fieller", "delta"])
def test_the_edge_cases_of_a_crossing(decay, method):
    """Lines forced into each case: a flat one (never crosses), a slope indistinguishable
    from zero whose Fieller set is two rays or the whole line (uncertain), a significant
    one far ahead (too far), one that passed the threshold before the data (not crossing), one whose point estimate
    lies after the year 9999 (its reason says never)."""
    trend = decay.fit()
    rows = np.flatnonzero(trend._groups >= 0)[:6].tolist()
    cov = [[0.01, 0.0], [0.0, 0.0004]]
    trend = _forced(
        trend,
        {
            rows[0]: ([1.0, 0.0], cov),  # flat
            rows[1]: ([1.4, -0.01], cov),  # slope within its noise: two rays
            rows[2]: ([3.0, -0.001], [[0.0001, 0.0], [0.0, 0.0004]]),  # the whole line
            rows[3]: ([1.4, -0.02], [[1e-6, 0.0], [0.0, 1e-8]]),  # 0.3 reached far ahead
            rows[4]: ([0.5, -0.1], cov),  # already below 0.75 and falling
            rows[5]: ([1.4, -1.5e-6], cov),  # the point estimate 200,000 months on
        },
    )
    # the two Fieller sets that are not intervals, as the quadratic says
    t2 = trend.fits[tuple(trend.table.row(rows[1], named=True)[c] for c in trend.by)].crit ** 2
    for b0, b1, v00, thr in ((1.4, -0.01, 0.01, 0.75), (3.0, -0.001, 0.0001, 0.75)):
        d = b0 - np.log(thr / (1 - thr))
        a, b, c = b1**2 - t2 * 0.0004, d * b1, d**2 - t2 * v00
        assert a < 0 and not _quadratic_interval(np.array(a), np.array(b), np.array(c))[2]
    for threshold in (0.75, 0.3):
        got = trend.crossing(threshold, method=method)
        want = reference_crossing(trend, threshold, method)
        assert_same(got.table, want)
    status = dict(zip(got.table["sim"], got.table["status"], strict=True))
    names = [trend.table["sim"][r] for r in rows]
    assert status[names[0]] == "none" and status[names[1]] == "uncertain"
    assert status[names[3]] == "too far"
    got = trend.crossing(0.75, method=method).table
    assert got.filter(pl.col("sim") == names[4])["status"].item() == "not crossing"
    # past the year 9999 the per-group path crashed naming the month; it is "never" now
    far = got.filter(pl.col("sim") == names[5])
    assert far["status"].item() == "uncertain" and "would be never" in far["reason"].item()


@pytest.mark.filterwarnings("ignore")
def test_one_curve_a_single_group_and_an_age_axis():
    """No ``by`` (one line), ``by`` with one group, too few months (no fit), an age axis."""
    frame = _groups(8, groups=12)
    one = frame.filter(pl.col("sim") == "g3")  # 11 months
    for d in (
        ad.decay(one, "t", "y", "p", weight="w"),
        ad.decay(one, "t", "y", "p", weight="w", by="sim"),
        ad.decay(frame.filter(pl.col("sim") == "g1"), "t", "y", "p", weight="w"),  # 2 months
        ad.decay(frame, "t", "y", "p", weight="w", by="sim", since="2023-10-01"),
    ):
        trend = d.fit()
        for threshold in (0.6, 0.8):
            for method in ("fieller", "delta"):
                got = trend.crossing(threshold, method=method, max_ahead=60)
                assert_same(got.table, reference_crossing(trend, threshold, method, 60))
                assert bool(got) == (got.estimate is not None)
                assert got.status == got.table["status"][0]
    assert got.table["estimate"].dtype == pl.Float64  # ages, in periods
    assert "age " in " ".join(got.table["reason"].drop_nulls())


def test_point_labels_at_once_equal_one_at_a_time():
    """The reasons' period names, computed at once, are the ones ``label`` gives."""
    from aidebt.periods import Every

    for every in ("1mo", "1q", "1y", "1w", "2mo", "1d"):
        e = Every.parse(every)
        idx = np.arange(e.index_of("1990-01-01"), e.index_of("2200-01-01"), 5)
        assert e.labels(idx).tolist() == [e.label(i) for i in idx]
    d = ad.decay(_groups(8, groups=3), "t", "y", "p", weight="w", by="sim", since="2023-10-01")
    x = np.array([0.0, 3.0, 2.5, 17.25, 120.04, 3e5])
    assert d.labels(x).tolist() == [d.label(v) for v in x]


@pytest.fixture(scope="module")
def runs() -> pl.DataFrame:
    return demo_versions()


@pytest.mark.filterwarnings("ignore")
def test_curve_crossing_equals_the_per_group_one(runs):
    """ad.curve's crossings (relative and absolute, one curve and one per model version,
    a rate and a latency) equal the per-group path's."""
    kw = dict(y_true="y_true", y_pred="y_pred")
    seen = set()
    worst = 0.0
    for c in (
        ad.curve(runs, x="input_tokens", by="model_version", **kw),
        ad.curve(runs, x="input_tokens", by=["model_version", "task"], **kw),
        ad.curve(runs.filter(model_version="m1"), x="input_tokens", **kw),
    ):
        for relative in (0.99, 0.95, 0.85, 0.5):
            got = c.crossing(relative)
            worst = max(worst, assert_same(got.table, reference_curve_crossing(c, relative)))
            seen |= set(got.table["status"])
        for threshold in (0.5, 0.75, 0.9):
            got = c.crossing(None, threshold=threshold)
            assert_same(got.table, reference_curve_crossing(c, None, threshold=threshold))
            seen |= set(got.table["status"])
    latency = ad.curve(runs, x="input_tokens", y_true="latency_ms", metric="mean", by="task")
    for relative in (1.5, 1.1):
        assert_same(latency.crossing(relative).table, reference_curve_crossing(latency, relative))
    print("\ncurve crossing statuses:", sorted(seen), f"largest relative difference {worst:.2g}")
    assert {"crossed", "uncertain"} <= seen


def test_curve_crossing_edge_cases(runs):
    """A curve's lines forced into each case (flat, uncertain, far along the axis, moving
    away), for the relative crossing and the absolute one: the per-group path's table."""
    c = ad.curve(runs, x="input_tokens", y_true="y_true", y_pred="y_pred", by="task")
    trend = c.fit()
    cov = [[0.01, 0.0], [0.0, 0.0004]]
    f, g = trend.fits._fit, trend._groups[2]
    slope = -(1.4 - np.log(0.2 / 0.8)) / (3 * (f["x_last"][g] - f["x_first"][g]))
    forced = _forced(
        trend,
        {
            0: ([1.0, 0.0], cov),  # flat
            1: ([1.4, -0.01], cov),  # uncertain
            2: ([1.4, slope], [[1e-8, 0.0], [0.0, 1e-12]]),  # 0.2 reached far along
            3: ([0.5, 0.3], cov),  # rising: never falls to a share of its start
        },
    )
    c.fit = lambda **_: forced  # both paths read this one fit
    seen = set()
    for relative in (0.95, 0.5):
        got = c.crossing(relative)
        assert_same(got.table, reference_curve_crossing(c, relative))
        seen |= set(got.table["status"])
    for threshold in (0.6, 0.2):
        got = c.crossing(None, threshold=threshold)
        assert_same(got.table, reference_curve_crossing(c, None, threshold=threshold))
        seen |= set(got.table["status"])
    assert {"none", "uncertain", "not crossing", "too far"} <= seen, seen


def test_thousands_of_groups_with_slopes_near_zero():
    """2,000 curves of 12 months whose slopes scatter about zero (as in the benchmark): many
    point estimates lie centuries away (the one past the year 9999 is forced in
    test_the_edge_cases_of_a_crossing)."""
    rng = np.random.default_rng(11)
    groups, periods = 2_000, 12
    eta = rng.normal(2.2, 0.4, (groups, 1)) + rng.normal(-0.03, 0.03, (groups, 1)) * np.arange(
        periods
    )
    n = rng.integers(200, 5_000, (groups, periods))
    correct = rng.binomial(n, 1 / (1 + np.exp(-eta))).ravel()
    g = np.repeat(np.arange(groups), periods).astype(str)
    t = pl.Series(MONTHS[:periods]).gather(np.tile(np.arange(periods), groups))
    frame = pl.DataFrame(
        {
            "sim": np.r_[g, g],
            "t": pl.concat([t, t]),
            "y": np.r_[np.ones(correct.size, int), np.zeros(correct.size, int)],
            "w": np.r_[correct, n.ravel() - correct],
        }
    ).with_columns(p=pl.lit(1, pl.Int8))
    trend = ad.decay(frame, "t", "y", "p", weight="w", by="sim").fit()
    seen = set()
    for threshold in (0.6, 0.85, 0.95):
        for method in ("fieller", "delta"):
            got = trend.crossing(threshold, method=method)
            assert_same(got.table, reference_crossing(trend, threshold, method))
            seen |= set(got.table["status"])
    assert {"crossed", "ahead", "not crossing", "uncertain", "too far"} <= seen


def test_a_relative_level_outside_the_rate_range_is_refused(runs):
    """A share of the start level above 1 for a rate: the same message as before, naming
    the first group's level."""
    from aidebt.errors import InvalidArgumentError

    c = ad.curve(runs, x="input_tokens", y_true="y_true", y_pred="y_pred", by="task")
    first = c.fit()
    with pytest.raises(InvalidArgumentError, match=r"relative=1.5 puts the threshold at 1\.\d"):
        c.crossing(1.5)
    assert first.model == "logistic"
