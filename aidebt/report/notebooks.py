"""Finding the report notebooks and checking the parameters given to them.

Notebooks live in the repository's top-level ``notebooks/`` folder; a wheel carries
them as ``aidebt/_notebooks``. A notebook declares its parameters in a cell tagged
``parameters`` (papermill's convention). A parameter's trailing comment may start with
tags, before a colon, that tell the runner how to treat it::

    data = None          # path to the production log (None: demo data)
    golden = None        # required: path to the golden set
    y_score = None       # column: the score (None: no score, so no AUC)
    version = None       # needed, column: the version column whose levels are compared
    label = "label"      # column of label_data: the label, 0/1

- ``required``: the run is refused unless the parameter is given;
- ``needed``: the notebook does not apply without it: ``aidebt report all`` skips it
  with a one-line reason (naming it explicitly is an error);
- ``column`` / ``columns`` (one name / a list of names): checked against the schema of
  the data (or of the input parameter named after ``of``) before any kernel starts,
  with a did-you-mean for a misspelled name.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aidebt.errors import InvalidArgumentError, InvalidValueError, did_you_mean

ALL = "all"

NOT_GIVEN = frozenset({"None", "none", "NONE"})
"""``-p`` values that mean "not given" besides YAML's own ``null``, ``~`` and empty."""

COMMON_PARAMETERS = (
    "data",
    "month",
    "time",
    "y_true",
    "y_pred",
    "y_score",
    "segments",
    "weight",
    "eval_data",
)
"""Notebook parameters the runner fills from ``audit.toml`` / the command line."""


def shipped(name: str) -> Path | None:
    """A top-level folder of the repository that ships with aidebt, or None.

    A wheel has it inside the package (``aidebt/_NAME``, see pyproject's force-include);
    an editable install or a source checkout has it at the repository root.
    """
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / f"_{name}", package.parent / name):
        if candidate.is_dir():
            return candidate
    return None


def notebooks_dir() -> Path:
    """The folder of the notebooks that ship with aidebt (``notebooks/``)."""
    found = shipped("notebooks")
    if found is None:
        package = Path(__file__).resolve().parent.parent
        raise InvalidArgumentError(
            f"cannot find aidebt's notebooks (looked in {package / '_notebooks'} and "
            f"{package.parent / 'notebooks'}); pass a notebooks folder explicitly."
        )
    return found


def example_policy() -> Path | None:
    """``examples/audit.toml``, the gate policy written for the demo data, if shipped."""
    folder = shipped("examples")
    return folder / "audit.toml" if folder and (folder / "audit.toml").is_file() else None


def list_notebooks(directory: str | os.PathLike[str] | None = None) -> list[Path]:
    """Every ``*.ipynb`` in ``directory`` (default :func:`notebooks_dir`), sorted.

    Files starting with ``_`` or ``.`` (drafts, checkpoints) are not reports.
    """
    directory = Path(directory) if directory is not None else notebooks_dir()
    return sorted(
        p for p in directory.glob("*.ipynb") if p.is_file() and not p.name.startswith(("_", "."))
    )


def resolve_notebooks(
    names: str | Sequence[str], directory: str | os.PathLike[str] | None = None
) -> list[Path]:
    """Notebook names (or ``"all"``, or paths to ``.ipynb`` files) -> paths.

    Examples
    --------
    >>> resolve_notebooks("nope", directory=".")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    InvalidArgumentError: unknown notebook 'nope'...
    """
    names = ([names] if isinstance(names, str) else list(names)) or [ALL]
    found: list[Path] | None = None

    def available() -> list[Path]:
        nonlocal found
        if found is None:
            found = list_notebooks(directory)
        return found

    paths: list[Path] = []
    for name in names:
        as_path = Path(name)
        if name == ALL:
            if not available():
                where = directory if directory is not None else notebooks_dir()
                raise InvalidArgumentError(f"no notebooks found in {where}.")
            paths.extend(available())
        elif as_path.suffix == ".ipynb" and as_path.is_file():
            paths.append(as_path)
        else:
            match = [p for p in available() if name in (p.stem, p.name)]
            if not match:
                stems = [p.stem for p in available()]
                raise InvalidArgumentError(
                    f"unknown notebook {name!r}. {did_you_mean(name, stems)}"
                )
            paths.extend(match)
    unique: dict[Path, None] = dict.fromkeys(p.resolve() for p in paths)
    return list(unique)


