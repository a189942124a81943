"""The same audit from every engine, to the last digit.

Every analysis runs its one aggregation pass inside the engine that holds the data
(polars eager/lazy/streaming scans of parquet and CSV, pandas, pyarrow, DuckDB, PySpark)
and only the small table of sums reaches polars. Here the same rows go through each
engine and the results are compared with the polars result:

* exactly (bit for bit) when every sum is exact in float64: counts, integer weights and
  scores on a dyadic grid (k / 64), so that no engine's summation order can matter;
* within a relative 1e-12 for arbitrary float scores, whose sums each engine adds in its
  own order: the last bit or two of a float sum differ (about 1e-16 relative; counts never
  differ). Values, intervals, ratios and p-values stay within 1e-12 relative; a
  difference close to zero (a group's mean score minus the overall one, 1e-4) loses
  relative precision to cancellation, hence an absolute floor of 1e-14 as well.

Spark tests (``-m spark``) start one local JVM for the session; they are skipped when
pyspark or Java is missing, except in CI (``CI`` set) where they must run.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import math
import os
import shutil
import sys
import warnings

import duckdb
import narwhals as nw
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import aidebt as ad
from aidebt import aggregate, frames
from aidebt.errors import ColumnNotFoundError, InvalidArgumentError

N = 3_000
REL = 1e-12  # float sums: each engine adds in its own order (observed: < 1e-15 relative)
ABS = 1e-14  # ... and a difference near zero (cancellation) keeps an absolute accuracy

# --------------------------------------------------------------------------- data


def _log(seed: int = 7, n: int = N) -> pl.DataFrame:
    """A prediction log with everything that differs between engines.

    A string group column with nulls (the ``(missing)`` group), an integer one, a float one
    with NaN and null; unlabeled rows (null labels), integer weights with zeros, a float
    score and the same score on a dyadic grid (k / 64), boolean and text labels, six
    months of timestamps.
    """
    rng = np.random.default_rng(seed)
    region = pl.Series(rng.choice(["EU", "NA", "APAC", "LATAM"], n)).set(
        pl.Series(rng.random(n) < 0.04), None
    )
    tier = rng.choice([1, 2, 3], n, p=[0.6, 0.3, 0.1])
    score = rng.beta(2, 2, n)
    y = (rng.random(n) < 0.25 + 0.5 * score).astype(np.int8)
    pred = (score + rng.normal(0, 0.15, n) > 0.5).astype(np.int8)
    unlabeled = rng.random(n) < 0.1
    start = dt.datetime(2026, 5, 1)
    seconds = np.sort(rng.integers(0, 183 * 86_400, n))
    return pl.DataFrame(
        {
            "ts": [start + dt.timedelta(seconds=int(s)) for s in seconds],
            "region": region,
            "tier": tier.astype(np.int64),
            "version": rng.choice(["v1", "v2"], n),
            "y": pl.Series(y).set(pl.Series(unlabeled), None),
            "pred": pred,
            "score": score,
            "score_q": np.floor(score * 64) / 64,  # dyadic: every sum exact
            "w": rng.integers(0, 5, n),
            "amount": rng.gamma(2.0, 10.0, n).round(0),  # a numeric column for drift
            # A float group column with NaN and null: both are the one (missing) group.
            "bucket": pl.Series(rng.choice([0.5, 1.5, np.nan], n)).set(
                pl.Series(rng.random(n) < 0.03), None
            ),
        }
    ).with_columns(
        ts=pl.col("ts").cast(pl.Datetime("us")),
        y_bool=pl.col("y").cast(pl.Boolean),
        y_text=pl.col("y").replace_strict({1: "approved", 0: "denied"}, return_dtype=pl.String),
        pred_text=pl.col("pred").replace_strict(
            {1: "approved", 0: "denied"}, return_dtype=pl.String
        ),
    )


@pytest.fixture(scope="session")
def log() -> pl.DataFrame:
    return _log()


# ---------------------------------------------------------------------------- Spark


def _spark_missing() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install 'aidebt[spark]')"
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        return "Java is not installed (apt-get install openjdk-17-jre-headless)"
    return None


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the whole test session: 1 core, no UI, loopback only."""
    missing = _spark_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing}, and CI is set: the Spark tests must run in CI")
        pytest.skip(missing)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyspark warns about pandas >= 3
        session = (
            SparkSession.builder.master("local[1]")
            .appName("aidebt-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.default.parallelism", "1")
            .config("spark.driver.memory", "512m")
            # A short-lived test JVM: the C1 compiler only and a serial GC start faster.
            .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.timestampType", "TIMESTAMP_NTZ")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .getOrCreate()
        )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _spark_frame(session, df: pl.DataFrame, folder):
    """The same rows as a Spark DataFrame, read from parquet as Spark reads a table.

    Reading a file keeps the rows in the JVM (no Python worker per query, unlike a frame
    made from Python rows); naive timestamps come back as TIMESTAMP_NTZ, Int8 as ByteType.
    """
    path = folder / "spark.parquet"
    df.write_parquet(path)
    frame = session.read.parquet(str(path))
    assert frame.columns == df.columns
    return frame


