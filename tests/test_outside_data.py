"""The public API on data that is not the demo: statsmodels' ``fair`` (affairs) and
``spector`` data sets, with the variations a real team's logs have (text dates, epoch
times, string labels, tiny or unlabeled data...).

Each test is a defect the sweep found: a raw traceback, a fix in an error message that does
not work when followed, or a summary that breaks. Where an error message suggests code,
the test runs that code and checks the analysis then succeeds.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import polars as pl
import pytest

import aidebt as ad
from aidebt.errors import AidebtError, ColumnTypeError


@pytest.fixture(scope="module")
def affairs() -> pl.DataFrame:
    """statsmodels' affairs survey (6,366 women), scored by a logit fit on it.

    ``y_true``: had an affair; ``y_score``: the logit's probability; ``y_pred``: score above
    0.35; ``ts``: a timestamp spread over January to June 2025; ``version``: v1/v2 at random.
    """
    sm = pytest.importorskip("statsmodels.api")
    d = sm.datasets.fair.load_pandas().data
    y = (d.affairs > 0).astype(int)
    x = sm.add_constant(d[["rate_marriage", "age", "yrs_married", "children", "religious"]])
    p = sm.Logit(y, x).fit(disp=0).predict(x).to_numpy()
    rng = np.random.default_rng(0)
    days = rng.integers(0, 180, len(d))
    return pl.DataFrame(
        {
            "y_true": y.to_numpy(),
            "y_score": p,
            "y_pred": (p > 0.35).astype(int),
            "occupation": d.occupation.astype(int).to_numpy(),
            "age": d.age.to_numpy(),
            "ts": [dt.datetime(2025, 1, 1, 9) + dt.timedelta(days=int(k)) for k in days],
            "version": np.where(rng.random(len(d)) < 0.5, "v1", "v2"),
        }
    )


def suggested_code(message: str) -> str:
    """The polars expression an error message suggests (its last ``pl.`` snippet)."""
    found = re.search(r"(\(?pl\.(?:col|from_epoch)\(.*?)\.?\s*$", message)
    assert found, f"no code suggested in: {message}"
    return found.group(1)


# ------------------------------------------------- a time column that is not yet a time

TIME_AS_WRITTEN = {
    "ISO date": lambda t: t.dt.strftime("%Y-%m-%d"),
    "ISO with T": lambda t: t.dt.strftime("%Y-%m-%dT%H:%M:%S"),
    "ISO with space and fraction": lambda t: t.dt.strftime("%Y-%m-%d %H:%M:%S%.3f"),
    "ISO with an offset": lambda t: t.dt.strftime("%Y-%m-%dT%H:%M:%S+02:00"),
    "ISO in UTC (Z)": lambda t: t.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
    "year first with slashes": lambda t: t.dt.strftime("%Y/%m/%d"),
    "day first": lambda t: t.dt.strftime("%d/%m/%Y %H:%M"),
    "Unix seconds": lambda t: t.dt.epoch("s"),
    "Unix milliseconds": lambda t: t.dt.epoch("ms"),
    "Unix seconds as floats": lambda t: t.dt.epoch("s").cast(pl.Float64),
    "YYYYMMDD integers": lambda t: t.dt.strftime("%Y%m%d").cast(pl.Int64),
}


@pytest.mark.parametrize("written", list(TIME_AS_WRITTEN))
def test_the_fix_for_a_time_column_parses_it(affairs, written):
    """The message for a text or numeric time column suggests code that parses it.

    Before: a year-first text date was told to use '%Y-%m-%d %H:%M:%S' (which fails on
    '2025-01-03', on a 'T' and on an offset), and epoch integers were told to call
    .str.to_datetime() (a string method, on integers).
    """
    data = affairs.with_columns(TIME_AS_WRITTEN[written](pl.col("ts")).alias("ts"))
    with pytest.raises(ColumnTypeError) as caught:
        ad.decay(data, time="ts", y_true="y_true", y_pred="y_pred")
    fix = eval(suggested_code(str(caught.value)), {"pl": pl})  # noqa: S307 - our own message
    fixed = data.with_columns(fix.alias("ts"))
    decay = ad.decay(fixed, time="ts", y_true="y_true", y_pred="y_pred")
    assert decay.table.height == 6  # January to June, as in the original
    assert decay.table["n"].sum() == affairs.height


TIME_USERS = {
    "decay": lambda d: ad.decay(d, time="ts", y_true="y_true", y_pred="y_pred"),
    "drift_over_time": lambda d: ad.drift_over_time(d, time="ts", columns=["y_score"]),
    "coverage": lambda d: ad.coverage(
        d, d, by="occupation", time="ts", y_true="y_true", y_pred="y_pred"
    ),
    "estimate": lambda d: ad_estimate(d),
    "feedback": lambda d: ad_feedback(d),
    "filter_window": lambda d: ad.filter_window(d, "ts", "2025-02-01", "2025-03-01"),
}


def ad_estimate(d):
    from aidebt.estimate import estimate

    return estimate(d, y_score="y_score", y_true="y_true", reference=d, time="ts", n_boot=20)


def ad_feedback(d):
    from aidebt.feedback import feedback

    return feedback(d, implicit="y_pred", explicit="y_true", time="ts")


@pytest.mark.parametrize("written", ["ISO date", "Unix milliseconds"])
@pytest.mark.parametrize("analysis", list(TIME_USERS))
def test_every_analysis_with_a_time_says_how_to_parse_it(affairs, analysis, written):
    """Before: estimate suggested .str.to_datetime() for any type, and feedback said only
    that 'periods need a Date or Datetime column', with no fix: both now share the loader's
    message (frames.require_temporal)."""
    data = affairs.with_columns(TIME_AS_WRITTEN[written](pl.col("ts")).alias("ts"))
    with pytest.raises(ColumnTypeError, match="'ts'") as caught:
        TIME_USERS[analysis](data)
    fix = eval(suggested_code(str(caught.value)), {"pl": pl})  # noqa: S307 - our own message
    TIME_USERS[analysis](data.with_columns(fix.alias("ts")))


# ------------------------------------------------------------------ text labels


def paired(affairs: pl.DataFrame, labels: tuple[str, str] | None) -> pl.DataFrame:
    """Each woman scored by two versions (thresholds 0.35 and 0.30), labels as text."""
    both = pl.concat(
        [
            affairs.with_columns(version=pl.lit("v1"), item=pl.int_range(pl.len())),
            affairs.with_columns(
                version=pl.lit("v2"),
                item=pl.int_range(pl.len()),
                y_pred=(pl.col("y_score") > 0.30).cast(pl.Int64),
            ),
        ]
    )
    if labels is None:
        return both
    pos, neg = labels
    text = {
        c: pl.when(pl.col(c) == 1).then(pl.lit(pos)).otherwise(pl.lit(neg)) for c in ("y_true",)
    }
    return both.with_columns(**text)


@pytest.mark.parametrize(
    ("labels", "suggested"), [(("Yes", "No"), "'Yes'"), (("fraud", "ok"), "VALUE")]
)
def test_a_paired_comparison_never_guesses_the_positive_label(affairs, labels, suggested):
    """Before: the message suggested == the first value in sort order, 'No' for Yes/No,
    which would have inverted the labels. Now the vocabulary's positive, or VALUE."""
    data = paired(affairs, labels)
    with pytest.raises(ColumnTypeError) as caught:
        ad.compare_paired(data, version="version", item="item", y_true="y_true", y_pred="y_pred")
    message = str(caught.value)
    assert f"(pl.col('y_true') == {suggested}).cast(pl.Int8)" in message
    if suggested == "VALUE":
        assert "'fraud'" in message and "'ok'" in message  # the values to choose from
        return
    fixed = data.with_columns((pl.col("y_true") == "Yes").cast(pl.Int8).alias("y_true"))
    args = dict(version="version", item="item", y_true="y_true", y_pred="y_pred")
    got = ad.compare_paired(fixed, **args).table
    want = ad.compare_paired(paired(affairs, None), **args).table
    assert got.select("metric", "diff").rows() == want.select("metric", "diff").rows()


