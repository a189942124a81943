"""aidebt.slices side by side with SliceLine (the ``sliceline`` package), same data, same run.

The log: ``--rows`` rows x 8 string columns of 3 to 12 levels, a 0/1 label and a 0/1
prediction whose error is planted (logistic, base rate ~12%):

- ``singles``: ``c2 = 3`` (+1.0 on the log-odds of an error) and ``c5 = 1`` (+0.8);
- ``pair``: ``c2 = 3`` (+1.0) and the pair ``c0 = 1 & c1 = 2`` (+1.5), each harmless alone.

Agreement (at 100k rows): aidebt's reported slices (error rate, depth 2, min_n=30, BY at
5%) against SliceLine's top-k (``alpha=0.95, k=4, max_l=2, min_sup=30``).
Times (same run, median of ``--repeat``): the whole ``aidebt.slices`` call (candidate
scan, one aggregation query per depth, every test, the adjustment); SliceLine's ``fit``
on the same columns already as a numpy array and the error vector (conversion not
counted: in its favour); and the floor, bare polars computing the same sums (overall,
8 columns, 28 pairs) in one query. Ratios matter more than seconds (2 noisy cores).

    python benchmarks/bench_slices.py [--rows 100000 1000000] [--repeat 3]

Measured 2026-11-30 (sliceline 0.3.0, polars 2.1.0, median of 3, 2 shared cores):
aidebt 0.178 s and 0.569 s at 100k and 1M rows, SliceLine 1.16 s and 24.26 s (6.5x and
42.6x slower), aidebt 4.48x and 1.98x the bare sums; 1,346 slices tested. Agreement at
100k: both find the singles c2 = 3 and c5 = 1 (aidebt also reports their pair, whose error
rate exceeds each part's: two log-odds effects compound on the rate scale); with the
planted pair, aidebt reports c0 = 1 & c1 = 2 and explains its parents by it, SliceLine's
top-4 lists the two parents instead of the pair.

sliceline (``pip install aidebt[bench]``) pins nothing the shared environment has in
another version; if it ever does, install it in a venv of its own and point
``--sliceline-python`` at that interpreter (the fit then runs in a subprocess on the
same data written to parquet).
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from aidebt.slices import slices

LEVELS = [4, 5, 6, 8, 10, 3, 7, 12]
COLUMNS = [f"c{i}" for i in range(len(LEVELS))]
SLICELINE = {"alpha": 0.95, "k": 4, "max_l": 2, "min_sup": 30}


def make_logs(n: int, plant: str = "pair", seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    codes = {c: rng.integers(0, k, n) for c, k in zip(COLUMNS, LEVELS, strict=True)}
    logit = -2.0 + 1.0 * (codes["c2"] == 3)
    if plant == "pair":
        logit = logit + 1.5 * ((codes["c0"] == 1) & (codes["c1"] == 2))
    else:
        logit = logit + 0.8 * (codes["c5"] == 1)
    err = rng.random(n) < 1 / (1 + np.exp(-logit))
    y = rng.integers(0, 2, n)
    frame = pl.DataFrame({c: pl.Series(v).cast(pl.String) for c, v in codes.items()})
    return frame.with_columns(
        y_true=pl.Series(y.astype(np.int8)),
        y_pred=pl.Series(np.where(err, 1 - y, y).astype(np.int8)),
    )


def run_aidebt(df: pl.DataFrame):
    return slices(df, y_true="y_true", y_pred="y_pred", metric="error_rate", max_depth=2)


_FIT = """
import json, sys, time
import numpy as np, polars as pl
from sliceline.slicefinder import Slicefinder
df = pl.read_parquet(sys.argv[1])
cols = json.loads(sys.argv[2]); params = json.loads(sys.argv[3])
X = df.select(cols).to_numpy()
e = (df["y_true"] != df["y_pred"]).cast(pl.Int8).to_numpy()
t = time.perf_counter()
sf = Slicefinder(verbose=False, **params).fit(X, e)
seconds = time.perf_counter() - t
top = [[f"{c} = {v}" for c, v in zip(cols, row) if v is not None] for row in sf.top_slices_]
print(json.dumps({"seconds": seconds, "top": top}))
"""


def run_sliceline(df: pl.DataFrame, python: str | None) -> tuple[float, list[str]]:
    """SliceLine's fit time and its top slices as ``"c0 = 1 & c1 = 2"`` strings."""
    if python:  # the peer in its own environment, on the same data
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "logs.parquet"
            df.write_parquet(path)
            out = subprocess.run(
                [python, "-c", _FIT, str(path), json.dumps(COLUMNS), json.dumps(SLICELINE)],
                check=True,
                capture_output=True,
                text=True,
            )
        got = json.loads(out.stdout.strip().splitlines()[-1])
        return got["seconds"], [" & ".join(t) for t in got["top"]]
    from sliceline.slicefinder import Slicefinder

    X = df.select(COLUMNS).to_numpy()
    e = (df["y_true"] != df["y_pred"]).cast(pl.Int8).to_numpy()
    t = time.perf_counter()
    sf = Slicefinder(verbose=False, **SLICELINE).fit(X, e)
    seconds = time.perf_counter() - t
    top = [
        " & ".join(f"{c} = {v}" for c, v in zip(COLUMNS, row, strict=True) if v is not None)
        for row in sf.top_slices_
    ]
    return seconds, top


