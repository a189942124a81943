"""aidebt.versions: paired comparisons, quantile intervals, the model-card gap.

Reference figures:
- Agresti, *Categorical Data Analysis* (presidential approval, 1,600 people surveyed twice:
  794 approve/approve, 150 approve/disapprove, 86 disapprove/approve, 570 disapprove/
  disapprove): difference of proportions 0.55 - 0.59 = -0.04, standard error 0.0095,
  95% interval (-0.06, -0.02), McNemar z = -4.17 (chi-square 17.36; 16.82 with the
  continuity correction, as R's ``mcnemar.test`` and jamovi print).
- Fagerland, Lydersen & Laake (2014, 2017) worked example (Cavo et al. 2012: 59, 6, 16, 80):
  Newcombe's square-and-add interval -0.1186 to -0.0046 for first minus second.
"""

from __future__ import annotations

import duckdb
import numpy as np
import polars as pl
import pytest
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar

from aidebt import stats as st
from aidebt.compare import Comparison
from aidebt.datasets import demo_published, demo_versions
from aidebt.errors import ColumnTypeError, InvalidArgumentError, InvalidValueError
from aidebt.versions import benchmark_gap, compare_paired, quantile_table


def paired_rows(both: int, broken: int, fixed: int, neither: int) -> pl.DataFrame:
    """Item-level rows of a paired 2x2 table: versions 'first' and 'second', outcome 0/1."""
    first = [1] * both + [1] * broken + [0] * fixed + [0] * neither
    second = [1] * both + [0] * broken + [1] * fixed + [0] * neither
    n = len(first)
    items = [f"i{i:05d}" for i in range(n)]
    return pl.DataFrame(
        {
            "item": items * 2,
            "survey": ["first"] * n + ["second"] * n,
            "approve": first + second,
        }
    )


@pytest.fixture(scope="module")
def agresti() -> pl.DataFrame:
    return paired_rows(794, 150, 86, 570)


@pytest.fixture(scope="module")
def evals() -> pl.DataFrame:
    return demo_versions()


# ------------------------------------------------------------------ published figures
def test_agresti_presidential_approval_reproduces_the_textbook(agresti):
    r = compare_paired(agresti, version="survey", item="item", baseline="first", outcome="approve")
    row = r.overall.row(0, named=True)
    assert (row["baseline_value"], row["value"]) == (0.59, 0.55)
    assert round(row["diff"], 2) == -0.04
    assert (round(row["diff_ci_low"], 2), round(row["diff_ci_high"], 2)) == (-0.06, -0.02)
    assert (row["both"], row["broken"], row["fixed"], row["neither"]) == (794, 150, 86, 570)
    assert round(row["chi2"], 2) == 17.36
    assert row["n"] == 1600
    full = st.paired_proportions([794], [150], [86], [570])
    assert round(float(full["z"][0]), 2) == -4.17
    assert round(float(full["se"][0]), 4) == 0.0095
    assert round(float(full["chi2_cc"][0]), 2) == 16.82  # R's mcnemar.test (correct=TRUE)
    assert row["verdict"] == "worse" and row["p_adjusted"] < 1e-4


def test_newcombe_paired_interval_equals_the_published_worked_example():
    # Cavo et al. (2012) in Fagerland, Lydersen & Laake: first minus second is -0.0621
    # (-0.1186 to -0.0046); here the candidate is the second, so the signs flip.
    r = st.paired_proportions([59], [6], [16], [80])
    assert round(float(r["diff"][0]), 4) == 0.0621
    assert round(float(r["diff_lo"][0]), 4) == 0.0046
    assert round(float(r["diff_hi"][0]), 4) == 0.1186


