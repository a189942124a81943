"""aidebt.fairness: values against fairlearn, interval coverage, calibration, bad input."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst
from scipy.special import expit, logit

from aidebt import aggregate
from aidebt.errors import ColumnNotFoundError, InvalidArgumentError, InvalidValueError
from aidebt.fairness import (
    SCORE_BIN,
    calibration_tests,
    ece_for,
    estimate_ece,
    fairness,
    fairness_from_stats,
    judge,
    max_gap_interval,
    score_bin_key,
)

fm = pytest.importorskip("fairlearn.metrics")

FAIRLEARN = {
    "demographic_parity_difference": fm.demographic_parity_difference,
    "demographic_parity_ratio": fm.demographic_parity_ratio,
    "equalized_odds_difference": fm.equalized_odds_difference,
    "equalized_odds_ratio": fm.equalized_odds_ratio,
    "equal_opportunity_difference": fm.equal_opportunity_difference,
}


def _value(fr, attribute: str, summary: str) -> float | None:
    row = fr.table.filter((pl.col("attribute") == attribute) & (pl.col("summary") == summary))
    return row["value"].item()


def _assert_equals_fairlearn(fr, df: pl.DataFrame, attribute: str, sensitive, weight=None):
    pdf = df.to_pandas()
    sw = None if weight is None else pdf[weight].to_numpy()
    features = pdf[sensitive] if isinstance(sensitive, list) else pdf[sensitive]
    for name, fn in FAIRLEARN.items():
        ref = float(fn(pdf["y"], pdf["p"], sensitive_features=features, sample_weight=sw))
        ours = _value(fr, attribute, name)
        if np.isnan(ref):
            assert ours is None, name
        else:
            assert ours == pytest.approx(ref, abs=1e-12, rel=0), (attribute, name)


def _random_rows(seed: int, n: int, groups: int, weighted: bool) -> pl.DataFrame:
    """Rows with every group holding both labels (fairlearn then has the same groups)."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    h = rng.integers(0, 2, n)
    y = rng.integers(0, 2, n)
    # Guarantee a positive and a negative in every group and every (g, h) cell.
    cells = [(a, b) for a in range(groups) for b in range(2)]
    g = np.concatenate([g, [a for a, _ in cells] * 2])
    h = np.concatenate([h, [b for _, b in cells] * 2])
    y = np.concatenate([y, [1] * len(cells) + [0] * len(cells)])
    bias = rng.uniform(0.2, 0.8, groups)
    p = (rng.random(len(y)) < np.where(y == 1, bias[g] + 0.15, bias[g] - 0.15)).astype(int)
    df = pl.DataFrame({"g": [f"g{v}" for v in g], "h": [f"h{v}" for v in h], "y": y, "p": p})
    if weighted:
        df = df.with_columns(w=pl.Series(rng.integers(1, 5, len(y))))
    return df


# --------------------------------------------------------------------------------------
# Values equal fairlearn's
# --------------------------------------------------------------------------------------
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=hst.integers(0, 100_000),
    n=hst.integers(10, 400),
    groups=hst.integers(2, 6),
    weighted=hst.booleans(),
)
def test_values_equal_fairlearn_on_random_inputs(seed, n, groups, weighted) -> None:
    df = _random_rows(seed, n, groups, weighted)
    w = "w" if weighted else None
    fr = fairness(
        df, y_true="y", y_pred="p", by=["g", "h"], weight=w, intersections=True, n_boot=200
    )
    _assert_equals_fairlearn(fr, df, "g", "g", w)
    _assert_equals_fairlearn(fr, df, "h", "h", w)
    _assert_equals_fairlearn(fr, df, "g × h", ["g", "h"], w)
    # fpr_difference is fairlearn's FPR difference (its equalized-odds component).
    pdf = df.to_pandas()
    mf = fm.MetricFrame(
        metrics=fm.false_positive_rate,
        y_true=pdf["y"],
        y_pred=pdf["p"],
        sensitive_features=pdf["g"],
        sample_params={"sample_weight": pdf[w].to_numpy()} if w else None,
    )
    assert _value(fr, "g", "fpr_difference") == pytest.approx(mf.difference(), abs=1e-12)


