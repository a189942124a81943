"""The offline HTML export, on hand-built executed notebooks (no kernel needed)."""

from __future__ import annotations

import base64
import hashlib
import re

import nbformat
import pytest

from aidebt.report.export import SETUP_TAG, count_charts, json_script, prepare, to_html, vega_bundle
from aidebt.report.kernel import FIGURE_MIMETYPE

SPEC = {
    "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
    "data": {"values": [{"g": "</script><img src=x onerror=window.__xss=1>", "v": 1}]},
    "mark": "bar",
    "encoding": {
        "x": {"field": "g", "type": "nominal"},
        "y": {"field": "v", "type": "quantitative"},
    },
}
VEGALITE = "application/vnd.vegalite.v6+json"

# A URL in an attribute that makes the browser fetch something.
FETCHING_ATTRIBUTE = re.compile(
    r"""\b(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//""", re.I
)


def executed_notebook(chart=True):
    new = nbformat.v4
    out = new.new_output
    cells = [
        new.new_code_cell("import aidebt.report.kernel; ...", metadata={"tags": [SETUP_TAG]}),
        new.new_markdown_cell("# Audit of November\n\nWhat we found."),
        new.new_code_cell("data = None", metadata={"tags": ["parameters"]}),
        new.new_code_cell(
            'data = "/secret/path/log.parquet"', metadata={"tags": ["injected-parameters"]}
        ),
        new.new_code_cell(
            "compute_things()",
            outputs=[
                out("stream", name="stderr", text="DeprecationWarning: noise\n"),
                out(
                    "display_data",
                    data={
                        FIGURE_MIMETYPE: {"name": "acc", "value": 0.9},
                        "text/plain": "acc = 0.9",
                    },
                ),
                out("stream", name="stdout", text="visible line\n"),
            ],
        ),
        new.new_code_cell("x = 1"),
        new.new_code_cell(
            "hidden()",
            metadata={"tags": ["remove-cell"]},
            outputs=[out("stream", name="stdout", text="gone\n")],
        ),
        new.new_markdown_cell("papermill banner", metadata={"tags": ["papermill-error-cell-tag"]}),
    ]
    if chart:
        cells.append(
            new.new_code_cell(
                "chart",
                outputs=[
                    out(
                        "execute_result",
                        data={VEGALITE: SPEC, "text/plain": "<altair chart>"},
                        execution_count=3,
                    )
                ],
            )
        )
    nb = new.new_notebook(cells=cells)
    return nb


def html_of(nb, **kwargs):
    return to_html(
        nb, name="audit", title="Audit", month="2026-11", revision=1, generated="now", **kwargs
    )


@pytest.fixture(scope="module")
def page():
    return html_of(executed_notebook())


def test_page_references_nothing_on_the_network(page):
    assert not FETCHING_ATTRIBUTE.search(page)
    assert "<link" not in page
    for needle in ("require.js", "requirejs", "mathjax", "cdn.", "jsdelivr", "unpkg", "@import"):
        assert needle not in page.lower()


def test_vega_bundle_is_inlined_exactly_once(page):
    bundle = vega_bundle()
    assert 500_000 < len(bundle) < 1_300_000
    assert page.count(bundle) == 1
    assert len(page.encode()) < 1_500_000


def test_content_security_policy_allows_exactly_the_page_scripts(page):
    meta = re.search(r"<meta[^>]*Content-Security-Policy[^>]*>", page).group(0)
    csp = re.search(r'content="([^"]+)"', meta).group(1)
    scripts = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
    assert len(scripts) == 2  # the bundle and the embed calls; JSON specs are inert
    for script in scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert "default-src 'none'" in csp and "unsafe-inline' ;" not in csp


def test_readers_see_prose_and_results_not_machinery(page):
    assert "Audit of November" in page and "visible line" in page
    for hidden in (
        "/secret/path",
        "data = None",
        "DeprecationWarning",
        "acc = 0.9",
        "gone",
        "papermill banner",
        "compute_things",
        "aidebt.report.kernel",
    ):
        assert hidden not in page


def test_chart_spec_cannot_break_out_of_its_script_element(page):
    assert "</script><img" not in page
    assert "\\u003c/script\\u003e\\u003cimg src=x" in page
    assert count_charts(executed_notebook()) == 1
    assert page.count('class="aidebt-chart"') == 1


def test_with_code_shows_the_code_but_still_not_the_parameters():
    page = html_of(executed_notebook(), with_code=True)
    assert "compute_things" in page and "DeprecationWarning" in page
    assert "/secret/path" not in page and "papermill banner" not in page


def test_a_page_without_charts_carries_no_script_at_all():
    page = html_of(executed_notebook(chart=False))
    assert "<script" not in page
    assert "script-src 'none'" in page
    assert len(page.encode()) < 50_000


def test_prepare_does_not_touch_the_executed_notebook():
    nb = executed_notebook()
    before = nbformat.writes(nb)
    prepare(nb)
    assert nbformat.writes(nb) == before


def test_json_script_escapes_everything_that_could_close_the_element():
    text = json_script({"a": "</script>&<!--\u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text


# A third-party notebook (``--notebooks``) whose prose and outputs try to navigate the
# reader away or re-point the page's links: the CSP cannot stop a meta refresh.
NAVIGATION = [
    '<meta http-equiv="refresh" content="0; url=https://example.com/phish">',
    "<META\nHTTP-EQUIV=Refresh CONTENT='1;URL=https://example.com/'>",
    '<meta/http-equiv="refresh"/content="0;url=https://example.com/">',
    '<base href="https://example.com/">',
    '<link rel="dns-prefetch" href="//example.com"><link rel=prefetch href="https://example.com/x">',
    '<iframe srcdoc="&lt;meta http-equiv=refresh content=0;url=https://example.com&gt;"></iframe>',
    '<object data="https://example.com/x.swf"></object><embed src="https://example.com/e">',
    '<svg><foreignObject><meta http-equiv="refresh" content="0;url=https://example.com/"></foreignObject></svg>',
]
NAVIGATING_TAG = re.compile(r"<(meta|base|link|iframe|frame|object|embed|portal)(?=[\s/>])", re.I)


def hostile_notebook():
    new = nbformat.v4
    html = new.new_output("display_data", data={"text/html": "".join(NAVIGATION)})
    svg = new.new_output("display_data", data={"image/svg+xml": NAVIGATION[-1]})
    return new.new_notebook(
        cells=[
            new.new_markdown_cell("# Looks harmless\n\n" + "\n\n".join(NAVIGATION)),
            new.new_code_cell("show()", outputs=[html, svg]),
        ]
    )


@pytest.mark.parametrize("with_code", [False, True])
def test_hostile_notebook_html_cannot_navigate_the_reader_away(with_code):
    page = html_of(hostile_notebook(), with_code=with_code)
    head, body = page.split("<body>", 1)
    assert [m.group(1).lower() for m in NAVIGATING_TAG.finditer(body)] == []
    assert (
        len(NAVIGATING_TAG.findall(head)) == 4
    )  # the page's own: charset, CSP, viewport, generator
    assert "Looks harmless" in body
    assert "&lt;meta http-equiv=" in body  # shown as text, so readers see what was there


def test_sanitizing_leaves_ordinary_markup_and_the_charts_alone():
    nb = executed_notebook()
    nb.cells.insert(2, nbformat.v4.new_markdown_cell('A <a href="#x">link</a> and <b>bold</b>.'))
    page = html_of(nb)
    assert '<a href="#x">link</a>' in page and "<b>bold</b>" in page
    assert page.count(vega_bundle()) == 1
