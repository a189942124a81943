"""Time aidebt.disaggregate against fairlearn's MetricFrame and a bare polars group-by.

Same data, same run: 1M rows, three segment columns (10 x 5 x 3 = 150 intersections),
accuracy / fpr / fnr / selection_rate. aidebt computes values, Wilson intervals,
disparities to the overall with Newcombe intervals and Holm-adjusted p-values; fairlearn
computes the values only; the bare group-by computes only the confusion counts. Then 10M
rows for aidebt and the bare group-by. Ratios matter, not seconds (2 noisy cores): aidebt
and the bare group-by run alternately, ``--runs`` times each (default 9), and the ratio
is that of their medians, with the range of the per-pair ratios.

    python benchmarks/bench_disaggregate.py [--rows 1000000] [--big 10000000] [--runs 9]
        [--no-fairlearn]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import polars as pl

import aidebt as ad

METRICS = ["accuracy", "fpr", "fnr", "selection_rate"]
BY = ["region", "language", "tier"]


def make_logs(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n, dtype=np.int8)
    flip = rng.random(n) < 0.1
    return pl.DataFrame(
        {
            "region": pl.Series(rng.integers(0, 10, n)).cast(pl.String).cast(pl.Categorical),
            "language": pl.Series(rng.integers(0, 5, n)).cast(pl.String).cast(pl.Categorical),
            "tier": pl.Series(rng.integers(0, 3, n)).cast(pl.String).cast(pl.Categorical),
            "y": y,
            "p": np.where(flip, 1 - y, y).astype(np.int8),
        }
    )


def bare_groupby(df: pl.DataFrame) -> pl.DataFrame:
    """The fastest plain-polars way we know to get the four confusion counts per group.

    Per-row indicator columns, then plain sums: polars keeps plain ``col.sum()`` on its
    fast group-by path (arithmetic inside ``agg`` is several times slower on 2 cores).
    """
    y, p = pl.col("y"), pl.col("p")
    return (
        df.lazy()
        .select(
            *BY,
            (y * p).alias("tp"),
            ((1 - y) * p).alias("fp"),
            (y * (1 - p)).alias("fn"),
            ((1 - y) * (1 - p)).alias("tn"),
        )
        .group_by(BY)
        .agg(pl.col("tp", "fp", "fn", "tn").sum(), pl.len().alias("n"))
        .collect()
    )


def run_aidebt(df: pl.DataFrame):
    return ad.disaggregate(df, y_true="y", y_pred="p", by=BY, metrics=METRICS)


def run_fairlearn(df: pl.DataFrame):
    from fairlearn.metrics import (
        MetricFrame,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
    )
    from sklearn.metrics import accuracy_score

    pdf = df.to_pandas()
    return MetricFrame(
        metrics={
            "accuracy": accuracy_score,
            "fpr": false_positive_rate,
            "fnr": false_negative_rate,
            "selection_rate": selection_rate,
        },
        y_true=pdf["y"],
        y_pred=pdf["p"],
        sensitive_features=pdf[BY],
    ).by_group


def timed(fn, df) -> float:
    start = time.perf_counter()
    fn(df)
    return time.perf_counter() - start


def side_by_side(df, runs: int) -> tuple[float, float, float, float]:
    """Alternate the bare group-by and aidebt ``runs`` times each (after one warm-up).

    Returns the two medians (seconds) and the lowest and highest ratio of a pair run
    back to back, so a burst of load on the shared cores shows as a wide range.
    """
    bare_groupby(df), run_aidebt(df)
    bare, ours = [], []
    for _ in range(runs):
        bare.append(timed(bare_groupby, df))
        ours.append(timed(run_aidebt, df))
    pairs = [a / b for a, b in zip(ours, bare, strict=True)]
    return statistics.median(bare), statistics.median(ours), min(pairs), max(pairs)


def report(t_bare: float, t_ad: float, low: float, high: float) -> None:
    print(f"  bare polars group-by (counts only), median: {t_bare * 1e3:8.1f} ms")
    print(
        f"  aidebt (values, intervals, disparities):   {t_ad * 1e3:8.1f} ms   "
        f"{t_ad / t_bare:5.2f}x bare (pairs {low:.2f}-{high:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--no-fairlearn", action="store_true")
    args = parser.parse_args()
    if args.runs < 7:
        parser.error("--runs must be at least 7 (a median of fewer is noise on 2 shared cores)")

    df = make_logs(args.rows)
    groups = run_aidebt(df).table.filter(pl.col("metric") == "accuracy").height
    print(f"{args.rows:,} rows, {groups} intersections, metrics {METRICS}, {args.runs} runs each")
    t_bare, t_ad, low, high = side_by_side(df, args.runs)
    report(t_bare, t_ad, low, high)
    if not args.no_fairlearn:
        t_fl = timed(run_fairlearn, df)
        print(
            f"  fairlearn MetricFrame (values only), once: {t_fl * 1e3:8.1f} ms   "
            f"aidebt is {t_fl / t_ad:,.0f}x faster"
        )
    if args.big:
        big = make_logs(args.big, seed=1)
        print(f"{args.big:,} rows")
        report(*side_by_side(big, args.runs))


if __name__ == "__main__":
    main()
