"""``audit.toml``: the one config of an audit, read once for everyone.

Where the data is and what its columns mean (``[data]``), how reports are made
(``[report]``) and the readiness policy (``[gates.*]``, ``[rollback]``, parsed by
:func:`aidebt.policy.parse_policy`): ``aidebt report``, ``aidebt check`` and
:func:`aidebt.check` all read it through :func:`load_config`, so a job needs one line.

.. code-block:: toml

    [data]
    path = "logs/production.parquet"   # relative paths are relative to this file
    eval_path = "logs/eval.parquet"    # optional: the golden / evaluation set
    time = "ts"
    y_true = "y_true"
    y_pred = "y_pred"
    y_score = "score"
    segments = ["region", "language", "tier"]
    weight = ""                        # optional frequency-weight column
    version = "model_version"
    item = "item_id"                   # optional: eval items run under every version

    [report]
    out = "reports"
    min_n = 30                         # suppress groups below 30 rows in shared reports
    notebooks = ["subgroup_audit", "monthly_audit"]   # what "all" renders
    title = "Support assistant"        # the words of the reports: what is audited,
    feature = "the support assistant"  # what one row's output and outcome are called,
    decision = "answer"                # what an outcome of 1 (and 0) means, and what a
    outcome = "review"                 # decision of 1 means
    positive = "resolved"
    negative = "not resolved"
    flagged = "claimed resolved"
    good = { selection_rate = "neither" }          # the good direction of a metric
    names = { prompt_version = "prompt" }          # how a column is named in sentences
    parameters = { coverage_by = ["intent"] }      # any other notebook parameter

    [labels]                           # the label table (labels.* gate criteria)
    path = "labels.parquet"
    item = "ticket"
    rater = "rater"
    label = "label"
    gold = "expert"
    segments = ["language"]
    cost = "cost"                      # for the label audit's report: the price of a label

    [feedback]                         # one row per interaction (feedback.* criteria)
    path = "interactions.parquet"
    implicit = "implicit"
    explicit = "rating"
    positive = ">=4"
    signal = "signal"
    time = "ts"

The policy's tables (``[gates.*]``, ``[rollback]``) are validated by
:mod:`aidebt.policy` when the file is loaded and kept in :attr:`AuditConfig.raw` for the
code that judges them; ``[registry]`` is kept there too, and read (validated, with the
line of each bad key) by :func:`aidebt.lifecycle.load_registry` before any data is read
wherever it is used (a ``clocks`` gate criterion, the debt_clocks notebook): that reader
is an analysis, which this core module may not import.

Nothing in the file is ignored: an unknown table or key, at any level, is an error that
names the file, the line and the key path, with a did-you-mean, before any data is read
(``[rolback]`` would otherwise switch every rollback trigger off without a word).

**Declaring a key.** The allowed keys are derived from the declarations, so a key is
accepted the moment it is declared, and only then:

- ``[data]``, ``[report]``, ``[labels]`` and ``[feedback]``: a field of :class:`DataConfig` or :class:`ReportSettings`
  with a default of ``None``. Its annotation picks the parser (:data:`PARSERS`:
  ``str | None`` a text, ``""`` meaning not set; ``Path | None`` a path relative to the
  config; ``tuple[str, ...] | None`` a list of names; ``int | None`` a whole number
  >= 0; ``float | None`` a finite number; ``bool | None`` true or false), or
  ``field(default=None, metadata={"parse": fn})`` gives one of its own: ``fn(value,
  base)`` returns the parsed value or raises :class:`ConfigValueError` with the reason.
- ``[gates]`` settings, stage criteria and their options: the tables of
  :mod:`aidebt.policy` (``SETTINGS``, ``CRITERIA`` and the option tuples beside them).
- a new top-level table: an entry of :data:`TABLES`, and its reader.
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from aidebt.errors import InvalidArgumentError, InvalidValueError, did_you_mean

__all__ = [
    "AuditConfig",
    "ConfigError",
    "ConfigValueError",
    "DataConfig",
    "FeedbackConfig",
    "LabelsConfig",
    "PARSERS",
    "ReportSettings",
    "TABLES",
    "finite_number",
    "line_of",
    "load_config",
    "parser",
    "read_table",
    "unknown_key",
]


@dataclass(frozen=True)
class DataConfig:
    """The ``[data]`` table: input files and column roles."""

    path: Path | None = None
    eval_path: Path | None = None
    time: str | None = None
    y_true: str | None = None
    y_pred: str | None = None
    y_score: str | None = None
    segments: tuple[str, ...] | None = None
    weight: str | None = None
    version: str | None = None
    item: str | None = None  # the item-id column: versions run on the same items pair on it
    time_format: str | None = None  # strptime format of a text time column, e.g. "%m/%d/%Y"
    pos_label: Any = field(default=None, metadata={"parse": lambda v, base: _pos_label(v)})


@dataclass(frozen=True)
class LabelsConfig:
    """The ``[labels]`` table: the label table of the label audit (:mod:`aidebt.labels`).

    Long format, one row per item x labeler: ``item`` (what was labeled), ``rater`` (who
    labeled it: a person, a crowd worker, an LLM judge), ``label`` (0/1), ``gold`` (the
    value of ``rater`` trusted as the truth, e.g. ``"expert"``); ``segments`` (columns of
    the table to judge a ``labels.*`` criterion in too) and ``time`` (when set, a gate check
    uses the labels of the month checked only). For the label audit's report also:
    ``cost`` (the price of each label), ``y_pred`` (the decision, in the label table) and
    ``production`` (the value of ``rater`` behind the production figures).
    """

    path: Path | None = None
    item: str | None = None
    rater: str | None = None
    label: str | None = None
    gold: str | None = None
    segments: tuple[str, ...] | None = None
    time: str | None = None
    cost: str | None = None
    y_pred: str | None = None
    production: str | None = None

    def notebook_parameters(self) -> dict[str, Any]:
        """The label audit's notebook parameters this table sets (one place for both).

        The gates and the reports read the same label table, so its columns are written
        once, here; ``[report.parameters]`` may not name them differently
        (:func:`load_config` refuses it).

        Examples
        --------
        >>> LabelsConfig(item="ticket", segments=("language",)).notebook_parameters()
        {'item': 'ticket', 'label_segments': ['language']}
        """
        values = {
            "label_data": str(self.path) if self.path else None,
            "item": self.item,
            "rater": self.rater,
            "label": self.label,
            "gold": self.gold,
            "label_segments": list(self.segments) if self.segments is not None else None,
            "cost": self.cost,
            "label_y_pred": self.y_pred,
            "production_source": self.production,
        }
        return {k: v for k, v in values.items() if v is not None}


LABELS_PARAMETERS = {
    "label_data": "path",
    "item": "item",
    "rater": "rater",
    "label": "label",
    "gold": "gold",
    "label_segments": "segments",
    "cost": "cost",
    "label_y_pred": "y_pred",
    "production_source": "production",
}
"""Notebook parameter -> the ``[labels]`` key that sets it."""


@dataclass(frozen=True)
class FeedbackConfig:
    """The ``[feedback]`` table: one row per interaction with its implicit label and the
    user's rating when there is one (:func:`aidebt.feedback.feedback`).

    ``implicit`` (1 served, 0 not, null undecided), ``explicit`` (the rating, null when
    not rated), ``positive`` (which ratings count as positive: ``">=4"``, a value or a
    list; not set: 0/1 ratings), ``signal`` (the rule that decided the implicit label:
    the correction re-weights within it), ``segments``, ``time`` (when set, a gate check
    uses the interactions of the month checked only) and ``weight``.
    """

    path: Path | None = None
    implicit: str | None = None
    explicit: str | None = None
    positive: Any = field(default=None, metadata={"parse": lambda v, base: _label_values(v)})
    signal: str | None = None
    segments: tuple[str, ...] | None = None
    time: str | None = None
    weight: str | None = None


VOCABULARY = ("title", "feature", "decision", "outcome", "positive", "negative", "flagged")
"""The ``[report]`` keys that name things in the reports' sentences (all text)."""

