"""Charts draw in a real JupyterLab with the network cut (aidebt/jupyter.py).

A JupyterLab server from this environment runs on localhost (a free port, a temporary
root, token auth, its own config and data directories), with aidebt's extension taken
from this source tree. Headless Debian Chromium opens it with every request that does
not go to that server aborted and counted, runs a notebook made of the README's ten
lines (one statement a cell) and a few more charts, and counts the charts drawn: a
vega-embed box with an svg or canvas in it. The notebook is then saved, its kernel shut
down, and it is opened again, as saved (trusted) and as a copy nobody signed (untrusted):
the charts draw again from the saved specs, before any cell runs.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from test_readme import ten_lines

ROOT = Path(__file__).resolve().parents[1]
LABEXTENSION = ROOT / "aidebt" / "labextension"

SETUP = """\
import aidebt as ad
_demo = ad.datasets.demo
ad.datasets.demo = lambda: _demo(n_per_month=2_000)  # smaller: the charts are tested here"""

# Beyond the ten lines: other charts aidebt returns, and charts a user makes.
MORE_CHARTS = [
    'ad.simpson(logs, outcome="y_true", compare="prompt_version").chart()',
    'ad.decay(logs, time="ts", y_true="y_true", y_pred="y_pred").chart()',
    'ad.compare(logs, version="prompt_version", baseline="v1", y_true="y_true",\n'
    '           y_pred="y_pred", metrics=["accuracy"], by=["tier"]).chart()',
    "import altair as alt\n"
    'mine = alt.Chart(r.table).mark_bar().encode(x="mean(value)", y="metric")\n'
    "mine | mine.mark_point()",
    # data by a relative URL: read from the notebook's folder, through the server
    'alt.Chart("points.csv").mark_point().encode(x="a:Q", y="b:Q")'
    '.properties(usermeta={"embedOptions": {"renderer": "svg"}})',
]
POINTS = "a,b\n1,2\n2,3\n3,5\n"
CHART_MIMETYPE = "application/vnd.vegalite.v6+json"

# In the notebook shown: the boxes vega-embed made, those it drew into, the symbols of
# the last chart (its data read from points.csv), and the renderer's error messages.
COUNT_CHARTS = """() => {
  const notebook = window.jupyterapp.shell.currentWidget.node;
  const boxes = Array.from(notebook.querySelectorAll('.jp-Notebook .vega-embed'));
  return {boxes: boxes.length,
          drawn: boxes.filter(b => b.querySelector('svg.marks, canvas.marks')).length,
          points: boxes.length ? boxes[boxes.length - 1].querySelectorAll('.mark-symbol path').length : 0,
          errors: Array.from(notebook.querySelectorAll('.aidebt-RenderedVega'))
                   .filter(b => b.textContent.startsWith('This chart could not'))
                   .map(b => b.textContent)};
}"""


def _cells() -> list[str]:
    code = ten_lines()
    lines = code.splitlines()
    statements = [
        "\n".join(lines[node.lineno - 1 : node.end_lineno]) for node in ast.parse(code).body
    ]
    return [SETUP, *statements, *MORE_CHARTS]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _labextensions(tmp: Path) -> Path:
    """This tree's extension, with the vega bundle a build would add if it is missing."""
    target = tmp / "labextensions" / "aidebt"
    shutil.copytree(LABEXTENSION, target)
    bundle = target / "static" / "vega.js"
    if not bundle.exists():  # a checkout that was never installed
        from aidebt.report.export import vega_bundle

        bundle.write_text(vega_bundle(), encoding="utf-8")
    return target.parent


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server: (url, token, root dir). Stopped, kernels included, at the end."""
    tmp = tmp_path_factory.mktemp("jupyterlab")
    root = tmp / "root"
    root.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "JUPYTER_CONFIG_DIR": str(tmp / "config"),
        "JUPYTER_DATA_DIR": str(tmp / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),
    }
    port, token = _free_port(), "aidebt-test-token"
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",  # CI runs as root
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.extra_labextensions_path={_labextensions(tmp)}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    log = (tmp / "server.log").open("w")
    server = subprocess.Popen(
        command, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not start:\n" + (tmp / "server.log").read_text())
                time.sleep(0.3)
        yield url, token, root
    finally:
        server.terminate()  # the server shuts its kernels down on SIGTERM
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait()
        log.close()


def _open(browser, url: str, token: str, path: str, blocked: list[str]):
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    page = context.new_page()

    def route(route):
        if route.request.url.startswith(url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    # A workspace of its own, so that no notebook opened before is restored with it.
    workspace = Path(path).stem
    page.goto(f"{url}/lab/workspaces/{workspace}/tree/{path}?token={token}", wait_until="load")
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.context"
        " && window.jupyterapp.shell.currentWidget.context.isReady",
        timeout=60_000,
    )
    return context, page


def _wait_for_charts(page, want: dict, timeout_s: float = 60) -> dict:
    """The counts once they are ``want`` (or an error shows, or time is up)."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = page.evaluate(COUNT_CHARTS)
        if counts == want or counts["errors"] or time.monotonic() > deadline:
            return counts
        time.sleep(0.25)


