"""Tests of aidebt.feedback: implicit labels from an event log, and how biased ratings are.

References: statsmodels' ``cohens_kappa`` (kappa and its standard error), ``proportion_confint``
(Wilson), ``confint_proportions_2indep`` (Newcombe), a saturated logistic propensity model
fitted with statsmodels (the IPW estimate), the closed-form post-stratification variance
(Holt & Smith 1979), and seeded simulations of the correction's coverage.
"""

from __future__ import annotations

import datetime as dt
import random
import tomllib
import warnings

import duckdb
import numpy as np
import polars as pl
import pytest

import aidebt as ad
from aidebt import datasets
from aidebt.errors import ColumnTypeError, InvalidArgumentError, InvalidValueError
from aidebt.feedback import (
    DEFAULT_RULES,
    Rules,
    cohens_kappa,
    feedback,
    implicit_labels,
    parse_window,
    post_stratify,
    rules_from_toml,
)

T0 = dt.datetime(2026, 11, 3, 9, 0)
RULES = {
    "positive": ["accept", "copy"],
    "negative": [("undo", "30s"), ("rephrase", "2m"), "regenerate"],
    "abandon": "10m",
}
FAR = 86_400.0  # an event a day later closes every window of the interactions before it


def make_log(rows, *, zone: str | None = None, start: dt.datetime = T0) -> pl.DataFrame:
    """``rows``: (interaction, seconds after ``start``, event[, session])."""
    with_session = len(rows[0]) == 4
    frame = pl.DataFrame(
        {
            "id": [r[0] for r in rows],
            "ts": [start + dt.timedelta(seconds=r[1]) for r in rows],
            "event": [r[2] for r in rows],
            **({"session": [r[3] for r in rows]} if with_session else {}),
        },
        schema_overrides={"ts": pl.Datetime("us")},
    )
    if zone:
        frame = frame.with_columns(pl.col("ts").dt.replace_time_zone(zone))
    return frame


def labels_of(log, *, quiet: bool = True, **kw) -> dict:
    """{interaction: (implicit, signal, latency)}; warnings about unused rules silenced."""
    kw.setdefault("rules", RULES)
    kw.setdefault("responses", "answer")
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore", UserWarning)
        out = implicit_labels(log, interaction="id", time="ts", event="event", **kw)
    if isinstance(out, pl.LazyFrame):
        out = out.collect()
    return {row[0]: row[1:] for row in out.sort("id").rows()}


# --------------------------------------------------------------------------------------
# Windows and rules
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("30s", 30_000_000),
        ("30 s", 30_000_000),
        ("500ms", 500_000),
        ("2m", 120_000_000),
        ("2min", 120_000_000),
        ("1.5h", 5_400_000_000),
        ("1d", 86_400_000_000),
        (30, 30_000_000),
        (0.25, 250_000),
        (dt.timedelta(minutes=10), 600_000_000),
    ],
)
def test_window_spellings(text, micros):
    assert parse_window(text) == micros


@pytest.mark.parametrize("bad", ["30 seconds", "2mo", "30", "-5s", 0, -1, True, None, "s30"])
def test_an_unparseable_window_lists_the_accepted_spellings(bad):
    with pytest.raises(InvalidArgumentError) as err:
        parse_window(bad)
    message = str(err.value)
    assert repr(bad) in message
    for spelling in ("'30s'", "'2m'", "'500ms'", "'1h'", "datetime.timedelta"):
        assert spelling in message


def test_a_rule_with_a_bad_window_says_which_rule():
    with pytest.raises(InvalidArgumentError, match=r"negative window of 'undo'.*'30s'"):
        Rules.parse({"negative": [("undo", "30 seconds")]})


@pytest.mark.parametrize(
    ("rules", "match"),
    [
        ({"postive": ["accept"]}, r"unknown key 'postive'.*Did you mean 'positive'"),
        ({"positive": ["accept"], "negative": ["accept"]}, r"'accept' appear more than once"),
        ({}, "has no rule"),
        ({"positive": [("accept", "1s", "x")]}, "is not a rule"),
        ({"positive": [{"name": "accept"}]}, "must look like"),
        ({"positive": [""]}, "non-empty name"),
        ("accept", "must be a mapping"),
    ],
)
def test_bad_rules_are_clear_errors(rules, match):
    with pytest.raises(InvalidArgumentError, match=match):
        Rules.parse(rules)