def test_mcnemar_equals_statsmodels_to_1e12():
    rng = np.random.default_rng(7)
    tables = [(5, 0, 0, 5), (10, 3, 3, 10), (0, 1, 0, 0), (40, 12, 25, 9), (3, 0, 7, 1)]
    tables += [tuple(int(v) for v in rng.integers(0, 60, 4)) for _ in range(200)]
    a, b, c, d = (np.array(col, dtype=float) for col in zip(*tables, strict=True))
    r = st.paired_proportions(a, b, c, d)
    for i, (ai, bi, ci, di) in enumerate(tables):
        if bi + ci == 0:
            assert r["p_exact"][i] == 1 and r["p_midp"][i] == 1
            continue
        table = [[ai, bi], [ci, di]]
        exact = mcnemar(table, exact=True)
        chi = mcnemar(table, exact=False, correction=False)
        chi_cc = mcnemar(table, exact=False, correction=True)
        assert abs(r["p_exact"][i] - exact.pvalue) < 1e-12
        assert abs(r["chi2"][i] - chi.statistic) < 1e-12
        assert abs(r["p_asymptotic"][i] - chi.pvalue) < 1e-12
        assert abs(r["chi2_cc"][i] - chi_cc.statistic) < 1e-12
        k, m = min(bi, ci), bi + ci
        midp = min(1.0, 2 * sps.binom.cdf(k, m, 0.5) - sps.binom.pmf(k, m, 0.5))
        assert abs(r["p_midp"][i] - midp) < 1e-12


# ------------------------------------------------------------------------ simulation
def _paired_sim(rng, reps: int, n: int, shift: float, sd: float = 2.0, base: float = 1.2):
    """Items of varying difficulty (shared by both versions): correlated outcomes."""
    u = rng.normal(0.0, sd, (reps, n))
    y0 = rng.random((reps, n)) < 1 / (1 + np.exp(-(base - u)))
    y1 = rng.random((reps, n)) < 1 / (1 + np.exp(-(base + shift - u)))
    a, b = (y0 & y1).sum(1), (y0 & ~y1).sum(1)
    c = (~y0 & y1).sum(1)
    d = n - a - b - c
    paired = st.paired_proportions(a, b, c, d)
    unpaired = st.two_proportions(y1.sum(1), np.full(reps, n), y0.sum(1), np.full(reps, n))
    return paired, unpaired


def test_paired_test_holds_its_size_and_beats_the_unpaired_one():
    # 4,000 simulated evals of 200 items each; Monte Carlo SE of a 5% rate is 0.0034.
    rng = np.random.default_rng(2024)
    reps = 4000
    se = np.sqrt(0.05 * 0.95 / reps)
    paired, unpaired = _paired_sim(rng, reps, 200, shift=0.0)
    size_midp = float((paired["p_midp"] < 0.05).mean())
    size_exact = float((paired["p_exact"] < 0.05).mean())
    size_unpaired = float((unpaired["p"] < 0.05).mean())
    assert size_midp < 0.05 + 3 * se  # measured 0.048
    assert size_exact < 0.05 + 3 * se  # measured 0.035 (the exact test is conservative)
    assert size_unpaired < 0.03  # measured 0.014: the correlation makes it far too cautious
    paired, unpaired = _paired_sim(rng, reps, 200, shift=0.6)
    power_paired = float((paired["p_midp"] < 0.05).mean())
    power_unpaired = float((unpaired["p"] < 0.05).mean())
    assert power_paired > power_unpaired + 0.12  # measured 0.57 vs 0.38 (SE 0.008 each)
    # Typical p-values: median 0.03 paired against 0.09 unpaired on the same data.
    assert np.median(paired["p_midp"]) < 0.6 * np.median(unpaired["p"])
    # The interval covers the true difference (computed from the generative model).
    u = rng.normal(0, 2.0, 2_000_000)
    truth = float(np.mean(1 / (1 + np.exp(-(1.8 - u))) - 1 / (1 + np.exp(-(1.2 - u)))))
    cover = float(((paired["diff_lo"] <= truth) & (truth <= paired["diff_hi"])).mean())
    assert abs(cover - 0.95) < 4 * np.sqrt(0.95 * 0.05 / reps), cover  # measured 0.954


