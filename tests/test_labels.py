"""aidebt.labels: agreement, label sources against gold, correction for label error,
label budgets. Reference values from the published worked examples, statsmodels and the
`krippendorff` package; intervals checked by seeded simulation (Monte Carlo SE stated)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from aidebt.errors import ColumnTypeError, InvalidArgumentError, InvalidValueError
from aidebt.labels import (
    _agreement_rows,
    _Rate,
    agreement,
    cohen_kappa,
    correct,
    corrected_accuracy,
    label_sources,
    labels_needed,
    paired_difference,
    rogan_gladen,
    wilson_halfwidth,
    wilson_n,
)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the reliability data
# of section C: observers A-D (rows) x units 1-12 (columns), None = not coded. Published:
# nominal .743, ordinal .815, interval .849, ratio .797. The exact fractions (113/152,
# 108577/133160, 951/1120, 18222619/22852465) agree with independent implementations.
_ = None
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, _, _, _],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, _, 3],
    [_, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, _],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, _],
]
PUBLISHED = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}
EXACT = {
    "nominal": 113 / 152,
    "ordinal": 108577 / 133160,
    "interval": 951 / 1120,
    "ratio": 18222619 / 22852465,
}

# Fleiss (1971), table 1: 30 patients, 6 psychiatrists each, 5 diagnoses (1 depression,
# 2 personality disorder, 3 schizophrenia, 4 neurosis, 5 other). Published kappa .430.
FLEISS_1971 = [
    [4, 4, 4, 4, 4, 4],
    [2, 2, 2, 5, 5, 5],
    [2, 3, 3, 3, 3, 5],
    [5, 5, 5, 5, 5, 5],
    [2, 2, 2, 4, 4, 4],
    [1, 1, 3, 3, 3, 3],
    [3, 3, 3, 3, 5, 5],
    [1, 1, 3, 3, 3, 4],
    [1, 1, 4, 4, 4, 4],
    [5, 5, 5, 5, 5, 5],
    [1, 4, 4, 4, 4, 4],
    [1, 2, 4, 4, 4, 4],
    [2, 2, 2, 3, 3, 3],
    [1, 4, 4, 4, 4, 4],
    [2, 2, 4, 4, 4, 5],
    [3, 3, 3, 3, 3, 5],
    [1, 1, 1, 4, 5, 5],
    [1, 1, 1, 1, 1, 2],
    [2, 2, 4, 4, 4, 4],
    [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5],
    [2, 4, 4, 4, 4, 4],
    [2, 2, 4, 5, 5, 5],
    [1, 1, 4, 4, 4, 4],
    [1, 4, 4, 4, 4, 5],
    [2, 2, 2, 2, 2, 4],
    [1, 1, 1, 1, 5, 5],
    [2, 2, 4, 4, 4, 4],
    [1, 3, 3, 3, 3, 3],
    [5, 5, 5, 5, 5, 5],
]


def long(matrix, raters_in_rows: bool = True) -> pl.DataFrame:
    """A raters x items (or items x raters) matrix as long labels (item, rater, label)."""
    m = np.asarray(matrix, dtype=object)
    if not raters_in_rows:
        m = m.T
    rows = [
        (u, f"r{r}", m[r, u])
        for r in range(m.shape[0])
        for u in range(m.shape[1])
        if m[r, u] is not None
    ]
    return pl.DataFrame(rows, schema=["item", "rater", "label"], orient="row")


def value(result, coefficient: str = "krippendorff_alpha") -> float:
    return result.table.filter(pl.col("coefficient") == coefficient)["value"][0]


# --------------------------------------------------------------------------------------
# Published worked examples and reference implementations
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_krippendorff_worked_example_all_levels(level):
    r = agreement(long(KRIPPENDORFF_2011), item="item", rater="rater", label="label", level=level)
    assert round(value(r), 3) == PUBLISHED[level]
    assert value(r) == pytest.approx(EXACT[level], abs=1e-12)
    row = r.table.row(0, named=True)
    assert row["n_items"] == 11 and row["n_pairable"] == 40  # unit 12 has one value
    assert r.single_rated == 1 and "1 item has a single rating" in " ".join(r.notes())


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_alpha_equals_the_krippendorff_package_on_random_data_with_missing_cells(level, seed):
    krippendorff = pytest.importorskip("krippendorff")
    rng = np.random.default_rng(seed)
    raters, items = 5, 60
    truth = rng.integers(1, 6, items)
    data = np.where(
        rng.random((raters, items)) < 0.6, truth, rng.integers(1, 6, (raters, items))
    ).astype(float)
    data[rng.random((raters, items)) < 0.25] = np.nan
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    cells = [[None if np.isnan(v) else float(v) for v in row] for row in data]
    r = agreement(long(cells), item="item", rater="rater", label="label", level=level, n_boot=50)
    assert value(r) == pytest.approx(expected, abs=1e-10)


def test_fleiss_1971_worked_example_and_statsmodels():
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    r = agreement(
        long(FLEISS_1971, raters_in_rows=False), item="item", rater="rater", label="label"
    )
    table, _ = aggregate_raters(np.asarray(FLEISS_1971))
    assert round(value(r, "fleiss_kappa"), 3) == 0.430
    assert value(r, "fleiss_kappa") == pytest.approx(fleiss_kappa(table), abs=1e-12)
    # Wikipedia's example (10 subjects x 14 raters, counts per category): kappa 0.210.
    counts = np.array(
        [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ]
    )
    rows = [
        (i, f"r{k}", c)
        for i, row in enumerate(counts)
        for k, c in enumerate(np.repeat(np.arange(5), row))
    ]
    r = agreement(
        pl.DataFrame(rows, schema=["item", "rater", "label"], orient="row"),
        item="item",
        rater="rater",
        label="label",
    )
    assert value(r, "fleiss_kappa") == pytest.approx(fleiss_kappa(counts), abs=1e-12)
    assert round(value(r, "fleiss_kappa"), 3) == 0.210


@pytest.mark.parametrize("wt", [None, "linear", "quadratic"])
def test_cohen_kappa_and_variance_equal_statsmodels(wt):
    from statsmodels.stats.inter_rater import cohens_kappa

    rng = np.random.default_rng(7)
    for _ in range(5):
        table = rng.integers(0, 30, (4, 4)) + np.diag(rng.integers(10, 60, 4))
        ref = cohens_kappa(table, wt=wt) if wt else cohens_kappa(table)
        k = table.shape[0]
        w = (
            None
            if wt is None
            else (np.abs(np.subtract.outer(np.arange(k), np.arange(k))) / (k - 1))
            ** (1 if wt == "linear" else 2)
        )
        kappa, var = cohen_kappa(table, w)
        assert kappa == pytest.approx(ref.kappa, abs=1e-10)
        assert var == pytest.approx(ref.var_kappa, abs=1e-10)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_agreement_with_two_raters_reports_cohen_equal_to_statsmodels(weights):
    from statsmodels.stats.inter_rater import cohens_kappa

    rng = np.random.default_rng(3)
    a = rng.integers(1, 5, 300)
    b = np.where(rng.random(300) < 0.6, a, rng.integers(1, 5, 300))
    df = pl.DataFrame(
        {
            "item": np.r_[np.arange(300), np.arange(300)],
            "rater": ["a"] * 300 + ["b"] * 300,
            "label": np.r_[a, b],
        }
    )
    r = agreement(df, item="item", rater="rater", label="label", level="ordinal", weights=weights)
    table = np.zeros((4, 4))
    np.add.at(table, (a - 1, b - 1), 1)
    ref = cohens_kappa(table, wt=weights) if weights else cohens_kappa(table)
    row = r.table.filter(pl.col("coefficient") == "cohen_kappa").row(0, named=True)
    assert row["value"] == pytest.approx(ref.kappa, abs=1e-10)
    half = (row["ci_high"] - row["ci_low"]) / 2
    assert half == pytest.approx(1.959963984540054 * np.sqrt(ref.var_kappa), abs=1e-10)


def test_rater_alphas_against_the_rest_average_to_alpha():
    for level in ("nominal", "ordinal", "interval", "ratio"):
        r = agreement(
            long(KRIPPENDORFF_2011), item="item", rater="rater", label="label", level=level
        )
        rest = r.pairs.filter(pl.col("rater_b") == "(rest)")
        pooled = (rest["kappa"] * rest["n_items"]).sum() / rest["n_items"].sum()
        assert pooled == pytest.approx(EXACT[level], abs=1e-12)


def test_packed_polars_patterns_equal_the_portable_pass_and_overflow_falls_back():
    """polars packs an item's counts of 8 values in 8-bit fields of one key: 300 ratings
    of one value overflow it, which is detected and answered by the count-per-value pass."""
    import narwhals as nw

    from aidebt.frames import to_lazy
    from aidebt.labels import _packed_patterns, _patterns

    rng = np.random.default_rng(5)
    items = np.repeat(np.arange(300), 3)
    labels = rng.integers(0, 8, items.size)
    seg = np.where(items % 2 == 0, "even", "odd")
    for flood in (0, 300):  # ratings of value 7 on one more item
        df = pl.DataFrame(
            {
                "item": np.r_[items, np.full(flood, 999)],
                "rater": [f"r{i}" for i in range(items.size + flood)],
                "label": np.r_[labels, np.full(flood, 7)],
                "seg": np.r_[seg, np.full(flood, "odd")],
            }
        )
        rated = to_lazy(df).with_columns(nw.col("label").alias("_label"))
        packed = _packed_patterns(rated.to_native(), "item", list(range(8)), ["seg"])
        assert (packed is None) == (flood > 0)
        ours = _patterns(to_lazy(df), "item", "label", list(range(8)), ["seg"])
        assert ours.equals(
            _patterns(to_lazy(df.to_pandas()), "item", "label", list(range(8)), ["seg"])
        )
        assert ours["_items"].sum() == 300 + (flood > 0)
        a = agreement(df, item="item", rater="rater", label="label", by="seg", n_boot=50)
        b = agreement(
            df.to_pandas(), item="item", rater="rater", label="label", by="seg", n_boot=50
        )
        assert a.table.equals(b.table)
        # Fleiss' kappa only where every item has 3 ratings: not the flooded item's segment.
        fleiss = a.table.filter(pl.col("coefficient") == "fleiss_kappa")["seg"].to_list()
        assert fleiss == (["even"] if flood else ["(all)", "even", "odd"])


def test_the_same_results_from_polars_pandas_and_duckdb():
    duckdb = pytest.importorskip("duckdb")
    from aidebt.datasets import demo_labels

    lab = demo_labels(n_items=600, n_per_month=1_500, months=3)
    kinds = {
        "polars": lab,
        "lazy": lab.lazy(),
        "pandas": lab.to_pandas(),
        "duckdb": duckdb.from_arrow(lab.to_arrow()),
    }
    alphas, scorecards, pairs = [], [], []
    for native in kinds.values():
        a = agreement(
            native, item="ticket", rater="rater", label="label", by="language", n_boot=200
        )
        alphas.append(a.table)
        pairs.append(a.pairs)
        s = label_sources(
            native,
            item="ticket",
            source="rater",
            label="label",
            gold="expert",
            cost="cost",
            by="language",
        )
        scorecards.append(s.table)
    for other in alphas[1:]:
        assert other.equals(alphas[0])
    for other in pairs[1:]:
        assert np.allclose(other["kappa"].to_numpy(), pairs[0]["kappa"].to_numpy(), atol=1e-12)
    for other in scorecards[1:]:
        num = [c for c, t in other.schema.items() if t == pl.Float64]
        assert np.allclose(
            other.select(num).to_numpy(),
            scorecards[0].select(num).to_numpy(),
            atol=1e-12,
            equal_nan=True,
        )


# --------------------------------------------------------------------------------------
# Bad input: a clear message for each
# --------------------------------------------------------------------------------------


def test_bad_input_messages():
    one = pl.DataFrame({"item": [1, 2], "rater": ["a", "a"], "label": [1, 0]})
    with pytest.raises(InvalidValueError, match="at least two raters.*only 'a'"):
        agreement(one, item="item", rater="rater", label="label")
    once = pl.DataFrame({"item": [1, 2], "rater": ["a", "b"], "label": [1, 0]})
    with pytest.raises(InvalidValueError, match="No item has two ratings"):
        agreement(once, item="item", rater="rater", label="label")
    text = pl.DataFrame({"item": [1, 1], "rater": ["a", "b"], "label": ["good", "bad"]})
    with pytest.raises(ColumnTypeError, match="holds text.*level='interval' needs numbers"):
        agreement(text, item="item", rater="rater", label="label", level="interval")
    with pytest.raises(InvalidArgumentError, match="not a level of measurement"):
        agreement(text, item="item", rater="rater", label="label", level="nominl")
    no_overlap = pl.DataFrame(
        {"item": [1, 2, 3], "source": ["expert", "judge", "judge"], "label": [1, 0, 1]}
    )
    with pytest.raises(InvalidValueError, match="No item was labeled both by gold 'expert'"):
        label_sources(no_overlap, item="item", source="source", label="label", gold="expert")
    with pytest.raises(
        InvalidArgumentError, match="gold='expret' is not a value.*Did you mean 'expert'"
    ):
        label_sources(no_overlap, item="item", source="source", label="label", gold="expret")
    with pytest.raises(InvalidValueError, match="needs 0/1"):
        label_sources(
            text.rename({"rater": "source"}), item="item", source="source", label="label", gold="a"
        )
    with pytest.raises(InvalidValueError, match="too close to 1.*barely better than a coin"):
        correct((500, 1000), sensitivity=0.55, specificity=0.5)


# --------------------------------------------------------------------------------------
# Intervals: coverage by simulation
# --------------------------------------------------------------------------------------


def _rg_coverage(pi, se, sp, n_prod, n_gold, reps, rng):
    q = pi * se + (1 - pi) * (1 - sp)
    x = rng.binomial(n_prod, q, reps)
    pos = rng.binomial(n_gold, pi, reps)
    neg = n_gold - pos
    sx, spx = rng.binomial(pos, se), rng.binomial(neg, sp)
    r = rogan_gladen(
        x / n_prod,
        np.full(reps, float(n_prod)),
        _Rate(sx / pos, sx, pos),
        _Rate(spx / neg, spx, neg),
    )
    return np.mean((r["lo"] <= pi) & (pi <= r["hi"]))


@pytest.mark.parametrize(
    "pi, se, sp, n_prod",
    [
        (0.75, 0.96, 0.90, 5_000),
        (0.75, 0.96, 0.55, 5_000),
        (0.30, 0.90, 0.90, 2_000),
        (0.75, 0.92, 0.85, 500),
    ],
)
def test_rogan_gladen_interval_covers_with_a_300_item_gold_subset(pi, se, sp, n_prod):
    # 6,000 simulated audits: Monte Carlo SE of a 95% coverage = sqrt(.95 x .05 / 6000) = 0.0028.
    cov = _rg_coverage(pi, se, sp, n_prod, 300, 6_000, np.random.default_rng(11))
    assert 0.94 <= cov <= 0.975, cov  # nominal, at most slightly conservative


def test_plain_wald_without_gold_uncertainty_would_fail():
    """The test above can fail: ignoring the gold sample's error under-covers badly."""
    rng = np.random.default_rng(5)
    pi, se, sp, n_prod, reps = 0.75, 0.96, 0.55, 5_000, 4_000
    q = pi * se + (1 - pi) * (1 - sp)
    x = rng.binomial(n_prod, q, reps)
    pos = rng.binomial(300, pi, reps)
    sx, spx = rng.binomial(pos, se), rng.binomial(300 - pos, sp)
    r = rogan_gladen(
        x / n_prod,
        np.full(reps, float(n_prod)),
        _Rate(sx / pos, np.nan, np.inf),
        _Rate(spx / (300 - pos), np.nan, np.inf),
    )
    assert np.mean((r["lo"] <= pi) & (pi <= r["hi"])) < 0.6


