"""The lifecycle ledger: three silent clocks, and whether a feature has earned its keep.

Two questions about a production AI feature that no dashboard asks.

**Clocks** (:func:`clocks`). Three clocks tick in every AI feature and none announces
itself: a prompt was written and evaluated for one model and now runs on another; the
evaluation set was representative when it was built and has aged since; the embedding
index was built with an encoder its provider has since deprecated. And every model has a
retirement date. A *registry* (:func:`load_registry`, a TOML file or the ``[registry]``
table of ``audit.toml``) records those dates; :func:`clocks` checks each of them against a
date and, with the production log, says how much of the audited window's traffic each one
touches, from ONE group-by pass over the log in its own engine.

**Adoption** (:func:`adoption`). On a usage log (one row per user action, a column
marking the actions that used the feature): who uses it, whether they keep using it, how
concentrated its use is, who a retirement would hit, and what each (successful) use
costs. Three group-bys in the data's engine, each one pass over the rows, give the
sufficient statistics: distinct active users per period, the feature's per-(user, period)
sums (from its own rows only) and each user's actions; every table after that is a
group-by on those small tables (cohort retention: first-use period x period), never a
loop.

Dates are calendar days. The registry's ``timezone`` (default UTC) says which calendar:
an aware ``as_of`` is converted to it, and naive timestamps in the log are read in it.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import narwhals as nw
import numpy as np
import polars as pl

from aidebt import aggregate, frames, prose
from aidebt import metrics as mreg
from aidebt import stats as st
from aidebt.decay import Decay
from aidebt.distributions import norm_ppf, t_ppf
from aidebt.errors import (
    ColumnTypeError,
    InvalidArgumentError,
    InvalidValueError,
    did_you_mean,
)
from aidebt.groups import check_names
from aidebt.periods import Every
from aidebt.results import Headline, Result

__all__ = [
    "Adoption",
    "Clocks",
    "ClocksGate",
    "Cohorts",
    "Concentration",
    "EvalSet",
    "Index",
    "Model",
    "Prompt",
    "Registry",
    "UnitCost",
    "adoption",
    "clocks",
    "clocks_gate",
    "gini",
    "load_registry",
    "missing_columns",
]


# ======================================================================================
# The registry
# ======================================================================================
@dataclass(frozen=True)
class Model:
    """A model version: who provides it, when it was released, deprecated and retired.

    ``deprecated`` is the date the provider announced (or made) it deprecated;
    ``retires`` the date it stops being served; ``replacement`` the model that takes over.
    """

    name: str
    provider: str | None = None
    released: dt.date | None = None
    deprecated: dt.date | None = None
    retires: dt.date | None = None
    replacement: str | None = None


@dataclass(frozen=True)
class Prompt:
    """A prompt version: the model it was written for, when and on what it was evaluated.

    ``evaluated_on`` lists the models it was evaluated on (default: the one it was written
    for, when it has an ``evaluated`` date; none otherwise).
    """

    version: str
    written_for: str
    evaluated: dt.date | None = None
    eval_set: str | None = None
    evaluated_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class EvalSet:
    """An evaluation (golden) set: when it was built, from which production window.

    ``segments`` are the columns that define a kind of request, for its coverage of
    production (:func:`aidebt.coverage`); a kind with fewer than ``min_examples`` examples
    is uncovered. Its clock is overdue once it is older than ``max_age_days`` or leaves
    more than ``max_uncovered`` of the audited traffic uncovered.
    """

    name: str
    built: dt.date
    path: Path | None = None
    window: tuple[dt.date, dt.date] | None = None
    segments: tuple[str, ...] = ()
    min_examples: int = 30
    max_age_days: int = 365
    max_uncovered: float = 0.2


@dataclass(frozen=True)
class Index:
    """An embedding index: the encoder model it was built with, when, how many rows.

    ``used_by`` lists the prompt versions that retrieve from it: without an index column
    in the log, the index's traffic is theirs.
    """

    name: str
    encoder: str
    built: dt.date
    rows: int | None = None
    used_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Registry:
    """The parsed registry: models, prompts, eval sets and indexes, by name."""

    models: dict[str, Model] = field(default_factory=dict)
    prompts: dict[str, Prompt] = field(default_factory=dict)
    eval_sets: dict[str, EvalSet] = field(default_factory=dict)
    indexes: dict[str, Index] = field(default_factory=dict)
    timezone: str = "UTC"
    source: str = "registry"

    @property
    def encoders(self) -> set[str]:
        """Models used to build an index, and their replacements: their clock is the
        index's, not the model-deprecation one (unless the log shows them serving)."""
        found = {ix.encoder for ix in self.indexes.values()}
        todo = list(found)
        while todo:
            nxt = self.models[todo.pop()].replacement
            if nxt is not None and nxt not in found:
                found.add(nxt)
                todo.append(nxt)
        return found


# Each section's keys: (kind, required). Kinds: text, date, dates2, names, int, share.
_SECTIONS: dict[str, dict[str, tuple[str, bool]]] = {
    "models": {
        "provider": ("text", False),
        "released": ("date", False),
        "deprecated": ("date", False),
        "retires": ("date", False),
        "replacement": ("text", False),
    },
    "prompts": {
        "written_for": ("text", True),
        "evaluated": ("date", False),
        "eval_set": ("text", False),
        "evaluated_on": ("names", False),
    },
    "eval_sets": {
        "path": ("text", False),
        "built": ("date", True),
        "window": ("dates2", False),
        "segments": ("names", False),
        "min_examples": ("int", False),
        "max_age_days": ("int", False),
        "max_uncovered": ("share", False),
    },
    "indexes": {
        "encoder": ("text", True),
        "built": ("date", True),
        "rows": ("int", False),
        "used_by": ("names", False),
    },
}
_TOP = ("timezone", *_SECTIONS)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_BARE_KEY = r"(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')"
_KEY_LINE = re.compile(rf"^({_BARE_KEY}(?:\s*\.\s*{_BARE_KEY})*)\s*=")
_HEADER = re.compile(r"^\[\[?\s*([^\]]+?)\s*\]\]?")


def _split_key(text: str) -> tuple[str, ...]:
    parts = re.findall(rf"{_BARE_KEY}", text)
    return tuple(p.strip("\"'") for p in parts)


def _key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Where each table and key is written: ``{("models", "m1", "retires"): 12}``.

    tomllib reports lines for syntax errors only; this reads the lines of plain TOML
    (headers and ``key = value`` lines; multi-line values are not followed) so that a
    message about a valid but wrong value can say where it is.
    """
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        header = _HEADER.match(s)
        if header:
            table = _split_key(header.group(1))
            lines.setdefault(table, number)
            continue
        key = _KEY_LINE.match(s)
        if key:
            lines.setdefault((*table, *_split_key(key.group(1))), number)
    return lines


class _Where:
    """Names a key in messages: ``registry.toml, line 12: [models.m1] retires``."""

    def __init__(self, source: str, lines: dict[tuple[str, ...], int], prefix: tuple[str, ...]):
        self.source, self.lines, self.prefix = source, lines, prefix

    def table(self, *path: str) -> str:
        """``[registry.models.m1]``: a table as it is written in the file."""
        return f"[{'.'.join((*self.prefix, *path))}]"

    def __call__(self, *path: str) -> str:
        full = (*self.prefix, *path)
        line = None
        for depth in range(len(full), 0, -1):  # the key's own line, else its table's
            line = self.lines.get(full[:depth])
            if line is not None:
                break
        at = f", line {line}" if line is not None else ""
        return f"{self.source}{at}: {'.'.join(full)}"


def _parse_date(value: Any, where: str, tz: ZoneInfo) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.astimezone(tz).date() if value.tzinfo else value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InvalidValueError(
        f"{where} = {value!r} is not an ISO date. Write dates as YYYY-MM-DD, e.g. 2026-12-31 "
        "(a TOML date, or a string in that form)."
    )


def _parse_value(kind: str, value: Any, where: str, tz: ZoneInfo) -> Any:
    if kind == "date":
        return _parse_date(value, where, tz)
    if kind == "dates2":
        if not isinstance(value, list) or len(value) != 2:
            raise InvalidValueError(
                f"{where} = {value!r} must be two dates, the first and last day of the "
                "production window it was drawn from: [2025-10-01, 2025-10-31]."
            )
        lo, hi = (_parse_date(v, f"{where}[{i}]", tz) for i, v in enumerate(value))
        if hi < lo:
            raise InvalidValueError(f"{where} = {value!r}: the window ends before it starts.")
        return (lo, hi)
    if kind == "text":
        if not isinstance(value, str) or not value.strip():
            raise InvalidValueError(f"{where} = {value!r} must be a non-empty string.")
        return value
    if kind == "names":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise InvalidValueError(f"{where} = {value!r} must be a list of names.")
        return tuple(value)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidValueError(f"{where} = {value!r} must be a whole number >= 0.")
        return value
    if kind == "share":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise InvalidValueError(f"{where} = {value!r} must be a share between 0 and 1.")
        return float(value)
    raise AssertionError(kind)  # pragma: no cover - the table above lists every kind


def _syntax_error(exc: tomllib.TOMLDecodeError, text: str, source: str) -> InvalidValueError:
    """tomllib's message with the offending line and, when it has one, the key."""
    found = re.search(r"line (\d+)", str(exc))
    if not found:
        return InvalidValueError(f"{source}: not valid TOML: {exc}")
    number = int(found.group(1))
    lines = text.splitlines()
    line = lines[number - 1].strip() if 0 < number <= len(lines) else ""
    key = _KEY_LINE.match(line)
    what = f"key {'.'.join(_split_key(key.group(1)))!r}" if key else "this line"
    hint = (
        " Dates are written YYYY-MM-DD, e.g. 2026-12-31."
        if re.search(r"=\s*\d{4}-\d", line)
        else ""
    )
    return InvalidValueError(
        f"{source}, line {number}: {what} is not valid TOML ({line!r}: {exc}).{hint}"
    )