def test_rules_read_from_toml_equal_the_same_rules_as_data():
    doc = tomllib.loads(
        """
        [feedback.rules]
        positive = ["accept", "copy"]
        negative = [["undo", "30s"], { event = "rephrase", within = "2m" }, "regenerate"]
        abandon = "10m"
        """
    )
    assert rules_from_toml(doc["feedback"]["rules"]) == Rules.parse(RULES) == DEFAULT_RULES
    with pytest.raises(InvalidArgumentError, match=r"\[feedback.rules\] abandon window"):
        rules_from_toml({"abandon": "ten minutes"})


def test_rules_say_their_precedence_in_plain_english():
    lines = DEFAULT_RULES.describe()
    assert lines[0].startswith("Not served: undo (within 30 s), rephrase (within 2 min)")
    assert "regenerate (at any time)" in lines[0]
    assert "unless a not-served event also happened" in lines[1]
    assert "within 10 min" in lines[2]


# --------------------------------------------------------------------------------------
# implicit_labels: precedence, boundaries, order, keys, sessions, zones
# --------------------------------------------------------------------------------------
def test_precedence_negative_beats_positive_beats_abandonment():
    log = make_log(
        [
            (1, 0, "answer"), (1, 5, "accept"), (1, 20, "undo"),  # accept then undo: 0
            (2, 0, "answer"), (2, 5, "accept"), (2, 45, "undo"),  # undo too late: 1
            (3, 0, "answer"), (3, 4, "copy"), (3, 3000, "regenerate"),  # no window: 0
            (4, 0, "answer"), (4, 700, "accept"),  # nothing for 11 min, then accept: 1
            (5, 0, "answer"),  # nothing at all: abandoned
            (6, 0, "answer"), (6, 30, "view_sources"),  # no rule decides: null
            (7, 0, "answer"), (7, 3, "rephrase"), (7, 9, "undo"),  # two negatives: earliest
            (9, FAR, "answer"),
        ]
    )  # fmt: skip
    got = labels_of(log)
    assert got[1] == (0, "undo", 20.0)
    assert got[2] == (1, "accept", 5.0)
    assert got[3] == (0, "regenerate", 3000.0)
    assert got[4] == (1, "accept", 700.0)
    assert got[5] == (0, "abandon", 600.0)
    assert got[6] == (None, None, None)
    assert got[7] == (0, "rephrase", 3.0)
    assert got[9] == (None, "pending", None)  # the log ends before its windows close


def test_windows_are_inclusive_at_the_boundary():
    eps = 1e-6  # one microsecond
    log = make_log(
        [
            (1, 0, "answer"), (1, 2, "accept"), (1, 30, "undo"),  # exactly 30 s: fires
            (2, 0, "answer"), (2, 2, "accept"), (2, 30 + eps, "undo"),  # 1 us later: not
            (3, 0, "answer"), (3, 600, "view_sources"),  # next event exactly 10 min: stayed
            (4, 0, "answer"), (4, 600 + eps, "view_sources"),  # 1 us later: abandoned
            (5, 0, "answer"), (5, 120, "rephrase"),  # exactly 2 min: fires
            (9, FAR, "answer"),
        ]
    )  # fmt: skip
    got = labels_of(log)
    assert got[1] == (0, "undo", 30.0)
    assert got[2] == (1, "accept", 2.0)
    assert got[3] == (None, None, None)
    assert got[4] == (0, "abandon", 600.0)
    assert got[5] == (0, "rephrase", 120.0)


def test_the_order_of_the_rows_does_not_matter():
    rows = [
        (i, off + s, e)
        for i, off in enumerate(range(0, 4000, 400))
        for s, e in [(0, "answer"), (3 + i, "accept"), (10 + 4 * i, "undo"), (50, "rephrase")]
    ] + [(99, FAR, "answer")]
    expected = labels_of(make_log(rows))
    for seed in range(5):
        shuffled = rows.copy()
        random.Random(seed).shuffle(shuffled)
        assert labels_of(make_log(shuffled)) == expected
    assert {v[1] for v in expected.values()} >= {"undo", "rephrase"}


