"""Rendering real (tiny) notebooks with papermill: what lands in the reports folder."""

from __future__ import annotations

import hashlib
import json
import re

import nbformat
import pytest
from conftest import XSS_GROUP

from aidebt.report import render
from aidebt.report.export import vega_bundle

pytestmark = pytest.mark.slow

FETCHING_ATTRIBUTE = re.compile(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


def manifest(result):
    return json.loads((result.out / "2026-11" / "manifest.json").read_text())


def entry(result, name, revision=1):
    return next(
        e
        for e in manifest(result)["reports"]
        if e["notebook"] == name and e["revision"] == revision
    )


def test_every_file_lands_where_the_layout_says(rendered):
    month = rendered.out / "2026-11"
    assert [p.html for p in rendered.published] == [month / "chart.html", month / "plain.html"]
    for name in ("chart", "plain"):
        assert (month / f"{name}.html").is_file()
        nbformat.validate(nbformat.read(month / f"{name}.ipynb", as_version=4))
    assert rendered.index == rendered.out / "index.html"
    assert not list(rendered.out.glob(".run-*"))  # the temporary folder is gone


def test_manifest_records_parameters_inputs_versions_times_and_figures(rendered, small_log):
    e = entry(rendered, "chart")
    data = e["inputs"]["data"]
    assert data["sha256"] == hashlib.sha256(small_log.read_bytes()).hexdigest()
    assert (data["rows"], data["month_rows"]) == (800, 400)
    assert e["parameters"].keys() == {"data", "month"} and e["parameters"]["month"] == "2026-11"
    month = rendered.out / "2026-11"  # paths are relative to the manifest's folder
    assert (month / e["parameters"]["data"]).resolve() == small_log.resolve()
    assert (month / data["path"]).resolve() == small_log.resolve()
    assert e["packages"]["aidebt"] and e["packages"]["polars"] and e["packages"]["altair"]
    assert e["git"] is None or len(e["git"]["commit"]) == 40
    assert e["started"] <= e["finished"] and e["seconds"] > 0
    assert e["key_figures"] == {"rows": 400, "groups": 4, "largest_group": XSS_GROUP}
    assert e["charts"] == 2
    html = (rendered.out / "2026-11" / "chart.html").read_bytes()
    assert e["html_sha256"] == hashlib.sha256(html).hexdigest()
    assert entry(rendered, "plain")["parameters"]["note"] == "a <b>note</b>"


def test_html_is_offline_small_and_shows_no_machinery(rendered, small_log):
    page = (rendered.out / "2026-11" / "chart.html").read_text()
    assert not FETCHING_ATTRIBUTE.search(page)
    assert "require" not in page.replace(vega_bundle(), "").lower()
    assert "mathjax" not in page.lower()
    assert page.count(vega_bundle()) == 1
    assert len(page.encode()) < 1_500_000
    for hidden in (
        str(small_log.parent),
        "load_month",
        "a warning readers should not see",
        "rows = 400",
        "aidebt.report.kernel",
    ):
        assert hidden not in page
    assert "done" in page  # stdout stays


def test_data_values_are_escaped_in_the_html(rendered):
    page = (rendered.out / "2026-11" / "chart.html").read_text()
    assert "<img src=x" not in page and "<script>window.__xss" not in page
    assert "&lt;img src=x onerror=window.__xss=1&gt;" in page  # table and prose
    plain = (rendered.out / "2026-11" / "plain.html").read_text()
    assert "a &lt;b&gt;note&lt;/b&gt;" in plain and "<script" not in plain


def test_rerun_adds_a_revision_and_leaves_the_first_byte_for_byte(
    rendered, small_log, test_notebooks
):
    first = rendered.out / "2026-11" / "chart.html"
    before = first.read_bytes()
    again = render(
        "chart",
        month="2026-11",
        data=small_log,
        out=rendered.out,
        notebooks_dir=test_notebooks,
        progress=False,
        with_code=True,
    )
    (published,) = again.published
    assert (published.revision, published.html.name) == (2, "chart.r2.html")
    assert first.read_bytes() == before
    assert "load_month" in published.html.read_text()  # --with-code
    assert entry(again, "chart", 2)["with_code"] is True
    index = (rendered.out / "index.html").read_text()
    assert 'href="2026-11/chart.r2.html"' in index and 'href="2026-11/chart.html"' in index