def test_many_segments_keep_the_family_wise_error():
    # Ten segments of 100 items with no change anywhere, Holm over the ten: the chance of any
    # false "worse/better" stays under 5% (2,000 replicates, MC SE 0.005).
    rng = np.random.default_rng(11)
    reps, segments = 2000, 10
    paired, _ = _paired_sim(rng, reps * segments, 100, shift=0.0)
    p = paired["p_midp"].reshape(reps, segments)
    adjusted = np.vstack([st.adjust_pvalues(row, "holm") for row in p])
    fwer = float((adjusted < 0.05).any(axis=1).mean())
    assert fwer < 0.05 + 3 * np.sqrt(0.05 * 0.95 / reps)  # measured 0.039


@pytest.mark.parametrize(("n", "levels"), [(50, (0.5, 0.9)), (5000, (0.5, 0.95, 0.99))])
def test_quantile_interval_covers_lognormal_latencies(n, levels):
    # Skewed latencies (log-normal, sigma 1). Each interval's exact coverage comes from the
    # binomial; the simulated coverage must match it (4 MC SE) and be >= 95%.
    rng = np.random.default_rng(n)
    reps = 4000 if n == 50 else 800
    x = np.sort(rng.lognormal(0.0, 1.0, (reps, n)), axis=1)
    for q in levels:
        ranks = st.quantile_ci_ranks([n], q)
        lo, hi, exact = int(ranks["lo"][0]), int(ranks["hi"][0]), float(ranks["coverage"][0])
        truth = float(np.exp(sps.norm.ppf(q)))
        cover = float(((x[:, lo - 1] <= truth) & (truth <= x[:, hi - 1])).mean())
        assert exact >= 0.95
        assert abs(cover - exact) < 4 * np.sqrt(exact * (1 - exact) / reps), (q, cover, exact)


def test_quantile_ranks_are_the_exact_binomial_ones():
    # Brute force over n and q: lo is the largest rank with P(B <= lo-1) <= 2.5%, hi the
    # smallest with P(B >= hi) <= 2.5%.
    for n in (1, 2, 5, 13, 50, 72, 100, 367, 1000):
        for q in (0.1, 0.5, 0.9, 0.95, 0.99):
            r = st.quantile_ci_ranks([n], q)
            cdf = sps.binom.cdf(np.arange(-1, n + 1), n, q)  # cdf[k + 1] = P(B <= k)
            lo = max(k for k in range(0, n + 1) if cdf[k] <= 0.025)  # P(B <= k - 1)
            hi = min(k for k in range(1, n + 2) if 1 - cdf[k] <= 0.025)  # P(B >= k)
            assert (int(r["lo"][0]), int(r["hi"][0])) == (lo, hi), (n, q)


def test_unpaired_quantile_difference_covers():
    # Price & Bonett's interval for a difference of medians (n = 50) and of p95 (n = 5,000)
    # between two independent log-normal groups; MC SE about 0.005.
    rng = np.random.default_rng(5)
    for n, q, reps in ((50, 0.5, 2000), (5000, 0.95, 600)):
        x = np.sort(rng.lognormal(0.0, 1.0, (reps, n)), axis=1)
        y = np.sort(rng.lognormal(0.2, 1.0, (reps, n)), axis=1)
        ranks = st.quantile_ci_ranks([n], q)
        r, lo, hi = int(st.quantile_rank([n], q)[0]), int(ranks["lo"][0]), int(ranks["hi"][0])
        cov = ranks["coverage"]
        d = st.quantile_difference(
            y[:, r - 1],
            y[:, lo - 1],
            y[:, hi - 1],
            cov,
            x[:, r - 1],
            x[:, lo - 1],
            x[:, hi - 1],
            cov,
        )
        z = sps.norm.ppf(q)
        truth = np.exp(0.2 + z) - np.exp(z)
        cover = float(((d["diff_lo"] <= truth) & (truth <= d["diff_hi"])).mean())
        assert abs(cover - 0.95) < 0.025, (n, q, cover)  # measured 0.959 and 0.957


