"""The first cell of every report: the data, the period, the roles and the words, once.

Each stock notebook starts with::

    from aidebt import report
    if data is None:  # no data given: the demo log, with the columns and words of examples/audit.toml
        globals().update(report.demo_parameters(globals()))
    audit = report.Audit(data, month, time=time, y_true=y_true, ..., words=report.Words.of(...))

and then calls the library on ``audit.frame`` (the period's rows) or ``audit.history``
(every row up to the period's end) with ``**audit.roles``. Columns come back under the
names the report's sentences use (``[report] names``, else underscores read as spaces),
so the library's own sentences ("race=African-American", "v2's resolved rate") speak the
reader's words; the technical names stay in the page's "How this report was made".
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import narwhals as nw

from aidebt import frames
from aidebt.errors import InvalidArgumentError
from aidebt.periods import Month, Window
from aidebt.report.words import Words

# What is missing when a parameter is not given, in a reader's words.
_MISSING = {
    "y_score": "no score column was given",
    "version": "no version column was given",
    "eval_data": "no golden set was given",
    "config": "no gate policy was given",
    "label_data": "no label table was given",
    "events_data": "no event log and no ratings were given",
    "weight": "no weight column was given",
    "y_true": "no reviewed outcome was given",
    "segments": "no attributes to split by were given",
    "versions_item": "no item column was given",
    "versions_data": "no eval runs of the versions were given",
    "registry": "no lifecycle registry was given",
    "published_data": "no published figures were given",
    "versions_task": "no task, model or outcome column of the eval runs was given",
    "versions_latency": "no latency column was given",
    "versions_cost": "no cost column was given",
    "versions_config": "no policy with change gates was given",
    "versions_length": "no length column was given",
    "versions_y_true": "no correct-answer column was given",
    "ratings_data": "no ratings were given",
    "usage_cost": "no cost column was given",
    "usage_success": "no success column was given",
    "usage_by": "no attributes to split users by were given",
}


def demo_parameters(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The demo's values of a notebook's parameters that were not given.

    With no ``data``, a stock notebook reports on the demo log
    (:func:`aidebt.datasets.demo`); its columns, words and settings are those of
    ``examples/audit.toml`` (``[data]`` and ``[report]``), as ``aidebt demo`` uses them, so
    the notebooks themselves carry no demo column. Only names present in ``namespace``
    whose value is None are returned; the log's paths stay None (the demo frames are
    generated in memory), and the companion tables a notebook takes (the version runs,
    the published figures, the feedback events and ratings, the usage log, the lifecycle
    registry) come back as the demo's frames (or mapping), generated on the spot.
    """
    from aidebt.config import load_config
    from aidebt.report.notebooks import example_policy

    policy = example_policy()
    if policy is None:
        raise InvalidArgumentError(
            "no data given and the demo's settings (examples/audit.toml) are not installed: "
            "pass data and its columns (time, y_true, y_pred, segments...)."
        )
    cfg = load_config(policy)
    values = {**cfg.report.notebook_parameters(), **cfg.parameters(), "config": str(policy)}
    values.pop("data", None)
    values.pop("eval_data", None)
    wanted = {k: v for k, v in values.items() if k in namespace and namespace[k] is None}
    for name, make in _DEMO_COMPANIONS.items():  # generated only when the notebook takes it
        if name in namespace and namespace[name] is None:
            wanted[name] = make()
    return wanted


def _example(name: str) -> str | None:
    from aidebt.report.notebooks import shipped

    folder = shipped("examples")
    return str(folder / name) if folder and (folder / name).is_file() else None


@functools.cache
def _demo_feedback_tables() -> dict[str, Any]:
    from aidebt import datasets

    return datasets.demo_feedback()  # the events and the ratings come from one draw


def _demo_feedback(table: str) -> Any:
    return _demo_feedback_tables()[table]


def _demo_companion(name: str) -> Any:
    def make() -> Any:
        from aidebt import datasets

        return getattr(datasets, name)()

    return make


