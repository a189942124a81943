"""What a run checks about the data before any kernel starts: columns, types, applicability.

A notebook's parameters say which of them name columns (``column`` / ``columns`` tags,
see :mod:`aidebt.report.notebooks`) and which it cannot do without (``needed``). Before
a render, every column a parameter names is looked up in the schema of its input (the
schema only: nothing is scanned), so a misspelled column costs a second and gets a
did-you-mean instead of a failed render; and a notebook whose needed inputs are absent
is skipped with one line that says what would enable it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import narwhals as nw

from aidebt import frames
from aidebt.errors import ColumnNotFoundError, ColumnTypeError, did_you_mean
from aidebt.prose import and_list
from aidebt.report.notebooks import Parameter

CONFIG_KEYS = {
    "data": "path",
    "eval_data": "eval_path",
    "time": "time",
    "y_true": "y_true",
    "y_pred": "y_pred",
    "y_score": "y_score",
    "segments": "segments",
    "weight": "weight",
    "version": "version",
    "pos_label": "pos_label",
}
"""Notebook parameter -> its key in ``[data]`` of audit.toml (the others: [report.parameters])."""

LABEL_ROLES = ("y_true", "y_pred")
"""Parameters whose column must hold 0/1 or booleans unless ``pos_label`` says otherwise."""


def how_to_give(name: str) -> str:
    """Where a user gives a notebook parameter, for messages.

    Examples
    --------
    >>> how_to_give("version")
    'set version in [data] of audit.toml, or pass -p version VALUE'
    >>> how_to_give("label_data")
    'set label_data in [report.parameters] of audit.toml, or pass -p label_data VALUE'
    """
    if name in CONFIG_KEYS:
        return f"set {CONFIG_KEYS[name]} in [data] of audit.toml, or pass -p {name} VALUE"
    return f"set {name} in [report.parameters] of audit.toml, or pass -p {name} VALUE"


def not_applicable(declared: Mapping[str, Parameter], given: Mapping[str, Any]) -> str | None:
    """Why a notebook does not apply (a ``needed`` parameter is not given), or None.

    Examples
    --------
    >>> p = Parameter("version", None, "None", "None",
    ...               "needed, column: the version column whose levels are compared")
    >>> not_applicable({"version": p}, {})
    'needs version (the version column whose levels are compared): set version in [data] of audit.toml, or pass -p version VALUE'
    >>> runs = Parameter("runs_data", None, "None", "None", "needed: the eval runs")
    >>> item = Parameter("item", None, "None", "None", "needed, column of runs_data: the item")
    >>> not_applicable({"runs_data": runs, "item": item}, {})
    'needs runs_data (the eval runs): set runs_data in [report.parameters] of audit.toml, or pass -p runs_data VALUE'
    """
    missing = [p for p in declared.values() if p.needed and given.get(p.name) is None]
    if not missing:
        return None
    absent = {p.name for p in missing}
    # The columns of an input that is itself missing go without saying: name the input.
    missing = [p for p in missing if p.column_of not in absent]
    needs = and_list(f"{p.name} ({p.description})" for p in missing)
    if len(missing) == 1:
        return f"needs {needs}: {how_to_give(missing[0].name)}"
    keys = and_list(
        f"{CONFIG_KEYS[p.name]} in [data]"
        if p.name in CONFIG_KEYS
        else f"{p.name} in [report.parameters]"
        for p in missing
    )
    return f"needs {needs}: set {keys} of audit.toml, or pass each with -p NAME VALUE"


class Schemas:
    """The schemas of a run's inputs, each read once (metadata only)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[Any, dict[str, Any]]] = {}

    def get(self, path: str) -> tuple[Any, dict[str, Any]]:
        """``(lazy frame, {column: dtype})`` of an input path."""
        if path not in self._cache:
            frame = frames.to_lazy(frames.load(path))
            self._cache[path] = (frame, frames.columns(frame))
        return self._cache[path]


def check_columns(
    name: str,
    declared: Mapping[str, Parameter],
    given: Mapping[str, Any],
    schemas: Schemas,
    checked: set[tuple[str, str, str]],
) -> None:
    """Raise before any kernel starts when a parameter of notebook ``name`` names a column
    its input lacks, or a column of the wrong kind (a text time, text labels without
    ``pos_label``). Problems are reported together, one line each."""
    problems: list[tuple[type[Exception], str]] = []
    for param in declared.values():
        source = param.column_of
        value = given.get(param.name, param.default)
        if source is None or value is None:
            continue
        path = given.get(source, declared[source].default if source in declared else None)
        if not isinstance(path, str | Path):
            continue  # no input given: the notebook uses its demo data, or skips the section
        frame, schema = schemas.get(str(path))
        where = "the data" if source == "data" else f"{source}"
        for column in frames.as_list(value):
            key = (str(path), param.name, str(column))
            if key in checked:
                continue
            checked.add(key)
            if not isinstance(column, str):
                problems.append(
                    (
                        ColumnTypeError,
                        f"parameter {param.name} of {name} names columns, got {column!r}: "
                        "pass a column name (a list of names in YAML: [region, tier]).",
                    )
                )
            elif column not in schema:
                problems.append(
                    (
                        ColumnNotFoundError,
                        f"column {column!r} (parameter {param.name}) is not in {where} "
                        f"({Path(path).name}). {did_you_mean(column, schema)}",
                    )
                )
            else:
                problems.extend(_type_problems(param.name, column, frame, schema, given))
    if problems:
        kind = next((k for k, _ in problems if k is ColumnNotFoundError), problems[0][0])
        raise kind("\n".join(text for _, text in problems))


def _type_problems(param, column, frame, schema, given) -> list[tuple[type[Exception], str]]:
    dtype = schema[column]
    if param == "time" and not frames.is_temporal(dtype):
        values = frames.sample_values(frame, column, limit=3)
        return [
            (
                ColumnTypeError,
                f"column {column!r} (parameter time) holds {dtype} values such as {values}, "
                "not dates: store it as a date or datetime column (in a CSV file, write "
                "dates as YYYY-MM-DD, which is read as a date).",
            )
        ]
    text = dtype == nw.String or dtype == nw.Categorical
    if param in LABEL_ROLES and text and given.get("pos_label") is None:
        values = frames.sample_values(frame, column)
        return [
            (
                ColumnTypeError,
                f"column {column!r} (parameter {param}) holds text ({values}), not 0/1: say "
                f"which value means positive: {how_to_give('pos_label')}.",
            )
        ]
    return []