DIRECTIONS = ("higher", "lower", "neither")
"""The values of ``[report] good``: which direction of a metric is good."""


@dataclass(frozen=True)
class ReportSettings:
    """The ``[report]`` table: where reports land, what they show and in which words.

    The words (``title``, ``feature``, ``decision``, ``outcome``, ``positive``,
    ``negative``, ``flagged``), ``good`` (metric -> ``"higher"``, ``"lower"`` or
    ``"neither"``), ``names`` (column -> how sentences name it) and ``parameters`` (any
    other notebook parameter, by name) become notebook parameters of the same names.
    """

    out: Path | None = None
    min_n: int | None = None
    notebooks: tuple[str, ...] | None = None
    title: str | None = None
    feature: str | None = None
    decision: str | None = None
    outcome: str | None = None
    positive: str | None = None
    negative: str | None = None
    flagged: str | None = None
    good: dict[str, str] | None = field(
        default=None, metadata={"parse": lambda v, b: _directions(v)}
    )
    names: dict[str, str] | None = field(default=None, metadata={"parse": lambda v, b: _mapping(v)})
    parameters: dict[str, Any] | None = field(
        default=None, metadata={"parse": lambda v, b: _parameters(v)}
    )

    def notebook_parameters(self) -> dict[str, Any]:
        """The notebook parameters this table provides (only the keys it sets).

        Examples
        --------
        >>> ReportSettings(feature="the risk score", good={"fpr": "lower"},
        ...                parameters={"slo": 0.9}).notebook_parameters()
        {'slo': 0.9, 'feature': 'the risk score', 'good': {'fpr': 'lower'}}
        """
        values: dict[str, Any] = dict(self.parameters or {})
        for key in (*VOCABULARY, "good", "names"):
            value = getattr(self, key)
            if value is not None:
                values[key] = dict(value) if isinstance(value, dict) else value
        return values