_TAG = re.compile(r"^(required|needed|columns?)(?: of ([A-Za-z_]\w*))?$", re.IGNORECASE)


@dataclass(frozen=True)
class Parameter:
    """One parameter a notebook declares in its ``parameters`` cell."""

    name: str
    default: Any
    source: str
    type: str
    help: str

    def _tags(self) -> dict[str, str | None]:
        """The tags before the comment's first colon (see the module's docstring)."""
        head, colon, _ = self.help.partition(":")
        if not colon:
            return {}
        tags: dict[str, str | None] = {}
        for part in head.split(","):
            found = _TAG.match(part.strip())
            if not found:
                return {}  # ordinary prose that happens to contain a colon
            tags[found.group(1).lower()] = found.group(2)
        return tags

    @property
    def required(self) -> bool:
        return "required" in self._tags() or self.help.strip().lower().startswith("required")

    @property
    def needed(self) -> bool:
        """The notebook does not apply when this parameter is not given (None)."""
        return "needed" in self._tags()

    @property
    def column_of(self) -> str | None:
        """The input whose columns this parameter names (``"data"`` by default), or None."""
        tags = self._tags()
        for tag in ("column", "columns"):
            if tag in tags:
                return tags[tag] or "data"
        return None

    @property
    def description(self) -> str:
        """The comment without its tags: what the parameter is, for messages."""
        return self.help.partition(":")[2].strip() if self._tags() else self.help.strip()


def read_notebook(path: str | os.PathLike[str]) -> Any:
    """A notebook (nbformat v4) that can be rendered, or an error that says what is wrong.

    It must be readable JSON and name its kernel (``metadata.kernelspec.name``): papermill
    needs the kernel to read the parameters cell, and would fail with a traceback.
    """
    import nbformat

    path = Path(path)
    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError) as exc:  # missing, not JSON, not UTF-8
        first = next(iter(str(exc).strip().splitlines()), type(exc).__name__)
        raise InvalidArgumentError(f"cannot read notebook {str(path)!r}: {first}") from None
    except (AttributeError, KeyError, TypeError):  # JSON, but not a notebook's
        raise InvalidArgumentError(
            f"cannot read notebook {str(path)!r}: it is JSON but not a Jupyter notebook."
        ) from None
    _require_kernel(nb, path)
    return nb