@pytest.mark.slow
@pytest.mark.parametrize(("n", "reps"), [(300, 300), (3000, 150)])
def test_paired_bootstrap_quantile_difference_covers(n, reps):
    # Latencies paired by item (a shared item effect), candidate 10% slower: the bootstrap
    # percentile interval of the p95 difference, 400 bootstrap draws per replicate. At 300
    # items the bootstrap overstates the spread of a p95 (only 15 values above it) by ~18%,
    # so the interval is conservative: measured 0.99 (MC SE 0.006); at 3,000 items it is
    # on target: measured 0.96 (300 replicates in a one-off run; here 150, MC SE 0.018).
    rng = np.random.default_rng(9 + n)
    z = sps.norm.ppf(0.95)
    truth = (1.1 - 1.0) * np.exp(np.sqrt(0.8**2 + 0.4**2) * z)
    hits = 0
    for _ in range(reps):
        item = rng.normal(0, 0.8, n)
        x = np.exp(item + rng.normal(0, 0.4, n))
        y = 1.1 * np.exp(item + rng.normal(0, 0.4, n))
        r = st.paired_quantile_difference(x, y, 0.95, n_boot=400, seed=int(rng.integers(1e9)))
        hits += r["diff_lo"] <= truth <= r["diff_hi"]
    cover = hits / reps
    se = np.sqrt(0.95 * 0.05 / reps)
    assert 0.95 - 3 * se <= cover <= 1.0, cover
    if n >= 3000:
        assert cover <= 0.95 + 4 * se, cover


# ------------------------------------------------------------------------------ demo
def test_demo_segment_regression_is_found_and_listed_first(evals):
    r = compare_paired(
        evals,
        version="prompt_version",
        item="item_id",
        baseline="v1",
        y_true="y_true",
        y_pred="y_pred",
        by=["model_version", "task"],
        margin=0.01,
    )
    overall = r.overall.row(0, named=True)
    assert overall["verdict"] == "better" and overall["diff_ci_low"] > 0
    assert overall["noninferiority"] == "non-inferior"
    seg = r.table.filter(pl.col("task") == "extraction", pl.col("model_version") == "(all)")
    row = seg.row(0, named=True)
    assert row["verdict"] == "worse" and row["p_adjusted"] < 1e-4
    assert row["diff_ci_high"] < 0 and row["noninferiority"] == "inferior"
    others = r.table.filter(pl.col("task").is_in(["classification", "summarization"]))
    assert (others["verdict"] == "better").all()
    flips = r.flips()
    broken = flips.filter(pl.col("change") == "broken")
    first = broken.head(int(broken.height * 0.3))
    assert (first["task"] == "extraction").all()
    assert flips["change"].head(1).item() == "broken"
    assert (flips["change"].tail(1) == "fixed").all()
    assert flips.height == overall["broken"] + overall["fixed"]
    lines = r.summary()
    assert any(line.startswith("But in Task: extraction") for line in lines)
    assert all("(all)" not in line for line in lines)
    head = r.headline()
    assert "worse in Task: extraction" in head.sentence
    assert head.figures["worst_segment"].startswith("task=extraction")


def test_demo_p95_latency_regression_with_an_unchanged_mean(evals):
    r = compare_paired(
        evals,
        version="prompt_version",
        item="item_id",
        baseline="v1",
        values=["latency_ms", "cost_usd"],
        quantiles=(0.5, 0.95),
        by="model_version",
        n_boot=1000,
    )
    ov = {row["metric"]: row for row in r.overall.iter_rows(named=True)}
    p95, mean = ov["p95_latency_ms"], ov["mean_latency_ms"]
    assert p95["diff_ci_low"] > 0 and p95["verdict"] == "worse"
    assert (
        mean["diff_ci_low"] < 0 < mean["diff_ci_high"] and mean["verdict"] == "no clear difference"
    )
    assert abs(mean["diff"]) < 0.02 * mean["baseline_value"]
    assert ov["p50_latency_ms"]["verdict"] == "better"  # most calls got faster
    assert ov["mean_cost_usd"]["verdict"] == "worse"  # the longer prompt is billed
    # Point estimates are the type-1 sample quantiles of the paired items.
    wide = evals.pivot(on="prompt_version", index=["item_id", "model_version"], values="latency_ms")
    want = np.sort(wide["v2"].to_numpy())[int(np.ceil(wide.height * 0.95)) - 1]
    assert p95["value"] == want
    assert p95["higher_is_better"] is False