_DEMO_COMPANIONS = {
    "versions_data": _demo_companion("demo_versions"),
    "published_data": _demo_companion("demo_published"),
    "usage_data": _demo_companion("demo_usage"),
    "registry": _demo_companion("demo_registry"),
    "versions_config": lambda: _example("versions.toml"),
    "events_data": lambda: _demo_feedback("events"),
    "ratings_data": lambda: _demo_feedback("ratings"),
}
"""The demo's companion tables, generated in memory for a notebook opened with none
(``aidebt demo`` writes them to ``demo_data/`` and passes their paths)."""


class Audit:
    """A report's data, period, column roles and vocabulary.

    Parameters
    ----------
    data
        A path or a frame of any engine; None: the demo log (:func:`aidebt.datasets.demo`).
    month
        The period: ``"2026-11"``, ``"2026-Q3"``, ``"2025-01..2026-06"`` (a
        :class:`~aidebt.periods.Window`), or None for the data's latest month.
    time, y_true, y_pred, y_score, weight, pos_label
        The columns' roles (None: not given).
    min_n
        Groups with fewer rows never headline, and are blanked in shared reports.
    words
        The vocabulary (:class:`~aidebt.report.words.Words`).
    """

    def __init__(
        self,
        data: Any,
        month: Any = None,
        *,
        time: str | None,
        y_true: str | None = None,
        y_pred: str | None = None,
        y_score: str | None = None,
        weight: str | None = None,
        pos_label: Any = None,
        min_n: int = 30,
        words: Words | None = None,
    ) -> None:
        from aidebt import datasets
        from aidebt.frames import latest_month, load, load_month

        if time is None:
            raise InvalidArgumentError(
                "no time column given: pass time, the date or datetime column of each row."
            )
        self.demo = data is None
        self.source = datasets.demo() if self.demo else load(data)
        self.time = time
        self.words = words or Words()
        self.min_n = 0 if min_n is None else int(min_n)
        self.period = (
            Window(latest_month(self.source, time), latest_month(self.source, time))
            if month is None
            else Window.parse(month)
        )
        schema = frames.columns(frames.to_lazy(self.source))
        self._names = self._readable_names(schema, y_true)
        self.frame = self.readable(load_month(self.source, self.period, time))
        self.history = self.readable(load_month(self.source, self.period, time, history=True))
        self._given = {"y_true": y_true, "pos_label": pos_label}  # as the data names them
        self._raw_weight = weight
        self.roles: dict[str, Any] = {
            "y_true": self.column(y_true),
            "y_pred": self.column(y_pred),
            "y_score": self.column(y_score),
            "weight": self.column(weight),
            "pos_label": pos_label,
        }
        self._months: int | None = None

    def roles_for(self, function: Any) -> dict[str, Any]:
        """The roles that ``function`` takes (``coverage`` takes no score, for one)."""
        import inspect

        accepted = inspect.signature(function).parameters
        return {k: v for k, v in self.roles.items() if k in accepted}

    # -- columns under their readable names ---------------------------------------------
    def _readable_names(self, schema: Mapping[str, Any], y_true: str | None) -> dict[str, str]:
        """Column -> the name sentences use; the outcome reads as what its 1 means."""
        wanted = {c: self.words.column(c) for c in schema if c != self.time}
        if y_true in schema and y_true not in self.words.names:
            wanted[y_true] = self.words.positive
        taken = set(schema) - {c for c, new in wanted.items() if new != c}
        names: dict[str, str] = {}
        for column, new in wanted.items():
            if new == column or new in taken or new in names.values():
                continue  # a rename must never take another column's name
            names[column] = new
        return names

    def column(self, name: str | None) -> str | None:
        """A column's name in this report's frames (None stays None)."""
        return None if name is None else self._names.get(name, name)

    def columns(self, names: Sequence[str] | str | None) -> list[str]:
        return [self.column(n) for n in frames.as_list(names)]

    def listing(self, names: Sequence[str] | str | None) -> str:
        """Columns as a sentence lists them: 'region, language and customer tier'."""
        from aidebt.prose import and_list

        return and_list(self.columns(names))

    def readable(self, frame: Any) -> Any:
        """``frame`` (any engine) with its columns under their readable names, lazily."""
        schema = frames.columns(frames.to_lazy(frame))
        mapping = {c: n for c, n in self._names.items() if c in schema}
        return nw.from_native(frame).rename(mapping).to_native() if mapping else frame

    def large_groups(
        self, frame: Any, column: str, since: Any = None
    ) -> tuple[Any, dict[str, float]]:
        """``frame`` without the groups of ``column`` that have fewer than ``min_n`` rows
        with a known outcome (from ``since`` on), and those groups with their counts.

        Rankings use it so that a group of a few dozen rows never "decays fastest".
        """
        lazy = frames.to_lazy(frame)
        y, w = self.roles["y_true"], self.roles["weight"]
        known = lazy.filter(~nw.col(y).is_null()) if y else lazy
        if since is not None:
            known = known.filter(frames.window_condition(known, self.time, since, None))
        size = nw.col(w).sum() if w else nw.len()
        counts = known.group_by(column).agg(size.alias("_n")).collect(backend="polars").to_native()
        small = {
            str(k): float(n) for k, n in counts.iter_rows() if k is not None and n < self.min_n
        }
        if not small:
            return frame, {}
        keep = ~nw.col(column).cast(nw.String).is_in(list(small))
        return nw.from_native(frame).filter(keep).to_native(), dict(
            sorted(small.items(), key=lambda kv: -kv[1])
        )

    # -- other inputs --------------------------------------------------------------------
    def golden(self, eval_data: Any, *, readable: bool = True) -> Any | None:
        """The golden set: the demo's with the demo log, else None when none was given.
        Its columns are renamed like the log's unless ``readable=False`` (for a call that
        reads the config's column names, such as a gate check)."""
        from aidebt import datasets
        from aidebt.frames import load

        if eval_data is None:
            frame = datasets.demo_eval() if self.demo else None
        else:
            frame = load(eval_data)
        return self.readable(frame) if readable and frame is not None else frame

    def labels(self, label_data: Any) -> Any | None:
        """The label table (as written): the demo's with the demo log, else None."""
        from aidebt import datasets
        from aidebt.frames import load

        if label_data is None:
            return datasets.demo_labels() if self.demo else None
        return load(label_data)

    # -- what the data allows ------------------------------------------------------------
    @property
    def months(self) -> int:
        """Calendar months up to the period's end that have labeled rows (one small query)."""
        if self._months is None:
            frame = frames.to_lazy(self.history)
            y = self.roles["y_true"]
            labeled = frame.filter(~nw.col(y).is_null()) if y else frame
            month = nw.col(self.time).dt.year() * 12 + nw.col(self.time).dt.month()
            self._months = int(
                labeled.select(month.n_unique().alias("m")).collect(backend="polars").item() or 0
            )
        return self._months

    def reference(self, window: Any = None, months: int = 3) -> tuple[str, str]:
        """The months whose labels calibrate the scores for an estimate, as ``(start,
        end)`` with the end excluded: ``window`` (``"2026-06..2026-08"``), else the
        ``months`` months before the period.

        Examples
        --------
        >>> a = Audit.__new__(Audit)
        >>> a.period = Window.parse("2026-11")
        >>> a.reference(), a.reference("2026-01..2026-03")
        (('2026-08', '2026-11'), ('2026-01', '2026-04'))
        """
        if window is not None:
            given = Window.parse(window)
            return str(given.first), str(given.last.next())
        return str(self.period.first.shift(-months)), str(self.period.first)

    def estimate(
        self, metric: str, *, every: str = "1mo", by: Any = None, reference: Any = None
    ) -> tuple[Any, Any]:
        """The estimate from the scores of the periods not yet labeled, or why there is none.

        Returns ``(estimate, None)``, or ``(None, line)`` where ``line`` says in the
        readers' words what is missing: a score, a metric a score can estimate, or labeled
        months to calibrate the scores on (:meth:`reference`).
        """
        from aidebt.errors import AidebtError
        from aidebt.estimate import estimable, estimate
        from aidebt.report.kernel import markdown

        what = "no estimate of the figures whose labels have not arrived"
        if self.roles["y_score"] is None:
            return None, self.not_shown("y_score", what)
        if metric not in estimable():
            return None, markdown(
                "*Not shown: {what}, because the {metric} cannot be estimated from a score.*",
                what=what,
                metric=self.words.metric(metric),
            )
        start, end = self.reference(reference)
        try:
            found = estimate(
                self.history,
                **self.roles_for(estimate),
                time=self.time,
                reference=(start, end),
                metrics=[metric],
                every=every,
                by=self.columns(by) or None,
            )
        except AidebtError:
            return None, markdown(
                "*Not shown: {what}, because the months from {start} up to {end} have too few "
                "{decisions} with a known {outcome} of each kind to calibrate the scores on. "
                "Set reference in [report.parameters] of audit.toml to months whose "
                "{outcome}s are complete.*",
                what=what,
                start=start,
                end=end,
                decisions=self.words.decisions,
                outcome=self.words.outcome,
            )
        return found, None

    def slices(self, metric: str, columns: Any = None, **options: Any) -> tuple[Any, Any]:
        """The slices of the period where ``metric`` is worse than in the rest
        (:func:`aidebt.slices.slices`, over ``columns``, else every column with few values),
        or why none could be searched: ``(result, None)`` or ``(None, line)``."""
        from aidebt.errors import InvalidValueError
        from aidebt.report.kernel import markdown
        from aidebt.slices import slices

        try:
            found = slices(
                self.frame,
                **self.roles_for(slices),
                metric=metric,
                columns=self.columns(columns) or None,
                min_n=self.min_n or 1,
                **options,
            )
        except InvalidValueError:  # no column has few enough values to slice on
            return None, markdown(
                "*Not shown: no search for slices that fall short, because no attribute has "
                "few enough values to search. Set slice_columns in [report.parameters] of "
                "audit.toml to name the attributes to search.*"
            )
        return found, None

    def fairness(self, columns: Any, **options: Any) -> tuple[Any, Any]:
        """The fairness summaries (:func:`aidebt.fairness.fairness`) of each attribute of
        ``columns`` over the period, without the attribute's groups under ``min_n``.

        Returns ``(result, line)``: ``line`` names the groups left out, with their
        counts (None when none was). Each attribute is summarised on its own rows, so a
        small group of one attribute leaves the others' figures untouched.
        """
        from aidebt.errors import AidebtError
        from aidebt.fairness import Fairness, fairness
        from aidebt.report.kernel import markdown

        parts, left_out, alone = [], {}, []
        for column in self.columns(columns):
            rows, small = self.large_groups(self.frame, column)
            left_out.update({f"{column} {k}": v for k, v in small.items()})
            try:
                parts.append(fairness(rows, **self.roles_for(fairness), by=column, **options))
            except AidebtError:  # fewer than two groups large enough: nothing to compare
                alone.append(column)
        said = []
        if left_out:
            said.append(
                "Not compared, fewer than {n:,} {decisions} with a known {outcome}: {listed}."
            )
        if alone:
            said.append("Fewer than two groups large enough to compare by {alone}.")
        line = (
            markdown(
                " ".join(said),
                n=self.min_n,
                decisions=self.words.decisions,
                outcome=self.words.outcome,
                listed=", ".join(f"{k} ({v:,.0f})" for k, v in left_out.items()),
                alone=", ".join(alone),
            )
            if said
            else None
        )
        return (Fairness.combine(parts) if parts else None), line

    def feedback(
        self,
        events: Any = None,
        ratings: Any = None,
        *,
        interaction: str | None = None,
        event: str | None = None,
        rating: str | None = None,
        positive: Any = None,
        scale: Any = None,
        rules: Any = None,
        adjust_for: Any = None,
    ) -> tuple[Any, Any]:
        """What users did and said about the period's decisions
        (:func:`aidebt.feedback.feedback`), or why it is not shown.

        ``events`` (an event log: the decision's key ``interaction``, the time, ``event``)
        gives the implicit label under ``rules``; ``ratings`` (the key and ``rating``) the
        explicit one, positive when it meets ``positive`` (``">3"``, or the positive
        values). With the demo log and neither given, the demo's own. Returns
        ``(result, None)`` or ``(None, line)``.
        """
        from aidebt.feedback import DEFAULT_RULES, feedback, feedback_inputs
        from aidebt.frames import load, load_month

        what = f"no figures from what users did or said after each {self.words.decision}"
        if events is None and ratings is None and not self.demo:
            return None, self.not_shown("events_data", what)
        if interaction is None and not self.demo:
            return None, self.not_shown("interaction", what)
        source = None if self.demo and events is None and ratings is None else self.source
        given = {
            "interaction": interaction or "ticket_id",
            "event": event or "event",
            "rating": rating or "rating",
        }
        inputs = feedback_inputs(
            source,
            events=None if events is None else load(events),
            ratings=None if ratings is None else load(ratings),
            time=self.time,
            rules=DEFAULT_RULES if rules is None else rules,
            positive=positive,
            scale=scale,
            gold=self._given["y_true"],
            adjust_for=frames.as_list(adjust_for),
            **given,
        )
        if inputs.implicit is None and inputs.explicit is None:
            return None, self.not_shown("events_data", what)
        frame = load_month(inputs.frame, self.period, self.time)
        return feedback(frame, **inputs.roles, weight=self._raw_weight), None

    @property
    def first_month(self) -> Month:
        return self.period.first

    def not_shown(self, parameter: str, what: str) -> Any:
        """One line for a section whose input is absent (:func:`not_shown`).

        Examples
        --------
        >>> Audit.not_shown(None, "version", "no comparison between versions").data
        '*Not shown: no comparison between versions, because no version column was given. Set version in [data] of audit.toml to show it.*'
        """
        return not_shown(parameter, what)

    def __repr__(self) -> str:
        return f"Audit(period={self.period}, roles={self.roles})"


