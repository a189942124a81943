"""Draw a golden-set refresh sample from a 50M-row parquet log: aidebt vs a bare polars rank.

Writes a production log of ``--rows`` rows (default 50M: an integer ``id``, an ``intent`` with
the demo's month-14 mix, a label and a prediction) as ``--files`` parquet files under
``benchmarks/_data/refresh-<rows>/`` (not committed; written once, reused). The parent makes
the plan once (``refresh_plan`` of the demo's golden set against the log, ``--budget`` labels:
one streaming count per input), then measures, each in a fresh Python process (so peak memory
is the process's own):

* ``polars-bare``   the same rule in plain polars, written the obvious way: the key of every
                    row (the same integer arithmetic as aidebt's), ``rank().over("intent")``,
                    keep the planned count per intent (a window over all rows: in memory);
* ``aidebt``        ``plan.sample(path, seed=, id="id")``: a streaming scan that keeps the rows
                    under each intent's key threshold, then the rank on those candidates;
* ``aidebt-duckdb`` the same call on a DuckDB relation over the same files.

Every run must draw exactly the same ids. Wall time is measured inside the process around the
call (imports excluded) and the peak resident memory of the whole process with
``/usr/bin/time -v`` (or ``getrusage`` when it is absent).

    python benchmarks/bench_refresh.py [--rows 50000000] [--files 10] [--budget 10000]

Measured 2026-11-30 (50M rows, 10 files, budget 10,000, medians of 2 rounds, 2 shared
cores): ``aidebt`` 10.7 s and 413 MB peak against ``polars-bare`` 47.4 s and 5,025 MB (0.23x
the time, 0.08x the memory); ``aidebt-duckdb`` 18.2 s, 364 MB; every run drew the same
10,000 ids.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _measure import measure_process

HERE = Path(__file__).resolve().parent
RUNS = ["polars-bare", "aidebt", "aidebt-duckdb"]
INTENTS = ["billing", "shipping", "returns", "account", "technical", "account_recovery"]
MIX = [0.094, 0.079, 0.065, 0.069, 0.31, 0.383]  # the demo's month 14
SEED = 2026


def write_log(folder: Path, rows: int, files: int, seed: int = 0) -> None:
    """``rows`` items with unique integer ids in ``files`` parquet files (vectorized chunks)."""
    import numpy as np
    import polars as pl

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    per_file = -(-rows // files)
    names = pl.Series(INTENTS)
    for i in range(files):
        n = min(per_file, rows - i * per_file)
        if n <= 0:
            break
        intent = rng.choice(len(INTENTS), n, p=np.array(MIX) / sum(MIX)).astype(np.uint8)
        frame = pl.DataFrame(
            {
                "id": np.arange(i * per_file, i * per_file + n, dtype=np.int64) * 7 + 1_000_003,
                "intent": names.gather(intent),
                "y_true": (rng.random(n) < 0.75).astype(np.int8),
                "y_pred": (rng.random(n) < 0.75).astype(np.int8),
            }
        )
        frame.write_parquet(folder / f"part-{i:03d}.parquet")
        print(f"  wrote part {i + 1}/{files}: {n:,} rows")
        del frame


def _bare_polars(glob: str, counts: dict[str, int]):
    """The rule in plain polars: every row's key, a rank per intent over all of them."""
    import polars as pl

    from aidebt.refresh import with_hash_key

    keyed = with_hash_key(pl.scan_parquet(glob).select("id", "intent"), "id", SEED).to_native()
    n = pl.col("intent").replace_strict(counts, default=0, return_dtype=pl.Int64)
    return (
        keyed.filter(pl.col("_key").rank("ordinal").over("intent") <= n)
        .select("id", "intent")
        .collect()
    )


