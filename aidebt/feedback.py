"""Close the feedback loop: labels from user behaviour, and how biased the ratings are.

Most AI features have no ``y_true``: a thumbs widget that 2% of users click, mostly the
ones with strong opinions. Yet every session already says what happened next: the user
who accepts a suggestion was served; the one who undoes it within seconds, rephrases the
question or regenerates the answer was not. This module turns that into numbers:

- :func:`implicit_labels`: an event log in, one label per interaction out (1 satisfied,
  0 not, null when no rule decides), computed by group-bys, joins and one window function
  in the engine that holds the log (polars, lazily and streaming from parquet; DuckDB;
  the other engines narwhals drives), never a Python loop over rows; ``sink=`` writes
  the labels of a log larger than memory in parts. The rules are data (:class:`Rules`),
  and can be written in ``audit.toml`` (:func:`rules_from_toml`).
- :func:`feedback`: for a table with one row per interaction (the implicit label, the
  explicit rating when the user gave one, a reviewed gold label where there is one), how
  many answers were rated, how raters differ from non-raters, what the ratings would
  say if everyone rated (inverse-probability weighting on the observed covariates, with
  an interval that accounts for the estimated propensities), and how well each label
  agrees with the others. One aggregation pass builds a small cell table; everything
  else is numpy on it.

The implicit label is an ordinary 0/1 column with nulls, so :func:`aidebt.disaggregate`,
:func:`aidebt.decay`, :func:`aidebt.compare` and the gates take it as ``y_true`` like any
other label (null = not labeled).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

import narwhals as nw
import narwhals.dtypes as nwd
import numpy as np
import polars as pl

from aidebt import aggregate, frames, prose
from aidebt import stats as st
from aidebt.distributions import norm_ppf
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
    "DEFAULT_RULES",
    "METRIC_MEANINGS",
    "WINDOW_SPELLINGS",
    "Feedback",
    "FeedbackInputs",
    "Rule",
    "Rules",
    "cohens_kappa",
    "feedback",
    "feedback_inputs",
    "implicit_labels",
    "parse_window",
    "post_stratify",
    "rules_from_toml",
]

# --------------------------------------------------------------------------------------
# Windows and rules
# --------------------------------------------------------------------------------------
_WINDOW = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|sec|m|min|h|hr|d)\s*$")
_UNIT_US = {
    "ms": 1_000,
    "s": 1_000_000,
    "sec": 1_000_000,
    "m": 60_000_000,
    "min": 60_000_000,
    "h": 3_600_000_000,
    "hr": 3_600_000_000,
    "d": 86_400_000_000,
}
WINDOW_SPELLINGS = (
    "a number and a unit: '500ms', '30s', '2m' (or '2min'), '1h', '1d' (decimals such as "
    "'1.5h' are fine); a number of seconds (30); or a datetime.timedelta"
)
"""The window spellings :func:`parse_window` accepts, for error messages and docs."""


def parse_window(value: Any, *, what: str = "window") -> int:
    """A time window as a whole number of microseconds.

    Accepts ``"500ms"``, ``"30s"``, ``"30 s"``, ``"2m"``/``"2min"`` (minutes; months are
    not a window), ``"1h"``, ``"1d"``, a number of seconds, or a ``datetime.timedelta``.
    Anything else (``"30 seconds"``, ``"2mo"``, ``-5``) raises an error that lists the
    accepted spellings.

    Examples
    --------
    >>> parse_window("30s"), parse_window("2m"), parse_window(1.5)
    (30000000, 120000000, 1500000)
    >>> parse_window("30 seconds")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    InvalidArgumentError: window '30 seconds' is not a duration aidebt understands...
    """
    if isinstance(value, dt.timedelta):
        micros = value // dt.timedelta(microseconds=1)
    elif isinstance(value, bool):
        micros = -1
    elif isinstance(value, int | float) and math.isfinite(value):
        micros = round(value * 1_000_000)
    elif isinstance(value, str) and (m := _WINDOW.match(value)):
        micros = round(float(m.group(1)) * _UNIT_US[m.group(2)])
    else:
        raise InvalidArgumentError(
            f"{what} {value!r} is not a duration aidebt understands. Accepted spellings: "
            f"{WINDOW_SPELLINGS}."
        )
    if micros <= 0:
        raise InvalidArgumentError(
            f"{what} {value!r} must be a positive duration. Accepted spellings: {WINDOW_SPELLINGS}."
        )
    return int(micros)


def _say_window(micros: int) -> str:
    """'30 s', '2 min', '1.5 h' for sentences."""
    seconds = micros / 1e6
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1)):
        if seconds >= size and (seconds / size) * 10 == int((seconds / size) * 10):
            return f"{seconds / size:g} {unit}"
    return f"{seconds * 1000:g} ms"


@dataclass(frozen=True)
class Rule:
    """One behaviour rule: an event that says the answer served (1) or did not (0).

    ``within_us`` is the window after the answer in which the event must happen for the
    rule to fire (inclusive: an undo exactly 30 s after the answer is "within 30 s");
    ``None`` means at any time after the answer.
    """

    event: str
    label: int
    within_us: int | None = None

    def describe(self) -> str:
        when = f"within {_say_window(self.within_us)}" if self.within_us else "at any time"
        return f"{self.event} ({when})"


_RULE_KEYS = ("positive", "negative", "abandon")


@dataclass(frozen=True)
class Rules:
    """How events become a label. Build it with :meth:`Rules.parse` (or pass a mapping).

    Precedence, in this order (the first that applies decides the label):

    1. **pending** (null): a window of the rules is still open at the end of the log
       (``until``), so a later event could still change the label — the label arrives
       late, like a review;
    2. **negative** (0): any negative rule fires — an undo within 30 s overrides the
       accept that came before it; the signal is the earliest negative event;
    3. **positive** (1): any positive rule fires; the signal is the earliest one;
    4. **abandon** (0): nothing followed the answer within the abandon window — no
       event of the interaction and, with ``session``, no new answer in the same session;
    5. otherwise null: no rule decides (the user did something the rules do not name).
    """

    positive: tuple[Rule, ...] = ()
    negative: tuple[Rule, ...] = ()
    abandon_us: int | None = None
    where: str = field(default="rules", compare=False)

    @classmethod
    def parse(cls, rules: Rules | Mapping[str, Any], *, where: str = "rules") -> Rules:
        """Rules from a mapping such as ``{"positive": ["accept", "copy"], "negative":
        [("undo", "30s"), ("rephrase", "2m"), "regenerate"], "abandon": "10m"}``.

        Each item of ``positive`` / ``negative`` is an event name (fires at any time after
        the answer), a pair ``(event, window)`` or a table ``{event = "undo", within =
        "30s"}``; ``abandon`` is a window (or ``None``/``false``: no abandonment rule).

        Examples
        --------
        >>> r = Rules.parse({"positive": ["accept"], "negative": [("undo", "30s")]})
        >>> [rule.describe() for rule in r.negative]
        ['undo (within 30 s)']
        """
        if isinstance(rules, Rules):
            return rules
        if not isinstance(rules, Mapping):
            raise InvalidArgumentError(
                f"{where} must be a mapping such as {{'positive': ['accept'], 'negative': "
                f"[('undo', '30s')], 'abandon': '10m'}}, got {type(rules).__name__}."
            )
        for key in rules:
            if key not in _RULE_KEYS:
                raise InvalidArgumentError(
                    f"{where}: unknown key {key!r}. {did_you_mean(str(key), _RULE_KEYS)}"
                )
        positive = _parse_items(rules.get("positive"), 1, f"{where} positive")
        negative = _parse_items(rules.get("negative"), 0, f"{where} negative")
        abandon = rules.get("abandon")
        abandon_us = (
            None
            if abandon is None or abandon is False or abandon == ""
            else parse_window(abandon, what=f"{where} abandon window")
        )
        names = [r.event for r in (*positive, *negative)]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InvalidArgumentError(
                f"{where}: event(s) {', '.join(map(repr, twice))} appear more than once; an "
                "event can be in one rule only (positive or negative, with one window)."
            )
        if not names and abandon_us is None:
            raise InvalidArgumentError(
                f"{where} has no rule: give positive and/or negative events, or an abandon "
                "window, e.g. {'positive': ['accept'], 'negative': [('undo', '30s')]}."
            )
        return cls(tuple(positive), tuple(negative), abandon_us, where)

    @property
    def events(self) -> list[str]:
        """Every event name the rules use, in rule order."""
        return [r.event for r in (*self.negative, *self.positive)]

    @property
    def longest_window_us(self) -> int | None:
        """The longest finite window: how long after an answer its label can still change."""
        windows = [r.within_us for r in (*self.negative, *self.positive) if r.within_us]
        if self.abandon_us:
            windows.append(self.abandon_us)
        return max(windows) if windows else None

    def describe(self) -> list[str]:
        """The rules in plain English, one line each, in the order they take precedence."""
        lines = []
        if self.negative:
            lines.append(
                "Not served: "
                + ", ".join(r.describe() for r in self.negative)
                + " after the answer."
            )
        if self.positive:
            lines.append(
                "Served: "
                + ", ".join(r.describe() for r in self.positive)
                + ", unless a not-served event also happened."
            )
        if self.abandon_us:
            lines.append(
                f"Abandoned (not served): nothing happened within {_say_window(self.abandon_us)} "
                "of the answer."
            )
        return lines


def _parse_items(items: Any, label: int, where: str) -> list[Rule]:
    if items is None:
        return []
    if isinstance(items, str | Mapping) or (
        isinstance(items, tuple) and len(items) == 2 and isinstance(items[0], str)
    ):
        items = [items]
    if not isinstance(items, Sequence):
        raise InvalidArgumentError(
            f"{where} must be a list of events, got {items!r}: e.g. ['accept', 'copy'] or "
            "[('undo', '30s'), 'regenerate']."
        )
    out = []
    for item in items:
        if isinstance(item, str):
            event, window = item, None
        elif isinstance(item, Mapping):
            unknown = [k for k in item if k not in ("event", "within")]
            if unknown or "event" not in item:
                raise InvalidArgumentError(
                    f"{where}: {dict(item)!r} must look like {{event = 'undo', within = '30s'}}."
                )
            event, window = item["event"], item.get("within")
        elif isinstance(item, Sequence) and len(item) == 2:
            event, window = item
        else:
            raise InvalidArgumentError(
                f"{where}: {item!r} is not a rule. Write an event name ('accept'), a pair "
                "('undo', '30s') or a table {event = 'undo', within = '30s'}."
            )
        if not isinstance(event, str) or not event:
            raise InvalidArgumentError(f"{where}: the event of {item!r} must be a non-empty name.")
        within = (
            None if window is None else parse_window(window, what=f"{where} window of {event!r}")
        )
        out.append(Rule(event, label, within))
    return out


def rules_from_toml(mapping: Mapping[str, Any], *, where: str = "[feedback.rules]") -> Rules:
    """Rules from a parsed TOML table, e.g. ``[feedback.rules]`` in ``audit.toml``.

    .. code-block:: toml

        [feedback.rules]
        positive = ["accept", "copy"]
        negative = [["undo", "30s"], { event = "rephrase", within = "2m" }, "regenerate"]
        abandon = "10m"

    Errors name the table (``where``) and the bad value.

    Examples
    --------
    >>> import tomllib
    >>> doc = tomllib.loads('positive = ["accept"]\\nnegative = [["undo", "30s"]]\\nabandon = "10m"')
    >>> rules_from_toml(doc).abandon_us
    600000000
    """
    return Rules.parse(mapping, where=where)


DEFAULT_RULES = Rules.parse(
    {
        "positive": ["accept", "copy"],
        "negative": [("undo", "30s"), ("rephrase", "2m"), "regenerate"],
        "abandon": "10m",
    }
)
"""The rules of the issue's example (and of the demo event log)."""


