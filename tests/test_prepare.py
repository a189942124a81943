"""The shared first half of every analysis (aidebt.prepare): one way to check, one pass."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import aidebt as ad
from aidebt.errors import ColumnNotFoundError, ColumnTypeError, InvalidArgumentError
from aidebt.prepare import check_min_n, prepare


def _df() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "g": ["a", "a", "b", "b"],
            "v": ["v1", "v2", "v1", "v2"],
            "y": [1, 0, 1, None],
            "p": [1, 1, 0, 1],
            "s": [0.9, 0.4, 0.3, 0.8],
            "w": [1, 2, 3, 4],
            "label": ["x", "y", "x", "y"],
        }
    )


@pytest.mark.parametrize("bad", [True, False, -1, "30", None])
def test_min_n_is_checked_one_way(bad):
    with pytest.raises(InvalidArgumentError, match=r"min_n=.* must be a number >= 0"):
        check_min_n(bad)
    # ... and the same way by every analysis that takes it (True was once accepted by
    # disaggregate and refused by compare).
    with pytest.raises(InvalidArgumentError, match="min_n"):
        ad.disaggregate(_df(), y_true="y", y_pred="p", by="g", min_n=bad)
    with pytest.raises(InvalidArgumentError, match="min_n"):
        ad.compare(_df(), version="v", y_true="y", y_pred="p", min_n=bad)
    assert check_min_n(0) == 0 and check_min_n(2.5) == 2.5


@pytest.mark.parametrize("bad", [0, 1, 1.5, True])
def test_confidence_is_checked_one_way(bad):
    with pytest.raises(InvalidArgumentError, match="confidence"):
        prepare(_df(), metrics=["accuracy"], y_true="y", y_pred="p", confidence=bad)


def test_metrics_resolve_aliases_once_and_name_the_missing_role():
    prep = prepare(_df(), metrics=["recall", "tpr", "accuracy"], y_true="y", y_pred="p")
    assert [m.name for m in prep.metrics] == ["tpr", "accuracy"]
    with pytest.raises(InvalidArgumentError, match="needs scores: pass y_score="):
        prepare(_df(), metrics=["auc"], y_true="y")
    with pytest.raises(InvalidArgumentError, match="metrics is empty"):
        prepare(_df(), metrics=[], y_true="y")
    with pytest.raises(InvalidArgumentError, match="Unknown metric 'acuracy'"):
        prepare(_df(), metrics="acuracy", y_true="y", y_pred="p")


def test_custom_callables_only_where_allowed():
    custom = {"mine": lambda y, p: 0.5}
    with pytest.raises(InvalidArgumentError, match="not supported here"):
        prepare(_df(), metrics=custom, y_true="y", y_pred="p")
    prep = prepare(_df(), metrics=custom, y_true="y", y_pred="p", allow_custom=True)
    assert list(prep.custom) == ["mine"] and prep.metrics == ()
    with pytest.raises(InvalidArgumentError, match="must be a callable"):
        prepare(_df(), metrics={"x": 3}, y_true="y", y_pred="p", allow_custom=True)


def test_columns_fail_from_the_schema_with_their_role():
    lazy = _df().lazy()
    with pytest.raises(ColumnNotFoundError, match=r"'gg' \(given as a by column\).*'g'"):
        prepare(lazy, metrics=["accuracy"], y_true="y", y_pred="p", columns={"a by column": "gg"})
    with pytest.raises(ColumnNotFoundError, match=r"'ww' \(given as weight\)"):
        prepare(lazy, metrics=["accuracy"], y_true="y", y_pred="p", weight="ww")
    with pytest.raises(ColumnTypeError, match="Weights are counts"):
        prepare(lazy, metrics=["accuracy"], y_true="y", y_pred="p", weight="label")


def test_the_pass_adds_only_what_the_metrics_need():
    df = _df()
    acc = prepare(df, metrics=["accuracy"], y_true="y", y_pred="p").aggregate(["g"])
    assert acc.auc is None and acc.auc_table() is None and "y_sum" not in acc.stats.columns
    mean = prepare(df, metrics=["mean"], y_true="y").aggregate(["g"])
    assert mean.stats.select("g", "y_sum").rows() == [("a", 1.0), ("b", 1.0)]
    auc = prepare(df, metrics=["auc"], y_true="y", y_score="s").aggregate(["g"], auc_sets=[[]])
    assert auc.keys == ["g"] and set(auc.auc) == {("g",), ()}
    assert auc.auc_table()["g"].to_list() == auc.stats["g"].to_list()
    assert auc.auc_table([]).height == 1


def test_weighted_pass_equals_the_expanded_rows():
    df = _df().drop_nulls("y")
    rows = df.select(pl.all().repeat_by("w").explode()).drop("w")
    weighted = prepare(df, metrics=["accuracy"], y_true="y", y_pred="p", weight="w")
    plain = prepare(rows, metrics=["accuracy"], y_true="y", y_pred="p")
    cols = ["g", "tp", "fp", "fn", "tn", "n"]
    assert (
        weighted.aggregate(["g"])
        .stats.select(cols)
        .equals(plain.aggregate(["g"]).stats.select(cols))
    )


@pytest.mark.parametrize(
    "metric", ["accuracy", "fnr", "f1", "mean_score", "brier", "auc", "ece", "count"]
)
def test_intervals_on_demand_equal_the_intervals_built_at_that_level(metric):
    """A result keeps estimates and standard errors: its intervals at any level equal the
    ones a new run at that level reports, with no new pass (to 1e-12: the streaming engine
    may add float scores in another order in the second run)."""
    logs = ad.datasets.demo(n_per_month=1_500, months=3)
    kw = {"y_true": "y_true", "y_pred": "y_pred", "y_score": "score", "metrics": [metric]}
    at95 = ad.disaggregate(logs, by="tier", **kw)
    at80 = ad.disaggregate(logs, by="tier", confidence=0.8, **kw)
    cols = ["tier", "metric", "value", "ci_low", "ci_high", "n"]
    assert_frame_equal(at95.conf_int(0.8), at80.table.select(cols), rel_tol=1e-12, abs_tol=0)
    d95 = ad.decay(logs, "ts", "y_true", "y_pred", metric, y_score="score")
    d80 = ad.decay(logs, "ts", "y_true", "y_pred", metric, y_score="score", confidence=0.8)
    cols = ["period", "metric", "value", "ci_low", "ci_high", "n"]
    assert_frame_equal(d95.conf_int(0.8), d80.table.select(cols), rel_tol=1e-12, abs_tol=0)
