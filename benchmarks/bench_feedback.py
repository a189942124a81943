"""Implicit labels for a 50M-event log read from its path: aidebt vs a bare polars window query.

Writes an event log of ``--events`` events (default 50M; about 12.5M answered interactions
of ~4 events each, in sessions of ~5 interactions) as ``--files`` time-ordered parquet files
under ``benchmarks/_data/feedback-<events>/`` (not committed; written once, reused), then
measures, each in a fresh Python process (so peak memory is the process's own):

* ``polars-window``  the same rules as a bare polars query written the way one would by
                     hand: each interaction's answer time by a window function
                     (``min().over(interaction)``), each rule's first firing time by a
                     group-by, the label by ``when/then`` (no sessions, no pending check);
* ``aidebt``         ``implicit_labels(path, ..., responses="answer", sink=DIR)``: the rules
                     as data, the rule check (one small query over the event names),
                     precedence, abandonment, pending windows at the end of the log,
                     written in parts of 5M events one after another (bounded memory);
* ``aidebt-session`` the same with ``session=``: a new answer in the session within the
                     abandon window is not abandonment (one more window function, over
                     the answers);
* ``polars-window-session`` the bare query with the same session rule;
* ``aidebt-query``   ``implicit_labels(path, ...)`` without ``sink``: one lazy query, which
                     the caller sinks to parquet (memory follows the number of
                     interactions: the streaming engine runs a union's branches together).

Each run writes its labels to parquet (the labels of 12.5M interactions are the output,
too big to hold for nothing), and every run must label the same number of interactions as
``aidebt`` (the bare query has no pending check: a few labels at the log's end differ). Wall time is measured inside the process
around the call (imports excluded), peak resident memory of the whole process with
``/usr/bin/time -v``. Goal: aidebt within 2x the time of the bare window query and under
1.5 GB.

    python benchmarks/bench_feedback.py [--events 50000000] [--files 10] [--repeat 3] [--only NAME ...]

Measured 2026-11-30 (50M events, 10 files, 2 shared cores): ``aidebt`` 40.7 s and 641 MB
peak against ``polars-window`` 64.2 s and 2,892 MB (0.63x the time); with sessions,
``aidebt-session`` 79.9 s and 633 MB against ``polars-window-session`` 82.2 s and 3,506 MB
(0.97x); ``aidebt-query`` (no sink) 50.8 s, 2,590 MB. Goal met: within 2x, under 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path

from _measure import measure_process

HERE = Path(__file__).resolve().parent
RUNS = ["polars-window", "aidebt", "polars-window-session", "aidebt-session", "aidebt-query"]
RULES = {
    "positive": ["accept", "copy"],
    "negative": [("undo", "30s"), ("rephrase", "2m"), "regenerate"],
    "abandon": "10m",
}
# What a user does after an answer (one behaviour each), and the event that shows it.
BEHAVIOURS = ["accept", "copy", "undo", "rephrase", "regenerate", "abandon", "browse"]
BEHAVIOUR_P = [0.50, 0.10, 0.10, 0.10, 0.05, 0.10, 0.05]
NEUTRAL = ["view", "scroll", "hover", "view_sources"]


# --------------------------------------------------------------------------- data


def write_log(folder: Path, events: int, files: int, seed: int = 0) -> None:
    """A year of answers and what users did next, time-ordered, in ``files`` parquet files."""
    import numpy as np
    import polars as pl

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    start = np.datetime64("2025-01-01T00:00:00", "us")
    year_us = 365 * 86_400 * 1_000_000
    per_file = -(-events // files)
    names = pl.Series([*BEHAVIOURS, *NEUTRAL, "answer"])
    answer_code = len(names) - 1
    next_id = 0
    for i in range(files):
        target = min(per_file, events - i * per_file)
        if target <= 0:
            break
        t0 = time.perf_counter()
        n = target // 4  # interactions: ~4 events each
        ids = next_id + np.arange(n, dtype=np.int64)
        next_id += n
        lo, hi = i * year_us // files, (i + 1) * year_us // files
        # Sessions of ~5 interactions, a minute to an hour apart within a session.
        session = ids // 5
        base = lo + np.sort(rng.integers(0, hi - lo, n // 5 + 1))[session - session[0]]
        answer = base + (ids % 5) * rng.integers(60, 3_600, n) * 1_000_000
        behaviour = rng.choice(len(BEHAVIOURS), n, p=BEHAVIOUR_P)
        delay = rng.integers(2, 110, n) * 1_000_000  # every rule event within its window
        has_rule = (behaviour != BEHAVIOURS.index("abandon")) & (
            behaviour != BEHAVIOURS.index("browse")
        )
        neutral = rng.poisson(2.0, n)
        neutral[behaviour == BEHAVIOURS.index("abandon")] = 0
        k = int(neutral.sum())
        owner = np.repeat(np.arange(n), neutral)
        frame = pl.DataFrame(
            {
                "id": np.concatenate([ids, ids[has_rule], ids[owner]]),
                "session": np.concatenate([session, session[has_rule], session[owner]]),
                "ts": start
                + np.concatenate(
                    [
                        answer,
                        (answer + delay)[has_rule],
                        answer[owner] + rng.integers(1, 300, k) * 1_000_000,
                    ]
                ).astype("timedelta64[us]"),
                "event": names.gather(
                    np.concatenate(
                        [
                            np.full(n, answer_code),
                            behaviour[has_rule],
                            len(BEHAVIOURS) + rng.integers(0, len(NEUTRAL), k),
                        ]
                    )
                ),
            }
        ).sort("ts")
        frame.write_parquet(folder / f"part-{i:03d}.parquet")
        print(
            f"  wrote part {i + 1}/{files}: {frame.height:,} events, {n:,} interactions "
            f"in {time.perf_counter() - t0:.1f}s"
        )
        del frame


# -------------------------------------------------------------------- measurements


def _bare_window(glob: str, out: str, session: bool) -> None:
    """The rules as one bare polars query: window for the answer time, group-by, when/then."""
    import polars as pl

    ts, ev = pl.col("ts"), pl.col("event")
    t0 = ts.filter(ev == "answer").min().over("id")

    def first(event: str, within_s: float | None = None) -> pl.Expr:
        cond = (ev == event) & (pl.col("delta") >= 0)
        if within_s is not None:
            cond &= pl.col("delta") <= within_s * 1e6
        return pl.col("delta").filter(cond).min()

    lf = (
        pl.scan_parquet(glob)
        .with_columns(t0=t0)
        .with_columns(delta=(ts - pl.col("t0")).dt.total_microseconds())
        .filter(pl.col("delta").is_not_null())
    )
    agg = lf.group_by("id").agg(
        first("undo", 30).alias("undo"),
        first("rephrase", 120).alias("rephrase"),
        first("regenerate").alias("regenerate"),
        first("accept").alias("accept"),
        first("copy").alias("copy"),
        pl.col("delta").filter(pl.col("delta") > 0).min().alias("next"),
        pl.col("t0").first(),
        pl.col("session").min(),
    )
    if session:
        t0 = pl.col("t0")
        after, before = t0.shift(-1).over("session"), t0.shift(1).over("session")
        gap = (
            pl.when((after == t0) | (before == t0))
            .then(0)
            .otherwise((after - t0).dt.total_microseconds())
        )
        agg = agg.sort("session", "t0").with_columns(pl.min_horizontal("next", gap).alias("next"))
    neg = pl.min_horizontal("undo", "rephrase", "regenerate")
    pos = pl.min_horizontal("accept", "copy")
    abandoned = pl.col("next").is_null() | (pl.col("next") > 600e6)
    label = (
        pl.when(neg.is_not_null())
        .then(0)
        .when(pos.is_not_null())
        .then(1)
        .when(abandoned)
        .then(0)
        .cast(pl.Int8)
    )
    agg.select("id", label.alias("implicit")).sink_parquet(out)


def _aidebt(glob: str, out: str, session: bool, sink: bool) -> None:
    from aidebt.feedback import implicit_labels

    labels = implicit_labels(
        glob,
        interaction="id",
        time="ts",
        event="event",
        rules=RULES,
        responses="answer",
        session="session" if session else None,
        sink=out if sink else None,
    )
    if not sink:
        labels.sink_parquet(out)


def child(name: str, glob: str, out: str) -> dict:
    """One measurement, in this (fresh) process: import, time the call, report JSON."""
    import polars as pl

    import aidebt.feedback  # noqa: F401  (imports outside the timed call, for every run alike)

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    if name.startswith("polars-window"):
        _bare_window(glob, out, session=name.endswith("session"))
    elif name.startswith("aidebt"):
        _aidebt(glob, out, session=name.endswith("session"), sink=name != "aidebt-query")
    else:
        raise SystemExit(f"unknown run {name!r}")
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    written = str(Path(out) / "*.parquet") if Path(out).is_dir() else out
    counts = (
        pl.scan_parquet(written)
        .group_by("implicit")
        .len()
        .collect()
        .sort("implicit", nulls_last=True)
    )
    return {
        "name": name,
        "seconds": seconds,
        "self_peak_mb": peak,
        "import_mb": baseline,
        "interactions": int(counts["len"].sum()),
        "labels": {str(k): int(v) for k, v in counts.rows()},
    }


def measure(name: str, glob: str, out: str) -> dict:
    """Run ``child`` in a new process under /usr/bin/time -v; its peak RSS is the process's."""
    target = Path(out)
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    cmd = [sys.executable, __file__, "--child", name, "--glob", glob, "--out", out]
    return measure_process(cmd, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", nargs="*", choices=RUNS, default=RUNS)
    parser.add_argument("--child")
    parser.add_argument("--glob")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.glob, args.out)))
        return

    import polars as pl

    folder = HERE / "_data" / f"feedback-{args.events}"
    if not any(folder.glob("*.parquet")):
        print(f"Writing {args.events:,} events to {folder} ...")
        t0 = time.perf_counter()
        write_log(folder, args.events, args.files)
        print(f"  done in {time.perf_counter() - t0:.0f}s")
    glob = str(folder / "*.parquet")
    size = sum(f.stat().st_size for f in folder.glob("*.parquet")) / 2**20
    print(
        f"Data: {glob} ({size:,.0f} MB on disk), {os.cpu_count()} CPUs, polars {pl.__version__}\n"
    )
    out_dir = HERE / "_data" / "feedback-out"
    out_dir.mkdir(parents=True, exist_ok=True)

    # Rounds of every run in turn, so that a burst of load on the shared machine hits every
    # run alike; medians and minimums.
    rounds: dict[str, list[dict]] = {name: [] for name in args.only}
    for i in range(args.repeat):
        for name in args.only:
            # aidebt writes a directory of parts; the others one parquet file.
            sinks_parts = name in ("aidebt", "aidebt-session")
            target = out_dir / (name if sinks_parts else f"{name}.parquet")
            rounds[name].append(measure(name, glob, str(target)))
        print(f"  round {i + 1}/{args.repeat} done")
    results: dict[str, dict] = {}
    for name, runs in rounds.items():
        best = dict(runs[0])
        best["seconds"] = statistics.median(r["seconds"] for r in runs)
        best["min_seconds"] = min(r["seconds"] for r in runs)
        best["peak_mb"] = max(r["peak_mb"] for r in runs)
        best["all_seconds"] = [round(r["seconds"], 2) for r in runs]
        results[name] = best
        print(
            f"{name:22s} median {best['seconds']:6.2f}s  min {best['min_seconds']:6.2f}s  "
            f"peak {best['peak_mb']:6.0f} MB (imports {best['import_mb']:.0f} MB)  "
            f"{best['interactions']:,} interactions {best['labels']}  runs {best['all_seconds']}"
        )

    def ratio(a: str, b: str) -> str:
        if a in results and b in results:
            med = results[a]["seconds"] / results[b]["seconds"]
            low = results[a]["min_seconds"] / results[b]["min_seconds"]
            return f"{med:.2f}x (medians), {low:.2f}x (minimums)"
        return "n/a"

    print()
    print(f"aidebt / bare polars window query:               {ratio('aidebt', 'polars-window')}")
    print(
        "aidebt with sessions / bare window with sessions: "
        f"{ratio('aidebt-session', 'polars-window-session')} (goal <= 2x)"
    )
    print(f"aidebt one query / aidebt in parts:               {ratio('aidebt-query', 'aidebt')}")
    for name in ("aidebt", "aidebt-session", "aidebt-query"):
        if name in results:
            ok = results[name]["peak_mb"] < 1536
            print(f"{name} peak memory: {results[name]['peak_mb']:.0f} MB (goal < 1536 MB: {ok})")
    for a, b in (("aidebt", "polars-window"), ("aidebt-session", "polars-window-session")):
        if a in results and b in results:
            if results[a]["interactions"] != results[b]["interactions"]:
                raise SystemExit(f"{a} and {b} label different numbers of interactions")
            if results[a]["labels"] != results[b]["labels"]:
                print(f"note: {a} {results[a]['labels']} vs {b} {results[b]['labels']}")
    out = HERE / "_data" / "bench_feedback.json"
    out.write_text(json.dumps({"events": args.events, "results": results}, indent=2))
    print(f"\nFigures written to {out}")


if __name__ == "__main__":
    main()