# -------------------------------------------------------------------------- engines

_DUCK = duckdb.connect()  # one in-memory database for the module: relations need it alive

ENGINES = [
    "polars",
    "polars-lazy",
    "parquet-glob",
    "csv-glob",
    "pandas",
    "pandas-arrow",
    "pyarrow",
    "duckdb",
    pytest.param("spark", marks=pytest.mark.spark),
]


@pytest.fixture(scope="session")
def as_engine(request, tmp_path_factory):
    """``as_engine(name, df)``: the rows of ``df`` held by engine ``name`` (cached)."""
    cache: dict = {}
    root = tmp_path_factory.mktemp("engines")

    def make(name: str, df: pl.DataFrame, tag: str = "log"):
        key = (name, tag)
        if key in cache:
            return cache[key]
        if name == "polars":
            out = df
        elif name == "polars-lazy":
            out = df.lazy()
        elif name in ("parquet-glob", "csv-glob"):
            ext = name.split("-")[0]
            folder = root / f"{tag}-{ext}"
            folder.mkdir()
            half = df.height // 2
            for i, part in enumerate((df.head(half), df.tail(df.height - half))):
                if ext == "parquet":
                    part.write_parquet(folder / f"part-{i}.parquet", row_group_size=500)
                else:
                    part.write_csv(folder / f"part-{i}.csv")
            out = str(folder / f"part-*.{ext}")
        elif name == "pandas":
            out = df.to_pandas()  # numpy-backed: a null int label becomes NaN in float64
        elif name == "pandas-arrow":
            out = df.to_pandas(use_pyarrow_extension_array=True)
        elif name == "pyarrow":
            out = df.to_arrow()
        elif name == "duckdb":
            out = _DUCK.from_arrow(df.to_arrow())
        elif name == "spark":
            folder = root / f"{tag}-spark"
            folder.mkdir()
            out = _spark_frame(request.getfixturevalue("spark"), df, folder)
        else:
            raise ValueError(name)
        cache[key] = out
        return out

    return make


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


# ----------------------------------------------------------------------- comparison


def assert_same(got: pl.DataFrame, want: pl.DataFrame, *, rel: float = 0.0) -> None:
    """Same columns, dtypes, keys and row order; numbers equal (``rel=0``: bit for bit)."""
    if rel == 0.0:
        assert_frame_equal(got, want, check_exact=True)
        return
    assert_frame_equal(got, want, check_exact=False, rel_tol=rel, abs_tol=ABS)


def _max_rel(got: pl.DataFrame, want: pl.DataFrame, skip: tuple[str, ...] = ()) -> float:
    worst = 0.0
    for c in want.columns:
        if want[c].dtype.is_float() and c not in skip:
            for a, b in zip(got[c].to_list(), want[c].to_list(), strict=True):
                if a is not None and b is not None and a != b and math.isfinite(b):
                    worst = max(worst, abs(a - b) / max(abs(a), abs(b)))
    return worst


def test_engine_inputs_are_lazy_narwhals_frames(engine, as_engine, log):
    frame = frames.to_lazy(as_engine(engine, log))
    assert isinstance(frame, nw.LazyFrame)
    assert set(frames.columns(frame)) == set(log.columns)


# ------------------------------------------------------------- sufficient statistics


def test_sufficient_stats_dtypes_and_counts_are_engine_independent(engine, as_engine, log):
    roles = aggregate.Roles(y_true="y", y_pred="pred", y_score="score", weight="w")
    want = aggregate.sufficient_stats(log, ["region", "tier"], roles, need={"y_sum"})
    got = aggregate.sufficient_stats(
        as_engine(engine, log), ["region", "tier"], roles, need={"y_sum"}
    )
    assert got.schema == want.schema
    assert got.schema["rows"] == pl.Int64
    assert all(
        got.schema[c] == pl.Float64 for c in got.columns if c not in ("region", "tier", "rows")
    )
    counts = [c for c in want.columns if not c.startswith(("score_sum", "score_sq", "brier_s"))]
    assert_same(got.select(counts), want.select(counts))  # counts: exact
    assert_same(got, want, rel=REL)  # float sums: the engine's own summation order
    assert "(missing)" in got["region"].to_list()


def test_score_label_counts_are_engine_independent(engine, as_engine, log):
    roles = aggregate.Roles(y_true="y", y_score="score", weight="w")
    want = aggregate.score_label_counts(log, ["region"], roles)
    got = aggregate.score_label_counts(as_engine(engine, log), ["region"], roles)
    assert_same(got, want)  # exact: the scores are group keys here, not summed


