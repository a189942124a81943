"""Metrics of a numeric column (p50/p95/p99 of latency, tokens, cost; its mean) in
disaggregate, compare and decay: the figures equal quantile_table's, the comparisons
equal stats' quantile difference, and bad input says what is wrong."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import polars as pl
import pytest

import aidebt as ad
from aidebt import metrics as mreg
from aidebt import stats as st
from aidebt.compare import PairingWarning
from aidebt.datasets import demo_versions
from aidebt.errors import ColumnNotFoundError, ColumnTypeError, InvalidArgumentError
from aidebt.versions import quantile_table

QS = {"p50_latency_ms": 0.5, "p95_latency_ms": 0.95, "p99_latency_ms": 0.99}


@pytest.fixture(scope="module")
def runs() -> pl.DataFrame:
    return demo_versions(n_items=1_500)


def _expected(runs, by, qs=(0.5, 0.95, 0.99), value="latency_ms", confidence=0.95):
    t = quantile_table(runs, value=value, by=by, qs=qs, confidence=confidence, moments=False)
    return t.with_columns(metric=pl.col("statistic") + f"_{value}")


def _same(got: pl.DataFrame, want: pl.DataFrame, keys: list[str]) -> None:
    joined = got.join(want, on=[*keys, "metric"], how="inner", suffix="_q")
    assert joined.height == want.height > 0
    for col in ("value", "ci_low", "ci_high", "n"):
        a = joined[col].to_numpy().astype(float)
        b = joined[f"{col}_q"].to_numpy().astype(float)
        assert np.allclose(a, b, equal_nan=True, rtol=0, atol=0), col


# ---------------------------------------------------------------------- names
def test_metric_names_of_a_column():
    m = mreg.get("p95_latency_ms")
    assert (m.kind, m.q, m.column, m.higher_is_better) == ("quantile", 0.95, "latency_ms", False)
    assert mreg.get("p99.9_cost").q == pytest.approx(0.999)
    assert mreg.get("p50_x").name == "p50_x" and mreg.get("P95_x").q == 0.95
    mean = mreg.get("mean_cost_usd")
    assert (mean.kind, mean.total, mean.size) == ("mean", "sum(cost_usd)", "count(cost_usd)")
    assert mreg.get("mean_score").name == "mean_score"  # the registry comes first
    assert mreg.get(mreg.quantile("x", 0.9, method="sketch")).method == "sketch"
    with pytest.raises(InvalidArgumentError, match="A quantile names its column: p95_latency_ms"):
        mreg.get("p95")
    with pytest.raises(InvalidArgumentError, match="strictly between 0 and 1"):
        mreg.quantile("x", 1.5)


# ---------------------------------------------------------------- disaggregate
def test_disaggregate_quantiles_equal_quantile_table(runs):
    by = ["prompt_version", "task"]
    r = ad.disaggregate(runs, by=by, metrics=list(QS), margins=True)
    rows = r.table.filter(pl.col("prompt_version") != "(all)", pl.col("task") != "(all)")
    _same(rows, _expected(runs, by), by)
    for col in by:  # each margin is its own pass, not a re-sum
        margin = r.table.filter(
            pl.col(col) != "(all)", *(pl.col(c) == "(all)" for c in by if c != col)
        )
        _same(margin, _expected(runs, [col]), [col])
    _same(r.overall, _expected(runs, None), [])
    # Compared with the overall as two independent quantiles (conservative: the group is
    # part of the overall), Price & Bonett's construction.
    row = rows.filter(pl.col("metric") == "p95_latency_ms").row(0, named=True)
    ov = _expected(runs, None).filter(pl.col("statistic") == "p95").row(0, named=True)
    mine = (
        _expected(runs, by)
        .filter(
            pl.col("statistic") == "p95",
            pl.col("prompt_version") == row["prompt_version"],
            pl.col("task") == row["task"],
        )
        .row(0, named=True)
    )
    want = st.quantile_difference(
        mine["value"],
        mine["ci_low"],
        mine["ci_high"],
        mine["coverage"],
        ov["value"],
        ov["ci_low"],
        ov["ci_high"],
        ov["coverage"],
    )
    assert row["diff"] == pytest.approx(float(want["diff"]), abs=1e-9)
    assert row["diff_ci_low"] == pytest.approx(float(want["diff_lo"]), rel=1e-9)
    assert row["diff_ci_high"] == pytest.approx(float(want["diff_hi"]), rel=1e-9)
    assert row["p_value"] == pytest.approx(float(want["p"]), rel=1e-9)


def test_column_mean_equals_the_t_interval(runs):
    r = ad.disaggregate(runs, by="task", metrics=["mean_cost_usd"])
    want = quantile_table(runs, value="cost_usd", by="task", qs=()).filter(
        pl.col("statistic") == "mean"
    )
    got = r.table.join(want, on="task")
    assert np.allclose(got["value"], got["value_right"], rtol=1e-12)
    assert np.allclose(got["ci_low"], got["ci_low_right"], rtol=1e-9)
    assert np.allclose(got["ci_high"], got["ci_high_right"], rtol=1e-9)


def test_quantiles_at_another_level_and_in_duckdb(runs):
    r = ad.disaggregate(runs, by="task", metrics=["p95_latency_ms"], confidence=0.9)
    _same(r.table, _expected(runs, "task", qs=(0.95,), confidence=0.9), ["task"])
    other = r.conf_int(0.5)  # from the stored standard error: a normal reading
    assert ((other["ci_low"] <= other["value"]) & (other["value"] <= other["ci_high"])).all()
    assert ((other["ci_high"] - other["ci_low"]) < (r.table["ci_high"] - r.table["ci_low"])).all()
    con = duckdb.connect()
    rel = con.from_arrow(runs.to_arrow())
    d = ad.disaggregate(rel, by="task", metrics=["p95_latency_ms"], confidence=0.9)
    assert d.table.select("task", "value", "ci_low", "ci_high").equals(
        r.table.select("task", "value", "ci_low", "ci_high")
    )


def test_the_sketch_metric_is_within_its_relative_error(runs):
    sketch = mreg.quantile("latency_ms", 0.95, method="sketch", relative_error=0.01)
    r = ad.disaggregate(runs, by="task", metrics=[sketch, "p95_latency_ms"])
    wide = r.table.pivot(on="metric", index="task", values="value")
    rel = (wide["p95_latency_ms"] - wide["p95_latency_ms"]).abs()  # same name: exact wins
    assert (rel == 0).all()
    s = ad.disaggregate(runs, by="task", metrics=[sketch]).table
    e = _expected(runs, "task", qs=(0.95,))
    both = s.join(e, on="task")
    assert ((both["value"] / both["value_right"] - 1).abs() <= 0.0101).all()


# -------------------------------------------------------------------- compare
def test_unpaired_compare_of_quantiles(runs):
    with pytest.warns(PairingWarning, match="pass item='item_id' for the paired comparison"):
        c = ad.compare(
            runs, version="prompt_version", baseline="v1", metrics=["p95_latency_ms"], by="task"
        )
    per_version = _expected(runs, "prompt_version", qs=(0.95,))
    v = {r["prompt_version"]: r for r in per_version.iter_rows(named=True)}
    ov = c.overall.row(0, named=True)
    assert ov["value"] == v["v2"]["value"] and ov["baseline_value"] == v["v1"]["value"]
    assert (ov["ci_low"], ov["ci_high"]) == (v["v2"]["ci_low"], v["v2"]["ci_high"])
    want = st.quantile_difference(
        *(v["v2"][k] for k in ("value", "ci_low", "ci_high", "coverage")),
        *(v["v1"][k] for k in ("value", "ci_low", "ci_high", "coverage")),
    )
    assert ov["diff_ci_low"] == pytest.approx(float(want["diff_lo"]), rel=1e-12)
    assert ov["diff_ci_high"] == pytest.approx(float(want["diff_hi"]), rel=1e-12)
    seg = c.table.filter(pl.col("task") != "(all)").select("task", "value")
    by_task = _expected(runs.filter(prompt_version="v2"), "task", qs=(0.95,))
    assert seg.sort("task")["value"].to_list() == by_task.sort("task")["value"].to_list()
    assert ov["simpson"] is None  # a quantile is not an average: no Simpson guard


def test_paired_compare_of_quantiles_equals_the_values_path(runs):
    m1 = runs.filter(model_version="m1")
    by_name = ad.compare(
        m1, version="prompt_version", item="item_id", metrics=["p95_latency_ms", "mean_cost_usd"]
    )
    assert by_name.table["metric"].to_list() == ["p95_latency_ms", "mean_cost_usd"]
    by_values = ad.compare_paired(
        m1,
        version="prompt_version",
        item="item_id",
        values=["latency_ms", "cost_usd"],
        quantiles=(0.95,),
    )
    a = by_name.table.select("metric", "diff", "diff_ci_low", "diff_ci_high")
    b = by_values.table.filter(pl.col("metric").is_in(["p95_latency_ms", "mean_cost_usd"]))
    assert a.equals(b.select(a.columns))


# ---------------------------------------------------------------------- decay
def test_decay_of_a_quantile_equals_quantile_table_per_month():
    rng = np.random.default_rng(3)
    n = 6_000
    days = rng.integers(0, 150, n)
    ts = [dt.datetime(2026, 1, 1) + dt.timedelta(days=int(d)) for d in days]
    slow = 1 + 0.004 * days  # the tail grows month after month
    df = pl.DataFrame({"ts": ts, "latency_ms": rng.lognormal(6, 0.5, n) * slow})
    d = ad.decay(df, time="ts", metric="p95_latency_ms")
    month = df.with_columns(period=pl.col("ts").dt.truncate("1mo").dt.date())
    want = _expected(month, "period", qs=(0.95,)).with_columns(pl.col("period").str.to_date())
    got = d.table.with_columns(pl.col("period").cast(pl.Date))
    _same(got, want, ["period"])
    trend = d.fit()
    assert trend.model == "linear" and trend.table["slope_ci_low"][0] > 0


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda df: ad.disaggregate(df, by="task", metrics=["p95_task"]),
            ColumnTypeError,
            "Column 'task' .the column of p95_task. has type String .* a quantile or a mean "
            "needs numbers",
        ),
        (
            lambda df: ad.compare(df, version="prompt_version", metrics=["p95_flag"]),
            ColumnTypeError,
            "0/1 flag is a rate",
        ),
        (
            lambda df: ad.decay(df.with_columns(ts=dt.datetime(2026, 1, 1)), "ts", metric="p95_x"),
            ColumnNotFoundError,
            "'x'",
        ),
        (
            lambda df: ad.disaggregate(df, metrics=["p95_latency_ms"], weight="n"),
            InvalidArgumentError,
            "does not take frequency weights",
        ),
        (
            lambda df: ad.compare(
                df,
                version="prompt_version",
                metrics=["p95_latency_ms"],
                item="item_id",
                y_score="latency_ms",
            ),
            InvalidArgumentError,
            "applies to the unpaired comparison only",
        ),
    ],
)
def test_bad_input_is_a_clear_message(runs, call, error, message):
    df = runs.head(400).with_columns(flag=pl.col("correct") == 1, n=pl.lit(1))
    with pytest.raises(error, match=message):
        call(df)
