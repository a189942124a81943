"""Time aidebt.labels.agreement on 10M label rows (1M items x 10 raters; goal: within 3x
a bare polars aggregation of the coincidence counts, same run).

Labels are 5 ordered categories: each rater gives the item's true category with
probability 0.8, a uniform category otherwise, and 5% of the ratings are missing.
Timed: ``agreement(...)`` with its Krippendorff alpha and Fleiss/bootstrap work (1,000
item-bootstrap resamples), median of ``--repeat`` runs. For scale, two bare polars
formulations of the coincidence counts on the same in-memory frame: the per-item value
counts pivoted and grouped by pattern (the fastest we know; known values), and the
textbook self-join of the (item, value) counts on the item. ``.pairs`` (rater x rater,
its own self-join pass) is not part of the timed call. Ratios matter more than seconds
(2 noisy cores).

    python benchmarks/bench_labels.py [--items 1000000] [--raters 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import polars as pl

from aidebt.labels import agreement


def make_labels(items: int, raters: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 6, items)
    n = items * raters
    label = np.where(rng.random(n) < 0.8, np.repeat(truth, raters), rng.integers(1, 6, n))
    frame = pl.DataFrame(
        {
            "item": np.repeat(np.arange(items), raters),
            "rater": pl.Series([f"r{i}" for i in range(raters)]).gather(
                np.tile(np.arange(raters), items)
            ),
            "label": label,
        }
    )
    return frame.with_columns(
        pl.when(pl.Series(rng.random(n)) >= 0.05).then(pl.col("label")).alias("label")
    )


def bare_patterns(df: pl.DataFrame) -> np.ndarray:
    values = range(1, 6)
    wide = (
        df.lazy()
        .filter(pl.col("label").is_not_null())
        .group_by("item")
        .agg([(pl.col("label") == v).sum().alias(f"n{v}") for v in values])
    )
    pat = wide.group_by([f"n{v}" for v in values]).len().collect()
    counts = pat.select([f"n{v}" for v in values]).to_numpy().astype(float)
    m = counts.sum(1)
    ok = m >= 2
    c, w = counts[ok], pat["len"].to_numpy()[ok] / (m[ok] - 1)
    return np.einsum("p,pc,pk->ck", w, c, c) - np.diag((w[:, None] * c).sum(0))


def bare_selfjoin(df: pl.DataFrame) -> pl.DataFrame:
    iv = (
        df.lazy()
        .filter(pl.col("label").is_not_null())
        .group_by("item", "label")
        .agg(n=pl.len())
        .with_columns(m=pl.col("n").sum().over("item"))
        .filter(pl.col("m") > 1)
    )
    other = iv.select("item", pl.col("label").alias("k"), pl.col("n").alias("nk"))
    pairs = iv.join(other, on="item")
    same = pl.when(pl.col("label") == pl.col("k")).then(pl.col("n")).otherwise(0)
    return (
        pairs.group_by("label", "k")
        .agg(o=((pl.col("n") * pl.col("nk") - same) / (pl.col("m") - 1)).sum())
        .collect()
    )


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--raters", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    df = make_labels(args.items, args.raters)
    print(
        f"{df.height:,} label rows ({args.items:,} items x {args.raters} raters), polars {pl.__version__}"
    )
    ours = timed(
        lambda: agreement(df, item="item", rater="rater", label="label", level="ordinal"),
        args.repeat,
    )
    fast = timed(lambda: bare_patterns(df), args.repeat)
    join = timed(lambda: bare_selfjoin(df), args.repeat)
    r = agreement(df, item="item", rater="rater", label="label", level="ordinal")
    print(r.table)
    print(f"aidebt agreement (alpha + Fleiss + 2 x 1,000 bootstrap): {ours:8.3f} s")
    print(
        f"bare polars, pattern pivot:                             {fast:8.3f} s  ratio {ours / fast:.2f}x"
    )
    print(
        f"bare polars, self-join of (item, value) counts:         {join:8.3f} s  ratio {ours / join:.2f}x"
    )


if __name__ == "__main__":
    main()
