"""Errors raised by aidebt.

Every message names the column, the offending value and the fix. They subclass the
built-in ``ValueError``/``TypeError`` so that generic handlers keep working.
"""

from __future__ import annotations


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
