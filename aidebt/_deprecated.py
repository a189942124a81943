"""Old spellings of renamed arguments, kept working for one release with a warning.

The vocabulary is one across the library: ``weight`` by keyword everywhere, ``confidence``
for every level, ``reference`` and ``current`` for the pair of frames compared. Calls
written against the earlier names still run; each emits a ``DeprecationWarning`` that
names the new spelling. Remove these shims in the release after next.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

from aidebt.errors import InvalidArgumentError

_NEXT = "will stop working in the next release"


def renamed(**renames: tuple[str, Callable[[Any], Any] | None]) -> Callable:
    """Accept ``old=`` for ``new=`` (``old=(new, convert)``), with a DeprecationWarning."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, (new, convert) in renames.items():
                if old not in kwargs:
                    continue
                value = kwargs.pop(old)
                if new in kwargs:
                    raise InvalidArgumentError(
                        f"{fn.__name__}() got both {old}= and {new}=: pass {new}= only."
                    )
                warnings.warn(
                    f"{fn.__name__}({old}=...) is deprecated and {_NEXT}: pass {new}= instead.",
                    DeprecationWarning,
                    stacklevel=2,
                )
                kwargs[new] = convert(value) if convert else value
            return fn(*args, **kwargs)

        return wrapper

    return decorate


def keyword_only(*names: str, after: int) -> Callable:
    """Accept ``names`` by position after the first ``after`` arguments, with a warning."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if len(args) > after:
                extra = args[after:]
                if len(extra) > len(names):
                    raise TypeError(
                        f"{fn.__name__}() takes at most {after + len(names)} positional "
                        f"arguments ({len(args)} given)"
                    )
                given = names[: len(extra)]
                for name, value in zip(given, extra, strict=True):
                    if name in kwargs:
                        raise TypeError(f"{fn.__name__}() got multiple values for {name!r}")
                    kwargs[name] = value
                args = args[:after]
                warnings.warn(
                    f"{fn.__name__}(): passing {', '.join(given)} by position is deprecated and "
                    f"{_NEXT}: pass {', '.join(f'{n}=...' for n in given)} by keyword.",
                    DeprecationWarning,
                    stacklevel=2,
                )
            return fn(*args, **kwargs)

        return wrapper

    return decorate


def alpha_to_confidence(alpha: Any) -> float:
    """``alpha=0.05`` (a test's level) as ``confidence=0.95``."""
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise InvalidArgumentError(
            f"alpha={alpha!r} must be between 0 and 1, e.g. 0.05 (better: confidence=0.95)."
        )
    return 1 - alpha
