"""refresh_plan and RefreshPlan.sample: the statistics against references and simulations,
the demo's planted truth, the sample across engines, and bad input."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import polars as pl
import pytest
from scipy import optimize
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

import aidebt as ad
from aidebt.errors import (
    ColumnNotFoundError,
    ColumnTypeError,
    InvalidArgumentError,
    InvalidValueError,
)
from aidebt.refresh import (
    KEY_SPACE,
    RefreshPlan,
    _key_of,
    labels_for_halfwidth,
    optimal_allocation,
    planning_rate,
    refresh_plan,
    stratified_proportion,
    wilson_halfwidth,
    with_hash_key,
)

Z = sps.norm.ppf(0.975)
MONTH14 = (dt.datetime(2026, 11, 1), dt.datetime(2026, 12, 1))


@pytest.fixture(scope="module")
def demo():
    """Month 14 of a 15-month demo log (so every month-14 row carries its label), with an
    integer item id, and the launch golden set."""
    logs = ad.datasets.demo(n_per_month=20_000, months=15).with_row_index("item", offset=1)
    logs = logs.with_columns(pl.col("item").cast(pl.Int64))
    month = logs.filter((pl.col("ts") >= MONTH14[0]) & (pl.col("ts") < MONTH14[1]))
    assert month["y_true"].null_count() == 0
    return month, ad.datasets.demo_eval()


def _plan(demo, **kw) -> RefreshPlan:
    month, golden = demo
    kw.setdefault("budget", 1_500)
    return refresh_plan(golden, month, by="intent", y_true="y_true", y_pred="y_pred", **kw)


def _variance(w, p, n) -> float:
    """Cochran's stratified variance of a post-stratified proportion, sum W^2 p q / n."""
    w, p, n = (np.asarray(v, dtype=float) for v in (w, p, n))
    return float(np.sum(w**2 * p * (1 - p) / n))


# --------------------------------------------------------------------------------------
# Per-segment sizes and planning rates
# --------------------------------------------------------------------------------------
def test_wilson_halfwidth_equals_statsmodels():
    for x, n in [(5, 50), (0, 20), (930, 1000), (1, 1), (400, 800)]:
        lo, hi = proportion_confint(x, n, alpha=0.05, method="wilson")
        assert wilson_halfwidth(x / n, n) == pytest.approx((hi - lo) / 2, abs=1e-12)
    assert wilson_halfwidth(0.3, 0) == pytest.approx(0.5)


@pytest.mark.parametrize("p", [0.5, 0.3, 0.9, 0.97, 0.999])
@pytest.mark.parametrize("d", [0.01, 0.03, 0.1])
def test_labels_for_halfwidth_is_the_smallest_n(p, d):
    n = int(labels_for_halfwidth(p, d)[()])
    assert wilson_halfwidth(p, n) <= d + 1e-12
    assert n == 0 or wilson_halfwidth(p, n - 1) > d
    # Against the Wald approximation z^2 pq / d^2 it is close where Wald is fine.
    if p == 0.5:
        assert n == int(np.ceil(Z**2 / (4 * d * d) - Z**2 - 1e-9))


def test_planning_rate_is_the_wilson_point_nearest_one_half():
    lo, hi = proportion_confint(930, 1000, alpha=0.05, method="wilson")
    assert planning_rate([930], [1000])[0] == pytest.approx(lo)
    lo, hi = proportion_confint(20, 1000, alpha=0.05, method="wilson")
    assert planning_rate([20], [1000])[0] == pytest.approx(hi)
    assert planning_rate([3, 0], [5, 0]).tolist() == [0.5, 0.5]  # interval holds 1/2; no data
    assert planning_rate(None, [10, 20]).tolist() == [0.5, 0.5]


