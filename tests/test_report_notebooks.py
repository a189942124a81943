"""Every notebook in notebooks/ executes under papermill on small data and renders a page
that opens offline with every chart drawn, even when group and column names are hostile."""

from __future__ import annotations

import json

import polars as pl
import pytest
from conftest import XSS_GROUP, write_demo_tables

from aidebt.cli import DEMO_TABLES
from aidebt.report import latest_month, list_notebooks, render
from aidebt.report.notebooks import example_policy
from aidebt.report.notebooks import shipped as shipped_folder

pytestmark = pytest.mark.slow

HOSTILE_COLUMN = "<i>channel</i>"


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """All shipped notebooks rendered for the last month of a small demo log whose region
    "EU" is renamed to an HTML payload and whose channel column has an HTML name."""
    folder = tmp_path_factory.mktemp("shipped")
    tables = write_demo_tables(folder, n_per_month=1_500, months=3, n_eval=400, n_items=600)
    log = (
        tables["production"]
        .with_columns(pl.col("region").replace("EU", XSS_GROUP))
        .rename({"channel": HOSTILE_COLUMN})
    )
    log.write_parquet(folder / "production.parquet")
    tables["eval"].rename({"channel": HOSTILE_COLUMN}).write_parquet(folder / "eval.parquet")
    month = latest_month(log, "ts")
    # The demo's columns, words and gates, with the hostile column in place of channel;
    # the data paths given below take precedence over the config's.
    config = folder / "audit.toml"
    config.write_text(example_policy().read_text().replace('"channel"', f'"{HOSTILE_COLUMN}"'))
    result = render(
        "all",
        month=month,
        config=config,
        data=folder / "production.parquet",
        eval_data=folder / "eval.parquet",
        parameters={
            **{name: str(folder / f"{table}.parquet") for name, table in DEMO_TABLES.items()},
            "versions_config": str(shipped_folder("examples") / "versions.toml"),
            "registry": str(shipped_folder("examples") / "registry.toml"),
        },
        out=folder / "reports",
        progress=False,
        raise_on_failure=False,
    )
    return result


def test_every_shipped_notebook_executes_and_publishes(shipped):
    assert [str(f) for f in shipped.failed] == []
    assert {p.name for p in shipped.published} == {p.stem for p in list_notebooks()}
    for item in shipped.published:
        assert len(item.html.read_bytes()) < 1_500_000
        page = item.html.read_text()
        assert "<img src=x" not in page and "<i>channel</i>" not in page


@pytest.mark.browser
def test_every_shipped_report_opens_offline_with_every_chart_drawn(browser, shipped):
    from browser import open_report

    manifest = json.loads(shipped.published[0].manifest.read_text())
    charts = {e["notebook"]: e["charts"] for e in manifest["reports"]}
    for item in shipped.published:
        page = open_report(browser, item.html)
        assert page.blocked == [], item.name
        assert page.console_errors == [], item.name
        assert page.charts_total == page.charts_drawn == charts[item.name] > 0, item.name
        assert page.xss is None
    subgroup = open_report(browser, shipped.published[-1].html.with_name("subgroup_audit.html"))
    assert f"By {HOSTILE_COLUMN}" in subgroup.text


def test_the_example_policy_ships_for_the_demo():
    """`aidebt demo` renders with examples/audit.toml, so its monthly report has gates."""
    from aidebt.config import load_config
    from aidebt.report.notebooks import example_policy

    policy = example_policy()
    assert policy is not None and policy.name == "audit.toml"
    assert "gates" in load_config(policy).raw