# --------------------------------------------------------------------------------------
# Headlines and the tables of the newer analyses, in the readers' words
# --------------------------------------------------------------------------------------
def headline(result: Any, name: str, *, words: Words | None = None, **kwargs: Any) -> Any:
    """A result's headline as one escaped sentence, its figures recorded in the manifest.

    ``result.headline(**kwargs)`` gives the sentence and the key figures; each figure is
    recorded as ``name`` + ``_`` + its key (its key alone when it starts so already). With ``words``, a headline that names a metric
    (``metric_names=``) names it in the team's words.

    Examples
    --------
    >>> from aidebt.results import Headline
    >>> class R:
    ...     def headline(self):
    ...         return Headline("2 <slices> fall short.", {})
    >>> headline(R(), "slices").data
    '2 &lt;slices&gt; fall short.'
    """
    import inspect

    from aidebt.report.kernel import markdown, record

    accepts = inspect.signature(result.headline).parameters
    if words is not None and "metric_names" in accepts:
        kwargs.setdefault("metric_names", words.metric_names())
    said = result.headline(**kwargs)
    for key, value in said.figures.items():
        record(key if key.startswith(f"{name}_") else f"{name}_{key}", value)
    return markdown("{sentence}", sentence=said.sentence)


# The rate each fairness gap compares, as a registry metric (its reader's name from Words).
_FAIRNESS_GAPS = {
    "demographic_parity_difference": "selection_rate",
    "equal_opportunity_difference": "tpr",
    "fpr_difference": "fpr",
}
_VERDICTS = {
    "meets": "met",
    "fails": "not met",
    "inconclusive": "cannot tell yet",
    "undefined": "cannot be judged",
}