# --------------------------------------------------------------------------------------
# The post-stratified interval
# --------------------------------------------------------------------------------------
def test_stratified_proportion_by_hand():
    w, x, n = np.array([0.6, 0.3, 0.1]), np.array([90, 30, 4]), np.array([100, 50, 5])
    r = stratified_proportion(w, x, n)
    assert r["value"] == pytest.approx(0.6 * 0.9 + 0.3 * 0.6 + 0.1 * 0.8)
    c = (x + Z**2 / 2) / (n + Z**2)
    v = w**2 * c * (1 - c) / n
    assert r["se"] ** 2 == pytest.approx(v.sum())
    assert r["df"] == pytest.approx(v.sum() ** 2 / np.sum(v**2 / (n - 1)))
    pooled = np.sum(w * c)
    n_eff = pooled * (1 - pooled) / v.sum() * (Z / sps.t.ppf(0.975, r["df"])) ** 2
    assert r["n_eff"] == pytest.approx(n_eff)
    lo, hi = proportion_confint(r["value"] * n_eff, n_eff, alpha=0.05, method="wilson")
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((lo, hi), abs=1e-12)
    # A stratum with no sample is left out, and the covered share says so.
    r2 = stratified_proportion([0.5, 0.3, 0.2], [90, 30, 0], [100, 50, 0])
    assert r2["covered_share"] == pytest.approx(0.8)
    assert r2["value"] == pytest.approx((0.5 * 0.9 + 0.3 * 0.6) / 0.8)


# Configurations: (production shares, eval items per stratum, true rates).
_RNG = np.random.default_rng(20261)
_CONFIGS = {
    "the demo after a refresh": (
        [0.376, 0.315, 0.094, 0.078, 0.070, 0.066],
        [1_000, 600, 764, 689, 589, 505],
        [0.58, 0.77, 0.94, 0.93, 0.91, 0.93],
    ),
    "10 small strata (5-40 items, rates 0.85-0.99)": (
        _RNG.dirichlet(np.ones(10)),
        _RNG.integers(5, 41, 10),
        _RNG.uniform(0.85, 0.99, 10),
    ),
    "30 strata at once": (
        _RNG.dirichlet(np.full(30, 0.5)),
        _RNG.integers(10, 201, 30),
        _RNG.uniform(0.6, 0.99, 30),
    ),
    "rates near 1": (
        _RNG.dirichlet(np.ones(8)),
        _RNG.integers(20, 101, 8),
        _RNG.uniform(0.98, 0.999, 8),
    ),
    "a small hard stratum next to a large easy one": ([0.5, 0.5], [50, 400], [0.5, 0.97]),
}


@pytest.mark.parametrize("name", list(_CONFIGS))
def test_stratified_interval_coverage(name):
    """95% intervals cover sum W_h p_h in 93%-98% of 3,000 seeded draws.

    Monte Carlo SE of a coverage near 0.95 with 3,000 draws: 0.004, so 0.93 is ~5 SE below
    nominal. Measured with 20,000 draws each (MC SE 0.0015), in the order of _CONFIGS:
    0.951, 0.962, 0.955, 0.942, 0.954 (the Kish-size Wilson interval coverage() uses today:
    0.949, 0.956, 0.959, 0.952, 0.933)."""
    w, n, p = (np.asarray(v, dtype=float) for v in _CONFIGS[name])
    truth = float(np.sum(w / w.sum() * p))
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    reps = 3_000
    xs = rng.binomial(n.astype(int), p, size=(reps, len(n)))
    hits = 0
    for x in xs:
        r = stratified_proportion(w, x, n)
        hits += r["ci_low"] <= truth <= r["ci_high"]
    assert 0.93 <= hits / reps <= 0.98


# --------------------------------------------------------------------------------------
# The allocation
# --------------------------------------------------------------------------------------
def test_allocation_equals_closed_form_neyman_where_no_bound_binds():
    w = np.array([0.4, 0.3, 0.2, 0.1])
    s = np.array([0.5, 0.3, 0.4, 0.2])
    a = optimal_allocation(w, s, np.zeros(4), 1_000)
    assert a == pytest.approx(1_000 * w * s / np.sum(w * s), rel=1e-12)
    # With prices: n_h = B (W_h S_h / sqrt(c_h)) / sum(W S sqrt(c)) (Cochran 1977, §5.5).
    c = np.array([1.0, 4.0, 2.0, 0.5])
    a = optimal_allocation(w, s, np.zeros(4), 5_000, cost=c)
    closed = 5_000 * (w * s / np.sqrt(c)) / np.sum(w * s * np.sqrt(c))
    assert a == pytest.approx(closed, rel=1e-12)
    assert np.sum(c * a) == pytest.approx(5_000)
    # With existing items and every segment still receiving some: n_h + a_h = k W_h S_h.
    n0 = np.array([100.0, 50.0, 20.0, 10.0])
    a = optimal_allocation(w, s, n0, 2_000)
    k = (2_000 + n0.sum()) / np.sum(w * s)
    assert a == pytest.approx(k * w * s - n0, rel=1e-12)