def test_demo_planted_figures(evals):
    """The figures the demo docstrings state, measured."""
    acc = evals.group_by("prompt_version", "task").agg(pl.col("correct").mean())
    get = {(r[0], r[1]): r[2] for r in acc.rows()}
    assert get[("v2", "extraction")] < get[("v1", "extraction")] - 0.06
    cliff = (
        evals.filter(model_version="m1", prompt_version="v1")
        .group_by(pl.col("input_tokens") > 32_000)
        .agg(pl.col("correct").mean())
    )
    below, above = (
        cliff.filter(pl.col("input_tokens") == flag)["correct"].item() for flag in (False, True)
    )
    assert below > 0.8 and above < 0.5


# --------------------------------------------------------------------------- engines
def test_polars_pandas_duckdb_agree(evals):
    small = evals.filter(pl.col("item_id") < "q00500")
    kw = dict(
        version="prompt_version",
        item="item_id",
        baseline="v1",
        y_true="y_true",
        y_pred="y_pred",
        outcome="format_error",
        higher_is_better=False,
        by=["model_version", "task"],
        values="latency_ms",
        quantiles=(0.95,),
        n_boot=200,
    )
    want = compare_paired(small, **kw)
    con = duckdb.connect()
    for data in (small.lazy(), small.to_pandas(), con.from_arrow(small.to_arrow())):
        got = compare_paired(data, **kw)
        num = [c for c, t in want.table.schema.items() if t == pl.Float64]
        assert got.table.select(pl.exclude(num)).equals(want.table.select(pl.exclude(num)))
        for c in num:
            assert np.allclose(
                got.table[c].to_numpy().astype(float),
                want.table[c].to_numpy().astype(float),
                rtol=1e-12,
                atol=1e-9,
                equal_nan=True,
            ), c
        assert got.flips().equals(want.flips())
        for method in ("exact", "sketch"):
            a = quantile_table(small, value="latency_ms", by="task", method=method)
            b = quantile_table(data, value="latency_ms", by="task", method=method)
            assert a.equals(b)


def test_quantile_table_equals_order_statistics_for_every_group_size():
    rng = np.random.default_rng(3)
    sizes = [1, 2, 3, 10, 49, 72, 300, 2000]
    df = pl.DataFrame(
        {
            "g": np.repeat([f"g{s:05d}" for s in sizes], sizes),
            "v": rng.lognormal(5, 1, sum(sizes)),
        }
    )
    for qs in ((0.5, 0.95, 0.99), (0.95,), (0.1, 0.5)):
        t = quantile_table(df, value="v", by="g", qs=qs, moments=False)
        for (g,), part in df.group_by("g"):
            for q in qs:
                want = st.quantile_ci(part["v"].to_numpy(), q)
                got = t.filter(pl.col("g") == g, pl.col("q") == q).row(0, named=True)
                for key, col in (("value", "value"), ("lo", "ci_low"), ("hi", "ci_high")):
                    w = want[key]
                    assert (got[col] is None and np.isnan(w)) or got[col] == w, (g, q, key)


def test_quantile_sketch_is_within_its_relative_error():
    rng = np.random.default_rng(4)
    df = pl.DataFrame(
        {"g": rng.integers(0, 5, 50_000).astype(str), "v": rng.lognormal(6, 1.2, 50_000)}
    ).with_columns(pl.when(pl.int_range(pl.len()) % 97 == 0).then(0.0).otherwise("v").alias("v"))
    exact = quantile_table(df, value="v", by="g", moments=False)
    sketch = quantile_table(df, value="v", by="g", moments=False, method="sketch")
    for col in ("value", "ci_low", "ci_high"):
        rel = ((sketch[col] - exact[col]).abs() / exact[col]).max()
        assert rel <= 0.01 + 1e-12, col
    with_moments = quantile_table(df, value="v", by="g", method="sketch")
    mean = with_moments.filter(pl.col("statistic") == "mean").sort("g")["value"].to_numpy()
    assert np.allclose(mean, df.group_by("g").agg(pl.col("v").mean()).sort("g")["v"].to_numpy())


