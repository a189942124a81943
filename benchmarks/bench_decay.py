"""Time the decay and drift analyses against the per-period loop they replace.

Same data, same run: the demo log at ``--per-month`` rows a month (14 months). aidebt
computes, in one aggregation pass each, the monthly accuracy with Wilson intervals, a
quasi-binomial trend with a Fieller crossing, and bootstrap-calibrated change points; and
drift of four columns against the first month (fixed PSI bins, bootstrap null, KS, chi-
square). The "loop" baseline is what a notebook often does: filter each month, compute
accuracy with scikit-learn, and a PSI with numpy bins rebuilt for the month - values only,
no intervals, no tests. The same analyses then run on DuckDB. Ratios matter, not seconds
(2 noisy cores).

    python benchmarks/bench_decay.py [--per-month 500000]
"""

from __future__ import annotations

import argparse

import numpy as np
import polars as pl
from _measure import median_seconds

import aidebt as ad


def aidebt_decay(data) -> None:
    d = ad.decay(data, "ts", "y_true", "y_pred")
    d.fit(start="2026-04").crossing(0.7)
    d.changepoints()


def aidebt_drift(data) -> None:
    ad.drift_over_time(data, "ts", ["intent", "region", "channel", "score"])


def loop_baseline(df: pl.DataFrame) -> None:
    from sklearn.metrics import accuracy_score

    months = df["ts"].dt.truncate("1mo")
    first = df.filter(months == months.min())
    ref = first["score"].to_numpy()
    for month in months.unique().sort():
        part = df.filter(months == month).drop_nulls("y_true")
        accuracy_score(part["y_true"].to_numpy(), part["y_pred"].to_numpy())
        cur = part["score"].to_numpy()
        edges = np.quantile(cur, np.linspace(0, 1, 11))  # rebuilt each month: not comparable
        r = np.histogram(ref, edges)[0] / ref.size + 1e-6
        c = np.histogram(cur, edges)[0] / cur.size + 1e-6
        float(np.sum((c - r) * np.log(c / r)))
        for col in ("intent", "region", "channel"):
            part[col].value_counts()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-month", type=int, default=500_000)
    args = parser.parse_args()
    df = ad.datasets.demo(n_per_month=args.per_month)
    print(f"demo log: {df.height:,} rows, 14 months")
    results = {
        "aidebt decay (table, fit, crossing, change points)": median_seconds(
            lambda: aidebt_decay(df)
        ),
        "aidebt drift_over_time (4 columns x 14 months)": median_seconds(lambda: aidebt_drift(df)),
        "loop: sklearn accuracy + numpy PSI per month (values only)": median_seconds(
            lambda: loop_baseline(df), repeat=1
        ),
    }
    try:
        import duckdb

        rel = duckdb.from_arrow(df.to_arrow())
        results["aidebt decay on DuckDB"] = median_seconds(lambda: aidebt_decay(rel))
        results["aidebt drift_over_time on DuckDB"] = median_seconds(lambda: aidebt_drift(rel))
    except ImportError:
        pass
    width = max(map(len, results))
    for name, seconds in results.items():
        print(f"{name:<{width}}  {seconds:7.2f} s")


if __name__ == "__main__":
    main()
