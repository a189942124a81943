"""The earlier spellings of renamed arguments still work for one release, with a warning
that names the new spelling, and give the same result as the new one."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import aidebt as ad
from aidebt.errors import InvalidArgumentError


@pytest.fixture(scope="module")
def logs() -> pl.DataFrame:
    return ad.datasets.demo(n_per_month=1_500, months=4).with_columns(w=pl.lit(2))


def test_weight_by_position_in_decay(logs):
    want = ad.decay(logs, "ts", "y_true", "y_pred", "accuracy", "1mo", None, None, weight="w")
    with pytest.warns(DeprecationWarning, match=r"decay\(\): passing weight by position.*weight="):
        got = ad.decay(logs, "ts", "y_true", "y_pred", "accuracy", "1mo", None, None, "w")
    assert_frame_equal(got.table, want.table)


def test_weight_by_position_in_compare(logs):
    args = (logs, "prompt_version", "v1", "y_true", "y_pred", ["accuracy"], "tier")
    want = ad.compare(*args, weight="w", warn=False)
    with pytest.warns(DeprecationWarning, match=r"compare\(\): passing weight by position"):
        got = ad.compare(*args, "w", warn=False)
    assert_frame_equal(got.table, want.table)


def test_weight_baseline_depth_by_position_in_simpson(logs):
    want = ad.simpson(logs, "y_true", "prompt_version", "tier", weight="w", baseline="v1")
    with pytest.warns(DeprecationWarning, match=r"weight, baseline by position.*weight=\.\.\."):
        got = ad.simpson(logs, "y_true", "prompt_version", "tier", "w", "v1")
    assert_frame_equal(got.table, want.table)
    with pytest.raises(TypeError, match="multiple values for 'weight'"):
        ad.simpson(logs, "y_true", "prompt_version", "tier", "w", weight="w")


def test_alpha_is_confidence_in_the_drift_family(logs):
    first = logs.filter(pl.col("ts") < dt.datetime(2025, 11, 1))
    last = logs.filter(pl.col("ts") >= dt.datetime(2026, 1, 1))
    want = ad.drift(first, last, ["intent", "score"], confidence=0.9)
    with pytest.warns(
        DeprecationWarning, match=r"drift\(alpha=\.\.\.\) is deprecated.*confidence="
    ):
        got = ad.drift(first, last, ["intent", "score"], alpha=0.1)
    assert_frame_equal(got.table, want.table)
    assert got.alpha == want.alpha == 0.1 and got.confidence == want.confidence == 0.9
    want = ad.drift_over_time(logs, "ts", ["intent"], confidence=0.99)
    with pytest.warns(DeprecationWarning, match=r"drift_over_time\(alpha=\.\.\.\)"):
        got = ad.drift_over_time(logs, "ts", ["intent"], alpha=0.01)
    assert_frame_equal(got.table, want.table)
    with pytest.raises(InvalidArgumentError, match="both alpha= and confidence="):
        ad.drift(first, last, ["intent"], alpha=0.1, confidence=0.9)


def test_the_default_level_is_unchanged(logs):
    """confidence=0.95 tests at exactly 0.05: a p-value of 0.05 is not significant."""
    r = ad.drift(logs, logs, ["intent"])
    assert r.alpha == 0.05 and r.confidence == 0.95
    assert ad.stats.test_level(0.95) == 0.05


def test_coverage_says_reference_and_current(logs):
    golden = ad.datasets.demo_eval(800).with_columns(w=pl.lit(3))
    kw = {"by": "intent", "y_true": "y_true", "y_pred": "y_pred"}
    want = ad.coverage(golden, logs, reference_weight="w", **kw)
    assert want.table.height == 1
    with pytest.warns(DeprecationWarning) as caught:
        got = ad.coverage(eval_data=golden, production=logs, eval_weight="w", **kw)
    said = " ".join(str(w.message) for w in caught)
    for new in ("reference=", "current=", "reference_weight="):
        assert new in said
    assert_frame_equal(got.table, want.table)
    assert np.isfinite(got.table["value"][0])
