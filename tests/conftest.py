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
