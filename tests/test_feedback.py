"""Tests of aidebt.feedback: implicit labels from an event log, and how biased ratings are.

References: statsmodels' ``cohens_kappa`` (kappa and its standard error), ``proportion_confint``
(Wilson), ``confint_proportions_2indep`` (Newcombe), a saturated logistic propensity model
fitted with statsmodels (the IPW estimate), the closed-form post-stratification variance
(Holt & Smith 1979), and seeded simulations of the correction's coverage.
"""

from __future__ import annotations

import datetime as dt
import random
import re
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
    others = (
        lazy.collect(),
        from_path.collect(engine="streaming"),
        pl.from_arrow(from_duck.arrow()),
    )
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
    with pytest.raises(
        InvalidValueError, match=r"responses='reply'.*Available: 'accept', 'answer'"
    ):
        labels_of(log, responses="reply")
    with pytest.raises(ColumnTypeError, match="event windows need timestamps"):
        labels_of(log.with_columns(pl.col("ts").cast(pl.Date)))
    with pytest.raises(ColumnTypeError, match="event names must be text"):
        labels_of(log.with_columns(event=pl.lit(3)))
    with pytest.raises(Exception, match=r"Column 'sesion' \(given as session\)"):
        labels_of(log, session="sesion")


# --------------------------------------------------------------------------------------
# Statistics on the small table, against references
# --------------------------------------------------------------------------------------
def test_kappa_and_its_standard_error_equal_statsmodels():
    from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa

    rng = np.random.default_rng(13)
    tables = rng.integers(1, 400, size=(200, 4)).astype(float)
    tables[:20, 1] = 0  # a few tables with an empty off-diagonal cell
    ours = cohens_kappa(*tables.T)
    for i, (tp, fp, fn, tn) in enumerate(tables):
        ref = sm_kappa(np.array([[tp, fp], [fn, tn]]))
        assert ours["kappa"][i] == pytest.approx(ref.kappa, abs=1e-10)
        assert ours["se"][i] == pytest.approx(ref.std_kappa, abs=1e-10)
        assert ours["se0"][i] == pytest.approx(ref.std_kappa0, abs=1e-10)


def test_post_stratification_equals_the_closed_form_and_ipw_with_fitted_propensities():
    import statsmodels.api as sm

    rng = np.random.default_rng(5)
    cells = 6
    size = rng.integers(200, 600, cells)
    propensity = rng.uniform(0.05, 0.4, cells)
    good = rng.uniform(0.3, 0.9, cells)
    cell = np.repeat(np.arange(cells), size)
    rated = rng.random(cell.size) < propensity[cell]
    positive = rated & (rng.random(cell.size) < good[cell])
    a = np.bincount(cell, positive)
    b = np.bincount(cell, rated & ~positive)
    u = np.bincount(cell, ~rated)
    ps = post_stratify(a, b, u, [np.zeros(cells, int), np.arange(cells)])
    # Holt & Smith (1979): sum W^2 p(1-p)/r + sum W (p - T)^2 / N.
    n_c, r_c, p_c = a + b + u, a + b, a / (a + b)
    w = n_c / n_c.sum()
    t = (w * p_c).sum()
    var = (w**2 * p_c * (1 - p_c) / r_c).sum() + (w * (p_c - t) ** 2).sum() / n_c.sum()
    assert ps["corrected"][0] == pytest.approx(t, abs=1e-12)
    assert ps["corrected_se"][0] == pytest.approx(np.sqrt(var), abs=1e-12)
    # IPW (Hajek) with propensities from a saturated logistic model fitted by statsmodels.
    dummies = np.eye(cells)[cell]
    pi = sm.Logit(rated.astype(float), dummies).fit(disp=0, tol=1e-12).predict(dummies)
    ipw = (positive / pi).sum() / (rated / pi).sum()
    assert ps["corrected"][0] == pytest.approx(ipw, abs=1e-9)
    assert ps["naive"][0] == pytest.approx(positive.sum() / rated.sum(), abs=1e-12)


