"""ad.compare: version vs baseline, overall and per segment, with the Simpson guard."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest

import aidebt as ad
from aidebt.compare import SimpsonWarning
from aidebt.errors import ColumnNotFoundError, InvalidArgumentError


@pytest.fixture(scope="module")
def logs() -> pl.DataFrame:
    return ad.datasets.demo(n_per_month=3_000, months=3)


def test_demo_prompt_reversal_is_flagged(logs):
    with pytest.warns(SimpsonWarning, match=r"ad\.simpson\(data, outcome='y_true'"):
        c = ad.compare(
            logs,
            version="prompt_version",
            baseline="v1",
            y_true="y_true",
            y_pred="y_pred",
            metrics=["prevalence", "accuracy"],
            by=["tier", "language"],
        )
    row = c.overall.filter(pl.col("metric") == "prevalence").row(0, named=True)
    # Planted: v2 resolves ~4.5 points fewer tickets overall, +2.5 points within every tier.
    assert row["diff"] < 0 and row["diff_ci_high"] < 0
    assert row["adjusted_diff"] > 0
    assert row["simpson"] == "reversal" and row["adjusted_by"] == "tier"
    guard = c.guard.filter(pl.col("metric") == "prevalence")
    verdicts = dict(zip(guard["stratifier"], guard["verdict"], strict=True))
    assert verdicts == {"tier": "reversal", "language": "none"}  # language is independent
    assert c.overall.filter(pl.col("metric") == "accuracy")["simpson"].item() == "none"
    guard_line = next(s for s in c.summary() if s.startswith("Simpson's paradox check"))
    assert "(reversal): on prevalence, v2 against v1 differs by -" in guard_line
    assert "points overall" in guard_line and "reverses once tier is held fixed" in guard_line
    assert "ad.simpson(" not in " ".join(c.summary())  # code goes to notes(), not sentences
    assert any("compare='prompt_version', strata=['tier']" in n for n in c.notes())
    first = c.summary()[0]
    assert first.startswith("Prevalence: v2 ") and " points (95% interval " in first


def test_no_warning_without_reversal(logs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = ad.compare(
            logs, "prompt_version", "v1", "y_true", "y_pred", ["accuracy"], by="language"
        )
    assert c.reversals.is_empty()


def test_matches_direct_two_proportion_comparison(logs):
    c = ad.compare(logs, "prompt_version", "v1", "y_true", "y_pred", ["fnr"], by="tier", warn=False)
    lab = logs.filter(pl.col("y_true") == 1)
    for tier in ["free", "pro", "enterprise"]:
        part = lab.filter(pl.col("tier") == tier)
        x = {v: part.filter(pl.col("prompt_version") == v) for v in ("v1", "v2")}
        fn = {v: float((f["y_pred"] == 0).sum()) for v, f in x.items()}
        n = {v: float(f.height) for v, f in x.items()}
        ref = ad.stats.two_proportions([fn["v2"]], [n["v2"]], [fn["v1"]], [n["v1"]])
        row = c.table.filter(pl.col("tier") == tier).row(0, named=True)
        assert row["value"] == pytest.approx(fn["v2"] / n["v2"])
        assert row["baseline_value"] == pytest.approx(fn["v1"] / n["v1"])
        assert row["diff_ci_low"] == pytest.approx(ref["diff_lo"][0])
        assert row["diff_ci_high"] == pytest.approx(ref["diff_hi"][0])
        assert row["p_value"] == pytest.approx(ref["p"][0])
    # Holm over the 4 tests of the family (overall + 3 tiers).
    p = c.table["p_value"].to_numpy()
    assert np.allclose(c.table["p_adjusted"].to_numpy(), ad.stats.adjust_pvalues(p, "holm"))


def test_verdict_follows_metric_direction():
    # v2 makes more false negatives: worse on fnr, worse on accuracy.
    rows = {
        "v": ["v1"] * 4 + ["v2"] * 4,
        "y": [1, 1, 0, 0] * 2,
        "p": [1, 1, 0, 0, 0, 0, 0, 0],
        "n": [500, 500, 500, 500, 500, 500, 500, 500],
    }
    c = ad.compare(pl.DataFrame(rows), "v", "v1", "y", "p", ["fnr", "accuracy"], weight="n")
    verdicts = dict(zip(c.table["metric"], c.table["verdict"], strict=True))
    assert verdicts == {"fnr": "worse", "accuracy": "worse"}
    assert c.table["baseline"].unique().to_list() == ["v1"]


def test_weights_equal_rows(logs):
    agg = (
        logs.group_by("prompt_version", "tier", "y_true", "y_pred")
        .agg(n=pl.len())
        .filter(pl.col("y_true").is_not_null())
    )
    raw = logs.filter(pl.col("y_true").is_not_null())
    a = ad.compare(
        agg, "prompt_version", "v1", "y_true", "y_pred", ["accuracy"], "tier", weight="n"
    )
    b = ad.compare(raw, "prompt_version", "v1", "y_true", "y_pred", ["accuracy"], "tier")
    cols = ["value", "diff", "diff_ci_low", "diff_ci_high", "adjusted_diff"]
    assert np.allclose(
        a.table.select(cols).fill_null(0).to_numpy(), b.table.select(cols).fill_null(0).to_numpy()
    )


def test_default_baseline_and_several_versions():
    df = pl.DataFrame(
        {"ver": ["b", "a", "c"] * 200, "y": [1, 0, 1, 1, 0, 0] * 100, "p": [1, 0] * 300}
    )
    c = ad.compare(df, "ver", y_true="y", y_pred="p", metrics="accuracy")
    assert c.baseline == "a"
    assert sorted(c.table["ver"].to_list()) == ["b", "c"]
    assert c.guard.is_empty() and c.table["simpson"].is_null().all()


def test_guard_is_the_mantel_haenszel_risk_difference(logs):
    c = ad.compare(
        logs, "prompt_version", "v1", "y_true", metrics=["prevalence"], by="tier", warn=False
    )
    lab = logs.filter(pl.col("y_true").is_not_null())
    a, n1, x0, n0 = [], [], [], []
    for tier in ["free", "pro", "enterprise"]:
        part = lab.filter(pl.col("tier") == tier)
        v2 = part.filter(pl.col("prompt_version") == "v2")["y_true"]
        v1 = part.filter(pl.col("prompt_version") == "v1")["y_true"]
        a.append(v2.sum()), n1.append(v2.len()), x0.append(v1.sum()), n0.append(v1.len())
    a, n1, x0, n0 = (np.array(v, float) for v in (a, n1, x0, n0))
    big = n1 + n0
    textbook = ((a * n0 - x0 * n1) / big).sum() / (n1 * n0 / big).sum()
    row = c.guard.row(0, named=True)
    assert row["adjusted_diff"] == pytest.approx(textbook)
    assert row["strata"] == 3
    ref = ad.stats.mh_risk_difference(a, n1, x0, n0)
    assert row["adjusted_ci_low"] == pytest.approx(ref["lo"])


def test_mean_metric_guard_and_no_guard_for_f1():
    rng = np.random.default_rng(1)
    n = 4000
    g = rng.choice(["a", "b"], n)
    v = np.where(g == "a", rng.random(n) < 0.8, rng.random(n) < 0.2)
    y = np.where(g == "a", 1.0, 5.0) + np.where(v, 0.5, 0.0) + rng.normal(0, 1, n)
    df = pl.DataFrame({"v": np.where(v, "new", "old"), "g": g, "y": y})
    c = ad.compare(df, "v", "old", y_true="y", metrics=["mean"], by="g", warn=False)
    row = c.overall.row(0, named=True)
    # new serves mostly the low-outcome segment: lower overall, +0.5 within segments
    assert row["diff"] < 0 and row["adjusted_diff"] == pytest.approx(0.5, abs=0.15)
    assert row["simpson"] == "reversal"
    df2 = df.with_columns(yy=(pl.col("y") > 3).cast(pl.Int8), pp=(pl.col("y") > 2.5).cast(pl.Int8))
    c2 = ad.compare(df2, "v", "old", "yy", "pp", ["f1"], by="g", warn=False)
    assert c2.guard.is_empty() and c2.overall["simpson"].is_null().all()


def test_guard_agrees_with_simpson(logs):
    c = ad.compare(
        logs,
        "prompt_version",
        "v1",
        "y_true",
        metrics=["prevalence"],
        by=["tier", "channel"],
        warn=False,
    )
    s = ad.simpson(
        logs, outcome="y_true", compare="prompt_version", strata=["tier", "channel"], baseline="v1"
    )
    ours = dict(zip(c.guard["stratifier"], c.guard["verdict"], strict=True))
    theirs = dict(zip(s.table["stratifier"], s.table["verdict"], strict=True))
    assert ours == theirs == {"tier": "reversal", "channel": "none"}
    a = c.guard.filter(pl.col("stratifier") == "tier")["adjusted_diff"].item()
    b = s.table.filter(pl.col("stratifier") == "tier")["adjusted_diff"].item()
    assert a == pytest.approx(b)


def test_bad_input_messages(logs):
    with pytest.raises(InvalidArgumentError, match=r"baseline='v3'.*'v1'"):
        ad.compare(logs, "prompt_version", "v3", "y_true", "y_pred")
    with pytest.raises(ColumnNotFoundError, match="prompt_versoin"):
        ad.compare(logs, "prompt_versoin", "v1", "y_true", "y_pred")
    with pytest.raises(InvalidArgumentError, match="acurracy"):
        ad.compare(logs, "prompt_version", "v1", "y_true", "y_pred", ["acurracy"])
    with pytest.raises(InvalidArgumentError, match="only the baseline"):
        ad.compare(
            logs.filter(pl.col("prompt_version") == "v1"),
            "prompt_version",
            "v1",
            "y_true",
            "y_pred",
        )
    with pytest.raises(InvalidArgumentError, match="version column"):
        ad.compare(logs, "prompt_version", "v1", "y_true", "y_pred", by="prompt_version")


def test_display_and_chart(logs):
    c = ad.compare(
        logs,
        "prompt_version",
        "v1",
        "y_true",
        "y_pred",
        ["prevalence", "fnr"],
        by="tier",
        warn=False,
    )
    html = c._repr_html_()
    assert "Version comparison" in html and "reversal" in html
    spec = c.chart().to_dict()
    assert "facet" in spec
    assert c.to_pandas().shape[0] == c.table.height


def test_segment_missing_baseline_is_noted():
    df = pl.DataFrame(
        {
            "v": ["v1"] * 40 + ["v2"] * 60,
            "g": ["a"] * 40 + ["a"] * 40 + ["b"] * 20,
            "y": [1, 0] * 50,
            "p": [1, 1, 0, 0] * 25,
        }
    )
    c = ad.compare(df, "v", "v1", "y", "p", ["accuracy"], by="g", warn=False)
    row = c.table.filter(pl.col("g") == "b").row(0, named=True)
    assert row["diff"] is None and "baseline" in row["note"]
    assert row["small_n"]


def _two_arms(rng, n, share_hard_new, effect=0.0, strata=("easy", "mid", "hard")):
    """Rows of two versions over segments of different difficulty; ``new`` is served the
    hard segment with probability ``share_hard_new`` (the baseline a third of the time)."""
    rate = {"easy": 0.9, "mid": 0.7, "hard": 0.4}
    version = rng.choice(["old", "new"], n)
    seg = np.where(
        (version == "new") & (rng.random(n) < share_hard_new),
        "hard",
        rng.choice(list(strata), n),
    )
    p = np.array([rate[s] for s in seg]) + np.where(version == "new", effect, 0.0)
    return pl.DataFrame(
        {
            "v": version,
            "seg": seg,
            "region": rng.choice(["n", "s", "e", "w"], n),
            "y": (rng.random(n) < p).astype(np.int8),
        }
    )


def test_guard_is_the_shift_test_holm_adjusted():
    """The guard's shift test is stats.adjustment_shift on the per-segment sums, its
    p-value Holm-adjusted over every guard row; a planted reversal is flagged (new is 4
    points better within every segment, served the hard one 60% of the time)."""
    df = _two_arms(np.random.default_rng(3), 6_000, 0.6, effect=0.04)
    with pytest.warns(SimpsonWarning, match="reverses once seg is held fixed"):
        c = ad.compare(df, "v", "old", y_true="y", metrics=["prevalence"], by=["seg", "region"])
    guard = c.guard.sort("stratifier")
    sums = df.group_by("v", "seg").agg(pl.col("y").sum().alias("s"), pl.len().alias("n"))
    arm = {
        v: sums.filter(pl.col("v") == v).sort("seg")[["s", "n"]].to_numpy().T.astype(float)
        for v in ("new", "old")
    }
    (s1, n1), (s0, n0) = arm["new"], arm["old"]
    ref = ad.stats.adjustment_shift(s1, s1, n1, s0, s0, n0)
    row = guard.filter(pl.col("stratifier") == "seg").row(0, named=True)
    assert row["shift_se"] == pytest.approx(ref["se"], rel=1e-12)
    assert row["shift"] == pytest.approx(ref["shift"], rel=1e-9)
    raw = [ref["p"], None]
    region = guard.filter(pl.col("stratifier") == "region").row(0, named=True)
    sums_r = df.group_by("v", "region").agg(pl.col("y").sum().alias("s"), pl.len().alias("n"))
    arm_r = {
        v: sums_r.filter(pl.col("v") == v).sort("region")[["s", "n"]].to_numpy().T.astype(float)
        for v in ("new", "old")
    }
    raw[1] = ad.stats.adjustment_shift(*arm_r["new"][[0, 0, 1]], *arm_r["old"][[0, 0, 1]])["p"]
    holm = ad.stats.adjust_pvalues(np.array(raw), "holm")
    assert guard["shift_p"].to_list() == pytest.approx([holm[1], holm[0]], rel=1e-12)
    assert row["verdict"] == "reversal" and region["verdict"] == "none"
    assert c.overall["simpson"].item() == "reversal"


@pytest.mark.slow
def test_guard_false_flags_under_the_null():
    """Versions served the same mix of segments (any difference between them is real, none
    comes from the mix): the guard flags a table (any verdict but none, over two segment
    columns and two metrics: a family of 4 shift tests, Holm-adjusted) at most at the
    nominal 5%. 300 seeded tables of 1,500 rows: Monte Carlo SE about 1.3 points at 5%."""
    rng = np.random.default_rng(11)
    sims, flagged = 300, 0
    for _ in range(sims):
        df = _two_arms(rng, 1_500, 0.0, effect=0.03)  # the same mix in both arms
        df = df.with_columns(p=(pl.col("y") == 1) | (pl.col("region") == "n"))
        c = ad.compare(
            df,
            "v",
            "old",
            y_true="y",
            y_pred="p",
            metrics=["prevalence", "accuracy"],
            by=["seg", "region"],
            warn=False,
        )
        assert c.guard.height == 4
        flagged += bool((c.guard["verdict"] != "none").any())
    rate = flagged / sims
    se = np.sqrt(0.05 * 0.95 / sims)
    print(f"\nguard false-flag rate under the null: {rate:.3f} (MC SE {se:.3f})")
    assert rate <= 0.05 + 2 * se
