"""ad.check: readiness stages and rollback triggers from audit.toml, judged on intervals."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import aidebt as ad
from aidebt.errors import InvalidValueError
from aidebt.gates import GateCheck, parse_policy

DATA = """
[data]
path = "log.parquet"
time = "ts"
y_true = "y"
y_pred = "p"
weight = "w"
segments = ["seg"]
"""


def cells(month: int, seg: str, tp: int, fp: int, fn: int, tn: int, **extra) -> list[dict]:
    """Confusion counts of one (month, segment) as four weighted rows."""
    ts = dt.datetime(2026, month, 15)
    return [
        {"ts": ts, "seg": seg, "y": y, "p": p, "w": float(w), **extra}
        for y, p, w in ((1, 1, tp), (0, 1, fp), (1, 0, fn), (0, 0, tn))
        if w
    ]


def acc(month: int, seg: str, n: int, accuracy: float, **extra) -> list[dict]:
    """``n`` labeled rows with the given accuracy; errors split evenly into fp and fn."""
    wrong = round(n * (1 - accuracy))
    right = n - wrong
    return cells(
        month, seg, right // 2, wrong // 2, wrong - wrong // 2, right - right // 2, **extra
    )


def run(tmp_path: Path, rows: list[dict], policy: str, *, month: str | None = None, data=DATA):
    pl.DataFrame(rows).write_parquet(tmp_path / "log.parquet")
    cfg = tmp_path / "audit.toml"
    cfg.write_text(textwrap.dedent(data) + textwrap.dedent(policy))
    return ad.check(cfg, month=month)


def rows_of(result: GateCheck, criterion: str, stage: str | None = None) -> dict[str, str]:
    t = result.table.filter(pl.col("criterion") == criterion)
    if stage:
        t = t.filter(pl.col("stage") == stage)
    return dict(zip(t["segment"], t["status"], strict=True))


# -- the policy -------------------------------------------------------------------------


def test_policy_keeps_file_order_and_settings():
    raw = {
        "gates": {
            "min_segment_n": 50,
            "confidence": 0.9,
            "shadow": {"min_n": 100},
            "copilot": {"min_n": {"overall": 1000, "segment": 50}},
            "autopilot": {"metrics": {"recall": {"min": 0.8, "max": 0.99}}},
        },
        "rollback": {"metrics": {"accuracy": {"min": 0.7}}},
    }
    p = parse_policy(raw)
    assert [s.name for s in p.stages] == ["shadow", "copilot", "autopilot"]
    assert (p.confidence, p.min_segment_n) == (0.9, 50)
    assert [c.name for c in p.stages[1].criteria] == ["min_n.overall", "min_n.segment"]
    assert [c.name for c in p.stages[2].criteria] == ["metrics.tpr.min", "metrics.tpr.max"]
    assert p.rollback.criteria[0].bound == 0.7
    assert p.metrics() == ["tpr", "accuracy"]


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (
            {"copilot": {"metrics": {"acurracy": {"min": 0.8}}}},
            "gates.copilot.metrics.acurracy: unknown metric; did you mean 'accuracy'?",
        ),
        (
            {"copilot": {"metrix": {}}},
            "gates.copilot.metrix: unknown criterion; did you mean 'metrics'?",
        ),
        (
            {"copilot": {"metrics": {"fpr": {"mx": 0.1}}}},
            "gates.copilot.metrics.fpr.mx: unknown bound; did you mean 'max'?",
        ),
        (
            {"copilot": {"metrics": {"fpr": {"max": 10}}}},
            "gates.copilot.metrics.fpr.max: fpr is a rate: the bound must be in [0, 1], got 10.",
        ),
        (
            {"copilot": {"metrics": {"accuracy": {"min": "high"}}}},
            "gates.copilot.metrics.accuracy.min: must be a number, got 'high'.",
        ),
        (
            {"copilot": {"metrics": {"accuracy": {}}}},
            "gates.copilot.metrics.accuracy: has no bound",
        ),
        (
            {"copilot": {"disparity": {"fnr": {"max_diff": 1.5}}}},
            "gates.copilot.disparity.fnr.max_diff: fnr is a rate",
        ),
        (
            {"copilot": {"disparity": {"selection_rate": {"max_diff": 0.1, "worse_only": True}}}},
            "gates.copilot.disparity.selection_rate.worse_only: selection_rate has no worse",
        ),
        ({"copilot": {"drift": {"max_js": 2}}}, "gates.copilot.drift.max_js: a Jensen-Shannon"),
        (
            {"copilot": {"drift": {"max_jss": 0.1}}},
            "gates.copilot.drift.max_jss: unknown drift option",
        ),
        (
            {"copilot": {"drift": {"max_js": 0.1, "against": "golden"}}},
            "gates.copilot.drift.against: must be 'previous' or 'eval'",
        ),
        (
            {"copilot": {"trend": {"accuracy": {"periods": 2}}}},
            "gates.copilot.trend.accuracy.periods: must be a whole number >= 3",
        ),
        (
            {"copilot": {"trend": {"prevalence": {"no_significant_decline": True}}}},
            "gates.copilot.trend.prevalence: prevalence has no better direction",
        ),
        ({"copilot": {"min_n": -1}}, "gates.copilot.min_n: must be >= 0"),
        (
            {"copilot": {"min_n": {"segments": 5}}},
            "gates.copilot.min_n.segments: unknown min_n scope",
        ),
        ({"copilot": {}}, "gates.copilot: has no criteria"),
        (
            {"confidance": 0.9, "copilot": {"min_n": 1}},
            "gates.confidance: unknown setting; did you mean 'confidence'?",
        ),
        ({"confidence": 1.5, "copilot": {"min_n": 1}}, "gates.confidence: must be between 0 and 1"),
        ({}, "gates: no [gates.NAME] stage"),
        ({"rollback": {"min_n": 1}}, "gates.rollback: is reserved"),
    ],
)
def test_config_errors_name_the_key(policy, message):
    with pytest.raises(InvalidValueError) as info:
        parse_policy({"gates": policy}, "audit.toml")
    assert str(info.value).startswith("audit.toml: ")
    assert message in str(info.value)


def test_missing_role_is_named_before_any_scan(tmp_path):
    with pytest.raises(
        InvalidValueError, match=r"gates.s.metrics.auc.min: auc needs \[data\] y_score"
    ):
        run(tmp_path, acc(1, "a", 100, 0.9), "[gates.s]\nmetrics.auc = { min = 0.8 }\n")


# -- metric criteria: interval semantics ------------------------------------------------


def test_min_is_judged_on_the_lower_bound(tmp_path):
    policy = "[gates.copilot]\nmetrics.accuracy = { min = 0.85 }\n"
    # point estimate 0.88 above the bound, but on 100 rows the lower bound is ~0.80: fails
    small = run(tmp_path, acc(1, "a", 100, 0.88), policy)
    row = small.table.filter(pl.col("segment") == "overall").row(0, named=True)
    assert row["value"] == pytest.approx(0.88) and row["ci_low"] < 0.85
    assert row["status"] == "fail" and small.stage is None and not small.passed
    assert "lower bound 0.8" in row["evidence"] and "< 0.850" in row["evidence"]
    # the same rate on 10,000 rows: the lower bound clears 0.85
    large = run(tmp_path, acc(1, "a", 10_000, 0.88), policy)
    assert rows_of(large, "metrics.accuracy.min") == {"overall": "pass", "seg=a": "pass"}
    assert large.stage == "copilot" and large.passed


def test_max_is_judged_on_the_upper_bound(tmp_path):
    policy = "[gates.copilot]\nmetrics.fpr = { max = 0.10 }\n"
    # fpr = 8 / 100 negatives: point below 0.10, upper bound above it
    small = run(tmp_path, cells(1, "a", 100, 8, 0, 92), policy)
    assert rows_of(small, "metrics.fpr.max")["overall"] == "fail"
    large = run(tmp_path, cells(1, "a", 100, 800, 0, 9200), policy)
    assert rows_of(large, "metrics.fpr.max")["overall"] == "pass"
    high = run(tmp_path, cells(1, "a", 100, 1500, 0, 8500), policy)
    assert rows_of(high, "metrics.fpr.max")["overall"] == "fail"


def test_a_failing_segment_is_caught_while_the_aggregate_passes(tmp_path):
    rows = acc(1, "en", 9_000, 0.95) + acc(1, "ja", 1_000, 0.70)
    result = run(tmp_path, rows, "[gates.copilot]\nmetrics.accuracy = { min = 0.85 }\n")
    assert rows_of(result, "metrics.accuracy.min") == {
        "overall": "pass",
        "seg=en": "pass",
        "seg=ja": "fail",
    }
    assert result.stage is None
    assert result.failures["segment"].to_list() == ["seg=ja"]
    assert any("seg=ja" in line for line in result.summary())
    assert "accuracy in seg=ja = 0.700" in result.verdict()


def test_small_segments_are_skipped_not_judged(tmp_path):
    rows = acc(1, "big", 5_000, 0.95) + acc(1, "tiny", 20, 0.5)
    policy = "[gates]\nmin_segment_n = 30\n[gates.copilot]\nmetrics.accuracy = { min = 0.85 }\n"
    result = run(tmp_path, rows, policy)
    statuses = rows_of(result, "metrics.accuracy.min")
    assert statuses["seg=tiny"] == "skipped" and result.passed
    row = result.table.filter(pl.col("segment") == "seg=tiny").row(0, named=True)
    assert row["passed"] is None and "min_segment_n=30" in row["evidence"]


# -- min_n ------------------------------------------------------------------------------


def test_min_n_overall_and_per_segment(tmp_path):
    rows = acc(1, "a", 900, 0.9) + acc(1, "b", 100, 0.9)
    # unlabeled rows do not count
    rows += [{"ts": dt.datetime(2026, 1, 20), "seg": "a", "y": None, "p": 1, "w": 500.0}]
    policy = """
    [gates.shadow]
    min_n = 1000
    [gates.copilot]
    min_n = { overall = 1001, segment = 200 }
    """
    result = run(tmp_path, rows, policy)
    shadow = result.table.filter(pl.col("stage") == "shadow").row(0, named=True)
    assert (shadow["value"], shadow["status"]) == (1000.0, "pass")
    assert rows_of(result, "min_n.overall", "copilot") == {"overall": "fail"}
    assert rows_of(result, "min_n.segment") == {"seg=a": "pass", "seg=b": "fail"}
    assert result.stage == "shadow" and result.stage_passed == {"shadow": True, "copilot": False}


# -- disparity --------------------------------------------------------------------------


def test_disparity_is_judged_on_the_interval_of_the_difference(tmp_path):
    # fnr: a 0.05, b 0.30 (on large samples), c 0.08 on few positives
    rows = (
        cells(1, "a", 9_500, 1_000, 500, 9_000)
        + cells(1, "b", 700, 100, 300, 900)
        + cells(1, "c", 46, 10, 4, 40)
    )
    result = run(tmp_path, rows, "[gates.autopilot]\ndisparity.fnr = { max_diff = 0.05 }\n")
    statuses = rows_of(result, "disparity.fnr.max_diff")
    assert statuses["seg=b"] == "fail"  # far above the overall
    assert statuses["seg=a"] == "pass"  # close to the overall, narrow interval
    # c's difference is small, but its interval on 50 positives is wider than +/-0.05
    row = result.table.filter(pl.col("segment") == "seg=c").row(0, named=True)
    assert abs(row["value"]) < 0.05 and row["status"] == "fail"
    assert "seg=b" in " ".join(result.failures["evidence"].to_list())


def test_disparity_worse_only_ignores_better_segments(tmp_path):
    rows = cells(1, "a", 4_000, 500, 1_000, 4_500) + cells(1, "b", 4_750, 500, 250, 4_500)
    both = run(tmp_path, rows, "[gates.g]\ndisparity.fnr = { max_diff = 0.02 }\n")
    assert rows_of(both, "disparity.fnr.max_diff") == {"seg=a": "fail", "seg=b": "fail"}
    worse = run(
        tmp_path, rows, "[gates.g]\ndisparity.fnr = { max_diff = 0.02, worse_only = true }\n"
    )
    assert rows_of(worse, "disparity.fnr.max_diff") == {"seg=a": "fail", "seg=b": "pass"}


# -- trend ------------------------------------------------------------------------------


CALM = (0.003, -0.002, 0.001, -0.003, 0.002, -0.001)
"""Six months of ordinary wobble (fractions of a point) before what a test looks at."""


def test_trend_fails_on_a_significant_decline_only(tmp_path):
    policy = "[gates.g]\ntrend.accuracy = { no_significant_decline = true, periods = 3 }\n"
    before = [(m + 1, 0.92 + w) for m, w in enumerate(CALM)]
    flat = [
        r for m, a in [*before, (7, 0.9205), (8, 0.9185), (9, 0.921)] for r in acc(m, "a", 5_000, a)
    ]
    result = run(tmp_path, flat, policy)
    assert (
        rows_of(result, "trend.accuracy") == {"overall": "pass"} and str(result.month) == "2026-09"
    )
    falling = [
        r for m, a in [*before, (7, 0.92), (8, 0.89), (9, 0.86)] for r in acc(m, "a", 5_000, a)
    ]
    result = run(tmp_path, falling, policy)
    row = result.table.row(0, named=True)
    assert row["status"] == "fail" and row["value"] < 0 and row["ci_high"] < 0
    assert "declines significantly over 2026-07..2026-09" in row["evidence"]
    assert "wobble" not in row["evidence"]
    # only the last `periods` months are fitted: the fall before 2026-09..11 is not judged
    later = falling + [r for m, a in ((10, 0.865), (11, 0.858)) for r in acc(m, "a", 5_000, a)]
    assert rows_of(run(tmp_path, later, policy, month="2026-11"), "trend.accuracy") == {
        "overall": "pass"
    }
    # three months are all there is: the month-to-month wobble cannot be measured, so the
    # fall is not evidence enough (the binomial variance alone would call it)
    alone = [r for m, a in ((1, 0.92), (2, 0.89), (3, 0.86)) for r in acc(m, "a", 5_000, a)]
    result = run(tmp_path, alone, policy)
    row = result.table.row(0, named=True)
    assert row["status"] == "pass" and "measured on only 3 months" in row["evidence"]
    fixed = policy.replace("periods = 3", 'periods = 3, dispersion = "fixed"')
    assert rows_of(run(tmp_path, alone, fixed), "trend.accuracy") == {"overall": "fail"}
    # too few months: skipped
    short = run(tmp_path, falling, policy, month="2026-02")
    assert rows_of(short, "trend.accuracy") == {"overall": "skipped"} and short.passed


def test_trend_per_segment(tmp_path):
    rows = [
        r
        for m, a in [(m + 1, 0.92 + w) for m, w in enumerate(CALM)]
        for r in acc(m, "falls", 5_000, a) + acc(m, "steady", 5_000, a - 0.02)
    ]
    rows += [
        r
        for m, a in ((7, 0.92), (8, 0.89), (9, 0.86))
        for r in acc(m, "falls", 5_000, a) + acc(m, "steady", 5_000, 0.9 + (m == 8) / 200)
    ]
    policy = "[gates.g]\ntrend.accuracy = { periods = 3, segments = true }\n"
    result = run(tmp_path, rows, policy)
    statuses = rows_of(result, "trend.accuracy")
    assert statuses["seg=falls"] == "fail" and statuses["seg=steady"] == "pass"


@pytest.mark.slow
def test_rollback_trend_trigger_holds_its_rate_on_a_flat_feature(tmp_path):
    """A flat feature at 50,000 rows a month whose months wobble 0.6 points (AR(1) 0.5),
    two years of history, the README's trigger (no significant decline over 4 months) in
    1000 segments at once: the trigger is one-sided at 95%, so at most ~2.5% of flat
    segments should fire (measured 1.7% on 2000 segments: a little conservative, as the
    interval allows for the wobble's own uncertainty). With binomial variance alone
    (dispersion = "fixed", the default before) ~33% fired. 1000 segments: MC SE of a 2%
    rate 0.45 points."""
    rng = np.random.default_rng(41)
    segments, months, n = 1000, 24, 50_000
    e = rng.standard_normal((segments, months))
    u = np.empty_like(e)
    u[:, 0] = e[:, 0]
    for t in range(1, months):
        u[:, t] = 0.5 * u[:, t - 1] + np.sqrt(1 - 0.25) * e[:, t]
    rate = 1 / (1 + np.exp(-(np.log(9) + u * 0.006 / 0.09)))
    correct = rng.binomial(n, rate).ravel()
    seg = np.repeat([f"s{i:03d}" for i in range(segments)], months)
    when = np.tile([dt.datetime(2025 + m // 12, m % 12 + 1, 15) for m in range(months)], segments)
    frame = pl.DataFrame(
        {
            "ts": np.r_[when, when],
            "seg": np.r_[seg, seg],
            "y": np.r_[np.ones(correct.size), np.zeros(correct.size)].astype(int),
            "p": np.ones(2 * correct.size, dtype=int),
            "w": np.r_[correct, n - correct].astype(float),
        }
    )

    def fired(dispersion: str) -> float:
        policy = (
            "[gates.g]\nmin_n = 1\n[rollback]\ntrend.accuracy = { no_significant_decline = "
            f'true, periods = 4, segments = true, dispersion = "{dispersion}" }}\n'
        )
        result = run(tmp_path, frame.to_dicts(), policy)
        rows = result.table.filter(
            (pl.col("criterion") == "trend.accuracy") & (pl.col("segment") != "overall")
        )
        assert rows.height == segments and str(result.month) == "2026-12"
        return float((rows["status"] == "fired").mean())

    history, fixed = fired("history"), fired("fixed")
    print(f"\nflat feature, 50,000 rows a month: trend trigger fired in {history:.3f} of ", end="")
    print(f"segments (binomial variance: {fixed:.3f})")
    assert 0.003 <= history <= 0.045
    assert fixed > 0.15


# -- drift ------------------------------------------------------------------------------


def test_drift_against_the_previous_month_and_the_eval_set(tmp_path):
    rows = acc(1, "a", 1_000, 0.9, intent="x") + acc(1, "a", 1_000, 0.9, intent="y")
    rows += acc(2, "a", 1_000, 0.9, intent="x") + acc(2, "a", 1_000, 0.9, intent="y")
    rows += acc(3, "a", 1_900, 0.9, intent="x") + acc(3, "a", 100, 0.9, intent="y")
    policy = '[gates.g]\ndrift = { max_js = 0.1, columns = ["intent"] }\n'
    assert rows_of(run(tmp_path, rows, policy, month="2026-02"), "drift.max_js") == {
        "intent": "pass"
    }
    result = run(tmp_path, rows, policy)  # latest month, 2026-03, vs 2026-02
    assert rows_of(result, "drift.max_js") == {"intent": "fail"}
    assert "vs 2026-02" in result.failures["evidence"].item()
    # the first month has no previous month: skipped
    assert rows_of(run(tmp_path, rows, policy, month="2026-01"), "drift.max_js") == {
        "intent": "skipped"
    }
    # against the eval set (here: month 3's mix)
    pl.DataFrame(
        acc(3, "a", 1_900, 0.9, intent="x") + acc(3, "a", 100, 0.9, intent="y")
    ).write_parquet(tmp_path / "eval.parquet")
    data = DATA.replace('path = "log.parquet"', 'path = "log.parquet"\neval_path = "eval.parquet"')
    policy = '[gates.g]\ndrift = { max_js = 0.1, columns = ["intent"], against = "eval" }\n'
    assert rows_of(run(tmp_path, rows, policy, data=data), "drift.max_js") == {"intent": "pass"}
    assert rows_of(run(tmp_path, rows, policy, data=data, month="2026-02"), "drift.max_js") == {
        "intent": "fail"
    }


# -- stages and rollback ----------------------------------------------------------------


def test_stage_is_the_highest_with_every_earlier_stage_passing(tmp_path):
    rows = acc(1, "a", 10_000, 0.9)
    policy = """
    [gates.shadow]
    metrics.accuracy = { min = 0.80 }
    [gates.copilot]
    metrics.accuracy = { min = 0.95 }
    [gates.autopilot]
    min_n = 100
    """
    result = run(tmp_path, rows, policy)
    # autopilot's own criteria pass, but copilot before it fails
    assert result.stage_passed == {"shadow": True, "copilot": False, "autopilot": True}
    assert result.stage == "shadow" and not result.passed
    assert result.passes("shadow") and not result.passes("autopilot")


def test_rollback_fires_only_on_evidence_of_a_breach(tmp_path):
    policy = """
    [gates.shadow]
    min_n = 10
    [rollback]
    metrics.accuracy = { min = 0.80 }
    """
    # 0.78 on 100 rows: below the bound, but the interval reaches above it: quiet
    noisy = run(tmp_path, acc(1, "a", 100, 0.78), policy)
    assert rows_of(noisy, "metrics.accuracy.min", "rollback")["overall"] == "quiet"
    assert not noisy.rollback
    # 0.70 on 2,000 rows: the whole interval is below: fired
    clear = run(tmp_path, acc(1, "a", 2_000, 0.70), policy)
    assert rows_of(clear, "metrics.accuracy.min", "rollback")["overall"] == "fired"
    assert clear.rollback and clear.stage == "shadow"
    assert any(line.startswith("ROLLBACK trigger fired") for line in clear.summary())
    assert "FIRED" in clear.verdict()


def test_month_selection_and_version_filter(tmp_path):
    rows = acc(1, "a", 5_000, 0.95, v="v1") + acc(2, "a", 5_000, 0.70, v="v1")
    rows += acc(2, "a", 5_000, 0.95, v="v2")
    data = DATA + 'version = "v"\n'
    policy = "[gates.g]\nmetrics.accuracy = { min = 0.9 }\n"
    assert run(tmp_path, rows, policy, month="2026-01", data=data).passed
    latest = run(tmp_path, rows, policy, data=data)
    assert str(latest.month) == "2026-02" and not latest.passed
    only_v2 = run(tmp_path, rows, "[gates]\nversion = 'v2'\n" + policy, data=data)
    assert only_v2.passed and only_v2.rows == 5_000
    with pytest.raises(InvalidValueError, match="no rows to check for month 2026-05"):
        run(tmp_path, rows, policy, month="2026-05", data=data)
    with pytest.raises(InvalidValueError, match=r"gates.version: needs \[data\] version"):
        run(tmp_path, rows, "[gates]\nversion = 'v2'\n" + policy)


def test_display(tmp_path):
    rows = acc(1, "<b>x</b>", 5_000, 0.7) + acc(1, "ok", 5_000, 0.95)
    result = run(tmp_path, rows, "[gates.g]\nmetrics.accuracy = { min = 0.8 }\n")
    html = result._repr_html_()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert result.table.columns[:3] == ["stage", "criterion", "segment"]
    spec = result.chart().to_dict()
    assert "facet" in spec


def test_the_example_audit_toml_runs_on_the_demo_data(tmp_path):
    example = Path(__file__).parents[1] / "examples" / "audit.toml"
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "audit.toml").write_text(example.read_text())
    (tmp_path / "demo_data").mkdir()
    ad.datasets.demo(n_per_month=3_000, months=3).write_parquet(
        tmp_path / "demo_data" / "production.parquet"
    )
    ad.datasets.demo_eval(n=1_000).write_parquet(tmp_path / "demo_data" / "eval.parquet")
    result = ad.check(tmp_path / "examples" / "audit.toml", month="2025-12")
    assert result.stages == ["shadow", "copilot", "autopilot"]
    assert result.stage != "copilot"  # copilot needs 10,000 labeled rows a month
    assert set(result.table["criterion"]) >= {"trend.accuracy", "drift.max_js", "metrics.auc.min"}
    assert "language=ja" in result.failures.filter(pl.col("stage") == "autopilot")["segment"]
