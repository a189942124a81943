"""Drift on Spark: exact reference quantiles against approximate ones (``quantile_error``).

Same data, same Spark session, same run; the ratio matters, not seconds (a shared 2-core
machine, Spark in local mode).

A reference and a current table of ``--rows`` rows each (default 2M) with three numeric
columns (a normal ``x`` that moves by 0.3 SD in the current table, a gamma ``amount``
rounded to cents, a beta ``score``) and a ``region`` category are written once to
``benchmarks/_data/drift-spark-<rows>-{ref,cur}.parquet`` (not committed) and read by
Spark as tables. After a warm-up on 10,000 rows (not timed), ``ad.drift(ref, cur)`` runs

* with exact edges (the default: one exact ``percentile`` aggregate per numeric column,
  over the array of 99 probabilities; the 99 separate aggregates per column that
  narwhals' ``quantile`` builds ran out of a 4 GB heap at 200,000 rows), and
* with ``quantile_error=e`` for each ``--errors`` value (every edge of every numeric column
  from one ``percentile_approx`` aggregation, ``accuracy = ceil(1 / e)``),

each ``--repeat`` times (median), and the edges alone (the one aggregation of the reference
that computes them, exact or approximate). The printout gives the times, the ratios exact
/ approximate, whether the flagged columns agree, and each column's PSI both ways.

    python benchmarks/bench_drift_spark.py [--rows 2000000] [--errors 0.001,0.01]
                                           [--repeat 1] [--cores 2] [--driver-memory 4g]
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent


def _table(seed: int, n: int, shift: float) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "x": rng.normal(shift, 1.0, n),
            "amount": rng.gamma(2.0, 10.0, n).round(2),
            "score": rng.beta(2.0, 5.0, n),
            "region": rng.choice(["EU", "NA", "APAC", "LATAM"], n, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )


def _files(rows: int) -> tuple[Path, Path]:
    folder = HERE / "_data"
    folder.mkdir(exist_ok=True)
    paths = (
        folder / f"drift-spark-{rows}-ref.parquet",
        folder / f"drift-spark-{rows}-cur.parquet",
    )
    for path, (seed, shift) in zip(paths, ((1, 0.0), (2, 0.3)), strict=True):
        if not path.exists():
            _table(seed, rows, shift).write_parquet(path)
    return paths


def _session(cores: int, memory: str):
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spark = (
            SparkSession.builder.master(f"local[{cores}]")
            .appName("aidebt-bench-drift-spark")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.memory", memory)
            .config("spark.sql.shuffle.partitions", str(cores))
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .getOrCreate()
        )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--errors", default="0.001,0.01")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--driver-memory", default="4g")
    args = parser.parse_args()
    errors = [float(e) for e in args.errors.split(",")]

    import pyspark

    import aidebt as ad
    from aidebt import frames

    drift_module = importlib.import_module("aidebt.drift")  # aidebt.drift is the function

    ref_path, cur_path = _files(args.rows)
    small = _files(10_000)
    spark = _session(args.cores, args.driver_memory)
    read = spark.read.parquet
    # Warm-up: the JVM's first queries and aidebt's first imports, both paths.
    for e in (None, errors[0]):
        ad.drift(read(str(small[0])), read(str(small[1])), quantile_error=e)

    ref, cur = read(str(ref_path)), read(str(cur_path))
    ref.count(), cur.count()  # the files' first listing and footers, outside the clock
    frame = frames.to_lazy(ref)
    schema = frames.columns(frame)
    numeric = ["x", "amount", "score"]
    qs = np.arange(1, 100) / 100
    runs, edges = {}, {}
    for e in (None, *errors):
        times, edge_times = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = ad.drift(ref, cur, quantile_error=e)
            times.append(time.perf_counter() - start)
            start = time.perf_counter()
            drift_module._spark_quantiles(frame, numeric, schema, qs, e)
            edge_times.append(time.perf_counter() - start)
        runs[e] = (statistics.median(times), result)
        edges[e] = statistics.median(edge_times)
    spark.stop()

    exact_s, exact = runs[None]
    print(
        f"drift on Spark {pyspark.__version__} local[{args.cores}], {args.rows:,} + "
        f"{args.rows:,} rows, 3 numeric columns and a category (median of {args.repeat}):"
    )
    print(
        f"  exact edges                 {exact_s:8.2f} s   1   (the edges alone {edges[None]:.2f} s)"
    )
    for e in errors:
        secs, r = runs[e]
        same = r.table["drifted"].to_list() == exact.table["drifted"].to_list()
        print(
            f"  quantile_error={e:<10g}  {secs:8.2f} s   exact / approximate = "
            f"{exact_s / secs:.1f}x; the edges alone {edges[e]:.2f} s, "
            f"{edges[None] / edges[e]:.1f}x; same flagged columns: {same}"
        )
    psi = {"column": exact.table["column"], "exact": exact.table["psi"]}
    psi.update({f"e={e:g}": runs[e][1].table["psi"] for e in errors})
    with pl.Config(tbl_hide_dataframe_shape=True, float_precision=5):
        print(pl.DataFrame(psi))
    print(f"flagged (exact): {exact.table.filter(pl.col('drifted'))['column'].to_list()}")
    print(runs[errors[0]][1].notes()[0])


if __name__ == "__main__":
    main()