# ----------------------------------------------------------------- tiny and odd data


@pytest.fixture(scope="module")
def spector() -> pl.DataFrame:
    """statsmodels' Spector & Mazzeo data (32 students), scored by the logit on it."""
    sm = pytest.importorskip("statsmodels.api")
    d = sm.datasets.spector.load_pandas().data
    p = sm.Logit(d.GRADE, sm.add_constant(d[["GPA", "TUCE", "PSI"]])).fit(disp=0).predict()
    p = np.asarray(p)
    return pl.DataFrame(
        {
            "y_true": d.GRADE.astype(int).to_numpy(),
            "y_score": p,
            "y_pred": (p > 0.5).astype(int),
            "g": np.where(d.PSI.to_numpy() == 1, "psi", "no psi"),
            "version": ["a", "b"] * 16,
            "gpa": d.GPA.to_numpy(),
            "ts": [dt.datetime(2025, 1 + i % 3, 1 + i // 3) for i in range(32)],
        }
    )


ODD = {
    "one row": lambda d: d.head(1),
    "a group of one": lambda d: d.with_columns(
        g=pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("solo")).otherwise(pl.col("g"))
    ),
    "all positive": lambda d: d.with_columns(y_true=pl.lit(1)),
    "no positive in a group": lambda d: d.with_columns(
        y_true=pl.when(pl.col("g") == "psi").then(0).otherwise(pl.col("y_true"))
    ),
    "constant score": lambda d: d.with_columns(y_score=pl.lit(0.3)),
    "no label at all": lambda d: d.with_columns(y_true=pl.lit(None, pl.Int64)),
}


def _refresh(d):
    from aidebt.refresh import refresh_plan

    half = max(d.height // 2, 1)
    return refresh_plan(d.head(half), d.tail(half), by="g", y_true="y_true", y_pred="y_pred")


def _slices(d):
    from aidebt.slices import slices

    return slices(d, y_true="y_true", y_pred="y_pred", columns=["g", "version"], min_n=2)


ANALYSES = {
    "disaggregate": lambda d: ad.disaggregate(
        d, y_true="y_true", y_pred="y_pred", by="g", y_score="y_score",
        metrics=["accuracy", "fnr", "auc", "brier"], min_n=0, margins=True,
    ),
    "decay": lambda d: ad.decay(d, time="ts", y_true="y_true", y_pred="y_pred"),
    "trend": lambda d: ad.decay(d, time="ts", y_true="y_true", y_pred="y_pred").fit(),
    "changepoints": lambda d: ad.decay(d, time="ts", y_true="y_true", y_pred="y_pred")
    .changepoints(),
    "compare": lambda d: ad.compare(
        d, version="version", baseline="a", y_true="y_true", y_pred="y_pred", by="g", min_n=0
    ),
    "simpson": lambda d: ad.simpson(d, outcome="y_true", compare="version", strata="g", min_n=0),
    "drift": lambda d: ad.drift(d.head(16), d.tail(16), columns=["y_score", "g"]),
    "curve": lambda d: ad.curve(d, x="gpa", y_true="y_true", y_pred="y_pred", bins=3),
    "fairness": lambda d: ad.fairness(
        d, y_true="y_true", y_pred="y_pred", by="g", y_score="y_score", n_boot=200
    ),
    "coverage": lambda d: ad.coverage(d.head(16), d.tail(16), by="g", y_true="y_true", y_pred="y_pred"),
    "slices": _slices,
    "refresh": _refresh,
}  # fmt: skip

NOT_WORDS = re.compile(r"\b(nan|NaN|inf|None)\b|\{|\}")


@pytest.mark.parametrize("odd", list(ODD))
@pytest.mark.parametrize("analysis", list(ANALYSES))
def test_tiny_and_odd_data_give_a_result_or_a_clear_error(spector, analysis, odd):
    """A result whose summary, notes and chart work (no NaN or None in a sentence), or an
    aidebt error. Before: curve's summary raised OutOfBoundsError and refresh_plan's a
    TypeError (formatting None) on data with no label at all."""
    try:
        result = ANALYSES[analysis](ODD[odd](spector))
    except AidebtError:
        return
    for line in [*result.summary(), *result.notes()]:
        assert not NOT_WORDS.search(line), line
    result.chart()


def long_labels(affairs: pl.DataFrame) -> pl.DataFrame:
    """Long-format labels of 1,500 women: gold (the survey), the model's decision, and a
    crowd that flips 15% of the gold labels."""
    d = affairs.head(1500)
    flip = np.random.default_rng(3).random(d.height) < 0.15
    crowd = np.where(flip, 1 - d["y_true"].to_numpy(), d["y_true"].to_numpy())
    item = pl.int_range(pl.len())
    return pl.concat(
        [
            d.select(item=item, source=pl.lit("gold"), label=pl.col("y_true")),
            d.select(item=item, source=pl.lit("model"), label=pl.col("y_pred")),
            d.select(item=item, source=pl.lit("crowd"), label=pl.lit(pl.Series(crowd))),
        ]
    )


def test_label_sources_with_yes_no_labels_suggests_the_right_case(affairs):
    """Before: 'Map the labels first, e.g. pl.col('label') == 'yes'', on a column holding
    'Yes'/'No': following it turned every label to 0, a silently wrong comparison."""
    from aidebt.labels import label_sources

    base = long_labels(affairs)
    text = base.with_columns(
        label=pl.when(pl.col("label") == 1).then(pl.lit("Yes")).otherwise(pl.lit("No"))
    )
    args = dict(item="item", source="source", label="label", gold="gold")
    with pytest.raises(AidebtError) as caught:
        label_sources(text, **args)
    fix = eval(suggested_code(str(caught.value)), {"pl": pl})  # noqa: S307 - our own message
    got = label_sources(text.with_columns(fix.alias("label")), **args).table
    want = label_sources(base, **args).table
    assert (
        got.select("source", "accuracy").sort("source").rows()
        == want.select("source", "accuracy").sort("source").rows()
    )


def test_label_sources_takes_gold_as_a_number_of_a_numeric_source_column(affairs):
    """Before: gold=1 on a source column of 1, 2, 3 was refused ('gold=1 is not a value of
    column 'source'. Available: '1', '2', '3'. Did you mean '1'?')."""
    from aidebt.labels import label_sources

    base = long_labels(affairs)
    coded = base.with_columns(
        source=pl.col("source").replace_strict({"gold": 1, "model": 2, "crowd": 3})
    )
    got = label_sources(coded, item="item", source="source", label="label", gold=1)
    want = label_sources(base, item="item", source="source", label="label", gold="gold")
    assert got.row("2")["accuracy"] == want.row("model")["accuracy"]
    assert got.summary()


# ------------------------------------------------- a baseline given as the column's type


BASELINES = {
    "a boolean column, baseline False": ("has_children", False, "false"),
    "a float column, baseline 3": ("occupation_f", 3, "3.0"),
    "an integer column, baseline 3": ("occupation", 3, "3"),
}


@pytest.mark.parametrize("case", list(BASELINES))
@pytest.mark.parametrize("analysis", ["compare", "simpson", "disaggregate"])
def test_a_baseline_in_the_columns_own_type_is_its_level(affairs, analysis, case):
    """Before: compare refused baseline=False on a boolean column ('Available: 'false',
    'true'') and baseline=3 on a float column ('3.0'); disaggregate refused reference=False.
    One rule now (groups.value_key), as simpson already did for booleans."""
    column, value, level = BASELINES[case]
    data = affairs.with_columns(
        has_children=pl.col("age") > 30, occupation_f=pl.col("occupation").cast(pl.Float64)
    )
    run = {
        "compare": lambda b: ad.compare(
            data, version=column, baseline=b, y_true="y_true", y_pred="y_pred"
        ),
        "simpson": lambda b: ad.simpson(
            data, outcome="y_true", compare=column, baseline=b, strata="version"
        ),
        "disaggregate": lambda b: ad.disaggregate(
            data, y_true="y_true", y_pred="y_pred", by=column, reference=b
        ),
    }[analysis]
    got, want = run(value).table, run(level).table
    assert got.equals(want)


@pytest.mark.parametrize(("yes", "no"), [("Yes", "No"), ("used", "not used")])
def test_adoption_with_a_text_feature_column_suggests_a_working_map(affairs, yes, no):
    """Before: "Convert it first, e.g. pl.col('feature') == 'yes'", whatever the values: on
    'Yes'/'No' that marks no action as a use. Now the vocabulary's positive, or VALUE."""
    from aidebt.lifecycle import adoption

    usage = affairs.with_columns(user=pl.int_range(pl.len()) % 700, feature=pl.col("y_pred"))
    text = usage.with_columns(
        feature=pl.when(pl.col("feature") == 1).then(pl.lit(yes)).otherwise(pl.lit(no))
    )
    args = dict(user="user", time="ts", feature="feature", every="1mo")
    with pytest.raises(ColumnTypeError) as caught:
        adoption(text, **args)
    message = str(caught.value)
    if yes == "used":
        assert "== VALUE" in message and "'used'" in message and "'not used'" in message
        return
    fix = eval(suggested_code(message), {"pl": pl})  # noqa: S307 - our own message
    got = adoption(text.with_columns(fix.alias("feature")), **args).table
    assert got.equals(adoption(usage, **args).table)


def test_feedback_with_text_ratings_points_to_positive(affairs):
    """Before: 'Map it to 0/1 first.', with no code and no word of positive=, the argument
    made for text ratings."""
    from aidebt.feedback import feedback

    thumbs = pl.when(pl.col("y_true") == 1).then(pl.lit("thumbs_up")).otherwise(pl.lit("down"))
    data = affairs.with_columns(rating=thumbs)
    with pytest.raises(ColumnTypeError, match=r"positive=") as caught:
        feedback(data, implicit="y_pred", explicit="rating")
    assert "(pl.col('rating') == VALUE).cast(pl.Int8)" in str(caught.value)
    fixed = feedback(data, implicit="y_pred", explicit="rating", positive="thumbs_up")
    assert fixed.table.equals(feedback(affairs, implicit="y_pred", explicit="y_true").table)


@pytest.mark.parametrize("name", ["metric", "ci_low", "ci_high", "note"])
def test_coverage_refuses_a_segment_named_like_a_metric_column(affairs, name):
    """Before: a raw polars DuplicateError from the eval metric's table."""
    data = affairs.with_columns(pl.col("occupation").cast(pl.String).alias(name))
    with pytest.raises(AidebtError, match=rf"Column '{name}' \(a segment column\).*rename"):
        ad.coverage(data.head(3000), data.tail(3000), by=name, y_true="y_true", y_pred="y_pred")


@pytest.mark.parametrize("name", ["period", "slope", "p_value", "decaying", "model"])
def test_curve_refuses_a_group_named_like_a_trend_column(affairs, name):
    """Before: the curve was built, then its summary (which fits the trend) raised a
    LinAlgError ('period', which the trend reads the bins as) or polars' DuplicateError."""
    data = affairs.with_columns(pl.col("occupation").cast(pl.String).alias(name))
    with pytest.raises(AidebtError, match=rf"Column '{name}' \(a by column\).*rename"):
        ad.curve(data, x="age", y_true="y_true", y_pred="y_pred", by=name)


@pytest.mark.parametrize("name", ["period", "metric", "estimate", "status", "p_value"])
def test_estimate_refuses_a_segment_named_like_its_own_columns(affairs, name):
    """Before: polars' DuplicateError, from estimate() or later from its summary."""
    from aidebt.estimate import estimate

    data = affairs.with_columns(pl.col("occupation").cast(pl.String).alias(name))
    with pytest.raises(AidebtError, match=rf"Column '{name}' \(a by column\).*rename"):
        estimate(data, y_score="y_score", y_true="y_true", reference=data, time="ts", by=name)


def _by_named(analysis: str, data: pl.DataFrame, name: str):
    from aidebt.feedback import feedback
    from aidebt.labels import agreement, label_sources
    from aidebt.lifecycle import adoption

    if analysis == "feedback":
        return feedback(data, implicit="y_pred", explicit="y_true", by=name, time="ts")
    if analysis == "adoption":
        usage = data.with_columns(user=pl.int_range(pl.len()) % 300)
        return adoption(usage, user="user", time="ts", feature="y_pred", by=name, every="1mo")
    long = pl.concat(
        [
            data.select(item=pl.int_range(pl.len()), src=pl.lit(s), lab=pl.col(c), g=pl.col(name))
            for s, c in (("gold", "y_true"), ("model", "y_pred"))
        ]
    ).rename({"g": name})
    if analysis == "agreement":
        return agreement(long, item="item", rater="src", label="lab", by=name, n_boot=50)
    return label_sources(long, item="item", source="src", label="lab", gold="gold", by=name)


@pytest.mark.parametrize(
    ("analysis", "name"),
    [
        ("feedback", "metric"),
        ("feedback", "period"),
        ("feedback", "p_value"),
        ("adoption", "period"),
        ("adoption", "users"),
        ("adoption", "n"),
        ("agreement", "coefficient"),
        ("agreement", "value"),
        ("label_sources", "source"),
        ("label_sources", "kappa_ci_low"),
    ],
)
def test_a_by_column_named_like_a_result_column_is_refused(affairs, analysis, name):
    """Before: polars' DuplicateError (feedback, adoption, agreement, label_sources had no
    check of the by names), from the call or from the summary."""
    data = affairs.head(1500).with_columns(pl.col("occupation").cast(pl.String).alias(name))
    with pytest.raises(AidebtError, match=rf"Column '{name}' \(a by column\).*rename"):
        _by_named(analysis, data, name).summary()


CATEGORY_LABELS = {
    "pandas category of 0/1": lambda d: d.to_pandas().astype({"y_true": "category", "y_pred": "category"}),
    "polars Categorical of '0'/'1'": lambda d: d.with_columns(
        pl.col("y_true", "y_pred").cast(pl.String).cast(pl.Categorical)
    ),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(CATEGORY_LABELS))
@pytest.mark.parametrize("analysis", ["disaggregate", "decay", "fairness"])
def test_labels_stored_as_categories_of_numbers_are_numbers(affairs, analysis, kind):
    """Before: 'holds Categorical values (0, 1); aidebt needs 0/1 or booleans here' (and the
    hint: pos_label=VALUE, one of 0, 1)."""
    pos_label = None
    run = {
        "disaggregate": lambda d: ad.disaggregate(
            d, y_true="y_true", y_pred="y_pred", by="occupation", pos_label=pos_label
        ),
        "decay": lambda d: ad.decay(
            d, time="ts", y_true="y_true", y_pred="y_pred", pos_label=pos_label
        ),
        "fairness": lambda d: ad.fairness(
            d, y_true="y_true", y_pred="y_pred", by="occupation", pos_label=pos_label, n_boot=200
        ),
    }[analysis]
    got = run(CATEGORY_LABELS[kind](affairs)).table
    assert got.equals(run(affairs).table)


SIMPSON_OUTCOMES = {
    "pandas booleans with None": lambda d: d.to_pandas().assign(
        y_true=lambda x: x.y_true.astype(bool).astype(object).where(x.index % 40 != 0, None)
    ),
    "pandas category of 0/1": lambda d: d.to_pandas().astype({"y_true": "category"}),
}


@pytest.mark.parametrize("kind", list(SIMPSON_OUTCOMES))
def test_simpson_reads_an_outcome_the_other_analyses_read(affairs, kind):
    """Before: simpson refused an outcome of pandas booleans with None ('holds Object
    values') and 0/1 categories, which disaggregate and decay read as 0/1 labels."""
    data = SIMPSON_OUTCOMES[kind](affairs)
    got = ad.simpson(data, outcome="y_true", compare="version", strata="occupation")
    masked = affairs.with_columns(
        y_true=pl.when(pl.int_range(pl.len()) % 40 != 0).then(pl.col("y_true"))
        if "None" in kind
        else pl.col("y_true")
    )
    want = ad.simpson(masked, outcome="y_true", compare="version", strata="occupation")
    assert got.table.equals(want.table)


@pytest.mark.parametrize("baseline", [None, "v1"])
@pytest.mark.parametrize("paired", [False, True])
def test_comparing_versions_of_no_rows_says_so(affairs, baseline, paired):
    """Before: an IndexError without a baseline, and 'baseline='v1' is not a value of
    column 'version'. Available: .' with one."""
    empty = affairs.head(0).with_columns(item=pl.int_range(pl.len()))
    with pytest.raises(AidebtError, match="no value: there is nothing to compare"):
        ad.compare(
            empty, version="version", baseline=baseline, y_true="y_true", y_pred="y_pred",
            item="item" if paired else None,
        )  # fmt: skip