def _require_kernel(nb: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Papermill needs the kernel a notebook names to read its parameters cell."""
    meta = nb.get("metadata", {})
    kernel = meta.get("kernelspec", {}) if isinstance(meta, Mapping) else {}
    if not isinstance(kernel, Mapping) or not kernel.get("name"):
        raise InvalidArgumentError(
            f"notebook {str(path)!r} names no kernel (metadata.kernelspec is missing): open "
            "it in Jupyter, choose the Python 3 kernel and save it."
        )


def inspect_parameters(path: str | os.PathLike[str]) -> dict[str, Parameter]:
    """The parameters a notebook declares, with their defaults evaluated when literal.

    Read from the cell tagged ``parameters`` (papermill's convention) with Python's own
    parser: no kernel, no papermill import, so a run's checks take a fraction of a second.
    Each top-level assignment is a parameter; its trailing comment is its help.

    Examples
    --------
    >>> import json, tempfile, pathlib
    >>> cell = {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "outputs": [],
    ...         "execution_count": None,
    ...         "source": "data = None  # the log\\nsegments = ['region']  # columns: to split by"}
    >>> kernel = {"kernelspec": {"name": "python3", "display_name": "Python 3"}}
    >>> nb = {"cells": [cell], "metadata": kernel, "nbformat": 4, "nbformat_minor": 5}
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "n.ipynb"
    >>> _ = p.write_text(json.dumps(nb))
    >>> params = inspect_parameters(p)
    >>> params["segments"].default, params["segments"].column_of, params["data"].help
    (['region'], 'data', 'the log')
    """
    import json

    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        first = next(iter(str(exc).strip().splitlines()), type(exc).__name__)
        raise InvalidArgumentError(f"cannot read notebook {str(path)!r}: {first}") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells", []), list):
        raise InvalidArgumentError(
            f"cannot read notebook {str(path)!r}: it is JSON but not a Jupyter notebook."
        )
    _require_kernel(nb, path)
    cells = nb.get("cells", [])
    for cell in cells:
        tags = (cell.get("metadata") or {}).get("tags") or []
        if cell.get("cell_type") == "code" and "parameters" in tags:
            source = cell.get("source", "")
            return _parse_parameters("".join(source) if isinstance(source, list) else source, path)
    return {}


def _parse_parameters(source: str, path: str | os.PathLike[str]) -> dict[str, Parameter]:
    import io
    import tokenize

    try:
        tree = ast.parse(source)
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (SyntaxError, tokenize.TokenError) as exc:
        raise InvalidArgumentError(
            f"the parameters cell of {Path(path).name} is not valid Python: {exc}"
        ) from None
    comments = {
        t.start[0]: t.string.lstrip("#").strip() for t in tokens if t.type == tokenize.COMMENT
    }
    params: dict[str, Parameter] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if not isinstance(target, ast.Name):
            continue
        text = ast.get_source_segment(source, value) or ""
        try:
            default = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            default = text  # an expression, kept as written
        help_text = comments.get(node.end_lineno or node.lineno) or comments.get(node.lineno, "")
        params[target.id] = Parameter(
            name=target.id,
            default=default,
            source=text,
            type=type(default).__name__ if default is not None else "None",
            help=help_text,
        )
    return params


def bind_parameters(
    declared: Mapping[Path, Mapping[str, Parameter]],
    common: Mapping[str, Any],
    explicit: Mapping[str, Any],
) -> dict[Path, dict[str, Any]]:
    """The parameters to pass to each notebook, or an error before anything runs.

    ``common`` values (from ``audit.toml`` and the standard options) go to the notebooks
    that declare them and are skipped elsewhere: one config serves every notebook.
    ``explicit`` values (``-p NAME VALUE``) must be declared by at least one notebook,
    and a notebook's ``required`` parameters must all be given.
    """
    for name in explicit:
        if not any(name in params for params in declared.values()):
            valid = sorted({n for params in declared.values() for n in params})
            which = _which(declared)
            raise InvalidArgumentError(
                f"unknown parameter {name!r} for {which}. "
                f"{did_you_mean(name, valid) if valid else 'It declares no parameters.'}"
            )
    bound: dict[Path, dict[str, Any]] = {}
    for path, params in declared.items():
        given = {k: v for k, v in {**common, **explicit}.items() if k in params}
        missing = [p.name for p in params.values() if p.required and p.name not in given]
        if missing:
            raise InvalidArgumentError(
                f"notebook {path.stem!r} needs parameter(s) {', '.join(map(repr, missing))} "
                f"(pass -p NAME VALUE). Its parameters: {', '.join(params)}."
            )
        bound[path] = given
    return bound


def _which(declared: Iterable[Path]) -> str:
    names = [p.stem for p in declared]
    return f"notebook {names[0]!r}" if len(names) == 1 else f"notebooks {', '.join(names)}"


def notebook_title(nb: Any, default: str) -> str:
    """The text of the notebook's first markdown ``# heading``, else ``default``."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return default


def parse_value(text: str) -> Any:
    """Parse a ``-p NAME VALUE`` value as YAML, the way papermill's ``-y`` does.

    Dates come back as ISO strings so every value stays JSON-serializable. ``None``,
    ``null``, ``~`` and an empty value all mean "not given" (Python's spelling too,
    since every parameter's comment says "None: ...").

    Examples
    --------
    >>> parse_value("[region, tier]"), parse_value("0.8"), parse_value("en")
    (['region', 'tier'], 0.8, 'en')
    >>> parse_value("2026-11-01")
    '2026-11-01'
    >>> [parse_value(text) for text in ("None", "null", "~", "")]
    [None, None, None, None]
    """
    import datetime as dt

    import yaml

    if text.strip() in NOT_GIVEN:
        return None

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidValueError(f"cannot parse parameter value {text!r} as YAML: {exc}") from None

    def plain(v: Any) -> Any:
        if isinstance(v, dt.date | dt.datetime):
            return v.isoformat()
        if isinstance(v, list):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        return v

    return plain(value)
