"""Helpers for the tests of the published record: a fake kernel, a checker, a killer.

``fake_execute`` stands in for ``papermill.execute_notebook``: it injects the parameters
the way papermill does (the ``injected-parameters`` cell and ``metadata.papermill``, with
the same absolute paths), adds one output and one key figure, and writes the executed
notebook. Rendering then costs an HTML export, not a kernel start.

``check_record(root)`` lists every way the reports folder disagrees with itself.

Run as a script (``python record.py DATA NOTEBOOKS``), it serves renders of the chart
notebook with the fake kernel, each in a forked child that is SIGKILLed right after the
N-th file-system step under the reports folder, optionally on a file system that refuses
hard links (:func:`serve`).
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import sys
from pathlib import Path

import nbformat

FAKE_FIGURE = "application/vnd.aidebt.figure+json"
MONTH_DIR = re.compile(r"^\d{4}-\d{2}$")


def fake_execute(input_path, output_path, parameters=None, kernel_name=None, **_):
    """papermill.execute_notebook without a kernel (same metadata, same injected cell)."""
    from papermill.parameterize import parameterize_notebook

    nb = (
        input_path
        if not isinstance(input_path, str | os.PathLike)
        else nbformat.read(input_path, 4)
    )
    nb = nbformat.from_dict(nb)
    nb.metadata["papermill"] = nbformat.NotebookNode()
    for cell in nb.cells:  # as papermill does before it looks for tagged cells
        cell.metadata["tags"] = list(cell.metadata.get("tags", []))
    nb = parameterize_notebook(
        nb, dict(parameters or {}), kernel_name=kernel_name, language="python"
    )
    nb.metadata.papermill.update(
        input_path=str(input_path) if isinstance(input_path, str | os.PathLike) else "<node>",
        output_path=str(output_path),
        parameters=dict(parameters or {}),
    )
    code = [c for c in nb.cells if c.cell_type == "code"]
    for i, cell in enumerate(code, 1):
        cell.execution_count = i
    code[-1].outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={"text/html": f"<p>fake run for {parameters.get('month')}</p>"},
        ),
        nbformat.v4.new_output(
            "display_data",
            data={FAKE_FIGURE: {"name": "rows", "value": 1}, "text/plain": "rows = 1"},
        ),
    ]
    nbformat.write(nb, str(output_path))
    return nb


def install_fake_kernel(monkeypatch=None) -> None:
    import papermill

    if monkeypatch is None:
        papermill.execute_notebook = fake_execute
    else:
        monkeypatch.setattr(papermill, "execute_notebook", fake_execute)


def render_fake(out, data, notebooks, name="chart", month="2026-11", **kw):
    from aidebt.report import render

    return render(
        name, month=month, data=data, out=out, notebooks_dir=notebooks, progress=False, **kw
    )


# -- the checker ------------------------------------------------------------------


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def check_record(
    root, *, settled: bool = True, contiguous: bool = True, index_complete: bool | None = None
) -> list[str]:
    """Every inconsistency of the reports folder ``root``, as sentences ([] if none).

    Always: each manifest entry's HTML and notebook exist, the HTML's sha256 matches,
    no HTML is empty, no revision is listed twice, and every link of ``index.html``
    leads to an existing file. ``settled`` (after a run that completed): no published
    file outside the manifest, the index lists every manifest entry, no ``.run-*``
    folder, ``.tmp`` file or staged revision is left. ``contiguous``: each notebook's
    revisions are 1..k, none skipped. ``index_complete`` (default: ``settled``) alone
    can be turned off, for a run whose last write, the index, failed.
    """
    import hashlib

    root = Path(root)
    problems: list[str] = []
    listed: set[str] = set()
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and MONTH_DIR.match(p.name)):
        visible = {p.name for p in folder.iterdir() if not p.name.startswith(".")} - {
            "manifest.json"
        }
        if not (folder / "manifest.json").exists():
            if visible:
                problems.append(f"{folder.name}: files without a manifest: {sorted(visible)}")
            continue
        entries = _manifest(folder)["reports"]
        named: set[str] = set()
        seen: dict[str, list[int]] = {}
        for e in entries:
            seen.setdefault(e["notebook"], []).append(e["revision"])
            for key in ("html", "ipynb"):
                named.add(e[key])
                if not (folder / e[key]).is_file():
                    problems.append(f"{folder.name}: manifest lists a missing {e[key]}")
            html = folder / e["html"]
            if html.is_file():
                data = html.read_bytes()
                if not data:
                    problems.append(f"{folder.name}: {e['html']} is empty")
                elif e.get("html_sha256") and hashlib.sha256(data).hexdigest() != e["html_sha256"]:
                    problems.append(f"{folder.name}: {e['html']} does not match its sha256")
            listed.add(f"{folder.name}/{e['html']}")
        for name, revisions in seen.items():
            if len(set(revisions)) != len(revisions):
                problems.append(f"{folder.name}: {name} lists a revision twice: {revisions}")
            if contiguous and sorted(revisions) != list(range(1, len(revisions) + 1)):
                problems.append(f"{folder.name}: {name} skips a revision: {sorted(revisions)}")
        for p in folder.iterdir():
            if p.suffix == ".html" and p.stat().st_size == 0 and p.name not in named:
                problems.append(f"{folder.name}: an empty {p.name} claims a revision")
        if settled and visible - named:
            problems.append(
                f"{folder.name}: published outside the manifest: {sorted(visible - named)}"
            )
    index = root / "index.html"
    if index.exists():
        hrefs = set(re.findall(r'href="([^"#]+)"', index.read_text(encoding="utf-8")))
        for href in hrefs:
            if not (root / href).is_file():
                problems.append(f"index.html links to a missing {href}")
        if (settled if index_complete is None else index_complete) and listed - hrefs:
            problems.append(f"index.html does not list {sorted(listed - hrefs)}")
    elif settled and listed:
        problems.append("no index.html")
    if settled:
        left = [str(p.relative_to(root)) for p in root.rglob("*") if _leftover(p)]
        if left:
            problems.append(f"left behind: {sorted(left)}")
    return problems


def _leftover(path: Path) -> bool:
    name = path.name
    if name.startswith(".run-") or (name.startswith(".") and name.endswith(".tmp")):
        return True
    return path.parent.name == ".staging"  # a staged revision nobody finished


def revisions(root, month="2026-11", name="chart") -> list[int]:
    folder = Path(root) / month
    if not (folder / "manifest.json").exists():
        return []
    return sorted(e["revision"] for e in _manifest(folder)["reports"] if e["notebook"] == name)


# -- file-system faults -----------------------------------------------------------

STEPS = ("open", "link", "rename", "replace", "fsync", "mkdir", "rmdir", "unlink")


def _fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def install_faults(
    root, *, kill_after: int = 0, no_link: bool = False, trace=None, monkeypatch=None
) -> None:
    """Wrap the file-system steps under ``root``: count them, refuse hard links, and
    SIGKILL this process right after step number ``kill_after`` (0: never)."""
    root = str(Path(root).resolve())
    count = [0]

    def under(*paths) -> bool:
        return any(p.startswith(root) for p in paths)

    def wrap(name, real):
        def step(*args, **kwargs):
            paths = [_fd_path(args[0])] if name == "fsync" else args[:2]
            paths = [str(p) for p in paths if isinstance(p, str | os.PathLike)]
            if name == "open" and not (args[1] if len(args) > 1 else 0) & os.O_CREAT:
                paths = []  # reading is not a step; creating a file is
            if name == "link" and no_link and under(*paths):
                raise OSError(errno.EPERM, "hard links are not supported here", str(args[1]))
            result = real(*args, **kwargs)
            if under(*paths):
                count[0] += 1
                if trace is not None:
                    trace.append(
                        f"{name} {' -> '.join(os.path.relpath(p, root) for p in map(str, paths))}"
                    )
                if count[0] == kill_after:
                    os.kill(os.getpid(), signal.SIGKILL)
            return result

        return step

    for name in STEPS:
        (monkeypatch.setattr if monkeypatch else setattr)(os, name, wrap(name, getattr(os, name)))


def serve(data: str, notebooks: str) -> None:
    """Answer render requests on stdin, one JSON line each, with a forked child apiece.

    Importing nbconvert, papermill and polars costs seconds; a fork of a process that
    has them costs nothing, so a sweep of kill points stays fast. A request is
    ``{"out", "kill_after", "no_link", "trace"}``; the answer ``{"status"}`` is
    ``"killed"``, ``"exit N"`` or ``"hung"`` (no answer within two minutes).
    """
    import time

    install_fake_kernel()
    import aidebt.report.export  # noqa: F401  (imported once, before any fork)
    import aidebt.report.index  # noqa: F401
    import aidebt.report.runner  # noqa: F401

    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:  # the child: one render, its steps counted, maybe killed
            code = 1
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)  # stdout is the protocol
                trace: list[str] = []
                install_faults(
                    request["out"],
                    kill_after=request["kill_after"],
                    no_link=request["no_link"],
                    trace=trace,
                )
                render_fake(request["out"], data, notebooks)
                if request.get("trace"):
                    Path(request["trace"]).write_text(json.dumps(trace))
                code = 0
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        deadline = time.monotonic() + 120
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        if done[0] == 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            status = "hung"
        elif os.WIFSIGNALED(done[1]):
            status = "killed" if os.WTERMSIG(done[1]) == signal.SIGKILL else "signal"
        else:
            status = f"exit {os.WEXITSTATUS(done[1])}"
        print(json.dumps({"status": status}), flush=True)


if __name__ == "__main__":
    serve(*sys.argv[1:3])