@pytest.mark.parametrize("method", ["sort", "counts"])
def test_auc_sums_are_engine_independent(engine, as_engine, log, method):
    """DeLong's placement sums from window functions in each engine, both ways (the rows
    sorted by score, or their per-score counts first), equal the polars counts path bit
    for bit: with whole weights every placement is a whole number, so every sum is exact
    whatever the order. A float group column with NaN and null (one ``(missing)`` group),
    a null group, unlabeled rows, zero weights, and a score with ties (``score_q``)."""
    roles = aggregate.Roles(y_true="y", y_score="score", weight="w")
    sets = [["region", "bucket"], ["region"], []]
    want = aggregate.auc_sums(log, sets, roles, method="counts")
    got = aggregate.auc_sums(as_engine(engine, log), sets, roles, method=method)
    for g, w in zip(got, want, strict=True):
        assert_same(g, w)
    assert "(missing)" in got[0]["bucket"].to_list()
    tied = aggregate.Roles(y_true="y_bool", y_score="score_q")
    want = aggregate.auc_sums(log, [["tier"]], tied, method="counts")
    got = aggregate.auc_sums(as_engine(engine, log), [["tier"]], tied, method=method)
    assert_same(got[0], want[0])


AUC_ENGINES = ["polars", "duckdb", "pandas", pytest.param("spark", marks=pytest.mark.spark)]


