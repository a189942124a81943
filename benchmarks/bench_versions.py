"""Time aidebt's per-group quantiles against a bare polars group-by quantile, same run.

10M rows of a skewed latency (log-normal) in 50 groups. aidebt computes the p95 of each
group with its exact distribution-free interval (two more order statistics, ranks from the
binomial) in one polars group-by; the bare group-by computes the p95 point only. The same
through the metric ``p95_latency_ms`` of ``ad.disaggregate`` (its groups, the overall row
and the disparities). Also:
p50/p95/p99 with the mean and sum; the log-bucket sketch (1% relative error) in polars
and in DuckDB against DuckDB's own exact ``quantile_disc``; and the paired comparison of a
10k-item eval. Timings interleave the contenders and keep the best of ``--repeat`` runs;
ratios matter, not seconds (2 noisy, shared cores).

    python benchmarks/bench_versions.py [--rows 10000000] [--groups 50] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time

import duckdb
import numpy as np
import polars as pl

from aidebt.datasets import demo_versions
from aidebt.disaggregate import disaggregate
from aidebt.versions import compare_paired, quantile_table


def make_latencies(n: int, groups: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, n)
    return pl.DataFrame(
        {
            "segment": pl.Series(g).cast(pl.String),
            "latency_ms": rng.lognormal(6.0 + 0.01 * g, 0.8, n),
        }
    )


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def race(contenders: dict, repeat: int) -> dict[str, float]:
    """Best time of each contender, runs interleaved so that load spikes hit all alike."""
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(repeat):
        for name, fn in contenders.items():
            best[name] = min(best[name], timed(fn))
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    df = make_latencies(args.rows, args.groups)
    con = duckdb.connect()
    rel = con.from_arrow(df.to_arrow())
    con.register("lat", df.to_arrow())
    print(
        f"{args.rows:,} rows, {args.groups} groups; polars {pl.__version__}, duckdb {duckdb.__version__}"
    )

    p95 = race(
        {
            "bare polars p95": lambda: df.group_by("segment").agg(
                pl.col("latency_ms").quantile(0.95, "nearest")
            ),
            "aidebt p95 + exact interval": lambda: quantile_table(
                df, value="latency_ms", by="segment", qs=(0.95,), moments=False
            ),
            # The metric p95_latency_ms: the sums pass, the groups' quantiles and the
            # overall's (a quantile is no re-sum), with disparities to the overall.
            "ad.disaggregate(metrics=['p95_latency_ms'])": lambda: disaggregate(
                df, by="segment", metrics=["p95_latency_ms"]
            ),
        },
        args.repeat,
    )
    base = p95["bare polars p95"]
    for name, t in p95.items():
        print(f"  {name:44s} {t * 1e3:9.1f} ms   {t / base:5.2f}x bare")

    three = race(
        {
            "bare polars p50/p95/p99": lambda: df.group_by("segment").agg(
                pl.col("latency_ms").quantile(q, "nearest").alias(str(q)) for q in (0.5, 0.95, 0.99)
            ),
            "aidebt p50/p95/p99 + intervals + mean/sum": lambda: quantile_table(
                df, value="latency_ms", by="segment"
            ),
            "aidebt sketch (1%), polars": lambda: quantile_table(
                df, value="latency_ms", by="segment", method="sketch"
            ),
        },
        args.repeat,
    )
    base = three["bare polars p50/p95/p99"]
    for name, t in three.items():
        print(f"  {name:44s} {t * 1e3:9.1f} ms   {t / base:5.2f}x bare")

    duck = race(
        {
            "duckdb quantile_disc p50/p95/p99": lambda: con.sql(
                "select segment, quantile_disc(latency_ms, [0.5, 0.95, 0.99]) from lat "
                "group by segment"
            ).pl(),
            "aidebt sketch (1%), in duckdb": lambda: quantile_table(
                rel, value="latency_ms", by="segment", method="sketch"
            ),
        },
        max(1, args.repeat // 2),
    )
    base = duck["duckdb quantile_disc p50/p95/p99"]
    for name, t in duck.items():
        print(f"  {name:44s} {t * 1e3:9.1f} ms   {t / base:5.2f}x duckdb")

    ev = demo_versions(n_items=10_000)
    t = race(
        {
            "paired: accuracy + format errors, 4 segments": lambda: compare_paired(
                ev,
                version="prompt_version",
                item="item_id",
                baseline="v1",
                y_true="y_true",
                y_pred="y_pred",
                outcome="format_error",
                higher_is_better=False,
                by=["model_version", "task"],
            ),
            "paired + latency mean/p50/p95 (1,000 boot)": lambda: compare_paired(
                ev,
                version="prompt_version",
                item="item_id",
                baseline="v1",
                y_true="y_true",
                y_pred="y_pred",
                by=["model_version", "task"],
                values="latency_ms",
            ),
        },
        2,
    )
    print(f"paired comparison of a {ev.height:,}-row eval (10,000 items x 2 prompts x 2 models)")
    for name, secs in t.items():
        print(f"  {name:44s} {secs * 1e3:9.1f} ms")


if __name__ == "__main__":
    main()
