"""Rendered reports opened offline in headless Chromium: no request leaves the page,
nothing errors, every chart is drawn, and hostile group names stay text."""

from __future__ import annotations

import json

import nbformat
import pytest
from browser import hover_tooltip, open_report
from conftest import SCRIPT_GROUP, XSS_GROUP

from aidebt.report.export import to_html

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def charts_produced(result, name):
    doc = json.loads((result.out / "2026-11" / "manifest.json").read_text())
    return next(e["charts"] for e in doc["reports"] if e["notebook"] == name)


@pytest.mark.parametrize("name", ["chart", "plain"])
def test_report_opens_offline_and_draws_every_chart(browser, rendered, name):
    page = open_report(browser, rendered.out / "2026-11" / f"{name}.html")
    assert page.blocked == []
    assert page.console_errors == []
    assert page.charts_total == page.charts_drawn == charts_produced(rendered, name)


def test_hostile_group_names_show_as_text_and_run_nothing(browser, rendered):
    page = open_report(browser, rendered.out / "2026-11" / "chart.html")
    assert XSS_GROUP in page.text  # the table and the sentence quote it
    assert SCRIPT_GROUP.split(">")[0] + ">" in page.text
    assert page.xss is None


def test_tooltips_show_n_and_the_interval(browser, rendered):
    text = hover_tooltip(browser, rendered.out / "2026-11" / "chart.html", ".mark-symbol path")
    for field in ("region", "n", "lo", "hi"):
        assert field in text.split()


def test_index_page_opens_offline(browser, rendered):
    page = open_report(browser, rendered.index)
    assert page.blocked == [] and page.console_errors == []
    assert "Chart test report" in page.text and XSS_GROUP in page.text
    assert page.xss is None


def test_unescaped_html_from_a_careless_output_still_cannot_run(browser, tmp_path):
    """Defense in depth: the page's Content-Security-Policy blocks inline handlers and
    remote loads even if some library pastes a data value into HTML unescaped."""
    nb = nbformat.v4.new_notebook()
    hostile = f'{XSS_GROUP}<script>window.__xss=2</script><img src="https://example.com/x.png">'
    nb.cells = [
        nbformat.v4.new_code_cell(
            outputs=[nbformat.v4.new_output("display_data", data={"text/html": hostile})]
        )
    ]
    path = tmp_path / "careless.html"
    path.write_text(to_html(nb, name="c", title="c", month="2026-11", revision=1, generated="now"))
    page = open_report(browser, path)
    assert page.xss is None
    assert page.blocked == []  # refused by the policy before any request was made
    assert page.console_errors  # ...and the browser says so


def test_a_hostile_notebook_cannot_navigate_the_reader_away(browser, tmp_path):
    """A meta refresh in a third-party notebook's markdown: the CSP cannot block it, the
    export must remove it. Opened offline, the page stays put and requests nothing."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# Quarterly numbers\n\n"
            '<meta http-equiv="refresh" content="0; url=https://example.com/phish">\n\n'
            '<base href="https://example.com/"><a href="page.html">relative link</a>'
        )
    ]
    path = tmp_path / "hostile.html"
    path.write_text(to_html(nb, name="h", title="h", month="2026-11", revision=1, generated="now"))
    context = browser.new_context()
    page, requests = context.new_page(), []
    page.route(
        "**/*",
        lambda r: (
            r.continue_()
            if r.request.url.startswith("file:")
            else (requests.append(r.request.url), r.abort())
        ),
    )
    try:
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_timeout(1500)  # a refresh of 0 s fires right after load
        assert requests == [] and page.url == path.as_uri()
        assert "Quarterly numbers" in page.inner_text("body")
    finally:
        context.close()
