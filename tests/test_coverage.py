"""coverage: golden-set decay on the demo, post-stratification by hand, bad input."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint

import aidebt as ad
from aidebt.errors import ColumnNotFoundError, ColumnTypeError, InvalidArgumentError


@pytest.fixture(scope="module")
def demo():
    return ad.datasets.demo(n_per_month=20_000), ad.datasets.demo_eval()


def test_golden_set_decay_on_the_demo(demo):
    logs, golden = demo
    c = ad.coverage(golden, logs, by="intent", time="ts", y_true="y_true", y_pred="y_pred")
    t = c.table
    assert t.height == 14
    # The new intent (from month 7, 2026-04) is traffic the eval set never saw.
    assert (t["uncovered_share"][:6] == 0).all()
    assert t["uncovered_share"][-1] == pytest.approx(0.38, abs=0.02)
    assert t["unseen_share"][-1] == t["uncovered_share"][-1]
    assert "account_recovery" in t["top_uncovered"][-1]
    assert t["js_distance"][-1] > 0.4 > 0.05 > t["js_distance"][0]
    # Raw eval accuracy is flat by construction; re-weighted to traffic, it falls.
    assert t["raw_value"].n_unique() == 1
    assert t["value"][0] == pytest.approx(t["raw_value"][0], abs=0.005)
    assert t["value"][-1] == pytest.approx(0.862, abs=0.012)
    assert t["gap"][-1] < -0.03 and t["ci_high"][-1] < t["raw_value"][-1]
    assert (t["value"].diff().drop_nulls()[6:] < 0).all()
    assert t["n_eff"][-1] < t["n_eff"][0] <= golden.height
    text = " ".join(c.summary())
    assert "37% of production traffic" in text and "overstates" in text


def test_post_stratification_by_hand():
    eval_data = pl.DataFrame(
        {
            "seg": ["a"] * 100 + ["b"] * 50,
            "y": [1] * 90 + [0] * 10 + [1] * 30 + [0] * 20,
            "p": [1] * 150,
        }
    )
    prod = pl.DataFrame(
        {
            "t": [dt.date(2026, 1, 10)] * 100 + [dt.date(2026, 2, 10)] * 100,
            "seg": ["a"] * 80 + ["b"] * 20 + ["a"] * 20 + ["b"] * 60 + ["new"] * 20,
        }
    )
    c = ad.coverage(eval_data, prod, by="seg", time="t", y_true="y", y_pred="p", k=60)
    jan, feb = c.table.row(0, named=True), c.table.row(1, named=True)
    # January: 80% a (acc 0.9, 100 examples), 20% b (acc 0.6, 50 examples).
    assert jan["value"] == pytest.approx(0.8 * 0.9 + 0.2 * 0.6)
    n_eff = 1 / (0.8**2 / 100 + 0.2**2 / 50)
    assert jan["n_eff"] == pytest.approx(n_eff)
    lo, hi = proportion_confint(jan["value"] * n_eff, n_eff, method="wilson")
    assert (jan["ci_low"], jan["ci_high"]) == pytest.approx((lo, hi))
    assert jan["uncovered_share"] == pytest.approx(0.2)  # b has 50 < k=60 examples
    assert jan["raw_value"] == pytest.approx(120 / 150)
    # February: 'new' is unseen; the estimate re-weights a and b over 80% of traffic.
    assert feb["unseen_share"] == pytest.approx(0.2) and feb["covered_share"] == pytest.approx(0.8)
    assert feb["value"] == pytest.approx(0.25 * 0.9 + 0.75 * 0.6)
    assert feb["uncovered_share"] == pytest.approx(0.8)
    seg = c.segments.filter(pl.col("period") == dt.date(2026, 2, 1)).sort("seg")
    assert seg["eval_n"].to_list() == [100, 50, 0] and seg["covered"].to_list() == [
        True,
        False,
        False,
    ]


def test_without_labels_or_time(demo):
    logs, golden = demo
    c = ad.coverage(golden, logs, by=["intent", "tier"])
    assert c.table.height == 1 and "value" not in c.table.columns
    assert c.table["uncovered_share"][0] > 0.1
    c = ad.coverage(golden, logs.head(30_000), by="intent", time="ts", every="1w")
    assert c.table["period"].dt.weekday().unique().to_list() == [1]
    assert c.chart().to_dict()


def test_mean_metric_poststratified():
    eval_data = pl.DataFrame({"seg": ["a"] * 50 + ["b"] * 50, "y": [1.0] * 50 + [3.0] * 50})
    prod = pl.DataFrame({"seg": ["a"] * 30 + ["b"] * 10})
    c = ad.coverage(eval_data, prod, by="seg", y_true="y", metric="mean")
    assert c.table["value"][0] == pytest.approx(0.75 * 1 + 0.25 * 3)


def test_bad_input(demo):
    logs, golden = demo
    with pytest.raises(InvalidArgumentError, match="post-stratifies"):
        ad.coverage(golden, logs, by="intent", y_true="y_true", y_pred="y_pred", metric="f1")
    with pytest.raises(ColumnNotFoundError):
        ad.coverage(golden, logs, by="intnet")
    with pytest.raises(ColumnTypeError, match="Date or Datetime"):
        ad.coverage(golden, logs.with_columns(pl.col("ts").cast(pl.String)), by="intent", time="ts")
    with pytest.raises(InvalidArgumentError, match="k="):
        ad.coverage(golden, logs, by="intent", k=0)
    with pytest.raises(InvalidArgumentError, match="segment"):
        ad.coverage(golden, logs, by=[])
    with pytest.raises(InvalidArgumentError, match="no rows"):
        ad.coverage(golden, logs.head(0), by="intent", time="ts")


def test_summary_and_html(demo):
    logs, golden = demo
    c = ad.coverage(golden, logs, by="intent", time="ts", y_true="y_true", y_pred="y_pred")
    html = c._repr_html_()
    assert "<table" in html and "Eval-set coverage" in html
    spec = c.chart().to_dict()
    assert len(spec["vconcat"]) == 2
    assert c.table["js_distance"].is_finite().all()