def test_quantile_table_counts_missing_and_gives_moments():
    df = pl.DataFrame({"v": [1.0, 2.0, None, float("nan"), 4.0]})
    t = quantile_table(df, value="v", qs=(0.5,))
    row = t.filter(pl.col("statistic") == "p50").row(0, named=True)
    assert (row["value"], row["n"], row["missing"]) == (2.0, 3.0, 2.0)
    assert row["ci_low"] is None  # three values are too few for a 95% interval
    total = t.filter(pl.col("statistic") == "sum").row(0, named=True)
    assert total["value"] == 7.0 and total["ci_low"] < 7 < total["ci_high"]


# ------------------------------------------------------------------------- bad input
def test_versions_with_no_common_items_say_so(agresti):
    moved = agresti.with_columns(
        pl.when(pl.col("survey") == "second")
        .then("X" + pl.col("item"))
        .otherwise("item")
        .alias("item")
    )
    with pytest.raises(InvalidValueError, match=r"share no item.*unpaired=True"):
        compare_paired(moved, version="survey", item="item", baseline="first", outcome="approve")
    with pytest.warns(UserWarning, match="falling back to the unpaired"):
        r = compare_paired(
            moved, version="survey", item="item", baseline="first", outcome="approve", unpaired=True
        )
    assert isinstance(r, Comparison)
    assert round(r.overall["diff"].item(), 2) == -0.04


def test_items_in_one_version_only_are_counted_not_dropped(agresti):
    fewer = agresti.filter(~((pl.col("survey") == "second") & (pl.col("item") < "i00010")))
    r = compare_paired(fewer, version="survey", item="item", baseline="first", outcome="approve")
    assert r.coverage.row(0, named=True)["only_baseline"] == 10
    assert r.overall["only_baseline"].item() == 10 and r.overall["n"].item() == 1590
    assert any("10 items ran under first only" in n for n in r.notes())


def test_an_item_twice_in_one_version_is_a_clear_error(evals):
    with pytest.raises(
        InvalidValueError, match=r"Item 'q00001' \(2 rows\).*appears more than once.*by="
    ):
        compare_paired(
            evals, version="prompt_version", item="item_id", y_true="y_true", y_pred="y_pred"
        )
    # With the model column in by=, items pair within each model: no error.
    compare_paired(
        evals,
        version="prompt_version",
        item="item_id",
        y_true="y_true",
        y_pred="y_pred",
        by="model_version",
    )


def test_quantile_of_a_non_numeric_column_is_a_clear_error(evals):
    with pytest.raises(
        ColumnTypeError, match=r"Column 'task' \(value\) has type String.*needs numbers"
    ):
        quantile_table(evals, value="task")
    with pytest.raises(ColumnTypeError, match=r"'flag'.*rate, not a quantity"):
        quantile_table(pl.DataFrame({"flag": [True, False]}), value="flag")
    with pytest.raises(ColumnTypeError, match="needs numbers"):
        compare_paired(
            evals.filter(model_version="m1"),
            version="prompt_version",
            item="item_id",
            values="task",
        )


def test_other_bad_arguments(evals):
    m1 = evals.filter(model_version="m1")
    base = dict(version="prompt_version", item="item_id", y_true="y_true", y_pred="y_pred")
    with pytest.raises(InvalidArgumentError, match="cannot be compared item by item"):
        compare_paired(m1, metrics="precision", **base)
    with pytest.raises(InvalidArgumentError, match="not a value of column"):
        compare_paired(m1, baseline="v9", **base)
    with pytest.raises(InvalidArgumentError, match="Nothing to compare"):
        compare_paired(m1, version="prompt_version", item="item_id")
    with pytest.raises(InvalidValueError, match="0/1"):
        compare_paired(m1.with_columns(pl.col("y_pred") * 2), **base)
    with pytest.raises(InvalidArgumentError, match="strictly between 0 and 1"):
        quantile_table(m1, value="latency_ms", qs=(95,))
    with pytest.raises(InvalidValueError, match="negative"):
        quantile_table(pl.DataFrame({"v": [-1.0, 2.0]}), value="v", method="sketch")