@pytest.fixture(scope="module")
def affairs() -> pl.DataFrame:
    """Fair's (1978) affairs survey, shipped with statsmodels: 6,366 women.

    Outcome: had an affair; decision: a logistic model's prediction above 0.35; sensitive
    attributes: religiousness (4 groups) and occupation (6 groups).
    """
    import statsmodels.api as sm
    from statsmodels.datasets import fair

    data = fair.load_pandas().data
    y = (data["affairs"] > 0).astype(int).to_numpy()
    x = sm.add_constant(data[["rate_marriage", "age", "yrs_married", "children", "educ"]])
    score = sm.Logit(y, x).fit(disp=0).predict(x).to_numpy()
    return pl.DataFrame(
        {
            "religious": data["religious"].astype(int).astype(str).to_numpy(),
            "occupation": data["occupation"].astype(int).astype(str).to_numpy(),
            "y": y,
            "p": (score > 0.35).astype(int),
            "score": score,
        }
    )


def test_values_equal_fairlearn_on_the_affairs_data(affairs) -> None:
    fr = fairness(
        affairs,
        y_true="y",
        y_pred="p",
        by=["religious", "occupation"],
        y_score="score",
        intersections=True,
    )
    _assert_equals_fairlearn(fr, affairs, "religious", "religious")
    _assert_equals_fairlearn(fr, affairs, "occupation", "occupation")
    _assert_equals_fairlearn(fr, affairs, "religious × occupation", ["religious", "occupation"])
    # The same answer from a pre-aggregated table with frequency weights.
    counts = affairs.group_by("religious", "occupation", "y", "p").len("n")
    weighted = fairness(counts, y_true="y", y_pred="p", by=["religious", "occupation"], weight="n")
    for name in FAIRLEARN:
        assert _value(weighted, "occupation", name) == pytest.approx(
            _value(fr, "occupation", name), abs=1e-12
        )
    # Several groups, a real gap: the intervals hold the values.
    t = fr.table.filter(pl.col("value").is_not_null())
    assert (t["ci_low"] <= t["value"]).all() and (t["value"] <= t["ci_high"]).all()
    assert fr.table.filter(pl.col("attribute") == "occupation")["groups"].unique().to_list() == [6]


def test_from_stats_equals_rows(affairs) -> None:
    by = ["religious", "occupation"]
    fr = fairness(affairs, y_true="y", y_pred="p", by=by, n_boot=400, seed=3)
    stats = aggregate.sufficient_stats(affairs, by, aggregate.Roles(y_true="y", y_pred="p"))
    again = fairness_from_stats(stats, by, n_boot=400, seed=3)
    assert fr.table.equals(again.table)
    assert fr.four_fifths.equals(again.four_fifths)


def test_engines_agree(affairs) -> None:
    duckdb = pytest.importorskip("duckdb")
    kw = dict(y_true="y", y_pred="p", by=["religious", "occupation"], y_score="score", n_boot=300)
    ref = fairness(affairs, **kw)
    for data in (affairs.lazy(), affairs.to_pandas(), duckdb.from_arrow(affairs.to_arrow())):
        other = fairness(data, **kw)
        for a, b in ((ref.table, other.table), (ref.calibration, other.calibration)):
            assert a.columns == b.columns
            for col in a.columns:
                if a.schema[col] == pl.Float64:
                    np.testing.assert_allclose(
                        a[col].to_numpy(), b[col].to_numpy(), rtol=1e-9, atol=1e-12
                    )
                else:
                    assert a[col].to_list() == b[col].to_list(), col


