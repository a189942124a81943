"""What the benchmark scripts share: one child process measured from outside.

The scripts run with ``benchmarks/`` first on the path, so ``from _measure import ...``
finds this file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import time
from pathlib import Path


def measure_process(cmd: list[str], name: str) -> dict:
    """Run ``cmd`` (a child that prints its result as JSON on its last line) under
    ``/usr/bin/time -v`` when it exists, so its peak RSS is the whole process's.

    Returns the child's result with ``process_seconds`` (wall time around the process) and
    ``peak_mb`` (from ``time -v``, else the child's own ``self_peak_mb``).
    """
    if shutil.which("time") and Path("/usr/bin/time").exists():
        cmd = ["/usr/bin/time", "-v", *cmd]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ})
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{done.stdout}\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = wall
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    result["peak_mb"] = int(found.group(1)) / 1024 if found else result["self_peak_mb"]
    return result


def median_seconds(fn, repeat: int = 3) -> float:
    """The median wall time of ``repeat`` calls of ``fn()`` in this process."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