def test_corrected_accuracy_interval_covers():
    # Feature decisions with accuracy 0.85; labels from a judge (Se .96, Sp .70) on 3,000
    # items; gold subset of 300. 4,000 audits: Monte Carlo SE 0.0034.
    rng = np.random.default_rng(12)
    reps, n, pi, tpr, fpr, se, sp = 4_000, 3_000, 0.75, 0.9, 0.3, 0.96, 0.70
    y = rng.random((reps, n)) < pi
    pred = np.where(y, rng.random((reps, n)) < tpr, rng.random((reps, n)) < fpr)
    judge = np.where(y, rng.random((reps, n)) < se, rng.random((reps, n)) >= sp)
    truth = (pred == y).mean(axis=1)  # the audit's own accuracy, what the correction targets
    pos = rng.binomial(300, pi, reps)
    sx, spx = rng.binomial(pos, se), rng.binomial(300 - pos, sp)
    r = corrected_accuracy(
        (judge & pred).sum(1),
        pred.sum(1),
        (judge & ~pred).sum(1),
        (~pred).sum(1),
        _Rate(sx / pos, sx, pos),
        _Rate(spx / (300 - pos), spx, 300 - pos),
    )
    assert abs(np.mean(r["value"] - truth)) < 0.005  # unbiased
    cov = np.mean((r["lo"] <= truth) & (truth <= r["hi"]))
    assert 0.94 <= cov <= 0.975, cov


