"""Standard errors and intervals of stats.py against plain references, and their coverage.

DeLong's AUC variance against an O(m n) computation written from the paper; the AUC's
logit interval and the F1 interval by simulation (issue 11, items 1 and 11). Coverage
simulations state their Monte Carlo standard error (MC SE) next to the assertion.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

import aidebt as ad
from aidebt import metrics as mreg
from aidebt import stats as st
from aidebt.errors import InvalidArgumentError


# --------------------------------------------------------------------------------------
# DeLong's AUC standard error
# --------------------------------------------------------------------------------------
def _delong_brute_force(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    """AUC and DeLong's standard error, written plainly from DeLong, DeLong &
    Clarke-Pearson (1988, eqs. 1-4), in O(m n).

    psi(X, Y) = 1 if X > Y, 1/2 if X = Y, 0 otherwise; V10(X_i) = mean_j psi(X_i, Y_j),
    V01(Y_j) = mean_i psi(X_i, Y_j); S10, S01 their sample variances (about the AUC);
    Var(AUC) = S10 / m + S01 / n.
    """
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    m, n = len(pos), len(neg)
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    auc = psi.mean()
    s10 = ((v10 - auc) ** 2).sum() / (m - 1)
    s01 = ((v01 - auc) ** 2).sum() / (n - 1)
    return float(auc), float(np.sqrt(s10 / m + s01 / n))


def _scored_frame(seed: int, groups: int = 4) -> pl.DataFrame:
    """Rows with coarse scores (many ties), uneven group sizes and frequency weights."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(60, 300))
    g = rng.integers(0, groups, n)
    y = (rng.random(n) < rng.uniform(0.15, 0.6)).astype(int)
    s = np.round(rng.normal(0, 1, n) + rng.uniform(-0.5, 1.5) * y * (1 + g / 2), 1)
    return pl.DataFrame({"g": [f"g{v}" for v in g], "y": y, "s": s, "w": rng.integers(1, 5, n)})


@pytest.mark.parametrize("seed", range(6))
def test_delong_matches_brute_force_on_tied_weighted_data(seed: int) -> None:
    """Every group's AUC and standard error equal the O(m n) DeLong on the expanded rows
    (a row of weight w is w rows), through stats.auc_delong and through disaggregate."""
    df = _scored_frame(seed)
    expanded = df.select(pl.all().repeat_by(pl.col("w")).explode()).drop("w")
    counts = (
        df.group_by("g", "s", "y")
        .agg(pl.col("w").sum())
        .rename({"s": "_score", "y": "_label", "w": "_w"})
    )
    ours = st.auc_delong(counts, ["g"]).sort("g")
    r = ad.disaggregate(df, y_true="y", by="g", metrics=["auc"], y_score="s", weight="w")
    via_table = r.estimates.sort("g")
    for i, group in enumerate(ours["g"].to_list()):
        part = expanded.filter(pl.col("g") == group)
        y, s = part["y"].to_numpy(), part["s"].to_numpy()
        auc, se = _delong_brute_force(s[y == 1], s[y == 0])
        assert auc == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        assert ours["_auc"][i] == pytest.approx(auc, abs=1e-12)
        assert ours["_auc_se"][i] == pytest.approx(se, rel=1e-9)
        assert via_table["value"][i] == pytest.approx(auc, abs=1e-12)
        assert via_table["_se"][i] == pytest.approx(se, rel=1e-9)
        assert (ours["_auc_n_pos"][i], ours["_auc_n_neg"][i]) == ((y == 1).sum(), (y == 0).sum())


