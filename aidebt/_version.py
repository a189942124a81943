"""The installed version of aidebt (``0.0.0`` in a source tree that was never installed).

Its own module so that code below the package root (``report/``) reads the version without
importing the root, which re-exports the whole public API.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("aidebt")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"