@pytest.mark.slow
def test_bootstrap_alpha_interval_covers():
    """Percentile item bootstrap of alpha: 3 raters, 10% missing ratings, 200 items.

    The population alpha is exact: the coincidence matrix's expectation over every rating
    pattern. 800 simulated studies x 400 resamples: Monte Carlo SE of the coverage 0.0077.
    """
    from math import comb

    pi, keep, right = 0.3, 0.9, 0.75  # truth rate, P(rating present), P(label = truth)
    p1 = {1: right + (1 - right) / 2, 0: (1 - right) / 2}  # P(label 1 | truth)
    expected = np.zeros((2, 2))
    for truth, w in ((1, pi), (0, 1 - pi)):
        for m in (2, 3):
            pm = comb(3, m) * keep**m * (1 - keep) ** (3 - m)
            for k in range(m + 1):
                pk = comb(m, k) * p1[truth] ** k * (1 - p1[truth]) ** (m - k)
                nk = np.array([m - k, k], float)
                c = np.outer(nk, nk) - np.diag(nk)
                expected += w * pm * pk * c / (m - 1)
    from aidebt.labels import _alpha

    # alpha's (n - 1) / n small-sample factor vanishes in the population: scale up.
    target = float(_alpha(expected * 1e12, "nominal", None))
    rng = np.random.default_rng(21)
    hits, studies, n_items = 0, 800, 200
    for s in range(studies):
        truth = rng.random(n_items) < pi
        present = rng.random((n_items, 3)) < keep
        said = np.where(
            rng.random((n_items, 3)) < right, truth[:, None], rng.random((n_items, 3)) < 0.5
        )
        ones = (said & present).sum(1)
        m = present.sum(1)
        t = pl.DataFrame(
            {"_n0": (m - ones).astype(float), "_n1": ones.astype(float), "_m": m.astype(float)}
        )
        t = t.group_by("_n0", "_n1", "_m").agg(_items=pl.len().cast(pl.Float64))
        row = _agreement_rows(t, ["_n0", "_n1"], [], "nominal", None, 0.95, 400, s).row(
            0, named=True
        )
        hits += row["ci_low"] <= target <= row["ci_high"]
    coverage = hits / studies
    assert 0.925 <= coverage <= 0.975, coverage


