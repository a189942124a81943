"""Versions on the same items through ad.compare, and the change gates of audit.toml.

ad.compare(item=...) is the paired comparison; change.NAME criteria judge a candidate
against a baseline on its interval (paired when [data] item is set), and `aidebt check`
exits 1 naming the metric, the segment and the figures."""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import polars as pl
import pytest

import aidebt as ad
from aidebt.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from aidebt.compare import Comparison, PairingWarning
from aidebt.config import ConfigError
from aidebt.datasets import demo_versions
from aidebt.errors import InvalidArgumentError, InvalidValueError
from aidebt.policy import parse_policy
from aidebt.versions import PairedComparison, compare_paired

DATA = """
[data]
path = "versions.parquet"
y_true = "y_true"
y_pred = "y_pred"
version = "prompt_version"
item = "item_id"
segments = ["model_version", "task"]
"""
DEMO_GATES = """
[gates]
version = "v2"
min_segment_n = 200

[gates.candidate]
change.accuracy = { vs = "v1", max_drop = 0.02 }
change.p95_latency_ms = { vs = "v1", max_rise = 0.10, relative = true, segments = false }
change.mean_latency_ms = { vs = "v1", max_rise = 0.05, relative = true, segments = false }
"""


@pytest.fixture(scope="module")
def runs() -> pl.DataFrame:
    return demo_versions()  # the documented figures are those of the default demo


@pytest.fixture(scope="module")
def folder(tmp_path_factory, runs) -> Path:
    path = tmp_path_factory.mktemp("versions")
    runs.write_parquet(path / "versions.parquet")
    return path


def config(folder: Path, policy: str, data: str = DATA, name: str = "audit.toml") -> str:
    path = folder / name
    path.write_text(textwrap.dedent(data) + textwrap.dedent(policy))
    return str(path)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------ ad.compare
def test_compare_with_item_is_the_paired_comparison(runs):
    m1 = runs.filter(model_version="m1")
    kw = dict(version="prompt_version", baseline="v1", y_true="y_true", y_pred="y_pred")
    paired = ad.compare(m1, item="item_id", by="task", margin=0.01, **kw)
    assert isinstance(paired, PairedComparison)
    direct = compare_paired(m1, item="item_id", by="task", margin=0.01, metrics=["accuracy"], **kw)
    assert paired.table.equals(direct.table)
    assert paired.flips().equals(direct.flips())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no pairing hint: the data has no item-id column
        unpaired = ad.compare(m1.drop("item_id"), by="task", **kw)
    assert isinstance(unpaired, Comparison)
    # The paired interval is narrower: the items' outcomes are correlated.
    width = paired.overall.select(pl.col("diff_ci_high") - pl.col("diff_ci_low")).item()
    unpaired_width = unpaired.overall.select(pl.col("diff_ci_high") - pl.col("diff_ci_low")).item()
    assert width < 0.9 * unpaired_width  # measured 0.034 against 0.039


def test_repeated_items_without_item_say_so(runs):
    m1 = runs.filter(model_version="m1")
    with pytest.warns(PairingWarning, match="3,000 ids .* pass item='item_id'"):
        ad.compare(m1, "prompt_version", "v1", "y_true", "y_pred")


def test_demo_segment_regression_and_latency_tail_through_compare(runs):
    """The planted findings through ad.compare: extraction is worse though v2 is better
    overall, its broken items come first; the p95 latency rises while the mean holds."""
    p = ad.compare(
        runs,
        version="prompt_version",
        baseline="v1",
        y_true="y_true",
        y_pred="y_pred",
        item="item_id",
        by=["model_version", "task"],
        metrics=["accuracy", "p95_latency_ms", "mean_latency_ms"],
    )
    ov = {r["metric"]: r for r in p.overall.iter_rows(named=True)}
    assert ov["accuracy"]["verdict"] == "better"
    assert ov["p95_latency_ms"]["verdict"] == "worse" and ov["p95_latency_ms"]["diff_ci_low"] > 0
    assert ov["mean_latency_ms"]["verdict"] == "no clear difference"
    extraction = p.table.filter(
        pl.col("task") == "extraction", pl.col("model_version") == "(all)", metric="accuracy"
    ).row(0, named=True)
    assert extraction["verdict"] == "worse"
    first = p.flips().head(50)
    assert (first["change"] == "broken").all() and (first["task"] == "extraction").all()