def test_the_delta_method_variance_with_borrowed_cells_matches_numerical_derivatives():
    # Two strata; cells (implicit, signal) nested; some cells nobody rated borrow a rate.
    a = np.array([30, 5, 0, 12, 0, 20, 9, 0, 0])
    b = np.array([10, 9, 0, 20, 0, 5, 12, 0, 0])
    u = np.array([500, 300, 80, 400, 60, 450, 350, 90, 70])
    stratum = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1])
    implicit = np.array([0, 0, 0, 1, 1, 2, 2, 3, 4])
    signal = np.arange(9)
    levels = [stratum, implicit, signal]
    ps = post_stratify(a, b, u, levels)
    assert ps["borrowed"].tolist() == [140.0, 160.0]  # cells 2, 4 / 7, 8 borrow

    def estimate(counts: np.ndarray) -> np.ndarray:
        x = counts.reshape(3, -1)
        r = post_stratify(x[0], x[1], x[2], levels)
        return np.stack([r["corrected"], r["gap"]])

    counts = np.concatenate([a, b, u]).astype(float)
    for s in (0, 1):
        mine = stratum[np.tile(np.arange(9), 3)] == s
        used = mine & (counts > 0)
        grad = np.zeros((2, counts.size))
        for k in np.flatnonzero(used):
            h = 1e-3
            up, down = counts.copy(), counts.copy()
            up[k] += h
            down[k] -= h
            grad[:, k] = (estimate(up)[:, s] - estimate(down)[:, s]) / (2 * h)
        n = counts[mine].sum()
        p = np.where(mine, counts / n, 0.0)
        cov = n * (np.diag(p) - np.outer(p, p))
        var = np.einsum("ik,kl,il->i", grad, cov, grad)
        assert ps["corrected_se"][s] == pytest.approx(np.sqrt(var[0]), rel=1e-6)
        assert ps["gap_se"][s] == pytest.approx(np.sqrt(var[1]), rel=1e-6)


def _agreement_frame(seed: int = 3, n: int = 4_000) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < 0.7
    implicit = np.where(rng.random(n) < 0.85, truth, ~truth).astype(float)
    implicit[rng.random(n) < 0.1] = np.nan
    rating = np.where(rng.random(n) < 0.8, truth, ~truth).astype(float)
    rating[rng.random(n) > (0.1 + 0.2 * (implicit == 0))] = np.nan
    gold = truth.astype(float)
    gold[rng.random(n) < 0.5] = np.nan
    return pl.DataFrame(
        {
            "segment": rng.choice(["a", "b", "c"], n),
            "implicit": implicit,
            "rating": rating,
            "gold": gold,
        }
    ).with_columns(pl.col("implicit", "rating", "gold").fill_nan(None).cast(pl.Int8))


def test_agreement_intervals_equal_statsmodels_wilson_and_kappa():
    from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa
    from statsmodels.stats.proportion import proportion_confint

    frame = _agreement_frame()
    fb = feedback(frame, implicit="implicit", explicit="rating", gold="gold", confidence=0.9)
    assert fb.agreement.select("label", "reference").rows() == [
        ("implicit", "gold"),
        ("explicit", "gold"),
        ("implicit", "explicit"),
    ]
    names = {"implicit": "implicit", "explicit": "rating", "gold": "gold"}
    for row in fb.agreement.iter_rows(named=True):
        x, y = (frame[names[row["label"]]], frame[names[row["reference"]]])
        both = x.is_not_null() & y.is_not_null()
        x, y = x.filter(both).to_numpy(), y.filter(both).to_numpy()
        tp, fp = ((x == 1) & (y == 1)).sum(), ((x == 1) & (y == 0)).sum()
        fn, tn = ((x == 0) & (y == 1)).sum(), ((x == 0) & (y == 0)).sum()
        assert (row["tp"], row["fp"], row["fn"], row["tn"]) == (tp, fp, fn, tn)
        lo, hi = proportion_confint(tp, tp + fn, alpha=0.1, method="wilson")
        assert (row["sensitivity_low"], row["sensitivity_high"]) == pytest.approx(
            (lo, hi), abs=1e-12
        )
        lo, hi = proportion_confint(tn, tn + fp, alpha=0.1, method="wilson")
        assert (row["specificity_low"], row["specificity_high"]) == pytest.approx(
            (lo, hi), abs=1e-12
        )
        ref = sm_kappa(np.array([[tp, fp], [fn, tn]]))
        assert row["kappa"] == pytest.approx(ref.kappa, abs=1e-10)
        assert row["kappa_se"] == pytest.approx(ref.std_kappa, abs=1e-10)
        from scipy.stats import norm

        z = norm.ppf(0.95)
        assert row["kappa_low"] == pytest.approx(ref.kappa - z * ref.std_kappa, abs=1e-10)


