"""File writes that never leave a half-written or overwritten file behind.

Every file the report runner writes goes through :func:`write_atomic` (replace) or
:func:`publish` / :func:`place` (create, never replace). Both write to a temporary file
in the target's own directory first, so the final step is a rename or a hard link on
one file system. :func:`locked`, :func:`hold` and :func:`abandoned` are the locks that
serialize writers and tell a live run's folders from a killed run's leftovers.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def _write_temp(directory: Path, data: bytes, name: str) -> Path:
    """Write ``data`` to a fresh, fsynced temporary file in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; reports are meant to be shared
    return Path(tmp)


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


def write_atomic(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write ``data`` to ``path``, replacing it atomically: readers see old or new.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = write_atomic(pathlib.Path(tempfile.mkdtemp()) / "a.txt", "hello")
    >>> p.read_text()
    'hello'
    """
    path = Path(path)
    tmp = _write_temp(path.parent, _as_bytes(data), path.name)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def publish(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Create ``path`` with ``data``; raise ``FileExistsError`` if it already exists.

    The data is written to a temporary file first and then put in place by :func:`place`,
    so ``path`` never exists half-written, not even on a file system without hard links.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = publish(pathlib.Path(tempfile.mkdtemp()) / "r.html", "<p>1</p>")
    >>> try:
    ...     publish(p, "<p>2</p>")
    ... except FileExistsError:
    ...     print(p.read_text())
    <p>1</p>
    """
    path = Path(path)
    tmp = _write_temp(path.parent, _as_bytes(data), path.name)
    try:
        place(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return path


_NO_HARD_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK)


def place(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> bool:
    """Give the complete file ``source`` the new name ``target``, never replacing a file.

    A hard link is atomic and refuses an existing ``target``; it keeps ``source`` (returns
    True). Where the file system has no hard links, ``source`` is renamed (returns False):
    also atomic, so no reader ever sees an empty or partial ``target``, but exclusive only
    among writers that check first under one lock, as every writer of the reports folder
    does (:meth:`aidebt.report.store.ReportStore.lock`).
    """
    try:
        os.link(source, target)
        return True
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target))
    os.rename(source, target)
    return False


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so large inputs never sit in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


_held = threading.local()  # lock files this thread holds: a nested ``locked`` passes


@contextlib.contextmanager
def locked(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed) for the ``with`` block.

    Serializes concurrent runs (processes and threads) that update the reports folder.
    Re-entrant within a thread. Where ``fcntl`` does not exist (Windows) the block runs
    unlocked; publishing stays safe through :func:`place`'s hard links.
    """
    key = os.path.abspath(path)
    depth = getattr(_held, "paths", None)
    if depth is None:
        depth = _held.paths = {}
    if depth.get(key):
        depth[key] += 1
        try:
            yield
        finally:
            depth[key] -= 1
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        depth[key] = 1
        try:
            yield
        finally:
            depth[key] = 0
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def hold(path: str | os.PathLike[str]) -> BinaryIO:
    """Create ``path`` and lock it for as long as the returned file stays open.

    Marks a folder as owned by a live process: the lock goes when the process does, even
    after ``kill -9``, and :func:`abandoned` tells. Without ``fcntl`` nothing is locked.
    """
    fh = open(path, "a+b")  # noqa: SIM115 - the caller keeps it open: that is the point
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return fh
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        fh.close()
        raise
    return fh


def abandoned(path: str | os.PathLike[str]) -> bool:
    """True when no live process holds ``path`` (see :func:`hold`; a missing file counts).

    Without ``fcntl`` nobody can tell: False, so nothing is ever taken for abandoned.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return False
    try:
        fh = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return True
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return True
