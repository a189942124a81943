"""aidebt.estimate side by side with NannyML's CBPE, on NannyML's own synthetic car-loan data.

Same data, same run. NannyML pins versions of its own, so it lives in its own virtualenv
(``/work/benchvenv/nannyml``, or ``--nannyml-python``) and runs there as a subprocess on
the same parquet files; usage telemetry is switched off (``NML_DISABLE_USAGE_LOGGING=1``).

1. NannyML's venv exports ``load_synthetic_car_loan_dataset()``: a labeled reference
   (50,000 loans, 2018) and an analysis set (50,000 loans) whose labels ship separately;
   the labels are joined back as the hidden truth.
2. Both tools estimate monthly accuracy and ROC AUC of the analysis set from its scores
   alone, calibrated on the reference (isotonic, both). NannyML: ``CBPE(chunk_period="M")``;
   aidebt: ``ad.estimate(..., every="1mo")`` on the analysis set without its labels.
3. The realized monthly values come from the hidden labels (scikit-learn); the mean
   absolute error of each tool's estimates is reported, and aidebt's interval coverage.

    python benchmarks/bench_estimate.py [--nannyml-python /work/benchvenv/nannyml/bin/python]

Measured 2026-11-30 (NannyML 0.13.1, 11 months of the analysis set): mean absolute error of
the monthly estimates, accuracy 0.0040 (NannyML) and 0.0040 (aidebt), ROC AUC 0.0047 and
0.0047; the two tools' estimates differ by at most 3.2e-8 (the same method); aidebt's 95%
intervals covered the realized value in 9 of 11 months for both metrics (NannyML's +/- 1.96
SE: 10 of 11 for accuracy, 8 of 11 for AUC); 0.22 s for aidebt with 200 bootstrap refits,
0.77 s for NannyML.

Set up NannyML's venv once with:
    python3 -m venv /work/benchvenv/nannyml
    /work/benchvenv/nannyml/bin/pip install nannyml statsmodels "pandas<3" polars
(NannyML 0.13.1 imports statsmodels without declaring it; pandas is kept below 3 as a
precaution, NannyML 0.13.1 predating it - not tried with pandas 3.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.metrics import accuracy_score, roc_auc_score

from aidebt.estimate import estimate

NANNYML_PYTHON = "/work/benchvenv/nannyml/bin/python"

EXPORT = textwrap.dedent(
    """
    import sys, nannyml as nml, pandas as pd
    out = sys.argv[1]
    ref, ana, tgt = nml.load_synthetic_car_loan_dataset()
    ana = ana.merge(tgt, on="id")
    for name, df in (("reference", ref), ("analysis", ana)):
        df = df.copy()
        df["timestamp"] = pd.to_datetime(df["timestamp"])
        df["repaid"] = df["repaid"].astype("int8")
        df[["id", "timestamp", "y_pred_proba", "y_pred", "repaid"]].to_parquet(f"{out}/{name}.parquet")
    print(nml.__version__)
    """
)

RUN_NANNYML = textwrap.dedent(
    """
    import sys, json, time, nannyml as nml, pandas as pd
    folder = sys.argv[1]
    ref = pd.read_parquet(f"{folder}/reference.parquet")
    ana = pd.read_parquet(f"{folder}/analysis.parquet").drop(columns=["repaid"])
    start = time.perf_counter()
    cbpe = nml.CBPE(
        y_pred_proba="y_pred_proba", y_pred="y_pred", y_true="repaid", timestamp_column_name="timestamp",
        metrics=["accuracy", "roc_auc"], chunk_period="M", problem_type="classification_binary",
    )
    cbpe.fit(ref)
    res = cbpe.estimate(ana).filter(period="analysis").to_df()
    seconds = time.perf_counter() - start
    rows = []
    for _, r in res.iterrows():
        rows.append({
            "start": str(r[("chunk", "start_date")])[:10],
            "accuracy": float(r[("accuracy", "value")]),
            "roc_auc": float(r[("roc_auc", "value")]),
            "accuracy_se": float(r[("accuracy", "sampling_error")]),
            "roc_auc_se": float(r[("roc_auc", "sampling_error")]),
        })
    print(json.dumps({"seconds": seconds, "rows": rows, "version": nml.__version__}))
    """
)


def _run(python: str, code: str, *args: str) -> str:
    env = {**os.environ, "NML_DISABLE_USAGE_LOGGING": "1"}
    done = subprocess.run(
        [python, "-c", code, *args], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode:
        raise RuntimeError(f"NannyML subprocess failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1]


def realized(analysis: pl.DataFrame) -> pl.DataFrame:
    """Monthly accuracy and ROC AUC from the hidden labels (scikit-learn)."""
    rows = []
    months = analysis.with_columns(month=pl.col("timestamp").dt.truncate("1mo"))
    for (month,), part in months.group_by("month", maintain_order=True):
        y, p, s = (part[c].to_numpy() for c in ("repaid", "y_pred", "y_pred_proba"))
        rows.append(
            {
                "start": month.date().isoformat(),
                "n": part.height,
                "accuracy": accuracy_score(y, p),
                "roc_auc": roc_auc_score(y, s),
            }
        )
    return pl.DataFrame(rows).sort("start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nannyml-python", default=NANNYML_PYTHON)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench_estimate_"))
    version = _run(args.nannyml_python, EXPORT, str(folder))
    reference = pl.read_parquet(folder / "reference.parquet")
    analysis = pl.read_parquet(folder / "analysis.parquet")
    truth = realized(analysis)

    nml_out = json.loads(_run(args.nannyml_python, RUN_NANNYML, str(folder)))
    nml = pl.DataFrame(nml_out["rows"]).rename(
        {
            "accuracy": "nml_accuracy",
            "roc_auc": "nml_roc_auc",
            "accuracy_se": "nml_accuracy_se",
            "roc_auc_se": "nml_roc_auc_se",
        }
    )

    start = time.perf_counter()
    est = estimate(
        analysis.drop("repaid"),
        y_score="y_pred_proba",
        y_pred="y_pred",
        y_true="repaid",
        time="timestamp",
        reference=reference,
        every="1mo",
        metrics=["accuracy", "auc"],
    )
    seconds = time.perf_counter() - start
    ours = (
        est.table.with_columns(start=pl.col("period").cast(pl.String))
        .pivot("metric", index="start", values=["estimate", "ci_low", "ci_high"])
        .rename(
            {
                "estimate_accuracy": "aidebt_accuracy",
                "estimate_auc": "aidebt_roc_auc",
            }
        )
    )
    both = truth.join(nml, on="start").join(ours, on="start").sort("start")
    pl.Config.set_tbl_rows(30)
    pl.Config.set_tbl_cols(12)
    pl.Config.set_tbl_width_chars(200)
    print(f"NannyML {version} (its own venv) vs aidebt, car-loan analysis set, per month:")
    print(
        both.select(
            "start",
            "n",
            "accuracy",
            "nml_accuracy",
            "aidebt_accuracy",
            "roc_auc",
            "nml_roc_auc",
            "aidebt_roc_auc",
        )
    )
    covered = {
        m: float(
            both.select(
                (
                    (pl.col(m) >= pl.col(f"ci_low_{k}")) & (pl.col(m) <= pl.col(f"ci_high_{k}"))
                ).mean()
            ).item()
        )
        for m, k in (("accuracy", "accuracy"), ("roc_auc", "auc"))
    }
    nml_covered = {
        m: float(
            both.select(
                ((pl.col(m) - pl.col(f"nml_{m}")).abs() <= 1.96 * pl.col(f"nml_{m}_se")).mean()
            ).item()
        )
        for m in ("accuracy", "roc_auc")
    }
    print()
    print("mean absolute error of the estimates against the realized values:")
    result = {}
    for metric in ("accuracy", "roc_auc"):
        truth_v = both[metric].to_numpy()
        mae_nml = float(np.mean(np.abs(both[f"nml_{metric}"].to_numpy() - truth_v)))
        mae_ours = float(np.mean(np.abs(both[f"aidebt_{metric}"].to_numpy() - truth_v)))
        result[metric] = (mae_nml, mae_ours)
        print(
            f"  {metric:9s} NannyML {mae_nml:.4f}   aidebt {mae_ours:.4f}   "
            f"(95% intervals covered the realized value in {covered[metric]:.0%} of "
            f"{both.height} months for aidebt, {nml_covered[metric]:.0%} for NannyML's "
            "estimate +- 1.96 sampling errors)"
        )
    gap = max(
        float((both[f"nml_{m}"] - both[f"aidebt_{m}"]).abs().max()) for m in ("accuracy", "roc_auc")
    )
    print(f"largest difference between the two tools' estimates: {gap:.1e}")
    print(
        f"time (same run; NannyML includes its own fit): NannyML {nml_out['seconds']:.2f} s, "
        f"aidebt {seconds:.2f} s (incl. {200} bootstrap refits of the calibration)"
    )
    worse = [m for m, (a, b) in result.items() if b > a + 0.002]
    print("aidebt no worse than NannyML:", "yes" if not worse else f"NO for {worse}")


if __name__ == "__main__":
    main()