def test_selection_is_newcombe_on_raters_vs_non_raters():
    from statsmodels.stats.proportion import confint_proportions_2indep

    frame = _agreement_frame()
    fb = feedback(frame, implicit="implicit", explicit="rating", by="segment")
    assert fb.selection["segment"].to_list() == ["a", "b", "c", "(all)"]
    for row in fb.selection.iter_rows(named=True):
        part = (
            frame
            if row["segment"] == "(all)"
            else frame.filter(pl.col("segment") == row["segment"])
        )
        part = part.filter(pl.col("implicit").is_not_null())
        raters = part.filter(pl.col("rating").is_not_null())["implicit"]
        others = part.filter(pl.col("rating").is_null())["implicit"]
        assert row["raters"] == raters.len() and row["non_raters"] == others.len()
        lo, hi = confint_proportions_2indep(
            raters.sum(), raters.len(), others.sum(), others.len(), method="newcomb"
        )
        assert row["diff"] == pytest.approx(raters.mean() - others.mean(), abs=1e-12)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi), abs=1e-12)
    # raters were picked for implicit == 0 three times as often: a negative difference
    assert fb.selection["ci_high"][-1] < 0


def test_weights_give_the_same_figures_as_the_rows_and_duckdb_the_same_as_polars():
    frame = _agreement_frame(n=1_500)
    keys = ["segment", "implicit", "rating", "gold"]
    counted = frame.group_by(keys).len("n")
    kw = dict(implicit="implicit", explicit="rating", gold="gold", by="segment")
    rows = feedback(frame, **kw)
    weighted = feedback(counted, weight="n", **kw)
    order = ["segment", "metric"]
    assert_close(rows.table.sort(order), weighted.table.sort(order))
    assert_close(rows.agreement, weighted.agreement)
    assert_close(rows.selection, weighted.selection)
    con = duckdb.connect()
    from_duck = feedback(con.from_arrow(frame.to_arrow()), **kw)
    assert_close(rows.table.sort(order), from_duck.table.sort(order))


def assert_close(a: pl.DataFrame, b: pl.DataFrame, tol: float = 1e-12) -> None:
    """Same columns and keys; float columns equal to ``tol`` (sums may add in another order)."""
    assert a.columns == b.columns and a.height == b.height
    for name in a.columns:
        if a[name].dtype == pl.Float64:
            assert np.allclose(a[name], b[name], rtol=0, atol=tol, equal_nan=True), name
            assert a[name].is_null().equals(b[name].is_null()), name
        else:
            assert a[name].equals(b[name]), name


def test_a_cell_nobody_rated_borrows_the_rate_of_its_coarser_cell():
    table = pl.DataFrame(
        {
            "segment": ["a", "a", "a", "b", "b"],
            "signal": ["accept", "undo", "regenerate", "accept", "undo"],
            "implicit": [1, 0, 0, 1, 0],
            "rating": [1, 0, None, 1, None],
            "n": [10, 5, 1, 20, 4],
        }
    )
    unrated = pl.DataFrame(
        {
            "segment": ["a", "a", "a", "b", "b"],
            "signal": ["accept", "undo", "regenerate", "accept", "undo"],
            "implicit": [1, 0, 0, 1, 0],
            "rating": [None] * 5,
            "n": [90, 45, 30, 80, 16],
        },
        schema_overrides={"rating": pl.Int64},
    )
    fb = feedback(
        pl.concat([table, unrated]),
        implicit="implicit",
        explicit="rating",
        by="segment",
        signal="signal",
        weight="n",
    )
    corrected = fb.table.filter(pl.col("metric") == "explicit_corrected")
    a = corrected.filter(pl.col("segment") == "a").row(0, named=True)
    # a: accept 100 answers at 1.0, undo 50 at 0.0, regenerate 31 (nobody rated) borrows
    # the implicit = 0 cell's rate, 0.0: (100 * 1 + 50 * 0 + 31 * 0) / 181.
    assert a["value"] == pytest.approx(100 / 181)
    assert "31 answers in cells nobody rated" in a["note"]
    b = corrected.filter(pl.col("segment") == "b").row(0, named=True)
    # b: undo (20 answers, nobody rated, and no other implicit = 0 cell) borrows the
    # segment's rate, 1.0.
    assert b["value"] == pytest.approx(1.0)


# --------------------------------------------------------------------------------------
# The correction for who rates: coverage when rating depends on observed covariates, and
# the direction of the remaining bias when it depends on something unobserved
# --------------------------------------------------------------------------------------
SEGMENT_SHARE = np.array([0.5, 0.3, 0.2])
P_GOOD = np.array([0.8, 0.7, 0.55])  # P(served | segment)
SIGNALS = ("accept", "undo", "abandon", "none")
SIGNAL_LABEL = (1, 0, 0, None)
P_SIGNAL = np.array([[0.15, 0.35, 0.30, 0.20], [0.75, 0.05, 0.08, 0.12]])  # | not, served
P_POSITIVE = np.array([0.15, 0.85])  # P(positive rating | not, served)
RATE_BASE = np.array([0.03, 0.045, 0.06])  # P(rating) by segment ...
RATE_SIGNAL = np.array([1.0, 4.0, 0.5, 1.0])  # ... times a factor by signal: 4x after an undo
TRUE_SATISFACTION = float(
    (SEGMENT_SHARE * (P_POSITIVE[0] + (P_POSITIVE[1] - P_POSITIVE[0]) * P_GOOD)).sum()
)