# --------------------------------------------------------------------------------------
# Interval coverage (simulation)
# --------------------------------------------------------------------------------------
def _coverage(p, n, *, ratio=False, reps=400, seed=0):
    """Coverage of max_gap_interval over ``reps`` simulated data sets (one batched call).

    ``p`` holds the true rates, one row per family (TPR and FPR for equalized odds).
    """
    rng = np.random.default_rng(seed)
    p = np.atleast_2d(np.asarray(p, dtype=float))
    x = rng.binomial(n, np.broadcast_to(p, (reps, *p.shape))).astype(float)
    res = max_gap_interval(x, np.full(x.shape, float(n)), ratio=ratio, n_boot=1000, seed=rng)
    if ratio:
        truth = (p.min(axis=-1) / p.max(axis=-1)).min()
    else:
        truth = (p.max(axis=-1) - p.min(axis=-1)).max()
    covered = (res["lo"] <= truth + 1e-12) & (truth - 1e-12 <= res["hi"])
    return covered.mean(), res, truth


_SE = np.sqrt(0.95 * 0.05 / 400)  # Monte Carlo SE of a coverage near 95% with 400 reps


@pytest.mark.slow
@pytest.mark.parametrize("groups", [3, 6, 12])
def test_gap_interval_coverage(groups) -> None:
    """95% intervals of the demographic-parity difference cover at >= 95% - 3 MC SE.

    Configurations: all groups equal (the plug-in is biased away from 0 there), one group
    3 standard errors off, rates spread evenly over 4 standard errors, one group far off
    (12 standard errors). 400 replicates each: MC SE of a 95% coverage is 1.1 points.
    """
    n = 200
    se = np.sqrt(0.3 * 0.7 / n)
    configs = {
        "equal": [0.3] * groups,
        "one_off": [0.3] * (groups - 1) + [0.3 + 3 * se],
        "graded": list(np.linspace(0.3, 0.3 + 4 * se, groups)),
        "one_far": [0.3] * (groups - 1) + [0.3 + 12 * se],
    }
    for name, p in configs.items():
        cov, res, truth = _coverage(p, n, seed=groups)
        assert cov >= 0.95 - 3 * _SE, (groups, name, cov)
        if name == "equal":
            # The plug-in gap is biased away from 0, and the bootstrap sees part of it.
            assert res["value"].mean() > 2 * se / np.sqrt(2)
            assert res["bias"].mean() > 0
        if name == "one_far":
            # Informative where the gap is real: the lower end clears 0 almost always.
            assert (res["lo"] > 0).mean() > 0.99


@pytest.mark.slow
def test_ratio_and_equalized_odds_coverage() -> None:
    n = 300
    for p in ([0.4] * 6, [0.4] * 5 + [0.25], list(np.linspace(0.3, 0.45, 6))):
        cov, _, _ = _coverage(p, n, ratio=True, seed=11)
        assert cov >= 0.95 - 3 * _SE, (p, cov)
    # Equalized odds: TPR and FPR families together (the larger of the two gaps).
    for tpr, fpr in (
        ([0.8] * 4, [0.2] * 4),
        ([0.8, 0.8, 0.8, 0.7], [0.2, 0.2, 0.2, 0.28]),
        ([0.8, 0.8, 0.8, 0.6], [0.2] * 4),
    ):
        cov, _, _ = _coverage([tpr, fpr], n, seed=12)
        assert cov >= 0.95 - 3 * _SE, (tpr, fpr, cov)


def test_plain_gap_interval_is_wald_when_one_pair_dominates() -> None:
    """Two groups far apart: the interval is close to the usual two-proportion interval."""
    r = max_gap_interval([[400, 600]], [[1000, 1000]], n_boot=4000, seed=1)
    assert r["value"] == pytest.approx(0.2)
    se = np.sqrt(0.4 * 0.6 / 1000 + 0.6 * 0.4 / 1000)
    assert r["hi"] == pytest.approx(0.2 + 1.96 * se, abs=2e-3)
    assert r["lo"] == pytest.approx(0.2 - 2.05 * se, abs=4e-3)  # level 1 - alpha/2 + beta
    assert int(r["imax"]) == 1 and int(r["imin"]) == 0


