"""Time aidebt.disaggregate against fairlearn's MetricFrame and a bare polars group-by.

Same data, same run: 1M rows, three segment columns (10 x 5 x 3 = 150 intersections),
accuracy / fpr / fnr / selection_rate. aidebt computes values, Wilson intervals,
disparities to the overall with Newcombe intervals and Holm-adjusted p-values; fairlearn
computes the values only; the bare group-by computes only the confusion counts. Then 10M
rows for aidebt and the bare group-by. Ratios matter, not seconds (2 noisy cores).

    python benchmarks/bench_disaggregate.py [--rows 1000000] [--big 10000000] [--no-fairlearn]
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


def best_of(fn, df, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(df)
        times.append(time.perf_counter() - start)
    return min(times) if repeat > 1 else statistics.fmean(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big", type=int, default=10_000_000)
    parser.add_argument("--no-fairlearn", action="store_true")
    args = parser.parse_args()

    df = make_logs(args.rows)
    groups = run_aidebt(df).table.filter(pl.col("metric") == "accuracy").height
    print(f"{args.rows:,} rows, {groups} intersections, metrics {METRICS}")
    t_bare = best_of(bare_groupby, df, 7)
    t_ad = best_of(run_aidebt, df, 7)
    print(f"  bare polars group-by (counts only):        {t_bare * 1e3:8.1f} ms")
    print(
        f"  aidebt (values, intervals, disparities):   {t_ad * 1e3:8.1f} ms   {t_ad / t_bare:5.2f}x bare"
    )
    if not args.no_fairlearn:
        t_fl = best_of(run_fairlearn, df, 1)
        print(
            f"  fairlearn MetricFrame (values only):       {t_fl * 1e3:8.1f} ms   aidebt is {t_fl / t_ad:,.0f}x faster"
        )
    if args.big:
        big = make_logs(args.big, seed=1)
        t_bare = best_of(bare_groupby, big, 3)
        t_ad = best_of(run_aidebt, big, 3)
        print(f"{args.big:,} rows")
        print(f"  bare polars group-by:                      {t_bare * 1e3:8.1f} ms")
        print(
            f"  aidebt:                                    {t_ad * 1e3:8.1f} ms   {t_ad / t_bare:5.2f}x bare"
        )


if __name__ == "__main__":
    main()