def _cell_model(negative_factor: float = 1.0):
    """Probabilities of every (segment, served, signal, positive, rated) cell.

    ``negative_factor`` multiplies the rating propensity of users who would rate negatively:
    1 means rating depends on observed covariates only (segment, signal).
    """
    s, y, g, pos, rated = np.meshgrid(
        np.arange(3), np.arange(2), np.arange(4), np.arange(2), np.arange(2), indexing="ij"
    )
    s, y, g, pos, rated = (v.ravel() for v in (s, y, g, pos, rated))
    p_y = np.where(y == 1, P_GOOD[s], 1 - P_GOOD[s])
    p_pos = np.where(pos == 1, P_POSITIVE[y], 1 - P_POSITIVE[y])
    p_rate = RATE_BASE[s] * RATE_SIGNAL[g] * np.where(pos == 1, 1.0, negative_factor)
    prob = (
        SEGMENT_SHARE[s] * p_y * P_SIGNAL[y, g] * p_pos * np.where(rated == 1, p_rate, 1 - p_rate)
    )
    plim_naive = (prob * rated * pos).sum() / (prob * rated).sum()
    return (s, g, pos, rated), prob, plim_naive


def _simulated_log(rng, n: int, model) -> pl.DataFrame:
    (s, g, pos, rated), prob, _ = model
    counts = rng.multinomial(n, prob)
    keep = counts > 0
    return pl.DataFrame(
        {
            "segment": np.array(["s0", "s1", "s2"])[s[keep]],
            "signal": np.array(SIGNALS)[g[keep]],
            "implicit": pl.Series([SIGNAL_LABEL[i] for i in g[keep]], dtype=pl.Int8),
            "rating": pl.Series(np.where(rated[keep] == 1, pos[keep], -1))
            .replace(-1, None)
            .cast(pl.Int8),
            "n": counts[keep].astype(np.int64),
        }
    )


@pytest.mark.slow
def test_the_corrected_interval_covers_the_true_satisfaction_when_rating_depends_on_observed_covariates():
    """400 simulated logs of 20,000 answers (about 1,000 ratings each) whose rating
    propensity depends on segment and implicit signal (4x after an undo, half after an
    abandonment, segment rates 3% to 6%). The 95% interval of the corrected satisfaction
    must cover the truth in >= 93% of logs (Monte Carlo SE of a 95% coverage over 400
    logs: 1.1 points); it must not be wildly conservative either (<= 98.5%). The gap's
    interval must cover the true bias (plim of the raw rate minus the truth) as often."""
    rng = np.random.default_rng(20261)
    model = _cell_model()
    true_gap = model[2] - TRUE_SATISFACTION
    assert true_gap < -0.05  # the raw ratings understate satisfaction by 5+ points
    covered = covered_gap = 0
    segment_hits = []
    sims = 400
    for _ in range(sims):
        log = _simulated_log(rng, 20_000, model)
        fb = feedback(
            log, implicit="implicit", explicit="rating", by="segment", signal="signal", weight="n"
        )
        rows = fb.table.filter(pl.col("metric") == "explicit_corrected")
        overall = rows.filter(pl.col("segment") == "(all)").row(0, named=True)
        covered += overall["ci_low"] <= TRUE_SATISFACTION <= overall["ci_high"]
        gap = fb.table.filter((pl.col("metric") == "gap") & (pl.col("segment") == "(all)"))
        covered_gap += gap["ci_low"].item() <= true_gap <= gap["ci_high"].item()
        truth_by_segment = P_POSITIVE[0] + (P_POSITIVE[1] - P_POSITIVE[0]) * P_GOOD
        part = rows.filter(pl.col("segment") != "(all)").sort("segment")
        segment_hits.append(
            (part["ci_low"].to_numpy() <= truth_by_segment)
            & (truth_by_segment <= part["ci_high"].to_numpy())
        )
    coverage, gap_coverage = covered / sims, covered_gap / sims
    segment_coverage = np.mean(segment_hits)
    print(f"coverage {coverage:.3f}, gap {gap_coverage:.3f}, segments {segment_coverage:.3f}")
    assert 0.93 <= coverage <= 0.985
    assert 0.93 <= gap_coverage <= 0.985
    assert 0.93 <= segment_coverage <= 0.985  # 1,200 intervals: MC SE 0.6 points


