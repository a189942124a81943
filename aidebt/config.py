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
    time_format: str | None = None
    pos_label: Any = None


@dataclass(frozen=True)
class ReportSettings:
    """The ``[report]`` table: where reports land and what they show."""

    out: Path | None = None
    min_n: int | None = None
    notebooks: tuple[str, ...] | None = None


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
    )
    return AuditConfig(path=path, data=data, report=report, raw=doc)