def load_registry(path_or_mapping: str | os.PathLike[str] | Mapping[str, Any]) -> Registry:
    """Read and validate a registry of prompts, models, eval sets and embedding indexes.

    Parameters
    ----------
    path_or_mapping
        A TOML file (a registry file, or an ``audit.toml`` with a ``[registry]`` table,
        which may hold ``path = "registry.toml"`` to point at a separate file), or the same
        content as a mapping. Relative eval-set paths are relative to the file.

    Returns
    -------
    Registry

    Notes
    -----
    The format (every date ISO, ``YYYY-MM-DD``)::

        timezone = "UTC"                     # the calendar of every date (default UTC)

        [models.m1]
        provider = "acme"
        released = 2025-06-01
        deprecated = 2026-09-01              # announced deprecation (optional)
        retires = 2027-01-02                 # retirement date (optional)
        replacement = "m2"

        [prompts.v2]
        written_for = "m1"                   # required
        evaluated = 2025-11-03
        eval_set = "golden"
        evaluated_on = ["m1"]                # default: [written_for] once evaluated

        [eval_sets.golden]
        built = 2025-10-31                   # required
        path = "eval.parquet"
        window = [2025-10-01, 2025-10-31]    # the production window it was drawn from
        segments = ["intent"]                # kinds of request, for its coverage
        min_examples = 30                    # fewer examples: the kind is uncovered
        max_age_days = 365                   # refresh due after this many days
        max_uncovered = 0.2                  # overdue above this uncovered share

        [indexes.kb]
        encoder = "embed-v1"                 # required: a model of [models]
        built = 2025-08-15                   # required
        rows = 120000
        used_by = ["v1", "v2"]               # prompts that retrieve from it

    Unknown keys, malformed dates and references to models, prompts or eval sets that
    the registry does not define are errors that name the key and its line.

    Examples
    --------
    >>> reg = load_registry({"models": {"m1": {"retires": "2027-01-02"}},
    ...                      "prompts": {"v1": {"written_for": "m1", "evaluated": "2025-11-03"}}})
    >>> reg.models["m1"].retires, reg.prompts["v1"].evaluated_on
    (datetime.date(2027, 1, 2), ('m1',))
    """
    text = ""
    base = Path.cwd()
    if isinstance(path_or_mapping, Mapping):
        doc: Any = dict(path_or_mapping)
        source = "registry"
    elif isinstance(path_or_mapping, str | os.PathLike):
        path = Path(path_or_mapping)
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InvalidArgumentError(f"registry file not found: {path}") from None
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise _syntax_error(exc, text, source) from None
        base = path.resolve().parent
    else:
        raise InvalidArgumentError(
            f"load_registry takes a path to a TOML file or a mapping, got "
            f"{type(path_or_mapping).__name__}."
        )
    prefix: tuple[str, ...] = ()
    if "registry" in doc:  # an audit.toml: the [registry] table (or the file it names)
        inner = doc["registry"]
        if not isinstance(inner, Mapping):
            raise InvalidValueError(f"{source}: [registry] must be a table, got {inner!r}.")
        if "path" in inner:
            extra = sorted(set(inner) - {"path"})
            if extra:
                raise InvalidValueError(
                    f"{source}: [registry] has path = {inner['path']!r} and also {extra}: "
                    "either point at a registry file or write the registry here, not both."
                )
            target = Path(str(inner["path"])).expanduser()
            return load_registry(target if target.is_absolute() else base / target)
        doc, prefix = dict(inner), ("registry",)
    where = _Where(source, _key_lines(text) if text else {}, prefix)

    for key in doc:
        if key not in _TOP:
            raise InvalidValueError(f"{where(key)}: unknown key {key!r}. {did_you_mean(key, _TOP)}")
    zone = doc.get("timezone", "UTC")
    try:
        tz = ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidValueError(
            f"{where('timezone')} = {zone!r} is not a time zone; use an IANA name such as "
            "'UTC' or 'Europe/Paris'."
        ) from None

    parsed: dict[str, dict[str, dict[str, Any]]] = {}
    for section, spec in _SECTIONS.items():
        items = doc.get(section, {})
        if not isinstance(items, Mapping):
            raise InvalidValueError(
                f"{where(section)} must be a table of named entries, e.g. [{section}.NAME]."
            )
        parsed[section] = {}
        for name, entry in items.items():
            if not isinstance(entry, Mapping):
                raise InvalidValueError(
                    f"{where(section, name)} must be a table, e.g. [{section}.{name}] "
                    f"with keys {', '.join(spec)}."
                )
            values: dict[str, Any] = {}
            for key, value in entry.items():
                if key not in spec:
                    raise InvalidValueError(
                        f"{where(section, name, key)}: unknown key {key!r} in "
                        f"{where.table(section, name)}. {did_you_mean(key, list(spec))}"
                    )
                values[key] = _parse_value(spec[key][0], value, where(section, name, key), tz)
            for key, (_, required) in spec.items():
                if required and key not in values:
                    raise InvalidValueError(
                        f"{where(section, name)}: {where.table(section, name)} needs {key!r}."
                    )
            parsed[section][str(name)] = values

    models = {n: Model(n, **v) for n, v in parsed["models"].items()}
    prompts = {}
    for n, v in parsed["prompts"].items():
        if "evaluated_on" not in v:
            v["evaluated_on"] = (v["written_for"],) if "evaluated" in v else ()
        prompts[n] = Prompt(n, **v)
    eval_sets = {}
    for n, v in parsed["eval_sets"].items():
        if "path" in v:
            p = Path(v["path"]).expanduser()
            v["path"] = p if p.is_absolute() else (base / p).resolve()
        eval_sets[n] = EvalSet(n, **v)
    indexes = {n: Index(n, **v) for n, v in parsed["indexes"].items()}

    def must_exist(kind: str, names: Sequence[str], known: Mapping, *path: str) -> None:
        for name in names:
            if name not in known:
                raise InvalidValueError(
                    f"{where(*path)} names {kind} {name!r}, which the registry does not define. "
                    f"{did_you_mean(name, list(known)) if known else f'Add [{kind}s.{name}].'}"
                )

    for n, m in models.items():
        if m.replacement is not None:
            must_exist("model", [m.replacement], models, "models", n, "replacement")
        if m.deprecated and m.retires and m.retires < m.deprecated:
            raise InvalidValueError(
                f"{where('models', n, 'retires')} = {m.retires} is before its deprecation "
                f"({m.deprecated}): a model retires after it is deprecated."
            )
    for n, p in prompts.items():
        must_exist("model", [p.written_for], models, "prompts", n, "written_for")
        must_exist("model", p.evaluated_on, models, "prompts", n, "evaluated_on")
        if p.eval_set is not None:
            must_exist("eval set", [p.eval_set], eval_sets, "prompts", n, "eval_set")
    for n, ix in indexes.items():
        must_exist("model", [ix.encoder], models, "indexes", n, "encoder")
        must_exist("prompt", ix.used_by, prompts, "indexes", n, "used_by")
    return Registry(models, prompts, eval_sets, indexes, str(zone), source)


# ======================================================================================
# Shared small pieces
# ======================================================================================
def _age_words(days: int) -> str:
    """'12 days', '13 months', '2.5 years'."""
    days = abs(int(days))
    if days < 60:
        return f"{days} day{'s' if days != 1 else ''}"
    months = days / 30.436875
    if months < 24:
        return f"{round(months)} months"
    return f"{days / 365.2425:.1f} years"


def _until(days_left: int) -> str:
    """'in 33 days', 'today', '12 days ago'."""
    if days_left == 0:
        return "today"
    return f"in {_age_words(days_left)}" if days_left > 0 else f"{_age_words(days_left)} ago"


def missing_columns(data: Any, columns: Sequence[str | None]) -> str | None:
    """A one-line reason when ``data`` lacks any of ``columns`` (schema only), else None.

    For reports that skip a section whose inputs are absent.

    Examples
    --------
    >>> import polars as pl
    >>> missing_columns(pl.DataFrame({"a": [1]}), ["a", "user_id"])
    "the data has no column 'user_id'"
    """
    names = frames.columns(frames.to_lazy(data))
    absent = [c for c in columns if c is not None and c not in names]
    if not absent:
        return None
    listed = ", ".join(repr(c) for c in absent)
    return f"the data has no column{'s' if len(absent) > 1 else ''} {listed}"


# ======================================================================================
# Clocks
# ======================================================================================
PAIRING = "prompt-model pairing"
MODEL = "model deprecation"
EVAL = "eval-set age"
INDEX = "index encoder"
CLOCK_KINDS = (PAIRING, MODEL, EVAL, INDEX)
"""The four clocks, in the order of :attr:`Clocks.table`."""

STATUSES = ("overdue", "warn", "ok")
"""Statuses, most urgent first: ``overdue`` (past its deadline, or a debt already in
service), ``warn`` (due within ``warn_days``, deprecated, or not in the registry), ``ok``."""

_CLOCK_SCHEMA = {
    "clock": pl.String,
    "item": pl.String,
    "since": pl.Date,
    "age_days": pl.Int64,
    "deadline": pl.Date,
    "days_left": pl.Int64,
    "status": pl.String,
    "traffic_share": pl.Float64,
    "reason": pl.String,
}
_MONTH = re.compile(r"^\d{4}-\d{2}$")