def test_when_rating_depends_on_something_unobserved_the_correction_still_leans_like_the_raw_rate():
    """Users who would rate negatively rate 3 times as often even within a segment and
    signal: no re-weighting on segment and signal can be exact. On a large simulated log
    (2,000,000 answers, so the sampling error is tiny), the corrected figure removes part
    of the bias but stays below the truth, on the same side as the raw rate."""
    rng = np.random.default_rng(7)
    model = _cell_model(negative_factor=3.0)
    log = _simulated_log(rng, 2_000_000, model)
    fb = feedback(
        log, implicit="implicit", explicit="rating", by="segment", signal="signal", weight="n"
    )
    overall = {r["metric"]: r for r in fb.overall.iter_rows(named=True)}
    raw, corrected = overall["explicit_rate"], overall["explicit_corrected"]
    assert raw["value"] < corrected["value"] < TRUE_SATISFACTION
    assert corrected["ci_high"] < TRUE_SATISFACTION - 0.02  # still biased, clearly
    assert TRUE_SATISFACTION - corrected["value"] < TRUE_SATISFACTION - raw["value"]
    summary = " ".join(fb.summary())
    assert "no correction is exact" in summary and "leans the way the raw ratings do" in summary
    assert "no correction is exact" in " ".join(feedback.__doc__.split())


# --------------------------------------------------------------------------------------
# The demo: a planted truth recovered
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo():
    """The default demo's tickets with their implicit labels and ratings, and the truth."""
    fb = datasets.demo_feedback()
    labels = implicit_labels(
        fb["events"],
        interaction="ticket_id",
        time="ts",
        event="event",
        rules=datasets.FEEDBACK_RULES,
        responses="answer",
    )
    data = (
        fb["interactions"]
        .join(labels, on="ticket_id", how="left")
        .join(fb["ratings"], on="ticket_id", how="left")
    )
    return data, fb["truth"]


@pytest.fixture(scope="module")
def demo_result(demo):
    data, _ = demo
    return feedback(
        data,
        implicit="implicit",
        explicit="rating",
        positive=">=4",
        scale=(1, 5),
        gold="y_true",
        by="tier",
        signal="signal",
    )


def test_the_demo_companion_is_a_reconstruction_of_the_demo_log():
    fb = datasets.demo_feedback(n_per_month=3_000, months=3, seed=4)
    log = datasets.demo(n_per_month=3_000, months=3, seed=4)
    assert fb["interactions"].drop("ticket_id").equals(log)
    assert fb["interactions"]["ticket_id"].to_list() == list(range(log.height))
    joined = fb["truth"].join(fb["interactions"], on="ticket_id")
    labeled = joined.filter(pl.col("y_true").is_not_null())
    assert labeled.height > 0.8 * log.height
    assert (labeled["y_true"] == labeled["resolved"]).all()  # the hidden labels, restored
    again = datasets.demo_feedback(n_per_month=3_000, months=3, seed=4)
    assert all(fb[k].equals(again[k]) for k in fb)
    events = fb["events"]
    assert (
        events["ts"].is_sorted() and events.filter(pl.col("event") == "answer").height == log.height
    )
    assert datasets.FEEDBACK_SENSITIVITY == pytest.approx(0.78 / 0.93)
    assert datasets.FEEDBACK_SPECIFICITY == pytest.approx(0.78 / 0.88)


def test_the_demo_recovers_the_planted_sensitivity_and_specificity(demo_result):
    row = demo_result.agreement.filter(
        (pl.col("label") == "implicit") & (pl.col("reference") == "gold")
    ).row(0, named=True)
    assert row["sensitivity_low"] <= datasets.FEEDBACK_SENSITIVITY <= row["sensitivity_high"]
    assert row["specificity_low"] <= datasets.FEEDBACK_SPECIFICITY <= row["specificity_high"]
    assert row["n"] > 500_000


def test_the_demo_raw_ratings_are_off_by_the_planted_bias_and_the_correction_covers_the_truth(
    demo, demo_result
):
    _, truth = demo
    satisfied = (truth["stars_if_asked"] >= 4).cast(pl.Float64)
    true_rate = satisfied.mean()
    # The planted expectation of the raw rate: each ticket's positive rating weighted by its
    # planted probability of being rated.
    p_rate = truth["p_rate"]
    expected_raw = (p_rate * satisfied).sum() / p_rate.sum()
    planted_bias = expected_raw - true_rate
    assert planted_bias < -0.07  # the raw ratings understate satisfaction by 7+ points
    rows = {r["metric"]: r for r in demo_result.overall.iter_rows(named=True)}
    raw, corrected, gap = rows["explicit_rate"], rows["explicit_corrected"], rows["gap"]
    assert raw["ci_low"] <= expected_raw <= raw["ci_high"]
    assert gap["ci_low"] <= planted_bias <= gap["ci_high"]
    assert corrected["ci_low"] <= true_rate <= corrected["ci_high"]
    assert raw["ci_high"] < true_rate  # and the raw rate's interval misses it


