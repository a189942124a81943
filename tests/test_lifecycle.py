"""The lifecycle ledger: the registry, the clocks, adoption and the demo's planted truths.

Independent references: clock arithmetic against hand-computed calendar days; adoption,
cohort retention and concentration against DuckDB SQL on random data (to the last digit);
the Gini coefficient against its O(n^2) definition and closed forms; the Gini jackknife
interval and the cost-ratio interval against the truth in seeded simulations (Monte Carlo
standard errors stated next to each assertion).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import aidebt as ad
from aidebt import datasets
from aidebt.errors import (
    ColumnNotFoundError,
    ColumnTypeError,
    InvalidArgumentError,
    InvalidValueError,
)
from aidebt.lifecycle import (
    ALL,
    _gini_table,
    _ratio,
    adoption,
    clocks,
    clocks_gate,
    gini,
    load_registry,
    missing_columns,
)

ROOT = Path(__file__).resolve().parents[1]
USAGE = {"user": "user_id", "time": "ts", "feature": "used_ai"}
DEMO_CLOCKS = {"time": "ts", "prompt": "prompt_version", "model": "model_version"}


# --------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------
def write(tmp_path, text: str, name: str = "registry.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


MINIMAL = """\
timezone = "UTC"

[models.m1]
provider = "acme"
released = 2025-06-01
retires = 2027-01-02