# --------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------
def _scored_rows(seed: int, n: int = 3000, shift: dict | None = None, slope: dict | None = None):
    rng = np.random.default_rng(seed)
    g = rng.choice(["a", "b", "c"], n)
    s = rng.beta(2, 2, n)
    lin = logit(s)
    for grp, d in (shift or {}).items():
        lin = np.where(g == grp, lin + d, lin)
    for grp, b in (slope or {}).items():
        lin = np.where(g == grp, b * logit(s), lin)
    y = (rng.random(n) < expit(lin)).astype(float)
    y[rng.random(n) < 0.05] = np.nan  # unlabeled rows
    s[rng.random(n) < 0.03] = np.nan  # rows without a score
    return pl.DataFrame({"g": g, "y": y, "p": (s > 0.5).astype(int), "s": s}).with_columns(
        pl.col("y").fill_nan(None), pl.col("s").fill_nan(None)
    )


def test_ece_and_reliability_equal_a_direct_computation() -> None:
    df = _scored_rows(5)
    edges = [0, 0.1, 0.25, 0.5, 0.6, 0.9, 1]
    fr = fairness(df, y_true="y", y_pred="p", by="g", y_score="s", bins=edges, n_boot=300)
    rel = fr.reliability
    for grp in ("a", "b", "c"):
        part = df.filter(
            (pl.col("g") == grp) & pl.col("y").is_not_null() & pl.col("s").is_not_null()
        )
        s, y = part["s"].to_numpy(), part["y"].to_numpy()
        b = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, len(edges) - 2)
        ece = 0.0
        rows = rel.filter(pl.col("group") == grp).sort("bin")
        assert rows["bin"].to_list() == sorted(set(b.tolist()))
        for k, r in zip(rows["bin"].to_list(), rows.iter_rows(named=True), strict=True):
            sel = b == k
            assert r["n"] == sel.sum()
            assert r["mean_score"] == pytest.approx(s[sel].mean(), abs=1e-12)
            assert r["observed"] == pytest.approx(y[sel].mean(), abs=1e-12)
            from statsmodels.stats.proportion import proportion_confint

            lo, hi = proportion_confint(y[sel].sum(), sel.sum(), method="wilson")
            assert (r["ci_low"], r["ci_high"]) == pytest.approx((lo, hi), abs=1e-12)
            ece += sel.mean() * abs(y[sel].mean() - s[sel].mean())
        got = fr.calibration.filter(pl.col("group") == grp)["ece"].item()
        assert got == pytest.approx(ece, abs=1e-12)


def test_ece_for_is_the_registry_hook() -> None:
    """ECE aligned to a statistics table's rows (overall and per group), as fairness shows."""
    df = _scored_rows(9)
    roles = aggregate.Roles(y_true="y", y_pred="p", y_score="s")
    key = {SCORE_BIN: score_bin_key(df, "s", "y", 10)}
    bins = aggregate.sufficient_stats(df, ["g"], roles, derived_keys=key)
    stats = aggregate.rollup(bins, ["g", SCORE_BIN], ["g"]).sort("g", descending=True)
    est = ece_for(stats, ["g"], bins, n_boot=300)
    fr = fairness(df, y_true="y", y_pred="p", by="g", y_score="s", n_boot=300)
    want = fr.calibration.sort("group", descending=True)["ece"].to_numpy()
    np.testing.assert_allclose(est["value"], want, rtol=0, atol=1e-12)
    overall = ece_for(pl.DataFrame(), [], aggregate.rollup(bins, ["g", SCORE_BIN], [SCORE_BIN]))
    assert overall["value"].shape == (1,) and 0 < overall["value"][0] < 0.1