def test_the_demo_summary_speaks_to_a_stakeholder(demo_result):
    lines = demo_result.summary()
    text = " ".join(lines)
    assert lines[0].startswith("2.9% of answers were rated (20,797 of 705,264)")
    assert "Users who rated were 16 points less likely to have been served" in text
    assert "The ratings understate satisfaction: 59% of rated answers were positive" in text
    assert "Implicit signals agree with reviewed outcomes 85% of the time" in text
    assert "no correction is exact" in text
    for literal in ("None", "nan", "_rate", "{", "'"):
        assert literal not in text
    head = demo_result.headline()
    assert str(head).startswith("Ratings understate satisfaction: 59% of rated answers")
    assert head.figures["response_rate"] == pytest.approx(20_797 / 705_264)
    assert set(head.figures) >= {"explicit_corrected_low", "implicit_kappa", "rater_difference"}


def test_the_funnel_and_charts(demo_result):
    funnel = demo_result.funnel()
    assert funnel["stage"].to_list() == [
        "answers",
        "with an implicit label",
        "rated by the user",
        "with a reviewed outcome",
    ]
    assert funnel["answers"][0] == 705_264 and funnel["answers"][2] == pytest.approx(20_797)
    for chart in (
        demo_result.chart(),
        demo_result.chart(["response_rate"]),
        demo_result.funnel_chart(),
    ):
        spec = chart.to_dict()
        assert "layer" in spec
    html = demo_result._repr_html_()
    assert "understate" in html


def test_the_report_tables_read_as_percentages_and_points(demo_result):
    """Shares with one decimal and a % sign, differences in signed points, kappa with two
    decimals: never '72.700' nor '0.649 [0.602, 0.696]'."""
    selection = demo_result.selection_table()
    agreement = demo_result.agreement_table()
    assert selection.columns[:3] == ["tier", "rated", "served, among raters"]
    shares = agreement.select("agreement", "sensitivity", "specificity")
    cells = [str(v) for table in (selection, shares) for row in table.iter_rows() for v in row]
    assert not [c for c in cells if re.search(r"\d\.\d{3}", c)], cells
    assert all(re.fullmatch(r"\d{1,3}\.\d%", v) for v in selection["served, among raters"])
    assert all(re.fullmatch(r"[-+]\d+\.\d", v) for v in selection["difference (points)"])
    assert all(" to " in v for v in selection["95% interval (points)"])
    for kappa in agreement["kappa [95% interval]"]:  # a third decimal only where the ends need it
        point, low, high = re.fullmatch(r"0\.(\d+) \[0\.(\d+), 0\.(\d+)\]", kappa).groups()
        assert len(point) == len(low) == len(high) >= 2 and low != high, kappa


def test_periods_cut_the_figures_and_the_chart_follows_them(demo):
    data, _ = demo
    fb = feedback(
        data,
        implicit="implicit",
        explicit="rating",
        positive=">=4",
        adjust_for="tier",
        signal="signal",
        time="ts",
        every="1q",
    )
    assert fb.overall["period"].n_unique() == 5  # 2025-Q4 .. 2026-Q4
    assert fb.table.columns[:2] == ["period", "metric"]
    assert type(fb.chart()).__name__ == "LayerChart"
    assert "each tier, each implicit signal and each quarter" in " ".join(fb.summary())


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------
def _ratings(values, dtype=pl.Int64) -> pl.DataFrame:
    return pl.DataFrame(
        {"implicit": [1, 0, 1, None][: len(values)] * 1, "rating": values},
        schema_overrides={"rating": dtype, "implicit": pl.Int8},
    )


