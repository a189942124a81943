"""Charts that draw in JupyterLab with no network.

altair 6 charts are Vega-Lite 6 specs. altair's default renderer writes HTML that loads
vega from a CDN (blank offline: "Error loading script: https://cdn.jsdelivr.net/..."),
and JupyterLab's own renderer knows Vega-Lite 3 to 5 only. aidebt ships a small
JupyterLab extension (``aidebt/labextension``, installed with the package into
``share/jupyter/labextensions/aidebt``) that draws the standard mimetypes
``application/vnd.vegalite.v6+json`` and ``application/vnd.vega.v6+json`` with the
vega/vega-lite/vega-embed bundle of vl-convert, served by the Jupyter server itself.
Inside a Jupyter kernel, ``import aidebt`` makes altair emit that mimetype; to turn it
on by hand, call :func:`enable`.

Why a renderer extension, and not the other ways to draw offline:

- **An extension (this module)**: the notebook stores only each chart's spec, a few kB.
  The chart draws when a cell runs, and again when the saved notebook is reopened, with
  or without a kernel, trusted or not (a spec is data, not code), in JupyterLab (and in
  Notebook 7, which loads the same extensions). The cost: the extension must be installed in the environment that runs
  the *server* (``.venv/bin/jupyter lab`` does that); a frontend without it (classic
  Notebook, VS Code, a JupyterHub with its own environment) falls back to altair's
  HTML, which is what it shows today: drawn online, blank offline.
- **anywidget** (altair's ``alt.renderers.enable("jupyter", offline=True)``): draws
  offline while the kernel runs, but sends the 0.9 MB vega bundle with every chart and
  needs ipywidgets and anywidget on both sides; a widget lives in the kernel, so a
  reopened notebook shows "Error displaying widget: model not found" until its cells
  run again (JupyterLab does not save widget state by default).
- **HTML with the bundle inlined once per kernel session**: draws while running, and on
  reopening only if the notebook is trusted *and* the one output that carried the bundle
  is still there; re-running that cell drops it, so the saved notebook's charts stay
  blank. Untrusted notebooks (anyone else's) never run the scripts.

Papermill reports are not affected: their kernels switch to the report's own renderer
(:func:`aidebt.report.kernel.setup`) before any chart is drawn, and the switch that
``import aidebt`` makes only ever replaces altair's default renderer.
"""

from __future__ import annotations

import sys
from typing import Any

RENDERER = "aidebt_jupyter"
"""Name of the altair renderer :func:`enable` registers."""

_CHART_CLASS = ("altair.vegalite.v6.api", "TopLevelMixin")  # every altair 6 chart


def renderer(spec: dict, **metadata: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The display bundle of a chart: its spec for the extension, HTML for other frontends.

    The spec goes under the standard ``application/vnd.vegalite.v6+json`` mimetype (or
    ``vnd.vega.v6+json`` once compiled by vegafusion), which aidebt's JupyterLab
    extension draws offline; ``text/html`` is altair's default output, which frontends
    without the extension show as they would without aidebt.
    """
    from altair.utils.display import default_renderer_base
    from altair.vegalite.v6 import display

    bundle, meta = default_renderer_base(
        spec, display.VEGALITE_MIME_TYPE, "<altair chart>", **metadata
    )
    # altair spells its mimetypes "...v6.json"; nbformat stores only "+json" ones as JSON.
    bundle = {_plus_json(key): value for key, value in bundle.items()}
    meta = {_plus_json(key): value for key, value in meta.items()}
    bundle["text/html"] = display.html_renderer(spec, **metadata)["text/html"]
    return bundle, meta


def _plus_json(mimetype: str) -> str:
    return mimetype[: -len(".json")] + "+json" if mimetype.endswith(".json") else mimetype


def enable() -> None:
    """Draw altair charts with aidebt's offline JupyterLab renderer.

    In a Jupyter kernel, ``import aidebt`` does this by itself when the first chart is
    shown, if altair's default renderer is still the active one. Call it to switch back
    after choosing another renderer, or where aidebt is not imported. Harmless outside
    Jupyter: the renderer only shapes what a notebook frontend receives.

    Examples
    --------
    >>> import altair as alt
    >>> import aidebt.jupyter
    >>> aidebt.jupyter.enable()
    >>> alt.renderers.active
    'aidebt_jupyter'
    >>> _ = alt.renderers.enable("default")  # back to altair's own
    """
    import altair as alt

    alt.renderers.register(RENDERER, renderer)
    alt.renderers.enable(RENDERER)


def auto_enable() -> None:
    """Called by ``import aidebt``: in a Jupyter kernel, :func:`enable` at the first chart.

    Imports nothing, so ``import aidebt`` stays as fast as it was: altair is not loaded
    until used, and the vega bundle is a file of the server's. A printer registered
    with IPython under the chart class's *name* fires at the first chart displayed,
    enables this renderer if altair's default is still the active one (a report kernel
    has chosen its own by then), and hands every chart to whatever renderer is active.
    """
    ipython = sys.modules.get("IPython")
    if "ipykernel" not in sys.modules or ipython is None:
        return
    shell = ipython.get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return
    formatter = shell.display_formatter.mimebundle_formatter
    state = {"first": True}

    def first_chart(chart: Any) -> Any:
        if state["first"]:
            state["first"] = False
            import altair as alt

            if alt.renderers.active == "default":
                enable()
        return chart._repr_mimebundle_()

    formatter.for_type_by_name(*_CHART_CLASS, first_chart)
