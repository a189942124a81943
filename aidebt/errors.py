"""Errors raised by aidebt.

Every message names the column, the offending value and the fix. They subclass the
built-in ``ValueError``/``TypeError`` so that generic handlers keep working.
"""

from __future__ import annotations

import unicodedata


class AidebtError(Exception):
    """Base class of every error aidebt raises on purpose."""


class ColumnNotFoundError(AidebtError, ValueError):
    """A named column is not in the data."""


class ColumnTypeError(AidebtError, TypeError):
    """A column has a type the analysis cannot use."""


class InvalidValueError(AidebtError, ValueError):
    """A column or argument holds a value the analysis cannot use."""


class InvalidArgumentError(AidebtError, ValueError):
    """An argument is not one of the accepted values."""


def did_you_mean(name: str, choices) -> str:
    """A short hint listing the valid choices, closest first."""
    import difflib

    choices = [str(c) for c in choices]
    close = difflib.get_close_matches(str(name), choices, n=3)
    listed = ", ".join(repr(c) for c in choices[:30])
    more = f" (and {len(choices) - 30} more)" if len(choices) > 30 else ""
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"Available: {listed}{more}.{hint}"


def printable(text: object) -> str:
    """``text`` with every character a terminal or a log would act on shown as an escape.

    Control characters (newlines, carriage returns, ANSI escape sequences, backspaces),
    line and paragraph separators and the invisible format characters (bidirectional
    overrides, zero-width ones) are written as Python writes them in a ``repr``:
    ``\\n``, ``\\x1b``, ``\\u202e``; spaces of every script stay as they are. So a value
    from the data prints on one line and can neither erase nor forge another line of the
    output. Every line the ``aidebt`` command prints, and every report sentence that
    quotes the data, passes through here.

    Examples
    --------
    >>> printable("ja\\x1b[2K\\rPASS\\nreal")
    'ja\\\\x1b[2K\\\\rPASS\\\\nreal'
    >>> printable("région\u3000東京 ✓")
    'région\u3000東京 ✓'
    """
    text = str(text)
    if text.isprintable():
        return text
    return "".join(
        c
        if c.isprintable() or unicodedata.category(c) == "Zs"
        else c.encode("unicode_escape").decode("ascii")
        for c in text
    )


class MissingExtraError(AidebtError, ImportError):
    """A feature needs an optional extra that is not installed (the message says which)."""


class ReportError(AidebtError, RuntimeError):
    """A report could not be rendered or published."""


class NotebookFailedError(ReportError):
    """A notebook raised while it executed: nothing was published for it.

    ``failures`` lists one :class:`aidebt.report.Failure` per failed notebook (what
    failed, in which cell, and where the executed notebook was kept); ``result`` is the
    whole :class:`aidebt.report.RenderResult` when the run published other notebooks.
    """

    def __init__(self, message: str, failures=(), result=None) -> None:
        super().__init__(message)
        self.failures = list(failures)
        self.result = result
