"""Time aidebt.fairness against fairlearn's four summary functions; simulate coverage.

Timing (default): 1M rows, sensitive attributes race (6 groups) and sex (2), same data,
same run. aidebt computes the six summaries of each attribute (demographic parity
difference/ratio, equalized odds difference/ratio, equal opportunity, FPR difference) with
bias-corrected bootstrap intervals (2,000 draws), the four-fifths verdicts and per-group
rates with Wilson intervals; fairlearn computes the values of its four functions
(``demographic_parity_difference``/``_ratio``, ``equalized_odds_difference``/``_ratio``)
per attribute, nothing else. A bare polars group-by of the confusion counts is the floor.
Ratios matter, not seconds (2 noisy shared cores).

    python benchmarks/bench_fairness.py [--rows 1000000] [--repeat 3]

Measured 2026-11-30 (fairlearn 0.15.0, median of 3, 2 shared cores): fairlearn 31.3 s for
the values of its four functions, aidebt 33.2 ms for the six summaries with intervals and
the four-fifths verdicts (940.8x), 3.0x the bare polars group-by; values identical
(largest difference 0).

Coverage (``--coverage``): the simulations behind the figures in the report, larger than
the tests' (``--reps`` replicates per configuration; Monte Carlo SEs printed).

    python benchmarks/bench_fairness.py --coverage [--reps 2000]
"""

from __future__ import annotations

import argparse

import numpy as np
import polars as pl
from _measure import median_seconds
from scipy.special import expit, logit

from aidebt.fairness import estimate_ece, fairness, max_gap_interval

BY = ["race", "sex"]