def test_allocation_minimises_the_variance_against_scipy():
    """Random problems with existing items, prices, minimums and caps: the same optimum as
    scipy's SLSQP, to 1e-6 in the objective."""
    rng = np.random.default_rng(7)
    for _ in range(25):
        h = int(rng.integers(2, 8))
        w = rng.dirichlet(np.ones(h))
        s = rng.uniform(0.05, 0.5, h)
        n0 = np.where(rng.random(h) < 0.4, 0.0, rng.integers(1, 400, h).astype(float))
        c = rng.uniform(0.5, 3.0, h)
        lo = np.where(n0 == 0, 30.0, 0.0)
        hi = rng.integers(200, 3_000, h).astype(float)
        budget = float(np.sum(c * lo) + rng.uniform(50, 2_000))
        ours = optimal_allocation(w, s, n0, budget, cost=c, lower=lo, upper=hi)
        assert np.all(ours >= lo - 1e-9) and np.all(ours <= hi + 1e-9)
        assert np.sum(c * ours) == pytest.approx(min(budget, np.sum(c * hi)), rel=1e-9)

        def objective(a, w=w, s=s, n0=n0):
            return float(np.sum(w**2 * s**2 / (n0 + a)))

        ref = optimize.minimize(
            objective,
            np.clip(np.full(h, budget / c.sum()), lo, hi),
            method="SLSQP",
            bounds=list(zip(lo, hi, strict=True)),
            constraints=[{"type": "eq", "fun": lambda a, c=c, b=budget: np.sum(c * a) - b}],
            options={"ftol": 1e-15, "maxiter": 1_000},
        )
        if np.sum(c * hi) > budget:  # scipy's problem is feasible only then
            assert objective(ours) <= ref.fun * (1 + 1e-6)


def test_plan_beats_proportional_and_equal_allocation(demo):
    """On the demo's budget of 1,500 labels, the plan's variance (at the planning rates) is
    below proportional and equal allocations of the same 1,500 labels."""
    plan = _plan(demo)
    t = plan.table
    w, n0 = t["share"].to_numpy(), t["eval_rows"].to_numpy()
    p = t["planning_rate"].to_numpy()
    budget = 1_500
    ours = _variance(w, p, n0 + t["labels"].to_numpy())
    proportional = _variance(w, p, n0 + np.round(budget * w))
    equal = _variance(w, p, n0 + budget / len(w))
    assert ours < proportional < equal
    # The promised interval is z sqrt(V) at the planning rates.
    assert plan.overall["halfwidth"][1] == pytest.approx(Z * np.sqrt(ours), rel=1e-9)
    print(f"variance: plan {ours:.3e}, proportional {proportional:.3e}, equal {equal:.3e}")


def test_one_pass_per_input(demo, monkeypatch):
    """The plan reads each input once (one aggregation each); the sample scans the log once
    (plus the eval set's ids when it excludes them)."""
    from aidebt import aggregate

    month, golden = demo
    calls = []
    real = aggregate.collect
    monkeypatch.setattr(aggregate, "collect", lambda q: calls.append(q) or real(q))
    plan = _plan(demo)
    assert len(calls) == 2
    calls.clear()
    plan.sample(month.lazy(), seed=1, id="item", exclude=False)
    assert len(calls) == 1
    calls.clear()
    plan.sample(month.lazy(), seed=1, id="item", exclude=month.head(10).select("item"))
    assert len(calls) == 2


