"""Reports: parameterized notebooks rendered into offline, versioned HTML.

In a notebook::

    from aidebt import report
    audit = report.Audit(data, month, time=time, y_true=y_true, y_pred=y_pred,
                         words=report.Words.of(feature=feature, decision=decision))
    audit.frame, audit.history, audit.roles        # the period's rows, every row up to its
                                                   # end, the columns' roles (readable names)
    report.record("accuracy", 0.912)               # a key figure for manifest.json
    report.markdown("Worst group: **{g}**", g=name)  # prose with escaped values
    report.table(t, columns={"value": ("accuracy", "pct")})   # readable headers and numbers

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
from aidebt.periods import Month, Window
from aidebt.report.audit import (
    Audit,
    clocks_table,
    demo_parameters,
    fairness_tables,
    headline,
    not_shown,
    readable,
)
from aidebt.report.kernel import (
    bullets,
    escape,
    findings,
    gate_findings,
    has_gates,
    has_trend,
    how_to_read,
    key_figures,
    markdown,
    record,
    small_groups,
    table,
    trend_start,
    versions,
)
from aidebt.report.notebooks import list_notebooks, notebooks_dir, parse_value
from aidebt.report.words import Words

_RUNNER = ("render", "plan", "RenderResult", "Failure", "Skipped")

__all__ = [
    "Audit",
    "AuditConfig",
    "Words",
    "demo_parameters",
    "clocks_table",
    "fairness_tables",
    "headline",
    "gate_findings",
    "has_gates",
    "has_trend",
    "how_to_read",
    "small_groups",
    "trend_start",
    "versions",
    "bullets",
    "findings",
    "key_figures",
    "table",
    "Failure",
    "RenderResult",
    "Skipped",
    "Window",
    "escape",
    "Month",
    "latest_month",
    "load",
    "list_notebooks",
    "load_config",
    "load_month",
    "markdown",
    "not_shown",
    "readable",
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