@pytest.mark.slow
def test_ece_interval_coverage() -> None:
    """Scores fixed, labels redrawn: 95% ECE intervals cover the binned ECE of the truth.

    Calibrated (true ECE 0: the plug-in is biased upward) and miscalibrated groups; 400
    replicates each (MC SE 1.1 points).
    """
    rng = np.random.default_rng(21)
    edges = np.linspace(0, 1, 11)
    for truth_fn in (lambda s: s, lambda s: expit(logit(s) + 0.3), lambda s: expit(0.7 * logit(s))):
        s = rng.beta(2, 2, 1500)
        b = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, 9)
        q = truth_fn(s)
        size = np.bincount(b, minlength=10).astype(float)
        ssum = np.bincount(b, weights=s, minlength=10)
        qsum = np.bincount(b, weights=q, minlength=10)
        truth = (size / size.sum() * np.abs(qsum - ssum) / np.maximum(size, 1)).sum()
        y = rng.random((400, len(s))) < q
        pos = np.stack([np.bincount(b, weights=row, minlength=10) for row in y])
        est = estimate_ece(
            np.broadcast_to(size, pos.shape), pos, np.broadcast_to(ssum, pos.shape), seed=rng
        )
        cov = ((est["lo"] <= truth + 1e-12) & (truth <= est["hi"] + 1e-12)).mean()
        assert cov >= 0.95 - 3 * _SE, (truth, cov)
        if truth == 0:
            assert est["value"].mean() > 0.01 and est["bias"].mean() > 0


def _calibration_sim(reps: int, seed: int, shift=None, slope=None) -> np.ndarray:
    """Per replicate: flags of groups a-f (miscalibrated) and raw p-values of both tests."""
    rng = np.random.default_rng(seed)
    groups = list("abcdef")
    flags, raw = [], []
    for _ in range(reps):
        frames = []
        for grp in groups:
            s = rng.beta(2, 3, 1500)
            lin = logit(s) + (shift or {}).get(grp, 0.0)
            lin = (slope or {}).get(grp, 1.0) * logit(s) if slope and grp in slope else lin
            y = rng.random(1500) < expit(lin)
            b = np.clip((s * 10).astype(int), 0, 9)
            frames.append(
                pl.DataFrame(
                    {
                        "g": grp,
                        SCORE_BIN: np.arange(10),
                        "labeled": np.bincount(b, minlength=10).astype(float),
                        "pos": np.bincount(b, weights=y, minlength=10),
                        "score_sum": np.bincount(b, weights=s, minlength=10),
                    }
                )
            )
        t = calibration_tests(pl.concat(frames), ["g"])
        flags.append(t["miscalibrated"].to_numpy())
        raw.append(np.stack([t["citl_p"].to_numpy(), t["slope_p"].to_numpy()]))
    return np.array(flags), np.array(raw)


@pytest.mark.slow
def test_calibration_tests_size_and_power() -> None:
    """Size on calibrated scores and power against a planted miscalibration.

    300 replicates of 6 groups x 1,500 rows. Raw tests: 1,800 p-values each, MC SE of a
    5% rejection rate 0.51 points; family-wise (Holm over 12 tests): MC SE 1.3 points.
    """
    flags, raw = _calibration_sim(300, seed=1)
    for k in range(2):
        rate = (raw[:, k] < 0.05).mean()
        assert rate <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 1800), (k, rate)
        assert rate >= 0.02  # not degenerate: the test does reject under the null
    family = flags.any(axis=1).mean()
    assert family <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 300)
    # Planted: group c's outcomes sit 0.35 above its scores on the logit scale.
    flags, _ = _calibration_sim(100, seed=2, shift={"c": 0.35})
    assert flags[:, 2].mean() >= 0.9
    assert np.delete(flags, 2, axis=1).any(axis=1).mean() <= 0.05 + 3 * np.sqrt(0.0475 / 100)
    # Planted: group e's scores are too extreme (true slope 0.7 on the logit scale).
    flags, _ = _calibration_sim(100, seed=3, slope={"e": 0.7})
    assert flags[:, 4].mean() >= 0.9


def test_calibration_flags_the_planted_group_in_the_result() -> None:
    df = _scored_rows(8, n=9000, shift={"b": 0.6}).rename({"g": "group"})
    fr = fairness(df, y_true="y", y_pred="p", by="group", y_score="s", n_boot=300)
    flagged = fr.calibration.filter(pl.col("miscalibrated"))["group"].to_list()
    assert flagged == ["b"]
    assert any("miscalibrated in 1 of 3 groups; worst: b" in line for line in fr.summary())
    chart = fr.reliability_chart().to_dict()
    assert chart["facet"]["column"]["field"] == "attribute"


