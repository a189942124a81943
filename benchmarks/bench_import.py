"""What importing an analysis costs, against importing polars alone, in the same run.

Each import runs in a fresh interpreter (``python -c "import X"``), alternately, and its
CPU time (user + system, from the child's rusage) is kept: CPU time is what the import
costs; wall time on a shared 2-core machine mostly measures the neighbours. The medians
and each module's ratio to ``import polars`` are printed. The issue's goal (22): the
analysis modules import in well under a second.

    python benchmarks/bench_import.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys

MODULES = [
    "polars",
    "aidebt",
    "aidebt.disaggregate",
    "aidebt.decay",
    "aidebt.drift",
    "aidebt.simpson",
    "aidebt.labels",
    "aidebt.estimate",
    "aidebt.lifecycle",
    "aidebt.gates",
]


def cpu_seconds(module: str) -> float:
    before = os.times()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
    after = os.times()
    return (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    times: dict[str, list[float]] = {m: [] for m in MODULES}
    for module in MODULES:  # warm the file cache
        cpu_seconds(module)
    for _ in range(args.repeat):
        for module in MODULES:
            times[module].append(cpu_seconds(module))
    polars = statistics.median(times["polars"])
    print(f"import CPU time, median of {args.repeat}, {dt.date.today()}:")
    for module in MODULES:
        median = statistics.median(times[module])
        print(f"  {module:<22} {median:6.2f} s  {median / polars:5.2f}x import polars")


if __name__ == "__main__":
    main()