def bare_sums(df: pl.DataFrame) -> pl.DataFrame:
    """The same sums with bare polars: errors and rows per column and pair, one query."""
    lazy = df.lazy().select(*COLUMNS, err=(pl.col("y_true") != pl.col("y_pred")).cast(pl.Int64))
    sets = [[], *([c] for c in COLUMNS), *(list(p) for p in itertools.combinations(COLUMNS, 2))]
    branches = []
    for i, keys in enumerate(sets):
        agg = [pl.col("err").sum(), pl.len().alias("rows")]
        g = lazy.group_by(keys).agg(agg) if keys else lazy.select(agg)
        branches.append(
            g.select(
                pl.lit(i).alias("set"),
                pl.concat_str([pl.col(k) for k in keys], separator="|").alias("key")
                if keys
                else pl.lit("").alias("key"),
                "err",
                "rows",
            )
        )
    return pl.concat(branches).collect()


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sliceline-python", default=None)
    args = ap.parse_args()
    versions = {p: md.version(p) for p in ("polars", "sliceline", "scikit-learn", "numpy")}
    print(f"versions: {versions}")

    print("\nAgreement at 100,000 rows:")
    for plant in ("singles", "pair"):
        df = make_logs(100_000, plant)
        s = run_aidebt(df)
        _, top = run_sliceline(df, args.sliceline_python)
        print(f"  {plant}: aidebt reports {s.table['slice'].to_list()}")
        explained = s.evaluated.filter(pl.col("status") == "explained by a child")
        if explained.height:
            print(f"          (explained by a reported pair: {explained['slice'].to_list()})")
        print(f"          SliceLine top-{SLICELINE['k']}: {top}")

    print(f"\nTimes (median of {args.repeat}), {len(COLUMNS)} columns, depth 2:")
    print(
        f"  {'rows':>10}  {'aidebt':>9}  {'SliceLine':>10}  {'bare sums':>9}  "
        f"{'SliceLine/aidebt':>16}  {'aidebt/bare':>11}  slices tested"
    )
    for n in args.rows:
        df = make_logs(n, "pair")
        run_aidebt(df)  # warm up
        t_aidebt = timed(lambda df=df: run_aidebt(df), args.repeat)
        t_bare = timed(lambda df=df: bare_sums(df), args.repeat)
        t_sl = statistics.median(
            run_sliceline(df, args.sliceline_python)[0] for _ in range(max(1, args.repeat - 1))
        )
        tested = run_aidebt(df).n_tests
        print(
            f"  {n:>10,}  {t_aidebt:>8.3f}s  {t_sl:>9.2f}s  {t_bare:>8.3f}s  "
            f"{t_sl / t_aidebt:>15.1f}x  {t_aidebt / t_bare:>10.2f}x  {tested:,}"
        )


if __name__ == "__main__":
    sys.exit(main())
