"""Shared fixtures. Report fixtures execute notebooks once per session (kernels are slow)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import polars as pl
import pytest

TEST_NOTEBOOKS = Path(__file__).parent / "data" / "notebooks"

# Group names that would run code if a page pasted them as HTML.
XSS_GROUP = "<img src=x onerror=window.__xss=1>"
SCRIPT_GROUP = "<script>window.__xss=2</script>"


@pytest.fixture(scope="session")
def test_notebooks() -> Path:
    """tests/data/notebooks: chart (2 charts, key figures, data-quoting prose),
    plain (no chart, a required parameter ``note``), failing (raises in cell 4)."""
    return TEST_NOTEBOOKS


@pytest.fixture(scope="session")
def small_log(tmp_path_factory) -> Path:
    """A parquet log over 2026-10 and 2026-11: 400 rows a month, 4 regions (2 hostile)."""
    regions = ["EU", "NA", XSS_GROUP, SCRIPT_GROUP]
    rows = [
        {
            "ts": dt.datetime(2026, month, 1 + i % 28, 12),
            "region": regions[i % 4],
            "y": int((i * 7919) % 10 < 7),
        }
        for month in (10, 11)
        for i in range(400)
    ]
    path = tmp_path_factory.mktemp("data") / "log.parquet"
    pl.DataFrame(rows).write_parquet(path)
    return path


@pytest.fixture(scope="session")
def rendered(tmp_path_factory, small_log, test_notebooks):
    """The chart and plain test notebooks rendered once for 2026-11."""
    from aidebt.report import render

    out = tmp_path_factory.mktemp("rendered") / "reports"
    return render(
        ["chart", "plain"],
        month="2026-11",
        data=small_log,
        parameters={"note": "a <b>note</b>"},
        out=out,
        notebooks_dir=test_notebooks,
        progress=False,
    )


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium; skipped where absent, except in CI where it must exist."""
    from browser import chromium_available, launch

    if not chromium_available():
        message = "/usr/bin/chromium is not installed"
        if os.environ.get("CI"):
            pytest.fail(f"{message}, and CI is set: the browser tests must run")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


# -- the reports on two differently shaped data sets (issue 12) -------------------------
@pytest.fixture(scope="session")
def people_config(tmp_path_factory) -> Path:
    """The recidivism-like data set as CSV (text dates, text labels, no score, no version,
    no golden set) and its audit.toml (its columns and words)."""
    from recidivism import write

    return write(tmp_path_factory.mktemp("people"))


def write_demo_tables(
    folder: Path, *, n_per_month: int, months: int, n_eval: int, n_items: int = 3_000
) -> dict[str, pl.DataFrame]:
    """The tables `aidebt demo` writes (:func:`aidebt.datasets.write_demo`), smaller, as
    ``folder/NAME.parquet``: the log from 2025-10 with its answers' key, its golden set,
    labels, events and ratings, the version runs, published figures and a usage log over
    the same months. Returns the frames by name."""
    from aidebt import datasets

    feedback = datasets.demo_feedback(n_per_month=n_per_month, months=months)
    tables = {
        "production": feedback["interactions"],
        "eval": datasets.demo_eval(n=n_eval),
        "labels": datasets.demo_labels(n_items=2_000, n_per_month=n_per_month, months=months),
        "versions": datasets.demo_versions(n_items=n_items),
        "published": datasets.demo_published(),
        "events": feedback["events"],
        "ratings": feedback["ratings"],
        "usage": datasets.demo_usage(n_users=300, start="2025-10-01", weeks=months * 4 + 2),
    }
    for name, frame in tables.items():
        frame.write_parquet(folder / f"{name}.parquet")
    return tables


@pytest.fixture(scope="session")
def demo_config(tmp_path_factory) -> Path:
    """A small demo log (with its answers' key), golden set, label table, version runs,
    published figures, feedback events and ratings and usage log next to a copy of
    examples/audit.toml (its relative paths point at them, as in the repository after
    `aidebt demo`; the tables `aidebt demo` passes are in [report.parameters])."""
    from aidebt.report.notebooks import example_policy, shipped

    root = tmp_path_factory.mktemp("demo")
    data = root / "demo_data"
    data.mkdir()
    write_demo_tables(data, n_per_month=2_000, months=6, n_eval=800)
    (root / "examples").mkdir()
    config = root / "examples" / "audit.toml"
    text = example_policy().read_text()
    table = "[report.parameters]\n"
    assert table in text
    from aidebt.cli import DEMO_TABLES

    given = "".join(
        f'{name} = "../demo_data/{file}.parquet"\n' for name, file in DEMO_TABLES.items()
    )
    examples = shipped("examples")
    given += f'versions_config = "{examples / "versions.toml"}"\n'
    given += f'registry = "{examples / "registry.toml"}"\n'
    config.write_text(text.replace(table, table + given))
    return config


def _render_all(config: Path, month: str, out: Path):
    from aidebt.report import render

    return render(
        "all", month=month, config=config, out=out, progress=False, raise_on_failure=False
    )


@pytest.fixture(scope="session")
def demo_reports(tmp_path_factory, demo_config):
    return _render_all(demo_config, "2026-03", tmp_path_factory.mktemp("demo_reports"))


@pytest.fixture(scope="session")
def people_reports(tmp_path_factory, people_config):
    return _render_all(people_config, "2014-12", tmp_path_factory.mktemp("people_reports"))