def _delong_brute(y: np.ndarray, s: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted AUC and DeLong standard error over every (positive, negative) pair: O(m n).

    Frequency weights: a row of weight 3 is three rows. Ties count one half."""
    pos, neg = y == 1, y == 0
    sp, wp, sn, wn = s[pos], w[pos], s[neg], w[neg]
    psi = (sp[:, None] > sn[None, :]) + 0.5 * (sp[:, None] == sn[None, :])
    m, n = wp.sum(), wn.sum()
    v10, v01 = psi @ wn / n, wp @ psi / m
    auc = float(wp @ v10 / m)
    s10 = wp @ (v10 - auc) ** 2 / (m - 1)
    s01 = wn @ (v01 - auc) ** 2 / (n - 1)
    return auc, float(np.sqrt(s10 / m + s01 / n))


@pytest.mark.parametrize("auc_engine", AUC_ENGINES)
@pytest.mark.parametrize("score", ["score", "score_q"])
def test_auc_from_placement_sums_equals_sklearn_and_the_distinct_score_path(
    auc_engine, as_engine, log, score
):
    """The AUC from the placement sums (rows sorted by score, windows in the engine) equals
    the distinct-score path and scikit-learn's ``roc_auc_score`` to 1e-12, per group and
    overall, with frequency weights (zeros among them) and with ties (``score_q``: 64
    values); its DeLong standard error equals an O(m n) computation over every pair."""
    from sklearn.metrics import roc_auc_score

    from aidebt import stats as st

    roles = aggregate.Roles(y_true="y", y_score=score, weight="w")
    data = as_engine(auc_engine, log)
    sets = [["region"], []]
    by_sort = aggregate.auc_sums(data, sets, roles, method="sort")
    by_counts = aggregate.auc_sums(data, sets, roles, method="counts")
    labeled = log.filter(pl.col("y").is_not_null()).with_columns(
        region=pl.col("region").fill_null("(missing)")
    )
    checked = 0
    for keys, sort_sums, count_sums in zip(sets, by_sort, by_counts, strict=True):
        got = st.auc_from_sums(sort_sums, keys)
        want = st.auc_from_sums(count_sums, keys)
        assert_same(got, want, rel=1e-12)
        groups = labeled.partition_by(keys, as_dict=True) if keys else {(): labeled}
        for key, part in groups.items():
            row = got.filter(pl.col("region") == key[0]) if keys else got
            y, s, w = (part[c].to_numpy() for c in ("y", score, "w"))
            sk = roc_auc_score(y, s, sample_weight=w)
            auc, se = _delong_brute(y, s, w.astype(float))
            assert abs(row["_auc"].item() - sk) <= 1e-12
            assert abs(row["_auc"].item() - auc) <= 1e-12
            assert abs(row["_auc_se"].item() - se) <= 1e-12
            checked += 1
    assert checked == 6  # four regions, (missing), overall


@pytest.mark.parametrize("auc_engine", AUC_ENGINES)
def test_auc_automatic_choice_takes_each_path(monkeypatch, auc_engine, as_engine, log):
    """``method="auto"`` takes the distinct-score table when scores are few (64 values for
    3,000 rows) and sorts the rows when every score is its own; either way the sums equal
    the forced path bit for bit."""
    chosen: list[str] = []
    choose = aggregate._auc_method
    monkeypatch.setattr(
        aggregate, "_auc_method", lambda *a: chosen.append(choose(*a)) or chosen[-1]
    )
    data = as_engine(auc_engine, log)
    for score, path in (("score_q", "counts"), ("score", "sort")):
        roles = aggregate.Roles(y_true="y", y_score=score, weight="w")
        (auto,) = aggregate.auc_sums(data, [["tier"]], roles)
        assert chosen[-1] == path
        (forced,) = aggregate.auc_sums(data, [["tier"]], roles, method=path)
        assert_same(auto, forced)
    assert chosen == ["counts", "sort"]


def test_drift_on_pandas_is_drift_on_polars_to_the_last_digit(monkeypatch):
    """pandas frames go to polars once at the door: no pandas quantile call (99 of them per
    column before), and the drift tables, weighted or not, equal the polars ones exactly.
    NaN and None in a numeric column, None in a text column."""
    import pandas as pd

    late = pl.col("ts") >= _OCTOBER  # amounts grow by half in the last months: a drift
    amount = pl.when(late).then(pl.col("amount") * 1.5).otherwise(pl.col("amount"))
    df = _log(seed=5, n=20_000).with_columns(
        amount=pl.when(pl.col("tier") == 3).then(float("nan")).otherwise(amount)
    )
    cols = ["region", "tier", "amount", "score", "y_text"]
    ref, cur = df.filter(pl.col("ts") < _JUNE), df.filter(pl.col("ts") >= _OCTOBER)
    ref_pd, cur_pd, df_pd = ref.to_pandas(), cur.to_pandas(), df.to_pandas()

    def no_pandas_quantile(*args, **kwargs):
        raise AssertionError("a pandas quantile call: the rows were not handed to polars")

    monkeypatch.setattr(pd.Series, "quantile", no_pandas_quantile)
    monkeypatch.setattr(pd.DataFrame, "quantile", no_pandas_quantile)
    for kwargs in ({}, {"weight": "w"}):
        want = ad.drift(ref, cur, cols, **kwargs)
        got = ad.drift(ref_pd, cur_pd, cols, **kwargs)
        assert_same(got.table, want.table)
        want = ad.drift_over_time(df, "ts", cols, **kwargs)
        got = ad.drift_over_time(df_pd, "ts", cols, **kwargs)
        assert_same(got.table, want.table)
    assert got.table["drifted"].any()  # a real comparison: some cell drifts


# ----------------------------------------------------------------- disaggregate

ALL_METRICS = [
    "count",
    "prevalence",
    "selection_rate",
    "accuracy",
    "error_rate",
    "tpr",
    "fpr",
    "fnr",
    "tnr",
    "precision",
    "npv",
    "fdr",
    "for",
    "f1",
    "mean_score",
    "brier",
    "auc",
    "ece",
]


def _disaggregate(data, score: str, **kwargs):
    return ad.disaggregate(
        data,
        y_true="y",
        y_pred="pred",
        by=["region", "tier"],
        metrics=ALL_METRICS,
        y_score=score,
        **kwargs,
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"weight": "w", "margins": True},
        {"reference": "best", "ci": "jeffreys", "adjust": "bh"},
    ],
    ids=["weighted-margins", "best-jeffreys-bh"],
)
def test_disaggregate_exact_on_every_engine(engine, as_engine, log, kwargs):
    """Exact sums (dyadic scores, integer weights): every figure equal bit for bit."""
    want = _disaggregate(log, "score_q", **kwargs)
    got = _disaggregate(as_engine(engine, log), "score_q", **kwargs)
    assert_same(got.table, want.table)
    assert_same(got.overall, want.overall)
    assert got.unlabeled == want.unlabeled > 0
    assert "(missing)" in got.table["region"].to_list()


def test_disaggregate_float_scores_within_1e12(engine, as_engine, log):
    """Arbitrary float scores: the sums differ in their last bits between engines."""
    want = _disaggregate(log, "score", weight="w")
    got = _disaggregate(as_engine(engine, log), "score", weight="w")
    assert_same(got.table, want.table, rel=REL)
    assert_same(got.overall, want.overall, rel=REL)
    # Everything but the differences (cancellation) within 1e-12 relative, no floor.
    assert _max_rel(got.table, want.table, skip=("diff",)) < REL


def test_disaggregate_boolean_labels(engine, as_engine, log):
    """Boolean labels with nulls: the same counts as 0/1 labels, on every engine."""
    want = ad.disaggregate(log, y_true="y", y_pred="pred", by="region", metrics=["fnr", "count"])
    got = ad.disaggregate(
        as_engine(engine, log),
        y_true="y_bool",
        y_pred="pred",
        by="region",
        metrics=["fnr", "count"],
    )
    assert_same(got.table, want.table)


def test_float_group_keys_nan_and_null_make_one_missing_group(engine, as_engine, log):
    want = ad.disaggregate(log, y_true="y", y_pred="pred", by="bucket", metrics=["accuracy"])
    got = ad.disaggregate(
        as_engine(engine, log), y_true="y", y_pred="pred", by="bucket", metrics=["accuracy"]
    )
    assert_same(got.table, want.table)
    assert got.table["bucket"].to_list() == ["(missing)", "0.5", "1.5"]


@pytest.mark.parametrize(
    "decimal_engine",
    ["polars", "parquet-glob", "pyarrow", "duckdb", pytest.param("spark", marks=pytest.mark.spark)],
)
def test_decimal_scores_and_weights(decimal_engine, as_engine, log):
    """Decimal columns (DuckDB/Spark tables often have them) give what floats give: no
    engine's decimal arithmetic (polars keeps the operands' scale in a product) leaks."""
    dec = log.with_columns(
        pl.col("score_q").cast(pl.Decimal(8, 6)), pl.col("w").cast(pl.Decimal(10, 0))
    )
    want = _disaggregate(log, "score_q", weight="w")
    got = _disaggregate(as_engine(decimal_engine, dec, "decimal"), "score_q", weight="w")
    assert_same(got.table, want.table)


def test_disaggregate_pos_label_keeps_missing_labels_unlabeled(engine, as_engine, log):
    """Text labels with pos_label: a missing label stays unlabeled (pandas compares NaN as
    False, which would silently make it a negative)."""
    want = ad.disaggregate(log, y_true="y", y_pred="pred", by="tier", metrics=["fnr", "tpr"])
    got = ad.disaggregate(
        as_engine(engine, log),
        y_true="y_text",
        y_pred="pred_text",
        by="tier",
        metrics=["fnr", "tpr"],
        pos_label="approved",
    )
    assert_same(got.table, want.table)
    assert got.unlabeled == want.unlabeled > 0


def test_pos_label_lists_and_per_column_on_every_engine(engine, as_engine, log):
    """A list of positive labels, and one per column, compared in each engine's own way
    (numpy for pandas, SQL for DuckDB and Spark): "Medium or High" against "approved"."""
    graded = log.with_columns(
        y_grade=pl.when(pl.col("y") == 0)
        .then(pl.lit("Low"))
        .when(pl.col("y") == 1)
        .then(
            pl.when(pl.int_range(pl.len()) % 2 == 0)
            .then(pl.lit("High"))
            .otherwise(pl.lit("Medium"))
        )
    )
    want = ad.disaggregate(log, y_true="y", y_pred="pred", by="tier", metrics=["fnr", "precision"])
    got = ad.disaggregate(
        as_engine(engine, graded, "graded"),
        y_true="y_grade",
        y_pred="pred_text",
        by="tier",
        metrics=["fnr", "precision"],
        pos_label={"y_true": ["Medium", "High"], "y_pred": "approved"},
    )
    assert_same(got.table, want.table)
    assert got.unlabeled == want.unlabeled > 0


def test_group_values_that_spell_markers_stay_distinct_on_every_engine(engine, as_engine, log):
    """Data values "(all)" and "(missing)" are escaped in every engine (one regex that
    polars, DuckDB, Spark, pandas and pyarrow read alike): they never pass for a margin
    row or merge with the nulls."""
    renamed = {"EU": "(all)", "NA": "(missing)", "APAC": "\\(all)"}
    spelled = log.with_columns(pl.col("region").replace(renamed))
    want = ad.disaggregate(log, y_true="y", y_pred="pred", by="region", metrics=["accuracy"])
    got = ad.disaggregate(
        as_engine(engine, spelled, "markers"),
        y_true="y",
        y_pred="pred",
        by="region",
        metrics=["accuracy"],
    )
    escaped = {k: "\\" + v for k, v in renamed.items()}
    expect = want.table.with_columns(pl.col("region").replace(escaped)).sort("region")
    assert_same(got.table, expect)
    assert got.table["region"].to_list() == [
        "(missing)",
        "LATAM",
        "\\(all)",
        "\\(missing)",
        "\\\\(all)",
    ]


@pytest.mark.parametrize(
    ("bad", "says"), [(float("nan"), "NaN or infinite"), (2.5, "not whole numbers")]
)
def test_weights_are_checked_in_the_pass_on_every_engine(engine, as_engine, log, bad, says):
    weights = log.with_columns(
        wf=pl.when(pl.int_range(pl.len()) == 7).then(bad).otherwise(pl.col("w").cast(pl.Float64))
    )
    data = as_engine(engine, weights, f"weights-{bad}")
    with pytest.raises(ad.errors.InvalidValueError, match=rf"'wf' \(weight\).*{says}"):
        ad.disaggregate(data, y_true="y", y_pred="pred", by="tier", weight="wf")


# ------------------------------------------------------------- the other analyses

_JUNE, _OCTOBER = dt.datetime(2026, 6, 1), dt.datetime(2026, 10, 1)

ANALYSES = {
    "simpson": lambda d: ad.simpson(
        d("log"), outcome="y", compare="version", strata=["region", "tier"], weight="w"
    ),
    "decay": lambda d: ad.decay(
        d("log"), time="ts", y_true="y", y_pred="pred", metric="fnr", every="1mo", by="version"
    ),
    "decay-auc-weekly": lambda d: ad.decay(
        d("log"), time="ts", y_true="y", y_score="score_q", metric="auc", every="1w", weight="w"
    ),
    "compare": lambda d: ad.compare(
        d("log"),
        version="version",
        baseline="v1",
        y_true="y",
        y_pred="pred",
        metrics=["accuracy", "fnr", "brier"],
        y_score="score_q",
        by="region",
        weight="w",
    ),
    "drift": lambda d: ad.drift(d("ref"), d("cur"), columns=["region", "tier", "amount", "score"]),
    "drift_over_time": lambda d: ad.drift_over_time(
        d("log"), time="ts", columns=["region", "amount"], every="1mo"
    ),
    "coverage": lambda d: ad.coverage(d("ref"), d("cur"), by="region", y_true="y", y_pred="pred"),
}


def _parts(log: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {
        "log": log,
        "ref": log.filter(pl.col("ts") < _JUNE),  # an eval set: the first month
        "cur": log.filter(pl.col("ts") >= _OCTOBER),  # production: the last months
    }


@pytest.mark.parametrize("analysis", list(ANALYSES))
def test_every_analysis_is_exact_on_every_engine(engine, as_engine, log, analysis):
    parts = _parts(log)
    want = ANALYSES[analysis](lambda tag: parts[tag])
    got = ANALYSES[analysis](lambda tag: as_engine(engine, parts[tag], tag))
    assert_same(got.table, want.table)
    if analysis.startswith("decay"):
        assert_same(got.fit().table, want.fit().table)


@pytest.fixture(scope="module")
def big_log() -> pl.DataFrame:
    return _log(seed=11, n=50_000)


def _spy_on_collects(monkeypatch) -> list[int]:
    """The number of rows of every table collected from now on (narwhals and polars)."""
    sizes: list[int] = []
    nw_collect, pl_collect = nw.LazyFrame.collect, pl.LazyFrame.collect

    def spy_nw(self, *args, **kwargs):
        out = nw_collect(self, *args, **kwargs)
        sizes.append(len(out))
        return out

    def spy_pl(self, *args, **kwargs):
        out = pl_collect(self, *args, **kwargs)
        sizes.append(out.height)
        return out

    monkeypatch.setattr(nw.LazyFrame, "collect", spy_nw)
    monkeypatch.setattr(pl.LazyFrame, "collect", spy_pl)
    return sizes


@pytest.mark.parametrize("analysis", ["disaggregate", *ANALYSES])
def test_only_aggregated_tables_reach_python(monkeypatch, big_log, analysis):
    """Spy on every collect: each result is a table of groups x bins, not of rows.

    (AUC's table has one row per distinct (group, score, label): bounded here by the score
    grid; with continuous scores it grows with the number of distinct scores.)
    """
    sizes = _spy_on_collects(monkeypatch)
    parts = {k: v.lazy() for k, v in _parts(big_log).items()}
    if analysis == "disaggregate":
        _disaggregate(parts["log"], "score_q", weight="w", margins=True)
    else:
        ANALYSES[analysis](lambda tag: parts[tag])
    assert sizes
    assert max(sizes) < big_log.height / 10, sorted(sizes)[-5:]


# ------------------------------------------------------------- bad input, no scan


def test_missing_column_fails_before_any_scan_polars_lazy():
    touched = []

    def boom(s: pl.Series) -> pl.Series:
        touched.append(len(s))
        raise AssertionError("the rows were scanned")

    lazy = pl.LazyFrame({"y": [0, 1], "pred": [1, 1], "g": ["a", "b"]}).with_columns(
        pl.col("y").map_batches(boom, return_dtype=pl.Int64)
    )
    with pytest.raises(ColumnNotFoundError, match=r"'regoin'.*Did you mean 'region'|'regoin'"):
        ad.disaggregate(lazy, y_true="y", y_pred="pred", by="regoin")
    assert not touched


def test_missing_column_fails_before_any_scan_duckdb():
    con = duckdb.connect()
    calls = []

    def boom(x: int) -> int:
        calls.append(x)
        return x

    con.create_function("boom", boom, ["BIGINT"], "BIGINT")
    rel = con.sql("SELECT boom(i % 2) AS y, 1 AS pred, 'a' AS region FROM range(100) t(i)")
    with pytest.raises(ColumnNotFoundError) as err:
        ad.disaggregate(rel, y_true="y", y_pred="prediction", by="region")
    assert "'prediction'" in str(err.value) and "pred" in str(err.value)
    assert not calls
    assert ad.disaggregate(rel, y_true="y", y_pred="pred", by="region").table.height > 0
    assert len(calls) == 100  # the UDF does run when the query is valid


def test_missing_column_fails_before_any_scan_path(as_engine, log):
    path = as_engine("parquet-glob", log)
    with pytest.raises(ColumnNotFoundError, match="'labels'"):
        ad.disaggregate(path, y_true="labels", y_pred="pred", by="region")


MISSPELLED = {
    "disaggregate": lambda d: ad.disaggregate(d, y_true="y", y_pred="pred", by="regoin"),
    "simpson": lambda d: ad.simpson(d, outcome="y", compare="version", strata=["regoin"]),
    "decay": lambda d: ad.decay(d, time="tss", y_true="y", y_pred="pred"),
    "compare": lambda d: ad.compare(d, version="versoin", y_true="y", y_pred="pred"),
    "drift": lambda d: ad.drift(d, d, columns=["regoin"]),
    "drift_over_time": lambda d: ad.drift_over_time(d, time="tss", columns=["region"]),
    "coverage": lambda d: ad.coverage(d, d, by="regoin", y_true="y", y_pred="pred"),
}


@pytest.mark.parametrize("analysis", list(MISSPELLED))
def test_every_analysis_checks_columns_before_any_scan(log, analysis):
    """A misspelled column fails from the schema alone: no row of the LazyFrame is read."""
    touched = []

    def boom(s: pl.Series) -> pl.Series:
        touched.append(s.name)
        raise AssertionError("the rows were scanned")

    lazy = log.lazy().with_columns(
        pl.col(c).map_batches(boom, return_dtype=t) for c, t in log.schema.items()
    )
    with pytest.raises(ColumnNotFoundError) as err:
        MISSPELLED[analysis](lazy)
    assert not touched
    message = str(err.value)
    assert (
        ("'regoin'" in message and "region" in message)
        or "'tss'" in message
        or ("'versoin'" in message and "version" in message)
    ), message


@pytest.mark.spark
def test_missing_column_fails_before_any_spark_job(spark, as_engine, log):
    sdf = as_engine("spark", log)
    tracker = spark.sparkContext.statusTracker()
    before = set(tracker.getJobIdsForGroup(None))
    with pytest.raises(ColumnNotFoundError, match="'regoin'"):
        ad.disaggregate(sdf, y_true="y", y_pred="pred", by="regoin")
    assert set(tracker.getJobIdsForGroup(None)) == before  # no Spark job ran


# --------------------------------------------------- lazy scans: pushdown, streaming


def _plans(monkeypatch) -> list[str]:
    """Record the polars plan of every aggregation query aidebt collects."""
    plans: list[str] = []
    original = aggregate.collect

    def spy(table):
        native = table.to_native()
        if isinstance(native, pl.LazyFrame):
            plans.append(native.explain(engine="streaming"))
        return original(table)

    monkeypatch.setattr(aggregate, "collect", spy)
    return plans


def test_path_reads_only_the_needed_columns(monkeypatch, as_engine, log):
    plans = _plans(monkeypatch)
    ad.disaggregate(as_engine("parquet-glob", log), y_true="y", y_pred="pred", by="region")
    assert plans
    # y, pred, region out of the log's columns: projection pushed into the scan.
    assert all(f"PROJECT 3/{len(log.columns)} COLUMNS" in p for p in plans), plans[0]
    assert all("Parquet SCAN" in p for p in plans)


def test_time_window_is_pushed_into_the_parquet_scan(monkeypatch, as_engine, log):
    path = as_engine("parquet-glob", log)
    plans = _plans(monkeypatch)
    window = frames.filter_window(path, "ts", "2026-07", "2026-08")
    got = ad.disaggregate(window, y_true="y", y_pred="pred", by="region", metrics=["accuracy"])
    scan = plans[0].split("Parquet SCAN")[1]
    assert "SELECTION" in scan and "ts" in scan  # the filter reaches the scan
    july = log.filter(
        pl.col("ts").is_between(dt.datetime(2026, 7, 1), dt.datetime(2026, 8, 1), closed="left")
    )
    want = ad.disaggregate(july, y_true="y", y_pred="pred", by="region", metrics=["accuracy"])
    assert_same(got.table, want.table)


def test_directory_of_hive_partitions(tmp_path, log):
    """A directory of parquet files (hive partitions such as ``month=2026-07/``) reads as
    one table; the partition column is usable as a group column."""
    log.with_columns(month=pl.col("ts").dt.strftime("%Y-%m")).write_parquet(
        tmp_path / "logs", partition_by="month"
    )
    assert len(list((tmp_path / "logs").glob("month=*/*.parquet"))) == 6
    got = ad.disaggregate(tmp_path / "logs", y_true="y", y_pred="pred", by="month")
    want = ad.disaggregate(
        log.with_columns(month=pl.col("ts").dt.strftime("%Y-%m")),
        y_true="y",
        y_pred="pred",
        by="month",
    )
    assert_same(got.table, want.table)


def test_time_window_is_pushed_into_the_duckdb_scan(as_engine, log):
    path = as_engine("parquet-glob", log)
    rel = frames.filter_window(_DUCK.read_parquet(path), "ts", "2026-07", "2026-08")
    plan = rel.select("region").to_native().explain()
    scan = plan.split("Filters")[1] if "Filters" in plan else ""
    assert "ts >=" in scan and "ts <" in scan, plan


@pytest.mark.spark
def test_time_window_is_pushed_into_the_spark_scan(spark, as_engine, log):
    path = as_engine("parquet-glob", log)
    sdf = frames.filter_window(spark.read.parquet(path), "ts", "2026-07", "2026-08")
    plan = sdf.select(nw.col("region")).to_native()._jdf.queryExecution().executedPlan().toString()
    assert "PushedFilters: [IsNotNull(ts), GreaterThanOrEqual(ts," in plan, plan


def test_polars_queries_run_on_the_streaming_engine(monkeypatch, log):
    engines = []
    original = pl.LazyFrame.collect

    def spy(self, *args, **kwargs):
        engines.append(kwargs.get("engine"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pl.LazyFrame, "collect", spy)
    ad.disaggregate(
        log.lazy(), y_true="y", y_pred="pred", by="region", metrics=["auc"], y_score="score"
    )
    # Every query that reads the data streams; AUC's placements (per region, overall) run
    # on the labeled rows it has gathered in memory, where the in-memory engine is faster.
    assert engines.count("in-memory") == 2
    assert engines and set(engines) == {"streaming", "in-memory"}


def test_filter_window_on_every_engine(engine, as_engine, log):
    window = frames.filter_window(as_engine(engine, log), "ts", "2026-07-15", dt.date(2026, 9, 1))
    got = aggregate.value_counts(window, ["version"])
    lo, hi = dt.datetime(2026, 7, 15), dt.datetime(2026, 9, 1)
    want = aggregate.value_counts(
        log.filter((pl.col("ts") >= lo) & (pl.col("ts") < hi)), ["version"]
    )
    assert_same(got, want)


def test_filter_window_zoned_and_date_columns():
    ts = [dt.datetime(2026, 10, 31, 23, 30), dt.datetime(2026, 11, 1, 0, 30)]
    df = pl.DataFrame({"ts": ts}).with_columns(
        zoned=pl.col("ts").dt.replace_time_zone("Europe/Paris"), day=pl.col("ts").dt.date()
    )
    for col, want in (("ts", 1), ("zoned", 1), ("day", 1)):
        window = frames.filter_window(df, col, "2026-11", "2026-12")
        assert len(window.collect()) == want, col
    with pytest.raises(InvalidArgumentError, match="empty"):
        frames.filter_window(df, "ts", "2026-12", "2026-11")
    with pytest.raises(InvalidArgumentError, match="not a date"):
        frames.filter_window(df, "ts", "November")
    with pytest.raises(ColumnNotFoundError, match="'time'"):
        frames.filter_window(df, "time", "2026-11")


# ------------------------------------------------------------- gates on any engine

_POLICY = """
[data]
time = "ts"
y_true = "y"
y_pred = "pred"
y_score = "score_q"
segments = ["region", "tier"]
weight = "w"