def test_paired_bias_interval_covers():
    # Agresti-Min interval for a paired difference, 10,000 studies of 200 items: MC SE 0.0022.
    rng = np.random.default_rng(4)
    n, reps = 200, 10_000
    probs = [0.70, 0.08, 0.02, 0.20]  # both 1, source 1 gold 0, source 0 gold 1, both 0
    cells = rng.multinomial(n, probs, size=reps)
    r = paired_difference(cells[:, 1], cells[:, 2], n)
    cov = np.mean((r["lo"] <= 0.06) & (0.06 <= r["hi"]))
    assert 0.94 <= cov <= 0.965, cov


# --------------------------------------------------------------------------------------
# Label budgets
# --------------------------------------------------------------------------------------


def test_wilson_n_is_the_smallest_n_and_monotone():
    p = np.linspace(0.01, 0.99, 99)
    for h in (0.01, 0.03, 0.1):
        n = wilson_n(p, h)
        assert (wilson_halfwidth(p, n) <= h).all()
        assert ((n == 1) | (wilson_halfwidth(p, n - 1) > h)).all()
    # exact search over every n for small cases
    for pp, h in [(0.5, 0.2), (0.9, 0.1), (0.05, 0.05)]:
        grid = np.arange(1, 5_000)
        assert wilson_n(pp, h)[()] == grid[wilson_halfwidth(pp, grid) <= h].min()
    hs = np.linspace(0.005, 0.2, 60)
    assert (np.diff(wilson_n(0.8, hs)) <= 0).all()  # narrower interval -> more labels
    assert (np.diff(wilson_n(np.linspace(0.5, 0.99, 50), 0.03)) <= 0).all()


