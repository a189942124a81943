"""Exact AUC per month against NannyML, and drift on pandas input against polars input.

Same data, same run; ratios matter, not seconds (a shared 2-core machine).

1. **Accuracy + exact ROC AUC per month** (issue 22). A prediction log of ``--rows`` rows
   (default 10M) over 12 months, with a continuous score (every row its own score: the
   hard case for an exact AUC, whose distinct-score table is as long as the data), is
   written once to ``benchmarks/_data/auc-<rows>.parquet`` (not committed). Each tool then
   runs in a fresh process on that file, reads it (not timed; peak memory includes it),
   warms up on 10,000 rows (not timed) and computes the monthly accuracy and ROC AUC:

   * aidebt: ``ad.decay(..., metric="accuracy")`` and ``ad.decay(..., metric="auc",
     y_score=...)`` on the polars frame: values with Wilson / DeLong intervals, AUC's
     placement sums by window functions in polars (:func:`aidebt.aggregate.auc_sums`);
   * NannyML (its own virtualenv, ``--nannyml-python``; usage telemetry off):
     ``PerformanceCalculator(metrics=["roc_auc", "accuracy"], chunk_period="M")``, fitted on
     the first month (its reference) and run on every month; timed with and without the fit.

   The monthly values of the two are compared (largest absolute difference).
   ``--rounded`` adds the same run on scores rounded to 3 decimals, where aidebt's
   automatic choice takes the distinct-score table instead.

2. **Drift on pandas input** at ``--drift-rows`` (default 1M) rows of the demo log:
   ``ad.drift(reference, current, columns)`` and ``ad.drift_over_time`` on polars frames and
   on the same rows as pandas frames (converted before the clock starts), median of
   ``--repeat`` runs; the tables must be identical.

    python benchmarks/bench_auc.py [--rows 10000000] [--drift-rows 1000000] [--repeat 3]
                                   [--nannyml-python /work/benchvenv/nannyml/bin/python]
                                   [--rounded] [--skip-nannyml] [--skip-drift]

NannyML's venv (see benchmarks/bench_estimate.py): ``python3 -m venv /work/benchvenv/nannyml
&& /work/benchvenv/nannyml/bin/pip install nannyml statsmodels "pandas<3" pyarrow``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import polars as pl
from _measure import median_seconds

HERE = Path(__file__).resolve().parent
NANNYML_PYTHON = "/work/benchvenv/nannyml/bin/python"

AIDEBT = textwrap.dedent(
    """
    import json, resource, sys, time
    import polars as pl
    import aidebt as ad
    df = pl.read_parquet(sys.argv[1])
    # Warm up on a slice (modules aidebt loads on first use; NannyML's load at import).
    ad.decay(df.head(10_000), "ts", "y", metric="auc", y_score="score")
    start = time.perf_counter()
    acc = ad.decay(df, "ts", "y", "pred", metric="accuracy")
    auc = ad.decay(df, "ts", "y", metric="auc", y_score="score")
    seconds = time.perf_counter() - start
    rows = (
        acc.table.select(pl.col("period").cast(pl.String).alias("start"), accuracy="value")
        .join(auc.table.select(pl.col("period").cast(pl.String).alias("start"), roc_auc="value"),
              on="start")
        .sort("start")
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "peak": peak, "rows": rows.to_dicts(),
                      "version": ad.__version__, "polars": pl.__version__}))
    """
)

NANNYML = textwrap.dedent(
    """
    import json, resource, sys, time
    import nannyml as nml, pandas as pd
    df = pd.read_parquet(sys.argv[1])
    first = df["ts"].dt.to_period("M") == df["ts"].dt.to_period("M").min()
    reference = df[first]
    warm = nml.PerformanceCalculator(
        y_pred_proba="score", y_pred="pred", y_true="y", timestamp_column_name="ts",
        metrics=["roc_auc", "accuracy"], chunk_period="M", problem_type="classification_binary",
    )
    warm.fit(reference.head(10_000)).calculate(df.head(10_000))
    start = time.perf_counter()
    calc = nml.PerformanceCalculator(
        y_pred_proba="score", y_pred="pred", y_true="y", timestamp_column_name="ts",
        metrics=["roc_auc", "accuracy"], chunk_period="M", problem_type="classification_binary",
    )
    calc.fit(reference)
    fitted = time.perf_counter()
    res = calc.calculate(df).filter(period="analysis").to_df()
    end = time.perf_counter()
    rows = [
        {"start": str(r[("chunk", "start_date")])[:10],
         "accuracy": float(r[("accuracy", "value")]), "roc_auc": float(r[("roc_auc", "value")])}
        for _, r in res.iterrows()
    ]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": end - start, "calculate": end - fitted, "peak": peak,
                      "rows": rows, "version": nml.__version__, "pandas": pd.__version__}))
    """
)


def write_log(rows: int, rounded: bool = False) -> Path:
    """12 months of predictions; a continuous score, or the same rounded to 3 decimals."""
    folder = HERE / "_data"
    folder.mkdir(exist_ok=True)
    path = folder / f"auc-{rows}{'-rounded' if rounded else ''}.parquet"
    if path.exists():
        return path
    rng = np.random.default_rng(22)
    start = np.datetime64("2025-12-01T00:00:00", "s")
    seconds = np.sort(rng.integers(0, 365 * 86_400, rows))
    month = seconds / (365 * 86_400)
    latent = rng.normal(0, 1, rows)
    # A model that loses a little separation every month (AUC from about 0.80 to 0.72).
    y = (latent + rng.normal(0, 0.9 + 0.35 * month, rows) > 0.6).astype(np.int8)
    score = 1 / (1 + np.exp(-(latent - 0.6)))
    if rounded:
        score = np.round(score, 3)
    pl.DataFrame(
        {
            "ts": (start + seconds.astype("timedelta64[s]")).astype("datetime64[us]"),
            "y": y,
            "pred": (score > 0.5).astype(np.int8),
            "score": score,
        }
    ).write_parquet(path)
    return path


def run(python: str, code: str, path: Path) -> dict:
    env = {**os.environ, "NML_DISABLE_USAGE_LOGGING": "1"}
    done = subprocess.run(
        [python, "-c", code, str(path)], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode:
        raise RuntimeError(f"{python} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare_auc(path: Path, nannyml_python: str | None) -> None:
    ours = run(sys.executable, AIDEBT, path)
    print(f"{path.name}: aidebt {ours['version']} (polars {ours['polars']})")
    print(
        f"  aidebt decay accuracy + decay auc: {ours['seconds']:.2f} s, peak {ours['peak'] / 1e9:.2f} GB"
    )
    if nannyml_python is None:
        return
    nml = run(nannyml_python, NANNYML, path)
    print(f"  NannyML {nml['version']} (pandas {nml['pandas']}) PerformanceCalculator:")
    print(
        f"    fit on the first month + calculate: {nml['seconds']:.2f} s "
        f"(calculate alone {nml['calculate']:.2f} s), peak {nml['peak'] / 1e9:.2f} GB"
    )
    a = pl.DataFrame(ours["rows"])
    b = pl.DataFrame(nml["rows"]).rename({"accuracy": "nml_accuracy", "roc_auc": "nml_roc_auc"})
    both = a.join(b, on="start", how="full", coalesce=True).sort("start")
    if both.null_count().sum_horizontal().item():
        print("  months differ between the tools:")
        print(both)
    diff = {m: float((both[m] - both[f"nml_{m}"]).abs().max()) for m in ("accuracy", "roc_auc")}
    print(
        f"  {both.height} months; largest difference: accuracy {diff['accuracy']:.1e}, "
        f"ROC AUC {diff['roc_auc']:.1e}"
    )
    print(
        f"  ratio NannyML / aidebt: {nml['seconds'] / ours['seconds']:.2f}x with NannyML's fit, "
        f"{nml['calculate'] / ours['seconds']:.2f}x its calculate alone; "
        f"peak memory NannyML / aidebt {nml['peak'] / ours['peak']:.2f}x"
    )


def compare_drift(rows: int, repeat: int) -> None:
    import pandas as pd
    from polars.testing import assert_frame_equal

    import aidebt as ad

    df = ad.datasets.demo(n_per_month=-(-rows // 14))
    cols = ["intent", "region", "channel", "tier", "language", "score"]
    cutoff = df["ts"].sort()[df.height // 3]
    ref, cur = df.filter(pl.col("ts") < cutoff), df.filter(pl.col("ts") >= cutoff)
    ref_pd, cur_pd, df_pd = ref.to_pandas(), cur.to_pandas(), df.to_pandas()
    print(
        f"drift: demo log, {df.height:,} rows ({ref.height:,} reference, {cur.height:,} "
        f"current), {len(cols)} columns; pandas {pd.__version__}, polars {pl.__version__}; "
        f"median of {repeat}"
    )
    calls = {
        "drift": (
            lambda: ad.drift(ref, cur, cols),
            lambda: ad.drift(ref_pd, cur_pd, cols),
        ),
        "drift_over_time": (
            lambda: ad.drift_over_time(df, "ts", cols),
            lambda: ad.drift_over_time(df_pd, "ts", cols),
        ),
    }
    for name, (on_polars, on_pandas) in calls.items():
        assert_frame_equal(on_polars().table, on_pandas().table, check_exact=True)
        t_pl = median_seconds(on_polars, repeat)
        t_pd = median_seconds(on_pandas, repeat)
        print(
            f"  {name}: polars {t_pl:.2f} s, pandas {t_pd:.2f} s: pandas / polars "
            f"{t_pd / t_pl:.2f}x (tables identical)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--drift-rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--nannyml-python", default=NANNYML_PYTHON)
    parser.add_argument("--rounded", action="store_true")
    parser.add_argument("--skip-nannyml", action="store_true")
    parser.add_argument("--skip-drift", action="store_true")
    args = parser.parse_args()
    peer = None if args.skip_nannyml else args.nannyml_python
    print(f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores (shared: ratios, not seconds)")
    compare_auc(write_log(args.rows), peer)
    if args.rounded:
        compare_auc(write_log(args.rows, rounded=True), peer)
    if not args.skip_drift:
        compare_drift(args.drift_rows, args.repeat)


if __name__ == "__main__":
    main()
