"""Every report, on the demo and on a differently shaped data set, reads as prose for a
stakeholder: no Python literal, no code, no raw column name in the text, and nothing wider
than the page (opened offline in headless Chromium at a laptop's width)."""

from __future__ import annotations

import re

import pytest
from browser import read_page

from aidebt import frames

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Python's spellings of nothing and of truth, numpy's not-a-number, library calls and
# attributes: none belongs in a sentence for readers.
LITERALS = re.compile(
    r"(?<![\w-])(True|False|None|nan|NaN|inf)(?![\w-])"  # literals, as words
    r"|\bad\.[a-z_]+|\.table\b|\.summary\(|\bpl\.col\b"  # code
    r"|\d\.\d+e[-+]\d+"  # scientific notation
    r"|\bp ?= ?0(?:\.0*)?(?![.\d])"  # a p-value of exactly zero
    r"|(?<![\w.+-])(?P<end>[-+]?\d[\d.,%-]*) to (?P=end)(?![\w.%])"  # ends that read alike
)


# A group as a table labels it (``language=ja``): sentences say ``Language: ja``.
COLUMN_EQUALS_VALUE = re.compile(r"[A-Za-z_]=[^\s=]")


def snake_columns(config) -> list[str]:
    """The data's column names that a reader would see as code (with an underscore)."""
    from aidebt.config import load_config

    cfg = load_config(config)
    schema = frames.columns(frames.to_lazy(frames.load(cfg.data.path)))
    return [c for c in schema if "_" in c]


def problems(browser, result, columns) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for item in result.published:
        page = read_page(browser, item.html)
        issues = [f"layout: {p}" for p in page.problems]
        for match in COLUMN_EQUALS_VALUE.finditer(page.sentences):
            start = max(0, match.start() - 50)
            issues.append(f"column=value: ...{page.sentences[start : match.end() + 30]!r}")
        for match in LITERALS.finditer(page.prose):
            start = max(0, match.start() - 50)
            issues.append(f"literal: ...{page.prose[start : match.end() + 30]!r}")
        for column in columns:
            for match in re.finditer(rf"(?<![\w.]){re.escape(column)}(?![\w])", page.prose):
                start = max(0, match.start() - 50)
                issues.append(f"column name: ...{page.prose[start : match.end() + 30]!r}")
        if issues:
            found[item.name] = issues
    return found


def report(found: dict[str, list[str]]) -> str:
    return "\n".join(f"{name}: {issue}" for name, issues in found.items() for issue in issues)


def test_the_demo_reports_read_well(browser, demo_reports, demo_config):
    assert demo_reports.published
    found = problems(browser, demo_reports, snake_columns(demo_config))
    assert not found, report(found)


def test_the_reports_on_a_risk_score_log_read_well(browser, people_reports, people_config):
    assert people_reports.published
    found = problems(browser, people_reports, snake_columns(people_config))
    assert not found, report(found)


def test_the_checker_finds_what_it_looks_for(browser, tmp_path):
    """A page with a leaked literal, a raw column name, a group as its table label in a
    sentence, and a table wider than the page (whose group cell may keep the label)."""
    page = tmp_path / "bad.html"
    cells = "".join(f"<td>{'x' * 30}</td>" for _ in range(11)) + "<td>race=Asian</td>"
    page.write_text(
        '<html><body><main class="aidebt-report" style="max-width:600px">'
        "<p>The value is None and the two_year_recid rate is nan; see ad.simpson.</p>"
        "<p>Miss rate for race=Other is 12% (p = 0.01).</p>"
        f"<table><tr>{cells}</tr></table></main></body></html>"
    )
    read = read_page(browser, page)
    assert any("sticks out" in p for p in read.problems)
    assert [m.group(0) for m in COLUMN_EQUALS_VALUE.finditer(read.sentences)] == ["e=O"]
    assert "race=Asian" in read.prose and "race=Asian" not in read.sentences
    assert {m.group(0) for m in LITERALS.finditer(read.prose)} >= {"None", "nan", "ad.simpson"}
    assert "two_year_recid" in read.prose


# --------------------------------------------------------------------------------------
# The readers' words (the defects found reading the rendered reports)
# --------------------------------------------------------------------------------------
# An outcome written as a verb phrase after "was": "whose outcome was did not reoffend".
WAS_A_VERB = re.compile(r"\bwas \*?(did|does|do|is|are|was|were|has|have|had)\b")
# A number with three or more decimals outside an interval that needs them: "72.700".
LONG_DECIMALS = re.compile(r"(?<![\d.])\d[\d,]*\.\d{3,}(?![\d.])")


def pages(browser, result) -> dict[str, str]:
    return {item.name: read_page(browser, item.html).prose for item in result.published}


def slice_lines(prose: str) -> list[str]:
    """The lines that name a slice found worse than the rest (its figure and the rest's)."""
    return [
        line
        for line in prose.splitlines()
        if "in the rest of the data" in line and not line.startswith(("Searched", "No slice"))
    ]


def test_the_risk_score_reports_speak_of_risk_ratings_in_english(browser, people_reports):
    read = pages(browser, people_reports)
    assert {"monthly_audit", "subgroup_audit"} <= set(read)
    for name, prose in read.items():
        assert not re.search(r"\bdecisions\b", prose), (
            name,
            re.findall(r".{60}decisions.{20}", prose),
        )
        assert not WAS_A_VERB.search(prose), (name, WAS_A_VERB.findall(prose))
        assert not [line for line in slice_lines(prose) if "=" in line], name
    assert "cases that did not reoffend" in read["subgroup_audit"]


def test_the_demo_reports_name_slices_metrics_and_shares_in_words(browser, demo_reports):
    read = pages(browser, demo_reports)
    found = [
        line for name in ("monthly_audit", "subgroup_audit") for line in slice_lines(read[name])
    ]
    assert found, "the demo plants slices that fall short"
    assert not [line for line in found if "=" in line], found
    assert re.search(r"^(Intent|Language): \w+", found[0]), found[0]
    versions = read["version_check"]
    assert re.search(r"^Accuracy: v2", versions, re.MULTILINE)
    assert re.search(r"^Mean of latency in ms: v2", versions, re.MULTILINE)
    assert not re.search(r"^(mean|p50|p95)_|worse on (mean|p50|p95)_", versions, re.MULTILINE)
    feedback = read["feedback_audit"]
    assert not LONG_DECIMALS.findall(feedback), LONG_DECIMALS.findall(feedback)