@pytest.mark.browser
@pytest.mark.slow
def test_readme_charts_draw_in_jupyterlab_offline(browser, lab) -> None:
    url, token, root = lab
    cells = _cells()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, root / "ten_lines.ipynb")
    (root / "points.csv").write_text(POINTS)
    expected = 1 + len(MORE_CHARTS)  # r.chart() is the ten lines' chart
    want = {"boxes": expected, "drawn": expected, "points": 3, "errors": []}
    blocked: list[str] = []

    # Run every cell, count the charts drawn, save.
    context, page = _open(browser, url, token, "ten_lines.ipynb", blocked)
    try:
        page.evaluate(
            """async () => {
              const panel = window.jupyterapp.shell.currentWidget;
              await panel.sessionContext.ready;
              await window.jupyterapp.commands.execute('notebook:run-all-cells');
            }"""
        )
        ran = _wait_for_charts(page, want)
        page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
        page.evaluate(
            """async () => {
              const panel = window.jupyterapp.shell.currentWidget;
              await panel.sessionContext.shutdown();
            }"""
        )
    finally:
        context.close()
    saved = nbformat.read(root / "ten_lines.ipynb", as_version=4)
    outputs = [o for cell in saved.cells for o in cell.get("outputs", [])]
    assert [o for o in outputs if o.output_type == "error"] == []
    assert len(saved.cells) == len(cells) and all(c.execution_count for c in saved.cells)
    # One output a chart, stored as its spec (plus altair's HTML for other frontends).
    assert sum(CHART_MIMETYPE in o.get("data", {}) for o in outputs) == expected
    assert ran == want, f"{ran}; requests blocked: {blocked}"

    # Reopen as saved (trusted), then a copy nobody signed (untrusted): no cell runs.
    saved.metadata["copied"] = True
    nbformat.write(saved, root / "copy.ipynb")
    for path, trusted in (("ten_lines.ipynb", True), ("copy.ipynb", False)):
        context, page = _open(browser, url, token, path, blocked)
        try:
            reopened = _wait_for_charts(page, want, timeout_s=30)
            trust = page.evaluate(
                """() => window.jupyterapp.shell.currentWidget.content.widgets
                     .map(cell => cell.model.trusted)"""
            )
        finally:
            context.close()
        assert reopened == want, f"{path}: {reopened}; requests blocked: {blocked}"
        assert set(trust) == {trusted}, (path, trust)

    assert blocked == [], blocked  # not the CDN, not anything else
    print(f"charts: {expected} expected, {ran['drawn']} drawn; blocked requests: {len(blocked)}")


def test_extension_metadata_matches_the_package() -> None:
    """package.json names the package's version, its entry point, and altair's mimetype."""
    import tomllib

    import altair as alt

    package = json.loads((LABEXTENSION / "package.json").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert package["name"] == "aidebt"
    assert package["version"] == project["project"]["version"]
    entry = LABEXTENSION / package["jupyterlab"]["_build"]["load"]
    major = str(alt.SCHEMA_VERSION).split(".")[0]  # altair 6 -> "v6"
    assert f'"application/vnd.vegalite.{major}+json"' in entry.read_text()
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["shared-data"] == {"aidebt/labextension": "share/jupyter/labextensions/aidebt"}


CHART = 'alt.Chart(pl.DataFrame({"a": [1, 2]})).mark_point().encode(x="a")'
BUNDLE = {CHART_MIMETYPE, "text/html", "text/plain"}


def _run_in_kernel(cells: list[str]) -> list[list[dict]]:
    """Run ``cells`` in a fresh kernel (this tree first on its path): each one's outputs."""
    from jupyter_client.manager import start_new_kernel

    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    manager, client = start_new_kernel(
        kernel_name="python3", env={**os.environ, "PYTHONPATH": path}
    )
    try:
        results = []
        for code in cells:
            shown: list[dict] = []

            def hook(msg, shown=shown):
                if msg["msg_type"] in ("display_data", "execute_result"):
                    shown.append(msg["content"]["data"])

            reply = client.execute_interactive(code, output_hook=hook, timeout=120)
            assert reply["content"]["status"] == "ok", reply["content"]
            results.append(shown)
        return results
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


@pytest.mark.slow
def test_import_aidebt_in_a_kernel_switches_altair_on_first_chart() -> None:
    ran = _run_in_kernel(
        [
            "import sys\nimport aidebt\n[m for m in ('altair', 'vl_convert') if m in sys.modules]",
            f"import altair as alt\nimport polars as pl\n{CHART}",
            "alt.renderers.active",
        ]
    )
    assert ran[0] == [{"text/plain": "[]"}]  # nothing heavy imported by aidebt
    assert set(ran[1][0]) == BUNDLE
    assert ran[2] == [{"text/plain": "'aidebt_jupyter'"}]


@pytest.mark.slow
def test_report_kernels_keep_their_own_renderer() -> None:
    """papermill's kernels run kernel.setup() first: charts stay bare specs, as before."""
    ran = _run_in_kernel(
        [
            "from aidebt.report.kernel import setup\nsetup()\n"
            f"import altair as alt\nimport polars as pl\n{CHART}",
            f"import aidebt\naidebt.jupyter.enable()\n{CHART}",
        ]
    )
    assert set(ran[0][0]) == {CHART_MIMETYPE, "text/plain"}
    assert set(ran[1][0]) == BUNDLE


def test_nothing_happens_outside_jupyter() -> None:
    """Out of a kernel, ``import aidebt`` loads neither IPython nor altair nor the bundle."""
    code = "import sys, aidebt\nprint([m for m in ('IPython', 'altair', 'vl_convert') if m in sys.modules])"
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"


def test_renderer_bundle() -> None:
    from aidebt.jupyter import renderer

    spec = {"mark": "point", "data": {"values": [{"a": 1}]}, "encoding": {"x": {"field": "a"}}}
    bundle, metadata = renderer(spec, embed_options={"renderer": "svg"})
    assert set(bundle) == BUNDLE
    assert bundle[CHART_MIMETYPE] == spec
    assert metadata == {CHART_MIMETYPE: {"embed_options": {"renderer": "svg"}}}
    assert "vegaEmbed" in bundle["text/html"]  # altair's HTML, for frontends without aidebt's
