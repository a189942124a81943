"""A report render against a bare papermill + nbconvert run of the same notebook.

Same notebook, same kernel, same run; ratios matter, not seconds (a shared 2-core
machine). The notebook is ``tests/data/notebooks/plain.ipynb``: a parameters cell and one
sentence, so what is timed is the machinery around a notebook, not an analysis:

* bare: ``papermill.execute_notebook`` (the parameters injected) and nbconvert's stock
  ``HTMLExporter`` writing the page: what anyone would script by hand;
* aidebt: ``aidebt.report.render`` of the same notebook for a month of a small parquet
  log: the columns checked before the kernel starts, the setup cell, the execution, the
  offline export (the page's template, its Content-Security-Policy), the inputs' sha256
  and row count in the manifest, the revision published under the store's lock and the
  index rewritten.

Each is run ``--repeat`` times alternately, after one warm-up of each; the medians and
their ratio are printed. The issue's goal (22) is an overhead under 1.3x.

    python benchmarks/bench_render.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE.parent / "tests" / "data" / "notebooks" / "plain.ipynb"


def bare(folder: Path, data: Path) -> float:
    import papermill
    from nbconvert import HTMLExporter

    start = time.perf_counter()
    executed = folder / "plain.ipynb"
    nb = papermill.execute_notebook(
        str(NOTEBOOK),
        str(executed),
        parameters={"data": str(data), "month": "2026-11", "note": "a sentence"},
        progress_bar=False,
        kernel_name="python3",
    )
    html, _ = HTMLExporter(exclude_input=True).from_notebook_node(nb)
    (folder / "plain.html").write_text(html, encoding="utf-8")
    return time.perf_counter() - start


def aidebt_render(folder: Path, data: Path) -> float:
    from aidebt.report import render

    start = time.perf_counter()
    render(
        [str(NOTEBOOK)],
        month="2026-11",
        data=str(data),
        parameters={"note": "a sentence"},
        out=str(folder),
        progress=False,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "log.parquet"
        pl.DataFrame(
            {
                "ts": [dt.datetime(2026, 11, 1 + i % 28) for i in range(1_000)],
                "y": [i % 2 for i in range(1_000)],
            }
        ).write_parquet(data)
        times: dict[str, list[float]] = {"bare": [], "aidebt": []}
        for i in range(args.repeat + 1):
            for name, run in (("bare", bare), ("aidebt", aidebt_render)):
                folder = root / f"{name}{i}"
                folder.mkdir()
                took = run(folder, data)
                if i:  # the first round warms both up (imports, the kernel spec)
                    times[name].append(took)
    b, a = statistics.median(times["bare"]), statistics.median(times["aidebt"])
    print(f"bare papermill + nbconvert: median {b:.2f} s over {args.repeat} runs")
    print(f"aidebt.report.render:       median {a:.2f} s")
    print(f"ratio aidebt / bare:        {a / b:.2f}x")


if __name__ == "__main__":
    main()