def test_labels_needed_budget_per_segment_from_data():
    from aidebt.datasets import demo

    log = demo(n_per_month=3_000, months=1)
    b = labels_needed("y_true", 0.05, by="language", data=log, design_effect=1.5)
    t = b.table
    assert set(t.columns) >= {"language", "volume", "p", "labels", "feasible"}
    expected = np.ceil(wilson_n(t["p"].to_numpy(), 0.05) * 1.5 - 1e-9)
    assert (t["labels"].to_numpy() == expected).all()
    assert b.total == int(t["labels"].sum())
    assert "labels give every segment" in b.headline().sentence


# --------------------------------------------------------------------------------------
# The demo: planted truths found, with intervals covering them
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_lab():
    from aidebt.datasets import demo_labels

    return demo_labels()


def test_demo_sloppy_worker_and_lenient_judge_are_found(demo_lab):
    ls = label_sources(
        demo_lab,
        item="ticket",
        source="rater",
        label="label",
        gold="expert",
        cost="cost",
        by="language",
        positive="resolved",
    )
    # Eight planted figures are checked against intervals: at 99.5% each (Bonferroni), the
    # family covers with 95% probability; the findings themselves use the default 95%.
    wide = label_sources(
        demo_lab,
        item="ticket",
        source="rater",
        label="label",
        gold="expert",
        by="language",
        confidence=0.995,
    )
    sloppy = wide.row("crowd_3")
    assert sloppy["sensitivity_ci_low"] <= 0.71 <= sloppy["sensitivity_ci_high"]
    assert sloppy["specificity_ci_low"] <= 0.69 <= sloppy["specificity_ci_high"]
    for careful in ("crowd_1", "crowd_2"):
        assert ls.row(careful)["accuracy_ci_low"] > ls.row("crowd_3")["accuracy_ci_high"]
        assert (
            wide.row(careful)["specificity_ci_low"]
            <= 0.88
            <= wide.row(careful)["specificity_ci_high"]
        )
    ja = wide.row("judge", language="ja")
    assert ja["specificity_ci_low"] <= 0.55 <= ja["specificity_ci_high"]
    assert ja["specificity_ci_high"] < 0.90  # the judge's specificity elsewhere
    pi = (ja["tp"] + ja["fn"]) / ja["n_both"]
    planted_bias = 0.45 * (1 - pi) - 0.04 * pi
    assert ja["bias_ci_low"] <= planted_bias <= ja["bias_ci_high"] and ja["bias_ci_low"] > 0
    assert ls.row("judge", language="ja")["flag"] == "lenient"
    flagged = ls.segments().filter(pl.col("flag") != "")
    assert flagged.select("source", "language").rows() == [("judge", "ja")]
    judge = wide.row("judge")
    assert judge["sensitivity_ci_low"] <= 0.96 <= judge["sensitivity_ci_high"]
    assert ls.row("judge")["cost_per_label"] == pytest.approx(0.003)
    text = " ".join(ls.summary())
    assert "on language ja it marks" in text and "more items as resolved than expert" in text
    assert "crowd_3 is the least accurate source" in text
    sentence, figures = ls.headline()
    assert (
        sentence.startswith("judge costs $0.003 a label")
        and figures["judge_worst_segment_bias"] > 0
    )
    front = ls.frontier()
    assert front.filter(pl.col("source") == "crowd_3")["on_frontier"][0] is False

    ag = agreement(
        demo_lab.filter(pl.col("source") == "crowd"), item="ticket", rater="rater", label="label"
    )
    rest = ag.pairs.filter(pl.col("rater_b") == "(rest)").sort("kappa")
    assert rest["rater_a"][0] == "crowd_3"
    assert rest["ci_high"][0] < rest["ci_low"][1:].min()
    assert "Rater crowd_3 agrees least" in " ".join(ag.summary())


