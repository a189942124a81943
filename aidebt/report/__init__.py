"""Reports: parameterized notebooks rendered into offline, versioned HTML.

In a notebook::

    from aidebt import report
    source = report.load(data)                     # a path, lazily; a frame of any engine
    month = report.Month.parse(month)              # or report.latest_month(source, time)
    frame = report.load_month(source, month, time) # the month's rows, lazily, in its engine
    report.record("accuracy", 0.912)               # a key figure for manifest.json
    report.markdown("Worst group: **{g}**", g=name)  # prose with escaped values

From Python or a scheduler (``aidebt report ...`` on the command line)::

    from aidebt.report import render
    render("all", config="audit.toml", month="2026-11")

The loader and the month are the library's (:mod:`aidebt.frames`, :mod:`aidebt.periods`),
re-exported here for notebooks; the runner (papermill, nbconvert, the ``aidebt[report]``
extra) is imported only when :func:`render` is used, so a notebook's
``from aidebt import report`` stays light. Only the CLI imports this package from aidebt.
"""

from __future__ import annotations

from typing import Any

from aidebt.config import AuditConfig, load_config
from aidebt.frames import latest_month, load, load_month
from aidebt.periods import Month
from aidebt.report.kernel import bullets, escape, findings, key_figures, markdown, record, table
from aidebt.report.notebooks import list_notebooks, notebooks_dir, parse_value

_RUNNER = ("render", "plan", "RenderResult", "Failure")

__all__ = [
    "AuditConfig",
    "bullets",
    "findings",
    "key_figures",
    "table",
    "Failure",
    "RenderResult",
    "escape",
    "Month",
    "latest_month",
    "load",
    "list_notebooks",
    "load_config",
    "load_month",
    "markdown",
    "notebooks_dir",
    "parse_value",
    "plan",
    "record",
    "render",
]


def __getattr__(name: str) -> Any:
    if name in _RUNNER:
        from aidebt.report import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'aidebt.report' has no attribute {name!r}")
