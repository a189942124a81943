"""What notebooks call: key figures, escaped prose, the kernel setup."""

from __future__ import annotations

import datetime as dt

import nbformat
import numpy as np
import pytest

from aidebt.errors import InvalidArgumentError
from aidebt.report import escape, markdown, record
from aidebt.report.kernel import FIGURE_MIMETYPE, collect_figures, setup


@pytest.fixture
def displayed(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: shown.append(obj))
    return shown


def test_record_emits_a_figure_output_with_plain_json(displayed):
    record("accuracy", np.float64(0.912))
    record("when", dt.date(2026, 11, 30))
    record("groups", {"worst": "ja", "n": np.int64(12)})
    record("nan", float("nan"))
    values = [d[FIGURE_MIMETYPE] for d in displayed]
    assert values == [
        {"name": "accuracy", "value": 0.912},
        {"name": "when", "value": "2026-11-30"},
        {"name": "groups", "value": {"worst": "ja", "n": 12}},
        {"name": "nan", "value": None},
    ]
    assert displayed[0]["text/plain"] == "accuracy = 0.912"


def test_record_refuses_what_json_cannot_hold(displayed):
    with pytest.raises(InvalidArgumentError, match="takes a number"):
        record("table", object())
    with pytest.raises(InvalidArgumentError, match="non-empty name"):
        record("", 1)


def test_collect_figures_reads_them_back_last_one_wins():
    nb = nbformat.v4.new_notebook()
    out = nbformat.v4.new_output
    nb.cells = [
        nbformat.v4.new_code_cell(
            outputs=[
                out("display_data", data={FIGURE_MIMETYPE: {"name": "a", "value": 1}}),
                out("stream", name="stdout", text="x"),
            ]
        ),
        nbformat.v4.new_markdown_cell("text"),
        nbformat.v4.new_code_cell(
            outputs=[
                out("display_data", data={FIGURE_MIMETYPE: {"name": "a", "value": 2}}),
                out("display_data", data={FIGURE_MIMETYPE: {"name": "b", "value": "x"}}),
            ]
        ),
    ]
    assert collect_figures(nb) == {"a": 2, "b": "x"}


def test_markdown_escapes_values_not_the_template():
    md = markdown(
        "**Worst**: {group} at {rate:.1%} ({col})",
        group="<img src=x onerror=alert(1)>",
        rate=0.8123,
        col="free_tier*",
    )
    assert md.data == (
        "**Worst**: &lt;img src=x onerror=alert\\(1\\)&gt; at 81.2% (free\\_tier\\*)"
    )


def test_escape_quotes_and_brackets():
    # Quotes stay quotes (they are harmless in text and would show as &quot; after
    # markdown); brackets and parentheses are escaped so no link can be formed.
    assert escape('"[x](javascript:1)"') == '"\\[x\\]\\(javascript:1\\)"'


def test_setup_makes_altair_emit_the_spec_under_a_json_mimetype():
    import altair as alt
    import polars as pl

    previous = alt.renderers.active
    try:
        setup()
        bundle = alt.Chart(pl.DataFrame({"a": [1]})).mark_point().encode(x="a")._repr_mimebundle_()
        bundle = bundle[0] if isinstance(bundle, tuple) else bundle
        (mimetype,) = [m for m in bundle if m.startswith("application/vnd.vegalite.")]
        assert mimetype.endswith("+json")  # nbformat rejects altair 6's ".v6.json"
        assert bundle[mimetype]["mark"] in ("point", {"type": "point"})
    finally:
        alt.renderers.enable(previous)


def test_key_figures_records_the_overall_row_and_explains_each_metric(displayed):
    import polars as pl

    from aidebt.report import key_figures

    class Result:
        overall = pl.DataFrame(
            {
                "metric": ["count", "fnr"],
                "value": [1200.0, 0.25],
                "ci_low": [None, 0.2],
                "ci_high": [None, 0.3],
                "n": [1200.0, 400.0],
            }
        )

    md = key_figures(Result())
    assert [d[FIGURE_MIMETYPE] for d in displayed] == [
        {"name": "count", "value": 1200},
        {"name": "fnr", "value": 0.25},
    ]
    assert (
        "| **miss rate** | 25.0% | 20.0% to 30.0% | 400 cases whose outcome was positive |"
        in md.data
    )
    assert "| **number of decisions** | 1,200 |  | 1,200 decisions |" in md.data
    from aidebt.report import Words

    worded = key_figures(
        Result(), words=Words(decision="answer", outcome="review", positive="resolved")
    )
    assert "| 400 cases whose review was resolved |" in worded.data
    assert "**number of answers**" in worded.data


# -- issue 19.13: a value cannot make markdown blocks of its own -------------------------

HOSTILE = [
    "ja\n- all groups PASS",
    "ja\r\n\r\n# Verdict: ready",
    "- ja",
    "1. ja",
    "---",
    "===",
    "ja\u2028- PASS",
    "\x1b[31mja",
]


def _html(md: str) -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return markdown2html_mistune(md)


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_value_stays_inside_its_bullet(value):
    from aidebt.report.kernel import bullets

    page = _html(bullets([f"fnr for region={value} is high", "second finding"]).data)
    # before the fix, a newline or a leading marker made more bullets, a list or a heading
    assert page.count("<li>") == 2 and "<ul>" in page and page.count("<ul>") == 1
    assert "<ol>" not in page and "<h1" not in page and "<hr" not in page
    page = _html(bullets([value]).data)
    assert page.count("<li>") == 1 and page.count("<ul>") == 1 and "<ol>" not in page
    assert "\x1b" not in page


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_value_stays_inside_its_sentence(value):
    page = _html(markdown("{group}\n\nThe worst group is **{group}**.", group=value).data)
    assert page.count("<p>") == 2 and "<li>" not in page and "<h1" not in page
    assert "<hr" not in page and "<h2" not in page


def test_escaping_keeps_numbers_and_text_as_they_read():
    page = _html(markdown("{a} {b} {c} {d}", a="-0.5", b="0.93", c="São Paulo", d="1.5x").data)
    assert "<p>-0.5 0.93 São Paulo 1.5x</p>" in page
    assert escape("ja\n- PASS") == "ja\\\\n- PASS"  # shown as the two characters \ and n
    assert _html(escape("ja\n- PASS")) == "<p>ja\\n- PASS</p>\n"


def test_a_dollar_sign_in_a_value_is_not_math():
    """JupyterLab renders $...$ as LaTeX: "$5 plan" and "$10 plan" must read as written."""
    text = escape("$5 plan or $10 plan")
    assert text == "\\$5 plan or \\$10 plan"
    assert _html(markdown("Plans: {p}.", p="$5 plan or $10 plan").data) == (
        "<p>Plans: $5 plan or $10 plan.</p>\n"
    )
