"""Executed notebook -> one self-contained HTML page that opens offline.

nbconvert's stock HTML export references require.js, MathJax and (for altair's default
renderer) vega from CDNs: offline, its charts are blank. This export uses aidebt's own
template (``templates/aidebt``): no script or stylesheet from the network, the vega
bundle of vl-convert inlined once, each chart a vega-embed call on a spec that carries
its data, and a Content-Security-Policy that allows only those scripts (by hash) and no
connection at all, so a value from the data that slipped into the page unescaped still
could not run or call home. What a policy cannot stop, a ``<meta http-equiv="refresh">``
in a third-party notebook's cell, is defused (:func:`defuse_navigation`).
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aidebt.report.kernel import FIGURE_MIMETYPE

TEMPLATES = Path(__file__).resolve().parent / "templates"

SETUP_TAG = "aidebt-setup"
"""Tag of the hidden cell the runner inserts first (see :func:`aidebt.report.kernel.setup`)."""

_PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"  # papermill.execute.ERROR_MARKER_TAG

HIDDEN_CELL_TAGS = frozenset(
    {"parameters", "injected-parameters", SETUP_TAG, _PAPERMILL_ERROR_TAG, "remove-cell"}
)
"""Cells never shown to a report's readers (``remove-cell`` is for notebook authors)."""

CHART_MIMETYPES = {
    "application/vnd.vegalite.v6+json": "vega-lite",
    "application/vnd.vegalite.v5+json": "vega-lite",
    "application/vnd.vega.v6+json": "vega",
    "application/vnd.vega.v5+json": "vega",
}

# What each output shows, best first: charts, then what the stock HTML export prefers,
# without JavaScript and widgets (they would need the network or run code).
DISPLAY_PRIORITY = [
    *CHART_MIMETYPES,
    "text/html",
    "text/markdown",
    "image/svg+xml",
    "text/latex",
    "image/png",
    "image/jpeg",
    "text/plain",
]


@functools.cache
def vega_bundle() -> str:
    """vega, vega-lite and vega-embed as one script (~0.9 MB; built once per process)."""
    import vl_convert

    return vl_convert.javascript_bundle()