def child(name: str, glob: str, plan_path: str, out: str) -> dict:
    """One measurement, in this (fresh) process: import, time the call, report JSON."""
    import pickle

    import duckdb
    import polars as pl

    with open(plan_path, "rb") as fh:
        plan = pickle.load(fh)
    counts = {
        r["intent"]: int(r["labels"]) for r in plan.table.iter_rows(named=True) if r["labels"]
    }
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    if name == "polars-bare":
        drawn = _bare_polars(glob, counts)
    elif name == "aidebt":
        drawn = plan.sample(glob, seed=SEED, id="id", exclude=False)
    elif name == "aidebt-duckdb":
        drawn = plan.sample(duckdb.read_parquet(glob), seed=SEED, id="id", exclude=False)
    else:
        raise SystemExit(f"unknown run {name!r}")
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    drawn.select(pl.col("id").sort()).write_parquet(out)
    return {
        "name": name,
        "seconds": seconds,
        "self_peak_mb": peak,
        "import_mb": baseline,
        "drawn": drawn.height,
    }


def measure(name: str, glob: str, plan_path: str, out: str) -> dict:
    """Run ``child`` in a new process under /usr/bin/time -v; its peak RSS is the process's."""
    cmd = [sys.executable, __file__, "--child", name, "--glob", glob, "--plan", plan_path]
    return measure_process([*cmd, "--out", out], name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--budget", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--only", nargs="*", choices=RUNS, default=RUNS)
    parser.add_argument("--child")
    parser.add_argument("--glob")
    parser.add_argument("--plan")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.glob, args.plan, args.out)))
        return

    import pickle

    import polars as pl

    import aidebt as ad
    from aidebt.refresh import refresh_plan

    folder = HERE / "_data" / f"refresh-{args.rows}"
    if not any(folder.glob("*.parquet")):
        print(f"Writing {args.rows:,} rows to {folder} ...")
        write_log(folder, args.rows, args.files)
    glob = str(folder / "*.parquet")
    size = sum(f.stat().st_size for f in folder.glob("*.parquet")) / 2**20
    print(f"Data: {glob} ({size:,.0f} MB on disk), {os.cpu_count()} CPUs")
    print(f"polars {pl.__version__}, duckdb {__import__('duckdb').__version__}\n")

    t0 = time.perf_counter()
    plan = refresh_plan(ad.datasets.demo_eval(), glob, by="intent", y_true="y_true",
                        y_pred="y_pred", budget=args.budget)  # fmt: skip
    print(f"refresh_plan over {args.rows:,} rows: {time.perf_counter() - t0:.1f}s")
    print(plan.table.select("intent", "share", "eval_rows", "labels"))
    work = Path(tempfile.mkdtemp())
    plan_path = work / "plan.pkl"
    plan._reference = None  # the golden set is not needed to draw (exclude=False)
    plan_path.write_bytes(pickle.dumps(plan))

    rounds: dict[str, list[dict]] = {name: [] for name in args.only}
    for i in range(args.repeat):
        for name in args.only:
            rounds[name].append(measure(name, glob, str(plan_path), str(work / f"{name}.parquet")))
        print(f"  round {i + 1}/{args.repeat} done")
    results = {}
    for name, runs in rounds.items():
        best = dict(runs[0])
        best["seconds"] = statistics.median(r["seconds"] for r in runs)
        best["peak_mb"] = max(r["peak_mb"] for r in runs)
        best["all_seconds"] = [round(r["seconds"], 2) for r in runs]
        results[name] = best
        print(
            f"{name:14s} median {best['seconds']:6.2f}s  peak {best['peak_mb']:6.0f} MB "
            f"(imports alone {best['import_mb']:.0f} MB)  drew {best['drawn']:,}  "
            f"runs {best['all_seconds']}"
        )
    ids = {name: pl.read_parquet(work / f"{name}.parquet")["id"] for name in results}
    first = next(iter(ids.values()))
    same = all(v.equals(first) for v in ids.values())
    print(f"\nsame ids in every run: {same}")
    if "polars-bare" in results:
        for name in ("aidebt", "aidebt-duckdb"):
            if name in results:
                r, b = results[name], results["polars-bare"]
                print(
                    f"{name} / polars-bare: time {r['seconds'] / b['seconds']:.2f}x, "
                    f"peak memory {r['peak_mb'] / b['peak_mb']:.2f}x"
                )
    out = HERE / "_data" / "bench_refresh.json"
    out.write_text(json.dumps({"rows": args.rows, "results": results, "same": same}, indent=2))
    print(f"Figures written to {out}")
    if not same:
        raise SystemExit("the runs drew different ids")


if __name__ == "__main__":
    main()
