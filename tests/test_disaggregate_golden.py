"""disaggregate's full tables, figure for figure, against files written before a rewrite.

The files under tests/data/disaggregate/ were written by the implementation of
2026-11-30 (before the inference on the small table was vectorized over metrics, issue
22), from seeded inputs that reach every path of the inference: the default metrics over
three segment columns with unlabeled rows and a missing group; weights, margins, a named
reference group, scores (AUC, Brier, ECE), F1, counts and a numeric mean; the best group
as the reference; the same score metrics against the overall. A faster implementation must give the same table, estimate columns
(``_x``, ``_se``, ``_bins``), overall row and sums of the pass (``stats``), to the last bit (the inputs are chosen so that
every sum of the pass is exact, whatever order the engine adds it in).

Regenerate (only when a figure is meant to change, saying why in the commit):
``python tests/test_disaggregate_golden.py --write``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import aidebt as ad

DATA = Path(__file__).parent / "data" / "disaggregate"


def _logs(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(float)
    p = np.where(rng.random(n) < 0.15, 1 - y, y)
    y[rng.random(n) < 0.05] = np.nan  # labels that have not arrived
    region = rng.choice([f"r{i}" for i in range(6)], n, p=[0.4, 0.2, 0.15, 0.1, 0.1, 0.05])
    return pl.DataFrame(
        {
            "region": pl.Series(region).cast(pl.Categorical),
            "language": pl.Series(
                rng.choice(["en", "de", "ja", None], n, p=[0.5, 0.3, 0.19, 0.01])
            ),
            "tier": rng.integers(0, 3, n),
            "y": pl.Series(y, nan_to_null=True).cast(pl.Int8),
            "p": p.astype(np.int8),
            # Scores in 1/256ths and whole-millisecond latencies: every sum of the pass is exact
            # in floating point, so the engine's order of addition cannot move a figure.
            "score": np.round(np.clip(0.6 * p + 0.4 * rng.random(n), 0, 1) * 256) / 256,
            "w": rng.integers(1, 4, n),
            "latency": np.round(rng.gamma(2.0, 150.0, n)),
        }
    )


def _cases() -> dict[str, ad.Disaggregation]:
    logs = _logs(6_000, seed=22)
    return {
        "default": ad.disaggregate(logs, y_true="y", y_pred="p", by=["region", "language", "tier"]),
        "weighted_margins": ad.disaggregate(
            logs,
            y_true="y",
            y_pred="p",
            y_score="score",
            weight="w",
            by=["region", "language"],
            metrics=["accuracy", "precision", "tpr", "f1", "count", "prevalence", "auc", "brier"],
            reference=("r1", "en"),
            margins=True,
            confidence=0.9,
            adjust="fdr_bh",
        ),
        "best_scores": ad.disaggregate(
            logs,
            y_true="y",
            y_pred="p",
            y_score="score",
            by="region",
            metrics=["fnr", "mean_score", "ece", "auc", "npv", "mean_latency", "p90_latency"],
            reference="best",
            min_n=400,
            ci="jeffreys",
        ),
        "scores_overall": ad.disaggregate(
            logs,
            y_true="y",
            y_pred="p",
            y_score="score",
            by=["region", "tier"],
            metrics=["f1", "auc", "count", "ece", "p90_latency", "tpr", "mean_score", "brier"],
            ci="exact",
        ),
        "mean_overall": ad.disaggregate(
            logs.with_columns(pl.col("latency").alias("cost")),
            y_true="cost",
            by=["tier", "region"],
            metrics=["mean"],
            margins=True,
        ),
    }


def _tables(r: ad.Disaggregation) -> dict[str, pl.DataFrame]:
    return {"table": r.table, "estimates": r.estimates, "overall": r.overall, "stats": r.stats}


def write() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    for name, result in _cases().items():
        for part, frame in _tables(result).items():
            frame.write_parquet(DATA / f"{name}.{part}.parquet")


@pytest.fixture(scope="module")
def cases() -> dict[str, ad.Disaggregation]:
    return _cases()


@pytest.mark.parametrize(
    "name", ["default", "weighted_margins", "best_scores", "scores_overall", "mean_overall"]
)
@pytest.mark.parametrize("part", ["table", "estimates", "overall", "stats"])
def test_same_table_as_before(cases, name: str, part: str) -> None:
    expected = pl.read_parquet(DATA / f"{name}.{part}.parquet")
    got = _tables(cases[name])[part]
    assert got.columns == expected.columns
    assert_frame_equal(got, expected, check_exact=True)


if __name__ == "__main__" and "--write" in sys.argv:
    write()