def test_ratings_outside_the_declared_scale_are_a_clear_error():
    frame = pl.DataFrame({"implicit": [1, 0, 1, 1], "rating": [5, 7, None, 0]})
    with pytest.raises(InvalidValueError) as err:
        feedback(frame, implicit="implicit", explicit="rating", positive=">=4", scale=(1, 5))
    message = str(err.value)
    assert "'rating'" in message and "2 ratings outside the declared scale (1 to 5)" in message
    assert "0, 7" in message
    thumbs = pl.DataFrame({"rating": ["up", "down", "meh", None]})
    with pytest.raises(InvalidValueError, match=r"outside the declared scale \(up, down\).*'meh'"):
        feedback(thumbs, explicit="rating", positive="up", scale=["up", "down"])
    with pytest.raises(InvalidArgumentError, match="not on the declared scale"):
        feedback(thumbs, explicit="rating", positive="yes", scale=["up", "down"])
    with pytest.raises(InvalidValueError, match=r"must hold 0/1 labels.*Pass positive="):
        feedback(frame, explicit="rating")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({}, InvalidArgumentError, "needs at least one label"),
        (
            {"explicit": "rating", "positive": ">=4", "every": "1mo"},
            InvalidArgumentError,
            "pass time= too",
        ),
        ({"explicit": "text", "positive": ">=4"}, ColumnTypeError, r"compares numbers.*'up'"),
        ({"explicit": "rating", "positive": "up"}, ColumnTypeError, "does not match the type"),
        ({"implicit": "score"}, InvalidValueError, r"'score' \(implicit\) must hold 0/1.*0.5"),
        ({"implicit": "text"}, ColumnTypeError, r"'text' \(implicit\).*must be 0/1"),
        (
            {"explicit": "rating", "positive": ">=4", "scale": (5, 1)},
            InvalidArgumentError,
            "minimum comes first",
        ),
        (
            {"explicit": "rating", "positive": ">=4", "scale": "1-5"},
            InvalidArgumentError,
            "is not a scale",
        ),
        ({"gold": "y", "scale": (1, 5)}, InvalidArgumentError, "pass explicit= too"),
        ({"implicit": "implicitt"}, Exception, r"Column 'implicitt' \(given as implicit\)"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, error, match):
    frame = pl.DataFrame(
        {
            "implicit": [1, 0, 1],
            "rating": [5, 2, None],
            "text": ["up", "down", None],
            "score": [0.5, 1.0, 0.0],
            "y": [1, 0, 1],
        }
    )
    with pytest.raises(error, match=match):
        feedback(frame, **kwargs)


# --------------------------------------------------------------------------------------
# The implicit label is a label like any other
# --------------------------------------------------------------------------------------
def test_the_implicit_label_works_as_y_true_everywhere(demo, tmp_path):
    data, _ = demo
    nulls = data["implicit"].null_count()
    assert nulls > 0
    r = ad.disaggregate(data, y_true="implicit", y_pred="y_pred", by="language")
    assert r.unlabeled == nulls
    d = ad.decay(data, time="ts", y_true="implicit", y_pred="y_pred")
    assert d.table["unlabeled"].sum() == nulls
    c = ad.compare(
        data, version="prompt_version", y_true="implicit", y_pred="y_pred", by="tier", warn=False
    )
    assert c.table.height > 0
    path = tmp_path / "log.parquet"
    data.write_parquet(path)
    policy = tmp_path / "audit.toml"
    policy.write_text(
        f'[data]\npath = "{path}"\ntime = "ts"\ny_true = "implicit"\ny_pred = "y_pred"\n'
        'segments = ["tier"]\n\n[gates.shadow]\nmin_n = 1000\nmetrics.accuracy = { min = 0.5 }\n'
    )
    check = ad.check(policy, month="2026-10")
    assert "shadow" in str(check.summary())