@dataclass(frozen=True)
class AuditConfig:
    """A loaded ``audit.toml``.

    Attributes
    ----------
    path : pathlib.Path or None
        The file it came from.
    data : DataConfig
    report : ReportSettings
    labels : LabelsConfig
        The label table, for ``labels.*`` gate criteria.
    feedback : FeedbackConfig
        The interactions' implicit labels and ratings, for ``feedback.*`` criteria.
    raw : dict
        The whole parsed TOML, for tables other modules own (``gates``...).
    """

    path: Path | None = None
    data: DataConfig = field(default_factory=DataConfig)
    report: ReportSettings = field(default_factory=ReportSettings)
    raw: dict[str, Any] = field(default_factory=dict)
    labels: LabelsConfig = field(default_factory=LabelsConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)

    def parameters(self) -> dict[str, Any]:
        """Notebook parameters this config provides (only the keys it sets).

        Examples
        --------
        >>> AuditConfig(data=DataConfig(time="ts", segments=("region",))).parameters()
        {'time': 'ts', 'segments': ['region']}
        """
        d = self.data
        values: dict[str, Any] = {
            "data": str(d.path) if d.path else None,
            "eval_data": str(d.eval_path) if d.eval_path else None,
            "time": d.time,
            "y_true": d.y_true,
            "y_pred": d.y_pred,
            "y_score": d.y_score,
            "segments": list(d.segments) if d.segments is not None else None,
            "weight": d.weight,
            "version": d.version,
        }
        values.update(self.labels.notebook_parameters())
        return {k: v for k, v in values.items() if v is not None}


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------
class ConfigError(InvalidValueError, InvalidArgumentError):
    """A bad table, key or value in ``audit.toml``.

    The message reads ``FILE:LINE: KEY.PATH: what is wrong``, like a compiler's, so that
    an editor or a CI log jumps to the line. ``key`` is the dotted key path, ``line`` the
    1-based line that introduces it (None when it cannot be found cheaply). It is both an
    :class:`~aidebt.errors.InvalidValueError` and an
    :class:`~aidebt.errors.InvalidArgumentError`: code that catches either still works.
    """

    def __init__(self, source: str, key: str, detail: str, line: int | None = None) -> None:
        self.source, self.key, self.detail, self.line = source, key, detail, line
        where = f"{source}:{line}" if source and line else source
        super().__init__(f"{where}: {key}: {detail}" if where else f"{key}: {detail}")

    def __reduce__(self):  # the constructor's arguments, not the message (pickling)
        return (type(self), (self.source, self.key, self.detail, self.line))

    def located(self, text: str) -> ConfigError:
        """The same error with the line of its key in the TOML ``text``, when found."""
        line = self.line or line_of(text, self.key)
        return ConfigError(self.source, self.key, self.detail, line)


