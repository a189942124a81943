"""The version_check and benchmark_gap notebooks render on the demo's version runs and
published figures (what `aidebt demo` writes and passes), and their pages state the
planted findings in the readers' words."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _text(page: Path) -> str:
    raw = re.sub(r"<(script|style).*?</\1>", " ", page.read_text(), flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", raw)))


@pytest.fixture(scope="module")
def pages(demo_reports) -> dict[str, str]:
    """The two pages of the demo's render (tests/conftest.py: the demo's version runs and
    published figures, their columns from examples/audit.toml, the change gates of
    examples/versions.toml), rendered once for the session."""
    published = {p.name: p.html for p in demo_reports.published}
    return {name: _text(published[name]) for name in ("version_check", "benchmark_gap")}


def test_version_check_shows_the_paired_table_flips_costs_and_gates(pages):
    page = pages["version_check"]
    assert "v2 and v1 were both run on 6,000 items" in page
    assert "But in Task: extraction, v2 is worse on accuracy" in page
    assert "extraction en broken" in page  # the flips table, worst segment first
    assert "candidate's answer" in page and "95th percentile of latency in ms" in page
    assert "model_version" not in page.split("How this report was made")[0]
    assert "95th percentile of latency in ms: v2 6,921 vs v1 6,083 on the same items: +838" in page
    assert (
        "Mean of latency in ms: v2 2,313 vs v1 2,335 on the same items: no clear difference" in page
    )
    assert "candidate fails: accuracy of v2 vs v1 in Task: extraction" in page
    assert "candidate fails: p95_latency_ms of v2 vs v1 overall changes by +13.8%" in page


def test_benchmark_gap_shows_published_against_internal_and_the_effective_length(pages):
    page = pages["benchmark_gap"]
    assert "m1 on long_context_qa: published 83%" in page
    assert "19 points lower than published" in page
    assert "Accuracy for Model version: m1 falls to 85% of its level at the start" in page
    assert "Accuracy for Model version: m2 does not show where it falls" in page
    assert "input tokens" in page and "level on the shortest inputs" in page