def _as_of(value: Any, tz: ZoneInfo) -> dt.date:
    """The audit date as a calendar day of the registry's time zone."""
    if value is None:
        return dt.datetime.now(tz).date()
    if isinstance(value, str):
        text = value.strip()
        if _MONTH.match(text):  # a month means its last day
            year, month = int(text[:4]), int(text[5:])
            if 1 <= month <= 12:
                first_next = dt.date(year + month // 12, month % 12 + 1, 1)
                return first_next - dt.timedelta(days=1)
        try:
            value = (
                dt.date.fromisoformat(text)
                if _ISO_DATE.match(text)
                else dt.datetime.fromisoformat(text)
            )
        except ValueError:
            raise InvalidArgumentError(
                f"as_of={value!r} is not a date: pass 'YYYY-MM-DD', 'YYYY-MM' (the month's last "
                "day), an ISO datetime, or a datetime.date/datetime."
            ) from None
    if isinstance(value, dt.datetime):
        return value.astimezone(tz).date() if value.tzinfo else value.date()
    if isinstance(value, dt.date):
        return value
    raise InvalidArgumentError(
        f"as_of={value!r} ({type(value).__name__}) is not a date: pass a datetime.date, a "
        "datetime.datetime or an ISO string such as '2026-11-30'."
    )


def _status(days_left: int | None, warn_days: int) -> str:
    """``overdue`` after the deadline, ``warn`` from ``warn_days`` before it to the day
    itself (a deadline today is not yet missed), ``ok`` otherwise or without a deadline."""
    if days_left is None:
        return "ok"
    if days_left < 0:
        return "overdue"
    return "warn" if days_left <= warn_days else "ok"


def _worst(*statuses: str) -> str:
    return min(statuses, key=STATUSES.index)


def _bound_for(dtype: Any, day: dt.date, tz: ZoneInfo) -> dt.date | dt.datetime:
    """A day boundary in the time column's own kind: a date for Date columns, a naive
    datetime (the registry's wall clock) for naive Datetimes, an aware one for zoned ones."""
    if isinstance(dtype, nw.Date) or dtype == nw.Date:
        return day
    midnight = dt.datetime.combine(day, dt.time())
    return midnight.replace(tzinfo=tz) if getattr(dtype, "time_zone", None) else midnight


def _traffic(
    data: Any,
    time: str,
    keys: list[str],
    start: dt.date,
    end: dt.date,
    tz: ZoneInfo,
) -> pl.DataFrame:
    """ONE group-by pass over the log up to ``end``: per combination of ``keys``, the rows
    in ``[start, end)`` (``n``) and the first day each combination was seen (``first``)."""
    frame = frames.to_lazy(data)
    frames.require_columns(frame, [time], role="time")
    frames.require_columns(frame, keys, role="a column named for clocks")
    dtype = frames.columns(frame)[time]
    lo, hi = _bound_for(dtype, start, tz), _bound_for(dtype, end, tz)
    upto = frames.window_condition(frame, time, None, hi)
    inside = frames.window_condition(frame, time, lo, hi)
    # Per-row values first, plain sums after: every engine keeps its fast group-by path.
    rows = frame.filter(upto).select(
        *(nw.col(k) for k in keys), nw.col(time).alias("_t"), inside.cast(nw.Int64).alias("_in")
    )
    aggs = [
        nw.col("_in").sum().alias("n"),
        nw.len().alias("rows"),
        nw.col("_t").min().alias("first"),
    ]
    query = rows.group_by(*keys).agg(*aggs) if keys else rows.select(*aggs)
    table = aggregate.collect(query)
    first = pl.col("first")
    if isinstance(dtype, nw.Datetime) or dtype == nw.Datetime:
        if getattr(dtype, "time_zone", None):
            first = first.dt.convert_time_zone(str(tz))
        first = first.dt.date()
    table = table.with_columns(
        pl.col("n").cast(pl.Float64), pl.col("rows").cast(pl.Int64), first.cast(pl.Date)
    )
    if keys:  # group values as strings, null/NaN as "(missing)", like every aidebt table
        schema = frames.columns(frame)
        tidy = nw.from_native(table).with_columns(*(frames.group_key(k, schema[k]) for k in keys))
        table = (
            tidy.to_native()
            .group_by(keys)
            .agg(pl.col("n").sum(), pl.col("rows").sum(), pl.col("first").min())
            .sort(keys)
        )
    return table


def _share_by(traffic: pl.DataFrame, column: str, total: float) -> dict[str, tuple[float, Any]]:
    """{value: (share of the window, first day seen)} of one column of the traffic table."""
    per = traffic.group_by(column).agg(pl.col("n").sum(), pl.col("first").min())
    return {
        r[column]: (r["n"] / total if total else 0.0, r["first"]) for r in per.iter_rows(named=True)
    }


def _item(clock: str, item: str, as_of: dt.date, **values: Any) -> dict[str, Any]:
    since = values.get("since")
    deadline = values.get("deadline")
    row = {
        "clock": clock,
        "item": item,
        "since": since,
        "age_days": (as_of - since).days if since is not None else None,
        "deadline": deadline,
        "days_left": (deadline - as_of).days if deadline is not None else None,
        "status": "ok",
        "traffic_share": None,
        "reason": "",
    }
    row.update(values)
    return row


def clocks(
    registry: Registry | str | os.PathLike[str] | Mapping[str, Any],
    *,
    as_of: Any = None,
    data: Any = None,
    time: str | None = None,
    prompt: str | None = None,
    model: str | None = None,
    index: str | None = None,
    every: str = "1mo",
    warn_days: int = 60,
    eval_data: Any = None,
) -> Clocks:
    """Check every lifecycle clock of the registry on a date, and how much traffic each touches.

    Parameters
    ----------
    registry
        A :class:`Registry`, or what :func:`load_registry` reads (a TOML path, a mapping).
    as_of
        The audit date: a date, a datetime (an aware one is converted to the registry's
        time zone), ``"YYYY-MM-DD"``, or ``"YYYY-MM"`` (that month's last day). Default:
        today in the registry's time zone.
    data
        The production log (any input aidebt reads). With it, each clock says what share
        of the audited window's rows it touches, from one group-by pass in the log's engine.
    time
        The log's Date/Datetime column (needed with ``data``). Naive timestamps are read in
        the registry's time zone.
    prompt, model, index
        The log's columns naming the prompt version, the model version and the embedding
        index of each row (each optional; without ``index`` an index's traffic is that of
        the prompts in its ``used_by``).
    every
        The audited window: the calendar period (``"1mo"``, ``"1w"``, ``"1q"``...) holding
        ``as_of``, from its first day to the end of ``as_of``.
    warn_days
        A deadline this many days away or closer is a warning (60).
    eval_data
        Eval-set rows for the coverage part of the eval-set clock: a frame or path (with
        one eval set) or ``{name: frame or path}``; default the registry's ``path``.

    Returns
    -------
    Clocks
        ``.table``: one row per clock item, ``clock`` (``prompt-model pairing``, ``model
        deprecation``, ``eval-set age``, ``index encoder``), ``item``, ``since``,
        ``age_days``, ``deadline``, ``days_left``, ``status`` (``overdue``/``warn``/``ok``),
        ``traffic_share`` and ``reason``; ``.summary()``, ``.chart()``, ``.headline()``.

    Notes
    -----
    What each clock measures, its deadline and its share of traffic:

    - **prompt-model pairing**, for every (prompt, model) pair seen in the log up to
      ``as_of`` (without a log: every pair the registry says was evaluated). A pair the
      prompt was never evaluated on is *overdue* from its first day in service (its
      evaluation was due before it served) as long as it serves in the window;
      ``traffic_share`` is the share of the window's rows it served.
    - **model deprecation**, for every model (encoders of an index have the index clock):
      since its release, deadline its retirement date; ``overdue`` past it while it still
      serves (or when the log is not given), ``warn`` within ``warn_days`` of it or once
      deprecated; ``traffic_share`` is the model's share.
    - **eval-set age**: since it was built, deadline ``built + max_age_days``; with the
      log, ``traffic_share`` is the share of the window's rows in kinds of request
      (``segments``) with fewer than ``min_examples`` examples in the set
      (:func:`aidebt.coverage`, run on the pass's small table), and the clock is overdue
      above ``max_uncovered`` too.
    - **index encoder**: since the index was built, deadline the encoder's retirement;
      ``warn`` once the encoder is deprecated; ``traffic_share`` is the share of rows
      retrieving from it.

    Day arithmetic is on calendar dates (``date - date``), so leap days count and a
    deadline today has ``days_left = 0`` (``warn``, not yet ``overdue``).

    Examples
    --------
    >>> import aidebt as ad
    >>> from aidebt.lifecycle import clocks
    >>> c = clocks(ad.datasets.demo_registry(), as_of="2026-11",
    ...            data=ad.datasets.demo(2_000), time="ts",
    ...            prompt="prompt_version", model="model_version")
    >>> c.table.filter(item="model m1").select("days_left", "status").row(0)
    (33, 'warn')
    """
    reg = registry if isinstance(registry, Registry) else load_registry(registry)
    tz = ZoneInfo(reg.timezone)
    today = _as_of(as_of, tz)
    ev = Every.parse(every)
    if isinstance(warn_days, bool) or not isinstance(warn_days, int) or warn_days < 0:
        raise InvalidArgumentError(f"warn_days={warn_days!r} must be a whole number of days >= 0.")
    start = ev.start(ev.index_of(today)).item()
    end = today + dt.timedelta(days=1)

    segments = list(dict.fromkeys(c for es in reg.eval_sets.values() for c in es.segments))
    traffic, total = None, 0.0
    if data is not None:
        if not isinstance(time, str):
            raise InvalidArgumentError(
                "clocks needs time= (the log's Date/Datetime column) to place rows in the "
                "audited window."
            )
        keys = list(dict.fromkeys(c for c in (prompt, model, index, *segments) if c))
        traffic = _traffic(data, time, keys, start, end, tz)
        total = float(traffic["n"].sum())

    ctx = _Context(reg, today, warn_days, traffic, total, prompt, model, index)
    items = [
        *_pairing_items(ctx),
        *_model_items(ctx),
        *_eval_items(ctx, segments, eval_data),
        *_index_items(ctx),
    ]
    order = {k: i for i, k in enumerate(CLOCK_KINDS)}
    items.sort(
        key=lambda r: (
            order[r["clock"]],
            STATUSES.index(r["status"]),
            r["days_left"] if r["days_left"] is not None else 10**9,
            r["item"],
        )
    )
    table = pl.DataFrame(
        [{k: r[k] for k in _CLOCK_SCHEMA} for r in items], schema=_CLOCK_SCHEMA, orient="row"
    )
    label = ev.label(ev.index_of(today))
    period_end = ev.start(ev.index_of(today) + 1).item() - dt.timedelta(days=1)
    if today != period_end:
        label = f"{label} (to {today.isoformat()})"
    return Clocks(
        table,
        items,
        as_of=today,
        window=(start, end),
        window_label=label,
        warn_days=warn_days,
        total=total if data is not None else None,
        registry=reg,
    )


@dataclass
class _Context:
    reg: Registry
    as_of: dt.date
    warn_days: int
    traffic: pl.DataFrame | None
    total: float
    prompt: str | None
    model: str | None
    index: str | None

    def shares(self, column: str | None) -> dict[str, tuple[float, Any]] | None:
        if self.traffic is None or column is None:
            return None
        return _share_by(self.traffic, column, self.total)

    def in_window(self, share: float | None) -> str:
        if share is None:
            return ""
        if self.total == 0:
            return "; the log has no rows in the audited window"
        return (
            f"; it serves {prose.percent(share)} of the window's rows"
            if share > 0
            else "; it serves none of the window's rows"
        )


def _pairing_items(ctx: _Context) -> list[dict[str, Any]]:
    reg, out, seen = ctx.reg, [], set()
    with_log = ctx.traffic is not None and ctx.prompt is not None and ctx.model is not None
    if with_log:
        pairs = (
            ctx.traffic.group_by(ctx.prompt, ctx.model)
            .agg(pl.col("n").sum(), pl.col("first").min())
            .sort(ctx.prompt, ctx.model)
        )
        for r in pairs.iter_rows(named=True):
            p, m = r[ctx.prompt], r[ctx.model]
            seen.add((p, m))
            share = r["n"] / ctx.total if ctx.total else 0.0
            entry = reg.prompts.get(p)
            name = f"prompt {p} on model {m}"
            extra = {"_prompt": p, "_model": m}
            if entry is None:
                out.append(
                    _item(
                        PAIRING,
                        name,
                        ctx.as_of,
                        since=r["first"],
                        status="warn",
                        traffic_share=share,
                        **extra,
                        reason=f"prompt {p} is not in the registry: when and on which models it "
                        f"was evaluated is unknown (first seen {r['first']})"
                        + ctx.in_window(share),
                    )
                )
            elif m in entry.evaluated_on:
                out.append(
                    _item(
                        PAIRING,
                        name,
                        ctx.as_of,
                        since=entry.evaluated,
                        traffic_share=share,
                        **extra,
                        reason=_evaluated_words(entry, m) + ctx.in_window(share),
                    )
                )
            else:
                on = ", ".join(entry.evaluated_on) or "no model"
                serving = share > 0
                out.append(
                    _item(
                        PAIRING,
                        name,
                        ctx.as_of,
                        since=r["first"],
                        deadline=r["first"],
                        status="overdue" if serving else "ok",
                        traffic_share=share,
                        **extra,
                        reason=f"prompt {p} was never evaluated on model {m} (it was evaluated on "
                        f"{on}) and has run on it since {r['first']}"
                        + (
                            ctx.in_window(share)
                            if serving
                            else "; it no longer serves in the window"
                        ),
                    )
                )
    for p, entry in reg.prompts.items():
        if not entry.evaluated_on and not any(k[0] == p for k in seen):
            out.append(
                _item(
                    PAIRING,
                    f"prompt {p}",
                    ctx.as_of,
                    status="warn",
                    _prompt=p,
                    _model=None,
                    traffic_share=0.0 if with_log else None,
                    reason=f"prompt {p} has no evaluation in the registry",
                )
            )
        for m in entry.evaluated_on:
            if (p, m) in seen:
                continue
            out.append(
                _item(
                    PAIRING,
                    f"prompt {p} on model {m}",
                    ctx.as_of,
                    since=entry.evaluated,
                    traffic_share=0.0 if with_log else None,
                    _prompt=p,
                    _model=m,
                    reason=_evaluated_words(entry, m)
                    + ("; the log has no rows of this pair" if with_log else ""),
                )
            )
    return out


def _evaluated_words(entry: Prompt, model: str) -> str:
    on = f" with eval set {entry.eval_set}" if entry.eval_set else ""
    when = f" on {entry.evaluated}" if entry.evaluated else ""
    return f"prompt {entry.version} was evaluated on model {model}{on}{when}"


def _model_items(ctx: _Context) -> list[dict[str, Any]]:
    reg, out = ctx.reg, []
    shares = ctx.shares(ctx.model)
    for name, m in reg.models.items():
        in_log = shares is not None and name in shares
        if name in reg.encoders and not in_log:
            continue  # an encoder's clock is its index's
        share = None if shares is None else shares.get(name, (0.0, None))[0]
        days_left = (m.retires - ctx.as_of).days if m.retires else None
        status = _status(days_left, ctx.warn_days)
        deprecated = m.deprecated is not None and m.deprecated <= ctx.as_of
        instead = f"; its replacement is {m.replacement}" if m.replacement else ""
        if days_left is not None and days_left < 0:
            if share == 0:
                status = "ok"
            reason = f"model {name} retired on {m.retires} ({_until(days_left)})" + (
                "; whether it still serves is unknown without the log"
                if share is None
                else ctx.in_window(share)
            )
        elif m.retires is not None:
            reason = f"model {name} retires on {m.retires} ({_until(days_left)})"
            if deprecated:
                reason += f", deprecated since {m.deprecated}"
                status = _worst(status, "warn")
            reason += ctx.in_window(share) + instead
        elif deprecated:
            status = "warn"
            reason = (
                f"model {name} is deprecated since {m.deprecated} and has no retirement date "
                "in the registry" + ctx.in_window(share) + instead
            )
        else:
            reason = f"model {name} has no announced deprecation or retirement" + ctx.in_window(
                share
            )
        out.append(
            _item(
                MODEL,
                f"model {name}",
                ctx.as_of,
                since=m.released,
                deadline=m.retires,
                status=status,
                traffic_share=share,
                reason=reason,
                _model=name,
                _replacement=m.replacement,
                _deprecated=m.deprecated if deprecated else None,
            )
        )
    if shares is not None:
        for name, (share, first) in sorted(shares.items()):
            if name in reg.models or share == 0:
                continue
            out.append(
                _item(
                    MODEL,
                    f"model {name}",
                    ctx.as_of,
                    since=first,
                    status="warn",
                    traffic_share=share,
                    _model=name,
                    _unregistered=True,
                    reason=f"model {name} is not in the registry: its retirement date is "
                    f"unknown (first seen {first})" + ctx.in_window(share),
                )
            )
    return out


def _eval_frames(reg: Registry, eval_data: Any) -> dict[str, Any]:
    if eval_data is None:
        return {n: es.path for n, es in reg.eval_sets.items() if es.path is not None}
    if isinstance(eval_data, Mapping):
        for name in eval_data:
            if name not in reg.eval_sets:
                raise InvalidArgumentError(
                    f"eval_data names eval set {name!r}, which the registry does not define. "
                    f"{did_you_mean(name, list(reg.eval_sets))}"
                )
        return dict(eval_data)
    if len(reg.eval_sets) != 1:
        raise InvalidArgumentError(
            f"eval_data is one frame but the registry has {len(reg.eval_sets)} eval sets: pass "
            f"{{name: frame}} for {', '.join(map(repr, reg.eval_sets)) or 'them'}."
        )
    return {next(iter(reg.eval_sets)): eval_data}


def _eval_items(ctx: _Context, segments: list[str], eval_data: Any) -> list[dict[str, Any]]:
    out = []
    sources = _eval_frames(ctx.reg, eval_data)
    for name, es in ctx.reg.eval_sets.items():
        deadline = es.built + dt.timedelta(days=es.max_age_days)
        days_left = (deadline - ctx.as_of).days
        status = _status(days_left, ctx.warn_days)
        age = (ctx.as_of - es.built).days
        drawn = f" from production of {es.window[0]} to {es.window[1]}" if es.window else ""
        reason = (
            f"eval set {name} was built on {es.built} ({_age_words(age)} ago){drawn}; its "
            f"refresh is due {deadline} ({_until(days_left)})"
        )
        uncovered = top = None
        if not es.segments:
            reason += "; no segments in the registry, so its coverage is not measured"
        elif ctx.traffic is None:
            pass
        elif name not in sources:
            reason += "; no eval data given (eval_data= or path), so its coverage is not measured"
        elif ctx.total == 0:
            reason += "; the log has no rows in the audited window to cover"
        else:
            from aidebt.drift import coverage

            counts = (
                ctx.traffic.filter(pl.col("n") > 0)
                .group_by(list(es.segments))
                .agg(pl.col("n").sum())
            )
            cov = coverage(
                sources[name], counts, by=list(es.segments), weight="n", k=es.min_examples
            ).table.row(0, named=True)
            uncovered, top = cov["uncovered_share"], cov["top_uncovered"]
            reason += (
                f"; it leaves {prose.percent(uncovered)} of the window's rows uncovered (kinds of "
                f"{', '.join(es.segments)} with fewer than {es.min_examples} examples"
                + (f"; largest: {top}" if top else "")
                + ")"
            )
            if uncovered > es.max_uncovered:
                status = "overdue"
                reason += f", more than the {prose.percent(es.max_uncovered)} allowed"
        out.append(
            _item(
                EVAL,
                f"eval set {name}",
                ctx.as_of,
                since=es.built,
                deadline=deadline,
                status=status,
                traffic_share=uncovered,
                reason=reason,
                _eval=name,
                _top=top,
                _age=age,
                _overdue_age=days_left < 0,
            )
        )
    return out


def _index_items(ctx: _Context) -> list[dict[str, Any]]:
    reg, out = ctx.reg, []
    by_index = ctx.shares(ctx.index)
    by_prompt = ctx.shares(ctx.prompt)
    for name, ix in reg.indexes.items():
        enc = reg.models[ix.encoder]
        days_left = (enc.retires - ctx.as_of).days if enc.retires else None
        status = _status(days_left, ctx.warn_days)
        deprecated = enc.deprecated is not None and enc.deprecated <= ctx.as_of
        if deprecated:
            status = _worst(status, "warn")
        share = None
        if by_index is not None:
            share = by_index.get(name, (0.0, None))[0]
        elif by_prompt is not None and ix.used_by:
            share = sum(by_prompt.get(p, (0.0, None))[0] for p in ix.used_by)
        state = f", deprecated since {enc.deprecated}" if deprecated else ""
        if enc.retires:
            verb = "retired on" if days_left < 0 else "retires on"
            state += f", {verb} {enc.retires} ({_until(days_left)})"
        size = f" ({ix.rows:,} rows)" if ix.rows is not None else ""
        reason = f"index {name}{size} was built on {ix.built} with encoder {ix.encoder}{state}"
        reason += ctx.in_window(share)
        if (deprecated or status != "ok") and enc.replacement:
            reason += f"; rebuild it with {enc.replacement}"
        out.append(
            _item(
                INDEX,
                f"index {name}",
                ctx.as_of,
                since=ix.built,
                deadline=enc.retires,
                status=status,
                traffic_share=share,
                reason=reason,
                _index=name,
                _encoder=ix.encoder,
                _deprecated=enc.deprecated if deprecated else None,
                _replacement=enc.replacement,
            )
        )
    if by_index is not None:
        for name, (share, first) in sorted(by_index.items()):
            if name in reg.indexes or share == 0 or name == frames.MISSING_GROUP:
                continue
            out.append(
                _item(
                    INDEX,
                    f"index {name}",
                    ctx.as_of,
                    since=first,
                    status="warn",
                    traffic_share=share,
                    _index=name,
                    _unregistered=True,
                    reason=f"index {name} is not in the registry: its encoder is unknown"
                    + ctx.in_window(share),
                )
            )
    return out


class Clocks(Result):
    """Result of :func:`clocks`: every lifecycle clock on a date.

    Attributes
    ----------
    table : polars.DataFrame
        One row per clock item: ``clock``, ``item``, ``since``, ``age_days``,
        ``deadline``, ``days_left``, ``status``, ``traffic_share``, ``reason``.
    as_of : datetime.date
    window : tuple of datetime.date
        The audited window ``[start, end)``.
    total : float or None
        Rows of the log in the window (None without a log).
    """

    title = "Lifecycle clocks"

    def __init__(
        self,
        table: pl.DataFrame,
        items: list[dict[str, Any]],
        *,
        as_of: dt.date,
        window: tuple[dt.date, dt.date],
        window_label: str,
        warn_days: int,
        total: float | None,
        registry: Registry,
    ) -> None:
        super().__init__(table)
        self._items = items
        self.as_of = as_of
        self.window = window
        self.window_label = window_label
        self.warn_days = warn_days
        self.total = total
        self.registry = registry

    def _of(self, clock: str, *statuses: str) -> list[dict[str, Any]]:
        return [r for r in self._items if r["clock"] == clock and r["status"] in statuses]

    def summary(self, noun: str = "decisions") -> list[str]:
        """What needs attention, in a stakeholder's words (``noun``: what one row is)."""
        w = self.window_label
        of = f"of the {noun} in {w}"
        lines = []
        unevaluated = [r for r in self._of(PAIRING, "overdue") if r["traffic_share"]]
        if unevaluated:
            total = sum(r["traffic_share"] for r in unevaluated)
            if len(unevaluated) == 1:
                r = unevaluated[0]
                lines.append(
                    f"{prose.percent(total)} {of} come from prompt {r['_prompt']} running on model "
                    f"{r['_model']}, which {r['_prompt']} was never evaluated on."
                )
            else:
                parts = ", ".join(
                    f"prompt {r['_prompt']} on model {r['_model']} ({prose.percent(r['traffic_share'])})"
                    for r in sorted(unevaluated, key=lambda r: -r["traffic_share"])
                )
                lines.append(
                    f"{prose.percent(total)} {of} come from a prompt running on a model it was never "
                    f"evaluated on: {parts}."
                )
        for r in self._of(PAIRING, "warn"):
            lines.append(r["reason"][0].upper() + r["reason"][1:] + ".")
        for r in self._of(MODEL, "overdue", "warn"):
            serves = (
                ""
                if r["traffic_share"] is None
                else f" and still serves {prose.percent(r['traffic_share'])} {of}"
                if r["traffic_share"] > 0
                else f" and serves none {of}"
            )
            instead = f"; its replacement is {r['_replacement']}" if r.get("_replacement") else ""
            if r.get("_unregistered"):
                lines.append(
                    f"Model {r['_model']} serves {prose.percent(r['traffic_share'])} {of} but is not in "
                    "the registry: its retirement date is unknown."
                )
            elif r["days_left"] is not None and r["days_left"] < 0:
                lines.append(
                    f"Model {r['_model']} retired {_age_words(r['days_left'])} ago "
                    f"({r['deadline']}){serves}."
                )
            elif r["days_left"] is not None:
                when = "today" if r["days_left"] == 0 else f"in {_age_words(r['days_left'])}"
                lines.append(
                    f"Model {r['_model']} retires {when} ({r['deadline']}){serves}{instead}."
                )
            else:
                lines.append(
                    f"Model {r['_model']} is deprecated since {r['_deprecated']} and has no "
                    f"retirement date yet{serves}{instead}."
                )
        for r in self._of(EVAL, "overdue", "warn"):
            text = f"The eval set {r['_eval']} is {_age_words(r['_age'])} old"
            if r["traffic_share"] is not None:
                text += f" and leaves {prose.percent(r['traffic_share'])} {of} uncovered"
                if r.get("_top"):
                    text += f" (largest gap: {r['_top'].split(' (')[0]})"
            due = "was due" if r["days_left"] < 0 else "is due"
            text += f"; its refresh {due} {_until(r['days_left'])} ({r['deadline']})."
            lines.append(text)
        for r in self._of(INDEX, "overdue", "warn"):
            if r.get("_unregistered"):
                lines.append(r["reason"][0].upper() + r["reason"][1:] + ".")
                continue
            text = f"Index {r['_index']} was built with encoder {r['_encoder']}"
            if r.get("_deprecated"):
                text += f", deprecated since {r['_deprecated']}"
            if r["days_left"] is not None:
                verb = "which retired" if r["days_left"] < 0 else "which retires"
                text += f", {verb} {_until(r['days_left'])} ({r['deadline']})"
            if r["traffic_share"] is not None:
                text += f"; it serves {prose.percent(r['traffic_share'])} {of}"
            if r.get("_replacement"):
                text += f"; rebuild it with {r['_replacement']}"
            lines.append(text + ".")
        if not lines:
            lines.append(
                f"No clock needs attention on {self.as_of}: every prompt runs on a model it "
                f"was evaluated on, no model or encoder is deprecated or retires within "
                f"{self.warn_days} days, and every eval set is within its refresh date."
            )
        return lines

    def reasons(self) -> list[str]:
        """Every clock item with its reason, one line each (for a report's list)."""
        return [f"{r['item']} ({r['status']}): {r['reason']}." for r in self._items]

    def notes(self) -> list[str]:
        lines = []
        if self.total is None:
            lines.append(
                "Without the production log, the clocks show dates only: no traffic shares, "
                "and a retired model counts as overdue since it may still serve."
            )
        elif self.total == 0:
            lines.append(f"The log has no rows in {self.window_label}: no traffic shares.")
        return lines

    def counts(self) -> dict[str, int]:
        """Items per status: ``{"overdue": 2, "warn": 3, "ok": 4}``."""
        got = self.table.get_column("status").value_counts()
        found = dict(zip(got["status"].to_list(), got["count"].to_list(), strict=True))
        return {s: int(found.get(s, 0)) for s in STATUSES}

    def headline(self, noun: str = "decisions") -> Headline:
        """One sentence and the key figures for the monthly audit."""
        counts = self.counts()
        unevaluated = sum(r["traffic_share"] or 0.0 for r in self._of(PAIRING, "overdue"))
        dated = self.table.filter(pl.col("days_left").is_not_null() & (pl.col("days_left") >= 0))
        nxt = dated.sort("days_left").row(0, named=True) if dated.height else None
        eval_rows = self.table.filter(pl.col("clock") == EVAL)
        first = self.summary(noun)[0]
        lead = (
            f"{counts['overdue']} overdue and {counts['warn']} due soon of "
            f"{self.table.height} lifecycle clocks: "
            if counts["overdue"] or counts["warn"]
            else ""
        )
        return Headline(
            lead + first,
            {
                "clocks_overdue": counts["overdue"],
                "clocks_warn": counts["warn"],
                "unevaluated_share": unevaluated if self.total is not None else None,
                "next_deadline": nxt["item"] if nxt else None,
                "next_deadline_days": nxt["days_left"] if nxt else None,
                "eval_uncovered_share": (
                    eval_rows["traffic_share"].max() if eval_rows.height else None
                ),
            },
        )

    def chart(self, **kwargs: Any):
        """A timeline of every clock: from its start to its deadline, with today's line."""
        from aidebt import charts

        return charts.clocks_timeline(self.table, as_of=self.as_of, **kwargs)


@dataclass(frozen=True)
class ClocksGate:
    """Result of :func:`clocks_gate`: ``passed``, the overdue count, and why."""

    passed: bool
    overdue: int
    max_overdue: int
    warn_days: int
    failing: tuple[str, ...]
    warnings: tuple[str, ...]

    def __bool__(self) -> bool:
        return self.passed

    @property
    def evidence(self) -> str:
        verdict = "within" if self.passed else "above"
        return (
            f"{self.overdue} overdue lifecycle clock(s), {verdict} the allowed "
            f"{self.max_overdue}; {len(self.warnings)} to watch (due within "
            f"{self.warn_days} days, deprecated or not in the registry)"
        )


def clocks_gate(clocks: Clocks, max_overdue: int = 0, warn_days: int = 60) -> ClocksGate:
    """The gate criterion ``clocks = { max_overdue = 0, warn_days = 60 }``.

    Passes when at most ``max_overdue`` clock items are overdue. Items due within
    ``warn_days`` (or deprecated, or not in the registry) are listed as warnings and never
    fail the gate. A check on the table only: no data is read.

    Examples
    --------
    >>> import aidebt as ad
    >>> from aidebt.lifecycle import clocks, clocks_gate
    >>> g = clocks_gate(clocks(ad.datasets.demo_registry(), as_of="2026-11"))
    >>> g.passed, g.overdue
    (False, 1)
    """
    for name, value in (("max_overdue", max_overdue), ("warn_days", warn_days)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidArgumentError(f"{name}={value!r} must be a whole number >= 0.")
    t = clocks.table
    overdue = t.filter(pl.col("status") == "overdue")
    soon = t.filter(
        (pl.col("status") == "warn")
        | ((pl.col("status") == "ok") & pl.col("days_left").is_between(0, warn_days))
    )

    def line(r: dict[str, Any]) -> str:
        return f"{r['item']} ({r['clock']}): {r['reason']}"

    return ClocksGate(
        passed=overdue.height <= max_overdue,
        overdue=overdue.height,
        max_overdue=max_overdue,
        warn_days=warn_days,
        failing=tuple(line(r) for r in overdue.iter_rows(named=True)),
        warnings=tuple(line(r) for r in soon.iter_rows(named=True)),
    )


# ======================================================================================
# Adoption
# ======================================================================================
ALL = "(all)"
"""The segment value of the rows that pool every segment (:meth:`Adoption.concentration`)."""

ADOPTION = mreg.Metric(
    "adoption",
    "proportion",
    "share of active users who used the feature",
    True,
    denominator_name="active users",
    needs_label=False,
)
_COST_DESCRIPTIONS = {
    "per active user": "feature cost per active user",
    "per use": "feature cost per use",
    "per successful use": "feature cost per successful use",
}
_SUMS = (
    "active_users",
    "feature_users",
    "actions",
    "uses",
    "uses_sq",
    "successes",
    "succ_sq",
    "cost",
    "cost_sq",
    "cost_uses",
    "cost_succ",
)


def _flag(frame: nw.LazyFrame, name: str, role: str) -> tuple[nw.Expr, nw.Expr, nw.Expr | None]:
    """A yes/no column as (0/1 Int64 with null as 0, is-null, is-not-0/1) expressions; the
    last is None for a boolean column, which cannot hold anything else."""
    dtype = frames.columns(frame)[name]
    col = nw.col(name)
    if dtype == nw.Boolean:
        return col.cast(nw.Int64).fill_null(0), col.is_null(), None
    if not (frames.is_numeric(dtype) or dtype == nw.Object):
        raise ColumnTypeError(
            f"Column {name!r} ({role}) has type {dtype} with values such as "
            f"{frames.sample_values(frame, name)}; aidebt needs booleans or 0/1 here. Convert "
            f"it first, e.g. {aggregate.flag_fix(frame, name)}."
        )
    missing = aggregate.is_missing(frame, name)
    one = nw.when(col == 1).then(nw.lit(1, nw.Int64)).otherwise(nw.lit(0, nw.Int64))
    value = nw.when(~missing).then(one).otherwise(nw.lit(0, nw.Int64))
    bad = ~missing & ~((col == 0) | (col == 1))
    return value, missing, bad


def _raise_on_bad_usage(frame, checks: dict[str, int], user, feature, cost, success, rows) -> None:
    if checks.get("bad_feature"):
        raise InvalidValueError(
            f"Column {feature!r} (feature) has {checks['bad_feature']:,} values other than 0/1 "
            f"or booleans (values such as {frames.sample_values(frame, feature)}). It must say, "
            "for each action, whether it used the feature."
        )
    if checks.get("bad_success"):
        raise InvalidValueError(
            f"Column {success!r} (success) has {checks['bad_success']:,} values other than 0/1 "
            f"or booleans (values such as {frames.sample_values(frame, success)})."
        )
    if checks.get("negative_cost"):
        sample = (
            frames.to_lazy(frame)
            .filter(nw.col(cost) < 0)
            .select(nw.col(cost))
            .head(3)
            .collect(backend="polars")
            .to_native()[cost]
            .to_list()
        )
        raise InvalidValueError(
            f"Column {cost!r} (cost) has {checks['negative_cost']:,} negative values (e.g. "
            f"{', '.join(repr(v) for v in sample)}): a cost is an amount >= 0. Book refunds or "
            "credits separately, or fix those rows."
        )
    if rows and not checks.get("uses"):
        raise InvalidValueError(
            f"Column {feature!r} (feature) marks none of the {rows:,} actions as a use of the "
            "feature: there is no adoption to measure. Check the column (true or 1 = the "
            "action used the feature) and the time window."
        )


# The columns of adoption's tables beside the ``by`` columns (``users`` and ``n``: its
# retention and concentration).
_ADOPTION_TAKEN = {
    *("period", "active_users", "feature_users", "adoption", "ci_low", "ci_high", "uses"),
    *("uses_per_feature_user", "actions", "successes", "cost", "users", "n"),
}


def adoption(
    usage: Any,
    *,
    user: str,
    time: str,
    feature: str,
    every: str = "1w",
    cost: str | None = None,
    success: str | None = None,
    by: str | Sequence[str] | None = None,
    confidence: float = 0.95,
) -> Adoption:
    """Who uses the feature, whether they keep using it, how concentrated, at what cost.

    Parameters
    ----------
    usage
        A usage log, one row per user action (any input aidebt reads: polars, pandas,
        pyarrow, DuckDB, Spark, a parquet/CSV path).
    user
        The column identifying the user (or customer account) of each action.
    time
        A Date/Datetime column: when the action happened.
    feature
        A yes/no column (booleans or 0/1): the action used the AI feature. Null counts as
        no.
    every
        Period length: ``"1d"``, ``"1w"`` (default; weeks start on Monday), ``"1mo"``...
    cost
        The cost of each feature use (>= 0; counted on feature actions only, null as 0).
    success
        A yes/no column: the feature use did its job (null counts as no).
    by
        Segment column(s) (plan, tier): every table is also given per segment. A user
        belongs to the segment of their rows in each period.
    confidence
        Level of every interval (0.95).

    Returns
    -------
    Adoption
        ``.table``: per period (and segment) ``active_users`` (users with any action),
        ``feature_users`` (with at least one feature use), ``adoption`` (their share) with
        its Wilson interval, ``uses``, ``uses_per_feature_user``; ``.cohorts()``,
        ``.concentration()``, ``.unit_cost()``, ``.trend()``, ``.summary()``, ``.chart()``.

    Notes
    -----
    Three group-bys run in the data's engine, one after the other, each one pass over the
    rows: per period (and segment), the distinct active users, the actions and every input
    check; on the feature's rows only, per (user, period, segment), the uses, successful
    uses and cost; per user (and segment), the actions; with segments, a fourth counts
    the distinct active users per period over all segments. These are the sufficient
    statistics of everything here, and they are small (feature user-periods, users), so
    memory holds one grouping at a time and never the rows, nor one row per active
    user-period (a single group-by per (user, period) over every row holds three times the
    memory of a bare distinct count at 50M rows, ``benchmarks/bench_lifecycle.py``). Every
    table is then a group-by on them: adoption per period, cohort retention (first-use
    period x period), per-user totals for concentration. Users are the independent units:
    adoption and retention get Wilson intervals (users are binomial draws), the Gini
    coefficient a jackknife interval over users (:func:`gini`), and unit costs
    cluster-robust ratio intervals (:meth:`unit_cost`).

    Examples
    --------
    >>> import aidebt as ad
    >>> from aidebt.lifecycle import adoption
    >>> a = adoption(ad.datasets.demo_usage(n_users=1_000, weeks=8), user="user_id",
    ...              time="ts", feature="used_ai", cost="cost", success="success")
    >>> a.table.height, round(a.table["adoption"][-1], 2)
    (8, 0.07)
    """
    confidence = st.check_confidence(confidence)
    ev = Every.parse(every)
    by_cols = frames.as_list(by)
    check_names(by_cols, _ADOPTION_TAKEN, role="a by column")
    frame = frames.to_lazy(usage)
    for name, role in ((user, "user"), (time, "time"), (feature, "feature")):
        if not isinstance(name, str):
            raise InvalidArgumentError(f"{role}={name!r} must be a column name.")
        frames.require_columns(frame, [name], role=role)
    frames.require_columns(frame, [cost], role="cost")
    frames.require_columns(frame, [success], role="success")
    frames.require_columns(frame, by_cols, role="a by column")
    clash = {user, time, feature, cost, success} & set(by_cols)
    if clash:
        raise InvalidArgumentError(
            f"by={by_cols!r} repeats a column with another role ({', '.join(sorted(clash))})."
        )
    schema = frames.columns(frame)
    frames.window_condition(frame, time)  # the one check that a time column is temporal
    f, f_null, f_bad = _flag(frame, feature, "feature")
    values: dict[str, nw.Expr] = {"_f": f, "_s": nw.lit(0, nw.Int64), "_c": nw.lit(0.0)}
    checks: dict[str, nw.Expr | None] = {"bad_feature": f_bad, "null_feature": f_null}
    if success is not None:
        s, s_null, s_bad = _flag(frame, success, "success")
        values["_s"] = f * s
        checks.update(bad_success=s_bad, no_success=(f == 1) & s_null)
    if cost is not None:
        frames.check_numeric(frame, cost, role="cost", fix="Costs are amounts >= 0.")
        c = nw.col(cost).cast(nw.Float64)
        c_missing = aggregate.is_missing(frame, cost)
        c0 = nw.when(c_missing).then(nw.lit(0.0)).otherwise(c)
        values["_c"] = nw.when(f == 1).then(c0).otherwise(nw.lit(0.0))
        checks.update(negative_cost=~c_missing & (c < 0), no_cost=(f == 1) & c_missing)
    checks = {k: v for k, v in checks.items() if v is not None}

    # Each query selects only the per-row values it needs (plain columns, so every engine
    # keeps its fast group-by path and reads only those columns). A float segment column
    # becomes its string key here, so NaN and null merge before users are counted; other
    # key columns are tidied on the small results.
    period = ev.index(nw.col(time)).alias("_p")
    segments = [
        frames.group_key(b, schema[b]) if schema[b].is_float() else nw.col(b) for b in by_cols
    ]
    no_user_col = nw.col(user).is_null().cast(nw.Int64).alias("_no_user")
    # Three group-bys in the data's engine, each one pass over the rows, run one after the
    # other so that memory holds one grouping at a time. 1. Per period: distinct users,
    # actions, uses and every input check.
    per_period = aggregate.collect(
        frame.select(
            nw.col(user),
            period,
            *segments,
            f.alias("_f"),
            *(check.cast(nw.Int64).alias(name) for name, check in checks.items()),
            no_user_col,
        )
        .group_by("_p", *by_cols)
        .agg(
            nw.col(user).n_unique().alias("_distinct"),  # counts a null user as one value
            nw.len().alias("actions"),
            nw.col("_f").sum().alias("uses"),
            *(nw.col(name).sum() for name in ("_no_user", *checks)),
        )
    )
    per_period = per_period.with_columns(
        pl.col(c).cast(pl.Int64) for c in per_period.columns if c not in ("_p", *by_cols)
    )
    found = {k: int(per_period[k].sum()) for k in (*checks, "uses")}
    rows = int(per_period["actions"].sum())
    _raise_on_bad_usage(frame, found, user, feature, cost, success, rows)
    no_user = int(per_period["_no_user"].sum())
    timeless = per_period.filter(pl.col("_p").is_null())
    no_time = int(timeless["actions"].sum()) - int(timeless["_no_user"].sum())
    per_period = per_period.filter(pl.col("_p").is_not_null()).with_columns(
        pl.col("_p").cast(pl.Int64),
        active_users=pl.col("_distinct") - (pl.col("_no_user") > 0).cast(pl.Int64),
    )
    known = frame.filter(~nw.col(user).is_null() & ~nw.col(time).is_null())
    # 2. The feature's rows only, per (user, period): uses, successful uses, cost.
    used = aggregate.collect(
        known.filter(f == 1)
        .select(nw.col(user), period, *segments, values["_s"].alias("_s"), values["_c"].alias("_c"))
        .group_by(user, "_p", *by_cols)
        .agg(
            nw.len().alias("uses"),
            nw.col("_s").sum().alias("successes"),
            nw.col("_c").sum().alias("cost"),
        )
    )
    # 3. Per user: actions (for who depends on the feature).
    per_user = aggregate.collect(
        known.select(nw.col(user), *segments)
        .group_by(user, *by_cols)
        .agg(nw.len().alias("actions"))
    )
    if per_user.height == 0:
        raise InvalidValueError(
            f"No action has both a {user!r} and a {time!r} value: there is nothing to count."
        )
    used = used.with_columns(
        pl.col("_p", "uses", "successes").cast(pl.Int64), pl.col("cost").cast(pl.Float64)
    ).rename({user: "_user"})
    per_user = per_user.with_columns(pl.col("actions").cast(pl.Int64)).rename({user: "_user"})
    if by_cols:  # segment values as strings, null as "(missing)", on the small tables
        tidy = [frames.group_key(b, schema[b]) for b in by_cols]
        per_period, used, per_user = (
            nw.from_native(t).with_columns(*tidy).to_native() for t in (per_period, used, per_user)
        )

    last = int(per_period["_p"].max())
    first = int(per_period["_p"].min())
    user_periods = ["_user", "_p"]
    if by_cols:
        used_all = used.group_by(user_periods).agg(pl.col("uses", "successes", "cost").sum())
        active_all = aggregate.collect(  # 4. with segments: distinct users per period
            frame.filter(~nw.col(time).is_null())
            .select(nw.col(user), period, no_user_col)
            .group_by("_p")
            .agg(nw.col(user).n_unique().alias("_distinct"), nw.col("_no_user").sum())
        ).with_columns(
            pl.col("_p").cast(pl.Int64),
            active_users=pl.col("_distinct").cast(pl.Int64)
            - (pl.col("_no_user").cast(pl.Int64) > 0).cast(pl.Int64),
        )
        active_all = active_all.join(
            per_period.group_by("_p").agg(pl.col("actions").sum()), on="_p"
        )
    else:
        used_all, active_all = used, per_period
    tables = {
        "sums": _fill_periods(_period_sums(active_all, used_all, []), [], first, last),
        "cells": _cohort_cells(used_all, used_all, []),
        "hist": _histogram(per_user, used, []),
    }
    if by_cols:
        tables["sums_by"] = _fill_periods(
            _period_sums(per_period, used, by_cols), by_cols, first, last
        )
        tables["cells_by"] = _cohort_cells(used_all, used, by_cols)
        tables["hist_by"] = _histogram(per_user, used, by_cols)
    info = {
        "rows": rows,
        "no_user": no_user,
        "no_time": no_time,
        "null_feature": found.get("null_feature", 0),
        "no_success": found.get("no_success", 0),
        "no_cost": found.get("no_cost", 0),
        "user": user,
        "feature": feature,
        "cost": cost,
        "success": success,
    }
    return Adoption(tables, by=by_cols, every=ev, confidence=confidence, info=info)


def _period_sums(active: pl.DataFrame, used: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Per period (and segment): active users and actions, then from the feature's
    (user, period) sums the feature users and the per-user sums and cross-products that the
    intervals need (users are the clusters; users without a use add zeros)."""
    u, s, c = (pl.col(x).cast(pl.Float64) for x in ("uses", "successes", "cost"))
    feature = used.group_by(["_p", *by]).agg(
        pl.len().cast(pl.Float64).alias("feature_users"),
        u.sum().alias("uses"),
        (u * u).sum().alias("uses_sq"),
        s.sum().alias("successes"),
        (s * s).sum().alias("succ_sq"),
        c.sum().alias("cost"),
        (c * c).sum().alias("cost_sq"),
        (c * u).sum().alias("cost_uses"),
        (c * s).sum().alias("cost_succ"),
    )
    return active.select(
        "_p",
        *by,
        pl.col("active_users").cast(pl.Float64),
        pl.col("actions").cast(pl.Float64),
    ).join(feature, on=["_p", *by], how="left")


def _fill_periods(sums: pl.DataFrame, by: list[str], first: int, last: int) -> pl.DataFrame:
    """Every period from the first to the last of the log, with zeros where no one was active."""
    grid = pl.DataFrame({"_p": pl.int_range(first, last + 1, eager=True, dtype=pl.Int64)})
    if by:
        grid = sums.select(by).unique().join(grid, how="cross")
    return (
        grid.join(sums, on=["_p", *by], how="left")
        .with_columns(pl.col(c).fill_null(0.0) for c in _SUMS)
        .sort([*by, "_p"])
    )


def _cohort_cells(used_all: pl.DataFrame, used: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Users using the feature per (segment, first-use period, period): a join and a group-by
    on the feature's (user, period) table (``used_all``: summed over segments)."""
    first = used_all.group_by("_user").agg(pl.col("_p").min().alias("_c"))
    return (
        used.select("_user", "_p", *by)
        .join(first, on="_user")
        .group_by([*by, "_c", "_p"])
        .agg(pl.len().cast(pl.Float64).alias("users"))
    )


def _histogram(per_user: pl.DataFrame, used: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Users per (segment, total uses, total actions) over the whole log, every active user
    included: the sufficient statistic of every concentration measure (Gini, top shares,
    Lorenz curve, dependence)."""
    keys = ["_user", *by]
    actions = per_user.group_by(keys).agg(pl.col("actions").sum()) if not by else per_user
    uses = used.group_by(keys).agg(pl.col("uses").sum())
    totals = actions.join(uses, on=keys, how="left").with_columns(pl.col("uses").fill_null(0))
    return totals.group_by([*by, "uses", "actions"]).agg(pl.len().cast(pl.Float64).alias("users"))


def _wilson_columns(x: pl.Series, n: pl.Series, confidence: float) -> tuple[pl.Series, ...]:
    lo, hi = st.wilson_ci(x.to_numpy(), n.to_numpy(), confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(n.to_numpy() > 0, x.to_numpy() / n.to_numpy(), np.nan)
    return (
        pl.Series(value).fill_nan(None),
        pl.Series(lo).fill_nan(None),
        pl.Series(hi).fill_nan(None),
    )


def _ratio(num, den, num_sq, den_sq, cross, clusters, confidence: float):
    """Ratio ``R = sum(c) / sum(y)`` over ``k`` independent clusters (users), from the sums
    of ``c``, ``y``, ``c^2``, ``y^2`` and ``c y`` over the clusters.

    Standard error by linearization, ``k/(k-1) sum_i (c_i - R y_i)^2 / Y^2`` (Cochran 1977,
    *Sampling Techniques*, section 6.4). Interval by Fieller's theorem (Fieller 1954,
    *JRSS B* 16(2)): the values ``R0`` for which the mean of ``d_i = c_i - R0 y_i`` is
    within a t test (``k - 1`` degrees of freedom) of zero, a quadratic inequality in
    ``R0`` whose coefficients are the same five sums. It is asymmetric, and holds its
    level better than the symmetric linearization interval when a few heavy users make
    the denominator skewed (checked by simulation in the tests). NaN where undefined
    (the denominator is not distinguishable from zero).
    """
    num, den, num_sq, den_sq, cross, k = (
        np.asarray(v, dtype=float) for v in (num, den, num_sq, den_sq, cross, clusters)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(den > 0, num / den, np.nan)
        resid = np.maximum(num_sq - 2 * r * cross + r * r * den_sq, 0.0)
        se = np.where(k > 1, np.sqrt(k / (k - 1) * resid) / den, np.nan)
        t2 = t_ppf(0.5 + confidence / 2, np.maximum(k - 1, 1)) ** 2
        # (C - R Y)^2 (1 + t^2/(k-1)) <= t^2 k/(k-1) sum_i (c_i - R y_i)^2, as a R^2 + b R + c <= 0.
        g, h = t2 / (k - 1), t2 * k / (k - 1)
        a = den**2 * (1 + g) - h * den_sq
        b = -2 * num * den * (1 + g) + 2 * h * cross
        c = num**2 * (1 + g) - h * num_sq
        disc = b * b - 4 * a * c
        ok = (k > 1) & (a > 0) & (disc >= 0)
        root = np.sqrt(np.maximum(disc, 0.0))
        lo = np.where(ok, (-b - root) / (2 * a), np.nan)
        hi = np.where(ok, (-b + root) / (2 * a), np.nan)
    return r, se, lo, hi


def gini(values: Any, counts: Any = None, *, confidence: float = 0.95) -> dict[str, float]:
    """Gini coefficient of non-negative values (how unequally they are shared), with a
    jackknife interval.

    ``G = sum_i (2i - n - 1) x_(i) / (n sum x)`` over the values sorted ascending: half
    the mean absolute difference over the mean, ``1 - 2 x`` the area under the Lorenz
    curve (0: all equal; ``1 - 1/n``: one unit holds everything). ``counts`` gives how
    many units have each value (a histogram; the result equals that of the expanded
    values).

    The standard error is the jackknife's over units,
    ``(n - 1) / n * sum_i (G_(-i) - mean G_(-i))^2``, computed in closed form from the
    sorted histogram (Yitzhaki 1991, *J. Business & Economic Statistics* 9(2); Karagiannis
    & Kovacevic 2000, *Oxford Bulletin of Economics and Statistics* 62(1)): leaving out one
    unit of value ``v`` removes ``2 sum_j |v - x_j|`` from the sum of absolute differences.
    The interval is normal. Assumption: the units are independent draws (users of a
    feature). Its coverage, by simulation in the tests (2,000 samples each, Monte Carlo
    SE 0.005): 0.956 for 300 geometric counts, 0.944 for 300 draws of a light/power-user
    mixture, 0.935 for 80 of them: a little short in small, skewed samples.

    Examples
    --------
    >>> round(gini([0, 0, 0, 1])["gini"], 4)
    0.75
    >>> r = gini([1, 2, 10], counts=[50, 30, 20])
    >>> round(r["gini"], 4), r["n"]
    (0.4935, 100.0)
    """
    x = np.asarray(values, dtype=float).ravel()
    m = np.ones_like(x) if counts is None else np.asarray(counts, dtype=float).ravel()
    if x.shape != m.shape:
        raise InvalidArgumentError("values and counts must have the same length.")
    if np.any(~np.isfinite(x)) or np.any(x < 0) or np.any(m < 0):
        raise InvalidArgumentError("gini needs finite values >= 0 and counts >= 0.")
    table = (
        pl.DataFrame({"x": x, "m": m})
        .filter(pl.col("m") > 0)
        .group_by("x")
        .agg(pl.col("m").sum())
        .sort("x")
    )
    return _gini_table(table, [], confidence).row(0, named=True)


def _gini_table(hist: pl.DataFrame, by: list[str], confidence: float) -> pl.DataFrame:
    """Gini and its jackknife standard error per segment from a sorted histogram ``x, m``."""
    over = by or None

    def w(e: pl.Expr) -> pl.Expr:
        return e.over(over) if over else e

    x, m = pl.col("x"), pl.col("m")
    n, total = w(m.sum()), w((m * x).sum())
    cum_n, cum_s = w(m.cum_sum()), w((m * x).cum_sum())
    z = float(norm_ppf(0.5 + confidence / 2))
    t = (
        hist.sort([*by, "x"])
        .with_columns(_n=n, _t=total, _c=cum_n, _s=cum_s)
        .with_columns(_block=x * m * (2 * pl.col("_c") - m - pl.col("_n")))
        .with_columns(_num=w(pl.col("_block").sum()))
        # Leave one unit of value x out: n - 1 units, total - x, and the sum of absolute
        # differences loses 2 * sum_j |x - x_j| = 2 * (x (2C - n) + T - 2S).
        .with_columns(
            _g_out=pl.when(pl.col("_t") - x > 0).then(
                (
                    pl.col("_num")
                    - x * (2 * pl.col("_c") - pl.col("_n"))
                    - pl.col("_t")
                    + 2 * pl.col("_s")
                )
                / ((pl.col("_n") - 1) * (pl.col("_t") - x))
            )
        )
    )
    agg = [
        pl.col("_n").first().alias("n"),
        (pl.col("_num").first() / (pl.col("_n").first() * pl.col("_t").first())).alias("gini"),
        (m * pl.col("_g_out")).sum().alias("_sum_out"),
        (m * pl.col("_g_out") ** 2).sum().alias("_sum_out_sq"),
        pl.col("_g_out").is_null().any().alias("_undefined"),
    ]
    out = t.group_by(by, maintain_order=True).agg(agg) if by else t.select(agg)
    n_ = pl.col("n")
    var = (n_ - 1) / n_ * (pl.col("_sum_out_sq") - pl.col("_sum_out") ** 2 / n_)
    # The jackknife needs every leave-one-out Gini: not when removing a unit leaves only zeros.
    se = pl.when((n_ > 1) & ~pl.col("_undefined")).then(var.clip(0).sqrt())
    return (
        out.with_columns(
            gini=pl.when(pl.col("n") > 0).then(pl.col("gini")),
            gini_se=se,
        )
        .with_columns(
            gini_ci_low=pl.col("gini") - z * pl.col("gini_se"),
            gini_ci_high=pl.col("gini") + z * pl.col("gini_se"),
        )
        .select([*by, "gini", "gini_se", "gini_ci_low", "gini_ci_high", "n"])
    )


def _top_shares(hist: pl.DataFrame, by: list[str], tops: Sequence[float]) -> pl.DataFrame:
    """Share of the total held by the top ``p`` of units, from a sorted histogram ``x, m``.

    The top ``p n`` units (a fractional count): the ``K = floor(p n)`` largest values in
    full and the fraction ``p n - K`` of the next one, which is the Lorenz curve read at
    ``1 - p`` (exact with ties, since tied units hold equal values).
    """
    over = by or None

    def w(e: pl.Expr) -> pl.Expr:
        return e.over(over) if over else e

    x, m = pl.col("x"), pl.col("m")
    t = hist.sort([*by, "x"]).with_columns(_n=w(m.sum()), _t=w((m * x).sum()), _c=w(m.cum_sum()))
    above = pl.col("_n") - pl.col("_c")  # units with a larger value than this block's
    cols = []
    for p in tops:
        k = (p * pl.col("_n")).floor()
        frac = p * pl.col("_n") - k
        whole = (x * (k - above).clip(0, m)).sum()
        nxt = x.filter((above <= k) & (k < above + m)).first().fill_null(0.0)
        name = f"top{100 * p:g}_share"
        cols.append(((whole + frac.first() * nxt) / pl.col("_t").first()).alias(name))
    return t.group_by(by, maintain_order=True).agg(cols) if by else t.select(cols)


def _lorenz(hist: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """The Lorenz curve's corners: cumulative share of users (poorest first) vs of uses."""
    over = by or None

    def w(e: pl.Expr) -> pl.Expr:
        return e.over(over) if over else e

    x, m = pl.col("x"), pl.col("m")
    points = hist.sort([*by, "x"]).select(
        *by,
        (w(m.cum_sum()) / w(m.sum())).alias("user_share"),
        (w((m * x).cum_sum()) / w((m * x).sum())).alias("use_share"),
    )
    origin = (
        points.select(by)
        .unique(maintain_order=True)
        .with_columns(user_share=pl.lit(0.0), use_share=pl.lit(0.0))
    )
    return pl.concat([origin, points]).sort([*by, "user_share", "use_share"])


def _as_decay(values: pl.DataFrame, metric: mreg.Metric, every: Every, confidence: float) -> Decay:
    """A per-period series (``_p``, ``value``, ``ci_low``, ``ci_high``, ``n``, ``_se``, and
    ``_x`` for proportions) as a :class:`aidebt.decay.Decay`, so that its trend fits and
    threshold crossings apply unchanged."""
    data = values.with_columns(
        period=pl.Series(every.start(values["_p"].to_numpy())).cast(pl.Date),
        metric=pl.lit(metric.name),
        group_n=pl.col("n"),
        unlabeled=pl.lit(0.0),
        unlabeled_share=pl.lit(0.0),
        note=pl.lit(None, pl.String),
        rows=pl.col("n").cast(pl.Int64),
    ).sort("_p")
    return Decay(
        data,
        data.select("_p", "n"),
        None,
        by=[],
        metric=metric,
        every=every,
        axis="calendar",
        since=None,
        confidence=confidence,
        ci="wilson",
        no_time=0.0,
    )


class Adoption(Result):
    """Result of :func:`adoption`.

    Attributes
    ----------
    table : polars.DataFrame
        Per period (and segment with ``by``): ``period`` (its first day),
        ``active_users``, ``feature_users``, ``adoption``, ``ci_low``, ``ci_high``,
        ``uses``, ``uses_per_feature_user``, ``actions``, ``successes``, ``cost``.
    overall : polars.DataFrame
        The same without segments.
    """

    title = "Feature adoption"

    def __init__(
        self,
        tables: dict[str, pl.DataFrame],
        *,
        by: list[str],
        every: Every,
        confidence: float,
        info: dict[str, Any],
    ) -> None:
        self._tables = tables
        self.by = by
        self.every = every
        self.confidence = confidence
        self.info = info
        self.overall = self._period_table(tables["sums"], [])
        super().__init__(self._period_table(tables["sums_by"], by) if by else self.overall)

    # -- tables ------------------------------------------------------------------------
    def _period_table(self, sums: pl.DataFrame, by: list[str]) -> pl.DataFrame:
        value, lo, hi = _wilson_columns(
            sums["feature_users"], sums["active_users"], self.confidence
        )
        return sums.with_columns(
            period=pl.Series(self.every.start(sums["_p"].to_numpy())).cast(pl.Date),
            adoption=value,
            ci_low=lo,
            ci_high=hi,
            uses_per_feature_user=pl.when(pl.col("feature_users") > 0).then(
                pl.col("uses") / pl.col("feature_users")
            ),
        ).select(
            *by,
            "period",
            "active_users",
            "feature_users",
            "adoption",
            "ci_low",
            "ci_high",
            "uses",
            "uses_per_feature_user",
            "actions",
            "successes",
            "cost",
            "_p",
        )

    def _display_table(self) -> pl.DataFrame:
        return self.table.drop("_p", "successes", "cost")

    def _label(self, idx: int) -> str:
        text = self.every.label(int(idx))
        return f"the {self.every.noun()} of {text}" if self.every.unit in ("w", "d") else text

    def trend(self, periods: int | None = 8):
        """The adoption trend over the last ``periods`` periods (all with None): a binomial
        GLM of feature users out of active users, logit link, quasi-binomial dispersion
        (:meth:`aidebt.decay.Decay.fit`). A slope whose interval holds zero over the
        recent periods is a plateau."""
        table = self.overall.filter(pl.col("active_users") > 0)
        if periods is not None:
            table = table.tail(periods)
        values = table.select(
            "_p",
            "ci_low",
            "ci_high",
            pl.col("adoption").alias("value"),
            pl.col("active_users").alias("n"),
            pl.col("feature_users").alias("_x"),
            pl.lit(None, pl.Float64).alias("_se"),
        )
        return _as_decay(values, ADOPTION, self.every, self.confidence).fit()

    def cohorts(self) -> Cohorts:
        """First-use cohorts: the share of each cohort still using the feature, period by
        period since its first use (a group-by on first-use period x period)."""
        last = int(self._tables["sums"]["_p"].max())
        cells = self._tables["cells_by"] if self.by else self._tables["cells"]
        return Cohorts(cells, self._tables["cells"], self.by, last, self)

    def concentration(self, share: float = 0.5, tops: Sequence[float] = (0.01, 0.05, 0.1)):
        """How concentrated the feature's use is among its users, and who depends on it.

        Over the whole log, per user: total uses and total actions. For the users with at
        least one use: the share of uses by the top 1/5/10% (``tops``), the Gini
        coefficient with its jackknife interval (:func:`gini`) and the Lorenz curve; and
        the *blast radius* of a retirement: the users for whom the feature is more than
        ``share`` of their actions. Overall (segment ``(all)``) and per segment.
        """
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share < 1:
            raise InvalidArgumentError(f"share={share!r} must be a share in [0, 1), e.g. 0.5.")
        for p in tops:
            if isinstance(p, bool) or not isinstance(p, int | float) or not 0 < p <= 1:
                raise InvalidArgumentError(f"tops={tops!r}: each must be a share in (0, 1].")
        hist = self._tables["hist"]
        if self.by:
            hist = pl.concat(
                [
                    hist.with_columns(pl.lit(ALL).alias(b) for b in self.by).select(
                        self._tables["hist_by"].columns
                    ),
                    self._tables["hist_by"],
                ]
            )
        return Concentration(hist, self.by, share, tuple(tops), self)

    def unit_cost(
        self,
        budget: float | None = None,
        *,
        measure: str | None = None,
        periods: int | None = None,
        currency: str = "$",
    ) -> UnitCost:
        """Cost per active user, per use and per successful use, per period, with intervals.

        Parameters
        ----------
        budget
            A cost ceiling for ``measure``: when the fitted trend crosses it, with an
            interval (:meth:`aidebt.decay.Trend.crossing`, Fieller).
        measure
            The series whose trend is fitted: ``"per successful use"`` (default with a
            success column), ``"per use"`` or ``"per active user"``.
        periods
            Fit the trend on the last ``periods`` periods only (default all).
        currency
            Printed before amounts in sentences.

        Notes
        -----
        Users are the independent units (clusters) of each period. Cost per active user
        is a mean over active users (t interval from the sum and sum of squares of the
        per-user cost). Cost per use and per successful use are ratios ``C / Y`` of sums
        over users, with the linearization variance ``k/(k-1) sum_i (c_i - R y_i)^2 / Y^2``
        over the ``k`` users who used the feature (Cochran 1977, section 6.4), and
        Fieller's interval on ``k - 1`` degrees of freedom: a heavy user's many uses are
        not counted as independent. The trend is a weighted least-squares line through the per-period
        values (weights 1/SE², quasi-likelihood scale), as for any mean metric in
        :meth:`aidebt.decay.Decay.fit`.
        """
        if self.info["cost"] is None:
            raise InvalidArgumentError(
                "unit_cost needs the cost of each use: call adoption(..., cost='COLUMN')."
            )
        measures = ["per active user", "per use"]
        if self.info["success"] is not None:
            measures.append("per successful use")
        measure = measure or measures[-1]
        if measure not in measures:
            raise InvalidArgumentError(
                f"measure={measure!r} is not available; use one of {measures}"
                + ("" if self.info["success"] else " (per successful use needs success=)")
                + "."
            )
        if budget is not None and (
            isinstance(budget, bool) or not isinstance(budget, int | float) or budget <= 0
        ):
            raise InvalidArgumentError(f"budget={budget!r} must be an amount > 0.")
        return UnitCost(self, measures, measure, budget, periods, currency)

    # -- display -----------------------------------------------------------------------
    def summary(self, budget: float | None = None, currency: str = "$") -> list[str]:
        """Adoption now and its trend, retention, concentration, blast radius and unit cost."""
        lines = []
        t = self.overall.filter(pl.col("active_users") > 0)
        last = t.row(-1, named=True)
        lines.append(
            f"In {self._label(last['_p'])}, {prose.percent(last['adoption'], 1)} of the "
            f"{last['active_users']:,.0f} active users used the feature "
            f"({self.confidence:.0%} interval {prose.interval(last['ci_low'], last['ci_high'], prose.percent, 1)}), "
            f"{last['uses_per_feature_user'] or 0:.1f} times each on average."
        )
        try:
            tr = self.trend().table.row(0, named=True)
        except Exception:  # a summary never raises; trend() says why
            tr = None
        if tr is not None and tr.get("change") is not None:
            k = tr["periods"]
            lo, hi = tr["change_ci_low"], tr["change_ci_high"]
            level = t.tail(k)
            mean = level["feature_users"].sum() / level["active_users"].sum()
            if lo <= 0 <= hi:
                lines.append(
                    f"Over the last {k} {self.every.noun()}s adoption shows no clear trend "
                    f"({prose.difference(tr['change'], 2)} points {self.every.per()}, "
                    f"{self.confidence:.0%} interval {prose.interval(lo, hi, prose.difference, 2)}): it "
                    "has plateaued "
                    f"around {prose.percent(mean, 1)}."
                )
            else:
                verb = "risen" if lo > 0 else "fallen"
                a, b = sorted((abs(lo), abs(hi)))
                lines.append(
                    f"Over the last {k} {self.every.noun()}s adoption has {verb} "
                    f"{prose.points(abs(tr['change']), 2)} points {self.every.per()} "
                    f"({self.confidence:.0%} interval {prose.interval(a, b, prose.points, 2)})."
                )
        curve = self.cohorts().curve
        curve = curve.filter(pl.col(self.by[0]) == ALL) if self.by else curve
        later = curve.filter(pl.col("periods_since") == 4)
        if later.height and later["cohort_size"][0] > 0:
            r = later.row(0, named=True)
            lines.append(
                f"Of the users who tried it, {prose.percent(r['retention'])} still use it 4 "
                f"{self.every.noun()}s later ({self.confidence:.0%} interval "
                f"{prose.interval(r['ci_low'], r['ci_high'])}, over {r['cohorts']:.0f} cohorts)."
            )
        conc = self.concentration()
        lines.extend(conc.summary()[:2])
        if self.info["cost"] is not None:
            lines.extend(self.unit_cost(budget, currency=currency).summary()[:2])
        return lines

    def notes(self) -> list[str]:
        i = self.info
        out = []
        if i["no_user"]:
            out.append(f"{i['no_user']:,} actions have no {i['user']!r} value and are left out.")
        if i["no_time"]:
            out.append(f"{i['no_time']:,} actions have no time value and are left out.")
        if i["null_feature"]:
            out.append(
                f"{i['null_feature']:,} actions have no {i['feature']!r} value: counted as not "
                "using the feature."
            )
        if i["no_success"]:
            out.append(
                f"{i['no_success']:,} feature uses have no {i['success']!r} value: counted as "
                "not successful."
            )
        if i["no_cost"]:
            out.append(f"{i['no_cost']:,} feature uses have no {i['cost']!r} value: counted as 0.")
        return out

    def headline(self, budget: float | None = None, currency: str = "$") -> Headline:
        """One sentence and the key figures for the monthly audit."""
        t = self.overall.filter(pl.col("active_users") > 0)
        last = t.row(-1, named=True)
        conc = self.concentration().table
        conc = conc.filter(pl.col(self.by[0]) == ALL) if self.by else conc
        c = conc.row(0, named=True)
        sentence = (
            f"{prose.percent(last['adoption'], 1)} of active users used the feature in "
            f"{self._label(last['_p'])}; the top 10% of its users make {prose.percent(c['top10_share'])} "
            f"of its uses"
        )
        figures: dict[str, Any] = {
            "adoption": last["adoption"],
            "adoption_ci_low": last["ci_low"],
            "adoption_ci_high": last["ci_high"],
            "feature_users": last["feature_users"],
            "active_users": last["active_users"],
            "top10_share": c["top10_share"],
            "gini": c["gini"],
            "dependent_users": c["dependent_users"],
        }
        if self.info["cost"] is not None:
            uc = self.unit_cost(budget, currency=currency)
            row = uc.latest()
            sentence += f"; each {uc.measure.removeprefix('per ')} costs {prose.money(row['value'], currency)}"
            figures[f"cost_{uc.measure.replace(' ', '_')}"] = row["value"]
            if uc.crossing is not None and uc.crossing.estimate is not None:
                when = self.every.label_instant(uc.crossing.estimate)
                sentence += f" and crosses the {prose.money(budget, currency)} budget around {when}"
                figures["budget_crossing"] = when
        return Headline(sentence + ".", figures)

    def chart(self, budget: float | None = None, **kwargs: Any):
        """Adoption curve, retention heat map, Lorenz curve and (with costs) unit cost."""
        from aidebt import charts

        panels = [
            charts.adoption_curve(self.table, by=self.by, unit=self.every.noun()),
            self.cohorts().chart(),
            self.concentration().chart(),
        ]
        if self.info["cost"] is not None:
            panels.append(self.unit_cost(budget).chart())
        return charts.stack(panels, **kwargs)


class Cohorts(Result):
    """Result of :meth:`Adoption.cohorts`.

    Attributes
    ----------
    table : polars.DataFrame
        Per (segment,) first-use ``cohort`` and ``period``: ``periods_since`` the first use,
        ``cohort_size`` (users whose first use fell in the cohort's period), ``users``
        (of them, those using the feature in ``period``), ``retention`` and its Wilson
        interval. Periods after the cohort's first and up to the log's last are all there
        (zero users where none used it).
    curve : polars.DataFrame
        Retention pooled over cohorts, per ``periods_since``: ``cohorts``, ``cohort_size``,
        ``users``, ``retention`` with its interval (with segments, also ``(all)``).
    """

    title = "Retention by first-use cohort"

    def __init__(
        self, cells: pl.DataFrame, overall: pl.DataFrame, by: list[str], last: int, parent: Adoption
    ) -> None:
        self.by = by
        self.every = parent.every
        self.confidence = parent.confidence
        super().__init__(self._retention(cells, by, last))
        self.overall = self._retention(overall, [], last) if by else self.table
        pooled = self._pool(self.overall, [])
        if by:
            pooled = pl.concat(
                [
                    pooled.with_columns(pl.lit(ALL).alias(b) for b in by),
                    self._pool(self.table, by),
                ],
                how="diagonal",
            ).select(*by, *pooled.columns)
        self.curve = pooled

    def _retention(self, cells: pl.DataFrame, by: list[str], last: int) -> pl.DataFrame:
        """Every (cohort, period) from the cohort's first use to the log's last period."""
        sizes = cells.filter(pl.col("_p") == pl.col("_c")).select(
            *by, "_c", pl.col("users").alias("cohort_size")
        )
        grid = sizes.with_columns(_p=pl.int_ranges(pl.col("_c"), last + 1, dtype=pl.Int64)).explode(
            "_p"
        )
        table = (
            grid.join(cells, on=[*by, "_c", "_p"], how="left")
            .with_columns(pl.col("users").fill_null(0.0), periods_since=pl.col("_p") - pl.col("_c"))
            .sort([*by, "_c", "_p"])
        )
        value, lo, hi = _wilson_columns(table["users"], table["cohort_size"], self.confidence)
        return table.with_columns(
            cohort=pl.Series(self.every.start(table["_c"].to_numpy())).cast(pl.Date),
            period=pl.Series(self.every.start(table["_p"].to_numpy())).cast(pl.Date),
            retention=value,
            ci_low=lo,
            ci_high=hi,
        ).select(
            *by,
            "cohort",
            "period",
            "periods_since",
            "cohort_size",
            "users",
            "retention",
            "ci_low",
            "ci_high",
        )

    def _pool(self, table: pl.DataFrame, by: list[str]) -> pl.DataFrame:
        """Retention pooled over the cohorts observed at each ``periods_since``."""
        curve = (
            table.group_by([*by, "periods_since"])
            .agg(
                pl.len().cast(pl.Float64).alias("cohorts"),
                pl.col("cohort_size").sum(),
                pl.col("users").sum(),
            )
            .sort([*by, "periods_since"])
        )
        value, lo, hi = _wilson_columns(curve["users"], curve["cohort_size"], self.confidence)
        return curve.with_columns(retention=value, ci_low=lo, ci_high=hi)

    def summary(self) -> list[str]:
        curve = self.curve.filter(pl.col(self.by[0]) == ALL) if self.by else self.curve
        unit = self.every.noun()
        lines = []
        for k in (1, 4, 12):
            row = curve.filter(pl.col("periods_since") == k)
            if row.height and row["cohort_size"][0] > 0:
                r = row.row(0, named=True)
                lines.append(
                    f"{k} {unit}{'s' if k > 1 else ''} after their first use, "
                    f"{prose.percent(r['retention'])} of users still use it ({self.confidence:.0%} interval "
                    f"{prose.interval(r['ci_low'], r['ci_high'])}; {r['cohorts']:.0f} cohorts, "
                    f"{r['cohort_size']:,.0f} users)."
                )
        return lines or ["No cohort has a later period to measure retention on yet."]

    def chart(self, **kwargs: Any):
        """Heat map of every cohort (all segments together): cohorts x periods since first
        use, colour = retention."""
        from aidebt import charts

        return charts.retention_heatmap(self.overall, unit=self.every.noun(), **kwargs)


class Concentration(Result):
    """Result of :meth:`Adoption.concentration`.

    Attributes
    ----------
    table : polars.DataFrame
        Per segment (``(all)`` pools them): ``active_users`` (users with any action in
        the log), ``feature_users``, ``uses``, ``top1_share``, ``top5_share``,
        ``top10_share`` (share of uses by the top 1/5/10% of feature users), ``gini`` with
        ``gini_se``, ``gini_ci_low``, ``gini_ci_high`` (jackknife), ``dependent_users``
        (feature users for whom the feature is more than ``share`` of their actions: the
        retirement's blast radius), ``dependent_share`` (of feature users),
        ``dependent_uses_share`` (of uses).
    lorenz : polars.DataFrame
        Per segment: ``user_share`` (users, lightest first) and ``use_share``.
    """

    title = "Concentration of use"

    def __init__(
        self,
        hist: pl.DataFrame,
        by: list[str],
        share: float,
        tops: tuple[float, ...],
        parent: Adoption,
    ) -> None:
        self.by = by
        self.share = share
        self.tops = tops
        self.confidence = parent.confidence
        used = hist.filter(pl.col("uses") > 0)
        values = (
            used.group_by([*by, "uses"])
            .agg(pl.col("users").sum())
            .rename({"uses": "x", "users": "m"})
            .with_columns(pl.col("x").cast(pl.Float64))
        )
        gini_t = _gini_table(values, by, self.confidence)
        top_t = _top_shares(values, by, tops)
        dep = pl.col("uses") > share * pl.col("actions")
        weighted_uses = (pl.col("users") * pl.col("uses")).cast(pl.Float64)
        aggs = [
            pl.col("users").sum().alias("active_users"),
            pl.col("users").filter(pl.col("uses") > 0).sum().alias("feature_users"),
            weighted_uses.sum().alias("uses"),
            pl.col("users").filter(dep).sum().alias("dependent_users"),
            weighted_uses.filter(dep).sum().alias("_dep_uses"),
        ]
        counts = hist.group_by(by, maintain_order=True).agg(aggs) if by else hist.select(aggs)
        table = (
            (
                counts.join(top_t, on=by, how="left").join(gini_t.drop("n"), on=by, how="left")
                if by
                else pl.concat([counts, top_t, gini_t.drop("n")], how="horizontal")
            )
            .with_columns(
                dependent_share=pl.when(pl.col("feature_users") > 0).then(
                    pl.col("dependent_users") / pl.col("feature_users")
                ),
                dependent_uses_share=pl.when(pl.col("uses") > 0).then(
                    pl.col("_dep_uses") / pl.col("uses")
                ),
            )
            .drop("_dep_uses")
        )
        if by:  # (all) first, then segments by size
            table = table.sort(
                pl.col(by[0]) != ALL, pl.col("feature_users"), descending=[False, True]
            )
        super().__init__(table)
        self.lorenz = _lorenz(values, by)

    def _overall(self) -> dict[str, Any]:
        t = self.table.filter(pl.col(self.by[0]) == ALL) if self.by else self.table
        return t.row(0, named=True)

    def summary(self) -> list[str]:
        r = self._overall()
        top = max(self.tops)
        lines = [
            f"The top {top:.0%} of its {r['feature_users']:,.0f} users make "
            f"{prose.percent(r[f'top{100 * top:g}_share'])} of its uses (Gini "
            f"{r['gini']:.2f}, {self.confidence:.0%} interval "
            f"{prose.interval(r['gini_ci_low'], r['gini_ci_high'], prose.number, 2)}; 0 is every "
            "user alike)."
            if r["gini_ci_low"] is not None
            else f"The top {top:.0%} of its {r['feature_users']:,.0f} users make "
            f"{prose.percent(r[f'top{100 * top:g}_share'])} of its uses (Gini {r['gini']:.2f})."
        ]
        text = (
            f"For {prose.count(r['dependent_users'], 'user')} "
            f"({prose.percent(r['dependent_share'])} of its users, "
            f"{prose.percent(r['dependent_uses_share'])} of its uses) the feature is more than "
            f"{self.share:.0%} of what they do: a retirement hits them first"
        )
        if self.by:
            segs = self.table.filter(pl.col(self.by[0]) != ALL).sort(
                "dependent_users", descending=True
            )
            if segs.height and segs["dependent_users"][0] > 0:
                s = segs.row(0, named=True)
                who = " / ".join(str(s[b]) for b in self.by)
                text += (
                    f" (most in {who}: {prose.count(s['dependent_users'], 'user')}, "
                    f"{prose.percent(s['dependent_share'])} of its users there)"
                )
        lines.append(text + ".")
        return lines

    def chart(self, **kwargs: Any):
        """The Lorenz curve (per segment), with the line of equality."""
        from aidebt import charts

        return charts.lorenz_chart(self.lorenz, by=self.by, **kwargs)


class UnitCost(Result):
    """Result of :meth:`Adoption.unit_cost`.

    Attributes
    ----------
    table : polars.DataFrame
        Long: per (segment,) period and ``measure`` (``per active user``, ``per use``,
        ``per successful use``): ``value``, ``ci_low``, ``ci_high``, ``se``, ``n`` (its
        denominator: active users, uses or successful uses) and ``users`` (the independent
        units behind it).
    trend : aidebt.decay.Trend or None
        The fitted trend of ``measure`` (overall).
    crossing : aidebt.decay.Crossing or None
        When that trend crosses ``budget``.
    """

    title = "Unit cost"

    def __init__(
        self,
        parent: Adoption,
        measures: list[str],
        measure: str,
        budget: float | None,
        periods: int | None,
        currency: str,
    ) -> None:
        self.parent = parent
        self.by = parent.by
        self.every = parent.every
        self.confidence = parent.confidence
        self.measure = measure
        self.budget = budget
        self.currency = currency
        frames_ = [self._long(parent._tables["sums"], [], measures)]
        if self.by:
            frames_.append(self._long(parent._tables["sums_by"], self.by, measures))
            frames_[0] = frames_[0].with_columns(pl.lit(ALL).alias(b) for b in self.by)
        table = pl.concat([f.select(frames_[-1].columns) for f in frames_])
        super().__init__(table.drop("_p"))
        self._series = (
            table.filter(
                (pl.col("measure") == measure)
                & pl.col("value").is_not_null()
                & pl.col("se").is_not_null()
                & (pl.col("se") > 0)
            )
            .filter(pl.col(self.by[0]) == ALL if self.by else pl.lit(True))
            .sort("_p")
        )
        if periods is not None:
            self._series = self._series.tail(periods)
        self.trend = self.crossing = None
        metric = mreg.Metric(
            f"cost {measure}",
            "mean",
            _COST_DESCRIPTIONS[measure],
            False,
            denominator_name=measure.removeprefix("per "),
            needs_label=False,
        )
        if self._series.height >= 3:
            values = self._series.select(
                "_p", "value", "ci_low", "ci_high", "n", pl.col("se").alias("_se")
            )
            self.trend = _as_decay(values, metric, self.every, self.confidence).fit()
            if budget is not None and self.trend.table["slope"][0] is not None:
                self.crossing = self.trend.crossing(float(budget))

    def _long(self, sums: pl.DataFrame, by: list[str], measures: list[str]) -> pl.DataFrame:
        conf = self.confidence
        out = []
        for m in measures:
            if m == "per active user":
                value, se, lo, hi = st.mean_ci(
                    sums["cost"], sums["cost_sq"], sums["active_users"], conf
                )
                n, k = sums["active_users"], sums["active_users"]
            else:
                den, den_sq, cross = (
                    ("uses", "uses_sq", "cost_uses")
                    if m == "per use"
                    else ("successes", "succ_sq", "cost_succ")
                )
                value, se, lo, hi = _ratio(
                    sums["cost"],
                    sums[den],
                    sums["cost_sq"],
                    sums[den_sq],
                    sums[cross],
                    sums["feature_users"],
                    conf,
                )
                n, k = sums[den], sums["feature_users"]
            out.append(
                sums.select(*by, "_p").with_columns(
                    period=pl.Series(self.every.start(sums["_p"].to_numpy())).cast(pl.Date),
                    measure=pl.lit(m),
                    value=pl.Series(value).fill_nan(None),
                    ci_low=pl.Series(lo).fill_nan(None),
                    ci_high=pl.Series(hi).fill_nan(None),
                    se=pl.Series(se).fill_nan(None),
                    n=n,
                    users=k,
                )
            )
        return pl.concat(out).sort([*by, "measure", "_p"])

    def latest(self) -> dict[str, Any]:
        """The last period's row of ``measure`` (overall)."""
        t = self.table.filter(pl.col("measure") == self.measure)
        if self.by:
            t = t.filter(pl.col(self.by[0]) == ALL)
        t = t.filter(pl.col("value").is_not_null())
        return t.row(-1, named=True) if t.height else dict.fromkeys(t.columns)

    def summary(self) -> list[str]:
        cur, conf = self.currency, self.confidence
        s = self._series
        if s.height == 0:
            return [f"No period has a cost {self.measure} yet."]
        first, last = s.row(0, named=True), s.row(-1, named=True)
        label = self.parent._label
        lines = [
            f"Each {self.measure.removeprefix('per ')} cost {prose.money(last['value'], cur)} in "
            f"{label(last['_p'])} ({conf:.0%} interval {prose.money(last['ci_low'], cur)} to "
            f"{prose.money(last['ci_high'], cur)}), against {prose.money(first['value'], cur)} in "
            f"{label(first['_p'])}."
        ]
        if self.trend is not None:
            tr = self.trend.table.row(0, named=True)
            if tr.get("slope") is not None:
                lo, hi = tr["slope_ci_low"], tr["slope_ci_high"]
                per = self.every.per()
                if lo > 0 or hi < 0:
                    verb = "rising" if lo > 0 else "falling"
                    text = (
                        f"It is {verb} {prose.money(abs(tr['slope']), cur)} {per} ({conf:.0%} interval "
                        f"{prose.money(min(abs(lo), abs(hi)), cur)} to {prose.money(max(abs(lo), abs(hi)), cur)})"
                    )
                else:
                    text = f"It shows no clear trend ({prose.money(tr['slope'], cur)} {per})"
                c = self.crossing
                if c is not None and c.estimate is not None:
                    fmt = self.every.label_instant
                    verb = "crossed" if c.status == "crossed" else "at this rate it crosses"
                    text += (
                        f"; {verb} the {prose.money(self.budget, cur)} budget around {fmt(c.estimate)} "
                        f"({fmt(c.ci_low)} to {fmt(c.ci_high)})"
                    )
                elif c is not None:
                    text += f"; no crossing of the {prose.money(self.budget, cur)} budget to report: {c.reason}"
                lines.append(text + ".")
        return lines

    def chart(self, **kwargs: Any):
        """The measure per period with its interval; with a fitted trend, its band, and
        with a budget, the budget line and the projected crossing with its interval
        (:meth:`aidebt.decay.Trend.chart`)."""
        from aidebt import charts

        if self.trend is not None:
            return self.trend.chart(self.budget, **kwargs)
        series = self.table.filter(pl.col("measure") == self.measure)
        if self.by:
            series = series.filter(pl.col(self.by[0]) == ALL)
        return charts.decay_chart(
            series, metric=f"cost {self.measure}", unit=self.every.noun(), **kwargs
        )