def test_rounding_spends_a_label_budget_exactly(demo):
    for budget in (100, 999, 1_234, 2_001):
        plan = _plan(demo, budget=budget)
        assert plan.labels == budget
        t = plan.table
        assert (t["labels"] - t["optimal_labels"]).abs().max() < 1


# --------------------------------------------------------------------------------------
# The demo: what the plan says and what the refresh buys
# --------------------------------------------------------------------------------------
def test_the_uncovered_intent_gets_the_largest_allocation(demo):
    month, golden = demo
    plan = _plan(demo)
    t = plan.table
    top = t.sort("labels", descending=True).row(0, named=True)
    assert top["intent"] == "account_recovery" and top["eval_rows"] == 0
    assert top["labels"] > t["labels"].sum() / 2
    assert not top["covered"] and top["share"] == pytest.approx(0.38, abs=0.02)
    # Intents the golden set over-covers get nothing: their eval items already suffice.
    assert t.filter(pl.col("intent").is_in(["billing", "shipping"]))["labels"].sum() == 0
    # Today's re-weighted accuracy is coverage's (same point estimate on the same mix).
    c = ad.coverage(golden, month, "intent", None, "1mo", "y_true", "y_pred")
    assert plan.overall["value"][0] == pytest.approx(c.table["value"][0], abs=1e-12)
    assert plan.overall["covered_share"][0] == pytest.approx(c.table["covered_share"][0])
    text = " ".join(plan.summary())
    assert text.startswith("Label 1,500 new items: ")
    assert "account_recovery (uncovered, 38% of traffic)" in text
    assert "interval narrows from ±" in text and "points" in text
    head = plan.headline()
    assert head.figures["labels"] == 1_500 and "account_recovery" in head.sentence
    assert head.figures["halfwidth_planned"] < 0.02 < 0.15 < head.figures["halfwidth_today"]
    assert plan.notes() and "<table" in plan._repr_html_()
    spec = plan.chart().to_dict()
    (rows,) = spec["datasets"].values()
    assert len(rows) == 3 * plan.table.height  # production, today, planned per segment


def _refreshed_interval(plan, month, golden, seed):
    """Label the sampled items with their planted truth and re-weight the larger eval set."""
    drawn = plan.sample(month, seed=seed, id="item")
    labeled = month.join(drawn.select("item"), on="item", how="semi")
    new_eval = pl.concat([golden, labeled.drop("item")], how="vertical")
    stats = new_eval.group_by("intent").agg(
        x=(pl.col("y_true") == pl.col("y_pred")).sum(), n=pl.len()
    )
    seg = plan.table.select("intent", "share").join(stats, on="intent", how="left")
    return drawn, stratified_proportion(seg["share"], seg["x"], seg["n"])


def test_after_the_refresh_the_interval_holds_the_truth_at_the_promised_width(demo):
    """One refresh of the demo's golden set (sample seed 1).

    One draw of a 95% interval can miss, and this golden set is a little lucky: its
    technical accuracy is 2.6 points above month 14's (1.4 standard errors), so with it
    91.5% of sample seeds cover the truth (seeds 0, 18, 25, 27 and 36 of the first 40 miss
    it narrowly). test_refresh_coverage_over_seeds varies the golden set too (0.95)."""
    month, golden = demo
    plan = _plan(demo)
    truth = float((month["y_true"] == month["y_pred"]).mean())
    assert truth == pytest.approx(0.746, abs=0.01)  # the planted month-14 accuracy
    promised = plan.overall["halfwidth"][1]
    drawn, r = _refreshed_interval(plan, month, golden, seed=1)
    assert r["covered_share"] == 1.0
    assert r["ci_low"] <= truth <= r["ci_high"]
    half = (r["ci_high"] - r["ci_low"]) / 2
    assert 0.85 * promised <= half <= promised
    # The raw golden set and today's re-weighted figure both miss the truth.
    assert plan.overall["ci_low"][0] > truth + 0.08