class ConfigValueError(Exception):
    """Raised by a parser of :data:`PARSERS`: the reason only; the loader adds the key."""


def unknown_key(source: str, key: str, what: str, allowed: Sequence[str]) -> ConfigError:
    """The error of a key that is not declared: the key path and a did-you-mean."""
    name = key.rsplit(".", 1)[-1]
    return ConfigError(source, key, f"unknown {what}. {did_you_mean(name, allowed)}")


# --------------------------------------------------------------------------------------
# Parsers of [data] and [report] values, by declared type
# --------------------------------------------------------------------------------------
def _text(value: Any, base: Path) -> str | None:
    if value == "":  # TOML has no null: "" means "not set"
        return None
    if not isinstance(value, str):
        raise ConfigValueError(f"must be a string, got {value!r}.")
    return value


def _path(value: Any, base: Path) -> Path | None:
    text = _text(value, base)
    if text is None:
        return None
    p = Path(text).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def _names(value: Any, base: Path) -> tuple[str, ...] | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigValueError(f"must be a list of names, got {value!r}.")
    return tuple(value)


def _count(value: Any, base: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigValueError(f"must be a whole number >= 0, got {value!r}.")
    return value


def _mapping(value: Any, base: Path | None = None) -> dict[str, str]:
    """A table of text values (``names = { age_cat = "age group" }``)."""
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigValueError(
            f'must be a table of texts, e.g. {{ age_cat = "age group" }}, got {value!r}.'
        )
    return dict(value)


def _directions(value: Any, base: Path | None = None) -> dict[str, str]:
    """``good = { fpr = "lower", selection_rate = "neither" }``: known metrics, known words."""
    from aidebt import metrics

    out = {}
    for name, direction in _mapping(value).items():
        try:
            metric = metrics.get(name)
        except InvalidArgumentError as exc:
            raise ConfigValueError(f"{name}: {exc}") from None
        if direction not in DIRECTIONS:
            raise ConfigValueError(
                f"{name} must be one of {', '.join(map(repr, DIRECTIONS))}, got "
                f"{direction!r}. {did_you_mean(direction, DIRECTIONS)}"
            )
        out[metric.name] = direction
    return out


def _parameters(value: Any, base: Path | None = None) -> dict[str, Any]:
    """``parameters = { slo = 0.9 }``: notebook parameters; their names are checked against
    the notebooks when a report is planned (:func:`aidebt.report.plan`)."""
    if not isinstance(value, Mapping):
        raise ConfigValueError(
            f"must be a table of notebook parameters, e.g. [report.parameters] with "
            f"slo = 0.9, got {value!r}."
        )
    return dict(value)


def _label_values(value: Any) -> Any:
    if isinstance(value, list):
        if not value or not all(isinstance(v, str | int | float | bool) for v in value):
            raise ConfigValueError(f"must be a label value or a list of them, got {value!r}.")
        return tuple(value)
    if not isinstance(value, str | int | float | bool):
        raise ConfigValueError(f"must be a label value or a list of them, got {value!r}.")
    return value


def _pos_label(value: Any) -> Any:
    """``pos_label``: a value, a list of values, or ``{ y_true = ..., y_pred = ... }``."""
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in ("y_true", "y_pred")]
        if unknown or not value:
            raise ConfigValueError(
                f"a table names the roles it applies to, y_true and/or y_pred; got {value!r}."
            )
        return {k: _label_values(v) for k, v in value.items()}
    return _label_values(value)