def test_delong_known_small_case() -> None:
    """Hand-checked: positives (0.9, 0.6, 0.6), negatives (0.6, 0.1).

    psi rows (0.9): 1, 1; (0.6): 1/2, 1; (0.6): 1/2, 1 -> V10 = (1, 3/4, 3/4), V01 =
    (2/3, 1), AUC = 5/6; S10 = 1/48, S01 = 1/18; Var = 1/144 + 1/36 = 5/144.
    """
    counts = pl.DataFrame(
        {"_score": [0.9, 0.6, 0.6, 0.1], "_label": [1, 1, 0, 0], "_w": [1.0, 2.0, 1.0, 1.0]}
    )
    out = st.auc_delong(counts, [])
    assert out["_auc"][0] == pytest.approx(5 / 6, abs=1e-15)
    assert out["_auc_se"][0] == pytest.approx(np.sqrt(5 / 144), abs=1e-15)


def _binormal(rng, aucs, sims: int, n: int, prevalence: float) -> pl.DataFrame:
    """``sims`` samples of ``n`` rows per AUC: random labels, scores N(d y, 1) with
    d = sqrt(2) Phi^-1(AUC), so the population AUC is exactly ``AUC``."""
    parts = []
    for auc in aucs:
        y = (rng.random(sims * n) < prevalence).astype(np.int8)
        s = rng.normal(0, 1, sims * n) + np.sqrt(2) * norm.ppf(auc) * y
        parts.append(
            pl.DataFrame(
                {
                    "true_auc": np.full(sims * n, auc),
                    "sim": np.repeat(np.arange(sims), n),
                    "y": y,
                    "s": s,
                }
            )
        )
    return pl.concat(parts)


@pytest.mark.slow
def test_auc_interval_coverage_by_simulation() -> None:
    """95% AUC intervals at n = 200 (random labels, prevalence 0.3: about 60 positives)
    cover the population AUC 93-97% of the time at every AUC from 0.35 to 0.95.

    2,000 samples per AUC: MC SE 0.005 per coverage at 0.95, 0.0018 for the mean over
    the seven. Measured: 0.941-0.953, mean 0.949. Before the fix (negatives' placements
    centred at 1 - AUC) coverage was 0.00 at 0.35 and 0.996-1.00 from 0.65 up; with the
    right standard error, the clipped normal interval covers 0.92 at AUC 0.95 (same
    samples), where the logit interval covers 0.944.
    """
    aucs = (0.35, 0.5, 0.65, 0.8, 0.85, 0.9, 0.95)
    sims = 2_000
    df = _binormal(np.random.default_rng(20261111), aucs, sims, 200, 0.3)
    r = ad.disaggregate(df, y_true="y", by=["true_auc", "sim"], metrics=["auc"], y_score="s")
    truth = pl.col("true_auc")
    t = r.table.with_columns(truth.cast(pl.Float64)).with_columns(
        covered=(pl.col("ci_low") <= truth) & (pl.col("ci_high") >= truth),
        inside=(pl.col("ci_low") >= 0) & (pl.col("ci_high") <= 1),
    )
    per = t.group_by("true_auc").agg(pl.col("covered").mean(), pl.len()).sort("true_auc")
    assert per["len"].to_list() == [sims] * len(aucs)
    coverage = dict(zip(per["true_auc"], per["covered"], strict=True))
    assert all(0.93 <= c <= 0.97 for c in coverage.values()), coverage
    assert abs(t["covered"].mean() - 0.95) < 0.01, t["covered"].mean()
    assert t["inside"].all()


@pytest.mark.slow
def test_compare_detects_an_auc_rise_and_holds_its_level() -> None:
    """ad.compare at 1,000 rows per version (prevalence 0.3): an AUC rise from 0.80 to
    0.85 is detected (unadjusted p < 0.05) in about 75% of samples, and no change in
    about 5%.

    400 samples: MC SE 0.022 for the power, 0.011 for the level. Measured: power 0.735,
    level 0.043. Before the fix the power was 0.013 (the standard error at AUC 0.8 was
    about twice too large).
    """
    rng = np.random.default_rng(20261112)
    sims, n = 400, 1_000
    frames = []
    for version, auc in (("a", 0.80), ("b", 0.85), ("c", 0.80)):
        part = _binormal(rng, [auc], sims, n, 0.3)
        frames.append(part.with_columns(v=pl.lit(version), sim=pl.col("sim").cast(pl.String)))
    c = ad.compare(
        pl.concat(frames),
        version="v",
        baseline="a",
        y_true="y",
        y_score="s",
        metrics=["auc"],
        by="sim",
        adjust=None,
        warn=False,
    )
    t = c.table.filter(pl.col("sim") != "(all)")
    rejected = t.group_by("v").agg((pl.col("p_value") < 0.05).mean(), pl.len())
    rate = dict(zip(rejected["v"], rejected["p_value"], strict=True))
    assert rejected["len"].to_list() == [sims, sims]
    assert 0.65 <= rate["b"] <= 0.88, rate  # power
    assert rate["c"] <= 0.05 + 3 * 0.011, rate  # level


