"""The reports folder: published revisions, month manifests, kept failures.

Layout::

    reports/
      index.html                      every month and revision (rewritten after each run)
      2026-11/
        manifest.json                 one entry per published revision of this month
        subgroup_audit.html           revision 1
        subgroup_audit.ipynb
        subgroup_audit.r2.html        revision 2: a rerun of the same month
        subgroup_audit.r2.ipynb
      _failed/2026-11/
        subgroup_audit.20261201T020304Z.ipynb   executed up to the failing cell

A published file is never replaced (:func:`aidebt.report._io.publish`); a rerun claims
the next free revision number.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aidebt.report._io import locked, publish, write_atomic

MANIFEST = "manifest.json"
FAILED = "_failed"
MANIFEST_VERSION = 1


def revision_stem(name: str, revision: int) -> str:
    """``subgroup_audit`` for revision 1, ``subgroup_audit.r2`` after.

    Examples
    --------
    >>> revision_stem("subgroup_audit", 1), revision_stem("subgroup_audit", 3)
    ('subgroup_audit', 'subgroup_audit.r3')
    """
    return name if revision == 1 else f"{name}.r{revision}"


@dataclass(frozen=True)
class Published:
    """One published revision of a report."""

    name: str
    month: str
    revision: int
    html: Path
    ipynb: Path
    manifest: Path


class ReportStore:
    """Reads and writes the reports folder ``root`` (created on first write).

    Examples
    --------
    >>> import tempfile
    >>> store = ReportStore(tempfile.mkdtemp())
    >>> store.next_revision("2026-11", "subgroup_audit")
    1
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def month_dir(self, month: str) -> Path:
        return self.root / month

    def next_revision(self, month: str, name: str) -> int:
        """The first revision number whose HTML does not exist yet."""
        revision = 1
        while (self.month_dir(month) / f"{revision_stem(name, revision)}.html").exists():
            revision += 1
        return revision

    def publish(
        self,
        month: str,
        name: str,
        revision: int,
        html: str,
        notebook: str,
        entry: dict[str, Any],
    ) -> Published:
        """Publish one revision: HTML, executed notebook, then its manifest entry.

        Raises ``FileExistsError`` when another run took ``revision`` meanwhile; the
        caller renders again with the next number (the page shows its revision).
        """
        folder = self.month_dir(month)
        stem = revision_stem(name, revision)
        html_path = publish(folder / f"{stem}.html", html)  # claims the revision
        ipynb_path = publish(folder / f"{stem}.ipynb", notebook)
        entry = {
            **entry,
            "notebook": name,
            "revision": revision,
            "html": html_path.name,
            "ipynb": ipynb_path.name,
        }
        manifest = folder / MANIFEST
        with locked(folder / ".manifest.lock"):
            doc = self.read_manifest(month)
            doc["reports"].append(entry)
            write_atomic(manifest, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        return Published(name, month, revision, html_path, ipynb_path, manifest)

    def read_manifest(self, month: str) -> dict[str, Any]:
        path = self.month_dir(month) / MANIFEST
        if not path.exists():
            return {"manifest_version": MANIFEST_VERSION, "month": month, "reports": []}
        return json.loads(path.read_text(encoding="utf-8"))

    def months(self) -> list[str]:
        """Months that have a manifest, newest first."""
        if not self.root.is_dir():
            return []
        found = [p.parent.name for p in self.root.glob(f"*/{MANIFEST}")]
        return sorted((m for m in found if _is_month(m)), reverse=True)

    def keep_failed(self, month: str, name: str, notebook: str) -> Path:
        """Keep a failed run's executed notebook aside, under a fresh timestamped name."""
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        folder = self.root / FAILED / month
        for attempt in range(1, 1000):
            suffix = "" if attempt == 1 else f"-{attempt}"
            try:
                return publish(folder / f"{name}.{stamp}{suffix}.ipynb", notebook)
            except FileExistsError:
                continue
        raise FileExistsError(f"too many failed runs of {name} at {stamp} in {folder}")


def _is_month(text: str) -> bool:
    return len(text) == 7 and text[4] == "-" and text[:4].isdigit() and text[5:].isdigit()