def test_noninferiority_verdicts():
    # 1,000 items, candidate 0.5 points worse with a tight interval: non-inferior at a
    # 3-point margin, inconclusive at 0.5, and the margin follows the metric's direction.
    data = paired_rows(850, 30, 25, 95)
    kw = dict(version="survey", item="item", baseline="first", outcome="approve")
    assert (
        compare_paired(data, margin=0.03, **kw).overall["noninferiority"].item() == "non-inferior"
    )
    assert (
        compare_paired(data, margin=0.005, **kw).overall["noninferiority"].item() == "inconclusive"
    )
    worse = paired_rows(800, 80, 10, 110)
    assert compare_paired(worse, margin=0.01, **kw).overall["noninferiority"].item() == "inferior"
    errors = compare_paired(worse, margin=0.01, higher_is_better=False, **kw).overall
    assert errors["noninferiority"].item() == "non-inferior"  # fewer "approve" = fewer errors
    with pytest.raises(InvalidArgumentError, match="margin"):
        compare_paired(data, margin={"latency": 5}, **kw)


def test_weights_are_frequency_weights(agresti):
    collapsed = (
        agresti.pivot(on="survey", index="item", values="approve")
        .group_by("first", "second")
        .agg(pl.len().alias("w"))
        .with_row_index("cell")
        .with_columns(pl.col("cell").cast(pl.String))
        .unpivot(index=["cell", "w"], variable_name="survey", value_name="approve")
    )
    r = compare_paired(
        collapsed, version="survey", item="cell", baseline="first", outcome="approve", weight="w"
    )
    full = compare_paired(
        agresti, version="survey", item="item", baseline="first", outcome="approve"
    )
    cols = ["diff", "diff_ci_low", "diff_ci_high", "p_value", "both", "broken", "fixed"]
    assert np.allclose(r.overall.select(cols).to_numpy(), full.overall.select(cols).to_numpy())


# ------------------------------------------------------------------------ model card
def test_benchmark_gap_on_the_demo():
    ev = demo_versions().filter(prompt_version="v1")
    g = benchmark_gap(demo_published(), ev, task="task", outcome="correct", by="model_version")
    row = g.table.filter(model_version="m1", task="long_context_qa").row(0, named=True)
    assert row["verdict"] == "internal lower" and not row["inside"]
    assert row["gap"] < -0.15 and row["gap_ci_high"] < 0
    assert row["ci_low"] <= row["internal"] <= row["ci_high"]
    m2 = g.table.filter(model_version="m2", task="long_context_qa").row(0, named=True)
    assert m2["verdict"] == "consistent"  # m2 has no cliff
    no_n = g.table.filter(pl.col("published_n").is_null())
    assert no_n["gap_ci_low"].is_null().all()
    assert g.summary()[0].startswith("m1 on long_context_qa: published 83%")
    assert "m1 on long_context_qa" in g.headline().sentence
    assert type(g.chart()).__name__ == "LayerChart"
    with pytest.raises(InvalidValueError, match="0.89"):
        benchmark_gap(
            demo_published().with_columns(pl.col("value") * 100),
            ev,
            task="task",
            outcome="correct",
            by="model_version",
        )


def test_result_display_is_escaped(agresti):
    hostile = agresti.with_columns(pl.lit("<script>x</script>").alias("seg"))
    r = compare_paired(hostile, version="survey", item="item", outcome="approve", by="seg")
    assert "<script>x" not in r._repr_html_()
    assert type(r.chart()).__name__ == "VConcatChart"
