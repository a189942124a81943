"""``reports/index.html``: every month and every revision, built from the manifests."""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aidebt.report._io import write_atomic
from aidebt.report.store import MANIFEST, ManifestError, ReportStore

INDEX = "index.html"
_MAX_FIGURES = 6  # the index is a table of contents, not the report


def _figure_text(value: Any) -> str:
    """Key figures at a glance: three decimals for rates, whole numbers for counts."""
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() or abs(value) >= 1000 else f"{value:.3f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _revision(month: str, folder: Path, entry: dict[str, Any]) -> dict[str, Any]:
    figures = entry.get("key_figures")
    figures = list(figures.items())[:_MAX_FIGURES] if isinstance(figures, dict) else []
    return {
        "revision": entry["revision"],
        "href": f"{quote(month)}/{quote(entry['html'])}",
        "available": (folder / entry["html"]).is_file(),
        "generated": str(entry.get("finished", ""))[:16].replace("T", " "),
        "figures": [(str(k).replace("_", " "), _figure_text(v)) for k, v in figures],
    }


def _month(store: ReportStore, month: str) -> dict[str, Any]:
    """One month of the index; a damaged manifest makes a note, not an error."""
    try:
        doc = store.read_manifest(month)
    except ManifestError as exc:
        return {"month": month, "reports": [], "damaged": f"{month}/{MANIFEST}: {exc.reason}"}
    folder = store.month_dir(month)
    by_name: dict[str, list[tuple[int, int, dict[str, Any]]]] = defaultdict(list)
    for order, entry in enumerate(doc["reports"]):
        by_name[entry["notebook"]].append((entry["revision"], order, entry))
    reports = []
    for name in sorted(by_name):
        # newest first; of two entries with one number (an old manifest), the later
        entries = [e for *_, e in sorted(by_name[name], key=lambda t: t[:2], reverse=True)]
        revisions = [_revision(month, folder, e) for e in entries]
        # the latest is the newest revision whose page still exists
        at = next((i for i, r in enumerate(revisions) if r["available"]), 0)
        reports.append(
            {
                "title": str(entries[at].get("title") or name),
                "latest": revisions[at],
                "older": revisions[:at] + revisions[at + 1 :],
            }
        )
    return {"month": month, "reports": reports, "damaged": None}


def build_index(root: str | os.PathLike[str]) -> str:
    """The HTML of the index page over every month's manifest under ``root``.

    Rendered with Jinja autoescaping: titles and key figures come from notebooks
    and data, and are shown as text. A month whose manifest is damaged is listed as
    damaged; the others are listed as usual.
    """
    import jinja2

    from aidebt._version import __version__
    from aidebt.report.export import TEMPLATES

    store = ReportStore(root)
    months = [_month(store, month) for month in store.months()]
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
    """(Re)write ``root/index.html`` atomically and return its path.

    Built and written under the store's lock, the one every manifest change takes: an
    index can never be built from older manifests than the index it replaces.
    """
    store = ReportStore(root)
    with store.lock():
        return write_atomic(store.root / INDEX, build_index(root))