def test_refresh_coverage_over_seeds(demo):
    """Over 200 refreshes (a new golden set built at launch and a new sample each time, so
    the golden set's own luck varies too), the re-weighted interval holds the month's
    production accuracy in at least 91% (Monte Carlo SE 0.015 at 0.95; measured 0.955) and
    never exceeds the width its plan promised (measured: at most 0.997 of it)."""
    month, _ = demo
    truth = float((month["y_true"] == month["y_pred"]).mean())
    hits, worst = 0, 0.0
    reps = 200
    for seed in range(reps):
        golden = ad.datasets.demo_eval(seed=seed + 1)
        plan = refresh_plan(golden, month, by="intent", y_true="y_true", y_pred="y_pred",
                            budget=1_500)  # fmt: skip
        _, r = _refreshed_interval(plan, month, golden, seed)
        hits += r["ci_low"] <= truth <= r["ci_high"]
        worst = max(worst, (r["ci_high"] - r["ci_low"]) / 2 / plan.overall["halfwidth"][1])
    print(f"coverage {hits / reps:.3f}, widest / promised {worst:.3f}")
    assert hits / reps >= 0.91
    assert worst <= 1.0


def test_plan_without_budget_brings_every_segment_to_the_target(demo):
    plan = _plan(demo, budget=None, halfwidth=0.03)
    t = plan.table
    assert t["reaches_target"].all() and (t["shortfall"] == 0).all()
    assert (t["labels"] == t["labels_needed"]).all()
    ar = t.filter(pl.col("intent") == "account_recovery").row(0, named=True)
    assert ar["labels"] == int(labels_for_halfwidth(0.5, 0.03)[()]) == 1_064
    assert (t["halfwidth_planned"] <= 0.03).all()
    assert "reaches ±3.0 points" in " ".join(plan.summary())


def test_a_small_budget_says_what_it_cannot_reach(demo):
    plan = _plan(demo, budget=600)
    t = plan.table
    short = t.filter(~pl.col("reaches_target"))
    assert short.height >= 1 and (short["shortfall"] > 0).all()
    assert "The budget leaves" in " ".join(plan.summary())
    assert plan.headline().figures["segments_short"] == short.height


def test_retire_reports_segments_beyond_their_weight(demo):
    plan = _plan(demo, retire=2.0)
    t = plan.table
    flagged = t.filter(pl.col("retire") > 0)
    assert set(flagged["intent"]) <= {"billing", "shipping", "returns", "account"}
    assert (flagged["eval_share"] > 2 * flagged["share"]).all()
    # What stays still meets the segment's own target and the minimum.
    kept = flagged["eval_rows"] - flagged["retire"]
    need = labels_for_halfwidth(flagged["planning_rate"].to_numpy(), 0.03)
    assert (kept.to_numpy() >= need).all() and (kept >= 30).all()
    assert "nothing is deleted" in " ".join(plan.summary())
    assert _plan(demo).table["retire"].is_null().all()  # not asked: not computed


def test_prices_per_segment(demo):
    month, golden = demo
    prices = {"account_recovery": 2.0, "technical": 1.0, "billing": 1.0, "shipping": 1.0,
              "returns": 1.0, "account": 1.0}  # fmt: skip
    plan = refresh_plan(golden, month, by="intent", y_true="y_true", y_pred="y_pred",
                        budget=2_000.0, cost=prices)  # fmt: skip
    t = plan.table
    assert float((t["cost"]).sum()) <= 2_000 + 1e-9
    assert float(t["cost"].sum()) > 2_000 - 2  # at most one label's price is left over
    cheap = _plan(demo, budget=2_000)
    ar = pl.col("intent") == "account_recovery"
    # A dearer segment gets fewer labels per unit of money.
    assert t.filter(ar)["labels"][0] < cheap.table.filter(ar)["labels"][0]
    assert "(cost 2," in plan.summary()[0] or "(cost 1," in plan.summary()[0]


def test_without_labels_every_rate_is_one_half(demo):
    month, golden = demo
    plan = refresh_plan(golden, month, by="intent", budget=500)
    assert (plan.table["planning_rate"] == 0.5).all()
    assert plan.overall["value"].is_null().all()
    assert plan.labels == 500