def finite_number(value: Any, base: Path | None = None) -> float:
    """A finite number: TOML has ``nan`` and ``inf``, and a bound of either judges nothing."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigValueError(f"must be a number, got {value!r}.")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ConfigValueError(f"must be a finite number, got {value!r}.")
    return number


def _flag(value: Any, base: Path) -> bool:
    if not isinstance(value, bool):
        raise ConfigValueError(f"must be true or false, got {value!r}.")
    return value


PARSERS: dict[str, Callable[[Any, Path], Any]] = {
    "str | None": _text,
    "Path | None": _path,
    "tuple[str, ...] | None": _names,
    "int | None": _count,
    "float | None": finite_number,
    "bool | None": _flag,
}
"""The parser of a ``[data]`` / ``[report]`` field, by its annotation (as written)."""


def parser(cls: type, name: str) -> Callable[[Any, Path], Any]:
    """The parser of field ``name`` of ``cls``: its ``metadata["parse"]``, else by type."""
    f = next(f for f in fields(cls) if f.name == name)
    found = f.metadata.get("parse") or PARSERS.get(str(f.type))
    if found is None:
        raise TypeError(
            f"{cls.__name__}.{name}: {f.type} has no parser; annotate it with one of "
            f"{', '.join(PARSERS)} or declare field(default=None, metadata={{'parse': fn}})."
        )
    return found


def read_table(doc: Mapping[str, Any], name: str, cls: type, base: Path, source: str) -> Any:
    """The table ``[name]`` of ``doc`` as a ``cls``: every key a declared field of it,
    every value through the field's parser (:func:`parser`); a :class:`ConfigError`
    naming ``name.key`` otherwise. ``base`` is the folder relative paths start from."""
    table = doc.get(name, {})
    if not isinstance(table, Mapping):
        raise ConfigError(source, name, f"must be a table ([{name}]), got {table!r}.")
    known = [f.name for f in fields(cls)]
    values = {}
    for key, value in table.items():
        if key not in known:
            raise unknown_key(source, f"{name}.{key}", f"key in [{name}]", known)
        try:
            values[key] = parser(cls, key)(value, base)
        except ConfigValueError as exc:
            raise ConfigError(source, f"{name}.{key}", str(exc)) from None
    return cls(**values)


# --------------------------------------------------------------------------------------
# The file
# --------------------------------------------------------------------------------------
TABLES: dict[str, str] = {
    "data": "input files and column roles (DataConfig)",
    "report": "how reports are made (ReportSettings)",
    "gates": "readiness stages and their settings (aidebt.policy)",
    "rollback": "rollback triggers (aidebt.policy)",
    "labels": "the label table: items, raters, labels, gold (LabelsConfig)",
    "feedback": "implicit labels and ratings per interaction (FeedbackConfig)",
    # The lifecycle registry's reader is aidebt.lifecycle.load_registry, an analysis this
    # core module may not import (tests/test_layers.py): kept in AuditConfig.raw here, and
    # validated by that reader before any data is read wherever it is used (a clocks gate
    # criterion: aidebt.gates.check; the debt_clocks notebook).
    "registry": "the lifecycle registry (read by aidebt.lifecycle.load_registry)",
}
"""The top-level tables of ``audit.toml``; any other is an error."""


def load_config(path: str | os.PathLike[str]) -> AuditConfig:
    """Read and validate an ``audit.toml``; relative paths in it are relative to its folder.

    Every table and key is checked against its declaration (see the module docstring):
    an unknown one, a value of the wrong type, a non-finite or inverted bound is a
    :class:`ConfigError` naming the file, the line and the key, raised before any data
    is read. The policy's tables are checked by :func:`aidebt.policy.parse_policy`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "audit.toml"
    >>> _ = p.write_text('[data]\\npath = "logs.parquet"\\nsegments = ["region"]\\n'
    ...                  '[gates.shadow]\\nmin_n = 800\\n')
    >>> cfg = load_config(p)
    >>> cfg.data.path.name, cfg.data.segments, sorted(cfg.raw)
    ('logs.parquet', ('region',), ['data', 'gates'])
    >>> _ = p.write_text('[data]\\npath = "logs.parquet"\\n\\n[rolback]\\nmin_n = 800\\n')
    >>> load_config(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    aidebt.config.ConfigError: .../audit.toml:4: rolback: unknown table. Available: ... Did you mean 'rollback'?
    """
    from aidebt.policy import parse_policy

    path = Path(path)
    src = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InvalidArgumentError(f"config file not found: {path}") from None
    except OSError as exc:  # a folder, no permission...
        raise InvalidArgumentError(f"cannot read the config {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidValueError(
            f"{path}: not a TOML text file: byte {raw[exc.start]:#04x} at offset {exc.start} "
            "is not UTF-8."
        ) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidValueError(f"{path}: not valid TOML: {exc}") from None
    base = path.resolve().parent

    try:
        for name in doc:
            if name not in TABLES:
                raise unknown_key(src, name, "table", list(TABLES))
        data = read_table(doc, "data", DataConfig, base, src)
        report = read_table(doc, "report", ReportSettings, base, src)
        labels = read_table(doc, "labels", LabelsConfig, base, src)
        feedback = read_table(doc, "feedback", FeedbackConfig, base, src)
        _check_labels_set_once(labels, report, base, src)
        if "gates" in doc or "rollback" in doc:
            parse_policy(doc, src, require_stage=False)
    except ConfigError as exc:
        raise exc.located(text) from None
    return AuditConfig(
        path=path, data=data, report=report, raw=doc, labels=labels, feedback=feedback
    )


def _check_labels_set_once(
    labels: LabelsConfig, report: ReportSettings, base: Path, source: str
) -> None:
    """Refuse a label-table column that [labels] and [report.parameters] set differently."""
    given = labels.notebook_parameters()
    for name, value in (report.parameters or {}).items():
        if name not in given or name not in LABELS_PARAMETERS:
            continue
        if name == "label_data":  # a path: relative to the config, as [labels] path is
            value = str((base / str(value)).resolve())
            same = value == str(Path(given[name]).resolve())
        else:
            same = value == given[name]
        if not same:
            raise ConfigError(
                source,
                f"report.parameters.{name}",
                f"{value!r} differs from labels.{LABELS_PARAMETERS[name]} = {given[name]!r}: "
                f"the label table is described once, in [labels]; remove {name} from "
                "[report.parameters].",
            )


# --------------------------------------------------------------------------------------
# Where a key is written
# --------------------------------------------------------------------------------------
_KEY = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_HEADER = re.compile(rf"^\s*\[\[?\s*({_DOTTED})\s*\]\]?")
_ASSIGN = re.compile(rf"^\s*({_DOTTED})\s*=")


def _parts(dotted: str) -> tuple[str, ...]:
    out = []
    for part in re.findall(_KEY, dotted):
        if part.startswith('"'):
            part = json.loads(part)
        elif part.startswith("'"):
            part = part[1:-1]
        out.append(part)
    return tuple(out)


def line_of(text: str, key: str) -> int | None:
    """The 1-based line of a TOML ``text`` that introduces the dotted ``key``, or None.

    A cheap scan, not a parser: it follows ``[table]`` headers and ``a.b = ...`` keys,
    and looks one level into an inline table on the same line. A key whose name holds a
    dot, or one written inside a multi-line string, may not be found.

    Examples
    --------
    >>> line_of('[gates.shadow]\\nmetrics.fpr = { mx = 0.1 }\\n', "gates.shadow.metrics.fpr.mx")
    2
    """
    wanted = tuple(key.split("."))
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            table = _parts(header.group(1))
            if table[: len(wanted)] == wanted:
                return number
            continue
        assign = _ASSIGN.match(line)
        if not assign:
            continue
        full = table + _parts(assign.group(1))
        if full[: len(wanted)] == wanted:
            return number
        if wanted[: len(full)] == full:  # deeper: inside the inline table on this line
            rest = line[assign.end() :]
            name = re.escape(wanted[len(full)])
            if re.search(rf"""(?:^|[{{,\s.])["']?{name}["']?\s*[=.]""", rest):
                return number
    return None
