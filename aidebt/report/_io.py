"""File writes that never leave a half-written or overwritten file behind.

Every file the report runner writes goes through :func:`write_atomic` (replace) or
:func:`publish` (create, never replace). Both write to a temporary file in the target's
own directory first, so the final step is a rename or a hard link on one filesystem.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


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

    A hard link from the temporary file is atomic *and* refuses to replace an existing
    file, so two runs racing for the same name can never overwrite each other. Where the
    filesystem has no hard links, an exclusive create reserves the name first.

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
        try:
            os.link(tmp, path)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return path


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so large inputs never sit in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def locked(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed) for the ``with`` block.

    Serializes concurrent runs that update the same manifest. Where ``fcntl`` does not
    exist (Windows) the block runs unlocked; publishing stays safe through :func:`publish`.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