def clocks_table(clocks: Any) -> Any:
    """The debt clocks (:class:`aidebt.lifecycle.Clocks`) as the table a reader reads: each
    clock, what it times, since when, its deadline, the days left, its status and the share
    of traffic it touches."""
    from aidebt.report.kernel import table

    return table(
        clocks.table,
        columns={
            "clock": "clock",
            "item": "what",
            "since": "since",
            "deadline": "deadline",
            "days_left": ("days left", "count"),
            "status": "status",
            "traffic_share": ("share of traffic", "pct"),
        },
    )


def fairness_tables(result: Any, words: Words | None = None) -> list[Any]:
    """The fairness summaries (:class:`aidebt.fairness.Fairness`) as tables a reader reads.

    First the four-fifths rule per attribute (the lowest share flagged against the
    highest, judged on the interval of their ratio), then, per attribute, the largest gap
    in each rate between two groups with its interval and the two groups, and, where a
    score was given, how far each group's scores are from its observed rate (the expected
    calibration error, in points).
    """
    import polars as pl

    from aidebt.report.kernel import table

    words = words or Words()
    rule = result.four_fifths.with_columns(
        pl.col("verdict").replace_strict(_VERDICTS, default=pl.col("verdict"))
    )
    out = [
        table(
            rule,
            columns={
                "attribute": "attribute",
                "verdict": "four-fifths rule",
                "ratio": (f"lowest {words.metric('selection_rate')} against highest", "pct"),
                ("ci_low", "ci_high"): ("95% interval", "pct"),
                "lowest_group": "lowest",
                "highest_group": "highest",
            },
        )
    ]
    gaps = result.table.filter(pl.col("summary").is_in(list(_FAIRNESS_GAPS))).with_columns(
        pl.col("summary")
        .replace_strict({k: words.metric(m) for k, m in _FAIRNESS_GAPS.items()})
        .alias("rate_words")
    )
    out.append(
        table(
            gaps,
            columns={
                "attribute": "attribute",
                "rate_words": "gap in",
                "value": ("gap (points)", "points"),
                ("ci_low", "ci_high"): ("95% interval (points)", "points"),
                "max_group": "highest",
                "min_group": "lowest",
            },
        )
    )
    try:
        calibration = result.calibration
    except InvalidArgumentError:  # no score: no calibration
        calibration = None
    if calibration is not None:
        out.append(
            table(
                calibration,
                columns={
                    "attribute": "attribute",
                    "group": "group",
                    "mean_score": ("mean score", "pct"),
                    "observed": ("observed rate", "pct"),
                    "ece": ("calibration error (points)", "points"),
                    ("ece_ci_low", "ece_ci_high"): ("95% interval (points)", "points"),
                    "miscalibrated": ("miscalibrated", "yes/no"),
                },
            )
        )
    return out