# --------------------------------------------------------------------------------------
# The feedback_audit notebook, rendered by `aidebt report`
# --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_feedback_audit_renders_from_the_command_line_with_words_from_its_parameters(
    tmp_path, capsys
):
    """Another team's log: other column and event names, given as parameters; the report
    must use them (nothing in the notebook knows the demo's names)."""
    import json

    from aidebt.cli import main

    fb = datasets.demo_feedback(n_per_month=10_000, months=3)
    rename = {"answer": "reply", "accept": "kept", "undo": "reverted", "copy": "copied"}
    answers = fb["interactions"].rename({"ticket_id": "answer_id", "y_true": "reviewed"})
    events = fb["events"].rename({"ticket_id": "answer_id", "ts": "at", "event": "action"})
    events = events.with_columns(pl.col("action").replace(rename))
    ratings = fb["ratings"].rename({"ticket_id": "answer_id", "rating": "stars"})
    paths = {}
    for name, frame in (("answers", answers), ("events", events), ("ratings", ratings)):
        paths[name] = tmp_path / f"{name}.parquet"
        frame.write_parquet(paths[name])
    out = tmp_path / "reports"
    code = main(
        [
            "report",
            "feedback_audit",
            "--data", str(paths["answers"]),
            "--month", "2025-12",
            "--out", str(out),
            "--no-progress",
            "-p", "events_data", str(paths["events"]),
            "-p", "ratings_data", str(paths["ratings"]),
            "-p", "interaction", "answer_id",
            "-p", "event", "action",
            "-p", "event_time", "at",
            "-p", "responses", "reply",
            "-p", "rules", "{positive: [kept, copied], negative: [[reverted, 30s], [rephrase, 2m], regenerate], abandon: 10m}",
            "-p", "rating", "stars",
            "-p", "y_true", "reviewed",
            "-p", "segments", "[tier, language]",
            "-p", "time", "ts",
            "-p", "rating_positive", "'>3'",  # quoted: a bare > starts a YAML block
            "-p", "rating_scale", "[1, 5]",
            "-p", "rating_adjust_for", "[tier]",
        ]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    page = (out / "2025-12" / "feedback_audit.html").read_text()
    manifest = json.loads((out / "2025-12" / "manifest.json").read_text())
    report = manifest["reports"][0]
    figures = report["key_figures"]["feedback"]
    assert report["charts"] >= 4  # funnel, one per segment column, the trend
    assert 0.01 < figures["response_rate"] < 0.06
    assert figures["gap_high"] < 0  # the raw ratings understate satisfaction
    assert "Ratings understate satisfaction" in page
    assert "reverted (within 30 s)" in page and "kept (at any time)" in page
    assert "By tier" in page and "By language" in page
    for demo_word in ("ticket_id", "thumbs", "'answer'"):
        assert demo_word not in page


@pytest.mark.parametrize("session", [None, "session"])
def test_labels_written_in_parts_equal_labels_computed_at_once(session, tmp_path):
    fb = datasets.demo_feedback(n_per_month=1_500, months=2)
    events = fb["events"].with_columns(session=pl.col("ticket_id") // 3).lazy()
    answers = events.filter(pl.col("event") == "answer").select("ticket_id", "ts", "session")
    kw = dict(interaction="ticket_id", time="ts", event="event", rules=RULES, session=session)
    for i, responses in enumerate(("answer", answers)):
        whole = implicit_labels(events, responses=responses, **kw).collect()
        folder = tmp_path / f"labels{i}"
        parts = implicit_labels(events, responses=responses, sink=folder, partitions=3, **kw)
        assert len(list(folder.glob("part-*.parquet"))) == 3
        assert parts.collect().sort("ticket_id").equals(whole.sort("ticket_id"))
    con = duckdb.connect()
    written = implicit_labels(
        con.from_arrow(events.collect().to_arrow()),
        responses="answer",
        sink=tmp_path / "from_duckdb",
        **kw,
    )
    expected = implicit_labels(events, responses="answer", **kw).collect().sort("ticket_id")
    assert_close(written.collect().sort("ticket_id"), expected, tol=1e-9)
    with pytest.raises(InvalidArgumentError, match="partitions=0"):
        implicit_labels(events, responses="answer", sink=tmp_path / "x", partitions=0, **kw)
    with pytest.raises(InvalidArgumentError, match="pass sink="):
        implicit_labels(events, responses="answer", partitions=2, **kw)
    with pytest.raises(InvalidArgumentError, match="already holds parquet files"):
        implicit_labels(events, responses="answer", sink=tmp_path / "labels0", **kw)


def test_answers_at_the_same_instant_in_a_session_are_each_others_next_answer():
    rows = [
        (1, 0, "answer", "s"), (2, 0, "answer", "s"), (3, 0, "answer", "s"),
        (4, 100, "answer", "t"), (9, FAR, "answer", "z"),
    ]  # fmt: skip
    expected = {1: (None, None, None), 2: (None, None, None), 3: (None, None, None)}
    for seed in range(4):
        shuffled = rows.copy()
        random.Random(seed).shuffle(shuffled)
        got = labels_of(make_log(shuffled), session="session")
        assert {k: got[k] for k in (1, 2, 3)} == expected
        assert got[4] == (0, "abandon", 600.0)


def test_pandas_and_pyarrow_event_logs_give_polars_labels():
    log = make_log(
        [(1, 0, "answer", "s"), (1, 5, "accept", "s"), (2, 0, "answer", "s"),
         (2, 20, "undo", "s"), (9, FAR, "answer", "z")]
    )  # fmt: skip
    expected = labels_of(log, session="session")
    for native in (log.to_pandas(), log.to_arrow()):
        got = labels_of(native, session="session")
        assert got == expected
    answers = log.filter(pl.col("event") == "answer").select("id", "ts", "session")
    got = labels_of(log.to_pandas(), session="session", responses=answers.to_pandas())
    assert got == expected
