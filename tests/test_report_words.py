"""The readers' words in the sentences the reports build from them: outcomes written as
nouns ("fraud") or as verb phrases ("did not reoffend") both read as English."""

from __future__ import annotations

import pytest

from aidebt.report.words import Words

RISK = Words(
    decision="risk rating",
    outcome="two-year outcome",
    positive="reoffended",
    negative="did not reoffend",
    flagged="rated medium or high risk",
)


@pytest.mark.parametrize("metric", ["prevalence", "tpr", "fpr", "fnr", "tnr", "precision", "npv"])
@pytest.mark.parametrize(
    "words",
    [RISK, Words(positive="fraud"), Words(positive="churned"), Words(positive="did reoffend")],
)
def test_an_outcome_never_reads_was_and_a_verb(words, metric):
    said = f"{words.explain(metric)} {words.counted(metric)}"
    for verb in ("did", "does", "was", "is", "has"):
        assert f"was {verb} " not in said and f"was *{verb} " not in said, said
    assert "predicted did" not in said


def test_a_noun_outcome_follows_was_and_a_verb_phrase_follows_that():
    assert Words(outcome="review", positive="resolved").counted("fnr") == (
        "cases whose review was resolved"
    )
    assert Words(positive="fraud").counted("fpr") == "cases whose outcome was not fraud"
    assert RISK.counted("fpr") == "cases that did not reoffend"
    assert RISK.counted("fnr") == "cases whose two-year outcome was reoffended"
    assert "of the cases that *did not reoffend*, the share rated" in RISK.explain("fpr")


def test_the_defaults_of_a_verb_phrase_outcome_are_verb_phrases():
    words = Words(positive="was readmitted")
    assert (words.negative, words.flagged) == ("was not readmitted", "predicted to be readmitted")
    assert words.counted("fnr") == "cases that were readmitted"  # "cases" are many
    assert Words(positive="did reoffend").negative == "did not reoffend"
    assert Words(positive="churned").negative == "not churned"
