"""Adoption and cohorts on a 50M-row usage log from its parquet path: aidebt vs a bare polars
group-by of the same counts, peak memory and time, same run.

Writes a usage log of about ``--rows`` rows (default 50M: ~605,000 customers of the demo
customer base, :func:`aidebt.datasets.demo_usage`, over 26 weeks) as ``--files`` parquet
files under ``benchmarks/_data/usage-<rows>/`` (not committed; written once, reused), then
measures, each in a fresh Python process (so peak memory is the process's own):

* ``polars-bare``   the same counts in plain polars, streaming from the parquet scan: per
                    week the distinct active users, distinct feature users and uses; per
                    (first-use week, week) the distinct users (a unique, a group-by, a join,
                    a group-by), collected together;
* ``aidebt``        ``adoption(path, user, time, feature)`` then ``.cohorts()``: the same
                    counts with Wilson intervals, gaps filled, retention per cohort;
* ``aidebt-full``   the same with ``cost``, ``success`` and ``by="plan"``, plus
                    ``.concentration()`` (Gini with its jackknife interval, top shares,
                    Lorenz, blast radius) and ``.unit_cost()`` (three ratios with Fieller
                    intervals, the trend fit);
* ``duckdb-bare``   the per-week counts and cohort cells in DuckDB SQL over ``read_parquet``;
* ``aidebt-duckdb`` ``adoption`` + ``.cohorts()`` on a DuckDB relation over the same files.

Wall time is measured inside the process around the calls (imports excluded) and the peak
resident memory of the whole process with ``/usr/bin/time -v`` (or ``getrusage``); medians
over the rounds are compared (peak memory of the streaming engine varies between runs on a
busy machine: every run's is printed).

    python benchmarks/bench_lifecycle.py [--rows 50000000] [--files 10] [--repeat 2] [--only NAME ...]

Measured 2026-11-30 (49.9M rows, 10 files, medians of 3 rounds, 2 shared cores; polars
2.1.0, DuckDB 2.0.1): ``aidebt`` 7.03 s and 956 MB against ``polars-bare`` 3.63 s and 1,110
MB (1.94x the time, 0.86x the memory; the same 9,444,293 active user-weeks and 684,388
cohort users); ``aidebt-full`` 14.09 s, 1,248 MB (3.88x: the concentration's jackknife and
the unit-cost fits on top); on DuckDB, ``aidebt-duckdb`` 10.35 s and 799 MB against
``duckdb-bare`` 9.26 s and 1,201 MB (1.12x, 0.67x).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

from _measure import measure_process

HERE = Path(__file__).resolve().parent
RUNS = ["polars-bare", "aidebt", "aidebt-full", "duckdb-bare", "aidebt-duckdb"]
ROWS_PER_CUSTOMER = 82.6  # demo_usage: ~413,000 rows for 5,000 customers over 26 weeks
USAGE = {"user": "user_id", "time": "ts", "feature": "used_ai"}


def write_log(folder: Path, rows: int, files: int) -> None:
    """Customers split over ``files`` parquet files, each a seeded demo customer base with
    its own user ids."""
    import polars as pl

    from aidebt import datasets

    folder.mkdir(parents=True, exist_ok=True)
    customers = int(rows / ROWS_PER_CUSTOMER)
    per_file = -(-customers // files)
    for i in range(files):
        t0 = time.perf_counter()
        part = datasets.demo_usage(n_users=per_file, seed=i).with_columns(
            pl.col("user_id") + i * per_file
        )
        part.write_parquet(folder / f"part-{i:03d}.parquet", row_group_size=1_000_000)
        print(
            f"  wrote part {i + 1}/{files}: {part.height:,} rows in {time.perf_counter() - t0:.1f}s"
        )
        del part


def _bare_polars(glob: str):
    import polars as pl

    lf = pl.scan_parquet(glob)
    week = ((pl.col("ts").dt.epoch("d") + 3) // 7).alias("wk")
    weekly = lf.group_by(week).agg(
        pl.col("user_id").n_unique().alias("active"),
        pl.col("user_id").filter(pl.col("used_ai")).n_unique().alias("feature_users"),
        pl.col("used_ai").sum().alias("uses"),
    )
    used = lf.filter(pl.col("used_ai")).select("user_id", week).unique()
    first = used.group_by("user_id").agg(pl.col("wk").min().alias("cohort"))
    cohorts = used.join(first, on="user_id").group_by("cohort", "wk").agg(pl.len().alias("users"))
    return pl.collect_all([weekly, cohorts], engine="streaming")


def _bare_duckdb(glob: str):
    import duckdb

    week = "(date_diff('day', DATE '1970-01-01', CAST(ts AS DATE)) + 3) // 7"
    con = duckdb.connect()
    weekly = con.sql(
        f"""
        SELECT {week} AS wk, COUNT(DISTINCT user_id) AS active,
               COUNT(DISTINCT user_id) FILTER (WHERE used_ai) AS feature_users,
               COUNT(*) FILTER (WHERE used_ai) AS uses
        FROM read_parquet('{glob}') GROUP BY wk
        """
    ).pl()
    cohorts = con.sql(
        f"""
        WITH f AS (SELECT DISTINCT user_id, {week} AS wk FROM read_parquet('{glob}') WHERE used_ai),
        first AS (SELECT user_id, MIN(wk) AS cohort FROM f GROUP BY user_id)
        SELECT cohort, wk, COUNT(*) AS users FROM f JOIN first USING (user_id) GROUP BY cohort, wk
        """
    ).pl()
    return [weekly, cohorts]


def child(name: str, glob: str) -> dict:
    """One measurement, in this (fresh) process: import, time the calls, report JSON."""
    import duckdb
    import polars as pl  # noqa: F401
    import statsmodels.api  # noqa: F401  (imports outside the timed calls, for every run alike)

    from aidebt.lifecycle import adoption

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    if name in ("polars-bare", "duckdb-bare"):
        weekly, cohorts = _bare_polars(glob) if name == "polars-bare" else _bare_duckdb(glob)
        active, cells = int(weekly["active"].sum()), int(cohorts["users"].sum())
    else:
        source = duckdb.read_parquet(glob) if name == "aidebt-duckdb" else glob
        if name == "aidebt-full":
            a = adoption(source, **USAGE, cost="cost", success="success", by="plan")
            a.concentration()
            a.unit_cost(0.12)
        else:
            a = adoption(source, **USAGE)
        c = a.cohorts()
        active, cells = int(a.overall["active_users"].sum()), int(c.overall["users"].sum())
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "name": name,
        "seconds": seconds,
        "self_peak_mb": peak,
        "import_mb": baseline,
        "active_user_weeks": active,
        "cohort_users": cells,
    }


def measure(name: str, glob: str) -> dict:
    """Run ``child`` in a new process under /usr/bin/time -v; its peak RSS is the process's."""
    return measure_process([sys.executable, __file__, "--child", name, "--glob", glob], name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--only", nargs="*", choices=RUNS, default=RUNS)
    parser.add_argument("--child")
    parser.add_argument("--glob")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.glob)))
        return

    folder = HERE / "_data" / f"usage-{args.rows}"
    if not any(folder.glob("*.parquet")):
        print(f"Writing about {args.rows:,} rows to {folder} ...")
        write_log(folder, args.rows, args.files)
    glob = str(folder / "*.parquet")
    import polars as pl

    rows = pl.scan_parquet(glob).select(pl.len()).collect().item()
    size = sum(f.stat().st_size for f in folder.glob("*.parquet")) / 2**20
    print(f"Data: {glob} ({rows:,} rows, {size:,.0f} MB on disk), {os.cpu_count()} CPUs\n")

    # Rounds of every run in turn, so that a burst of load on the shared machine hits every
    # run alike; medians and minimums.
    rounds: dict[str, list[dict]] = {name: [] for name in args.only}
    for i in range(args.repeat):
        for name in args.only:
            rounds[name].append(measure(name, glob))
        print(f"  round {i + 1}/{args.repeat} done")
    results: dict[str, dict] = {}
    for name, runs in rounds.items():
        best = dict(runs[0])
        best["seconds"] = statistics.median(r["seconds"] for r in runs)
        best["min_seconds"] = min(r["seconds"] for r in runs)
        # Peak memory varies between runs of the streaming engine on a busy machine: the
        # median is compared, the maximum and every run are shown.
        best["peak_mb"] = statistics.median(r["peak_mb"] for r in runs)
        best["max_peak_mb"] = max(r["peak_mb"] for r in runs)
        best["all_peaks_mb"] = [round(r["peak_mb"]) for r in runs]
        best["all_seconds"] = [round(r["seconds"], 2) for r in runs]
        results[name] = best
        print(
            f"{name:14s} median {best['seconds']:6.2f}s  min {best['min_seconds']:6.2f}s  "
            f"peak {best['peak_mb']:5.0f} MB (max {best['max_peak_mb']:.0f}; imports alone "
            f"{best['import_mb']:.0f} MB)  "
            f"{best['active_user_weeks']:,} active user-weeks, {best['cohort_users']:,} cohort cells"
        )

    def ratio(a: str, b: str, key: str = "seconds") -> str:
        if a in results and b in results:
            if key == "peak_mb":
                return f"{results[a]['peak_mb'] / results[b]['peak_mb']:.2f}x (medians)"
            med = results[a]["seconds"] / results[b]["seconds"]
            low = results[a]["min_seconds"] / results[b]["min_seconds"]
            return f"{med:.2f}x (medians), {low:.2f}x (minimums)"
        return "n/a"

    print()
    for a, b in (
        ("aidebt", "polars-bare"),
        ("aidebt-full", "polars-bare"),
        ("aidebt-duckdb", "duckdb-bare"),
    ):
        print(f"{a} / {b}: time {ratio(a, b)}, peak memory {ratio(a, b, 'peak_mb')}")
    for name, r in results.items():
        for other in results.values():
            for key in ("active_user_weeks", "cohort_users"):
                if r[key] != other[key]:
                    raise SystemExit(
                        f"{name} counted {key} = {r[key]}, {other['name']} {other[key]}"
                    )
    out = HERE / "_data" / "bench_lifecycle.json"
    out.write_text(json.dumps({"rows": rows, "results": results}, indent=2))
    print(f"\nEvery run counted the same active user-weeks and cohort cells. Figures: {out}")


if __name__ == "__main__":
    main()