# --------------------------------------------------------------------------------------
# Interval builders
# --------------------------------------------------------------------------------------
def test_logit_interval_is_the_delta_method_on_the_logit_scale() -> None:
    v, se = np.array([0.3, 0.9, 0.99, 1.0, 0.7, np.nan]), np.array([0.05, 0.03, 0.01, 0, 0, 0.1])
    lo, hi = st.logit_ci(v, se, 0.9)
    z = norm.ppf(0.95)
    for i in range(3):
        half = z * se[i] / (v[i] * (1 - v[i]))
        centre = np.log(v[i] / (1 - v[i]))
        assert lo[i] == pytest.approx(1 / (1 + np.exp(-(centre - half))), abs=1e-14)
        assert hi[i] == pytest.approx(1 / (1 + np.exp(-(centre + half))), abs=1e-14)
        assert 0 < lo[i] < v[i] < hi[i] < 1
    assert (lo[3], hi[3]) == (1.0, 1.0)  # on the bound with no spread: the point
    assert (lo[4], hi[4]) == (0.7, 0.7)
    assert np.isnan(lo[5]) and np.isnan(hi[5])
    # The AUC metric declares it; conf_int rebuilds it at any level.
    auc = mreg.get("auc")
    assert auc.interval == "logit"
    clo, chi = mreg.conf_int(auc, v[:3], se[:3], v[:3] * 100, np.full(3, 100.0), 0.9)
    np.testing.assert_allclose(clo, lo[:3], rtol=1e-14)
    np.testing.assert_allclose(chi, hi[:3], rtol=1e-14)


def test_f1_interval_is_a_binomial_interval_for_f_star() -> None:
    """F1 = 2 F* / (1 + F*) with F* = tp / (tp + fp + fn): the interval is statsmodels'
    binomial interval for F*, mapped; conf_int and ``ci=`` reach it through the table."""
    from statsmodels.stats.proportion import proportion_confint

    tp, fp, fn = np.array([5, 0, 12, 40]), np.array([1, 3, 0, 9]), np.array([1, 2, 0, 11])
    for method, sm in (("wilson", "wilson"), ("jeffreys", "jeffreys"), ("exact", "beta")):
        lo, hi = st.f1_ci(tp, tp + fp + fn, 0.9, method)
        plo, phi = proportion_confint(tp, tp + fp + fn, alpha=0.1, method=sm)
        np.testing.assert_allclose(lo, 2 * plo / (1 + plo), atol=1e-12)
        np.testing.assert_allclose(hi, 2 * phi / (1 + phi), atol=1e-12)
    f1 = mreg.get("f1")
    assert f1.interval == "f1"
    est = mreg.point_estimate({"tp": tp, "fp": fp, "fn": fn, "tn": np.full(4, 50.0)}, f1)
    np.testing.assert_allclose(est["value"], 2 * tp / (2 * tp + fp + fn))
    lo, hi = mreg.conf_int(f1, est["value"], est["se"], est["x"], est["den"], 0.9, "jeffreys")
    jlo, jhi = proportion_confint(tp, tp + fp + fn, alpha=0.1, method="jeffreys")
    np.testing.assert_allclose(lo, 2 * jlo / (1 + jlo), atol=1e-12)
    np.testing.assert_allclose(hi, 2 * jhi / (1 + jhi), atol=1e-12)
    lo, hi = mreg.conf_int(f1, est["value"], est["se"], est["x"], est["den"])
    assert lo[1] == 0 < hi[1] and lo[2] < 1 == hi[2]  # F1 = 0 and F1 = 1 get an interval