def test_weights_and_several_segment_columns(demo):
    month, golden = demo
    agg = month.group_by("intent", "tier").agg(n=pl.len())
    plan_w = refresh_plan(golden, agg, by=["intent", "tier"], y_true="y_true",
                          y_pred="y_pred", weight="n", budget=800)  # fmt: skip
    plan = refresh_plan(golden, month, by=["intent", "tier"], y_true="y_true",
                        y_pred="y_pred", budget=800)  # fmt: skip
    a, b = plan.table.sort("intent", "tier"), plan_w.table.sort("intent", "tier")
    assert a["share"].to_list() == pytest.approx(b["share"].to_list())
    assert a["labels"].to_list() == b["labels"].to_list()
    s = plan.sample(month, seed=1, id="item")
    counts = s.group_by("intent", "tier").agg(pl.len().alias("got"))
    want = plan.table.filter(pl.col("labels") > 0).select("intent", "tier", "labels")
    joined = want.join(counts, on=["intent", "tier"], how="left")
    assert (joined["got"] == joined["labels"]).all()
    assert "Intent: account_recovery and Tier: " in " ".join(plan.summary())


# --------------------------------------------------------------------------------------
# The sample
# --------------------------------------------------------------------------------------
def test_hash_is_the_same_in_every_engine_and_in_plain_python():
    rng = np.random.default_rng(3)
    ids = np.r_[
        rng.integers(-(2**62), 2**62, 300),
        [0, 1, -1, 2**31 - 1, 2**31, 2_147_483_629, 2**63 - 1, -(2**63)],
    ].astype(np.int64)
    df = pl.DataFrame({"id": ids})
    want = [_key_of(int(i), 11) for i in ids]
    assert all(0 <= k < KEY_SPACE for k in want)
    got_pl = with_hash_key(df, "id", 11).collect().to_native()["_key"].to_list()
    con = duckdb.connect()
    rel = con.from_arrow(df.to_arrow())
    got_duck = with_hash_key(rel, "id", 11).collect("polars").to_native()["_key"].to_list()
    got_pd = with_hash_key(df.to_pandas(), "id", 11).collect().to_native()["_key"].to_list()
    small = pl.DataFrame({"id": pl.Series([1, -5, 70_000], dtype=pl.Int32)})
    got_i32 = with_hash_key(small, "id", 11).collect().to_native()["_key"].to_list()
    assert got_pl == want and got_duck == want and got_pd == want
    assert got_i32 == [_key_of(i, 11) for i in (1, -5, 70_000)]