# --------------------------------------------------------------------------------------
# Verdicts, words, gates
# --------------------------------------------------------------------------------------
def _sums(f_rate, m_rate, n_f=4000, n_m=4000):
    return pl.DataFrame(
        {
            "sex": ["F", "M"],
            "n": [float(n_f), float(n_m)],
            "pred_pos": [f_rate * n_f, m_rate * n_m],
        }
    )


@pytest.mark.parametrize(
    ("f_rate", "verdict"), [(0.45, "meets"), (0.30, "fails"), (0.40, "inconclusive")]
)
def test_four_fifths_verdicts(f_rate, verdict) -> None:
    n = 200 if verdict == "inconclusive" else 4000
    fr = fairness_from_stats(_sums(f_rate, 0.5, n, n), "sex", n_boot=1000)
    row = fr.four_fifths.row(0, named=True)
    assert row["verdict"] == verdict
    assert (row["lowest_group"], row["highest_group"]) == ("F", "M")
    line = fr.summary()[0]
    assert "F" in line and "M" in line and "four-fifths" in line
    for bad in ("None", "nan", "[", "{", "_"):
        assert bad not in line


def test_summary_headline_and_chart(affairs) -> None:
    fr = fairness(affairs, y_true="y", y_pred="p", by=["religious", "occupation"], n_boot=400)
    text = " ".join(fr.summary() + fr.notes())
    for bad in ("None", "nan", "{", "_"):
        assert bad not in text
    assert "largest gap" in text
    head = fr.headline()
    assert str(head).endswith(".") and "four-fifths" in str(head)
    assert head.figures["four_fifths[occupation]"] in ("meets", "fails", "inconclusive")
    assert isinstance(head.figures["equalized_odds_difference[religious]"], float)
    words = {"selection_rate": "share hired", "tpr": "detection rate", "fpr": "false-alarm rate"}
    named = fr.headline(metric_names=words).sentence
    assert named.replace("share hired", "selection rate").replace(
        "detection rate", "true-positive rate"
    ).replace("false-alarm rate", "false-positive rate") == str(head)
    spec = fr.chart().to_dict()
    assert spec["facet"]["row"]["field"] == "label"
    with pytest.raises(InvalidArgumentError, match="y_score"):
        fr.calibration  # noqa: B018


def test_judge_on_the_interval() -> None:
    clear = fairness_from_stats(_sums(0.30, 0.5), "sex", n_boot=1000)
    close = fairness_from_stats(_sums(0.41, 0.5, 300, 300), "sex", n_boot=1000)
    r = judge(clear, "demographic_parity_ratio", min=0.8).row(0, named=True)
    assert (r["passed"], r["breach"]) == (False, True) and "lower bound" in r["evidence"]
    r = judge(close, "demographic_parity_ratio", min=0.8).row(0, named=True)
    assert r["value"] > 0.8 and (r["passed"], r["breach"]) == (False, False)
    r = judge(close, "demographic_parity_difference", max=0.3).row(0, named=True)
    assert r["passed"] is True
    with pytest.raises(InvalidArgumentError, match="exactly one bound"):
        judge(clear, "demographic_parity_ratio", min=0.8, max=0.9)
    with pytest.raises(InvalidArgumentError, match="Unknown fairness summary"):
        judge(clear, "parity")


def test_html_escapes_group_names() -> None:
    from tests.conftest import XSS_GROUP

    sums = pl.DataFrame({"g": [XSS_GROUP, "b"], "n": [100.0, 100.0], "pred_pos": [20.0, 60.0]})
    html = fairness_from_stats(sums, "g", n_boot=200)._repr_html_()
    assert XSS_GROUP not in html and "&lt;img" in html