[prompts.v1]
written_for = "m1"
evaluated = 2025-11-03
"""


def test_example_registry_is_the_demo_registry_plus_a_path():
    shipped = load_registry(ROOT / "examples" / "registry.toml")
    demo = load_registry(datasets.demo_registry())
    assert shipped.eval_sets["golden"].path == (ROOT / "demo_data" / "eval.parquet").resolve()
    golden = dataclasses.replace(shipped.eval_sets["golden"], path=None)
    assert golden == demo.eval_sets["golden"]
    for part in ("models", "prompts", "indexes"):
        assert getattr(shipped, part) == getattr(demo, part)
    assert demo.prompts["v1"].evaluated_on == ("m1",)
    assert demo.eval_sets["golden"].window == (dt.date(2025, 10, 1), dt.date(2025, 10, 31))


def test_unknown_key_names_the_key_its_line_and_the_fix(tmp_path):
    path = write(tmp_path, MINIMAL.replace("retires = 2027", "retire = 2027"))
    with pytest.raises(InvalidValueError) as err:
        load_registry(path)
    message = str(err.value)
    assert "line 6" in message and "'retire'" in message and "'retires'" in message
    assert "[models.m1]" in message
    with pytest.raises(InvalidValueError, match=r"line 1: colour.*unknown key 'colour'"):
        load_registry(write(tmp_path, 'colour = "red"\n' + MINIMAL))


@pytest.mark.parametrize(
    ("written", "line_text"),
    [
        ('retires = "2026-13-01"', "line 6: models.m1.retires = '2026-13-01' is not an ISO date"),
        ('retires = "31/12/2026"', "line 6: models.m1.retires = '31/12/2026' is not an ISO date"),
        ('retires = "2026-1-5"', "line 6: models.m1.retires = '2026-1-5' is not an ISO date"),
        ("retires = 2026-13-01", "line 6: key 'retires' is not valid TOML"),
        ("retires = 2026-02-30", "line 6: key 'retires' is not valid TOML"),
    ],
)
def test_malformed_dates_name_the_key_and_line(tmp_path, written, line_text):
    path = write(tmp_path, MINIMAL.replace("retires = 2027-01-02", written))
    with pytest.raises(InvalidValueError) as err:
        load_registry(path)
    assert line_text in str(err.value)
    assert "YYYY-MM-DD" in str(err.value)


def test_bad_references_and_missing_keys_name_the_key(tmp_path):
    bad_model = MINIMAL.replace('written_for = "m1"', 'written_for = "m9"')
    with pytest.raises(InvalidValueError, match=r"line 9: prompts.v1.written_for names model 'm9'"):
        load_registry(write(tmp_path, bad_model))
    no_model = MINIMAL.replace('written_for = "m1"\n', "")
    with pytest.raises(
        InvalidValueError, match=r"line 8: prompts.v1: \[prompts.v1\] needs 'written_for'"
    ):
        load_registry(write(tmp_path, no_model))
    with pytest.raises(InvalidValueError, match="time zone"):
        load_registry(write(tmp_path, MINIMAL.replace('"UTC"', '"Mars/Olympus"')))
    with pytest.raises(InvalidValueError, match="before its deprecation"):
        load_registry({"models": {"m": {"deprecated": "2026-05-01", "retires": "2026-01-01"}}})
    with pytest.raises(InvalidValueError, match="registry: models.m.released = 20260101"):
        load_registry({"models": {"m": {"released": 20260101}}})
    with pytest.raises(InvalidValueError, match="must be a share"):
        load_registry({"eval_sets": {"g": {"built": "2026-01-01", "max_uncovered": 1.5}}})
    with pytest.raises(InvalidArgumentError, match="not found"):
        load_registry(tmp_path / "nope.toml")


def test_registry_table_of_audit_toml_inline_or_pointing_at_a_file(tmp_path):
    write(tmp_path, MINIMAL)
    inline = "[data]\ntime = 'ts'\n\n[registry]\n" + MINIMAL.replace("[", "[registry.")
    reg = load_registry(write(tmp_path, inline, "audit.toml"))
    assert reg.models["m1"].retires == dt.date(2027, 1, 2)
    # A typo inside [registry.models.m1] names the full key and its line in audit.toml.
    with pytest.raises(
        InvalidValueError,
        match=r"line 10: registry.models.m1.retire: unknown key 'retire' in \[registry.models.m1\]",
    ):
        load_registry(write(tmp_path, inline.replace("retires", "retire"), "audit.toml"))
    pointer = write(tmp_path, '[registry]\npath = "registry.toml"\n', "audit2.toml")
    assert load_registry(pointer).prompts["v1"].evaluated_on == ("m1",)


# --------------------------------------------------------------------------------------
# Clock arithmetic at the edges
# --------------------------------------------------------------------------------------
def model_registry(**model) -> dict:
    return {"models": {"m1": {"released": "2024-01-01", **model}}}


def model_row(c) -> dict:
    return c.table.filter(pl.col("item") == "model m1").row(0, named=True)


def test_deadline_today_past_and_missing():
    today = model_row(clocks(model_registry(retires="2026-11-30"), as_of="2026-11-30"))
    assert (today["days_left"], today["status"]) == (0, "warn")  # due today: not yet missed
    past = model_row(clocks(model_registry(retires="2026-11-29"), as_of="2026-11-30"))
    assert (past["days_left"], past["status"]) == (-1, "overdue")
    far = model_row(clocks(model_registry(retires="2027-01-30"), as_of="2026-11-30"))
    assert (far["days_left"], far["status"]) == (61, "ok")  # warn_days = 60
    edge = model_row(clocks(model_registry(retires="2027-01-29"), as_of="2026-11-30"))
    assert (edge["days_left"], edge["status"]) == (60, "warn")
    missing = model_row(clocks(model_registry(), as_of="2026-11-30"))
    assert missing["deadline"] is None and missing["days_left"] is None
    assert (
        missing["status"] == "ok"
        and missing["age_days"] == (dt.date(2026, 11, 30) - dt.date(2024, 1, 1)).days
    )
    deprecated = model_row(clocks(model_registry(deprecated="2026-10-01"), as_of="2026-11-30"))
    assert deprecated["status"] == "warn" and "no retirement date" in deprecated["reason"]


def test_leap_years():
    # 2024 is a leap year: 2024-02-29 + 365 days = 2025-02-28; 2024-02 ends on the 29th.
    reg = {"eval_sets": {"g": {"built": "2024-02-29", "max_age_days": 365}}}
    row = clocks(reg, as_of="2025-03-01").table.row(0, named=True)
    assert row["deadline"] == dt.date(2025, 2, 28)
    assert (row["age_days"], row["days_left"], row["status"]) == (366, -1, "overdue")
    assert clocks(reg, as_of="2024-02").as_of == dt.date(2024, 2, 29)
    assert clocks(reg, as_of="2023-02").as_of == dt.date(2023, 2, 28)
    across = model_row(clocks(model_registry(retires="2028-02-29"), as_of="2027-02-28"))
    assert across["days_left"] == 366


def test_time_zones_of_the_audit_date_and_of_the_log():
    la = {"timezone": "America/Los_Angeles", **model_registry(retires="2026-12-01")}
    # 05:00 UTC on Dec 1 is still Nov 30 in Los Angeles: one day left there, none in UTC.
    instant = dt.datetime(2026, 12, 1, 5, tzinfo=dt.UTC)
    assert model_row(clocks(la, as_of=instant))["days_left"] == 1
    assert model_row(clocks(model_registry(retires="2026-12-01"), as_of=instant))["days_left"] == 0
    assert clocks(la, as_of="2026-12-01T05:00:00+00:00").as_of == dt.date(2026, 11, 30)
    # A row at 03:00 UTC on Dec 1 belongs to November in Los Angeles, to December in UTC.
    utc = [dt.datetime(2026, 11, 15, 12), dt.datetime(2026, 12, 1, 3)]
    log = pl.DataFrame({"ts": utc, "model": ["m1", "m2"]}).with_columns(
        pl.col("ts").dt.replace_time_zone("UTC")
    )
    in_la = clocks(la, as_of="2026-11-30", data=log, time="ts", model="model")
    assert in_la.total == 2
    assert model_row(in_la)["traffic_share"] == 0.5
    in_utc = clocks(
        model_registry(retires="2026-12-01"), as_of="2026-11-30", data=log, time="ts", model="model"
    )
    assert in_utc.total == 1 and model_row(in_utc)["traffic_share"] == 1.0
    # Naive timestamps are read on the registry's clock: the same wall times, both in Nov.
    naive = log.with_columns(
        pl.col("ts").dt.convert_time_zone("America/Los_Angeles").dt.replace_time_zone(None)
    )
    assert clocks(la, as_of="2026-11-30", data=naive, time="ts", model="model").total == 2
    dates = naive.with_columns(pl.col("ts").dt.date())
    assert clocks(la, as_of="2026-11-30", data=dates, time="ts", model="model").total == 2


def test_items_never_seen_and_not_registered():
    reg = {
        "models": {
            "m1": {"released": "2025-01-01"},
            "m3": {"released": "2025-01-01", "retires": "2026-10-01"},
        },
        "prompts": {"v1": {"written_for": "m1", "evaluated": "2025-02-01"}},
    }
    log = pl.DataFrame(
        {
            "ts": [dt.datetime(2026, 11, d) for d in (1, 2, 3, 4)],
            "model": ["m1", "m1", "m1", "mX"],
            "prompt": ["v1", "v1", "v9", "v1"],
        }
    )
    c = clocks(reg, as_of="2026-11-30", data=log, time="ts", model="model", prompt="prompt")
    rows = {r["item"]: r for r in c.table.iter_rows(named=True)}
    # m3 retired but never served in the window: its clock has stopped, ok.
    assert rows["model m3"]["traffic_share"] == 0.0 and rows["model m3"]["status"] == "ok"
    assert "serves none" in rows["model m3"]["reason"]
    # A model in the log that the registry lacks is a warning, with its share.
    assert rows["model mX"]["status"] == "warn" and rows["model mX"]["traffic_share"] == 0.25
    # v1 on mX: never evaluated there and serving; v9: not registered.
    assert rows["prompt v1 on model mX"]["status"] == "overdue"
    assert rows["prompt v1 on model mX"]["days_left"] == -26  # in service since Nov 4
    assert rows["prompt v9 on model m1"]["status"] == "warn"
    assert rows["prompt v1 on model m1"]["status"] == "ok"
    # Without the log, a retired model is overdue: it may still serve.
    assert (
        clocks(reg, as_of="2026-11-30").table.filter(pl.col("item") == "model m3")["status"][0]
        == "overdue"
    )


def test_clocks_bad_arguments():
    reg = datasets.demo_registry()
    with pytest.raises(InvalidArgumentError, match="as_of"):
        clocks(reg, as_of="yesterday")
    with pytest.raises(InvalidArgumentError, match="time="):
        clocks(reg, data=datasets.demo(100, months=1))
    with pytest.raises(ColumnNotFoundError, match="prompt_v"):
        clocks(reg, data=datasets.demo(100, months=1), time="ts", prompt="prompt_v")
    with pytest.raises(InvalidArgumentError, match="warn_days"):
        clocks(reg, warn_days=-1)
    with pytest.raises(InvalidArgumentError, match="eval set 'silver'"):
        clocks(reg, data=datasets.demo(100, months=1), time="ts", eval_data={"silver": None})
    assert clocks(reg).as_of == dt.datetime.now(dt.UTC).date()


# --------------------------------------------------------------------------------------
# The demo's planted clocks, recovered exactly
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_log() -> pl.DataFrame:
    return datasets.demo(n_per_month=6_000)


@pytest.fixture(scope="module")
def demo_clocks(demo_log):
    return clocks(
        datasets.demo_registry(),
        as_of="2026-11",
        data=demo_log,
        eval_data=datasets.demo_eval(),
        **DEMO_CLOCKS,
    )


def test_demo_clocks_recover_the_planted_dates_and_shares(demo_log, demo_clocks):
    t = {r["item"]: r for r in demo_clocks.table.iter_rows(named=True)}
    november = demo_log.filter(pl.col("ts").dt.strftime("%Y-%m") == "2026-11")
    total = november.height
    assert demo_clocks.total == total

    def share(**eq) -> float:
        return november.filter(**eq).height / total

    for p in ("v1", "v2"):
        row = t[f"prompt {p} on model m2"]
        assert row["status"] == "overdue"
        assert row["traffic_share"] == share(prompt_version=p, model_version="m2")
        assert row["since"] == dt.date(2026, 7, 1)  # month 10: m2 enters
        assert t[f"prompt {p} on model m1"]["status"] == "ok"
    assert t["model m1"]["traffic_share"] == share(model_version="m1")
    assert (t["model m1"]["days_left"], t["model m1"]["status"]) == (33, "warn")
    assert t["model m2"]["status"] == "ok"
    golden = t["eval set golden"]
    assert (golden["age_days"], golden["days_left"], golden["status"]) == (395, -30, "overdue")
    direct = ad.coverage(datasets.demo_eval(), november, by="intent").table["uncovered_share"][0]
    assert golden["traffic_share"] == pytest.approx(direct, abs=1e-12)
    assert golden["traffic_share"] == share(intent="account_recovery")
    index = t["index kb-articles"]
    assert (index["days_left"], index["status"], index["traffic_share"]) == (31, "warn", 1.0)
    # The planted truths behind the counts: m2 takes half, v2 41% of tickets, ~38% new intent.
    n = total
    assert abs(t["model m1"]["traffic_share"] - 0.5) < 4 * math.sqrt(0.25 / n)
    assert abs(t["prompt v2 on model m2"]["traffic_share"] - 0.205) < 4 * math.sqrt(0.163 / n)
    assert abs(golden["traffic_share"] - 0.38) < 4 * math.sqrt(0.236 / n)


def test_demo_clocks_summary_gate_and_headline(demo_clocks):
    lines = demo_clocks.summary("answers")
    assert re.match(
        r"5\d% of the answers in 2026-11 come from a prompt running on a model", lines[0]
    )
    assert re.match(
        r"Model m1 retires in 33 days \(2027-01-02\) and still serves [45]\d% of", lines[1]
    )
    assert re.match(
        r"The eval set golden is 13 months old and leaves 3\d% of the answers", lines[2]
    )
    assert "embed-v1" in lines[3] and "31 days" in lines[3]
    assert not any("'" in line or "None" in line for line in lines)
    gate = clocks_gate(demo_clocks)
    assert (gate.passed, gate.overdue) == (False, 3)
    assert len(gate.warnings) == 2 and "model m1" in gate.warnings[0]
    assert clocks_gate(demo_clocks, max_overdue=3).passed
    # warn_days only widens the warning list; it never fails the gate.
    assert len(clocks_gate(demo_clocks, warn_days=400).warnings) == 2
    head = demo_clocks.headline()
    assert head.figures["clocks_overdue"] == 3 and head.figures["next_deadline_days"] == 31
    assert head.figures["unevaluated_share"] == pytest.approx(0.5, abs=0.03)
    assert str(head).startswith("3 overdue and 2 due soon of 8 lifecycle clocks: ")
    assert demo_clocks.chart().to_dict()["layer"]
    with pytest.raises(InvalidArgumentError):
        clocks_gate(demo_clocks, max_overdue=-1)


# --------------------------------------------------------------------------------------
# Adoption, cohorts and concentration against DuckDB SQL on random data
# --------------------------------------------------------------------------------------
def random_usage(seed: int, rows: int = 30_000, users: int = 900, days: int = 150) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    weight = rng.pareto(1.2, users) + 0.05  # a few very active users
    user = rng.choice(users, rows, p=weight / weight.sum())
    propensity = rng.beta(0.4, 2.0, users)  # how often each user's actions use the feature
    start = dt.datetime(2026, 1, 1)
    micros = rng.integers(0, days * 86_400_000_000, rows)
    return pl.DataFrame(
        {
            "ts": pl.Series(micros).cast(pl.Duration("us")) + start,
            "user_id": user,
            "plan": pl.Series(["free", "pro", "team"]).gather(user % 3),
            "used_ai": rng.random(rows) < propensity[user],
        }
    )


SQL_WEEK = "(date_diff('day', DATE '1970-01-01', CAST(ts AS DATE)) + 3) // 7"


def sql(con, query: str) -> pl.DataFrame:
    return con.sql(query).pl()


@pytest.mark.parametrize("seed", [1, 2])
def test_adoption_cohorts_and_concentration_equal_duckdb_sql(seed):
    log = random_usage(seed)
    con = duckdb.connect()
    con.register("u", log.to_arrow())
    a = adoption(log, **USAGE, by="plan")

    expected = sql(
        con,
        f"""
        SELECT {SQL_WEEK} AS wk, COUNT(DISTINCT user_id) AS active,
               COUNT(DISTINCT user_id) FILTER (WHERE used_ai) AS fu,
               COUNT(*) FILTER (WHERE used_ai) AS uses, COUNT(*) AS actions
        FROM u GROUP BY wk ORDER BY wk
        """,
    ).with_columns(adoption=pl.col("fu").cast(pl.Float64) / pl.col("active"))
    got = a.overall
    assert got["_p"].to_list() == expected["wk"].to_list()  # no gap in this log
    assert got["active_users"].to_list() == expected["active"].cast(pl.Float64).to_list()
    assert got["feature_users"].to_list() == expected["fu"].cast(pl.Float64).to_list()
    assert got["uses"].to_list() == expected["uses"].cast(pl.Float64).to_list()
    assert got["adoption"].to_list() == expected["adoption"].to_list()  # to the last digit
    starts = sql(
        con,
        f"SELECT DISTINCT {SQL_WEEK} AS wk, CAST(date_trunc('week', ts) AS DATE) AS monday FROM u ORDER BY wk",
    )
    assert got["period"].to_list() == starts["monday"].to_list()

    by_plan = sql(
        con,
        f"""
        SELECT plan, {SQL_WEEK} AS wk, COUNT(DISTINCT user_id) AS active,
               COUNT(DISTINCT user_id) FILTER (WHERE used_ai) AS fu
        FROM u GROUP BY plan, wk ORDER BY plan, wk
        """,
    ).with_columns(adoption=pl.col("fu").cast(pl.Float64) / pl.col("active"))
    got = a.table.filter(pl.col("active_users") > 0).sort("plan", "_p")
    assert got["adoption"].to_list() == by_plan["adoption"].to_list()

    cells = sql(
        con,
        f"""
        WITH f AS (SELECT DISTINCT user_id, {SQL_WEEK} AS wk FROM u WHERE used_ai),
        first AS (SELECT user_id, MIN(wk) AS c FROM f GROUP BY user_id),
        cells AS (SELECT c, wk, COUNT(*) AS users FROM f JOIN first USING (user_id) GROUP BY c, wk),
        sizes AS (SELECT c, users AS size FROM cells WHERE wk = c)
        SELECT c, wk, users, size, users::DOUBLE / size AS retention
        FROM cells JOIN sizes USING (c) ORDER BY c, wk
        """,
    )
    cohorts = a.cohorts()
    got = cohorts.overall.filter(pl.col("users") > 0)
    assert got["users"].to_list() == cells["users"].cast(pl.Float64).to_list()
    assert got["cohort_size"].to_list() == cells["size"].cast(pl.Float64).to_list()
    assert got["retention"].to_list() == cells["retention"].to_list()
    assert (got["periods_since"] == (cells["wk"] - cells["c"])).all()
    last = int(a.overall["_p"].max())
    assert cohorts.overall.height == int(
        ((last - cells.filter(pl.col("wk") == pl.col("c"))["c"]) + 1).sum()
    )

    p_values = {"top1_share": 0.01, "top5_share": 0.05, "top10_share": 0.1}
    tops = ",\n".join(
        f"""(SUM(x) FILTER (WHERE rd <= floor({p}::DOUBLE * n))
             + ({p}::DOUBLE * ANY_VALUE(n) - floor({p}::DOUBLE * ANY_VALUE(n)))
               * COALESCE(MAX(x) FILTER (WHERE rd = floor({p}::DOUBLE * n) + 1), 0))
            / ANY_VALUE(tot)::DOUBLE AS {name}"""
        for name, p in p_values.items()
    )
    for partition, where in (("", ""), ("PARTITION BY plan", "plan")):
        group = f"GROUP BY {where}" if where else ""
        select = f"{where}," if where else ""
        conc = sql(
            con,
            f"""
            WITH t AS (
                SELECT {select} user_id, SUM(used_ai::INT) AS x, COUNT(*) AS actions
                FROM u GROUP BY {select} user_id),
            r AS (
                SELECT *, ROW_NUMBER() OVER ({partition} ORDER BY x) AS ra,
                       ROW_NUMBER() OVER ({partition} ORDER BY x DESC) AS rd,
                       COUNT(*) OVER ({partition}) AS n, SUM(x) OVER ({partition}) AS tot
                FROM t WHERE x > 0)
            SELECT {select}
                   SUM((2 * ra - n - 1) * x)::DOUBLE
                       / (ANY_VALUE(n)::DOUBLE * ANY_VALUE(tot)::DOUBLE) AS gini,
                   {tops},
                   COUNT(*) FILTER (WHERE x > 0.5 * actions) AS dependent
            FROM r {group} {"ORDER BY " + where if where else ""}
            """,
        )
        table = a.concentration().table
        table = (
            table.filter(pl.col("plan") != ALL).sort("plan")
            if where
            else table.filter(pl.col("plan") == ALL)
        )
        for column in ("gini", *p_values):
            assert table[column].to_list() == conc[column].to_list(), column
        assert table["dependent_users"].to_list() == conc["dependent"].cast(pl.Float64).to_list()


# --------------------------------------------------------------------------------------
# The Gini coefficient and its interval
# --------------------------------------------------------------------------------------
def gini_direct(x: np.ndarray) -> float:
    """The definition: half the mean absolute difference over all ordered pairs / mean."""
    x = np.asarray(x, dtype=float)
    return float(np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) ** 2 * x.mean()))


def test_gini_equals_the_definition_and_closed_forms():
    rng = np.random.default_rng(3)
    for sample in (rng.exponential(size=400), rng.poisson(2.0, 500) + 1, rng.pareto(1.5, 300)):
        assert gini(sample)["gini"] == pytest.approx(gini_direct(sample), rel=1e-12)
        values, counts = np.unique(sample, return_counts=True)
        assert gini(values, counts)["gini"] == pytest.approx(gini_direct(sample), rel=1e-12)
    assert gini([5.0] * 10)["gini"] == 0.0
    assert gini([0] * 9 + [7])["gini"] == pytest.approx(0.9, rel=1e-12)  # (n - 1) / n
    n = 50  # 1, 2, ..., n: (n - 1) / (3 n)
    assert gini(np.arange(1, n + 1))["gini"] == pytest.approx((n - 1) / (3 * n), rel=1e-12)
    # A large exponential sample approaches the exponential distribution's Gini, 1/2.
    assert gini(rng.exponential(size=200_000))["gini"] == pytest.approx(0.5, abs=0.005)
    with pytest.raises(InvalidArgumentError):
        gini([-1, 2])


def test_gini_jackknife_equals_brute_force_leave_one_out():
    rng = np.random.default_rng(4)
    x = rng.poisson(3.0, 120) + 1
    loo = np.array([gini_direct(np.delete(x, i)) for i in range(len(x))])
    se = math.sqrt((len(x) - 1) / len(x) * ((loo - loo.mean()) ** 2).sum())
    assert gini(x)["gini_se"] == pytest.approx(se, rel=1e-10)


def true_gini(pmf: np.ndarray) -> float:
    """Gini of an integer distribution on 0, 1, ...: E|X - Y| / (2 mu) with
    E|X - Y| = 2 sum_k F(k) (1 - F(k))."""
    cdf = np.cumsum(pmf)
    mu = float((np.arange(len(pmf)) * pmf).sum())
    return float((cdf * (1 - cdf)).sum() / mu)


def simulate_gini_coverage(pmf: np.ndarray, n: int, sims: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    draws = rng.choice(len(pmf), size=(sims, n), p=pmf)
    hist = (
        pl.DataFrame({"sim": np.repeat(np.arange(sims), n), "x": draws.ravel().astype(float)})
        .group_by("sim", "x")
        .agg(pl.len().cast(pl.Float64).alias("m"))
    )
    result = _gini_table(hist, ["sim"], 0.95)
    truth = true_gini(pmf)
    hit = (result["gini_ci_low"] <= truth) & (truth <= result["gini_ci_high"])
    return float(hit.mean())


def mixture_pmf(k_max: int = 400) -> np.ndarray:
    """Uses per user over a season, like the demo: 88% light users 1 + Poisson(6), 12%
    power users 1 + Poisson(60)."""
    from scipy import stats

    k = np.arange(k_max)
    light = stats.poisson.pmf(k - 1, 6.0)
    power = stats.poisson.pmf(k - 1, 60.0)
    pmf = 0.88 * light + 0.12 * power
    return pmf / pmf.sum()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "n"),
    [("geometric", 300), ("mixture", 300), ("mixture", 80)],
)
def test_gini_interval_covers_the_truth(name, n):
    """2,000 samples each: Monte Carlo SE of a coverage near 0.95 is 0.0049; the band
    [0.925, 0.97] allows 5 SE below (a jackknife interval may run slightly short in small
    samples from skewed distributions) and 4 above."""
    k = np.arange(600)
    pmf = (
        np.where(k >= 1, 0.2 * 0.8 ** np.maximum(k - 1, 0), 0.0)
        if name == "geometric"
        else mixture_pmf()
    )
    pmf = pmf / pmf.sum()
    coverage = simulate_gini_coverage(pmf, n, sims=2_000, seed=n)
    assert 0.925 <= coverage <= 0.97, coverage


# --------------------------------------------------------------------------------------
# Unit cost: the cluster-robust ratio interval
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("users", "power_share", "power_rate"), [(250, 0.10, 20.0), (100, 0.05, 60.0)]
)
def test_cost_ratio_interval_covers_the_truth(users, power_share, power_rate):
    """Per period: ``users`` users, each with 1 + Poisson(lambda) uses (lambda 2, or
    ``power_rate`` for a ``power_share`` of power users), success probability 0.7 and
    Gamma costs of mean 0.04: the truth is 0.04 / 0.7 per successful use. 4,000 periods:
    Monte Carlo SE of the coverage 0.0034; the band is 3 SE either side of 0.95."""
    rng = np.random.default_rng(users)
    sims = 4_000
    lam = np.where(rng.random((sims, users)) < power_share, power_rate, 2.0)
    uses = 1 + rng.poisson(lam)
    successes = rng.binomial(uses, 0.7)
    cost = rng.gamma(4.0 * uses, 0.04 / 4.0)  # the sum of `uses` Gamma(4, 0.01) costs
    sums = [cost.sum(1), successes.sum(1), (cost**2).sum(1), (successes**2).sum(1)]
    r, se, lo, hi = _ratio(*sums, (cost * successes).sum(1), np.full(sims, users), 0.95)
    truth = 0.04 / 0.7
    coverage = float(np.mean((lo <= truth) & (truth <= hi)))
    assert 0.94 <= coverage <= 0.96, coverage
    # The standard error is the spread of the estimate across periods (4,000 draws: the
    # sample SD is known to ~1.1%, so 10% is a real check of the variance formula).
    assert np.median(se) == pytest.approx(np.std(r), rel=0.1)


# --------------------------------------------------------------------------------------
# The demo usage log's planted figures, within their intervals
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_adoption():
    return adoption(datasets.demo_usage(), **USAGE, cost="cost", success="success", by="plan")


def test_demo_adoption_plateau_and_retention(demo_adoption):
    last = demo_adoption.overall.row(-1, named=True)
    assert last["period"] == dt.date(2026, 11, 23)
    truth = 0.08 * (1 - math.exp(-26 / 3))
    assert last["ci_low"] <= truth <= last["ci_high"]
    first = demo_adoption.overall.row(0, named=True)
    assert first["ci_low"] <= 0.08 * (1 - math.exp(-1 / 3)) <= first["ci_high"]
    trend = demo_adoption.trend(8).table.row(0, named=True)
    assert trend["change_ci_low"] <= 0 <= trend["change_ci_high"]  # a plateau
    curve = demo_adoption.cohorts().curve.filter(pl.col("plan") == ALL)
    for k in (1, 2, 4, 8):
        row = curve.filter(pl.col("periods_since") == k).row(0, named=True)
        assert row["ci_low"] <= 0.48 <= row["ci_high"], k
    assert curve.filter(pl.col("periods_since") == 0)["retention"][0] == 1.0
    assert "plateaued around 8" in demo_adoption.summary()[1]


def test_demo_concentration_and_blast_radius(demo_adoption):
    conc = demo_adoption.concentration()
    overall = conc.table.filter(pl.col("plan") == ALL).row(0, named=True)
    # The truth from a simulation of 400,000 customers (datasets.demo_usage docstring).
    assert overall["gini_ci_low"] <= 0.412 <= overall["gini_ci_high"]
    assert overall["top10_share"] == pytest.approx(0.406, abs=0.03)
    assert overall["dependent_share"] == pytest.approx(0.113, abs=0.04)
    by_plan = {r["plan"]: r for r in conc.table.iter_rows(named=True)}
    assert by_plan["enterprise"]["dependent_share"] > 3 * by_plan["free"]["dependent_share"]
    assert "most in enterprise" in conc.summary()[1]
    lorenz = conc.lorenz.filter(pl.col("plan") == ALL)
    assert lorenz["user_share"][0] == 0 and lorenz["use_share"][-1] == pytest.approx(1.0)
    assert (lorenz["use_share"] <= lorenz["user_share"] + 1e-12).all()


def test_demo_unit_cost_rises_and_crosses_the_budget(demo_adoption):
    uc = demo_adoption.unit_cost(0.12)
    series = uc.table.filter((pl.col("plan") == ALL) & (pl.col("measure") == "per successful use"))
    week = np.arange(series.height)
    truth = 0.05 + 0.002 * week
    covered = (series["ci_low"].to_numpy() <= truth) & (truth <= series["ci_high"].to_numpy())
    # 26 weekly 95% intervals: 24.7 expected to cover; P(fewer than 22) < 1%.
    assert covered.sum() >= 22, covered
    slope = uc.trend.table.row(0, named=True)
    assert slope["slope_ci_low"] <= 0.002 <= slope["slope_ci_high"]
    # The planted line crosses $0.12 in week 35, the week of 2027-02-01.
    assert uc.crossing.status == "ahead"
    assert uc.crossing.ci_low <= dt.datetime(2027, 2, 1) <= uc.crossing.ci_high
    lines = uc.summary()
    assert lines[0].startswith("Each successful use cost $0.0")
    assert "at this rate it crosses the $0.120 budget around 2027-0" in lines[1]
    per_use = uc.table.filter((pl.col("plan") == ALL) & (pl.col("measure") == "per use"))
    mean_use = (0.85 - 0.01 * week) * (0.05 + 0.002 * week)
    low, high = per_use["ci_low"].to_numpy(), per_use["ci_high"].to_numpy()
    assert ((low <= mean_use) & (mean_use <= high)).sum() >= 22
    head = demo_adoption.headline(0.12)
    assert head.figures["cost_per_successful_use"] == series["value"][-1]
    assert "budget around 2027-0" in head.sentence
    assert demo_adoption.chart(0.12).to_dict()["vconcat"]
    with pytest.raises(InvalidArgumentError, match="measure"):
        demo_adoption.unit_cost(measure="per click")


# --------------------------------------------------------------------------------------
# Engines and bad input
# --------------------------------------------------------------------------------------
def test_polars_pandas_duckdb_and_paths_give_the_same_tables(tmp_path):
    log = datasets.demo_usage(n_users=600, weeks=8, seed=3)
    kw = dict(**USAGE, cost="cost", success="success", by="plan")
    ref = adoption(log, **kw)
    path = tmp_path / "usage.parquet"
    log.write_parquet(path)
    con = duckdb.connect()
    con.register("u", log.to_arrow())
    for other in (log.lazy(), log.to_pandas(), con.table("u"), path):
        got = adoption(other, **kw)
        assert_frame_equal(got.table, ref.table)
        assert_frame_equal(got.cohorts().table, ref.cohorts().table)
        assert_frame_equal(got.concentration().table, ref.concentration().table)
        assert_frame_equal(got.unit_cost().table, ref.unit_cost().table)
    prod = datasets.demo(1_500)
    con.register("d", prod.to_arrow())
    reg = datasets.demo_registry()
    base = clocks(reg, as_of="2026-11", data=prod, eval_data=datasets.demo_eval(500), **DEMO_CLOCKS)
    for other in (prod.lazy(), prod.to_pandas(), con.table("d")):
        got = clocks(
            reg, as_of="2026-11", data=other, eval_data=datasets.demo_eval(500), **DEMO_CLOCKS
        )
        assert_frame_equal(got.table, base.table)


def test_bad_usage_logs_are_clear_messages():
    log = datasets.demo_usage(n_users=200, weeks=3)
    with pytest.raises(
        InvalidValueError, match=r"'used_ai' \(feature\) marks none of the [\d,]+ actions"
    ):
        adoption(log.with_columns(used_ai=pl.lit(False)), **USAGE)
    negative = log.with_columns(
        cost=pl.when(pl.col("cost") > 0.05).then(-pl.col("cost")).otherwise("cost")
    )
    with pytest.raises(
        InvalidValueError, match=r"Column 'cost' \(cost\) has [\d,]+ negative values \(e.g. -0"
    ):
        adoption(negative, **USAGE, cost="cost")
    with pytest.raises(ColumnTypeError, match="booleans or 0/1"):
        adoption(log.with_columns(pl.col("used_ai").cast(pl.String)), **USAGE)
    with pytest.raises(InvalidValueError, match="values other than 0/1"):
        adoption(log.with_columns(pl.col("used_ai").cast(pl.Int64) * 2), **USAGE)
    with pytest.raises(ColumnNotFoundError, match="'spend'"):
        adoption(log, **USAGE, cost="spend")
    with pytest.raises(ColumnTypeError, match="Date or Datetime"):
        adoption(log.with_columns(pl.col("ts").cast(pl.String)), **USAGE)
    with pytest.raises(InvalidArgumentError, match="unit_cost needs"):
        adoption(log, **USAGE).unit_cost()
    with pytest.raises(InvalidArgumentError, match="share"):
        adoption(log, **USAGE).concentration(share=1.5)
    # Missing users and times are counted and said, not silently dropped.
    holes = log.with_columns(
        user_id=pl.when(pl.int_range(pl.len()) < 7).then(None).otherwise("user_id"),
        ts=pl.when(pl.int_range(pl.len()).is_between(7, 9)).then(None).otherwise("ts"),
    )
    notes = adoption(holes, **USAGE).notes()
    assert notes[:2] == [
        "7 actions have no 'user_id' value and are left out.",
        "3 actions have no time value and are left out.",
    ]
    # Unknown feature flags, successes and costs count as no / not successful / 0, and say so.
    first_uses = pl.col("used_ai") & (pl.col("used_ai").cum_sum() <= 5)
    gaps = log.with_columns(
        used_ai=pl.when(~pl.col("used_ai") & ((~pl.col("used_ai")).cum_sum() <= 4))
        .then(None)
        .otherwise("used_ai"),
        success=pl.when(first_uses).then(None).otherwise("success"),
        cost=pl.when(first_uses).then(None).otherwise("cost"),
    )
    notes = adoption(gaps, **USAGE, cost="cost", success="success").notes()
    assert notes[0] == "4 actions have no 'used_ai' value: counted as not using the feature."
    assert notes[1].startswith("5 feature uses have no 'success' value: counted as not successful")
    assert notes[2] == "5 feature uses have no 'cost' value: counted as 0."
    assert missing_columns(log, ["user_id", "seat"]) == "the data has no column 'seat'"
    assert missing_columns(log, ["user_id", None]) is None


# --------------------------------------------------------------------------------------
# The notebooks, rendered by `aidebt report NAME`
# --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_both_notebooks_render_with_aidebt_report(tmp_path, capsys):
    from aidebt.cli import EXIT_OK, main

    datasets.demo(n_per_month=1_500).write_parquet(tmp_path / "production.parquet")
    datasets.demo_eval(n=600).write_parquet(tmp_path / "eval.parquet")
    datasets.demo_usage(n_users=800).write_parquet(tmp_path / "usage.parquet")
    out = tmp_path / "reports"
    common = ["--data", str(tmp_path / "production.parquet"), "--month", "2026-11"]
    common += ["--out", str(out), "--no-progress"]
    code = main(
        [
            "report",
            "debt_clocks",
            *common,
            "--eval-data",
            str(tmp_path / "eval.parquet"),
            "-p",
            "registry",
            str(ROOT / "examples" / "registry.toml"),
            *["-p", "time", "ts", "-p", "prompt", "prompt_version", "-p", "model", "model_version"],
            "-p",
            "decision",
            "answer",
        ]
    )
    assert code == EXIT_OK, capsys.readouterr()
    code = main(
        [
            "report",
            "feature_retirement",
            *common,
            "-p",
            "usage_data",
            str(tmp_path / "usage.parquet"),
            *["-p", "usage_user", "user_id", "-p", "usage_time", "ts", "-p", "usage_by", "[plan]"],
            *["-p", "usage_feature", "used_ai", "-p", "usage_cost", "cost"],
            *["-p", "usage_success", "success"],
            "-p",
            "budget",
            "0.12",
            "-p",
            "currency",
            "EUR ",
        ]
    )
    assert code == EXIT_OK, capsys.readouterr()
    month = out / "2026-11"
    clocks_page = (month / "debt_clocks.html").read_text()
    assert "of the answers in 2026-11 come from a prompt running on a model" in clocks_page
    assert "<b>FAIL</b>" in clocks_page or "FAIL" in clocks_page
    retire_page = (month / "feature_retirement.html").read_text()
    assert "EUR 0.0" in retire_page and "plateaued around" in retire_page
    figures = {
        e["notebook"]: e["key_figures"]
        for e in json.loads((month / "manifest.json").read_text())["reports"]
    }
    assert figures["debt_clocks"]["clocks_overdue"] == 3
    assert figures["feature_retirement"]["adoption"] > 0.05
