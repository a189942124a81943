"""The newer analyses in the reports (issues 13-15, 18, 20, 21): each result's headline
recorded and escaped, fairness without small groups, the estimate or why there is none."""

from __future__ import annotations

import json

import polars as pl
import pytest

from aidebt import datasets
from aidebt.report import Audit, Words, fairness_tables, headline
from aidebt.results import Headline

WORDS = Words(decision="answer", outcome="review", positive="resolved")


@pytest.fixture(scope="module")
def log() -> pl.DataFrame:
    return datasets.demo(n_per_month=2_000, months=6)


def _audit(log, **kw) -> Audit:
    roles = {"y_true": "y_true", "y_pred": "y_pred", "y_score": "score", **kw}
    return Audit(log, "2026-03", time="ts", words=WORDS, **roles)


def test_a_headline_is_recorded_and_escaped(monkeypatch):
    recorded = {}
    monkeypatch.setattr("aidebt.report.kernel.record", lambda k, v: recorded.update({k: v}))

    class Result:
        def headline(self, metric_names=None):
            return Headline(f"<b>{metric_names['fnr']}</b> is up.", {"worst": "ja"})

    shown = headline(Result(), "slices", words=WORDS)
    assert shown.data == "&lt;b&gt;miss rate&lt;/b&gt; is up."
    assert recorded == {"slices_worst": "ja"}


def test_fairness_leaves_small_groups_out_and_names_them(log):
    audit = _audit(log, pos_label=None)
    audit.min_n = 150  # ja and the other small languages fall under it in one month
    fair, line = audit.fairness(["language", "tier"])
    assert fair.attributes == ["language", "tier"]
    groups = fair.groups.filter(pl.col("attribute") == "language")["group"].to_list()
    assert "ja" not in groups and len(groups) >= 2
    assert "Not compared, fewer than 150 answers with a known review" in line.data
    assert "language ja" in line.data and "language en" not in line.data
    # the tables speak the report's words, never the summaries' names
    text = " ".join(t.data for t in fairness_tables(fair, WORDS))
    assert "miss rate" not in text and "detection rate" in text and "_" not in text
    assert "calibration error" in text  # a score was given
    one = _audit(log, y_score=None)
    one.min_n = 10**6  # no group is large enough: nothing to compare, and it says so
    fair, line = one.fairness(["tier"])
    assert fair is None and "Fewer than two groups large enough to compare by" in line.data


def test_the_estimate_or_the_reason_there_is_none(log):
    est, why = _audit(log).estimate("accuracy", every="1w")
    assert why is None and est.tail().height >= 1
    assert "not a measurement" in est.headline(metric_names=WORDS.metric_names()).sentence
    none, why = _audit(log, y_score=None).estimate("accuracy")
    assert none is None and "because no score column was given" in why.data
    none, why = _audit(log).estimate("mean_score")
    assert none is None and "cannot be estimated from a score" in why.data
    # the months before the log's start hold no labels to calibrate on
    none, why = _audit(log).estimate("accuracy", reference="2024-01..2024-03")
    assert none is None and "to calibrate the scores on" in why.data


@pytest.mark.slow
def test_the_monthly_audit_headlines_feedback_when_the_events_are_given(tmp_path, demo_config):
    """Issue 13: with the event log and the ratings of the decisions, the monthly audit says
    what users did and said (the demo's config brings the rating rule)."""
    from aidebt.report import render

    tables = datasets.demo_feedback(n_per_month=2_000, months=3)
    for name in ("interactions", "events", "ratings"):
        tables[name].write_parquet(tmp_path / f"{name}.parquet")
    result = render(
        "monthly_audit",
        month="2025-12",
        config=demo_config,
        data=tmp_path / "interactions.parquet",
        parameters={
            "events_data": str(tmp_path / "events.parquet"),
            "ratings_data": str(tmp_path / "ratings.parquet"),
            "interaction": "ticket_id",
            "rules": dict(datasets.FEEDBACK_RULES),
        },
        out=tmp_path / "reports",
        progress=False,
    )
    (page,) = result.published
    text = page.html.read_text()
    assert "of rated answers were positive" in text and "once corrected for who rates" in text
    entry = json.loads(page.manifest.read_text())["reports"][0]
    assert 0 < entry["key_figures"]["feedback_response_rate"] < 0.1


def test_slices_or_why_none_could_be_searched(log):
    found, why = _audit(log).slices("fnr", ["language", "tier"])
    assert why is None and found.table["slice"][0].startswith("language = ja")
    ids = pl.DataFrame({"ts": log["ts"], "id": range(log.height)}).with_columns(
        y_true=log["y_true"], y_pred=log["y_pred"], id=pl.col("id").cast(pl.String)
    )
    none, why = Audit(ids, "2026-03", time="ts", y_true="y_true", y_pred="y_pred").slices(
        "error_rate"
    )
    assert none is None and "no attribute has few enough values to search" in why.data