def test_keys_look_uniform_and_unrelated_to_the_id():
    """Sequential ids 0..199,999: the share of keys under 1% of the key space is within 5
    binomial SE of 1%, and the 2,000 smallest keys spread evenly over the id range
    (chi-square over 20 bins below its 0.999 quantile) for five seeds."""
    n = 200_000
    df = pl.DataFrame({"id": pl.int_range(0, n, eager=True)})
    for seed in range(5):
        key = with_hash_key(df, "id", seed).collect().to_native()["_key"].to_numpy()
        assert len(np.unique(key)) == n
        low = np.mean(key < KEY_SPACE // 100)
        assert abs(low - 0.01) < 5 * np.sqrt(0.01 * 0.99 / n)
        chosen = np.argsort(key)[:2_000]
        counts = np.histogram(chosen, bins=20, range=(0, n))[0]
        assert np.sum((counts - 100) ** 2 / 100) < sps.chi2.ppf(0.999, 19)


def test_the_sample_is_the_same_across_engines(demo, tmp_path):
    month, _ = demo
    plan = _plan(demo)
    base = plan.sample(month, seed=42, id="item")
    path = tmp_path / "month.parquet"
    month.write_parquet(path)
    con = duckdb.connect()
    rel = con.from_arrow(month.to_arrow())
    for other in (month.lazy(), str(path), rel, month.to_pandas()):
        assert plan.sample(other, seed=42, id="item").equals(base)
    assert not plan.sample(month, seed=43, id="item")["item"].equals(base["item"])
    # Exactly the planned counts, draws 1..n in each segment.
    got = base.group_by("intent").agg(pl.len().alias("n"), pl.col("draw").max().alias("top"))
    want = plan.table.filter(pl.col("labels") > 0).select("intent", "labels")
    joined = want.join(got, on="intent")
    assert joined.height == want.height
    assert (joined["n"] == joined["labels"]).all() and (joined["top"] == joined["labels"]).all()
    assert base["item"].is_unique().all()


def test_the_sample_is_the_full_ranking_of_the_same_rule(demo):
    """The thresholded scan gives exactly what ranking every row would."""
    month, _ = demo
    plan = _plan(demo)
    got = plan.sample(month, seed=5, id="item")
    keyed = with_hash_key(month.select("item", "intent"), "item", 5).collect().to_native()
    want = (
        keyed.join(plan.table.select("intent", "labels"), on="intent")
        .filter(pl.col("_key").rank("ordinal").over("intent") <= pl.col("labels"))
        .sort("intent", "_key")
    )
    assert got.sort("intent", "draw")["item"].to_list() == want["item"].to_list()


def test_a_smaller_plan_draws_a_prefix_of_a_larger_one(demo):
    month, _ = demo
    small = _plan(demo, budget=400).sample(month, seed=9, id="item")
    large = _plan(demo, budget=1_500).sample(month, seed=9, id="item")
    for (intent,), part in small.group_by("intent"):
        first = large.filter((pl.col("intent") == intent) & (pl.col("draw") <= part.height))
        assert set(first["item"]) == set(part["item"])


def test_no_eval_item_is_drawn_again(demo):
    month, golden = demo
    plan0 = _plan(demo)
    first = plan0.sample(month, seed=1, id="item")
    # An eval set holding half of what the first draw would take, in every segment.
    taken = first.filter(pl.col("draw") % 2 == 0)
    rows = month.join(taken.select("item"), on="item", how="semi")
    eval_set = pl.concat([golden, rows], how="diagonal")  # launch items have no item id
    plan = refresh_plan(eval_set, month, by="intent", y_true="y_true", y_pred="y_pred",
                        budget=1_500)  # fmt: skip
    drawn = plan.sample(month, seed=1, id="item")  # excludes the plan's eval set by default
    assert drawn.join(taken, on="item", how="semi").height == 0
    counts = drawn.group_by("intent").agg(pl.len().alias("n"))
    want = plan.table.filter(pl.col("labels") > 0).join(counts, on="intent")
    assert (want["n"] == want["labels"]).all()
    # An explicit exclude works too, and exclude=False draws them again.
    again = plan.sample(month, seed=1, id="item", exclude=False)
    assert again.join(taken, on="item", how="semi").height > 0
    other = plan.sample(month, seed=1, id="item", exclude=rows.select("item"))
    assert other.equals(drawn)


def test_heavy_exclusion_rescans_and_stays_exact(demo):
    """Excluding most low-key rows forces a second scan at a higher threshold; the result
    is still the full ranking of the rule over the remaining rows."""
    month, golden = demo
    plan = _plan(demo, budget=300)
    keyed = with_hash_key(month.select("item", "intent"), "item", 8).collect().to_native()
    excluded = keyed.filter(pl.col("_key") < KEY_SPACE // 10).select("item")
    got = plan.sample(month, seed=8, id="item", exclude=excluded)
    want = (
        keyed.join(excluded, on="item", how="anti")
        .join(plan.table.select("intent", "labels"), on="intent")
        .filter(pl.col("_key").rank("ordinal").over("intent") <= pl.col("labels"))
    )
    assert sorted(got["item"].to_list()) == sorted(want["item"].to_list())


def test_the_sample_is_written_for_a_labeling_tool(demo, tmp_path):
    month, _ = demo
    plan = _plan(demo, budget=200)
    out = plan.sample(month, seed=1, id="item", path=tmp_path / "to_label.parquet")
    assert pl.read_parquet(tmp_path / "to_label.parquet").equals(out)
    plan.sample(month, seed=1, id="item", path=tmp_path / "to_label.csv")
    back = pl.read_csv(tmp_path / "to_label.csv")
    assert back.columns == ["item", "intent", "draw"] and back.height == 200


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------
def test_a_budget_below_the_minimums_says_what_it_reaches():
    eval_set = pl.DataFrame({"seg": ["a"] * 100, "y": [1] * 90 + [0] * 10, "p": [1] * 100})
    prod = pl.DataFrame({"seg": ["a"] * 50 + ["new1"] * 30 + ["new2"] * 15 + ["new3"] * 5})
    with pytest.raises(InvalidArgumentError) as err:
        refresh_plan(eval_set, prod, by="seg", y_true="y", y_pred="p", budget=40)
    text = str(err.value)
    assert "each of the 3 uncovered segments its minimum of 30" in text
    assert "reaches the minimum in new1 (30% of traffic)" in text
    assert "Raise the budget to 50" in text  # 30 + 15 + 5 (each capped at its rows)


def test_a_segment_with_no_production_rows(demo):
    month, golden = demo
    # Priced but absent from production: nothing to label there.
    with pytest.raises(InvalidArgumentError, match="no production rows"):
        refresh_plan(golden, month, by="intent", budget=100.0,
                     cost={"account_recovery": 1, "technical": 1, "billing": 1, "shipping": 1,
                           "returns": 1, "account": 1, "refunds": 1})  # fmt: skip
    # Sampling a log that lacks a planned segment.
    plan = _plan(demo)
    without = month.filter(pl.col("intent") != "account_recovery")
    with pytest.raises(InvalidValueError, match="no drawable rows .*account_recovery"):
        plan.sample(without, seed=1, id="item")
    # An eval segment production no longer has: kept with share 0, and said.
    gone = golden.with_columns(
        intent=pl.when(pl.col("intent") == "returns").then(pl.lit("legacy")).otherwise("intent")
    )
    plan = refresh_plan(gone, month, by="intent", y_true="y_true", y_pred="y_pred", budget=500)
    legacy = plan.table.filter(pl.col("intent") == "legacy").row(0, named=True)
    assert legacy["share"] == 0 and legacy["labels"] == 0
    assert any("no production rows" in n for n in plan.notes())
    with pytest.raises(InvalidArgumentError, match="no rows"):
        refresh_plan(golden, month.head(0), by="intent")


def test_duplicated_ids(demo):
    month, _ = demo
    plan = _plan(demo, budget=200)
    with pytest.raises(InvalidValueError, match="repeats values"):
        plan.sample(pl.concat([month, month]), seed=1, id="item")


def test_other_bad_input(demo):
    month, golden = demo
    with pytest.raises(InvalidArgumentError, match="positives"):
        refresh_plan(golden, month, by="intent", y_true="y_true", y_pred="y_pred", metric="fnr")
    with pytest.raises(InvalidArgumentError, match="is a mean"):
        refresh_plan(golden, month, by="intent", y_true="y_true", metric="mean")
    with pytest.raises(ColumnNotFoundError):
        refresh_plan(golden, month, by="intnet")
    with pytest.raises(InvalidArgumentError, match="segment columns"):
        refresh_plan(golden, month, by=[])
    for bad in (
        {"halfwidth": 0.7},
        {"budget": -3},
        {"cost": 0},
        {"min_per_segment": -1},
        {"retire": 0.5},
        {"confidence": 2},
    ):
        with pytest.raises(InvalidArgumentError):
            refresh_plan(golden, month, by="intent", **bad)
    plan = _plan(demo, budget=100)
    with pytest.raises(ColumnTypeError, match="integer ids"):
        plan.sample(month.with_columns(pl.col("item").cast(pl.String)), seed=1, id="item")
    with pytest.raises(ColumnNotFoundError):
        plan.sample(month, seed=1, id="itme")
    with pytest.raises(InvalidArgumentError, match="seed"):
        plan.sample(month, seed="x", id="item")
    with pytest.raises(InvalidArgumentError, match=".parquet or .csv"):
        plan.sample(month, seed=1, id="item", path="out.json")