def make_rows(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    race = rng.choice(6, n, p=[0.4, 0.25, 0.15, 0.1, 0.06, 0.04])
    sex = rng.integers(0, 2, n)
    y = (rng.random(n) < 0.35 + 0.03 * race).astype(np.int8)
    tpr = 0.75 - 0.04 * race
    fpr = 0.15 + 0.02 * sex
    p = (rng.random(n) < np.where(y == 1, tpr[race], fpr[sex])).astype(np.int8)
    return pl.DataFrame(
        {
            "race": pl.Series([f"r{v}" for v in range(6)])[race],
            "sex": pl.Series(["F", "M"])[sex],
            "y": y,
            "p": p,
        }
    )


def bench(rows: int, repeat: int) -> None:
    import fairlearn
    import fairlearn.metrics as fm

    df = make_rows(rows)
    pdf = df.to_pandas()

    def aidebt_run():
        return fairness(df, y_true="y", y_pred="p", by=BY)

    def fairlearn_run():
        out = {}
        for col in BY:
            for fn in (
                fm.demographic_parity_difference,
                fm.demographic_parity_ratio,
                fm.equalized_odds_difference,
                fm.equalized_odds_ratio,
            ):
                out[(col, fn.__name__)] = fn(pdf["y"], pdf["p"], sensitive_features=pdf[col])
        return out

    def bare_run():
        return (
            df.group_by(BY)
            .agg(
                pl.len().alias("n"),
                pl.col("p").sum().alias("pred_pos"),
                (pl.col("y") * pl.col("p")).sum().alias("tp"),
                pl.col("y").sum().alias("pos"),
            )
            .pipe(lambda t: [t.group_by(c).agg(pl.all().exclude(BY).sum()) for c in BY])
        )

    fr, ref = aidebt_run(), fairlearn_run()
    worst = max(
        abs(
            fr.table.filter((pl.col("attribute") == c) & (pl.col("summary") == f))["value"].item()
            - v
        )
        for (c, f), v in ref.items()
    )
    t_aidebt = median_seconds(aidebt_run, repeat)
    t_fair = median_seconds(fairlearn_run, 1)  # seconds to minutes: once is enough
    t_bare = median_seconds(bare_run, repeat)
    print(
        f"{rows:,} rows; attributes {BY}; fairlearn {fairlearn.__version__}; "
        f"largest |aidebt - fairlearn| = {worst:.1e}"
    )
    print(f"  fairlearn, 4 functions x {len(BY)} attributes, values only : {t_fair * 1e3:8.1f} ms")
    print(
        f"  aidebt, 6 summaries x {len(BY)} with intervals + four-fifths: {t_aidebt * 1e3:8.1f} ms"
    )
    print(f"  bare polars group-by of the counts                     : {t_bare * 1e3:8.1f} ms")
    print(
        f"  fairlearn / aidebt = {t_fair / t_aidebt:.1f}x; aidebt / bare = {t_aidebt / t_bare:.1f}x"
    )


# --------------------------------------------------------------------------------------
# Coverage simulations
# --------------------------------------------------------------------------------------
def _gap_cov(p, n, reps, rng, ratio=False):
    p = np.atleast_2d(np.asarray(p, dtype=float))
    x = rng.binomial(n, np.broadcast_to(p, (reps, *p.shape))).astype(float)
    out = {"cov": [], "lo_miss": [], "hi_miss": [], "value": [], "bias": [], "width": []}
    for s in range(0, reps, 200):  # batches of 200 replicates bound the memory
        xs = x[s : s + 200]
        r = max_gap_interval(xs, np.full(xs.shape, float(n)), ratio=ratio, n_boot=2000, seed=rng)
        truth = (p.min(-1) / p.max(-1)).min() if ratio else (p.max(-1) - p.min(-1)).max()
        out["cov"].append((r["lo"] <= truth + 1e-12) & (truth <= r["hi"] + 1e-12))
        out["lo_miss"].append(r["lo"] > truth + 1e-12)
        out["hi_miss"].append(r["hi"] < truth - 1e-12)
        out["value"].append(r["value"])
        out["bias"].append(r["bias"])
        out["width"].append(r["hi"] - r["lo"])
    res = {k: np.concatenate(v) for k, v in out.items()}
    return res, truth


def _line(label, res, truth, reps):
    cov = res["cov"].mean()
    se = np.sqrt(cov * (1 - cov) / reps) if 0 < cov < 1 else np.sqrt(0.95 * 0.05 / reps)
    bias = res["value"].mean() - truth
    bias_se = res["value"].std() / np.sqrt(reps)
    corrected = (res["value"] - res["bias"]).mean() - truth
    print(
        f"  {label:<34} truth {truth:6.3f}  coverage {cov:.3f} (MC SE {se:.3f}; low miss "
        f"{res['lo_miss'].mean():.3f}, high miss {res['hi_miss'].mean():.3f})  plug-in bias "
        f"{bias:+.4f} (SE {bias_se:.4f}), after bootstrap correction {corrected:+.4f}  "
        f"width {res['width'].mean():.3f}"
    )


def coverage(reps: int) -> None:
    rng = np.random.default_rng(2026)
    print(f"95% intervals; {reps} replicates per line; Beta draws 2,000 per replicate.")
    for n in (50, 200, 1000):
        se = np.sqrt(0.3 * 0.7 / n)
        print(f"Demographic parity difference, {n} rows per group, base rate 0.3 (se {se:.3f}):")
        for g in (3, 6, 12):
            for label, p in (
                ("all equal", [0.3] * g),
                ("one group +3 se", [0.3] * (g - 1) + [0.3 + 3 * se]),
                ("graded over 4 se", list(np.linspace(0.3, 0.3 + 4 * se, g))),
                ("two tied at +3 se", [0.3] * (g - 2) + [0.3 + 3 * se] * 2),
                ("one group far (+12 se, <= 0.9)", [0.3] * (g - 1) + [min(0.3 + 12 * se, 0.9)]),
            ):
                res, truth = _gap_cov(p, n, reps, rng)
                _line(f"{g:>2} groups, {label}", res, truth, reps)
    print("Demographic parity ratio (log scale), 300 rows per group:")
    for g in (3, 6, 12):
        for label, p in (
            ("all equal 0.4", [0.4] * g),
            ("one group at 0.25", [0.4] * (g - 1) + [0.25]),
            ("graded 0.3-0.45", list(np.linspace(0.3, 0.45, g))),
        ):
            res, truth = _gap_cov(p, 300, reps, rng, ratio=True)
            _line(f"{g:>2} groups, {label}", res, truth, reps)
    print("Equalized odds difference (TPR and FPR families), 300 rows per family and group:")
    for g in (3, 6, 12):
        for label, p in (
            ("all equal", [[0.8] * g, [0.2] * g]),
            ("TPR gap 0.1 in one group", [[0.8] * (g - 1) + [0.7], [0.2] * g]),
            ("TPR and FPR gaps tie", [[0.8] * (g - 1) + [0.72], [0.2] * (g - 1) + [0.28]]),
        ):
            res, truth = _gap_cov(p, 300, reps, rng)
            _line(f"{g:>2} groups, {label}", res, truth, reps)
    print("Overdispersion (a limitation): rows come in clusters of 20 sharing a random")
    print("effect (intra-cluster correlation 0.05); the binomial model ignores it:")
    for g in (3, 12):
        n, m, icc = 400, 20, 0.05
        a = 0.3 * (1 - icc) / icc
        b = 0.7 * (1 - icc) / icc
        q = rng.beta(a, b, size=(reps, 1, g, n // m))
        x = rng.binomial(m, q).sum(-1).astype(float)
        r = max_gap_interval(x, np.full(x.shape, float(n)), n_boot=2000, seed=rng)
        cov = (r["lo"] <= 1e-12).mean()
        print(
            f"  {g:>2} groups, all equal: coverage {cov:.3f} (MC SE {np.sqrt(cov * (1 - cov) / reps):.3f})"
        )

    print("ECE (10 equal-width bins, 1,500 rows, scores Beta(2, 2) held fixed):")
    edges = np.linspace(0, 1, 11)
    for label, fn in (
        ("calibrated (true ECE 0)", lambda s: s),
        ("logit shift +0.3", lambda s: expit(logit(s) + 0.3)),
        ("slope 0.7", lambda s: expit(0.7 * logit(s))),
    ):
        s = rng.beta(2, 2, 1500)
        bins = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, 9)
        q = fn(s)
        size = np.bincount(bins, minlength=10).astype(float)
        ssum = np.bincount(bins, weights=s, minlength=10)
        qsum = np.bincount(bins, weights=q, minlength=10)
        truth = (size / size.sum() * np.abs(qsum - ssum) / np.maximum(size, 1)).sum()
        y = rng.random((reps, len(s))) < q
        pos = np.stack([np.bincount(bins, weights=row, minlength=10) for row in y])
        est = estimate_ece(
            np.broadcast_to(size, pos.shape), pos, np.broadcast_to(ssum, pos.shape), seed=rng
        )
        res = {
            "cov": (est["lo"] <= truth + 1e-12) & (truth <= est["hi"] + 1e-12),
            "lo_miss": est["lo"] > truth + 1e-12,
            "hi_miss": est["hi"] < truth - 1e-12,
            "value": est["value"],
            "bias": est["bias"],
            "width": est["hi"] - est["lo"],
        }
        _line(label, res, truth, reps)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--coverage", action="store_true")
    parser.add_argument("--reps", type=int, default=2000)
    args = parser.parse_args()
    if args.coverage:
        coverage(args.reps)
    else:
        bench(args.rows, args.repeat)
