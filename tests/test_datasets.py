"""Tests of the demo data generator: schema, determinism and every planted effect.

The checks are computed directly with polars, so that they do not depend on the
analysis modules they are meant to exercise.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aidebt.datasets import demo, demo_eval, demo_published, demo_versions, write_demo

N_PER_MONTH = 20_000
MONTHS = 14

SCHEMA = {
    "ts": pl.Datetime("us"),
    "model_version": pl.String,
    "prompt_version": pl.String,
    "region": pl.String,
    "language": pl.String,
    "tier": pl.String,
    "channel": pl.String,
    "intent": pl.String,
    "y_true": pl.Int8,
    "y_pred": pl.Int8,
    "score": pl.Float64,
}
EXISTING_INTENTS = {"billing", "shipping", "returns", "account", "technical"}
NEW_INTENT = "account_recovery"

# 1-based month since the default start (2025-10).
MONTH = (pl.col("ts").dt.year() - 2025) * 12 + pl.col("ts").dt.month() - 10 + 1
CORRECT = (pl.col("y_pred") == pl.col("y_true")).cast(pl.Float64)


@pytest.fixture(scope="module")
def log() -> pl.DataFrame:
    return demo(n_per_month=N_PER_MONTH, months=MONTHS, seed=0).with_columns(month=MONTH)


@pytest.fixture(scope="module")
def labeled(log: pl.DataFrame) -> pl.DataFrame:
    return log.filter(pl.col("y_true").is_not_null())


@pytest.fixture(scope="module")
def golden() -> pl.DataFrame:
    return demo_eval(n=20_000, seed=0)


# --------------------------------------------------------------------------------------
# Shape, types, determinism
# --------------------------------------------------------------------------------------
def test_same_seed_same_frame_and_different_seed_different_frame() -> None:
    a = demo(n_per_month=2_000, months=3, seed=7)
    assert a.equals(demo(n_per_month=2_000, months=3, seed=7))
    assert not a.equals(demo(n_per_month=2_000, months=3, seed=8))
    g = demo_eval(n=1_000, seed=7)
    assert g.equals(demo_eval(n=1_000, seed=7))
    assert not g.equals(demo_eval(n=1_000, seed=8))


def test_schema_and_dtypes(log: pl.DataFrame, golden: pl.DataFrame) -> None:
    assert demo(n_per_month=500, months=2).schema == pl.Schema(SCHEMA)
    assert golden.schema == pl.Schema(SCHEMA)
    assert log.drop("month").schema == pl.Schema(SCHEMA)


def test_levels(log: pl.DataFrame) -> None:
    levels = {c: set(log[c].unique()) for c in SCHEMA if log[c].dtype == pl.String}
    assert levels["model_version"] == {"m1", "m2"}
    assert levels["prompt_version"] == {"v1", "v2"}
    assert levels["region"] == {"NA", "EU", "APAC", "LATAM"}
    assert levels["language"] == {"en", "es", "de", "fr", "pt", "ja"}
    assert levels["tier"] == {"free", "pro", "enterprise"}
    assert levels["channel"] == {"chat", "email", "web"}
    assert levels["intent"] == EXISTING_INTENTS | {NEW_INTENT}
    assert set(log["y_true"].drop_nulls().unique()) == {0, 1}
    assert set(log["y_pred"].unique()) == {0, 1}


def test_rows_per_month_sorted_and_within_range(log: pl.DataFrame) -> None:
    assert log["ts"].is_sorted()
    counts = log.group_by("month").len().sort("month")
    assert counts["month"].to_list() == list(range(1, MONTHS + 1))
    assert counts["len"].min() >= 0.9 * N_PER_MONTH
    assert counts["len"].max() <= 1.1 * N_PER_MONTH
    assert counts["len"].n_unique() > 1  # the monthly volume varies a little
    assert log["ts"].min() >= dt.datetime(2025, 10, 1)
    assert log["ts"].max() < dt.datetime(2026, 12, 1)
    # Uniform within the month: every day of the month gets traffic.
    october = log.filter(pl.col("month") == 1)
    assert october["ts"].dt.day().n_unique() == 31


def test_no_nulls_but_labels_and_pred_is_thresholded_score(log: pl.DataFrame) -> None:
    nulls = log.null_count().row(0, named=True)
    assert {c for c, k in nulls.items() if k} == {"y_true"}
    assert log["score"].min() > 0.0
    assert log["score"].max() < 1.0
    assert (log["y_pred"] == (log["score"] >= 0.5).cast(pl.Int8)).all()


@given(
    n_per_month=st.integers(1, 300),
    months=st.integers(1, 30),
    start=st.dates(dt.date(2000, 1, 1), dt.date(2090, 12, 31)),
    seed=st.integers(0, 2**32),
)
@settings(max_examples=25, deadline=None)
def test_any_size_and_start(n_per_month: int, months: int, start: dt.date, seed: int) -> None:
    frame = demo(n_per_month=n_per_month, months=months, start=start.isoformat(), seed=seed)
    assert frame.schema == pl.Schema(SCHEMA)
    assert frame["ts"].is_sorted()
    first = dt.datetime(start.year, start.month, 1)
    year, month = divmod(start.month - 1 + months, 12)
    assert frame["ts"].min() >= first
    assert frame["ts"].max() < dt.datetime(start.year + year, month + 1, 1)
    per_month = frame.group_by(pl.col("ts").dt.strftime("%Y-%m")).len()
    assert per_month.height == months
    assert per_month["len"].max() <= 1.1 * n_per_month + 1


def test_bad_arguments_raise_value_errors() -> None:
    with pytest.raises(ValueError, match="start"):
        demo(start="October")
    with pytest.raises(ValueError, match="n_per_month"):
        demo(n_per_month=0)
    with pytest.raises(ValueError, match="months"):
        demo(months=-1)
    with pytest.raises(ValueError, match="seed"):
        demo(seed=-1)
    with pytest.raises(ValueError, match="n="):
        demo_eval(n=0)


# --------------------------------------------------------------------------------------
# 1. Subgroup failure: ja misses ~4x as many true resolutions, nothing else differs
# --------------------------------------------------------------------------------------
def _rates_by(frame: pl.DataFrame, by: str | pl.Expr) -> pl.DataFrame:
    return frame.group_by(by).agg(
        fnr=(pl.col("y_pred") == 0).filter(pl.col("y_true") == 1).mean(),
        fpr=(pl.col("y_pred") == 1).filter(pl.col("y_true") == 0).mean(),
        resolved=pl.col("y_true").mean(),
    )


def test_japanese_false_negative_rate_is_about_four_times_the_others(
    labeled: pl.DataFrame,
) -> None:
    rates = {
        r["ja"]: r for r in _rates_by(labeled, (pl.col("language") == "ja").alias("ja")).to_dicts()
    }
    assert 3.0 <= rates[True]["fnr"] / rates[False]["fnr"] <= 5.5
    assert 0.85 <= rates[True]["fpr"] / rates[False]["fpr"] <= 1.15
    assert abs(rates[True]["resolved"] - rates[False]["resolved"]) < 0.015
    launch = _rates_by(
        labeled.filter(pl.col("month") == 1), (pl.col("language") == "ja").alias("ja")
    )
    launch = {r["ja"]: r for r in launch.to_dicts()}
    assert 3.0 <= launch[True]["fnr"] / launch[False]["fnr"] <= 5.5


def test_other_languages_share_one_error_profile(labeled: pl.DataFrame) -> None:
    rates = _rates_by(labeled.filter(pl.col("language") != "ja"), "language")
    assert rates["fnr"].max() - rates["fnr"].min() < 0.01
    rates = _rates_by(labeled, "language")
    assert rates["fpr"].max() - rates["fpr"].min() < 0.02
    assert rates["resolved"].max() - rates["resolved"].min() < 0.015


@pytest.mark.parametrize("other", ["tier", "prompt_version", "region", "channel", "intent"])
def test_language_is_independent_of_other_columns(log: pl.DataFrame, other: str) -> None:
    share = log.group_by(other).agg(ja=(pl.col("language") == "ja").mean())
    assert share["ja"].max() - share["ja"].min() < 0.012


# --------------------------------------------------------------------------------------
# 2. Simpson's paradox: v2 better within every tier, worse overall
# --------------------------------------------------------------------------------------
def _v2_minus_v1(frame: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    rates = frame.group_by([*by, "prompt_version"]).agg(r=pl.col("y_true").mean())
    wide = rates.pivot("prompt_version", index=by, values="r") if by else None
    if wide is None:
        r = dict(zip(rates["prompt_version"], rates["r"], strict=True))
        return pl.DataFrame({"diff": [r["v2"] - r["v1"]]})
    return wide.with_columns(diff=pl.col("v2") - pl.col("v1"))


def test_simpson_reversal_prompt_by_tier(labeled: pl.DataFrame) -> None:
    within = _v2_minus_v1(labeled, ["tier"])
    assert within.height == 3
    assert within["diff"].min() >= 0.01
    assert within["diff"].max() <= 0.045
    overall = _v2_minus_v1(labeled, [])["diff"].item()
    assert overall <= -0.02


def test_prompt_assignment_depends_on_tier_only(log: pl.DataFrame) -> None:
    p = log.group_by("tier").agg(v2=(pl.col("prompt_version") == "v2").mean())
    p = dict(zip(p["tier"], p["v2"], strict=True))
    assert p["free"] == pytest.approx(0.2, abs=0.02)
    assert p["pro"] == pytest.approx(0.5, abs=0.02)
    assert p["enterprise"] == pytest.approx(0.8, abs=0.02)
    assert p["enterprise"] > p["pro"] > p["free"]
    for other in ["month", "language", "region", "channel", "intent", "model_version"]:
        cond = log.group_by("tier", other).agg(v2=(pl.col("prompt_version") == "v2").mean())
        spread = cond.group_by("tier").agg(s=pl.col("v2").max() - pl.col("v2").min())
        assert spread["s"].max() < 0.06, other


@pytest.mark.parametrize(
    "other", ["month", "language", "region", "channel", "intent", "model_version"]
)
def test_no_other_stratifier_reverses_the_prompt_comparison(
    labeled: pl.DataFrame, other: str
) -> None:
    within = _v2_minus_v1(labeled, [other])
    assert (within["diff"] < 0).all(), within


def test_tier_drives_resolution(labeled: pl.DataFrame) -> None:
    r = labeled.group_by("tier").agg(r=pl.col("y_true").mean())
    r = dict(zip(r["tier"], r["r"], strict=True))
    assert r["free"] > r["pro"] > r["enterprise"]
    assert r["free"] - r["enterprise"] > 0.15


# --------------------------------------------------------------------------------------
# 3. Decay: flat for six months, then a steady fall driven by the intent mix
# --------------------------------------------------------------------------------------
def _monthly_accuracy(labeled: pl.DataFrame) -> list[float]:
    return labeled.group_by("month").agg(acc=CORRECT.mean()).sort("month")["acc"].to_list()


def test_accuracy_flat_then_declines(labeled: pl.DataFrame) -> None:
    acc = _monthly_accuracy(labeled)
    assert len(acc) == MONTHS
    assert acc[0] >= 0.88
    assert max(acc[:6]) - min(acc[:6]) <= 0.015
    assert acc[-1] <= acc[0] - 0.05
    assert acc[6] < min(acc[:6])  # the decline starts in month 7
    for before, after in zip(acc[6:], acc[7:], strict=False):
        assert after < before + 0.005  # steadily down, sampling noise aside


def test_new_intent_appears_in_month_seven_and_grows(log: pl.DataFrame) -> None:
    share = (
        log.group_by("month")
        .agg(new=(pl.col("intent") == NEW_INTENT).mean())
        .sort("month")["new"]
        .to_list()
    )
    assert share[:6] == [0.0] * 6
    assert share[6] > 0.02
    assert 0.33 <= share[-1] <= 0.43
    assert all(b > a for a, b in zip(share[6:], share[7:], strict=False))


def test_new_intent_and_technical_are_the_hard_ones(labeled: pl.DataFrame) -> None:
    acc = labeled.group_by("intent").agg(acc=CORRECT.mean())
    acc = dict(zip(acc["intent"], acc["acc"], strict=True))
    assert acc[NEW_INTENT] < 0.7
    assert acc["technical"] < min(acc[i] for i in EXISTING_INTENTS - {"technical"}) - 0.08
    assert min(acc[i] for i in EXISTING_INTENTS - {"technical"}) > 0.88


def test_golden_set_is_launch_traffic(golden: pl.DataFrame, labeled: pl.DataFrame) -> None:
    assert golden.height == 20_000
    assert golden.null_count().sum_horizontal().item() == 0
    assert NEW_INTENT not in set(golden["intent"])
    assert golden["ts"].min() >= dt.datetime(2025, 10, 1)
    assert golden["ts"].max() < dt.datetime(2025, 11, 1)
    assert golden["ts"].is_sorted()
    launch_acc = labeled.filter(pl.col("month") == 1).select(CORRECT.mean()).item()
    assert golden.select(CORRECT.mean()).item() == pytest.approx(launch_acc, abs=0.015)
    assert demo_eval().height == 3_000


def test_post_stratified_golden_accuracy_falls_while_raw_stays(
    golden: pl.DataFrame, log: pl.DataFrame
) -> None:
    acc = golden.group_by("intent").agg(acc=CORRECT.mean())

    def reweighted(month: int) -> float:
        existing = log.filter(pl.col("month") == month, pl.col("intent") != NEW_INTENT)
        mix = existing.group_by("intent").agg(w=pl.len() / existing.height)
        return mix.join(acc, on="intent").select((pl.col("w") * pl.col("acc")).sum()).item()

    raw = golden.select(CORRECT.mean()).item()
    assert reweighted(1) == pytest.approx(raw, abs=0.01)
    assert reweighted(MONTHS) <= raw - 0.03


def test_technical_share_of_existing_intents_grows(log: pl.DataFrame) -> None:
    tech = (
        log.filter(pl.col("intent") != NEW_INTENT)
        .group_by("month")
        .agg(t=(pl.col("intent") == "technical").mean())
        .sort("month")["t"]
        .to_list()
    )
    assert max(tech[:6]) < 0.17
    assert min(tech[:6]) > 0.13
    assert 0.46 <= tech[-1] <= 0.54


@pytest.mark.parametrize("other", ["tier", "prompt_version", "language"])
def test_intent_mix_independent_of_assignment(log: pl.DataFrame, other: str) -> None:
    late = log.filter(pl.col("month") == MONTHS)
    share = late.group_by(other).agg(new=(pl.col("intent") == NEW_INTENT).mean())
    assert share["new"].max() - share["new"].min() < 0.04


def test_model_version_m2_changes_nothing(log: pl.DataFrame, labeled: pl.DataFrame) -> None:
    m2 = (log.group_by("month").agg(m2=(pl.col("model_version") == "m2").mean()).sort("month"))[
        "m2"
    ].to_list()
    assert m2[:9] == [0.0] * 9
    assert all(0.45 <= s <= 0.55 for s in m2[9:])
    acc = (
        labeled.filter(pl.col("month") >= 10)
        .group_by("model_version")
        .agg(acc=CORRECT.mean())["acc"]
    )
    assert acc.max() - acc.min() < 0.01


# --------------------------------------------------------------------------------------
# 4. Drift: only the intent mix moves
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("column", ["region", "language", "tier", "channel"])
def test_other_mixes_are_stationary(log: pl.DataFrame, column: str) -> None:
    monthly = (
        log.group_by("month", column)
        .len()
        .with_columns(share=pl.col("len") / pl.col("len").sum().over("month"))
    )
    spread = monthly.group_by(column).agg(s=pl.col("share").max() - pl.col("share").min())
    assert spread["s"].max() < 0.025


def test_intent_mix_drifts(log: pl.DataFrame) -> None:
    first, last = (
        log.filter(pl.col("month") == m).group_by("intent").agg(p=pl.len() / pl.len().sum())
        for m in (1, MONTHS)
    )
    first = dict(zip(first["intent"], first["p"], strict=True))
    last = dict(zip(last["intent"], last["p"], strict=True))
    total_variation = 0.5 * sum(abs(last[k] - first.get(k, 0.0)) for k in last)
    assert total_variation > 0.3


# --------------------------------------------------------------------------------------
# 5. Late labels
# --------------------------------------------------------------------------------------
def test_labels_missing_only_in_the_last_three_weeks(log: pl.DataFrame) -> None:
    end = dt.datetime(2026, 12, 1)
    week = ((pl.lit(end) - pl.col("ts")).dt.total_microseconds() // (7 * 86_400 * 10**6)).alias(
        "week"
    )
    missing = (
        log.group_by(week).agg(p=pl.col("y_true").is_null().mean()).sort("week")["p"].to_list()
    )
    assert missing[0] == pytest.approx(0.90, abs=0.03)
    assert missing[1] == pytest.approx(0.50, abs=0.04)
    assert missing[2] == pytest.approx(0.15, abs=0.03)
    assert all(p == 0.0 for p in missing[3:])
    # Missingness is independent of the columns the analyses stratify by.
    recent = log.filter(week == 0)
    for column in ["language", "tier", "prompt_version", "intent"]:
        by = recent.group_by(column).agg(p=pl.col("y_true").is_null().mean())
        assert by["p"].max() - by["p"].min() < 0.05, column


# --------------------------------------------------------------------------------------
# Score quality
# --------------------------------------------------------------------------------------
def test_score_ranks_well_and_is_roughly_calibrated(labeled: pl.DataFrame) -> None:
    ranked = labeled.with_columns(rank=pl.col("score").rank("average"))
    n1 = ranked.filter(pl.col("y_true") == 1).height
    n0 = ranked.height - n1
    rank_sum = ranked.filter(pl.col("y_true") == 1)["rank"].sum()
    auc = (rank_sum - n1 * (n1 + 1) / 2) / (n1 * n0)
    assert 0.85 <= auc <= 0.95
    deciles = labeled.group_by((pl.col("score") * 10).floor().alias("bin")).agg(
        s=pl.col("score").mean(), y=pl.col("y_true").mean()
    )
    assert (deciles["s"] - deciles["y"]).abs().max() < 0.15


# --------------------------------------------------------------------------------------
# write_demo
# --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_write_demo_round_trip(tmp_path) -> None:
    from aidebt.datasets import demo_feedback, demo_labels, demo_usage

    target = tmp_path / "nested" / "data"
    paths = write_demo(target)
    tables = ["eval", "events", "labels", "production", "published", "ratings", "usage"]
    names = sorted(f"{t}.parquet" for t in [*tables, "versions"])
    assert sorted(paths) == sorted([*tables, "versions"])
    assert paths["production"] == target / "production.parquet"
    assert paths["eval"] == target / "eval.parquet"
    assert sorted(p.name for p in target.iterdir()) == names
    production = pl.read_parquet(paths["production"])
    assert production.columns[0] == "ticket_id" and production.drop("ticket_id").equals(demo())
    feedback = demo_feedback()
    assert pl.read_parquet(paths["events"]).equals(feedback["events"])
    assert pl.read_parquet(paths["ratings"]).equals(feedback["ratings"])
    assert pl.read_parquet(paths["eval"]).equals(demo_eval())
    assert pl.read_parquet(paths["labels"]).equals(demo_labels())
    assert pl.read_parquet(paths["usage"]).equals(demo_usage())
    assert pl.read_parquet(paths["versions"]).equals(demo_versions())
    assert pl.read_parquet(paths["published"]).equals(demo_published())
    # Rewriting replaces the files in place.
    assert write_demo(target) == paths
    assert sorted(p.name for p in target.iterdir()) == names