def test_events_without_a_matching_interaction_and_interactions_without_events():
    log = make_log(
        [
            (1, 0, "answer"), (1, 4, "accept"),
            (2, 0, "answer"),
            (77, 5, "undo"), (77, 6, "accept"),  # never answered: ignored
            (3, -10, "accept"), (3, 0, "answer"),  # an event before its answer: ignored
            (9, FAR, "answer"),
        ]
    )  # fmt: skip
    got = labels_of(log)
    assert set(got) == {1, 2, 3, 9}
    assert got[3] == (0, "abandon", 600.0)
    answers = pl.DataFrame(
        {"id": [1, 2, 5, 6], "ts": [T0, T0, T0, T0 + dt.timedelta(seconds=FAR)]},
        schema_overrides={"ts": pl.Datetime("us")},
    )
    got = labels_of(log, responses=answers)
    assert set(got) == {1, 2, 5, 6}  # 5 has no event at all; 77 and 3 are not answers
    assert got[1] == (1, "accept", 4.0)
    assert got[5] == (0, "abandon", 600.0)  # no event within 10 minutes: abandoned
    no_abandon = {"positive": ["accept"], "negative": [("undo", "30s")]}
    assert labels_of(log, responses=answers, rules=no_abandon)[5] == (None, None, None)


def test_a_new_answer_in_the_session_is_not_abandonment_even_across_midnight():
    start = dt.datetime(2026, 11, 3, 23, 55)
    log = make_log(
        [
            (1, 0, "answer", "s1"),  # 23:55, the next answer at 00:01 (6 min later)
            (2, 360, "answer", "s1"), (2, 380, "undo", "s1"),  # undo 20 s after, past midnight
            (3, 0, "answer", "s2"),  # alone in its session: abandoned
            (4, 250, "answer", "s2b"), (4, 280, "accept", "s2b"),  # accepted at 23:59:40
            (9, FAR, "answer", "s9"),
        ],
        start=start,
    )  # fmt: skip
    got = labels_of(log, session="session")
    assert got[1] == (None, None, None)
    assert got[2] == (0, "undo", 20.0)
    assert got[3] == (0, "abandon", 600.0)
    assert got[4] == (1, "accept", 30.0)
    assert labels_of(log)[1] == (0, "abandon", 600.0)  # without sessions: abandoned


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata", "UTC"])
def test_windows_are_measured_between_instants_whatever_the_zone(zone):
    # 2026-03-08 is the spring-forward night in New York: 01:59:50 to 03:00:10 is 20 s.
    start = dt.datetime(2026, 3, 8, 6, 59, 50)  # 01:59:50 in New York, as UTC
    rows = [
        (1, 0, "answer"), (1, 20, "undo"),
        (2, 0, "answer"), (2, 40, "undo"), (2, 45, "accept"),
        (9, FAR, "answer"),
    ]  # fmt: skip
    utc = make_log(rows, zone="UTC", start=start)
    local = utc.with_columns(pl.col("ts").dt.convert_time_zone(zone))
    naive = utc.with_columns(pl.col("ts").dt.replace_time_zone(None))
    expected = labels_of(naive)
    assert expected[1] == (0, "undo", 20.0) and expected[2] == (1, "accept", 45.0)
    assert labels_of(local) == expected
    assert labels_of(local, until=dt.datetime(2026, 3, 10)) == labels_of(
        naive, until=dt.datetime(2026, 3, 10)
    )


def test_answers_in_another_zone_are_compared_as_instants_and_mixed_kinds_are_an_error():
    log = make_log([(1, 0, "answer"), (1, 20, "undo"), (9, FAR, "answer")], zone="UTC")
    answers = log.filter(pl.col("event") == "answer").select(
        "id", pl.col("ts").dt.convert_time_zone("Asia/Tokyo")
    )
    assert labels_of(log, responses=answers)[1] == (0, "undo", 20.0)
    with pytest.raises(ColumnTypeError, match="time zone in one table and not in the other"):
        labels_of(log, responses=answers.with_columns(pl.col("ts").dt.replace_time_zone(None)))


