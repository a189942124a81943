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

Other top-level tables (``[gates.*]``, ``[rollback]`` and whatever comes later) are left
in :attr:`AuditConfig.raw` for the code that owns them.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from aidebt.errors import InvalidArgumentError, InvalidValueError, did_you_mean


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
    good: dict[str, str] | None = None
    names: dict[str, str] | None = None
    parameters: dict[str, Any] | None = None

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
    raw : dict
        The whole parsed TOML, for tables other modules own (``gates``...).
    """

    path: Path | None = None
    data: DataConfig = field(default_factory=DataConfig)
    report: ReportSettings = field(default_factory=ReportSettings)
    raw: dict[str, Any] = field(default_factory=dict)

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
        return {k: v for k, v in values.items() if v is not None}


def _table(doc: dict[str, Any], name: str, cls: type, source: str) -> dict[str, Any]:
    table = doc.get(name, {})
    if not isinstance(table, dict):
        raise InvalidValueError(f"{source}: [{name}] must be a table, got {table!r}.")
    known = [f.name for f in fields(cls)]
    for key in table:
        if key not in known:
            raise InvalidArgumentError(
                f"{source}: unknown key {key!r} in [{name}]. {did_you_mean(key, known)}"
            )
    return table


def _text(table: dict[str, Any], key: str, where: str) -> str | None:
    value = table.get(key)
    if value is None or value == "":  # TOML has no null: "" means "not set"
        return None
    if not isinstance(value, str):
        raise InvalidValueError(f"{where}: {key} must be a string, got {value!r}.")
    return value


def _path(table: dict[str, Any], key: str, base: Path, where: str) -> Path | None:
    value = _text(table, key, where)
    if value is None:
        return None
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def _names(table: dict[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidValueError(f"{where}: {key} must be a list of names, got {value!r}.")
    return tuple(value)


def _mapping(table: dict[str, Any], key: str, where: str) -> dict[str, str] | None:
    """A table of text values (``names = { age_cat = "age group" }``)."""
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidValueError(
            f'{where}: {key} must be a table of texts, e.g. {key} = {{ age_cat = "age group" }}'
            f", got {value!r}."
        )
    return dict(value)


def _directions(table: dict[str, Any], key: str, where: str) -> dict[str, str] | None:
    """``good = { fpr = "lower", selection_rate = "neither" }``: known metrics, known words."""
    from aidebt import metrics

    value = _mapping(table, key, where)
    if value is None:
        return None
    out = {}
    for name, direction in value.items():
        try:
            metric = metrics.get(name)
        except InvalidArgumentError as exc:
            raise InvalidValueError(f"{where}: {key}.{name}: {exc}") from None
        if direction not in DIRECTIONS:
            raise InvalidValueError(
                f"{where}: {key}.{name} must be one of {', '.join(map(repr, DIRECTIONS))}, got "
                f"{direction!r}. {did_you_mean(direction, DIRECTIONS)}"
            )
        out[metric.name] = direction
    return out


def _parameters(table: dict[str, Any], key: str, where: str) -> dict[str, Any] | None:
    """``parameters = { slo = 0.9 }``: notebook parameters; their names are checked against
    the notebooks when a report is planned (:func:`aidebt.report.plan`)."""
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidValueError(
            f"{where}: {key} must be a table of notebook parameters, e.g. "
            f"[report.parameters] with slo = 0.9, got {value!r}."
        )
    return dict(value)


def load_config(path: str | os.PathLike[str]) -> AuditConfig:
    """Read an ``audit.toml``; relative paths in it are relative to its folder.

    Unknown keys inside ``[data]`` and ``[report]`` are errors (a typo there would
    silently audit the wrong column); unknown top-level tables are kept in ``raw``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "audit.toml"
    >>> _ = p.write_text('[data]\\npath = "logs.parquet"\\nsegments = ["region"]\\n'
    ...                  '[gates.accuracy]\\nmin = 0.8\\n')
    >>> cfg = load_config(p)
    >>> cfg.data.path.name, cfg.data.segments, sorted(cfg.raw)
    ('logs.parquet', ('region',), ['data', 'gates'])
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise InvalidArgumentError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidValueError(f"{path}: not valid TOML: {exc}") from None
    base = path.resolve().parent
    src = str(path)

    d = _table(doc, "data", DataConfig, src)
    where = f"{src} [data]"
    data = DataConfig(
        path=_path(d, "path", base, where),
        eval_path=_path(d, "eval_path", base, where),
        time=_text(d, "time", where),
        y_true=_text(d, "y_true", where),
        y_pred=_text(d, "y_pred", where),
        y_score=_text(d, "y_score", where),
        segments=_names(d, "segments", where),
        weight=_text(d, "weight", where),
        version=_text(d, "version", where),
    )

    r = _table(doc, "report", ReportSettings, src)
    where = f"{src} [report]"
    min_n = r.get("min_n")
    if min_n is not None and (isinstance(min_n, bool) or not isinstance(min_n, int) or min_n < 0):
        raise InvalidValueError(f"{where}: min_n must be a whole number >= 0, got {min_n!r}.")
    report = ReportSettings(
        out=_path(r, "out", base, where),
        min_n=min_n,
        notebooks=_names(r, "notebooks", where),
        **{key: _text(r, key, where) for key in VOCABULARY},
        good=_directions(r, "good", where),
        names=_mapping(r, "names", where),
        parameters=_parameters(r, "parameters", where),
    )
    return AuditConfig(path=path, data=data, report=report, raw=doc)
