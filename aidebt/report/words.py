"""The words of a report: the team's vocabulary and readable names of metrics and columns.

A report on a support assistant speaks of answers, reviews and resolved tickets; one on a
risk score, of risk ratings and people who reoffended. :class:`Words` holds those words
(``[report]`` in audit.toml, or the notebook parameters of the same names) and writes the
sentences that depend on them. Numbers, intervals and p-values are written by
:mod:`aidebt.prose`, the library's one place for that. Nothing here reads data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aidebt import metrics as mreg
from aidebt.errors import InvalidArgumentError, did_you_mean
from aidebt.prose import and_list, plural, readable_column

DIRECTIONS = ("higher", "lower", "neither")

# Reader names of the registry's metrics; {positive}, {flagged}, {decisions} are filled
# from the vocabulary. Metrics not listed are named after their registry description.
_NAMES = {
    "count": "number of {decisions}",
    "prevalence": "share {positive}",
    "selection_rate": "share {flagged}",
    "accuracy": "accuracy",
    "error_rate": "error rate",
    "tpr": "detection rate",
    "fpr": "false-alarm rate",
    "fnr": "miss rate",
    "tnr": "specificity",
    "precision": "precision",
    "npv": "negative predictive value",
    "fdr": "false discovery rate",
    "for": "false omission rate",
    "f1": "F1 score",
    "mean": "mean outcome",
    "mean_score": "mean score",
    "brier": "Brier score",
    "auc": "ranking quality (AUC)",
}

# What each metric measures, in the vocabulary's words.
_MEANINGS = {
    "count": "how many {decisions} {feature} made",
    "prevalence": "the share of cases {whose_positive}",
    "selection_rate": "the share of all cases {flagged}",
    "accuracy": "how often the {decision} matched the {outcome}",
    "error_rate": "how often the {decision} did not match the {outcome}",
    "tpr": "of the cases {whose_positive}, the share {flagged}",
    "fpr": "of the cases {whose_negative}, the share {flagged} anyway",
    "fnr": "of the cases {whose_positive}, the share not {flagged}",
    "tnr": "of the cases {whose_negative}, the share not {flagged}",
    "precision": "of the cases {flagged}, the share {whose_positive}",
    "npv": "of the cases not {flagged}, the share {whose_negative}",
    "fdr": "of the cases {flagged}, the share {whose_negative}",
    "for": "of the cases not {flagged}, the share {whose_positive}",
    "f1": "a balance of precision and detection rate, from 0 to 1",
    "mean": "the average {outcome}",
    "mean_score": "the average score {feature} gave",
    "brier": "how far the score is from the {outcome}, from 0 (perfect) to 1",
    "auc": (
        "how well the score ranks cases {whose_positive} above the others, "
        "from 0.5 (no better than chance) to 1 (perfect)"
    ),
}

# The first words of a verb phrase ("did not reoffend", "was readmitted"): an outcome
# written so is said "cases that did not reoffend", never "whose outcome was did not
# reoffend"; a noun or an adjective ("fraud", "churned", "resolved") follows "was".
_VERB_OPENERS = frozenset(
    "did didn't does doesn't do don't was wasn't were weren't is isn't are aren't has hasn't "
    "have haven't had hadn't will won't would can could got gets get went never".split()
)
# After "cases that", the plural of a verb phrase's first word.
_PLURAL_VERB = {
    "was": "were",
    "wasn't": "weren't",
    "is": "are",
    "isn't": "aren't",
    "has": "have",
    "hasn't": "haven't",
    "does": "do",
    "doesn't": "don't",
    "gets": "get",
}


def _verb_phrase(label: str) -> tuple[str, str] | None:
    """``(first word, rest)`` of a label that is a verb phrase, else None."""
    first, _, rest = label.strip().partition(" ")
    return (first, rest) if first.lower() in _VERB_OPENERS else None


@dataclass(frozen=True)
class Words:
    """The vocabulary of a report (every field has a neutral default).

    Parameters
    ----------
    feature : str
        Who or what decides: "the support assistant", "the risk score".
    decision : str
        What it produces for one row (``y_pred``): "answer", "risk rating".
    outcome : str
        What says whether it was right (``y_true``): "review", "two-year outcome".
    positive, negative : str
        An outcome of 1 and of 0: "resolved" / "not resolved".
    flagged : str
        A decision of 1: "claimed resolved", "rated medium or high risk".
    good : mapping, optional
        Metric -> "higher", "lower" or "neither": overrides the registry's direction.
    names : mapping, optional
        Column -> how sentences name it; other columns read with spaces for underscores.

    Examples
    --------
    >>> w = Words(decision="risk rating", positive="reoffended", good={"selection_rate": "lower"})
    >>> w.decisions, w.metric("fnr"), w.direction("selection_rate"), w.direction("fnr")
    ('risk ratings', 'miss rate', 'lower', 'lower')
    >>> Words(names={"latency_ms": "latency in ms"}).metric("p95_latency_ms")
    '95th percentile of latency in ms'
    """

    feature: str = "the AI feature"
    decision: str = "decision"
    outcome: str = "outcome"
    positive: str = "positive"
    negative: str = ""
    flagged: str = ""
    good: Mapping[str, str] = field(default_factory=dict)
    names: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key in ("feature", "decision", "outcome", "positive", "negative", "flagged"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, str):
                raise InvalidArgumentError(f"{key} must be a text, got {value!r}.")
        if not self.negative:
            verb = _verb_phrase(self.positive)
            negative = (
                f"{verb[0]} not {verb[1]}".strip()
                if verb
                and verb[0].lower() in {"did", "does", "was", "is", "has", "had", "were"}
                and not verb[1].startswith("not ")
                else f"not {self.positive}"
            )
            object.__setattr__(self, "negative", negative)
        if not self.flagged:
            verb = _verb_phrase(self.positive)
            infinitive = {"did": "to", "does": "to", "was": "to be", "is": "to be"}
            flagged = (
                f"predicted {infinitive[verb[0].lower()]} {verb[1]}"
                if verb and verb[0].lower() in infinitive and verb[1]
                else f"predicted {self.positive}"
            )
            object.__setattr__(self, "flagged", flagged)
        good = {}
        for name, direction in dict(self.good or {}).items():
            if direction not in DIRECTIONS:
                raise InvalidArgumentError(
                    f"good[{name!r}] must be one of {', '.join(map(repr, DIRECTIONS))}, got "
                    f"{direction!r}. {did_you_mean(str(direction), DIRECTIONS)}"
                )
            good[mreg.get(name).name] = direction
        object.__setattr__(self, "good", good)
        object.__setattr__(self, "names", dict(self.names or {}))

    @classmethod
    def of(cls, **values: Any) -> Words:
        """Words from notebook parameters: a None (not given) keeps the default."""
        return cls(**{k: v for k, v in values.items() if v is not None})

    @property
    def decisions(self) -> str:
        return plural(self.decision)

    def whose(self, label: str, mark: str = "") -> str:
        """What the cases with an outcome of ``label`` are, after "cases": 'whose review was
        resolved', or, for a verb phrase, 'that did not reoffend' (``mark`` wraps the label,
        e.g. ``"*"`` for emphasis).

        Examples
        --------
        >>> w = Words(outcome="two-year outcome", positive="reoffended",
        ...           negative="did not reoffend")
        >>> w.whose(w.positive), w.whose(w.negative)
        ('whose two-year outcome was reoffended', 'that did not reoffend')
        >>> v = Words(positive="was readmitted")
        >>> v.negative, v.flagged, v.counted("fpr")
        ('was not readmitted', 'predicted to be readmitted', 'cases that were not readmitted')
        """
        verb = _verb_phrase(label)
        if verb is None:
            return f"whose {self.outcome} was {mark}{label.strip()}{mark}"
        first, rest = verb
        first = _PLURAL_VERB.get(first.lower(), first)
        return f"that {mark}{first}{' ' + rest if rest else ''}{mark}"

    def _fill(self, template: str) -> str:
        return template.format(
            whose_positive=self.whose(self.positive, "*"),
            whose_negative=self.whose(self.negative, "*"),
            feature=self.feature,
            decision=self.decision,
            decisions=self.decisions,
            outcome=self.outcome,
            positive=self.positive,
            negative=self.negative,
            flagged=self.flagged,
        )

    # -- metrics -------------------------------------------------------------------------
    def metric(self, name: str) -> str:
        """The reader's name of a metric: 'miss rate', 'share rated high risk'."""
        try:
            metric = mreg.get(name)
        except InvalidArgumentError:
            return readable_column(name)  # a custom metric
        template = _NAMES.get(metric.name)
        if template is None and metric.column is not None:  # p95_latency_ms: of the column
            return metric.description.replace(metric.column, self.column(metric.column))
        if template is None:
            return metric.description.split(":")[0]
        return self._fill(template)

    def metric_names(self, names: Iterable[str] = mreg.REGISTRY) -> dict[str, str]:
        """``{metric: reader's name}`` for every metric (for a result's ``summary``)."""
        return {name: self.metric(name) for name in names}

    def counted(self, name: str) -> str:
        """What a metric's ``n`` counts, in the team's words: 'answers with a review'.

        Examples
        --------
        >>> Words(decision="answer", outcome="review", positive="resolved").counted("fnr")
        'cases whose review was resolved'
        """
        metric = mreg.REGISTRY.get(name)
        counted = metric.denominator_name if metric is not None else "rows"
        return {
            "rows": self.decisions,
            "labeled rows": f"{self.decisions} with a known {self.outcome}",
            "positives": f"cases {self.whose(self.positive)}",
            "negatives": f"cases {self.whose(self.negative)}",
            "predicted positives": f"cases {self.flagged}",
            "predicted negatives": f"cases not {self.flagged}",
            "rows with a score": f"{self.decisions} with a score",
            "labeled rows with a score": f"{self.decisions} with a score and a known {self.outcome}",
        }.get(counted, counted)

    def direction(self, name: str) -> str:
        """'higher', 'lower' or 'neither': which way the metric is good for this team."""
        metric = mreg.get(name)
        if metric.name in self.good:
            return self.good[metric.name]
        if metric.higher_is_better is None:
            return "neither"
        return "higher" if metric.higher_is_better else "lower"

    def explain(self, name: str) -> str:
        """One line for a "how to read" list: name, meaning, and the good direction."""
        metric = mreg.get(name)
        meaning = self._fill(_MEANINGS.get(metric.name, metric.description))
        good = {
            "higher": "higher is better",
            "lower": "lower is better",
            "neither": "neither direction is good or bad in itself",
        }[self.direction(name)]
        return f"**{self.metric(name)}**: {meaning} ({good})"

    # -- columns and groups -------------------------------------------------------------
    def column(self, name: str | None) -> str | None:
        """How sentences name a column (``names``, else underscores read as spaces); None
        (a column not given) stays None."""
        if name is None:
            return None
        return self.names.get(name) or readable_column(name)

    def columns(self, names: Sequence[str] | str | None) -> list[str]:
        return [self.column(n) for n in _as_list(names)]

    def listing(self, names: Sequence[str] | str | None) -> str:
        """'region, language and tier'."""
        return and_list(self.columns(names))


def _as_list(names: Sequence[str] | str | None) -> list[str]:
    if names is None:
        return []
    return [names] if isinstance(names, str) else list(names)
