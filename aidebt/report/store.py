"""The reports folder: published revisions, month manifests, kept failures.

Layout::

    reports/
      index.html                      every month and revision (rewritten after each run)
      .lock                           one lock for every change to the folder and the index
      2026-11/
        manifest.json                 one entry per published revision of this month
        subgroup_audit.html           revision 1
        subgroup_audit.ipynb
        subgroup_audit.r2.html        revision 2: a rerun of the same month
        subgroup_audit.r2.ipynb
      _failed/2026-11/
        subgroup_audit.20261201T020304Z.ipynb   executed up to the failing cell

While it runs, a render also has a working folder ``reports/.run-*/`` and, for the
revision it is publishing, a staging folder ``reports/2026-11/.staging/NAME.rN/``.

**Publishing is one transaction.** A revision is *claimed* (its staging folder created,
under the lock, with the next number), its HTML, executed notebook and manifest entry are
*staged* there (the entry last: a staged revision is whole once its entry is written),
and then *committed* under the lock: the HTML and the notebook get their final names
(hard links, or renames where there are none: a file appears whole or not at all), and
the last act is the manifest entry. An error before that point removes what was placed;
nothing is published.

**A killed run is repaired by the next one.** Each run's working and staging folders
carry a lock file held for as long as the run lives, so the next run (under the lock)
tells a killed run's leftovers from a live run's folders. A killed run's staged revision
that is whole is *completed*: its files are placed, verified against their sha256, and
its entry added, so the work is kept and its number used; one that is not whole is
removed, which frees its number. Its working folder and half-written temporary files are
deleted. A month whose manifest is damaged is left alone until the manifest is repaired.
(Where ``fcntl`` is missing, on Windows, no folder is ever taken for a leftover: they
stay, and so do the numbers of their revisions.)

**Revision numbers only go up.** The next number is one more than the highest ever seen:
the manifest's entries, its ``last_revision`` record, the files of the month and the
revisions being staged. Deleting a published file never frees its number.

**Manifests are read defensively.** A damaged ``manifest.json`` raises
:class:`ManifestError` naming the file and what is wrong; nothing is published into that
month until it is restored or moved aside (its published files stay; a new manifest
starts from the numbers of the files present). Paths inside a manifest are relative to
its folder.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from aidebt.errors import InvalidArgumentError, InvalidValueError
from aidebt.report._io import abandoned, hold, locked, place, publish, sha256_file, write_atomic

MANIFEST = "manifest.json"
FAILED = "_failed"
LOCK = ".lock"
STAGING = ".staging"
RUN_PREFIX = ".run-"
MANIFEST_VERSION = 2
"""2: paths relative to the manifest's folder, ``last_revision`` per notebook."""

_OWNER = ".owner"  # held by the live run that owns a .run-* or staging folder
_ENTRY = "entry.json"  # written last into a staging folder: the staged revision is whole
_STAGED = {"html": "page.html", "ipynb": "notebook.ipynb"}


def revision_stem(name: str, revision: int) -> str:
    """``subgroup_audit`` for revision 1, ``subgroup_audit.r2`` after.

    Examples
    --------
    >>> revision_stem("subgroup_audit", 1), revision_stem("subgroup_audit", 3)
    ('subgroup_audit', 'subgroup_audit.r3')
    """
    return name if revision == 1 else f"{name}.r{revision}"


