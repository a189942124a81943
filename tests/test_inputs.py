"""Nothing silently wrong on input (issue 19 items 2, 3, 10, 11; issue 11 item 9).

Each test is an attempt a careless or hostile user made, which today's code answered
with a wrong figure or a raw polars error: CSV dates read in the wrong order, a
``pos_label`` that matches nothing, NaN/inf/fractional weights, scores out of range, group
values that spell the package's markers and group columns named like its own columns.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import subprocess
import sys
from decimal import Decimal

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import aidebt as ad
from aidebt import aggregate, frames
from aidebt.config import DataConfig
from aidebt.errors import ColumnTypeError, InvalidArgumentError, InvalidValueError
from aidebt.fairness import fairness
from aidebt.groups import ALL, MISSING_GROUP, escape, label
from aidebt.slices import slices

# ----------------------------------------------------------------- 19.2: CSV dates


def _us_log(n: int = 240) -> pl.DataFrame:
    """November 2026 in US order (month first), every day 12 or less."""
    rng = np.random.default_rng(0)
    return pl.DataFrame(
        {
            "ts": [f"11/{1 + i % 12:02d}/2026" for i in range(n)],
            "y_true": rng.integers(0, 2, n),
            "y_pred": rng.integers(0, 2, n),
        }
    )


def test_us_dates_are_never_read_day_first(tmp_path):
    """Today: --month 2026-01 finds 20 "January" rows, all of them from November."""
    path = tmp_path / "us.csv"
    _us_log().write_csv(path)
    with pytest.raises(ColumnTypeError) as err:
        frames.load_month(path, "2026-01", "ts").collect()
    message = str(err.value)
    assert "'ts'" in message and "12 or less" in message
    assert "time_format='%m/%d/%Y'" in message and "time_format='%d/%m/%Y'" in message
    assert "[data]" in message  # the audit.toml key
    with pytest.raises(ColumnTypeError, match="time_format"):
        ad.decay(str(path), time="ts", y_true="y_true", y_pred="y_pred")


def test_time_format_reads_the_dates_as_said(tmp_path):
    path = tmp_path / "us.csv"
    _us_log().write_csv(path)
    us = "%m/%d/%Y"
    assert frames.load_month(path, "2026-01", "ts", time_format=us).collect().height == 0
    assert frames.load_month(path, "2026-11", "ts", time_format=us).collect().height == 240
    assert frames.latest_month(path, "ts", time_format=us) == ad.Month(2026, 11)
    assert frames.count_rows(path, time="ts", month="2026-11", time_format=us)["month_rows"] == 240
    loaded = frames.load(path, time_format=us).collect()
    assert loaded.schema["ts"] == pl.Date
    assert loaded["ts"].min() == dt.date(2026, 11, 1)
    d = ad.decay(frames.load(path, time_format=us), time="ts", y_true="y_true", y_pred="y_pred")
    assert d.table["period"].to_list() == [dt.date(2026, 11, 1)]


def test_time_format_with_a_time_of_day(tmp_path):
    path = tmp_path / "t.csv"
    pl.DataFrame({"ts": ["11/05/2026 10:30", "11/06/2026 23:59"], "y": [1, 0]}).write_csv(path)
    with pytest.raises(ColumnTypeError, match=r"time_format='%m/%d/%Y %H:%M'"):
        frames.latest_month(path, "ts")
    got = frames.load(path, time_format="%m/%d/%Y %H:%M").collect()["ts"].to_list()
    assert got == [dt.datetime(2026, 11, 5, 10, 30), dt.datetime(2026, 11, 6, 23, 59)]


@pytest.mark.parametrize(
    ("values", "says"),
    [
        (["13/05/2026", "11/06/2026"], "day first.*'13/05/2026'.*time_format='%d/%m/%Y'"),
        (["11/05/2026", "11/13/2026"], "month first.*'11/13/2026'.*time_format='%m/%d/%Y'"),
        (["05.11.26", "06.11.26"], r"time_format='%m\.%d\.%y'.*time_format='%d\.%m\.%y'"),
    ],
)
def test_the_message_says_which_order_the_values_settle(tmp_path, values, says):
    """Today a day-first file parsed only while a day above 12 happened to be in polars'
    first rows; a month-first one stayed text with a hint that named no format."""
    path = tmp_path / "d.csv"
    pl.DataFrame({"ts": values, "y": [1, 0]}).write_csv(path)
    with pytest.raises(ColumnTypeError, match=says):
        frames.load_month(path, "2026-11", "ts")


def test_a_text_time_column_names_the_column_and_the_fix(tmp_path):
    path = tmp_path / "t.csv"
    pl.DataFrame({"ts": ["Nov 5 2026", "Nov 6 2026"], "y": [1, 0]}).write_csv(path)
    with pytest.raises(ColumnTypeError, match=r"'ts' \(time\) holds text.*time_format=") as err:
        frames.load_month(path, "2026-11", "ts")
    assert "[data]" in str(err.value) and "str.to_datetime" in str(err.value)
    got = frames.load_month(path, "2026-11", "ts", time_format="%b %d %Y").collect()
    assert got.height == 2


def test_iso_dates_are_still_parsed(tmp_path):
    path = tmp_path / "iso.csv"
    pl.DataFrame(
        {
            "day": ["2026-11-05", "2026-11-06"],
            "at": ["2026-11-05T10:00:00+02:00", "2026-11-06T10:00:00Z"],
            "slash": ["2026/11/05", "2026/11/06"],
        }
    ).write_csv(path)
    schema = frames.scan_path(path).collect_schema()
    assert schema["day"] == pl.Date and schema["slash"] == pl.Date
    assert schema["at"] == pl.Datetime("us", "UTC")
    assert frames.load_month(path, "2026-11", "day").collect().height == 2


def test_a_time_format_that_does_not_match_is_an_error(tmp_path):
    path = tmp_path / "us.csv"
    _us_log().write_csv(path)
    with pytest.raises(InvalidArgumentError, match=r"time_format='%Y-%m-%d'.*'ts'.*11/0"):
        frames.load(path, time_format="%Y-%m-%d")
    with pytest.raises(InvalidArgumentError, match="strptime format"):
        frames.load(path, time_format="mm/dd/yyyy")
    # A file with no dates at all (an eval set, say) has nothing to parse: no error.
    plain = tmp_path / "plain.csv"
    pl.DataFrame({"y": [1, 0], "g": ["a", "b"]}).write_csv(plain)
    assert frames.load(plain, time_format="%m/%d/%Y").collect().height == 2


def test_aidebt_check_refuses_the_us_file_with_exit_2(tmp_path):
    """Today ``aidebt check --month 2026-01`` judges November's rows: "PASS", exit 0."""
    _us_log().write_csv(tmp_path / "us.csv")
    cfg = tmp_path / "audit.toml"
    cfg.write_text(
        '[data]\npath = "us.csv"\ntime = "ts"\ny_true = "y_true"\ny_pred = "y_pred"\n'
        "[gates.shadow]\nmin_n = 1\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "aidebt.cli", "check", "--config", str(cfg), "--month", "2026-01"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert "aidebt: error:" in run.stderr and "time_format" in run.stderr
    assert "Traceback" not in run.stderr


def test_the_config_declares_time_format_and_pos_label():
    names = {f.name for f in dataclasses.fields(DataConfig)}
    assert {"time_format", "pos_label"} <= names


# --------------------------------------------------------------- 19.3: pos_label

RISK = pl.DataFrame(
    {
        "y": ["High", "Low", "High", "Low"] * 25,
        "p": ["High"] * 100,
        "p01": [1] * 100,
    }
)


def _overall(**kwargs) -> dict[str, float]:
    r = ad.disaggregate(RISK, y_true="y", metrics=["accuracy", "fpr"], **kwargs)
    return dict(r.overall.select("metric", "value").rows())


def test_a_positive_label_that_never_occurs_is_an_error():
    """Today: accuracy 1.0 and FPR 0.0 (every label and prediction mapped to 0)."""
    assert _overall(y_pred="p", pos_label="High") == {"accuracy": 0.5, "fpr": 1.0}
    with pytest.raises(InvalidValueError, match=r"'high' never occurs.*'High', 'Low'.*'High'\?"):
        _overall(y_pred="p", pos_label="high")
    with pytest.raises(InvalidValueError, match="'Hihg' never occurs"):
        _overall(y_pred="p", pos_label=["High", "Hihg"])


def test_a_positive_label_of_the_wrong_type_is_an_error():
    """Today: a raw polars ComputeError."""
    with pytest.raises(ColumnTypeError, match=r"pos_label 1 does not match column 'y'.*text"):
        _overall(y_pred="p", pos_label=1)


def test_the_hint_never_suggests_a_value_that_could_invert_the_labels():
    """Today the hint says pos_label='High' (the first value in sort order), which then
    fails with a raw polars error because it is compared with the 0/1 predictions too."""
    with pytest.raises(ColumnTypeError) as err:
        _overall(y_pred="p01")
    message = str(err.value)
    assert "pos_label='High'" not in message and "pos_label='Low'" not in message
    assert "pos_label={'y_true': VALUE}" in message and "'High', 'Low'" in message
    # Following the hint works; following today's hint is a clear error naming the fix.
    assert _overall(y_pred="p01", pos_label={"y_true": "High"}) == {"accuracy": 0.5, "fpr": 1.0}
    with pytest.raises(ColumnTypeError, match=r"pos_label=\{'y_true': 'High'\}"):
        _overall(y_pred="p01", pos_label="High")
    # Where the vocabulary settles it, the hint names the positive value, never "no".
    yes_no = pl.DataFrame({"y": ["no", "yes"] * 5, "p": [0, 1] * 5})
    with pytest.raises(ColumnTypeError, match=r"pos_label=\{'y_true': 'yes'\}"):
        ad.disaggregate(yes_no, y_true="y", y_pred="p")
    with pytest.raises(ColumnTypeError, match="pos_label='yes'") as err:
        ad.simpson(yes_no.with_columns(c=pl.Series(["a", "b"] * 5)), outcome="y", compare="c")
    assert "'no' " not in str(err.value).split("Say which")[1]


def test_one_positive_label_may_be_missing_from_the_predictions():
    """A model that never predicts positive is possible: with one pos_label for both
    columns, the value must occur in either."""
    never = pl.DataFrame({"y": ["yes", "no"] * 10, "p": ["no"] * 20})
    r = ad.disaggregate(never, y_true="y", y_pred="p", metrics=["tpr"], pos_label="yes")
    assert r.overall["value"].item() == 0.0
    with pytest.raises(InvalidValueError, match=r"'yes' never occurs in column 'p' \(y_pred\)"):
        ad.disaggregate(never, y_true="y", y_pred="p", pos_label={"y_true": "yes", "y_pred": "yes"})


def test_pos_label_is_not_silently_ignored_by_a_numeric_mean():
    """Today pos_label=2 with metrics=["mean"] is dropped without a word (mean 2.0)."""
    data = pl.DataFrame({"y": [1.0, 2.0, 3.0]})
    with pytest.raises(InvalidArgumentError, match="drop pos_label, or ask for 'prevalence'"):
        ad.disaggregate(data, y_true="y", metrics=["mean"], pos_label=2.0)
    r = ad.disaggregate(data, y_true="y", metrics=["prevalence", "mean"], pos_label=2.0)
    assert r.overall["value"].to_list() == pytest.approx([1 / 3, 1 / 3])


@pytest.mark.parametrize(
    "bad",
    [[], [None], {"ytrue": "High"}, {}, {"y_true": []}, {"y_true": [["High"]]}, float("nan")],
)
def test_malformed_pos_label_is_refused_before_any_scan(bad):
    with pytest.raises(InvalidArgumentError, match="pos_label is a value"):
        _overall(y_pred="p", pos_label=bad)


# A 3-level label and two prediction vocabularies: "Medium or High is positive".
_RNG = np.random.default_rng(3)
_LEVELS = np.array(["Low", "Medium", "High"])
GRADED = pl.DataFrame(
    {
        "y": _LEVELS[_RNG.integers(0, 3, 600)],
        "p": _LEVELS[_RNG.integers(0, 3, 600)],
        "d": np.array(["deny", "approve"])[_RNG.integers(0, 2, 600)],
        "s": _RNG.random(600),
        "g": _RNG.choice(["a", "b", "c"], 600),
        "v": _RNG.choice(["v1", "v2"], 600),
        "ts": [dt.date(2026, 1 + i % 6, 1 + i % 28) for i in range(600)],
    }
).with_columns(
    y01=pl.col("y").is_in(["Medium", "High"]).cast(pl.Int8),
    p01=pl.col("p").is_in(["Medium", "High"]).cast(pl.Int8),
    d01=(pl.col("d") == "approve").cast(pl.Int8),
)
ANALYSES = {
    "disaggregate": lambda y, p, **kw: (
        ad.disaggregate(
            GRADED, y_true=y, y_pred=p, by="g", metrics=["accuracy", "fnr", "precision"], **kw
        ).table
    ),
    "auc": lambda y, p, **kw: (
        ad.disaggregate(GRADED, y_true=y, y_score="s", by="g", metrics=["auc", "brier"], **kw).table
    ),
    "decay": lambda y, p, **kw: (
        ad.decay(GRADED, time="ts", y_true=y, y_pred=p, metric="fnr", by="g", **kw).table
    ),
    "compare": lambda y, p, **kw: (
        ad.compare(GRADED, version="v", y_true=y, y_pred=p, metrics=["accuracy", "tpr"], **kw).table
    ),
    "simpson": lambda y, p, **kw: (
        ad.simpson(GRADED, outcome=y, compare="v", strata=["g"], **kw).table
    ),
    "slices": lambda y, p, **kw: (
        slices(GRADED, y_true=y, y_pred=p, columns=["g"], metric="error_rate", **kw).table
    ),
    "fairness": lambda y, p, **kw: fairness(GRADED, y_true=y, y_pred=p, by="g", **kw).table,
    "custom": lambda y, p, **kw: (
        ad.disaggregate(
            GRADED, y_true=y, y_pred=p, metrics={"hit": lambda t, q: float(np.mean(t == q))}, **kw
        ).table
    ),
}


@pytest.mark.parametrize("analysis", list(ANALYSES))
def test_a_list_of_positive_values_means_any_of_them(analysis):
    """pos_label=["Medium", "High"] gives what a 0/1 column of "Medium or High" gives,
    in every analysis (today: a raw polars error)."""
    run = ANALYSES[analysis]
    want = run("y01", "p01")
    got = run("y", "p", pos_label=["Medium", "High"])
    # equal to rounding: the engine may add a group's floats (AUC's placement sums) in
    # another order from one run to the next
    assert_frame_equal(got, want, check_exact=False, rel_tol=1e-12, abs_tol=1e-15)


@pytest.mark.parametrize("analysis", ["disaggregate", "decay", "compare", "slices", "custom"])
def test_a_positive_label_per_column(analysis):
    """Labels in one vocabulary, predictions in another."""
    run = ANALYSES[analysis]
    want = run("y01", "d01")
    got = run("y", "d", pos_label={"y_true": ["Medium", "High"], "y_pred": "approve"})
    assert got.equals(want)
    # A role left out of the mapping keeps its 0/1 column as it is.
    assert run("y", "d01", pos_label={"y_true": ["Medium", "High"]}).equals(want)


def test_pos_label_on_pandas_and_duckdb():
    import duckdb

    want = ANALYSES["disaggregate"]("y01", "d01")
    kw = {"pos_label": {"y_true": ["Medium", "High"], "y_pred": "approve"}}
    for data in (GRADED.to_pandas(), duckdb.from_arrow(GRADED.to_arrow())):
        got = ad.disaggregate(
            data, y_true="y", y_pred="d", by="g", metrics=["accuracy", "fnr", "precision"], **kw
        )
        assert got.table.equals(want)


def test_roles_positives():
    roles = aggregate.Roles(y_true="y", y_pred="p", pos_label={"y_pred": ["a", "b"]})
    assert roles.positives("y_true") is None and roles.positives("y_pred") == ("a", "b")
    assert list(roles.binarize(np.array(["a", "c", "b"]), "y_pred")) == [1, 0, 1]


# ---------------------------------------------------- 19.10 and 11.9: weights, scores

BASE = pl.DataFrame(
    {
        "g": ["a", "b"] * 50,
        "y": np.random.default_rng(1).integers(0, 2, 100),
        "p": np.random.default_rng(2).integers(0, 2, 100),
        "s": np.random.default_rng(3).random(100),
        "w": [1.0] * 100,
    }
)


def _one(values):
    return pl.Series([values[0]] + [values[1]] * 99)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weights_are_refused(bad):
    """Today: every figure blank, with the false note "no labeled rows"."""
    data = BASE.with_columns(w=_one([bad, 1.0]))
    with pytest.raises(InvalidValueError, match=rf"'w' \(weight\) has 1 values.*{bad}"):
        ad.disaggregate(data, y_true="y", y_pred="p", by="g", weight="w")
    with pytest.raises(InvalidValueError, match=r"'w' \(weight\)"):
        ad.drift(BASE, data, columns=["g"], weight="w")  # value_counts: the same checks


def test_fractional_weights_are_refused_with_the_two_kinds_explained():
    """Today the same data weighted by 1/1000 and by 1000 gives [0.156, 0.996] and
    [0.865, 0.867]: sampling weights were read as counts."""
    pre = pl.DataFrame({"y": [1, 0], "p": [1, 1], "n": [866.0, 134.0]})

    def interval(scale):
        r = ad.disaggregate(
            pre.with_columns(pl.col("n") * scale),
            y_true="y",
            y_pred="p",
            weight="n",
            metrics=["accuracy"],
        )
        return r.overall.select("ci_low", "ci_high").row(0)

    with pytest.raises(InvalidValueError) as err:
        interval(1 / 1000)
    message = str(err.value)
    assert "'n' (weight)" in message and "0.866" in message
    assert "frequency weights" in message and "sampling or importance weights" in message
    # Whole numbers are counts, whatever their dtype: the 1,000 rows, or 1,000,000.
    lo, hi = interval(1)
    assert lo == pytest.approx(0.8435, abs=1e-4) and hi == pytest.approx(0.8857, abs=1e-4)
    assert interval(1000)[1] - interval(1000)[0] < 0.002
    dec = pre.with_columns(pl.col("n").cast(pl.Decimal(10, 3)))
    assert ad.disaggregate(dec, y_true="y", y_pred="p", weight="n").overall.height
    with pytest.raises(InvalidValueError, match="not whole numbers"):
        ad.disaggregate(
            dec.with_columns(n=pl.Series([Decimal("0.5"), Decimal("1")])),
            y_true="y",
            y_pred="p",
            weight="n",
        )
    with pytest.raises(InvalidValueError, match="not whole numbers"):
        ad.coverage(BASE, BASE.with_columns(w=_one([0.5, 1.0])), by="g", weight="w")


def test_scores_outside_0_1_are_refused_where_they_must_be_probabilities():
    """Today percent scores give a Brier score in the thousands; AUC and mean_score read
    any finite score, so they keep working."""
    pct = BASE.with_columns(s=pl.col("s") * 100)
    with pytest.raises(InvalidValueError, match=r"'s' \(y_score\) has \d+ scores outside \[0, 1\]"):
        ad.disaggregate(pct, y_true="y", y_score="s", metrics=["brier"])
    with pytest.raises(InvalidValueError, match="AUC and mean_score take any finite score"):
        ad.decay(
            pct.with_columns(ts=pl.lit(dt.date(2026, 1, 1))),
            time="ts",
            y_true="y",
            y_score="s",
            metric="brier",
        )
    r = ad.disaggregate(pct, y_true="y", y_score="s", metrics=["auc", "mean_score"])
    want = ad.disaggregate(BASE, y_true="y", y_score="s", metrics=["auc", "mean_score"])
    values = dict(r.overall.select("metric", "value").rows())
    assert values["auc"] == pytest.approx(want.overall["value"][0], abs=1e-12)
    assert values["mean_score"] == pytest.approx(100 * want.overall["value"][1], rel=1e-12)


@pytest.mark.parametrize("metric", ["auc", "mean_score", "brier"])
def test_infinite_scores_are_refused(metric):
    """Today an inf score gives a mean score of inf, and counts in AUC as a top score."""
    data = BASE.with_columns(s=_one([math.inf, 0.5]))
    with pytest.raises(InvalidValueError, match=r"'s' \(y_score\) has 1 NaN or infinite.*inf"):
        ad.disaggregate(data, y_true="y", y_score="s", metrics=[metric])


# -------------------------------------------------- 19.11: markers and column names


def test_a_group_named_like_a_marker_stays_a_group():
    """Today a group literally named "(all)" is labelled "overall", and in a margins
    table it has the same keys as the margin rows."""
    data = pl.DataFrame(
        {"g": [ALL] * 30 + ["b"] * 30, "h": ["x", "y"] * 30, "y": [1] * 30 + [0] * 30, "p": 1}
    )
    r = ad.disaggregate(
        data, y_true="y", y_pred="p", by=["g", "h"], metrics=["accuracy"], margins=True
    )
    assert not r.table.select("g", "h").is_duplicated().any()
    groups = r.table.filter(pl.col("h") != ALL, pl.col("g") != ALL)
    assert sorted(set(groups["g"])) == [escape(ALL), "b"]
    assert label({"g": escape(ALL), "h": ALL}, ["g", "h"]) == "g=\\(all)"
    c = ad.compare(
        data.with_columns(v=pl.Series(["v1", "v2"] * 30)),
        version="v",
        y_true="y",
        y_pred="p",
        by="g",
        metrics=["accuracy"],
    )
    assert not c.table.select("v", "g").is_duplicated().any()


def test_a_group_named_missing_is_not_merged_with_the_nulls():
    """Today "(missing)" and null make one group of 60 rows with accuracy 0.5."""
    data = pl.DataFrame({"g": [MISSING_GROUP] * 30 + [None] * 30, "y": [1] * 30 + [0] * 30, "p": 1})
    r = ad.disaggregate(data, y_true="y", y_pred="p", by="g", metrics=["accuracy"])
    assert r.table.select("g", "value", "n").rows() == [
        (MISSING_GROUP, 0.0, 30.0),
        (escape(MISSING_GROUP), 1.0, 30.0),
    ]


def test_escaping_keeps_distinct_values_distinct():
    values = ["(all)", "\\(all)", "\\\\(all)", "(missing)", "\\(missing)", "all", "(all)x"]
    escaped = [escape(v) for v in values]
    assert len(set(escaped)) == len(values)
    assert ALL not in escaped and MISSING_GROUP not in escaped
    assert escaped[-2:] == ["all", "(all)x"]


_DEMO = ad.datasets.demo(n_per_month=200, months=3)
NAMED = {
    "disaggregate": lambda d, c: ad.disaggregate(d, y_true="y_true", y_pred="y_pred", by=c),
    "decay": lambda d, c: ad.decay(d, time="ts", y_true="y_true", y_pred="y_pred", by=c),
    "compare": lambda d, c: ad.compare(
        d, version="prompt_version", y_true="y_true", y_pred="y_pred", by=c
    ),
    "simpson": lambda d, c: ad.simpson(d, outcome="y_true", compare="prompt_version", strata=[c]),
    "coverage": lambda d, c: ad.coverage(d, d, by=c),
}


@pytest.mark.parametrize("name", ["n", "value", "metric", "note", "tp", "rows", "_x", "period"])
@pytest.mark.parametrize("analysis", list(NAMED))
def test_a_group_column_named_like_a_working_column_is_refused(analysis, name):
    """Today: DuplicateError, InvalidOperationError or ColumnNotFoundError from polars."""
    data = _DEMO.with_columns(pl.col("language").alias(name))
    try:
        NAMED[analysis](data, name)  # no collision in this analysis: it must work
    except InvalidArgumentError as exc:
        assert f"Column {name!r}" in str(exc) and "ename it" in str(exc)


@pytest.mark.parametrize("name", ["n", "value", "metric", "note", "tp"])
def test_the_names_of_issue_19_are_refused_by_the_analyses_that_use_them(name):
    data = _DEMO.with_columns(pl.col("language").alias(name))
    for analysis in ("disaggregate", "decay", "compare"):
        with pytest.raises(InvalidArgumentError, match=rf"Column '{name}' \(a (by|group) column\)"):
            NAMED[analysis](data, name)