# --------------------------------------------------------------------------------------
# implicit_labels: the event log -> one label per interaction, in the log's engine
# --------------------------------------------------------------------------------------
def _require_datetime(frame: nw.LazyFrame, name: str, where: str) -> Any:
    dtype = frames.columns(frame)[name]
    if not (isinstance(dtype, nwd.Datetime) or dtype == nw.Datetime):
        raise ColumnTypeError(
            f"Column {name!r} ({where}) has type {dtype} with values such as "
            f"{frames.sample_values(frame, name)}; event windows need timestamps (a Datetime "
            f"column). Parse it first, e.g. pl.col({name!r}).str.to_datetime()."
        )
    return dtype


def implicit_labels(
    events: Any,
    *,
    interaction: str,
    time: str,
    event: str,
    rules: Rules | Mapping[str, Any] = DEFAULT_RULES,
    session: str | None = None,
    responses: Any = None,
    until: Any = None,
    sink: str | PathLike[str] | None = None,
    partitions: int | None = None,
) -> Any:
    """One implicit label per interaction, from what the user did after the answer.

    Parameters
    ----------
    events
        The event log, one row per event: any input :func:`aidebt.frames.to_lazy` takes
        (polars eager or lazy, DuckDB, Spark, pandas, pyarrow, a parquet/CSV path). Row
        order does not matter.
    interaction
        The column naming the interaction (the answer) each event follows.
    time
        A Datetime column (naive or with a time zone): when the event happened. Windows
        are measured between instants, so sessions crossing midnight, a daylight-saving
        change or a zone boundary need nothing special.
    event
        The column with the event's name (``"accept"``, ``"undo"``...).
    rules
        A :class:`Rules` or a mapping (see :meth:`Rules.parse`); the precedence of the
        rules (negative over positive over abandonment, pending at the end of the log) is
        documented on :class:`Rules`. A rule that names an event the log never contains
        gets a warning listing the events that do occur.
    session
        Optional column grouping interactions into sessions: a new answer in the same
        session within the abandon window means the user did not abandon.
    responses
        Where each interaction's answer is, from which windows are measured:

        - ``None`` (default): the earliest event of each interaction is its answer;
        - an event name (``"answer"``): each interaction's first event of that name; the
          interactions without one are left out, with their events;
        - a table (any input, same engine as ``events``) with one row per answered
          interaction: the ``interaction`` and ``time`` columns (and ``session``). Every
          interaction in it gets a row, with or without events (no event at all within
          the abandon window is abandonment); events of interactions not in it are
          ignored.

        Events before their answer are ignored.
    until
        The instant up to which the log is complete (default: its latest event or
        answer, read when the function is called). Interactions whose windows are not
        closed by then are ``pending``.
    sink
        A directory to write the labels to, as parquet files, instead of returning a
        query: the way to label a log larger than memory. With polars, the labels are
        computed in parts (``partitions``), one after another, each over the interactions
        (or, with ``session``, the sessions) of one hash bucket of the key, so memory
        follows the size of a part; other engines write in one go (DuckDB spills to disk
        on its own). The directory must not hold parquet files already. The result is
        then a polars LazyFrame over the files written.
    partitions
        With ``sink`` and polars: the number of parts (default: one per 5 million events).
        Each part reads the log once more.
    Returns
    -------
    frame
        One row per interaction, in the input's engine (lazy in, lazy out; a path gives
        a polars LazyFrame; an eager frame, polars, pandas or pyarrow, an eager polars
        DataFrame):
        the ``interaction`` column, ``implicit`` (Int8: 1 served, 0 not, null undecided),
        ``signal`` (the event that decided: an event name, ``"abandon"``, ``"pending"``,
        or null) and ``latency`` (seconds from the answer to the deciding event; the
        abandon window for ``"abandon"``). With ``sink``: a polars LazyFrame over the
        files written.

    Notes
    -----
    One small query reads the event names, their counts and the log's end (for the rule
    check and ``until``). The labels are then two group-bys (the answers, then the first
    firing of the negative and of the positive rules per interaction over the events
    joined to their answer), a join, and one window function over the answers of each
    session (the next answer). polars runs it on its streaming engine from parquet, so
    memory follows the number of interactions (in a part, with ``sink``), not the number
    of events. A single polars query cannot be made to run its parts one after another
    (the streaming engine runs the branches of a union together), hence ``sink``.

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> t0 = dt.datetime(2026, 11, 3, 9, 0)
    >>> s = lambda seconds: t0 + dt.timedelta(seconds=seconds)
    >>> log = pl.DataFrame({
    ...     "id": [1, 1, 1, 2, 2, 3, 4],
    ...     "ts": [s(0), s(5), s(20), s(0), s(8), s(60), s(3600)],
    ...     "event": ["answer", "accept", "undo", "answer", "accept", "answer", "answer"],
    ... })
    >>> rules = {"positive": ["accept"], "negative": [("undo", "30s")], "abandon": "10m"}
    >>> labels = implicit_labels(log, interaction="id", time="ts", event="event",
    ...                          rules=rules, responses="answer")
    >>> labels.sort("id").rows()  # 4 is the log's last event: its windows are still open
    [(1, 0, 'undo', 20.0), (2, 1, 'accept', 8.0), (3, 0, 'abandon', 600.0), (4, None, 'pending', None)]
    """
    parsed = Rules.parse(rules)
    eager = _is_eager(events)
    frame = _lazy_engine(frames.to_lazy(events))
    frames.require_columns(frame, [interaction], role="interaction")
    frames.require_columns(frame, [time], role="time")
    frames.require_columns(frame, [event], role="event")
    frames.require_columns(frame, [session], role="session")
    schema = frames.columns(frame)
    time_type = _require_datetime(frame, time, "time")
    if not (schema[event] == nw.String or schema[event] in (nw.Categorical, nw.Enum)):
        raise ColumnTypeError(
            f"Column {event!r} (event) has type {schema[event]} with values such as "
            f"{frames.sample_values(frame, event)}; event names must be text. Cast the "
            "column to strings (or map its codes to names) first."
        )
    anchor_name = responses if isinstance(responses, str) else None
    table = responses if not isinstance(responses, str) and responses is not None else None

    # One small query: which events occur, how many, and the log's last instant.
    profile = aggregate.collect(
        frame.group_by(event).agg(nw.len().alias("n"), nw.col(time).max().alias("last"))
    )
    observed = sorted(str(v) for v in profile.get_column(event).to_list() if v is not None)
    if anchor_name is not None and anchor_name not in observed:
        raise InvalidValueError(
            f"responses={anchor_name!r}: no event of that name in column {event!r}, so no "
            f"interaction has an answer. {did_you_mean(anchor_name, observed)}"
        )
    missing = [name for name in parsed.events if name not in observed]
    if missing:
        warnings.warn(
            f"{parsed.where} name event(s) that never occur in column {event!r}: "
            f"{', '.join(map(repr, missing))}, so those rules never fire. Events that do "
            f"occur: {', '.join(map(repr, observed[:30]))}"
            f"{' ...' if len(observed) > 30 else ''}. Check the spelling of the rules.",
            UserWarning,
            stacklevel=2,
        )
    answers_given = None
    if table is not None:
        answers_given = _answers_table(table, frame, interaction, time, session, time_type)
    if until is None:
        ends = [profile.get_column("last").max()]
        if answers_given is not None:
            ends.append(aggregate.collect(answers_given.select(nw.col("_t0").max())).item())
        ends = [e for e in ends if e is not None]
        end = max(ends) if ends else None
    else:
        end = frames.time_bound(until, "until", time_type)

    polars = frame.implementation is nw.Implementation.POLARS
    if partitions is not None and (
        not isinstance(partitions, int) or isinstance(partitions, bool) or partitions < 1
    ):
        raise InvalidArgumentError(
            f"partitions={partitions!r} must be a whole number >= 1 (or None: automatic)."
        )
    if partitions is not None and sink is None:
        raise InvalidArgumentError(
            "partitions= splits the work written to sink=: pass sink='a/directory' too."
        )
    parts = 1
    if sink is not None and polars:
        total = int(profile.get_column("n").sum() or 0)
        parts = partitions or max(1, -(-total // _EVENTS_PER_PART))
        key = session or interaction
        given_key = "_s" if session else interaction  # the answers' session is "_s"
        if answers_given is not None and (
            frames.columns(answers_given).get(given_key) != frames.columns(frame)[key]
        ):
            parts = 1  # the key hashes alike only with the same type in both tables

    def query(j: int) -> nw.LazyFrame:
        part = frame if parts == 1 else _bucket(frame, session or interaction, parts, j)
        given = answers_given
        if given is not None and parts > 1:
            given = _bucket(given, "_s" if session else interaction, parts, j)
        return _label_query(
            part, given, parsed, interaction, time, event, session, anchor_name, end
        )

    if sink is not None:
        return _write_parts(query, parts, sink)
    result = query(0)
    if eager:
        return result.collect().to_native()
    return result.to_native()


def _write_parts(query: Any, parts: int, sink: str | PathLike[str]) -> pl.LazyFrame:
    """Write each part's labels to ``sink/part-NNNNN.parquet``, one after another."""
    from pathlib import Path

    folder = Path(sink)
    if folder.exists() and not folder.is_dir():
        raise InvalidArgumentError(f"sink={str(sink)!r} is a file: give a directory.")
    if folder.is_dir() and any(folder.glob("*.parquet")):
        raise InvalidArgumentError(
            f"sink={str(sink)!r} already holds parquet files: give an empty or new directory "
            "(the labels are written there in parts)."
        )
    folder.mkdir(parents=True, exist_ok=True)
    for j in range(parts):
        query(j).sink_parquet(str(folder / f"part-{j:05d}.parquet"))
    return pl.scan_parquet(str(folder / "*.parquet"))


_EVENTS_PER_PART = 5_000_000


def _bucket(frame: nw.LazyFrame, key: str, parts: int, j: int) -> nw.LazyFrame:
    """The rows whose ``key`` hashes to bucket ``j`` of ``parts`` (polars frames only)."""
    native = frame.to_native()
    return nw.from_native(native.filter(pl.col(key).hash(seed=0) % parts == j))


def _label_query(
    frame: nw.LazyFrame,
    answers_given: nw.LazyFrame | None,
    parsed: Rules,
    interaction: str,
    time: str,
    event: str,
    session: str | None,
    anchor_name: str | None,
    end: dt.datetime | None,
) -> nw.LazyFrame:
    """The label query of :func:`implicit_labels` over one part of the log."""
    t = nw.col(time)
    keep_session = [nw.col(session).min().alias("_s")] if session else []
    if answers_given is not None:
        answers = answers_given
    elif anchor_name is not None:
        answers = (
            frame.filter(nw.col(event) == anchor_name)
            .group_by(interaction)
            .agg(t.min().alias("_t0"), *keep_session)
        )
    else:
        answers = frame.group_by(interaction).agg(t.min().alias("_t0"), *keep_session)
    answers = answers.filter(~nw.col(interaction).is_null() & ~nw.col("_t0").is_null())

    # The earliest firing of the negative rules and of the positive rules per interaction,
    # in one group-by over the events joined to their answer. Deltas are whole microseconds
    # between instants; each is coded as ``delta * k + rule index`` so that one minimum per
    # polarity gives both the earliest event and which rule it was (ties: rule order), and
    # the group-by keeps four numbers per interaction whatever the number of rules.
    delta = (nw.col("_t") - nw.col("_t0")).dt.total_microseconds()
    ev = nw.col("_e")
    coded: dict[str, nw.Expr] = {}
    for name, group in (("_neg", parsed.negative), ("_pos", parsed.positive)):
        if not group:
            continue
        code = None
        for k, rule in enumerate(group):
            cond = (ev == rule.event) & (delta >= 0)
            if rule.within_us is not None:
                cond = cond & (delta <= rule.within_us)
            code = (nw.when(cond) if code is None else code.when(cond)).then(delta * len(group) + k)
        coded[name] = code
    if anchor_name is not None:
        further = (delta > 0) | ((delta == 0) & (ev != anchor_name))
    else:
        further = delta > 0
    # With answers found in the log itself, every answered interaction has an event (its
    # answer): the group-by carries the answer's time and session, and no second join is
    # needed. A table of answers may hold interactions without events: joined back below.
    carry = ["_t0", *(["_s"] if session else [])] if answers_given is None else []
    joined = frame.select(
        nw.col(interaction), t.alias("_t"), nw.col(event).cast(nw.String).alias("_e")
    ).join(answers.select(interaction, *(carry or ["_t0"])), on=interaction, how="inner")
    per_interaction = (
        joined.select(
            nw.col(interaction),
            *(expr.alias(name) for name, expr in coded.items()),
            nw.when(further).then(delta).alias("_f"),
            *carry,
        )
        .group_by(interaction)
        .agg(
            *(nw.col(name).min() for name in coded),
            nw.col("_f").min(),
            *(nw.col(c).min() for c in carry),
        )
    )
    if answers_given is None:
        answers = per_interaction
    if session:
        # The next answer in the same session: the one window function (over the answers,
        # one row per interaction, not over the events). Answers given at the same instant
        # in a session are each other's next answer (gap 0), whatever order ties sort in.
        t0 = nw.col("_t0")
        after = t0.shift(-1).over("_s", order_by="_t0")
        before = t0.shift(1).over("_s", order_by="_t0")
        gap = (after - t0).dt.total_microseconds()
        answers = answers.with_columns(
            nw.when(nw.col("_s").is_null())
            .then(None)
            .when((after == t0) | (before == t0))
            .then(nw.lit(0, nw.Int64))
            .otherwise(gap)
            .alias("_next")
        )
    out = (
        answers
        if answers_given is None
        else answers.join(per_interaction, on=interaction, how="left")
    )
    end_expr = nw.lit(end) if end is not None else nw.col("_t0")
    observed_us = (end_expr - nw.col("_t0")).dt.total_microseconds()
    longest = parsed.longest_window_us
    next_event = nw.min_horizontal("_f", "_next") if session else nw.col("_f")

    implicit = nw.when(nw.lit(False)).then(nw.lit(None, nw.Int8))
    signal = nw.when(nw.lit(False)).then(nw.lit(None, nw.String))
    latency = nw.when(nw.lit(False)).then(nw.lit(None, nw.Float64))
    if longest is not None:
        pending = observed_us < longest
        implicit = implicit.when(pending).then(nw.lit(None, nw.Int8))
        signal = signal.when(pending).then(nw.lit("pending"))
        latency = latency.when(pending).then(nw.lit(None, nw.Float64))
    for name, group, value in (("_neg", parsed.negative, 0), ("_pos", parsed.positive, 1)):
        if not group:
            continue
        code = nw.col(name)
        implicit = implicit.when(~code.is_null()).then(nw.lit(value, nw.Int8))
        latency = latency.when(~code.is_null()).then((code // len(group)).cast(nw.Float64) / 1e6)
        for k, rule in enumerate(group):
            signal = signal.when(code % len(group) == k).then(nw.lit(rule.event))
    if parsed.abandon_us is not None:
        abandoned = next_event.is_null() | (next_event > parsed.abandon_us)
        implicit = implicit.when(abandoned).then(nw.lit(0, nw.Int8))
        signal = signal.when(abandoned).then(nw.lit("abandon"))
        latency = latency.when(abandoned).then(nw.lit(parsed.abandon_us / 1e6))
    return out.select(
        nw.col(interaction),
        implicit.otherwise(nw.lit(None, nw.Int8)).alias("implicit"),
        signal.otherwise(nw.lit(None, nw.String)).alias("signal"),
        latency.otherwise(nw.lit(None, nw.Float64)).cast(nw.Float64).alias("latency"),
    )


_IN_MEMORY = (
    nw.Implementation.PANDAS,
    nw.Implementation.MODIN,
    nw.Implementation.CUDF,
    nw.Implementation.PYARROW,
)


def _lazy_engine(frame: nw.LazyFrame) -> nw.LazyFrame:
    """pandas and pyarrow rows are already in memory: label them with polars.

    Their narwhals backends lack typed null literals and ordered windows; polars is the
    package's own engine, so the result comes back as polars.
    """
    if frame.implementation in _IN_MEMORY:
        return nw.from_native(frame.collect(backend="polars").to_native().lazy())
    return frame


def _is_eager(data: Any) -> bool:
    if isinstance(data, str | PathLike):
        return False
    if isinstance(data, nw.DataFrame):
        return True
    try:
        return isinstance(nw.from_native(data), nw.DataFrame)
    except TypeError:
        return False


def _answers_table(
    responses: Any,
    events: nw.LazyFrame,
    interaction: str,
    time: str,
    session: str | None,
    time_type: Any,
) -> nw.LazyFrame:
    """The answers given as a table: one row per interaction, its answer time (and session)."""
    table = _lazy_engine(frames.to_lazy(responses))
    frames.require_columns(table, [interaction], role="interaction, in responses")
    frames.require_columns(table, [time], role="time, in responses")
    frames.require_columns(table, [session], role="session, in responses")
    if table.implementation is not events.implementation:
        raise InvalidArgumentError(
            f"responses is a {table.implementation} table but events is "
            f"{events.implementation}: give both in the same engine (e.g. both polars, or "
            "both DuckDB relations of one connection)."
        )
    answer_type = _require_datetime(table, time, "time, in responses")
    zone, answer_zone = (
        getattr(time_type, "time_zone", None),
        getattr(answer_type, "time_zone", None),
    )
    t = nw.col(time)
    if bool(zone) != bool(answer_zone):
        raise ColumnTypeError(
            f"Column {time!r} has a time zone in one table and not in the other (events: "
            f"{time_type}, responses: {answer_type}); instants and wall-clock times cannot be "
            "compared. Give both the same kind of timestamps."
        )
    if zone and zone != answer_zone:
        t = t.dt.convert_time_zone(zone)
    elif answer_type != time_type:
        t = t.cast(time_type)
    keep_session = [nw.col(session).min().alias("_s")] if session else []
    return table.group_by(interaction).agg(t.min().alias("_t0"), *keep_session)


# --------------------------------------------------------------------------------------
# Statistics on the small table: post-stratification (IPW) and Cohen's kappa
# --------------------------------------------------------------------------------------
def post_stratify(a: Any, b: Any, u: Any, levels: Sequence[Any]) -> dict[str, np.ndarray]:
    """Inverse-probability-weighted rate of a rating, with discrete covariates, per stratum.

    Each cell ``c`` (the finest combination of the covariates) has ``a_c`` positive
    ratings, ``b_c`` negative ones and ``u_c`` unrated interactions. With the response
    propensity estimated in each cell, ``pi_c = r_c / N_c`` (``r_c = a_c + b_c``), the
    inverse-probability-weighted (Hajek) mean of the ratings is the post-stratified mean

        ``T = sum_c (N_c / N) * a_c / r_c``

    (the ratings of each cell stand for every interaction of the cell). A cell nobody
    rated borrows the rate of the nearest coarser cell that has ratings (``levels`` go
    from the stratum, level 0, to the finest cell); a stratum without any rating has no
    estimate (NaN).

    The standard error is the delta method on the multinomial counts of every (cell,
    rated positive / rated negative / unrated), so it accounts for the estimated
    propensities and the estimated cell shares. Without borrowing it is the classical
    post-stratification variance
    ``sum_c W_c^2 p_c (1 - p_c) / r_c + sum_c W_c (p_c - T)^2 / N``
    (Holt & Smith 1979, "Post stratification", JRSS A 142:33-46; Little 1993, "Post-
    stratification: a modeler's perspective", JASA 88:1001-1012); it equals the
    sandwich variance of IPW with propensities estimated by a saturated logistic model
    (Lunceford & Davidian 2004, Stat Med 23:2937-2960), which is smaller than with the
    true propensities (Hirano, Imbens & Ridder 2003, Econometrica 71:1161-1189).

    Assumption: within a cell, whether a user rates does not depend on how they would
    rate (missing at random given the covariates). If it does, no re-weighting on these
    covariates is exact.

    Parameters
    ----------
    a, b, u
        Per finest cell: positive ratings, negative ratings, unrated (weighted counts).
    levels
        Integer codes per cell, coarse to fine: ``levels[0]`` the stratum (the estimate's
        group), ``levels[-1]`` the finest cell; each level nested in the previous one.

    Returns
    -------
    dict of numpy arrays, one element per stratum code (``0 .. max(levels[0])``):
        ``n`` interactions, ``rated``, ``naive`` (positive share of the ratings),
        ``corrected`` and ``corrected_se``, ``gap`` (``naive - corrected``) and
        ``gap_se``, ``borrowed`` (interactions whose cell had no rating).

    Examples
    --------
    Two cells: 10 of 20 raters positive among 100 interactions, 40 of 50 among 100.

    >>> r = post_stratify([10, 40], [10, 10], [80, 50], [[0, 0], [0, 1]])
    >>> round(float(r["naive"][0]), 3), round(float(r["corrected"][0]), 3)
    (0.714, 0.65)
    """
    a, b, u = (np.asarray(x, dtype=float) for x in (a, b, u))
    codes = [np.asarray(c, dtype=np.int64) for c in levels]
    r = a + b
    n_cell = r + u
    strata = int(codes[0].max()) + 1 if len(codes[0]) else 0
    depth = len(codes) - 1

    def per(level: int, values: np.ndarray) -> np.ndarray:
        return np.bincount(codes[level], weights=values, minlength=int(codes[level].max()) + 1)

    rated = [per(j, r) for j in range(depth + 1)]
    positive = [per(j, a) for j in range(depth + 1)]
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = [positive[j] / rated[j] for j in range(depth + 1)]
    # The level whose rate each cell uses: its own if rated, else the nearest rated parent.
    source = np.full(len(a), -1)
    for j in range(depth, -1, -1):
        free = (source < 0) & (rated[j][codes[j]] > 0)
        source[free] = j
    usable = source >= 0
    q = np.full(len(a), np.nan)
    for j in range(depth + 1):
        at = source == j
        q[at] = rate[j][codes[j][at]]
    s0 = codes[0]
    big_n = np.bincount(s0, weights=n_cell, minlength=strata)
    with np.errstate(divide="ignore", invalid="ignore"):
        weighted = np.where(usable, n_cell * np.nan_to_num(q), 0.0)
        corrected = np.bincount(s0, weights=weighted, minlength=strata) / big_n
        corrected = np.where(rated[0][:strata] > 0, corrected, np.nan)
        naive = positive[0][:strata] / rated[0][:strata]
        # Mass each source carries (the interactions whose cells use its rate).
        s_a = np.zeros(len(a))
        s_b = np.zeros(len(a))
        for j in range(depth + 1):
            mass = np.bincount(
                codes[j], weights=np.where(source == j, n_cell, 0.0), minlength=len(rated[j])
            )
            used = (mass > 0) & (rated[j] > 0)
            factor = np.where(used, mass / np.where(rated[j] > 0, rated[j], 1), 0.0)
            s_a += (factor * (1 - np.nan_to_num(rate[j])))[codes[j]]
            s_b += (factor * np.nan_to_num(rate[j]))[codes[j]]
        t_cell = corrected[s0]
        n_of = big_n[s0]
        base = np.nan_to_num(q) - t_cell
        g_a = (base + s_a) / n_of
        g_b = (base - s_b) / n_of
        g_u = base / n_of
        var_t = _multinomial_variance(s0, strata, big_n, (a, g_a), (b, g_b), (u, g_u))
        naive_cell = naive[s0]
        h_a = (1 - naive_cell) / rated[0][s0]
        h_b = -naive_cell / rated[0][s0]
        var_gap = _multinomial_variance(
            s0, strata, big_n, (a, h_a - g_a), (b, h_b - g_b), (u, -g_u)
        )
    borrowed = np.bincount(s0, weights=np.where(source == depth, 0.0, n_cell), minlength=strata)
    return {
        "n": big_n,
        "rated": rated[0][:strata],
        "naive": naive,
        "corrected": corrected,
        "corrected_se": np.sqrt(np.maximum(var_t, 0)),
        "gap": naive - corrected,
        "gap_se": np.sqrt(np.maximum(var_gap, 0)),
        "borrowed": borrowed,
    }


def _multinomial_variance(
    stratum: np.ndarray, strata: int, total: np.ndarray, *parts: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """``g' Sigma g`` for multinomial counts ``n_k`` with ``Sigma = N (diag(p) - p p')``.

    Written as ``sum_k n_k g_k^2 - (sum_k n_k g_k)^2 / N`` per stratum, without the matrix.
    """
    first = np.zeros(strata)
    second = np.zeros(strata)
    for counts, grad in parts:
        g = np.where(counts > 0, grad, 0.0)
        first += np.bincount(stratum, weights=counts * g, minlength=strata)
        second += np.bincount(stratum, weights=counts * g**2, minlength=strata)
    with np.errstate(divide="ignore", invalid="ignore"):
        return second - first**2 / total


def cohens_kappa(tp: Any, fp: Any, fn: Any, tn: Any) -> dict[str, np.ndarray]:
    """Cohen's kappa of two binary labels and its large-sample standard error, vectorized.

    The cells are ``tp`` (both 1), ``fp`` (first 1, second 0), ``fn`` (first 0, second
    1), ``tn`` (both 0). The standard error is Fleiss, Cohen & Everitt's (1969, Psychol.
    Bull. 72:323-327) asymptotic one, the ``std_kappa`` of statsmodels' ``cohens_kappa``
    (equal to 1e-12, tested); ``se0`` is the one under kappa = 0 (``std_kappa0``).
    Assumption: the rated items are independent. NaN where undefined (no item, or both
    labels constant and equal).

    Examples
    --------
    >>> k = cohens_kappa([40], [10], [5], [45])
    >>> round(float(k["kappa"][0]), 4), round(float(k["se"][0]), 4)
    (0.7, 0.0711)
    """
    tp, fp, fn, tn = (np.asarray(x, dtype=float) for x in (tp, fp, fn, tn))
    n = tp + fp + fn + tn
    with np.errstate(divide="ignore", invalid="ignore"):
        p11, p10, p01, p00 = tp / n, fp / n, fn / n, tn / n
        r1, r0 = p11 + p10, p01 + p00  # first label's margins
        c1, c0 = p11 + p01, p10 + p00  # second label's margins
        po = p11 + p00
        pe = r1 * c1 + r0 * c0
        kappa = (po - pe) / (1 - pe)
        term_a = p11 * (1 - (r1 + c1) * (1 - kappa)) ** 2 + p00 * (1 - (r0 + c0) * (1 - kappa)) ** 2
        term_b = (1 - kappa) ** 2 * (p10 * (c1 + r0) ** 2 + p01 * (c0 + r1) ** 2)
        term_c = (kappa - pe * (1 - kappa)) ** 2
        var = (term_a + term_b - term_c) / (1 - pe) ** 2 / n
        var0 = (pe + pe**2 - (c1 * r1 * (c1 + r1) + c0 * r0 * (c0 + r0))) / ((1 - pe) ** 2 * n)
    return {
        "kappa": kappa,
        "se": np.sqrt(np.maximum(var, 0)),
        "se0": np.sqrt(np.maximum(var0, 0)),
        "agreement": po,
    }


# --------------------------------------------------------------------------------------
# feedback: one pass to a small cell table, then inference on it
# --------------------------------------------------------------------------------------
ALL = "(all)"
_LABELS = ("_imp", "_exp", "_gold")


def _signed(d: float | None, digits: int | None = 1) -> str:
    """A difference in points, signed, the number only: '+2.7', '-28.5' (missing: '–')."""
    return prose.DASH if prose.missing(d) else prose.difference(d, digits)


def _with_interval(value: float | None, low: float | None, high: float | None) -> str:
    """'0.65 [0.60, 0.70]': two decimals, more only where the interval's ends need them
    (the value then gets as many)."""
    span = prose.interval(low, high, prose.number, 2, brackets=True)
    digits = max(2, len(span.split(",")[0].partition(".")[2]))
    return f"{prose.number(value, digits)} {span}"


_ROLE_WORDS = {"implicit": "implicit label", "explicit": "rating", "gold": "reviewed outcome"}
_COMPARE = re.compile(r"^\s*(>=|<=|==|=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")
_METRIC_ORDER = (
    "implicit_rate",
    "response_rate",
    "explicit_rate",
    "explicit_corrected",
    "gap",
    "reviewed_rate",
)
METRIC_MEANINGS = {
    "implicit_rate": "share of answers that served the user, judging by what they did next "
    "(among answers with a deciding signal)",
    "response_rate": "share of answers the user rated",
    "explicit_rate": "share of rated answers rated positive (the raw ratings)",
    "explicit_corrected": "share that would be rated positive if every user rated (ratings "
    "re-weighted for who rates)",
    "gap": "raw minus corrected: how far the raw ratings are off",
    "reviewed_rate": "share of answers with a reviewed outcome",
}
"""Plain-English meaning of each metric of :attr:`Feedback.table`."""


def _binary(frame: nw.LazyFrame, name: str, role: str) -> nw.Expr:
    """A label column as Int8: 1, 0, null (no label), and 2 for any other value."""
    dtype = frames.columns(frame)[name]
    col = nw.col(name)
    if dtype == nw.Boolean:
        return col.cast(nw.Int8)
    if not frames.is_numeric(dtype):
        rated = (
            " Or say which ratings count as positive with positive= (a value or a list)."
            if role == "explicit"
            else ""
        )
        raise ColumnTypeError(
            f"Column {name!r} ({role}) holds {dtype} values such as "
            f"{frames.sample_values(frame, name)}; it must be 0/1 or booleans (null: no "
            f"label). Map it to 0/1 first, e.g. {aggregate.flag_fix(frame, name)}.{rated}"
        )
    col = aggregate.present(frame, name)
    return (
        nw.when(col == 1)
        .then(nw.lit(1, nw.Int8))
        .when(col == 0)
        .then(nw.lit(0, nw.Int8))
        .when(~col.is_null())
        .then(nw.lit(2, nw.Int8))
    )


@dataclass(frozen=True)
class _Rating:
    """How a rating column becomes 0/1, and which ratings are outside the declared scale."""

    value: nw.Expr
    bad: nw.Expr
    positive: str
    scale: str


def _rating(frame: nw.LazyFrame, name: str, positive: Any, scale: Any) -> _Rating:
    dtype = frames.columns(frame)[name]
    numeric = frames.is_numeric(dtype) and dtype != nw.Boolean
    col = aggregate.present(frame, name)
    rated = ~col.is_null()
    found = lambda: frames.sample_values(frame, name)  # noqa: E731 - only on error paths

    if positive is None:
        if scale is not None:
            raise InvalidArgumentError(
                f"scale={scale!r} needs positive= to say which ratings count as positive, "
                "e.g. positive='>=4' for 1-5 stars or positive='thumbs_up'."
            )
        return _Rating(_binary(frame, name, "explicit"), nw.lit(0, nw.Int8), "1", "0/1")
    match = _COMPARE.match(positive) if isinstance(positive, str) else None
    if match:
        if not numeric:
            raise ColumnTypeError(
                f"positive={positive!r} compares numbers, but column {name!r} (explicit) holds "
                f"{dtype} values such as {found()}. Name the positive value(s) instead, e.g. "
                f"positive={found().split(', ')[0]}."
            )
        op, threshold = match.group(1), float(match.group(2))
        compare = {
            ">=": col >= threshold,
            "<=": col <= threshold,
            ">": col > threshold,
            "<": col < threshold,
            "==": col == threshold,
            "=": col == threshold,
        }[op]
        value = nw.when(rated).then(compare.cast(nw.Int8))
        said = f"{op}{match.group(2)}"
    else:
        values = list(positive) if isinstance(positive, list | tuple | set) else [positive]
        texts = [v for v in values if isinstance(v, str)]
        if numeric and texts or (not numeric and len(texts) < len(values)):
            raise ColumnTypeError(
                f"positive={positive!r} does not match the type of column {name!r} (explicit), "
                f"{dtype}, with values such as {found()}. Use a comparison such as '>=4' for "
                "numeric ratings, or the positive value(s) as they appear in the column. "
                "Accepted comparisons: '>=4', '>3', '<=2', '<2', '==5'."
            )
        value = nw.when(rated).then(col.is_in(values).cast(nw.Int8))
        said = ", ".join(map(str, values))
    if scale is None:
        return _Rating(value, nw.lit(0, nw.Int8), said, "")
    pair = (
        isinstance(scale, list | tuple)
        and len(scale) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in scale)
    )
    if pair:
        if not numeric:
            raise ColumnTypeError(
                f"scale={scale!r} is a numeric range, but column {name!r} holds {dtype} values "
                f"such as {found()}: give the list of allowed values instead."
            )
        lo, hi = float(scale[0]), float(scale[1])
        if lo > hi:
            raise InvalidArgumentError(f"scale={scale!r}: the minimum comes first, e.g. (1, 5).")
        bad = rated & ((col < lo) | (col > hi))
        text = f"{scale[0]:g} to {scale[1]:g}"
    elif isinstance(scale, list | tuple | set) and scale:
        allowed = list(scale)
        if not match:
            outside = [
                v
                for v in (positive if isinstance(positive, list | tuple | set) else [positive])
                if v not in allowed
            ]
            if outside:
                raise InvalidArgumentError(
                    f"positive value(s) {', '.join(map(repr, outside))} are not on the declared "
                    f"scale {allowed!r}."
                )
        bad = rated & ~col.is_in(allowed)
        text = ", ".join(map(str, allowed))
    else:
        raise InvalidArgumentError(
            f"scale={scale!r} is not a scale: give (min, max) for numeric ratings, e.g. (1, 5), "
            "or the list of allowed values, e.g. ['thumbs_up', 'thumbs_down']."
        )
    return _Rating(
        value, nw.when(bad).then(nw.lit(1, nw.Int8)).otherwise(nw.lit(0, nw.Int8)), said, text
    )


def _rows(count: int) -> str:
    return f"{prose.count(count, 'row')} {'holds' if count == 1 else 'hold'}"


def _raise_on_bad_values(
    frame: nw.LazyFrame,
    cells: pl.DataFrame,
    roles: Mapping[str, str | None],
    rating: _Rating | None,
) -> None:
    """Errors for labels that are not 0/1 and ratings outside the scale (small queries)."""
    for key, role in (("_imp", "implicit"), ("_gold", "gold"), ("_exp", "explicit")):
        name = roles[role]
        if name is None or key not in cells.columns:
            continue
        count = cells.filter(pl.col(key) == 2).get_column("rows").sum()
        if count:
            bad = frame.filter(_binary(frame, name, role) == 2)
            fix = (
                " Pass positive= to say which ratings count as positive (e.g. '>=4' or "
                "'thumbs_up')."
                if role == "explicit"
                else " Map the column to 0/1 first."
            )
            raise InvalidValueError(
                f"Column {name!r} ({role}) must hold 0/1 labels (null: none), but "
                f"{_rows(count)} other values, such as {frames.sample_values(bad, name)}.{fix}"
            )
    if rating is not None and "_bad" in cells.columns:
        count = cells.filter(pl.col("_bad") == 1).get_column("rows").sum()
        if count:
            name = roles["explicit"]
            bad = frame.filter(rating.bad == 1)
            raise InvalidValueError(
                f"Column {name!r} (explicit) holds {count:,} ratings outside the declared scale "
                f"({rating.scale}): values such as {frames.sample_values(bad, name)}. Fix or drop "
                "those rows, or declare the scale the ratings use (scale=...)."
            )


# The columns of the results beside the ``by`` columns: ``table``, ``selection`` and the
# working cells.
_TAKEN = {
    *("period", "metric", "value", "se", "ci_low", "ci_high", "n", "interactions", "note"),
    *("raters", "raters_rate", "non_raters", "non_raters_rate", "diff", "p_value"),
    *("rows", "a", "b", "u"),
}


def feedback(
    data: Any,
    *,
    implicit: str | None = None,
    explicit: str | None = None,
    gold: str | None = None,
    by: str | Sequence[str] | None = None,
    time: str | None = None,
    every: str | None = None,
    weight: str | None = None,
    positive: Any = None,
    scale: Any = None,
    signal: str | None = None,
    adjust_for: str | Sequence[str] | None = None,
    confidence: float = 0.95,
) -> Feedback:
    """How many answers were rated, how raters differ, and what everyone would have said.

    Parameters
    ----------
    data
        One row per interaction (any input :func:`aidebt.frames.to_lazy` takes): typically
        the log joined with :func:`implicit_labels` and the ratings.
    implicit
        The implicit label: 1 served, 0 not, null undecided (0/1 or booleans).
    explicit
        The rating when the user gave one, null otherwise: 0/1 or booleans, or any
        values with ``positive``.
    gold
        A reviewed outcome (0/1, null where not reviewed), to measure how well the
        implicit label and the ratings agree with it.
    by
        Segment column(s): every figure per segment, plus the overall rows (``(all)``).
    time, every
        Cut the figures into calendar periods of ``every`` (``"1w"``, ``"1mo"``,
        ``"1q"``...) of the Date/Datetime column ``time``; ``time`` alone means monthly.
    weight
        Frequency weights (counts >= 0), for pre-aggregated rows.
    positive
        Which ratings count as positive: a comparison (``">=4"``, ``">3"``, ``"==5"``) for
        numeric ratings, or a value or list of values (``"thumbs_up"``). ``None``: the
        ratings are already 0/1.
    scale
        The declared rating scale, checked on every rating: ``(min, max)`` for numeric
        ratings, or the list of allowed values. A rating outside it is an error.
    signal
        The column that says which rule decided the implicit label (``signal`` from
        :func:`implicit_labels`): the correction then re-weights within each signal, which
        matters when, say, an undo makes a rating 4 times likelier than an abandonment.
    adjust_for
        Other columns that may drive who rates (a tier, a channel): the correction
        re-weights within them too.
    confidence
        Level of every interval (0.95).

    Returns
    -------
    Feedback
        ``.table`` (per segment and period, and the ``(all)`` rows): ``metric``
        (``implicit_rate``, ``response_rate``, ``explicit_rate``, ``explicit_corrected``,
        ``gap``, ``reviewed_rate``), ``value``, ``se``, ``ci_low``, ``ci_high``, ``n`` (the
        denominator), ``interactions``, ``note``; ``.selection`` (raters vs non-raters on
        the implicit label); ``.agreement`` (each pair of labels); ``.summary()``,
        ``.headline()``, ``.funnel()``, ``.chart()``.

    Notes
    -----
    **Correction for who rates.** ``explicit_corrected`` is the inverse-probability-
    weighted share of positive ratings, with the probability of rating estimated in every
    cell of the observed covariates (the segment, ``adjust_for``, the implicit label and
    its ``signal``). With discrete covariates this is post-stratification on those cells;
    its interval comes from the delta-method variance on the small cell table, which
    accounts for the estimated propensities (see :func:`post_stratify` for the formula and
    references). Intervals are normal (estimate +- z se), clipped to [0, 1].

    **What no correction can do.** The correction is exact only if, within those cells,
    whether a user rates does not depend on how satisfied they are (ratings missing at
    random given the covariates). When rating depends on something unobserved — unhappy
    users rating more often even among users who did the same thing — no correction is
    exact: the corrected figure removes the part of the bias the covariates explain, and
    the rest still leans the way the raw ratings do.

    **Agreement.** Sensitivity and specificity of each label against the other (the
    reviewed outcome first) with Wilson intervals; Cohen's kappa with Fleiss, Cohen &
    Everitt's standard error (:func:`cohens_kappa`). **Selection**: raters vs non-raters on
    the implicit label, the difference with Newcombe's interval
    (:func:`aidebt.stats.two_proportions`).

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"implicit": [1, 1, 0, 1, 0, 1, None, 1],
    ...                    "rating": [5, None, 1, None, 2, None, None, 4]})
    >>> fb = feedback(df, implicit="implicit", explicit="rating", positive=">=4", scale=(1, 5))
    >>> fb.overall.filter(pl.col("metric") == "response_rate")["value"].item()
    0.5
    """
    confidence = st.check_confidence(confidence)
    if implicit is None and explicit is None and gold is None:
        raise InvalidArgumentError(
            "feedback needs at least one label: implicit= (from implicit_labels), explicit= "
            "(the ratings) or gold= (reviewed outcomes)."
        )
    frame = frames.to_lazy(data)
    by_cols = frames.as_list(by)
    check_names(by_cols, _TAKEN, role="a by column")
    adjust = [c for c in frames.as_list(adjust_for) if c not in by_cols]
    for name, role in ((implicit, "implicit"), (explicit, "explicit"), (gold, "gold")):
        frames.require_columns(frame, [name], role=role)
    frames.require_columns(frame, by_cols, role="a by column")
    frames.require_columns(frame, adjust, role="adjust_for")
    frames.require_columns(frame, [signal], role="signal")
    frames.require_columns(frame, [time], role="time")
    if signal is not None and implicit is None:
        raise InvalidArgumentError("signal= refines the implicit label: pass implicit= too.")
    if every is not None and time is None:
        raise InvalidArgumentError(
            f"every={every!r} cuts the figures into periods of a time column: pass time= too."
        )
    period = None
    if time is not None:
        frames.require_temporal(frame, time, needed_by="feedback")
        period = Every.parse(every or "1mo")

    derived: dict[str, nw.Expr] = {}
    if period is not None:
        derived["_p"] = period.index(nw.col(time))
    if implicit is not None:
        derived["_imp"] = _binary(frame, implicit, "implicit")
    rating = None
    if explicit is not None:
        rating = _rating(frame, explicit, positive, scale)
        derived["_exp"] = rating.value
        derived["_bad"] = rating.bad
    elif positive is not None or scale is not None:
        raise InvalidArgumentError("positive= and scale= describe the ratings: pass explicit= too.")
    if gold is not None:
        derived["_gold"] = _binary(frame, gold, "gold")
    keys = [*by_cols, *adjust, *([signal] if signal else [])]
    cells = aggregate.value_counts(frame, keys, weight=weight, derived_keys=derived)
    roles = {"implicit": implicit, "explicit": explicit, "gold": gold}
    _raise_on_bad_values(frame, cells, roles, rating)

    no_time = 0.0
    if period is not None:
        no_time = float(cells.filter(pl.col("_p").is_null()).get_column("n").sum() or 0)
        cells = cells.filter(pl.col("_p").is_not_null()).with_columns(pl.col("_p").cast(pl.Int64))
    for key in _LABELS:
        if key not in cells.columns:
            cells = cells.with_columns(pl.lit(None, pl.Int8).alias(key))
    cells = cells.with_columns(
        _imp_key=pl.col("_imp").cast(pl.String).fill_null(frames.MISSING_GROUP),
        a=pl.when(pl.col("_exp") == 1).then(pl.col("n")).otherwise(0.0),
        b=pl.when(pl.col("_exp") == 0).then(pl.col("n")).otherwise(0.0),
        u=pl.when(pl.col("_exp").is_null()).then(pl.col("n")).otherwise(0.0),
    )
    if cells.height == 0 or float(cells.get_column("n").sum()) == 0:
        raise InvalidValueError(
            "The data has no rows to measure (after dropping rows without a time)."
        )

    covariates = [*adjust, *(["_imp_key"] if implicit else []), *([signal] if signal else [])]
    periods = ["_p"] if period is not None else []
    z = _z(confidence)
    seg = _measures(cells, [*by_cols, *periods], covariates) if by_cols else None
    over = _measures(cells, periods, [*by_cols, *covariates])
    pooled = _measures(cells, [], [*periods, *by_cols, *covariates])
    present = {
        "implicit_rate": implicit is not None,
        "response_rate": explicit is not None,
        "explicit_rate": explicit is not None,
        "explicit_corrected": explicit is not None,
        "gap": explicit is not None,
        "reviewed_rate": gold is not None,
    }
    metrics = [m for m in _METRIC_ORDER if present[m]]
    over_long = _long(over, periods, metrics, z, confidence)
    if seg is not None:
        seg_long = _long(seg, [*by_cols, *periods], metrics, z, confidence)
        over_as_all = over_long.with_columns(pl.lit(ALL).alias(c) for c in by_cols)
        table = pl.concat([seg_long, over_as_all.select(seg_long.columns)])
    else:
        table = over_long
    if period is not None:
        table = _with_period(table, period)
        over_long = _with_period(over_long, period)
    pooled_long = _long(pooled, [], metrics, z, confidence)
    selection = _selection(cells, by_cols, confidence) if implicit and explicit else None
    agreement = _agreement(cells, roles, confidence)
    return Feedback(
        table,
        over_long,
        pooled_long,
        selection,
        agreement,
        by=by_cols,
        every=period,
        roles=roles,
        rating=rating,
        adjusted_for=[
            *(f"each {c}" for c in adjust),
            *(["each implicit signal"] if signal else ["the implicit label"] if implicit else []),
        ],
        confidence=confidence,
        no_time=no_time,
        cells=cells.drop("_imp_key", "_bad", strict=False),
    )


def _z(confidence: float) -> float:
    return float(norm_ppf(0.5 + confidence / 2))


def _codes(table: pl.DataFrame, keys: Sequence[str]) -> np.ndarray:
    """Dense integer codes of the key combinations (0 for every row when no key)."""
    if not keys:
        return np.zeros(table.height, dtype=np.int64)
    ranked = table.select(pl.struct(list(keys)).rank("dense").alias("_c")).get_column("_c")
    return ranked.to_numpy().astype(np.int64) - 1


def _measures(cells: pl.DataFrame, strata: list[str], covariates: list[str]) -> pl.DataFrame:
    """Per stratum: the counts behind every metric and the post-stratified rating rate."""
    n = pl.col("n")
    fine = cells.group_by([*strata, *covariates]).agg(
        pl.col("a").sum(), pl.col("b").sum(), pl.col("u").sum()
    )
    levels = [_codes(fine, [*strata, *covariates[:j]]) for j in range(len(covariates) + 1)]
    ps = post_stratify(fine["a"], fine["b"], fine["u"], levels)
    if strata:
        keys = fine.select(strata).with_columns(_s=pl.Series(levels[0])).unique("_s").sort("_s")
    else:
        keys = pl.DataFrame({"_s": [0]})
    at = keys["_s"].to_numpy()
    estimates = keys.with_columns(
        pl.Series(name, ps[name][at], dtype=pl.Float64)
        for name in ("corrected", "corrected_se", "gap", "gap_se", "borrowed")
    ).drop("_s")
    sums = [
        n.sum().alias("interactions"),
        n.filter(pl.col("_imp").is_not_null()).sum().alias("implicit_n"),
        n.filter(pl.col("_imp") == 1).sum().alias("implicit_pos"),
        n.filter(pl.col("_exp").is_not_null()).sum().alias("rated"),
        n.filter(pl.col("_exp") == 1).sum().alias("explicit_pos"),
        n.filter(pl.col("_gold").is_not_null()).sum().alias("reviewed"),
    ]
    counts = cells.group_by(strata).agg(sums) if strata else cells.select(sums)
    if not strata:
        return pl.concat([counts, estimates], how="horizontal")
    return counts.join(estimates, on=strata, how="left", nulls_equal=True).sort(strata)


def _long(
    wide: pl.DataFrame, keys: list[str], metrics: list[str], z: float, confidence: float
) -> pl.DataFrame:
    """The per-stratum counts as a tidy table: one row per (stratum, metric)."""
    parts = []
    for metric in metrics:
        if metric in ("explicit_corrected", "gap"):
            value = wide.get_column("corrected" if metric == "explicit_corrected" else "gap")
            se = wide.get_column("corrected_se" if metric == "explicit_corrected" else "gap_se")
            v, s = value.to_numpy().astype(float), se.to_numpy().astype(float)
            lo, hi = v - z * s, v + z * s
            if metric == "explicit_corrected":
                lo, hi = np.clip(lo, 0, 1), np.clip(hi, 0, 1)
            denom = wide.get_column("rated").to_numpy()
            borrowed = wide.get_column("borrowed").to_numpy()
            note = [
                "no ratings"
                if d == 0
                else f"{b:,.0f} answers in cells nobody rated took the rate of a coarser cell"
                if b > 0 and metric == "explicit_corrected"
                else None
                for d, b in zip(denom, borrowed, strict=True)
            ]
        else:
            num, den = {
                "implicit_rate": ("implicit_pos", "implicit_n"),
                "response_rate": ("rated", "interactions"),
                "explicit_rate": ("explicit_pos", "rated"),
                "reviewed_rate": ("reviewed", "interactions"),
            }[metric]
            x, denom = wide.get_column(num).to_numpy(), wide.get_column(den).to_numpy()
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.where(denom > 0, x / denom, np.nan)
                s = np.sqrt(v * (1 - v) / denom)
            lo, hi = st.proportion_ci(x, denom, confidence, "wilson")
            empty = {
                "implicit_rate": "no answer with a deciding implicit signal",
                "explicit_rate": "no ratings",
            }.get(metric, "no answers")
            note = [empty if d == 0 else None for d in denom]
        values = pl.DataFrame(
            {
                "metric": [metric] * wide.height,
                "value": pl.Series(v, dtype=pl.Float64).fill_nan(None),
                "se": pl.Series(s, dtype=pl.Float64).fill_nan(None),
                "ci_low": pl.Series(lo, dtype=pl.Float64).fill_nan(None),
                "ci_high": pl.Series(hi, dtype=pl.Float64).fill_nan(None),
                "n": pl.Series(denom, dtype=pl.Float64),
                "interactions": wide.get_column("interactions").cast(pl.Float64),
                "note": pl.Series(note, dtype=pl.String),
            }
        )
        parts.append(pl.concat([wide.select(keys), values], how="horizontal") if keys else values)
    return pl.concat(parts)


def _with_period(table: pl.DataFrame, period: Every) -> pl.DataFrame:
    starts = period.start(table.get_column("_p").to_numpy())
    return table.with_columns(pl.Series("_p", starts).cast(pl.Date)).rename({"_p": "period"})


def _selection(cells: pl.DataFrame, by: list[str], confidence: float) -> pl.DataFrame:
    """Raters vs non-raters on the implicit label, per segment and overall (Newcombe)."""
    n = pl.col("n")
    has = pl.col("_imp").is_not_null()
    rated = pl.col("_exp").is_not_null()
    sums = [
        n.filter(rated & has).sum().alias("raters"),
        n.filter(rated & (pl.col("_imp") == 1)).sum().alias("_x1"),
        n.filter(~rated & has).sum().alias("non_raters"),
        n.filter(~rated & (pl.col("_imp") == 1)).sum().alias("_x2"),
    ]
    overall = cells.select(sums)
    if by:
        table = cells.group_by(by).agg(sums).sort(by)
        table = pl.concat(
            [table, overall.with_columns(pl.lit(ALL).alias(c) for c in by).select(table.columns)]
        )
    else:
        table = overall
    cmp = st.two_proportions(
        table["_x1"], table["raters"], table["_x2"], table["non_raters"], confidence
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        r1 = table["_x1"].to_numpy() / table["raters"].to_numpy()
        r2 = table["_x2"].to_numpy() / table["non_raters"].to_numpy()
    return table.select(
        *by,
        "raters",
        pl.Series("raters_rate", r1).fill_nan(None),
        "non_raters",
        pl.Series("non_raters_rate", r2).fill_nan(None),
        pl.Series("diff", cmp["diff"]).fill_nan(None),
        pl.Series("ci_low", cmp["diff_lo"]).fill_nan(None),
        pl.Series("ci_high", cmp["diff_hi"]).fill_nan(None),
        pl.Series("p_value", cmp["p"]).fill_nan(None),
    )


def _agreement(
    cells: pl.DataFrame, roles: Mapping[str, str | None], confidence: float
) -> pl.DataFrame:
    """Each pair of labels: confusion counts, sensitivity/specificity, Cohen's kappa."""
    pairs = [
        (label, reference)
        for label, reference in (
            ("implicit", "gold"),
            ("explicit", "gold"),
            ("implicit", "explicit"),
        )
        if roles[label] is not None and roles[reference] is not None
    ]
    keys = {"implicit": "_imp", "explicit": "_exp", "gold": "_gold"}
    rows = []
    for label, reference in pairs:
        x, y = pl.col(keys[label]), pl.col(keys[reference])
        n = pl.col("n")
        rows.append(
            cells.select(
                pl.lit(label).alias("label"),
                pl.lit(reference).alias("reference"),
                n.filter((x == 1) & (y == 1)).sum().alias("tp"),
                n.filter((x == 1) & (y == 0)).sum().alias("fp"),
                n.filter((x == 0) & (y == 1)).sum().alias("fn"),
                n.filter((x == 0) & (y == 0)).sum().alias("tn"),
            )
        )
    schema = {
        "label": pl.String,
        "reference": pl.String,
        **dict.fromkeys(("tp", "fp", "fn", "tn"), pl.Float64),
    }
    table = pl.concat(rows) if rows else pl.DataFrame(schema=schema)
    tp, fp, fn, tn = (table[c].cast(pl.Float64).to_numpy() for c in ("tp", "fp", "fn", "tn"))
    sens_lo, sens_hi = st.proportion_ci(tp, tp + fn, confidence, "wilson")
    spec_lo, spec_hi = st.proportion_ci(tn, tn + fp, confidence, "wilson")
    k = cohens_kappa(tp, fp, fn, tn)
    z = _z(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        sens, spec = tp / (tp + fn), tn / (tn + fp)

    def col(name: str, values: np.ndarray) -> pl.Series:
        return pl.Series(name, values, dtype=pl.Float64).fill_nan(None)

    return table.with_columns(
        col("n", tp + fp + fn + tn),
        col("agreement", k["agreement"]),
        col("sensitivity", sens),
        col("sensitivity_low", sens_lo),
        col("sensitivity_high", sens_hi),
        col("specificity", spec),
        col("specificity_low", spec_lo),
        col("specificity_high", spec_hi),
        col("kappa", k["kappa"]),
        col("kappa_se", k["se"]),
        col("kappa_low", k["kappa"] - z * k["se"]),
        col("kappa_high", k["kappa"] + z * k["se"]),
    ).select(
        "label",
        "reference",
        "n",
        "tp",
        "fp",
        "fn",
        "tn",
        "agreement",
        "sensitivity",
        "sensitivity_low",
        "sensitivity_high",
        "specificity",
        "specificity_low",
        "specificity_high",
        "kappa",
        "kappa_se",
        "kappa_low",
        "kappa_high",
    )


# --------------------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------------------
def _pct(x: float) -> str:
    """0.021 -> '2.1%', 0.612 -> '61%'."""
    return prose.percent(x, None)


def _bracket(lo: float, hi: float) -> str:
    """An interval of proportions in percent: '[75, 81]', '[66.1, 66.4]' when narrow."""
    digits = 1 if max(abs(lo), abs(hi)) < 0.1 or hi - lo < 0.02 else 0
    return prose.interval(lo, hi, prose.points, digits, brackets=True)


def _pct_ci(value: float, lo: float, hi: float) -> str:
    """'78% [75, 81]', or '66.2% [66.1, 66.4]' when the interval is narrow."""
    digits = 1 if hi - lo < 0.02 and abs(value) >= 0.1 else None
    return f"{prose.percent(value, digits)} {_bracket(lo, hi)}"


class Feedback(Result):
    """Result of :func:`feedback`.

    Attributes
    ----------
    table : polars.DataFrame
        Long and tidy: the ``by`` columns (``(all)`` on the overall rows), ``period`` with
        ``every``, ``metric`` (see :data:`METRIC_MEANINGS`), ``value``, ``se``,
        ``ci_low``, ``ci_high``, ``n`` (the metric's denominator), ``interactions``,
        ``note``.
    overall : polars.DataFrame
        The overall rows (per period with ``every``), without the ``by`` columns.
    pooled : polars.DataFrame
        The whole data in one row per metric (all segments and periods), which
        :meth:`summary` and :meth:`headline` quote.
    selection : polars.DataFrame or None
        Raters vs non-raters, per segment and ``(all)``: ``raters`` and ``non_raters``
        (answers with an implicit label), their implicit rates, ``diff`` (raters minus
        non-raters) with Newcombe's interval and a score-test ``p_value``.
    agreement : polars.DataFrame
        One row per pair of labels (``label`` judged against ``reference``): the
        confusion counts, ``agreement``, sensitivity and specificity with Wilson
        intervals, ``kappa`` with ``kappa_se`` and its interval.
    cells : polars.DataFrame
        The small table of the one aggregation pass (counts per cell).
    """

    title = "Feedback: implicit labels and ratings"

    def __init__(
        self,
        table: pl.DataFrame,
        overall: pl.DataFrame,
        pooled: pl.DataFrame,
        selection: pl.DataFrame | None,
        agreement: pl.DataFrame,
        *,
        by: list[str],
        every: Every | None,
        roles: Mapping[str, str | None],
        rating: _Rating | None,
        adjusted_for: list[str],
        confidence: float,
        no_time: float,
        cells: pl.DataFrame,
    ) -> None:
        super().__init__(table)
        self.overall = overall
        self.pooled = pooled
        self.selection = selection
        self.agreement = agreement
        self.by = by
        self.every = every
        self.roles = dict(roles)
        self.adjusted_for = adjusted_for
        self.confidence = confidence
        self.no_time = no_time
        self.cells = cells
        self._rating = rating

    # -- figures ---------------------------------------------------------------------
    def _figure(self, metric: str) -> dict[str, Any] | None:
        row = self.pooled.filter(pl.col("metric") == metric)
        return row.row(0, named=True) if row.height else None

    def _pair(self, label: str, reference: str) -> dict[str, Any] | None:
        row = self.agreement.filter(
            (pl.col("label") == label) & (pl.col("reference") == reference) & (pl.col("n") > 0)
        )
        return row.row(0, named=True) if row.height else None

    def _selection_overall(self) -> dict[str, Any] | None:
        if self.selection is None:
            return None
        row = self.selection.tail(1).row(0, named=True)
        return row if row["diff"] is not None else None

    # -- words -----------------------------------------------------------------------
    def summary(self) -> list[str]:
        """The findings in a stakeholder's words, the whole data at once."""
        lines = []
        level = f"{self.confidence:.0%}"
        implicit = self._figure("implicit_rate")
        response = self._figure("response_rate")
        if response is not None and response["value"] is not None:
            lines.append(
                f"{_pct(response['value'])} of answers were rated "
                f"({response['value'] * response['n']:,.0f} of {response['n']:,.0f})."
            )
        if implicit is not None and implicit["value"] is not None:
            share = implicit["n"] / implicit["interactions"] if implicit["interactions"] else 0
            lines.append(
                "Judging by what users did next, "
                f"{_pct_ci(implicit['value'], implicit['ci_low'], implicit['ci_high'])} of "
                "answers served them; "
                f"{_pct(1 - share)} of answers had no deciding signal."
            )
        sel = self._selection_overall()
        if sel is not None:
            if sel["ci_low"] > 0 or sel["ci_high"] < 0:
                near, far = sorted((abs(sel["ci_low"]), abs(sel["ci_high"])))
                lines.append(
                    f"Users who rated were {prose.points(abs(sel['diff']), None)} points "
                    f"{'less' if sel['diff'] < 0 else 'more'} likely to have been served, judging "
                    f"by what they did next, than users who did not ({_pct(sel['raters_rate'])} "
                    f"vs {_pct(sel['non_raters_rate'])}; {level} interval "
                    f"{prose.interval(near, far, prose.points, None)} points)."
                )
            else:
                lines.append(
                    "Users who rated behaved like users who did not: their implicit satisfaction "
                    f"differs by {prose.difference(sel['diff'])} points "
                    f"{_bracket(sel['ci_low'], sel['ci_high'])}, within chance."
                )
        naive, corrected, gap = (
            self._figure(m) for m in ("explicit_rate", "explicit_corrected", "gap")
        )
        if corrected is not None and corrected["value"] is not None:
            if gap["ci_low"] > 0 or gap["ci_high"] < 0:
                lines.append(
                    f"The ratings {'understate' if gap['value'] < 0 else 'overstate'} "
                    f"satisfaction: {_pct(naive['value'])} of rated answers were positive; "
                    "corrected for who rates, "
                    f"{_pct_ci(corrected['value'], corrected['ci_low'], corrected['ci_high'])}."
                )
            else:
                lines.append(
                    f"The ratings are not measurably biased by who rates: "
                    f"{_pct(naive['value'])} of rated answers were positive, "
                    f"{_pct_ci(corrected['value'], corrected['ci_low'], corrected['ci_high'])} "
                    "once corrected."
                )
        elif naive is not None and naive["value"] is not None:
            lines.append(f"{_pct(naive['value'])} of rated answers were positive.")
        for label in ("implicit", "explicit"):
            pair = self._pair(label, "gold")
            if pair is None or pair["kappa"] is None:
                continue
            what = "Implicit signals" if label == "implicit" else "Ratings"
            sens = pair["sensitivity"]
            spec = pair["specificity"]
            detail = (
                f": they mark {_pct(sens)} of the answers reviewers found good as served, and "
                f"{_pct(spec)} of those reviewers found bad as not served"
                if sens is not None and spec is not None
                else ""
            )
            digits = 3 if pair["kappa_high"] - pair["kappa_low"] < 0.02 else 2
            lines.append(
                f"{what} agree with reviewed outcomes {_pct(pair['agreement'])} of the time "
                f"(kappa {pair['kappa']:.{digits}f}, {level} interval "
                f"{prose.interval(pair['kappa_low'], pair['kappa_high'], prose.number, digits)}"
                f"){detail}."
            )
            break
        reviewed = self._figure("reviewed_rate")
        if not lines and reviewed is not None and reviewed["value"] is not None:
            lines.append(
                f"{_pct(reviewed['value'])} of answers have a reviewed outcome; there is no "
                "implicit label or rating to compare it with."
            )
        if corrected is not None and corrected["value"] is not None:
            lines.append(
                "The correction re-weights the ratings within "
                f"{prose.and_list(self._adjusted_words())}; it is exact only if, within those "
                "groups, who rates does not depend on how satisfied they are. If rating "
                "depends on something not recorded (say, unhappy users rate more often even "
                "among users who did the same thing), no correction is exact, and the "
                "corrected figure still leans the way the raw ratings do."
            )
        return lines

    def _adjusted_words(self) -> list[str]:
        words = [f"each {c}" for c in self.by] + list(self.adjusted_for)
        if self.every is not None:
            words.append(f"each {self.every.noun()}")
        return words or ["the whole data (no covariate)"]

    def notes(self) -> list[str]:
        """Caveats: rows without a time, cells nobody rated, the labels' coverage."""
        out = []
        if self.no_time:
            out.append(f"{self.no_time:,.0f} answers have no time and are left out.")
        corrected = self._figure("explicit_corrected")
        if corrected is not None and corrected["note"]:
            out.append(f"Overall: {corrected['note']}.")
        reviewed = self._figure("reviewed_rate")
        if reviewed is not None and reviewed["value"] is not None:
            out.append(f"{_pct(reviewed['value'])} of answers have a reviewed outcome.")
        return out

    def headline(self) -> Headline:
        """One sentence for the monthly audit, with the key figures behind it.

        Examples
        --------
        >>> import polars as pl
        >>> df = pl.DataFrame({"implicit": [1, 1, 0, 1], "rating": [1, None, 0, None]})
        >>> feedback(df, implicit="implicit", explicit="rating").headline().figures["response_rate"]
        0.5
        """
        figures: dict[str, float | None] = {}
        for metric in _METRIC_ORDER:
            row = self._figure(metric)
            if row is None:
                continue
            figures[metric] = row["value"]
            if metric in ("implicit_rate", "explicit_corrected", "gap"):
                figures[f"{metric}_low"] = row["ci_low"]
                figures[f"{metric}_high"] = row["ci_high"]
        sel = self._selection_overall()
        if sel is not None:
            figures["rater_difference"] = sel["diff"]
        pair = self._pair("implicit", "gold")
        if pair is not None:
            figures["implicit_kappa"] = pair["kappa"]
        corrected, naive, gap = (
            self._figure(m) for m in ("explicit_corrected", "explicit_rate", "gap")
        )
        response, implicit = self._figure("response_rate"), self._figure("implicit_rate")
        if corrected is not None and corrected["value"] is not None:
            biased = gap["ci_low"] > 0 or gap["ci_high"] < 0
            verdict = (
                f"Ratings {'understate' if gap['value'] < 0 else 'overstate'} satisfaction"
                if biased
                else "Ratings are not measurably biased by who rates"
            )
            sentence = (
                f"{verdict}: {_pct(naive['value'])} of rated answers were positive, "
                f"{_pct_ci(corrected['value'], corrected['ci_low'], corrected['ci_high'])} once "
                f"corrected for who rates; {_pct(response['value'])} of answers were rated."
            )
        elif implicit is not None and implicit["value"] is not None:
            sentence = (
                "Judging by what users did next, "
                f"{_pct_ci(implicit['value'], implicit['ci_low'], implicit['ci_high'])} of "
                "answers served them."
            )
        elif response is not None and response["value"] is not None:
            sentence = f"{_pct(response['value'])} of answers were rated."
        else:
            reviewed = self._figure("reviewed_rate")
            value = reviewed["value"] if reviewed else None
            sentence = (
                f"{_pct(value)} of answers have a reviewed outcome."
                if value is not None
                else "No answer has a label yet."
            )
        return Headline(sentence, figures)

    def selection_table(self) -> pl.DataFrame:
        """:attr:`selection` for a report, as it reads: whole counts, shares in percent
        with one decimal, the difference and its interval in signed points (texts written
        by :mod:`aidebt.prose`).

        Empty when there is no implicit label or no rating.
        """
        if self.selection is None:
            return pl.DataFrame()
        level = f"{self.confidence:.0%} interval (points)"
        rows = [
            {
                **{c: row[c] for c in self.by},
                "rated": prose.count(row["raters"]),
                "served, among raters": prose.pct(row["raters_rate"]),
                "not rated": prose.count(row["non_raters"]),
                "served, among the others": prose.pct(row["non_raters_rate"]),
                "difference (points)": _signed(row["diff"]),
                level: prose.interval(row["ci_low"], row["ci_high"], _signed, 1),
            }
            for row in self.selection.iter_rows(named=True)  # a few groups: a small table
        ]
        return pl.DataFrame(rows)

    def agreement_table(self) -> pl.DataFrame:
        """:attr:`agreement` for a report, as it reads: shares in percent with one decimal,
        kappa with two decimals and its interval."""
        rows = [
            {
                "label": _ROLE_WORDS[row["label"]],
                "against": _ROLE_WORDS[row["reference"]],
                "answers": prose.count(row["n"]),
                "agreement": prose.pct(row["agreement"]),
                "sensitivity": prose.pct(row["sensitivity"]),
                "specificity": prose.pct(row["specificity"]),
                f"kappa [{self.confidence:.0%} interval]": _with_interval(
                    row["kappa"], row["kappa_low"], row["kappa_high"]
                ),
            }
            for row in self.agreement.filter(pl.col("n") > 0).iter_rows(named=True)
        ]
        return pl.DataFrame(rows)

    def funnel(self) -> pl.DataFrame:
        """From answers to labels: how many answers have each kind of label (whole data)."""
        first = self.pooled.row(0, named=True)
        stages = [("answers", first["interactions"])]
        names = {
            "implicit_rate": "with an implicit label",
            "response_rate": "rated by the user",
            "reviewed_rate": "with a reviewed outcome",
        }
        for metric, stage in names.items():
            row = self._figure(metric)
            if row is None:
                continue
            count = row["n"] if metric == "implicit_rate" else (row["value"] or 0) * row["n"]
            stages.append((stage, count))
        total = stages[0][1] or 1.0
        return pl.DataFrame(
            {
                "stage": [s for s, _ in stages],
                "answers": [float(c) for _, c in stages],
                "share": [float(c) / total for _, c in stages],
            }
        )

    def chart(self, metrics: Sequence[str] | None = None):
        """Raw vs corrected ratings vs implicit label, with intervals.

        Over time when the result has periods (the overall rows), else per segment.
        ``metrics`` picks others, e.g. ``["response_rate"]``.
        """
        from aidebt import charts

        chosen = (
            list(metrics)
            if metrics
            else [
                m
                for m in ("explicit_rate", "explicit_corrected", "implicit_rate")
                if m in set(self.table.get_column("metric"))
            ]
            or list(dict.fromkeys(self.table.get_column("metric")))
        )
        if self.every is not None:
            return charts.feedback_over_time(self.overall, metrics=chosen, unit=self.every.noun())
        return charts.feedback_by_segment(self.table, by=self.by, metrics=chosen)

    def funnel_chart(self):
        """The funnel from answers to each kind of label, as bars."""
        from aidebt import charts

        return charts.feedback_funnel(self.funnel())


# --------------------------------------------------------------------------------------
# Putting the inputs together (what the feedback_audit notebook calls)
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FeedbackInputs:
    """One row per answer with the labels that exist, and what is missing.

    ``frame`` is a polars LazyFrame; ``roles`` the keyword arguments of :func:`feedback`
    for the labels found; ``segments`` and ``adjust_for`` the requested columns that
    exist; ``skipped`` one plain sentence per input that is missing.
    """

    frame: pl.LazyFrame
    implicit: str | None
    explicit: str | None
    gold: str | None
    signal: str | None
    positive: Any
    scale: Any
    segments: list[str]
    adjust_for: list[str]
    skipped: list[str]

    @property
    def roles(self) -> dict[str, Any]:
        """``implicit``, ``explicit``, ``gold``, ``signal``, ``positive``, ``scale`` and
        ``adjust_for`` for :func:`feedback` (the rating's rule only when there are ratings)."""
        roles: dict[str, Any] = {
            "implicit": self.implicit,
            "explicit": self.explicit,
            "gold": self.gold,
            "signal": self.signal,
            "adjust_for": self.adjust_for or None,
        }
        if self.explicit is not None:
            roles.update(positive=self.positive, scale=self.scale)
        return roles


def _as_polars_lazy(data: Any) -> pl.LazyFrame:
    if isinstance(data, str | PathLike):
        return frames.scan_path(data)
    if isinstance(data, pl.DataFrame | pl.LazyFrame):
        return data.lazy()
    return nw.from_native(data).lazy().collect(backend="polars").to_native().lazy()


def feedback_inputs(
    data: Any = None,
    *,
    events: Any = None,
    ratings: Any = None,
    interaction: str = "ticket_id",
    time: str = "ts",
    event: str = "event",
    event_time: str | None = None,
    session: str | None = None,
    responses: Any = None,
    rules: Rules | Mapping[str, Any] = DEFAULT_RULES,
    implicit: str = "implicit",
    rating: str = "rating",
    positive: Any = None,
    scale: Any = None,
    gold: str | None = None,
    segments: Sequence[str] = (),
    adjust_for: Sequence[str] = (),
) -> FeedbackInputs:
    """The answers with their implicit label and rating joined on the interaction key.

    ``data`` holds one row per answer (a path, or a polars frame). ``events`` (an event
    log) gives the implicit label through :func:`implicit_labels` (columns ``implicit``
    and ``signal``); without it, ``data``'s own ``implicit`` column is used if it has
    one. ``ratings`` (one row per rated answer: the key and ``rating``; an answer rated
    twice keeps its last rating in the table's order) gives the explicit rating; without
    it, ``data``'s own ``rating`` column. ``data=None`` means the demo tickets with their
    event log and ratings (:func:`aidebt.datasets.demo_feedback`). Everything stays lazy:
    the joins run when a figure is computed, and a month filter on ``data`` reaches the
    scan.

    Examples
    --------
    >>> import polars as pl
    >>> answers = pl.DataFrame({"id": [1, 2], "y": [1, 0]})
    >>> rated = pl.DataFrame({"id": [2], "stars": [5]})
    >>> got = feedback_inputs(answers, ratings=rated, interaction="id", rating="stars",
    ...                       positive=">=4", gold="y")
    >>> got.explicit, got.implicit, got.skipped[0][:30]
    ('stars', None, 'No event log and no implicit c')
    """
    if data is None:
        from aidebt import datasets

        demo = datasets.demo_feedback()
        data = demo["interactions"]
        events = demo["events"] if events is None else events
        ratings = demo["ratings"] if ratings is None else ratings
        rules = datasets.FEEDBACK_RULES if rules is DEFAULT_RULES else rules
        responses = "answer" if responses is None else responses
    frame = _as_polars_lazy(data)
    columns = frame.collect_schema().names()
    skipped: list[str] = []
    has_key = interaction in columns
    implicit_col = signal_col = explicit_col = None
    if events is not None and has_key:
        labels = implicit_labels(
            _as_polars_lazy(events),
            interaction=interaction,
            time=event_time or time,
            event=event,
            rules=rules,
            session=session,
            responses=responses,
        )
        keep = [c for c in columns if c not in ("implicit", "signal", "latency")]
        frame = frame.select(keep).join(labels, on=interaction, how="left")
        implicit_col, signal_col = "implicit", "signal"
    elif events is not None:
        skipped.append(
            f"The answers have no {interaction!r} column to join the event log on: no implicit label."
        )
    elif implicit in columns:
        implicit_col = implicit
        signal_col = "signal" if "signal" in columns else None
    else:
        skipped.append(
            f"No event log and no implicit column ({implicit!r}): no implicit label, so no "
            "measure of who rates and no correction for it beyond the segments."
        )
    if ratings is not None and has_key:
        given = _as_polars_lazy(ratings).select(interaction, rating)
        last = given.group_by(interaction, maintain_order=True).agg(pl.col(rating).last())
        frame = frame.select([c for c in frame.collect_schema().names() if c != rating]).join(
            last, on=interaction, how="left"
        )
        explicit_col = rating
    elif ratings is not None:
        skipped.append(
            f"The answers have no {interaction!r} column to join the ratings on: no ratings."
        )
    elif rating in columns:
        explicit_col = rating
    else:
        skipped.append(f"No ratings and no rating column ({rating!r}): nothing to correct.")
    names = frame.collect_schema().names()
    gold_col = gold if gold in names else None
    if gold is None or gold_col is None:
        skipped.append(
            "No reviewed outcome"
            + (f" (no column {gold!r})" if gold else "")
            + ": no check of the labels against reviews."
        )
    present = [c for c in segments if c in names]
    missing = [c for c in (*segments, *adjust_for) if c not in names]
    if missing:
        skipped.append(f"Column(s) {', '.join(map(repr, missing))} are not in the data: left out.")
    return FeedbackInputs(
        frame=frame,
        implicit=implicit_col,
        explicit=explicit_col,
        gold=gold_col,
        signal=signal_col,
        positive=positive,
        scale=scale,
        segments=present,
        adjust_for=[c for c in adjust_for if c in names],
        skipped=skipped,
    )