class ManifestError(InvalidValueError):
    """A ``manifest.json`` that cannot be read or does not hold what aidebt writes."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = Path(path), reason
        month = self.path.parent.name
        super().__init__(
            f"the manifest {self.path} is damaged ({reason}): restore it from a backup or fix "
            f"it, or move it aside to start a new one; nothing is published into {month} "
            "until then (its published reports stay where they are)."
        )


@dataclass(frozen=True)
class Published:
    """One published revision of a report."""

    name: str
    month: str
    revision: int
    html: Path
    ipynb: Path
    manifest: Path


@dataclass
class Claim:
    """A revision number taken by a live run: its staging folder, locked while held.

    Use as a context manager: leaving the block releases the claim (removes the staging
    folder) unless :meth:`ReportStore.commit` published it.
    """

    store: ReportStore
    month: str
    name: str
    revision: int
    folder: Path
    _owner: BinaryIO | None = field(default=None, repr=False)

    @property
    def html_name(self) -> str:
        return f"{revision_stem(self.name, self.revision)}.html"

    @property
    def ipynb_name(self) -> str:
        return f"{revision_stem(self.name, self.revision)}.ipynb"

    def release(self) -> None:
        """Give the number back (nothing published) or drop the committed staging folder."""
        if self._owner is None:
            return
        with self.store.lock():  # under the lock: a folder without owner is a leftover
            # the entry first: killed halfway, what remains is no whole revision to complete
            with contextlib.suppress(OSError):
                (self.folder / _ENTRY).unlink()
            shutil.rmtree(self.folder, ignore_errors=True)
            _remove_empty(self.folder.parent)
        self._owner.close()
        self._owner = None

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


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
        if isinstance(root, str) and not root.strip():
            raise InvalidArgumentError(
                "the reports folder is an empty name: pass a folder (--out reports), "
                "or leave it out for the config's or ./reports."
            )
        self.root = Path(root)

    def month_dir(self, month: str) -> Path:
        return self.root / month

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """The one lock of the folder: claims, commits, repairs, failures and the index."""
        return locked(self.root / LOCK)

    # -- before a run ---------------------------------------------------------------

    def check_writable(self, month: str) -> None:
        """Raise :class:`~aidebt.errors.InvalidArgumentError` unless a run can publish
        into ``month`` (the folders exist or can be made, and take new files), or
        :class:`ManifestError` when the month's manifest is damaged. Creates ``root``.
        """
        folders = (self.root, self.month_dir(month))
        for folder in folders:
            if folder.exists() and not folder.is_dir():
                raise InvalidArgumentError(
                    f"cannot publish reports into {folder}: it is not a folder. "
                    "Pass --out a folder (it is created if it does not exist)."
                )
        folder = self.root
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with self.lock():  # a concurrent run's repair removes temporary files
                for folder in folders:  # the error below names the folder that failed
                    if folder.is_dir():
                        fd, probe = tempfile.mkstemp(dir=folder, prefix=".probe-", suffix=".tmp")
                        os.close(fd)
                        os.unlink(probe)
        except OSError as exc:
            raise InvalidArgumentError(
                f"cannot write reports into {folder}: {exc.strerror or exc}. "
                "Pass --out a folder you can write to."
            ) from None
        self.read_manifest(month)

    @contextlib.contextmanager
    def scratch(self) -> Iterator[Path]:
        """A working folder for one run (``root/.run-*``), removed when the block ends.

        Repairs what killed runs left first (:meth:`repair`).
        """
        with self.lock():
            self.repair()
            folder = Path(tempfile.mkdtemp(dir=self.root, prefix=RUN_PREFIX))
            owner = hold(folder / _OWNER)
        try:
            yield folder
        finally:
            with self.lock():
                shutil.rmtree(folder, ignore_errors=True)
            owner.close()

    # -- revisions ------------------------------------------------------------------

    def next_revision(self, month: str, name: str) -> int:
        """One more than the highest revision of ``name`` ever seen in ``month``."""
        return self._highest(month, name, self.read_manifest(month)) + 1

    def _highest(self, month: str, name: str, doc: dict[str, Any]) -> int:
        seen = [int(doc["last_revision"].get(name, 0))]
        seen += [e["revision"] for e in doc["reports"] if e["notebook"] == name]
        folder = self.month_dir(month)
        published = re.compile(rf"{re.escape(name)}(?:\.r(\d+))?\.(?:html|ipynb)")
        staged = re.compile(rf"{re.escape(name)}\.r(\d+)")
        for pattern, where in ((published, folder), (staged, folder / STAGING)):
            if where.is_dir():
                for path in where.iterdir():
                    if m := pattern.fullmatch(path.name):
                        seen.append(int(m.group(1) or 1))
        return max(seen)

    def claim(self, month: str, name: str, revision: int | None = None) -> Claim:
        """Take the next revision number of ``name`` in ``month`` (or ``revision``,
        which must be that number: ``FileExistsError`` when it is taken)."""
        with self.lock():
            self._repair_month(month)
            nxt = self._highest(month, name, self.read_manifest(month)) + 1
            if revision is None:
                revision = nxt
            if revision < nxt:
                raise FileExistsError(
                    f"revision {revision} of {name!r} in {month} is taken; the next is {nxt}"
                )
            if revision > nxt:
                raise InvalidArgumentError(
                    f"revision {revision} of {name!r} in {month} would skip {nxt}: "
                    "revision numbers go up one at a time."
                )
            folder = self.month_dir(month) / STAGING / f"{name}.r{revision}"
            folder.mkdir(parents=True)
            try:
                owner = hold(folder / _OWNER)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
        return Claim(self, month, name, revision, folder, owner)

    def commit(self, claim: Claim, html: str, notebook: str, entry: dict[str, Any]) -> Published:
        """Publish the claimed revision: stage its three parts, then place them.

        Raises ``FileExistsError`` when a file outside aidebt's control took one of its
        names (claim again); any other error leaves nothing published. The claim is
        released either way.
        """
        with claim:
            entry = self._stage(claim, html, notebook, entry)
            folder = self.month_dir(claim.month)
            with self.lock():
                self._place(claim.month, claim.folder, entry, self.read_manifest(claim.month))
            return Published(
                claim.name,
                claim.month,
                claim.revision,
                folder / entry["html"],
                folder / entry["ipynb"],
                folder / MANIFEST,
            )

    def publish(
        self,
        month: str,
        name: str,
        revision: int,
        html: str,
        notebook: str,
        entry: dict[str, Any],
    ) -> Published:
        """Claim ``revision`` and commit it in one step (see :meth:`claim`, :meth:`commit`)."""
        return self.commit(self.claim(month, name, revision), html, notebook, entry)

    def _stage(
        self, claim: Claim, html: str, notebook: str, entry: dict[str, Any]
    ) -> dict[str, Any]:
        data = {"html": html.encode("utf-8"), "ipynb": notebook.encode("utf-8")}
        for key, staged in _STAGED.items():
            write_atomic(claim.folder / staged, data[key])
        entry = {
            **entry,
            "notebook": claim.name,
            "revision": claim.revision,
            "html": claim.html_name,
            "ipynb": claim.ipynb_name,
            "html_bytes": len(data["html"]),
            "html_sha256": hashlib.sha256(data["html"]).hexdigest(),
            "ipynb_sha256": hashlib.sha256(data["ipynb"]).hexdigest(),
        }
        write_atomic(claim.folder / _ENTRY, json.dumps(entry, ensure_ascii=False))  # whole
        return entry

    def _place(self, month: str, staged: Path, entry: dict[str, Any], doc: dict[str, Any]) -> None:
        """Under the lock: give the staged files their names, then add the entry (last).

        Files already in place with the staged content (a killed run's) are kept; on
        any error the files placed here are removed again.
        """
        name, revision = entry["notebook"], entry["revision"]
        if any(e["notebook"] == name and e["revision"] == revision for e in doc["reports"]):
            raise FileExistsError(
                f"{month}/{MANIFEST} already lists revision {revision} of {name!r}"
            )
        folder = self.month_dir(month)
        placed: list[Path] = []
        try:
            for key, staged_name in _STAGED.items():
                target = folder / entry[key]
                if target.exists() and sha256_file(target) == entry[f"{key}_sha256"]:
                    continue  # placed by the run that staged it, before it was killed
                source = staged / staged_name
                if not source.is_file() or sha256_file(source) != entry[f"{key}_sha256"]:
                    raise FileNotFoundError(f"the staged {key} of {target.name} is incomplete")
                place(source, target)
                placed.append(target)
            last = {**doc["last_revision"]}
            last[name] = max(int(last.get(name, 0)), revision)
            new = {
                **doc,
                "manifest_version": MANIFEST_VERSION,
                "paths": "relative to this folder",
                "last_revision": last,
                "reports": [*doc["reports"], entry],
            }
            write_atomic(folder / MANIFEST, json.dumps(new, indent=2, ensure_ascii=False) + "\n")
        except BaseException:
            for target in placed:
                with contextlib.suppress(OSError):
                    target.unlink()
            raise
        doc.update(new)  # the entry is published: the manifest was the commit point

    # -- repairing what killed runs left ---------------------------------------------

    def repair(self) -> None:
        """Complete or remove killed runs' staged revisions in every month, delete their
        working folders and half-written temporary files. Call under :meth:`lock`."""
        if not self.root.is_dir():
            return
        for path in self.root.iterdir():
            if path.name.startswith(RUN_PREFIX) and path.is_dir():
                if abandoned(path / _OWNER):
                    shutil.rmtree(path, ignore_errors=True)
            elif path.is_dir() and _is_month(path.name):
                self._repair_month(path.name)
        for folder in (self.root, *(self.root / FAILED).glob("*")):
            _remove_temporary(folder)

    def _repair_month(self, month: str) -> None:
        folder = self.month_dir(month)
        _remove_temporary(folder)
        staging = folder / STAGING
        if not staging.is_dir():
            return
        try:
            doc = self.read_manifest(month)
        except ManifestError:
            return  # repaired once the manifest is: it decides what is published
        for claimed in list(staging.iterdir()):
            if not claimed.is_dir() or abandoned(claimed / _OWNER):
                self._finish(month, claimed, doc)
        _remove_empty(staging)

    def _finish(self, month: str, claimed: Path, doc: dict[str, Any]) -> None:
        """A killed run's staged revision: complete it when whole, else remove it."""
        entry = _read_entry(claimed / _ENTRY)
        if entry is not None:
            listed = any(
                e["notebook"] == entry["notebook"] and e["revision"] == entry["revision"]
                for e in doc["reports"]
            )
            if not listed:
                try:
                    self._place(month, claimed, entry, doc)
                except (FileExistsError, FileNotFoundError):
                    self._unplace(month, entry, doc)  # cannot be completed: take it back
                except OSError:
                    return  # a full disk, say: left whole for the next run to finish
        if claimed.is_dir():
            shutil.rmtree(claimed, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                claimed.unlink()

    def _unplace(self, month: str, entry: dict[str, Any], doc: dict[str, Any]) -> None:
        """Remove the files of an unpublished staged revision that its run had placed."""
        listed = {e[key] for e in doc["reports"] for key in _STAGED}
        for key in _STAGED:
            target = self.month_dir(month) / entry[key]
            if target.name in listed or not target.is_file():
                continue
            if sha256_file(target) == entry[f"{key}_sha256"]:
                target.unlink()

    # -- reading ----------------------------------------------------------------------

    def read_manifest(self, month: str) -> dict[str, Any]:
        """The month's manifest, checked; raises :class:`ManifestError` when damaged."""
        path = self.month_dir(month) / MANIFEST
        if not path.exists():
            return {
                "manifest_version": MANIFEST_VERSION,
                "month": month,
                "last_revision": {},
                "reports": [],
            }
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ManifestError(path, f"cannot be read: {exc.strerror or exc}") from None
        return _parse_manifest(path, data, month)

    def months(self) -> list[str]:
        """Periods (months, quarters, runs of months) that have a manifest, newest first."""
        if not self.root.is_dir():
            return []
        found = [p.parent.name for p in self.root.glob(f"*/{MANIFEST}")]
        return sorted((m for m in found if _is_month(m)), key=period_order, reverse=True)

    def keep_failed(self, month: str, name: str, notebook: str) -> Path:
        """Keep a failed run's executed notebook aside, under a fresh timestamped name."""
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        folder = self.root / FAILED / month
        with self.lock():
            for attempt in range(1, 1000):
                suffix = "" if attempt == 1 else f"-{attempt}"
                try:
                    return publish(folder / f"{name}.{stamp}{suffix}.ipynb", notebook)
                except FileExistsError:
                    continue
        raise FileExistsError(f"too many failed runs of {name} at {stamp} in {folder}")


def _parse_manifest(path: Path, data: bytes, month: str) -> dict[str, Any]:
    def damaged(reason: str) -> ManifestError:
        return ManifestError(path, reason)

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise damaged("not UTF-8 text") from None
    if not text.strip():
        raise damaged("empty")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise damaged(
            f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    if not isinstance(doc, dict):
        raise damaged("not a JSON object")
    version = doc.get("manifest_version", 1)
    if not _whole(version):
        raise damaged(f"manifest_version is {version!r}")
    if version > MANIFEST_VERSION:
        raise damaged(
            f"written by a newer aidebt: manifest_version {version}, this one reads up to "
            f"{MANIFEST_VERSION}; upgrade aidebt"
        )
    reports = doc.get("reports")
    if not isinstance(reports, list):
        raise damaged('"reports" is not a list')
    for i, entry in enumerate(reports, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("notebook"), str):
            raise damaged(f"entry {i} of the reports is not a report's entry")
        if not _whole(entry.get("revision")):
            raise damaged(f"entry {i} ({entry['notebook']}) has revision {entry.get('revision')!r}")
        for key in _STAGED:
            if not _file_name(entry.get(key)):
                raise damaged(f"entry {i} ({entry['notebook']}) has {key} {entry.get(key)!r}")
    last = doc.setdefault("last_revision", {})
    if not isinstance(last, dict) or not all(_whole(v) for v in last.values()):
        raise damaged('"last_revision" is not a table of revision numbers')
    doc.setdefault("month", month)
    return doc


def _read_entry(path: Path) -> dict[str, Any] | None:
    """A staged revision's entry, or None when it was never written whole."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = isinstance(entry, dict) and isinstance(entry.get("notebook"), str)
    ok = ok and _whole(entry.get("revision"))
    ok = ok and all(_file_name(entry.get(k)) and entry.get(f"{k}_sha256") for k in _STAGED)
    return entry if ok else None


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _file_name(value: Any) -> bool:
    """A plain file name of the month's folder: no folder part, not hidden."""
    return (
        isinstance(value, str)
        and value != ""
        and not value.startswith(".")
        and "/" not in value
        and "\\" not in value
    )


def _remove_temporary(folder: Path) -> None:
    """Half-written files of :func:`~aidebt.report._io.write_atomic` and friends.

    Called under the lock, and every write into these folders happens under it: a
    temporary file found here belongs to a run that died while writing it.
    """
    if folder.is_dir():
        for path in folder.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                path.unlink()


def _remove_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()


def _is_month(text: str) -> bool:
    """A folder named after a report's period, as :class:`~aidebt.periods.Window` writes it
    (``2026-11``, ``2026-Q3``, ``2026``, ``2025-01..2026-06``)."""
    from aidebt.periods import Window

    try:
        return str(Window.parse(text)) == text
    except ValueError:
        return False


def period_order(text: str) -> tuple[Any, ...]:
    """Sort key of period folders: by last month, then by length (newest first, reversed,
    puts a month before the quarter and the year that end with it)."""
    from aidebt.periods import Window

    window = Window.parse(text)
    return (window.last, -window.months)