def test_demo_judge_labels_corrected_towards_the_truth(demo_lab):
    ls = label_sources(
        demo_lab, item="ticket", source="rater", label="label", gold="expert", by="language"
    )
    judge = demo_lab.filter(pl.col("rater") == "judge")
    c = correct(judge, labels=ls, source="judge", y_true="label", y_pred="y_pred", by="language")
    from aidebt.datasets import demo

    log = demo().with_row_index("ticket")
    truth = log.join(judge.select("ticket"), on="ticket").with_columns(
        ok=pl.col("y_true") == pl.col("y_pred")
    )
    for lang in ("ja", "(all)"):
        rows = truth if lang == "(all)" else truth.filter(pl.col("language") == lang)
        acc = c.table.filter((pl.col("language") == lang) & (pl.col("metric") == "accuracy")).row(
            0, named=True
        )
        prev = c.table.filter(
            (pl.col("language") == lang) & (pl.col("metric") == "prevalence")
        ).row(0, named=True)
        assert acc["ci_low"] <= rows["ok"].mean() <= acc["ci_high"]
        assert prev["ci_low"] <= rows["y_true"].mean() <= prev["ci_high"]
    ja = c.table.filter((pl.col("language") == "ja") & (pl.col("metric") == "prevalence")).row(
        0, named=True
    )
    assert ja["observed"] > ja["value"]  # the lenient judge inflates the resolved rate
    assert "corrected for their errors" in c.headline().sentence