# ------------------------------------------------------------------ bad input
def test_versions_with_no_common_items_say_so_and_fall_back_when_asked(runs):
    m1 = runs.filter(model_version="m1")
    apart = m1.with_columns(
        item_id=pl.when(pl.col("prompt_version") == "v2")
        .then(pl.col("item_id") + "-v2")
        .otherwise(pl.col("item_id"))
    )
    kw = dict(version="prompt_version", baseline="v1", y_true="y_true", y_pred="y_pred")
    with pytest.raises(InvalidValueError, match="share no item.*pass unpaired=True"):
        ad.compare(apart, item="item_id", **kw)
    with pytest.warns(UserWarning, match="falling back to the unpaired comparison"):
        fallback = ad.compare(apart, item="item_id", unpaired=True, **kw)
    assert isinstance(fallback, Comparison)


def test_an_item_twice_in_one_version_is_a_clear_error(runs):
    with pytest.raises(InvalidValueError, match="appears more than once under prompt_version='v1'"):
        ad.compare(runs, "prompt_version", "v1", "y_true", "y_pred", item="item_id")


def test_paired_only_arguments_need_item(runs):
    with pytest.raises(InvalidArgumentError, match="pass item="):
        ad.compare(runs, "prompt_version", "v1", "y_true", "y_pred", margin=0.01, warn=False)
    with pytest.raises(InvalidArgumentError, match="pos_label=1 applies to the unpaired"):
        ad.compare(
            runs, "prompt_version", y_true="y_true", y_pred="y_pred", item="item_id", pos_label=1
        )


# ------------------------------------------------------------------ the policy
@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"accuracy": {"max_drop": 0.01}}, "change.accuracy: needs vs, the baseline version"),
        ({"accuracy": {"vs": "v1"}}, "change.accuracy: has no limit"),
        ({"accuracy": {"vs": "v1", "max_dorp": 0.01}}, "unknown change option.*'max_drop'"),
        ({"accuracy": {"vs": "v1", "max_drop": -0.01}}, "max_drop: a limit is a size >= 0"),
        ({"accuracy": {"vs": "v1", "max_drop": 5}}, "accuracy is a rate: a change is at most 1"),
        ({"accuracy": {"vs": True, "max_drop": 0.01}}, "vs: must be a version value"),
        ({"accuracy": {"vs": "v1", "max_drop": 0.01, "relative": "yes"}}, "relative: must be"),
        ({"acuracy": {"vs": "v1", "max_drop": 0.01}}, "unknown metric.*'accuracy'"),
        ({"count": {"vs": "v1", "max_rise": 10}}, "count has no difference"),
    ],
)
def test_change_criteria_are_validated(policy, message):
    with pytest.raises(ConfigError, match=message):
        parse_policy({"gates": {"candidate": {"change": policy}}})


def test_change_criteria_parse_into_bounds():
    p = parse_policy(
        {
            "gates": {
                "candidate": {
                    "change": {
                        "accuracy": {"vs": "v1", "max_drop": 0.01},
                        "p95_latency_ms": {"vs": 1, "max_rise": 0.1, "relative": True},
                    }
                }
            }
        }
    )
    drop, rise = p.stages[0].criteria
    assert (drop.name, drop.bound, drop.side, drop.scope) == (
        "change.accuracy.max_drop",
        -0.01,
        "min",
        "both",
    )
    assert (rise.metric, rise.bound, rise.side, rise.options["vs"]) == (
        "p95_latency_ms",
        0.1,
        "max",
        "1",
    )
    assert p.metrics() == []  # a change is judged by its own comparison, not disaggregate


