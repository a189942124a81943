"""Audit a 50M-row parquet log from its path: aidebt vs a bare group-by, peak memory and time.

Writes a prediction log of ``--rows`` rows (default 50M) as ``--files`` time-ordered parquet
files under ``benchmarks/_data/scale-<rows>/`` (not committed; written once, reused), then
measures, each in a fresh Python process (so peak memory is the process's own):

* ``polars-bare``   the fastest plain polars query we know for the same confusion counts
                    per (region, language, tier): a streaming group-by of the parquet scan;
* ``aidebt``        ``ad.disaggregate(path, by=[region, language, tier])``: values, Wilson
                    intervals, disparities with Newcombe intervals, Holm-adjusted p-values;
* ``aidebt-scores`` the same plus ``mean_score`` and ``brier`` (float sums of a score);
* ``aidebt-month``  one month of it, through ``frames.filter_window`` (row groups skipped);
* ``duckdb-bare``   the same counts in DuckDB SQL over ``read_parquet``;
* ``aidebt-duckdb`` ``ad.disaggregate`` on a DuckDB relation over the same files.

Wall time is measured inside the process around the call (imports excluded) and the peak
resident memory of the whole process with ``/usr/bin/time -v`` (or ``getrusage`` when it is
absent). Goal: aidebt under 1 GB and within 2.5x the time of the bare polars group-by.

    python benchmarks/bench_scale.py [--rows 50000000] [--files 10] [--repeat 3] [--only NAME ...]
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
BY = ["region", "language", "tier"]
METRICS = ["accuracy", "fpr", "fnr", "selection_rate"]
RUNS = ["polars-bare", "aidebt", "aidebt-scores", "aidebt-month", "duckdb-bare", "aidebt-duckdb"]

REGIONS = ["EU-West", "EU-North", "NA-East", "NA-West", "LATAM", "APAC-South", "APAC-East", "MEA"]
LANGUAGES = ["en", "de", "fr", "es", "pt", "it", "nl", "pl", "ja", "ko", "zh", "ar"]
TIERS = ["free", "pro", "enterprise"]


# --------------------------------------------------------------------------- data


def write_log(folder: Path, rows: int, files: int, seed: int = 0) -> None:
    """A year of predictions, time-ordered, in ``files`` parquet files (vectorized chunks)."""
    import numpy as np
    import polars as pl

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    start = np.datetime64("2025-01-01T00:00:00", "us")
    year_us = 365 * 86_400 * 1_000_000
    per_file = -(-rows // files)
    regions, languages, tiers = (pl.Series(v) for v in (REGIONS, LANGUAGES, TIERS))
    for i in range(files):
        n = min(per_file, rows - i * per_file)
        if n <= 0:
            break
        t0 = time.perf_counter()
        lo, hi = i * year_us // files, (i + 1) * year_us // files
        ts = start + np.sort(rng.integers(lo, hi, n)).astype("timedelta64[us]")
        region = rng.integers(0, len(REGIONS), n, dtype=np.uint8)
        language = rng.integers(0, len(LANGUAGES), n, dtype=np.uint8)
        tier = rng.choice(3, n, p=[0.7, 0.25, 0.05]).astype(np.uint8)
        # A score whose quality varies by segment and decays over the year.
        drift = (np.arange(n) + i * per_file) / rows
        quality = 1.6 - 0.5 * (language >= 8) - 0.4 * drift
        y = (rng.random(n) < 0.3).astype(np.int8)
        score = 1.0 / (1.0 + np.exp(-(quality * (2 * y - 1) + rng.normal(0, 1, n))))
        labeled = rng.random(n) >= 0.03 + 0.2 * (drift > 0.95)  # recent labels arrive late
        frame = pl.DataFrame(
            {
                "ts": ts,
                "region": regions.gather(region),
                "language": languages.gather(language),
                "tier": tiers.gather(tier),
                "y_true": pl.Series(y).set(pl.Series(~labeled), None),
                "y_pred": (score > 0.5).astype(np.int8),
                "score": score,
            }
        )
        frame.write_parquet(folder / f"part-{i:03d}.parquet")
        print(f"  wrote part {i + 1}/{files}: {n:,} rows in {time.perf_counter() - t0:.1f}s")
        del frame


# -------------------------------------------------------------------- measurements


def _bare_polars(glob: str):
    import polars as pl

    y, p = pl.col("y_true"), pl.col("y_pred")
    y0 = y.fill_null(0)
    labeled = y.is_not_null().cast(pl.Int64)
    return (
        pl.scan_parquet(glob)
        .select(
            *BY,
            labeled.alias("labeled"),
            y0.alias("pos"),
            (y0 * p).alias("tp"),
            (labeled * p).alias("pred_labeled"),
            p.alias("pred_pos"),
        )
        .group_by(BY)
        .agg(pl.col("labeled", "pos", "tp", "pred_labeled", "pred_pos").sum(), pl.len().alias("n"))
        .collect(engine="streaming")
    )


def _bare_duckdb(glob: str):
    import duckdb

    by = ", ".join(BY)
    return duckdb.sql(
        f"""
        SELECT {by}, count(*) AS n,
               sum((y_true IS NOT NULL)::BIGINT) AS labeled,
               sum(coalesce(y_true, 0)) AS pos,
               sum(coalesce(y_true, 0) * y_pred) AS tp,
               sum((y_true IS NOT NULL)::BIGINT * y_pred) AS pred_labeled,
               sum(y_pred) AS pred_pos
        FROM read_parquet('{glob}') GROUP BY {by}
        """
    ).pl()


def _audit(data, **kwargs):
    import aidebt as ad

    return ad.disaggregate(
        data,
        y_true="y_true",
        y_pred="y_pred",
        by=BY,
        metrics=kwargs.pop("metrics", METRICS),
        **kwargs,
    )


def child(name: str, glob: str) -> dict:
    """One measurement, in this (fresh) process: import, time the call, report JSON."""
    import duckdb  # noqa: F401  (imports outside the timed call, for every run alike)
    import polars as pl

    import aidebt as ad
    from aidebt import frames

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    if name == "polars-bare":
        out = _bare_polars(glob)
        groups, rows = out.height, int(out["n"].sum())
    elif name == "duckdb-bare":
        out = _bare_duckdb(glob)
        groups, rows = out.height, int(out["n"].sum())
    else:
        if name == "aidebt":
            r = _audit(glob)
        elif name == "aidebt-scores":
            r = _audit(glob, metrics=[*METRICS, "mean_score", "brier"], y_score="score")
        elif name == "aidebt-month":
            r = _audit(frames.filter_window(glob, "ts", "2025-11", "2025-12"))
        elif name == "aidebt-duckdb":
            import duckdb

            r = _audit(duckdb.read_parquet(glob))
        else:
            raise SystemExit(f"unknown run {name!r}")
        counts = r.table.filter(pl.col("metric") == "selection_rate")
        groups, rows = counts.height, int(counts["n"].sum())
        assert isinstance(r, ad.Disaggregation)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "name": name,
        "seconds": seconds,
        "self_peak_mb": peak,
        "import_mb": baseline,
        "groups": groups,
        "rows": rows,
    }


def measure(name: str, glob: str) -> dict:
    """Run ``child`` in a new process under /usr/bin/time -v; its peak RSS is the process's."""
    return measure_process([sys.executable, __file__, "--child", name, "--glob", glob], name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", nargs="*", choices=RUNS, default=RUNS)
    parser.add_argument("--child")
    parser.add_argument("--glob")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.glob)))
        return

    folder = HERE / "_data" / f"scale-{args.rows}"
    if not any(folder.glob("*.parquet")):
        print(f"Writing {args.rows:,} rows to {folder} ...")
        t0 = time.perf_counter()
        write_log(folder, args.rows, args.files)
        print(f"  done in {time.perf_counter() - t0:.0f}s")
    glob = str(folder / "*.parquet")
    size = sum(f.stat().st_size for f in folder.glob("*.parquet")) / 2**20
    print(f"Data: {glob} ({size:,.0f} MB on disk), {os.cpu_count()} CPUs\n")

    # Rounds of every run in turn (not all repeats of one run, then the next), so that a
    # burst of load on the shared machine hits every run alike; medians and minimums.
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
        best["process_seconds"] = statistics.median(r["process_seconds"] for r in runs)
        best["peak_mb"] = max(r["peak_mb"] for r in runs)
        best["all_seconds"] = [round(r["seconds"], 2) for r in runs]
        results[name] = best
        print(
            f"{name:14s} median {best['seconds']:5.2f}s  min {best['min_seconds']:5.2f}s  "
            f"peak {best['peak_mb']:5.0f} MB (imports alone {best['import_mb']:.0f} MB)  "
            f"{best['groups']} groups, {best['rows']:,} rows  runs {best['all_seconds']}"
        )

    def ratio(a: str, b: str) -> str:
        if a in results and b in results:
            med = results[a]["seconds"] / results[b]["seconds"]
            low = results[a]["min_seconds"] / results[b]["min_seconds"]
            return f"{med:.2f}x (medians), {low:.2f}x (minimums)"
        return "n/a"

    print()
    print(
        f"aidebt / bare polars streaming group-by: {ratio('aidebt', 'polars-bare')} (goal <= 2.5x)"
    )
    print(f"aidebt+scores / bare polars:             {ratio('aidebt-scores', 'polars-bare')}")
    print(f"aidebt on DuckDB / bare DuckDB SQL:      {ratio('aidebt-duckdb', 'duckdb-bare')}")
    print(f"one month / the whole year:              {ratio('aidebt-month', 'aidebt')}")
    if "aidebt" in results:
        ok = results["aidebt"]["peak_mb"] < 1024
        print(f"aidebt peak memory: {results['aidebt']['peak_mb']:.0f} MB (goal < 1024 MB: {ok})")
    for a, b in (("aidebt", "polars-bare"), ("aidebt-duckdb", "duckdb-bare")):
        if a in results and b in results and results[a]["rows"] != results[b]["rows"]:
            raise SystemExit(f"{a} counted {results[a]['rows']} rows, {b} {results[b]['rows']}")
    out = HERE / "_data" / "bench_scale.json"
    out.write_text(json.dumps({"rows": args.rows, "results": results}, indent=2))
    print(f"\nFigures written to {out}")


if __name__ == "__main__":
    main()
