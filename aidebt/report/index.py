"""``reports/index.html``: every month and every revision, built from the manifests."""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aidebt.report._io import write_atomic
from aidebt.report.store import ReportStore

INDEX = "index.html"
_MAX_FIGURES = 6  # the index is a table of contents, not the report


def _figure_text(value: Any) -> str:
    """Key figures at a glance: three decimals for rates, whole numbers for counts."""
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() or abs(value) >= 1000 else f"{value:.3f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _revision(month: str, entry: dict[str, Any]) -> dict[str, Any]:
    figures = list((entry.get("key_figures") or {}).items())[:_MAX_FIGURES]
    return {
        "revision": entry.get("revision"),
        "href": f"{quote(month)}/{quote(str(entry.get('html', '')))}",
        "generated": str(entry.get("finished", ""))[:16].replace("T", " "),
        "figures": [(str(k), _figure_text(v)) for k, v in figures],
    }


def build_index(root: str | os.PathLike[str]) -> str:
    """The HTML of the index page over every month's manifest under ``root``.

    Rendered with Jinja autoescaping: titles and key figures come from notebooks
    and data, and are shown as text.
    """
    import jinja2

    from aidebt._version import __version__
    from aidebt.report.export import TEMPLATES

    store = ReportStore(root)
    months = []
    for month in store.months():
        by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for entry in store.read_manifest(month).get("reports", []):
            by_name[str(entry.get("notebook"))].append(entry)
        reports = []
        for name in sorted(by_name):
            entries = sorted(by_name[name], key=lambda e: e.get("revision") or 0, reverse=True)
            reports.append(
                {
                    "title": entries[0].get("title") or name,
                    "latest": _revision(month, entries[0]),
                    "older": [_revision(month, e) for e in entries[1:]],
                }
            )
        months.append({"month": month, "reports": reports})

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        keep_trailing_newline=True,
    )
    return env.get_template("reports_index.html.j2").render(
        months=months,
        css=(TEMPLATES / "report.css").read_text(encoding="utf-8"),
        version=__version__,
        updated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def write_index(root: str | os.PathLike[str]) -> Path:
    """(Re)write ``root/index.html`` atomically and return its path."""
    return write_atomic(Path(root) / INDEX, build_index(root))