def test_correct_accepts_numbers_counts_and_disaggregation():
    import aidebt as ad

    r = correct((780, 1000), sensitivity=(190, 200), specificity=(85, 100))
    assert r.table["value"][0] == pytest.approx((0.78 + 0.85 - 1) / (0.95 + 0.85 - 1))
    exact = correct(0.78, 0.95, 0.85)
    assert exact.table["ci_low"][0] == exact.table["ci_high"][0] == pytest.approx(0.7875)
    logs = ad.datasets.demo(2_000, months=2)
    d = ad.disaggregate(
        logs, y_true="y_true", y_pred="y_pred", by="language", metrics=["prevalence"]
    )
    c = correct(d, sensitivity=(190, 200), specificity=(85, 100))
    assert c.table.height == 7 and c.table["language"][0] == "(all)"
    with pytest.raises(InvalidArgumentError, match="prevalence"):
        correct(
            ad.disaggregate(logs, y_true="y_true", y_pred="y_pred"),
            sensitivity=0.9,
            specificity=0.9,
        )


@pytest.mark.slow
def test_label_audit_notebook_renders(tmp_path):
    """`aidebt report label_audit ...` executes the notebook on the demo and publishes it."""
    from aidebt import datasets
    from aidebt.report import render
    from aidebt.report.notebooks import example_policy

    datasets.demo(n_per_month=1_500, months=3).write_parquet(tmp_path / "production.parquet")
    datasets.demo_labels().write_parquet(tmp_path / "labels.parquet")
    result = render(
        "label_audit",
        month="2025-12",
        config=example_policy(),  # the demo's columns and words (positive = "resolved")
        data=tmp_path / "production.parquet",
        parameters={"label_data": str(tmp_path / "labels.parquet")},
        out=tmp_path / "reports",
        progress=False,
    )
    page = result.published[0].html.read_text()
    assert "judge costs $0.003 a label" in page
    assert "more items as resolved than expert" in page
    assert "Rater crowd_3 agrees least with the others" in page


def test_agreement_on_pandas_equals_polars_without_narwhals_warnings():
    """pandas rows go to polars at the door (per-item window sums are slow in pandas,
    and narwhals warned about them)."""
    import warnings

    from aidebt import datasets
    from aidebt.labels import agreement

    lab = datasets.demo_labels(n_items=300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        on_pandas = agreement(lab.to_pandas(), item="ticket", rater="rater", label="label")
    on_polars = agreement(lab, item="ticket", rater="rater", label="label")
    assert on_pandas.table.equals(on_polars.table)