def _f1_samples(rng, sims: int, n: int, prevalence: float, tpr: float, fpr: float):
    """``sims`` confusion tables of ``n`` rows, as a pre-aggregated frame (one row per
    cell, weight = count), and the population F1."""
    p = np.array([prevalence * tpr, prevalence * (1 - tpr), (1 - prevalence) * fpr])
    p = np.append(p, 1 - p.sum())  # tp, fn, fp, tn
    counts = rng.multinomial(n, p, sims)
    frame = pl.DataFrame(
        {
            "sim": np.repeat(np.arange(sims), 4),
            "y": np.tile([1, 1, 0, 0], sims),
            "p": np.tile([1, 0, 1, 0], sims),
            "w": counts.ravel(),
        }
    )
    return frame, 2 * p[0] / (2 * p[0] + p[1] + p[2])


@pytest.mark.parametrize(
    ("n", "prevalence", "tpr", "fpr", "old"),
    [
        (60, 0.1, 0.7, 0.05, 0.875),  # about six positives, F1 0.65
        (60, 0.1, 0.9, 0.02, 0.805),  # about six positives, F1 0.87
        (30, 0.2, 0.8, 0.05, 0.854),  # about six positives, F1 0.80
        (600, 0.1, 0.7, 0.05, 0.944),  # about 60 positives
    ],
)
def test_f1_interval_coverage_by_simulation(n, prevalence, tpr, fpr, old) -> None:
    """95% F1 intervals cover the population F1 93-98% of the time with about six
    positives and with sixty.

    10,000 samples per setting: MC SE 0.0022 at 0.95. ``old`` is the delta-method
    interval's coverage (F1 +/- 1.96 se, clipped), measured the same way with 20,000
    samples: 0.81-0.88 with six positives. Samples with no positive and no predicted
    positive (F1 undefined; under 1 in 1,000 here) are left out. Where counts are
    moderate the new interval is within 5% of the old one's width.
    """
    sims = 10_000
    frame, truth = _f1_samples(
        np.random.default_rng(n + int(100 * tpr)), sims, n, prevalence, tpr, fpr
    )
    r = ad.disaggregate(frame, y_true="y", y_pred="p", by="sim", metrics=["f1"], weight="w")
    t = r.estimates.filter(pl.col("value").is_not_null())
    assert t.height > 0.999 * sims
    covered = ((t["ci_low"] <= truth) & (t["ci_high"] >= truth)).mean()
    assert 0.93 <= covered <= 0.98, (covered, old)
    if n >= 600:
        z = norm.ppf(0.975)
        old_width = np.minimum(t["value"] + z * t["_se"], 1) - np.maximum(
            t["value"] - z * t["_se"], 0
        )
        ratio = ((t["ci_high"] - t["ci_low"]) / old_width).mean()
        assert abs(ratio - 1) < 0.05, ratio


def test_group_columns_named_like_working_columns() -> None:
    """auc_delong's working columns are named ``_auc*``: groups named ``auc``, ``q`` or
    ``v10`` do not clash with them (they raised DuplicateError before); a name starting
    with ``_`` (``_p``, decay's and coverage's period key) is refused up front."""
    df = _scored_frame(9)
    expected = ad.disaggregate(df, y_true="y", by="g", metrics=["auc"], y_score="s").table
    for name in ("auc", "q", "v10", "n_pos"):
        t = ad.disaggregate(
            df.rename({"g": name}), y_true="y", by=name, metrics=["auc"], y_score="s"
        ).table
        assert t["value"].to_list() == expected["value"].to_list()
    with pytest.raises(InvalidArgumentError, match="starts with '_'"):
        ad.disaggregate(df.rename({"g": "_p"}), y_true="y", by="_p", metrics=["auc"], y_score="s")
