"""The ``ece`` metric and ``Disaggregation.fairness()``: one ECE, one pass.

* ``ece`` (sums per score bin in the one pass) equals a direct numpy computation on the
  rows, with weights, unlabeled rows, missing scores and scores on the bin edges; its
  interval is :func:`aidebt.stats.estimate_ece`'s on those sums; every engine agrees;
* ``disaggregate`` and ``decay`` give fairness' per-group ECE and interval;
* ``Disaggregation.fairness()`` equals ``ad.fairness`` on the same rows, with no second pass;
* what ``ece`` does not do (no difference between groups) is said, not silently missing.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import aidebt as ad
from aidebt import aggregate
from aidebt import metrics as mreg
from aidebt import stats as st
from aidebt.errors import InvalidArgumentError, InvalidValueError
from aidebt.policy import parse_policy

EDGES = np.linspace(0, 1, 11)


def _rows(seed: int, n: int = 6_000, weighted: bool = False) -> pl.DataFrame:
    """Three groups, miscalibrated differently; unlabeled rows, rows without a score, and
    scores exactly on the bin edges (0, 0.3, 0.5, 1)."""
    rng = np.random.default_rng(seed)
    g = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    s = rng.beta(2, 3, n)
    s[:40] = np.tile([0.0, 0.3, 0.5, 1.0], 10)
    truth = np.clip(s + np.select([g == "b", g == "c"], [0.08, -0.05], 0.0), 0, 1)
    y = (rng.random(n) < truth).astype(float)
    y[rng.random(n) < 0.07] = np.nan
    s[rng.random(n) < 0.03] = np.nan
    month = rng.integers(1, 4, n)
    df = pl.DataFrame(
        {
            "g": g,
            "h": rng.choice(["x", "y"], n),
            "ts": [dt.datetime(2026, int(m), 10) for m in month],
            "y": y,
            "p": (np.nan_to_num(s) > 0.45).astype(int),
            "s": s,
        }
    ).with_columns(pl.col("y").fill_nan(None), pl.col("s").fill_nan(None))
    if weighted:
        df = df.with_columns(w=pl.Series(rng.integers(1, 4, n)))
    return df


def _direct(part: pl.DataFrame, weight: str | None = None):
    """ECE, its standard error and the per-bin sums, straight from the rows in numpy."""
    part = part.filter(pl.col("y").is_not_null() & pl.col("s").is_not_null())
    s, y = part["s"].to_numpy(), part["y"].to_numpy()
    w = part[weight].to_numpy().astype(float) if weight else np.ones(len(s))
    b = np.clip(np.searchsorted(EDGES, s, side="right") - 1, 0, 9)  # [e_k, e_k+1), 1 in 9
    n = np.bincount(b, weights=w, minlength=10)
    pos = np.bincount(b, weights=w * y, minlength=10)
    ssum = np.bincount(b, weights=w * s, minlength=10)
    total = n.sum()
    used = n > 0
    ece = sum(n[k] / total * abs(pos[k] / n[k] - ssum[k] / n[k]) for k in np.nonzero(used)[0])
    pt = (pos[used] + 0.5) / (n[used] + 1)
    se = np.sqrt(np.sum((n[used] / total) ** 2 * pt * (1 - pt) / n[used]))
    return ece, se, (n, pos, ssum)


@pytest.mark.parametrize("weighted", [False, True])
def test_ece_equals_a_direct_computation(weighted):
    df = _rows(1, weighted=weighted)
    w = "w" if weighted else None
    r = ad.disaggregate(
        df, y_true="y", y_pred="p", y_score="s", by="g", metrics=["ece"], weight=w, min_n=0
    )
    for grp in ("a", "b", "c"):
        got = r.estimates.filter(pl.col("g") == grp).row(0, named=True)
        ece, se, (n, pos, ssum) = _direct(df.filter(pl.col("g") == grp), w)
        assert got["value"] == pytest.approx(ece, abs=1e-12)
        assert got["_se"] == pytest.approx(se, abs=1e-12)
        assert got["n"] == n.sum()
        # the interval is stats' on the same sums (seeded per row: reproducible exactly)
        ref = st.estimate_ece(n[None], pos[None], ssum[None])
        assert (got["ci_low"], got["ci_high"]) == pytest.approx(
            (ref["lo"][0], ref["hi"][0]), abs=1e-12
        )
        assert got["ci_low"] < got["value"] < got["ci_high"]
    ece, _, _ = _direct(df, w)
    assert r.overall.filter(metric="ece")["value"].item() == pytest.approx(ece, abs=1e-12)


def test_the_per_bin_sums_are_the_sums_of_the_rows():
    df = _rows(2)
    roles = aggregate.Roles(y_true="y", y_score="s")
    stats = aggregate.sufficient_stats(df, ["g"], roles, need={aggregate.CALIBRATION})
    long = aggregate.calibration_table(stats, ["g"])
    for grp in ("a", "b", "c"):
        _, _, (n, pos, ssum) = _direct(df.filter(pl.col("g") == grp))
        part = long.filter(pl.col("g") == grp).sort(st.SCORE_BIN)
        np.testing.assert_allclose(part["labeled"], n, rtol=0, atol=1e-9)
        np.testing.assert_allclose(part["pos"], pos, rtol=0, atol=1e-9)
        np.testing.assert_allclose(part["score_sum"], ssum, rtol=0, atol=1e-9)
    # without the ece metric the pass adds none of them
    plain = aggregate.sufficient_stats(df, ["g"], roles)
    assert not [c for c in plain.columns if c.startswith("cal_")]


def test_every_engine_gives_the_same_ece():
    import duckdb

    df = _rows(3, n=2_000, weighted=True)
    kw = dict(y_true="y", y_pred="p", y_score="s", by="g", metrics=["ece"], weight="w")
    want = ad.disaggregate(df, **kw).table.select("g", "value", "ci_low", "ci_high", "n")
    con = duckdb.connect()
    for data in (df.lazy(), df.to_pandas(), df.to_arrow(), con.from_arrow(df.to_arrow())):
        got = ad.disaggregate(data, **kw).table.select("g", "value", "ci_low", "ci_high", "n")
        assert_frame_equal(got, want, rel_tol=1e-12, abs_tol=1e-14)


def test_disaggregate_and_decay_give_fairness_per_group_ece():
    df = _rows(4)
    fr = ad.fairness(df, y_true="y", y_pred="p", by="g", y_score="s", n_boot=2000)
    cal = fr.calibration.sort("group")
    r = ad.disaggregate(df, y_true="y", y_pred="p", y_score="s", by="g", metrics=["ece"])
    t = r.table.sort("g")
    np.testing.assert_allclose(t["value"], cal["ece"], rtol=0, atol=1e-12)
    # the same interval: fairness' ECE is the registry's (seed 0, 2,000 draws, per group)
    np.testing.assert_allclose(t["ci_low"], cal["ece_ci_low"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(t["ci_high"], cal["ece_ci_high"], rtol=0, atol=1e-12)
    # decay: one curve per group, each month's value is fairness' on that month's rows
    d = ad.decay(df, "ts", "y", "p", "ece", by="g", y_score="s")
    for month in (1, 2, 3):
        rows = df.filter(pl.col("ts").dt.month() == month)
        want = ad.fairness(rows, y_true="y", y_pred="p", by="g", y_score="s", n_boot=2000)
        want = want.calibration.sort("group")
        got = d.table.filter(pl.col("period") == dt.date(2026, month, 1)).sort("g")
        np.testing.assert_allclose(got["value"], want["ece"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(got["ci_high"], want["ece_ci_high"], rtol=0, atol=1e-12)
    # the trend of a non-binomial metric is a weighted linear fit on values and SEs
    assert d.fit().table["model"].unique().to_list() == ["linear"]


def test_ece_has_no_difference_and_says_why():
    df = _rows(5)
    r = ad.disaggregate(df, y_true="y", y_pred="p", y_score="s", by="g", metrics=["ece", "fpr"])
    ece = r.table.filter(metric="ece")
    assert ece["diff"].null_count() == ece.height and ece["p_value"].null_count() == ece.height
    assert r.table.filter(metric="fpr")["diff"].null_count() == 0
    assert any("ece has no difference to a reference" in line for line in r.notes())
    assert r.worst(10, "ece").height == 0
    assert not mreg.get("ece").comparable and mreg.get("ece").no_comparison
    with pytest.raises(InvalidValueError, match="ece has no difference to a reference"):
        parse_policy({"gates": {"s": {"disparity": {"ece": {"max_diff": 0.02}}}}})
    p = parse_policy({"gates": {"s": {"metrics": {"ece": {"max": 0.05}}}}})
    assert p.stages[0].criteria[0].name == "metrics.ece.max"


def test_ece_needs_probabilities_labels_and_scores():
    df = _rows(6).with_columns(pct=pl.col("s") * 100)
    with pytest.raises(InvalidValueError, match=r"outside \[0, 1\].*calibration error \(ece\)"):
        ad.disaggregate(df, y_true="y", y_score="pct", by="g", metrics=["ece"])
    with pytest.raises(InvalidArgumentError, match="needs scores"):
        ad.disaggregate(df, y_true="y", by="g", metrics=["ece"])
    with pytest.raises(InvalidArgumentError, match="needs labels"):
        ad.disaggregate(df, y_score="s", by="g", metrics=["ece"])
    # a group with no labeled scored row: no value, and a note
    empty = df.with_columns(y=pl.when(pl.col("g") == "c").then(None).otherwise(pl.col("y")))
    r = ad.disaggregate(empty, y_true="y", y_score="s", by="g", metrics=["ece"])
    c = r.table.filter(pl.col("g") == "c").row(0, named=True)
    assert c["value"] is None and c["note"] == "no labeled rows with a score in this group"


def test_suppressed_copy_blanks_the_ece_sums():
    df = _rows(7)
    r = ad.disaggregate(df, y_true="y", y_score="s", by="g", metrics=["ece"], min_n=0)
    small = r.suppressed(2_000)  # c has about 1,200 rows
    shown = small.conf_int(0.9)
    assert shown.filter(pl.col("g") == "c")["ci_low"].item() is None
    assert shown.filter(pl.col("g") == "a")["ci_low"].item() is not None


# --------------------------------------------------------------------------------------
# Disaggregation.fairness(): the same summaries from the disaggregation's own sums
# --------------------------------------------------------------------------------------
def _same(a, b) -> None:
    for name in ("table", "groups", "four_fifths"):
        assert_frame_equal(getattr(a, name), getattr(b, name), rel_tol=1e-12, abs_tol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_disaggregation_fairness_equals_ad_fairness(weighted):
    df = _rows(8, n=4_000, weighted=weighted)
    w = "w" if weighted else None
    r = ad.disaggregate(df, y_true="y", y_pred="p", by=["g", "h"], weight=w)
    for inter in (False, True):
        want = ad.fairness(df, y_true="y", y_pred="p", by=["g", "h"], weight=w,
                           intersections=inter, n_boot=500)  # fmt: skip
        _same(r.fairness(intersections=inter, n_boot=500), want)
    # with ece among the metrics, calibration within groups comes too
    r = ad.disaggregate(
        df, y_true="y", y_pred="p", y_score="s", by=["g", "h"], weight=w,
        metrics=["selection_rate", "tpr", "fpr", "ece"],
    )  # fmt: skip
    got = r.fairness(n_boot=500)
    want = ad.fairness(df, y_true="y", y_pred="p", by=["g", "h"], y_score="s", weight=w, n_boot=500)
    _same(got, want)
    assert_frame_equal(got.calibration, want.calibration, rel_tol=1e-12, abs_tol=1e-12)
    assert_frame_equal(got.reliability, want.reliability, rel_tol=1e-12, abs_tol=1e-12)
    assert got.confidence == r.confidence


def test_disaggregation_fairness_makes_no_second_pass(monkeypatch):
    df = _rows(9, n=2_000)
    r = ad.disaggregate(df, y_true="y", y_pred="p", by="g")

    def no_pass(*args, **kwargs):
        raise AssertionError("a second pass over the rows")

    monkeypatch.setattr(aggregate, "sufficient_stats", no_pass)
    monkeypatch.setattr(aggregate, "collect", no_pass)
    assert r.fairness(n_boot=300).four_fifths.height == 1


def test_disaggregation_fairness_says_what_it_lacks():
    df = _rows(10, n=2_000)
    r = ad.disaggregate(df, y_true="y", y_pred="p", by="g", metrics=["prevalence"])
    with pytest.raises(InvalidArgumentError, match="needs the predictions.*selection_rate"):
        r.fairness()
    r = ad.disaggregate(df, y_true="y", y_pred="p", metrics=["accuracy"])
    with pytest.raises(InvalidArgumentError, match="compares groups"):
        r.fairness()
    r = ad.disaggregate(df, y_true="y", y_pred="p", by="g")
    with pytest.raises(InvalidArgumentError, match="suppressed"):
        r.suppressed(100).fairness()
    # no labels: demographic parity only, as ad.fairness says
    r = ad.disaggregate(df, y_pred="p", by="g", metrics=["selection_rate"])
    fr = r.fairness(n_boot=300)
    assert set(fr.table["summary"]) == {"demographic_parity_difference", "demographic_parity_ratio"}
    with pytest.raises(InvalidArgumentError, match="needs scores and labels"):
        _ = fr.calibration


def test_fairness_is_exported():
    import importlib

    module = importlib.import_module("aidebt.fairness")  # must not shadow the function
    assert ad.fairness is module.fairness and ad.Fairness is module.Fairness
    assert {"fairness", "Fairness"} <= set(ad.__all__)


def test_ece_gate_is_judged_on_the_upper_end(tmp_path):
    """``metrics.ece = { max = 0.05 }``: a segment passes when the interval's upper end is
    at most 0.05; a miscalibrated one fails, and a trigger fires only when the lower end
    is above the bound."""
    rng = np.random.default_rng(12)
    n = 40_000
    seg = rng.choice(["cal", "off"], n)
    s = rng.beta(2, 2, n)
    truth = np.where(seg == "off", np.clip(s + 0.12, 0, 1), s)
    df = pl.DataFrame(
        {
            "ts": [dt.datetime(2026, 1, 10)] * n,
            "seg": seg,
            "y": (rng.random(n) < truth).astype(int),
            "s": s,
        }
    )
    cfg = tmp_path / "audit.toml"
    cfg.write_text(
        '[data]\ntime = "ts"\ny_true = "y"\ny_score = "s"\nsegments = ["seg"]\n'
        "[gates.s]\nmetrics.ece = { max = 0.05 }\n"
        "[rollback]\nmetrics.ece = { max = 0.05 }\n"
    )
    result = ad.check(cfg, data=df)
    rows = {(r["stage"], r["segment"]): r for r in result.table.iter_rows(named=True)}
    ok, off = rows[("s", "seg=cal")], rows[("s", "seg=off")]
    assert ok["status"] == "pass" and ok["ci_high"] <= 0.05
    assert off["status"] == "fail" and "upper bound" in off["evidence"]
    assert rows[("rollback", "seg=off")]["status"] == "fired"
    assert rows[("rollback", "seg=cal")]["status"] == "quiet"
    ref = ad.disaggregate(df, y_true="y", y_score="s", by="seg", metrics=["ece"])
    want = ref.table.filter(pl.col("seg") == "cal").row(0, named=True)
    assert ok["value"] == pytest.approx(want["value"], abs=1e-12)
    assert ok["ci_high"] == pytest.approx(want["ci_high"], abs=1e-12)