def test_until_closes_the_windows_of_the_last_interactions():
    log = make_log([(1, 0, "answer"), (1, 5, "accept"), (2, 100, "answer")])
    assert labels_of(log) == {1: (None, "pending", None), 2: (None, "pending", None)}
    late = T0 + dt.timedelta(hours=1)
    assert labels_of(log, until=late) == {
        1: (1, "accept", 5.0),
        2: (0, "abandon", 600.0),
    }
    assert labels_of(log, until=late.isoformat()) == labels_of(log, until=late)
    with pytest.raises(InvalidArgumentError, match="has a time zone"):
        labels_of(log, until=late.replace(tzinfo=dt.UTC))


def test_the_earliest_event_is_the_answer_by_default():
    log = make_log([(1, 0, "shown"), (1, 10, "copy"), (2, 0, "shown"), (9, FAR, "shown")])
    got = labels_of(log, responses=None)
    assert got[1] == (1, "copy", 10.0) and got[2] == (0, "abandon", 600.0)


def test_same_labels_from_polars_lazy_duckdb_and_a_parquet_path(tmp_path):
    fb = datasets.demo_feedback(n_per_month=1_500, months=2)
    events = fb["events"].with_columns(session=pl.col("ticket_id") // 3)
    kw = dict(interaction="ticket_id", time="ts", event="event", rules=RULES, responses="answer")
    eager = implicit_labels(events, session="session", **kw)
    assert isinstance(eager, pl.DataFrame) and eager.height == fb["interactions"].height
    lazy = implicit_labels(events.lazy(), session="session", **kw)
    assert isinstance(lazy, pl.LazyFrame)
    path = tmp_path / "events.parquet"
    events.write_parquet(path)
    from_path = implicit_labels(path, session="session", **kw)
    assert isinstance(from_path, pl.LazyFrame)
    con = duckdb.connect()
    relation = con.from_arrow(events.to_arrow())
    from_duck = implicit_labels(relation, session="session", **kw)
    assert isinstance(from_duck, duckdb.DuckDBPyRelation)
    expected = eager.sort("ticket_id")
    others = (lazy.collect(), from_path.collect(engine="streaming"), pl.from_arrow(from_duck.arrow()))
    for other in others:
        got = other.sort("ticket_id")
        assert got.drop("latency").equals(expected.drop("latency"))
        # DuckDB's float division may differ from polars' in the last bit.
        assert np.allclose(got["latency"], expected["latency"], rtol=0, atol=1e-9, equal_nan=True)
        assert got["latency"].is_null().equals(expected["latency"].is_null())
    assert set(expected["signal"].drop_nulls()) >= {"accept", "undo", "abandon", "rephrase"}


def test_a_rule_naming_an_event_that_never_occurs_is_a_warning_naming_it():
    log = make_log([(1, 0, "answer"), (1, 5, "accept"), (9, FAR, "answer")])
    rules = {"positive": ["accept", "thumbsup"], "negative": [("undo", "30s")]}
    with pytest.warns(UserWarning) as caught:
        labels_of(log, rules=rules, quiet=False)
    message = str(caught[0].message)
    assert "'thumbsup'" in message and "'undo'" in message
    assert "Events that do occur: 'accept', 'answer'" in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        labels_of(log, rules={"positive": ["accept"]}, quiet=False)


def test_bad_event_logs_are_clear_errors():
    log = make_log([(1, 0, "answer"), (1, 5, "accept")])
    with pytest.raises(InvalidValueError, match=r"responses='reply'.*Available: 'accept', 'answer'"):
        labels_of(log, responses="reply")
    with pytest.raises(ColumnTypeError, match="event windows need timestamps"):
        labels_of(log.with_columns(pl.col("ts").cast(pl.Date)))
    with pytest.raises(ColumnTypeError, match="event names must be text"):
        labels_of(log.with_columns(event=pl.lit(3)))
    with pytest.raises(Exception, match=r"Column 'sesion' \(given as session\)"):
        labels_of(log, session="sesion")