def not_shown(parameter: str, what: str) -> Any:
    """One line for a section whose input is absent: what it would show, what enables it.

    Examples
    --------
    >>> not_shown("versions_item", "no list of the items the change broke").data
    '*Not shown: no list of the items the change broke, because no item column was given. Set versions_item in [report.parameters] of audit.toml to show it.*'
    """
    from IPython.display import Markdown

    from aidebt.report.schema import CONFIG_KEYS

    missing = _MISSING.get(parameter, f"{parameter} was not given")
    if parameter == "config":
        how = "Render with --config and a policy that has [gates] stages to show it"
    elif parameter in CONFIG_KEYS:
        how = f"Set {CONFIG_KEYS[parameter]} in [data] of audit.toml to show it"
    else:
        how = f"Set {parameter} in [report.parameters] of audit.toml to show it"
    return Markdown(f"*Not shown: {what}, because {missing}. {how}.*")


def readable(frame: Any, words: Words) -> Any:
    """``frame`` (any engine) with its columns under the names sentences use
    (:meth:`Words.column`: ``[report] names``, else underscores read as spaces), lazily;
    a rename that would take another column's name is not made. A result computed on it
    speaks the reader's words; pass ``words.column(name)`` where a column is named.

    Examples
    --------
    >>> import polars as pl
    >>> readable(pl.DataFrame({"input_tokens": [1], "model": ["m"]}), Words()).columns
    ['input tokens', 'model']
    """
    schema = frames.columns(frames.to_lazy(frame))
    mapping: dict[str, str] = {}
    for column in schema:
        new = words.column(column)
        if new != column and new not in schema and new not in mapping.values():
            mapping[column] = new
    return nw.from_native(frame).rename(mapping).to_native() if mapping else frame