[gates.shadow]
min_n = { overall = 1000, segment = 10 }
metrics.accuracy = { min = 0.5 }
metrics.auc = { min = 0.6 }

[gates.copilot]
disparity.fnr = { max_diff = 0.2 }
trend.accuracy = { no_significant_decline = true, periods = 3, segments = true }
drift = { max_js = 0.2, columns = ["region", "tier"] }
"""


@pytest.mark.parametrize("engine", ["duckdb", "parquet-glob", "polars-lazy"])
def test_check_never_materializes_the_rows(monkeypatch, tmp_path, as_engine, big_log, engine):
    """``ad.check`` on a DuckDB relation or a parquet path: the month's window, the
    trend's history and the drift's previous month are filters in the engine, and every
    collect brings back an aggregated table (spied, as above), never the rows; the
    verdict equals the one on the same rows in memory."""
    config = tmp_path / "audit.toml"
    config.write_text(_POLICY)
    want = ad.check(config, data=big_log)
    data = as_engine(engine, big_log, "big")
    sizes = _spy_on_collects(monkeypatch)
    got = ad.check(config, data=data)
    # The largest legitimate table is AUC's counts (groups x 64 scores x 2 labels, ~1,500);
    # the month alone has ~8,000 rows, the log 50,000.
    month_rows = big_log.filter(pl.col("ts") >= dt.datetime(2026, 10, 1)).height
    assert sizes and max(sizes) < big_log.height / 10 < month_rows, sorted(sizes)[-5:]
    assert str(got.month) == "2026-10" and got.rows == want.rows
    assert_same(got.table, want.table, rel=REL)
