"""Time aidebt.simpson's auto-scan: 10 candidate stratifiers on 10M rows (goal: < 3 s).

The log has a 0/1 outcome with 5% unlabeled rows, a compare column (two prompt versions)
confounded with ``tier`` (the planted reversal), nine more string stratifiers of 2 to 8
levels independent of it, and three columns the scan must skip on its own (a timestamp,
a prediction, a float score): 10 candidates. Timed: the whole call (candidate selection,
the aggregation query, Mantel-Haenszel, Breslow-Day, Kitagawa, intervals), median of
``--repeat`` runs. For scale, the same sums with bare polars: one query of ten group-bys
(the floor), and ten separate queries (what a loop over stratifiers costs), both on
polars' in-memory engine like aidebt here.
Ratios matter more than seconds (2 noisy cores).

    python benchmarks/bench_simpson.py [--rows 10000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import polars as pl

import aidebt as ad

LEVELS = [3, 2, 3, 4, 4, 5, 5, 6, 6, 8]  # s0 is the tier: 3 levels


def make_logs(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)

    def strings(prefix: str, k: int, codes: np.ndarray) -> pl.Series:
        return pl.Series([f"{prefix}{j}" for j in range(k)], dtype=pl.String).gather(codes)

    tier = rng.integers(0, 3, n)
    prompt = (rng.random(n) < np.array([0.2, 0.5, 0.8])[tier]).astype(np.int64)
    p = np.array([0.80, 0.74, 0.60])[tier] + 0.025 * prompt
    y = pl.Series((rng.random(n) < p).astype(np.int8))
    y = y.scatter(np.flatnonzero(rng.random(n) < 0.05), None)
    columns = {"tier": pl.Series(["free", "pro", "enterprise"]).gather(tier)}
    for i, k in enumerate(LEVELS[1:], start=1):
        columns[f"s{i}"] = strings(f"s{i}_", k, rng.integers(0, k, n))
    score = rng.random(n)
    return pl.DataFrame(
        {
            **columns,
            "prompt_version": pl.Series(["v1", "v2"]).gather(prompt),
            "y_true": y,
            "y_pred": pl.Series((score >= 0.5).astype(np.int8)),
            "score": score,
            "ts": pl.datetime_range(
                pl.datetime(2026, 1, 1), pl.datetime(2026, 12, 31), eager=True
            ).gather(rng.integers(0, 365, n)),
        }
    )


def bare_sums(df: pl.DataFrame, strata: list[str], *, one_query: bool) -> list[pl.DataFrame]:
    y = pl.col("y_true")
    prepared = df.lazy().select(
        "prompt_version", *strata, y.is_not_null().cast(pl.Int64).alias("n"), y.fill_null(0)
    )
    queries = [
        prepared.group_by("prompt_version", s).agg(pl.col("n").sum(), pl.col("y_true").sum())
        for s in strata
    ]
    if one_query:
        return pl.collect_all(queries, engine="in-memory")
    return [q.collect(engine="in-memory") for q in queries]


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    start = time.perf_counter()
    logs = make_logs(args.rows)
    print(
        f"generated {logs.height:,} rows x {logs.width} columns in {time.perf_counter() - start:.1f} s"
    )

    seconds, result = timed(lambda: ad.simpson(logs, "y_true", "prompt_version"), args.repeat)
    strata = result.stratifiers
    findings = result.findings().select("stratifier", "level", "verdict").rows()
    print(
        f"aidebt.simpson auto-scan: {seconds:.2f} s (median of {args.repeat}) - "
        f"{result.n_candidates} candidates scanned ({', '.join(strata)}), "
        f"aggregation: {result.strategy}, findings: {findings}"
    )
    skipped = result.candidates.filter(pl.col("status") == "skipped")
    print(f"  skipped on their own: {', '.join(skipped['column'])}")
    one, _ = timed(lambda: bare_sums(logs, strata, one_query=True), args.repeat)
    many, _ = timed(lambda: bare_sums(logs, strata, one_query=False), args.repeat)
    print(f"bare polars, the sums only, one query of {len(strata)} group-bys: {one:.2f} s")
    print(f"bare polars, the sums only, {len(strata)} separate queries:       {many:.2f} s")
    goal = "met" if seconds < 3 else "MISSED"
    print(f"goal < 3 s at {args.rows:,} rows: {goal} ({seconds:.2f} s)")


if __name__ == "__main__":
    main()