@functools.cache
def _asset(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def json_script(value: Any) -> str:
    """JSON safe to place inside ``<script type="application/json">``.

    ``<``, ``>`` and ``&`` are written as ``\\u`` escapes, so no value can close the
    script element or open a comment, whatever the data holds.

    Examples
    --------
    >>> json_script({"group": "</script><img src=x>"})
    '{"group":"\\\\u003c/script\\\\u003e\\\\u003cimg src=x\\\\u003e"}'
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


def _chart_type(output: Any) -> str | None:
    data = output.get("data", {})
    return next((m for m in CHART_MIMETYPES if m in data), None)


def count_charts(nb: Any) -> int:
    """How many charts the page will draw: outputs whose best mimetype is a chart."""
    return sum(
        1
        for cell in nb.cells
        if cell.cell_type == "code" and not HIDDEN_CELL_TAGS & set(cell.metadata.get("tags", []))
        for output in cell.get("outputs", [])
        if _chart_type(output)
    )


def prepare(nb: Any, *, with_code: bool = False) -> Any:
    """A copy of ``nb`` with what readers must not see removed.

    Drops the parameter cells (the notebook's defaults and papermill's injected values:
    the page header shows the effective ones), the runner's setup cell, papermill's error
    banners, cells tagged ``remove-cell``, key-figure outputs and, unless ``with_code``,
    stderr (warnings and progress bars) and code cells left without output. Honors
    ``remove-input`` and ``remove-output`` tags.
    """
    nb = copy.deepcopy(nb)
    cells = []
    for cell in nb.cells:
        tags = set(cell.metadata.get("tags", []))
        if tags & HIDDEN_CELL_TAGS:
            continue
        if cell.cell_type == "code":
            outputs = [] if "remove-output" in tags else cell.get("outputs", [])
            cell.outputs = [o for o in outputs if _shown(o, with_code)]
            if "remove-input" in tags:
                cell.metadata["transient"] = {"remove_source": True}
            if not with_code and not cell.outputs:
                continue
        cells.append(cell)
    nb.cells = cells
    return nb


def _shown(output: Any, with_code: bool) -> bool:
    if output.get("output_type") == "stream":
        return with_code or output.get("name") != "stderr"
    return FIGURE_MIMETYPE not in output.get("data", {})


def _hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy(scripts: Sequence[str]) -> str:
    """A policy that runs exactly ``scripts`` and loads nothing from anywhere.

    vega compiles its expressions with ``Function``, hence ``'unsafe-eval'``; inline
    event handlers (``onerror=...``) stay blocked because no ``'unsafe-inline'`` is given
    for scripts.
    """
    script_src = " ".join([*(_hash(s) for s in scripts), "'unsafe-eval'"]) if scripts else "'none'"
    return (
        "default-src 'none'; "
        f"script-src {script_src}; "
        "style-src 'unsafe-inline'; img-src data:; font-src data:; "
        "base-uri 'none'; form-action 'none'"
    )


def _highlight_css() -> str:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="default").get_style_defs(".highlight")


def to_html(
    nb: Any,
    *,
    name: str,
    title: str,
    month: str,
    revision: int,
    generated: str,
    facts: Sequence[tuple[str, str]] = (),
    with_code: bool = False,
    period: str = "month",
) -> str:
    """Render an executed notebook as the offline HTML page of a report.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The executed notebook (not modified).
    name, title, month, revision, generated :
        What the page header says (``month`` is the period's text: ``2026-11``,
        ``2026-Q3``, ``2025-01..2026-06``).
    period : str
        What kind of period ``month`` is, for the header: month, quarter, year, period.
    facts : sequence of (label, text)
        The "How this report was made" table (parameters, inputs, versions).
    with_code : bool
        Show the code cells too (for analysts; stakeholders get prose and results).
    """
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    from aidebt._version import __version__

    shown = prepare(nb, with_code=with_code)
    charts = count_charts(shown)
    bundle, embed = (vega_bundle(), _asset("embed.js")) if charts else ("", "")
    css = _asset("report.css") + (_highlight_css() if with_code else "")

    # The mimetype filter reads its priority from config when the exporter is built.
    priority = Config({"NbConvertBase": {"display_data_priority": DISPLAY_PRIORITY}})
    exporter = HTMLExporter(
        config=priority,
        extra_template_basedirs=[str(TEMPLATES)],
        template_name="aidebt",
        exclude_input=not with_code,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    exporter.register_filter("aidebt_json", json_script)
    exporter.register_filter("aidebt_chart_type", _chart_type)
    resources = {
        "metadata": {"name": name},
        "aidebt": {
            "name": name,
            "title": title,
            "month": month,
            "period": period,
            "revision": revision,
            "generated": generated,
            "facts": list(facts),
            "version": __version__,
            "charts": charts,
            "chart_mimetypes": CHART_MIMETYPES,
            "css": css,
            "vega_bundle": bundle,
            "embed_script": embed,
            "csp": content_security_policy([bundle, embed] if charts else []),
        },
    }
    body, _ = exporter.from_notebook_node(shown, resources=resources)
    # The notebook's cells sit between the page's own header and footer (both escaped
    # by the template): only there can a cell's markup be, and be defused.
    start = body.index(_CELLS_START) + len(_CELLS_START)
    end = body.rindex(_CELLS_END)
    return body[:start] + defuse_navigation(body[start:end]) + body[end:]


_CELLS_START = '<main class="aidebt-report">'
_CELLS_END = '<footer class="aidebt-footer">'

# Elements that can navigate the page, re-point its links or embed another document
# without any script: a meta refresh, which no Content-Security-Policy can block, a
# base (blocked by ``base-uri``, defused anyway), links (prefetch, dns-prefetch), frames
# and plugins. A report has no use for any of them in its cells.
_NAVIGATING = re.compile(
    r"<(?=(?:meta|base|link|iframe|frame|frameset|object|embed|applet|portal)(?![^\t\n\f\r />]))",
    re.IGNORECASE,
)


def defuse_navigation(html: str) -> str:
    """Markup from cells with every navigating element shown as text instead.

    A third-party notebook (``--notebooks``) may carry ``<meta http-equiv="refresh">``
    in a markdown cell or an HTML output. Escaping the ``<`` that opens such a tag, as
    a browser's tokenizer would read it (any case, ended by white space, ``/`` or
    ``>``), leaves no element to act and shows readers what was there.

    Examples
    --------
    >>> defuse_navigation('<p>hi</p><META http-equiv="refresh" content="0;url=//x">')
    '<p>hi</p>&lt;META http-equiv="refresh" content="0;url=//x">'
    >>> defuse_navigation("<metadata> and <links> are other names")
    '<metadata> and <links> are other names'
    """
    return _NAVIGATING.sub("&lt;", html)