def test_change_criteria_are_not_rollback_triggers():
    with pytest.raises(ConfigError, match="rollback.change: change criteria judge a candidate"):
        parse_policy(
            {
                "gates": {"s": {"min_n": 1}},
                "rollback": {"change": {"accuracy": {"vs": "v1", "max_drop": 0.01}}},
            }
        )


# --------------------------------------------------------- aidebt check, exit codes
def test_the_demo_candidate_fails_its_change_gates(capsys, folder):
    """The planted findings as gate failures: extraction loses 8.8 points (the limit is 2),
    the p95 latency rises 13.8% (the limit is 10%) while the mean, which did not move,
    passes its 5% gate."""
    code, out, _ = run(capsys, "check", "--config", config(folder, DEMO_GATES), "-v")
    assert code == EXIT_FAILED
    lines = [line.strip() for line in out.splitlines() if line.strip().startswith("x ")]
    assert lines == [
        "x accuracy of v2 vs v1 in Task: extraction changes by -0.088 [-0.114, -0.063] "
        "(0.756 vs 0.844 on 1,566 paired items): lower bound -0.114 < -0.020",
        "x p95_latency_ms of v2 vs v1 overall changes by +13.8% [+6.6%, +19.1%] "
        "(6,921 vs 6,083 on 6,000 paired items): upper bound +19.1% > +10.0%",
    ]
    result = ad.check(config(folder, DEMO_GATES))
    mean = result.table.filter(pl.col("criterion") == "change.mean_latency_ms.max_rise")
    assert mean["status"].to_list() == ["pass"]
    assert mean["ci_low"].item() < 0 < mean["ci_high"].item() < 0.05
    assert "FAIL: candidate is not reached." in out


def test_a_candidate_within_its_limits_passes(capsys, folder):
    policy = """
    [gates]
    version = "v2"
    min_segment_n = 200
    [gates.candidate]
    change.accuracy = { vs = "v1", max_drop = 0.01, segments = false }
    change.mean_latency_ms = { vs = "v1", max_rise = 0.05, relative = true, segments = false }
    """
    code, out, _ = run(capsys, "check", "--config", config(folder, policy))
    assert code == EXIT_OK, out
    assert "PASS" in out


def test_unpaired_change_gates_without_an_item_column(folder):
    data = DATA.replace('item = "item_id"\n', "").replace(
        'segments = ["model_version", "task"]', 'segments = ["task"]'
    )
    policy = """
    [gates.candidate]
    change.accuracy = { vs = "v1", max_drop = 0.02 }
    """
    result = ad.check(config(folder, policy, data=data, name="unpaired.toml"))
    failing = result.failures
    assert failing["segment"].to_list() == ["task=extraction"]
    assert "on 1,566 rows" in failing["evidence"].item()  # v2's extraction runs, both models


def test_bad_change_input_exits_2_naming_the_key(capsys, folder):
    policy = """
    [gates.candidate]
    change.accuracy = { vs = "v9", max_drop = 0.02 }
    """
    code, _, err = run(capsys, "check", "--config", config(folder, policy))
    assert code == EXIT_USAGE
    assert "gates.candidate.change.accuracy.vs: baseline='v9' is not a value" in err
    assert "Available: 'v1', 'v2'" in err
    no_version = DATA.replace('version = "prompt_version"\n', "")
    code, _, err = run(capsys, "check", "--config", config(folder, policy, data=no_version))
    assert code == EXIT_USAGE and "set [data] version" in err
    no_segment = DATA.replace('segments = ["model_version", "task"]', 'segments = ["task"]')
    code, _, err = run(capsys, "check", "--config", config(folder, DEMO_GATES, data=no_segment))
    assert code == EXIT_USAGE and "appears more than once" in err