# --------------------------------------------------------------------------------------
# Bad input: clear messages, no NaN in the middle of a table
# --------------------------------------------------------------------------------------
def test_group_without_positives_is_left_out_with_a_note() -> None:
    df = pl.DataFrame(
        {
            "g": ["a"] * 6 + ["b"] * 6 + ["c"] * 4,
            "y": [1, 1, 0, 0, 1, 0] + [1, 0, 0, 1, 1, 0] + [0, 0, 0, 0],
            "p": [1, 0, 0, 1, 1, 0] + [1, 1, 0, 0, 1, 0] + [1, 0, 0, 0],
        }
    )
    fr = fairness(df, y_true="y", y_pred="p", by="g", n_boot=200)
    floats = [c for c, t in fr.table.schema.items() if t == pl.Float64]
    for col in floats:
        assert not fr.table[col].is_nan().any()
    eo = fr.table.filter(pl.col("summary") == "equal_opportunity_difference").row(0, named=True)
    assert eo["groups"] == 2 and eo["value"] is not None
    assert any("c has no labeled positives" in n for n in fr.notes())
    c = fr.groups.filter(pl.col("group") == "c").row(0, named=True)
    assert c["tpr"] is None and c["note"] == "no positives"


def test_undefined_ratio_is_null_with_a_note() -> None:
    sums = pl.DataFrame({"g": ["a", "b"], "n": [50.0, 60.0], "pred_pos": [0.0, 0.0]})
    fr = fairness_from_stats(sums, "g", n_boot=200)
    r = fr.table.filter(pl.col("summary") == "demographic_parity_ratio").row(0, named=True)
    assert r["value"] is None and "undefined" in r["note"]
    assert fr.four_fifths["verdict"].to_list() == ["undefined"]
    assert "cannot be judged" in fr.summary()[0]


def test_bad_input_messages() -> None:
    df = _random_rows(1, 100, 3, False)
    with pytest.raises(InvalidValueError, match="'h'.*single group"):
        fairness(df.filter(pl.col("h") == "h0"), y_true="y", y_pred="p", by=["g", "h"])
    with pytest.raises(ColumnNotFoundError, match="'sex'"):
        fairness(df, y_true="y", y_pred="p", by="sex")
    with pytest.raises(InvalidArgumentError, match="y_true"):
        fairness(df.with_columns(s=pl.lit(0.5)), y_true=None, y_pred="p", by="g", y_score="s")
    with pytest.raises(InvalidArgumentError, match="n_boot"):
        fairness(df, y_true="y", y_pred="p", by="g", n_boot=50)
    with pytest.raises(InvalidValueError, match="outside \\[0, 1\\]"):
        fairness(df.with_columns(s=pl.lit(3.0)), y_true="y", y_pred="p", by="g", y_score="s")
    with pytest.raises(ColumnNotFoundError, match="pred_pos"):
        fairness_from_stats(pl.DataFrame({"g": ["a", "b"], "n": [1.0, 2.0]}), "g")
    with pytest.raises(InvalidArgumentError, match="bins"):
        fairness(
            df.with_columns(s=pl.lit(0.5)), y_true="y", y_pred="p", by="g", y_score="s", bins=1
        )
    # Without labels: demographic parity only, said so.
    fr = fairness(df, y_true=None, y_pred="p", by="g", n_boot=200)
    assert set(fr.table["summary"]) == {"demographic_parity_difference", "demographic_parity_ratio"}
    assert any("needs y_true" in n for n in fr.notes())


def test_score_bin_key_in_every_engine() -> None:
    duckdb = pytest.importorskip("duckdb")
    df = pl.DataFrame({"g": ["a"] * 5, "y": [1, 0, None, 1, 0], "s": [0.0, 0.1, 0.5, None, 1.0]})
    for data in (df, df.to_pandas(), duckdb.from_arrow(df.to_arrow())):
        t = aggregate.sufficient_stats(
            data,
            ["g"],
            aggregate.Roles(y_true="y", y_score="s"),
            derived_keys={SCORE_BIN: score_bin_key(data, "s", "y", 10)},
        )
        assert dict(zip(t[SCORE_BIN].to_list(), t["n"].to_list(), strict=True)) == {
            -1: 2.0,
            0: 1.0,
            1: 1.0,
            9: 1.0,
        }
