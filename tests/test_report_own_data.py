"""Reports on any team's log (issue 12): the user's columns, words and periods, checked
before any kernel starts; notebooks that do not apply skipped with their reason; every
report readable on the demo and on a differently shaped data set."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import polars as pl
import pytest
from recidivism import recidivism

from aidebt import datasets
from aidebt.errors import ColumnNotFoundError, ColumnTypeError, InvalidArgumentError
from aidebt.report import plan
from aidebt.report.notebooks import inspect_parameters, list_notebooks, parse_value

ROOT = Path(__file__).resolve().parents[1]

# Words only the demo's story uses: none may remain in a stock notebook.
DEMO_WORDS = re.compile(
    r"\b(ticket|customer|prompt|v1|v2|intent|language|tier|region|channel|support|"
    r"enterprise|account_recovery|japanese)\b",
    re.IGNORECASE,
)


class Rendered:
    """What a faked render returns: nothing published, nothing skipped."""

    published: list = []
    skipped: list = []
    index = None


# --------------------------------------------------------------------------------------
# The notebooks carry no demo
# --------------------------------------------------------------------------------------
# The registry's own vocabulary (its [prompts] table): the debt clocks, in their report and in
# the monthly audit's clocks section, speak of prompts.
OWN_WORDS = {"debt_clocks": {"prompt"}, "monthly_audit": {"prompt"}}


def test_no_demo_column_or_sentence_remains_in_a_stock_notebook():
    for path in list_notebooks():
        nb = nbformat.read(path, as_version=4)
        allowed = OWN_WORDS.get(path.stem, set())
        for cell in nb.cells:
            found = [w for w in DEMO_WORDS.findall(cell.source) if w.lower() not in allowed]
            assert not found, f"{path.name}: {found} in {cell.source[:80]!r}"
        for param in inspect_parameters(path).values():
            if param.column_of is not None:
                assert param.default is None, f"{path.name}: {param.name} = {param.default!r}"


def test_column_parameters_are_tagged_for_the_checks():
    params = inspect_parameters(ROOT / "notebooks" / "simpson_check.ipynb")
    assert params["version"].needed and params["version"].column_of == "data"
    assert params["segments"].column_of == "data" and not params["segments"].needed
    assert params["y_score"].description.startswith("a confidence score")
    labels = inspect_parameters(ROOT / "notebooks" / "label_audit.ipynb")
    assert labels["rater"].column_of == "label_data" and labels["label_data"].needed


@pytest.mark.parametrize("text", ["None", "null", "~", "", "none"])
def test_none_null_and_tilde_mean_not_given(text):
    assert parse_value(text) is None


def test_minus_p_none_reaches_the_run_as_not_given(capsys, monkeypatch, people_config):
    from aidebt.cli import main

    seen = {}

    monkeypatch.setattr("aidebt.report.render", lambda *a, **kw: seen.update(kw) or Rendered())
    code = main(
        ["report", "--config", str(people_config), "--month", "2014-12"]
        + ["-p", "y_score", "None", "-p", "weight", "~", "-p", "version", "null"]
    )
    assert code == 0
    assert seen["parameters"] == {"y_score": None, "weight": None, "version": None}


# --------------------------------------------------------------------------------------
# Checks before any kernel starts
# --------------------------------------------------------------------------------------
def test_a_wrong_column_costs_under_3_seconds_and_starts_no_kernel(people_config, tmp_path):
    """The CLI, in a fresh interpreter: the error, its exit code, its time, and that nothing
    that runs notebooks was imported. The clock starts after numpy and polars are imported
    (a second or more on this shared machine under load, the fixed cost of any Python data
    tool) and includes aidebt's own imports, the config, the notebooks and the schema."""
    script = textwrap.dedent(
        f"""
        import sys, time
        import numpy, polars, narwhals
        start = time.perf_counter()
        from aidebt.cli import main
        code = main(["report", "all", "--config", {str(people_config)!r}, "--month",
                     "2014-12", "-p", "segments", "[race, sexx]", "--out", {str(tmp_path)!r}])
        took = time.perf_counter() - start
        loaded = [m for m in ("papermill", "nbconvert", "jupyter_client") if m in sys.modules]
        print(code, round(took, 3), loaded, file=sys.stderr)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    *message, summary = done.stderr.strip().splitlines()
    code, took, loaded = summary.split(" ", 2)
    assert code == "2" and loaded == "[]"
    assert float(took) < 3.0, f"a wrong column took {took} s"
    text = "\n".join(message)
    assert "column 'sexx' (parameter segments) is not in the data (people.csv)" in text
    assert "Did you mean 'sex'?" in text
    assert list(tmp_path.iterdir()) == []  # nothing published, not even a folder


def test_a_text_time_column_and_text_labels_are_refused_before_any_kernel(tmp_path):
    people = recidivism(months=3, per_month=40)
    path = tmp_path / "people.parquet"
    people.with_columns(pl.col("screening_date").cast(pl.String)).write_parquet(path)
    common = {"segments": ["race"], "pos_label": "Yes"}
    roles = {"time": "screening_date", "y_true": "two_year_recid", "y_pred": "high_risk"}
    with pytest.raises(ColumnTypeError, match="'screening_date' \\(parameter time\\) holds"):
        plan("subgroup_audit", month="2013-03", data=path, parameters={**roles, **common})
    people.write_parquet(path)
    with pytest.raises(ColumnTypeError, match="'two_year_recid' \\(parameter y_true\\).*pos_label"):
        plan(
            "subgroup_audit", month="2013-03", data=path, parameters={**roles, "segments": ["race"]}
        )
    with pytest.raises(ColumnNotFoundError, match="Did you mean 'high_risk'"):
        plan(
            "subgroup_audit",
            month="2013-03",
            data=path,
            parameters={**roles, **common, "y_pred": "hi_risk"},
        )


def test_notebooks_that_do_not_apply_are_skipped_unless_named(people_config):
    jobs = {job.name: job for job in plan("all", month="2014-12", config=people_config)}
    assert {n for n, j in jobs.items() if j.skipped is None} == {
        "subgroup_audit",
        "monthly_audit",
        "decay_audit",
    }
    assert jobs["simpson_check"].skipped.startswith("needs version (the version column")
    assert "set version in [data] of audit.toml" in jobs["simpson_check"].skipped
    assert "eval_data" in jobs["golden_set_audit"].skipped
    assert "label_data" in jobs["label_audit"].skipped
    for name, needs in NEWER_NOTEBOOKS.items():
        assert jobs[name].skipped.startswith(f"needs {needs} ("), (name, jobs[name].skipped)
        assert "\n" not in jobs[name].skipped
    with pytest.raises(InvalidArgumentError, match="'simpson_check' does not apply: needs version"):
        plan("simpson_check", month="2014-12", config=people_config)
    with pytest.raises(InvalidArgumentError, match="'debt_clocks' does not apply: needs registry"):
        plan("debt_clocks", month="2014-12", config=people_config)


# The notebooks of issues 13, 16 and 17 and the first input each needs.
NEWER_NOTEBOOKS = {
    "version_check": "versions_data",
    "benchmark_gap": "published_data",
    "feedback_audit": "events_data",
    "debt_clocks": "registry",
    "feature_retirement": "usage_data",
}


def test_a_wrong_column_of_a_companion_table_is_refused_before_any_kernel(people_config):
    """A usage log given with a misspelled user column: refused at the plan, in a
    second, with a did-you-mean, whatever else the run would render."""
    import time

    usage = people_config.parent / "usage.csv"
    datasets.demo_usage(n_users=50, weeks=4).write_csv(usage)
    given = {
        "usage_data": str(usage),
        "usage_user": "user",
        "usage_time": "ts",
        "usage_feature": "used_ai",
    }
    start = time.perf_counter()
    with pytest.raises(ColumnNotFoundError) as caught:
        plan("all", month="2014-12", config=people_config, parameters=given)
    assert time.perf_counter() - start < 3.0
    assert "column 'user' (parameter usage_user) is not in usage_data (usage.csv)" in str(
        caught.value
    )
    assert "Did you mean 'user_id'?" in str(caught.value)
    jobs = plan(
        "all", month="2014-12", config=people_config, parameters={**given, "usage_user": "user_id"}
    )
    assert {j.name for j in jobs if j.skipped is None} >= {"feature_retirement"}


def test_the_config_brings_the_words_and_the_notebook_parameters(people_config):
    (job,) = plan("subgroup_audit", month="2014-12", config=people_config)
    p = job.parameters
    assert p["decision"] == "risk rating" and p["positive"] == "reoffended"
    assert p["names"] == {"age_cat": "age group", "c_charge_degree": "charge degree"}
    assert p["pos_label"] == "Yes" and p["time"] == "screening_date"


def test_an_unknown_column_in_report_parameters_is_caught(people_config, tmp_path):
    config = tmp_path / "audit.toml"
    text = people_config.read_text().replace(
        'path = "people.csv"', f'path = "{people_config.parent / "people.csv"}"'
    )
    config.write_text(text.replace('pos_label = "Yes"', 'pos_label = "Yes"\ndecay_by = "agecat"'))
    with pytest.raises(ColumnNotFoundError, match="'agecat' \\(parameter decay_by\\).*'age_cat'"):
        plan("decay_audit", month="2014-12", config=config)


# --------------------------------------------------------------------------------------
# Any window
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "folder"),
    [
        ("latest", "2026-11"),
        ("all", "2026-10..2026-11"),
        ("2026-Q4", "2026-Q4"),
        ("2026-10..2026-12", "2026-Q4"),
        ("2026", "2026"),
        ("2026-11", "2026-11"),
    ],
)
def test_any_period_names_its_folder(test_notebooks, small_log, given, folder):
    (job,) = plan("chart", month=given, data=small_log, notebooks_dir=test_notebooks)
    assert str(job.period) == folder == job.parameters["month"]
    assert job.inputs["data"]["month"] == folder


def test_a_period_without_rows_says_what_the_data_covers(test_notebooks, small_log):
    from aidebt.errors import InvalidValueError

    with pytest.raises(InvalidValueError, match="no rows for quarter 2027-Q1.*2026-10 to 2026-11"):
        plan("chart", month="2027-Q1", data=small_log, notebooks_dir=test_notebooks)


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--month", "latest", "latest"),
        ("--period", "2026-Q3", "2026-Q3"),
        ("--period", "all", "all"),
        ("--window", "2025-01..2026-06", "2025-01..2026-06"),
    ],
)
def test_the_cli_takes_any_period(monkeypatch, option, value, expected, small_log):
    from aidebt.cli import main

    seen = {}

    monkeypatch.setattr("aidebt.report.render", lambda *a, **kw: seen.update(kw) or Rendered())
    assert main(["report", "--data", str(small_log), option, value]) == 0
    assert str(seen["month"]) == expected


def test_a_window_must_be_a_run_of_months(capsys, small_log):
    from aidebt.cli import main

    assert main(["report", "--data", str(small_log), "--window", "2026-11"]) == 2
    assert "--window must be two months joined by '..'" in capsys.readouterr().err
    assert main(["report", "--data", str(small_log), "--window", "2026-11..2026-01"]) == 2
    assert "ends before it starts" in capsys.readouterr().err


def test_a_window_is_stored_indexed_and_never_overwritten(
    tmp_path, small_log, test_notebooks, monkeypatch
):
    """The store keys revisions by the period's folder; the index lists it by its end."""
    from record import check_record, install_fake_kernel, render_fake

    install_fake_kernel(monkeypatch)
    out = tmp_path / "reports"
    first = render_fake(out, small_log, test_notebooks, month="all")
    again = render_fake(out, small_log, test_notebooks, month="2026-10..2026-11")
    render_fake(out, small_log, test_notebooks, month="2026-11")
    assert str(first.month) == "2026-10..2026-11" == str(again.month)
    assert [p.revision for p in (*first.published, *again.published)] == [1, 2]
    folder = out / "2026-10..2026-11"
    assert (folder / "chart.html").is_file() and (folder / "chart.r2.html").is_file()
    assert check_record(out) == []
    index = (out / "index.html").read_text()
    assert index.index("2026-11<") < index.index("2026-10..2026-11<")
    page = (folder / "chart.html").read_text()
    assert "period <strong>2026-10..2026-11</strong>" in page


# --------------------------------------------------------------------------------------
# Both data sets, rendered (slow)
# --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_people_renders_what_applies_and_skips_the_rest(people_reports):
    assert [str(f) for f in people_reports.failed] == []
    assert {p.name for p in people_reports.published} == {
        "subgroup_audit",
        "monthly_audit",
        "decay_audit",
    }
    assert {s.name for s in people_reports.skipped} == {
        "simpson_check",
        "golden_set_audit",
        "label_audit",
        *NEWER_NOTEBOOKS,
    }
    monthly = next(p for p in people_reports.published if p.name == "monthly_audit")
    page = monthly.html.read_text()
    assert "Not shown: no comparison between versions, because no version column was given" in page
    assert "Not shown: no golden-set figures, because no golden set was given" in page
    assert "Not shown: the ranking quality of a score (AUC), because no score column" in page
    assert "Monthly audit · Risk assessment" in page
    subgroup = next(p for p in people_reports.published if p.name == "subgroup_audit")
    text = subgroup.html.read_text()
    assert "risk ratings" in text and "reoffended" in text and "By age group" in text
    assert "False-alarm rate for Race: African-American is" in text


@pytest.mark.slow
def test_the_demo_renders_every_report_in_the_words_of_its_config(demo_reports):
    assert [str(f) for f in demo_reports.failed] == []
    assert {p.name for p in demo_reports.published} == {p.stem for p in list_notebooks()}
    assert demo_reports.skipped == []
    subgroup = next(p for p in demo_reports.published if p.name == "subgroup_audit")
    text = subgroup.html.read_text()
    assert "Does the support assistant work equally well" in text
    assert "By customer tier" in text  # [report] names


@pytest.mark.slow
def test_people_monthly_audit_says_what_would_enable_the_newer_sections(people_reports):
    """Issues 13-15, 20: a section without its input is one line naming what enables it."""
    monthly = next(p for p in people_reports.published if p.name == "monthly_audit")
    page = monthly.html.read_text()
    for missing in (
        "Not shown: no calibration by group, because no score column was given",
        "Not shown: no estimate of the figures whose labels have not arrived, because no "
        "score column was given",
        "Not shown: no label-quality figures, because no label table was given. Set "
        "label_data in [report.parameters] of audit.toml to show it.",
        "Not shown: no figures from what users did or said after each risk rating, because no "
        "event log and no ratings were given. Set events_data in [report.parameters]",
    ):
        assert missing in page, missing
    assert "Not compared, fewer than 30 risk ratings with a known two-year outcome" in page
    assert "No slice of up to 2 conditions has a worse error rate than the rest" in page
    assert "The four-fifths rule is not met by" in page


@pytest.mark.slow
def test_the_demo_reports_lead_with_the_newer_analyses(demo_reports):
    """Slices, fairness, the estimate of the unlabeled tail, the golden set's refresh, the
    labels' quality, the version check and the debt clocks each headline the monthly audit
    (issues 14, 15, 16, 17, 18, 20, 21)."""
    pages = {p.name: p for p in demo_reports.published}
    monthly = pages["monthly_audit"].html.read_text()
    for headline in (
        "other slice fall short: error rate",  # the discovered slices
        "The four-fifths rule is",  # the fairness summaries
        "calibration error (points)",  # calibration by group, the demo has a score
        "Estimated accuracy for 2026-03",  # the estimate, labeled as one
        "not a measurement; the 1,313 rows already labeled show",
        "items to restore the golden set",  # the refresh plan
        "agrees with expert",  # the label sources against gold
        "shared items: accuracy",  # the version check, paired on the eval items
        "published figures differ from the team's own eval",  # the benchmark gap
        "No clock needs attention on 2026-03-31",  # the debt clocks (none due in the demo yet)
        "days left",  # and their table
    ):
        assert headline in monthly, headline
    assert monthly.index("Where it falls short") < monthly.index("Fairness across groups")
    figures = json.loads(pages["monthly_audit"].manifest.read_text())["reports"]
    figures = next(e for e in figures if e["notebook"] == "monthly_audit")["key_figures"]
    assert figures["slices_found"] >= 1 and figures["estimate_metric"] == "accuracy"
    assert "labels_judge_accuracy" in figures and "refresh_labels" in figures
    subgroup = pages["subgroup_audit"].html.read_text()
    assert subgroup.index("fall short: error rate") < subgroup.index("By customer tier")
    assert "Calibration by group" in subgroup and "The four-fifths rule is" in subgroup
    decay = pages["decay_audit"].html.read_text()
    assert "The weeks not yet reviewed" in decay and "Estimated accuracy for 2026-03-30" in decay
    golden = pages["golden_set_audit"].html.read_text()
    assert golden.rstrip().count("to restore the golden set") == 1


@pytest.mark.slow
def test_two_years_of_300_rows_a_month_audited_as_a_whole(people_config, tmp_path):
    from aidebt.report import render

    result = render(
        "subgroup_audit", month="all", config=people_config, out=tmp_path, progress=False
    )
    (page,) = result.published
    assert page.html.parent.name == "2013-01..2014-12"
    text = page.html.read_text()
    assert "January 2013 to December 2014" in text
    assert "7,200 risk ratings with a known two-year outcome" in text
    entry = json.loads(page.manifest.read_text())["reports"][0]
    assert entry["inputs"]["data"]["month_rows"] == 7_200


# --------------------------------------------------------------------------------------
# Short histories (issue 19, item 15)
# --------------------------------------------------------------------------------------
def _short_log(months: int, jump: bool = False) -> pl.DataFrame:
    """The demo on ``months`` months; with ``jump``, its last month's decisions flipped at
    random for 30% of rows, a change point with too few months after it for a trend."""
    import numpy as np

    log = datasets.demo(n_per_month=1_500, months=months).with_row_index("ticket_id")
    if jump:
        rng = np.random.default_rng(0)
        last = log["ts"].dt.month() == log["ts"].max().month
        flip = pl.Series(rng.random(log.height) < 0.3) & last
        log = log.with_columns(
            y_pred=pl.when(flip).then(1 - pl.col("y_pred")).otherwise(pl.col("y_pred"))
        )
    return log


@pytest.mark.slow
@pytest.mark.parametrize(("months", "jump"), [(1, False), (2, False), (3, False), (4, True)])
def test_every_stock_notebook_renders_on_a_short_history(demo_config, tmp_path, months, jump):
    from aidebt.report import latest_month, render

    log = _short_log(months, jump)
    path = tmp_path / "production.parquet"
    log.write_parquet(path)
    # The notebooks that read the log's history (the feedback audit and the debt clocks
    # only on the shortest: each render costs seconds).
    names = [p.stem for p in list_notebooks() if "data" in inspect_parameters(p)]
    if months > 1:
        names = [n for n in names if n not in ("feedback_audit", "debt_clocks")]
    result = render(
        names,
        month=latest_month(log, "ts"),
        config=demo_config,
        data=path,
        out=tmp_path / "reports",
        progress=False,
        raise_on_failure=False,
    )
    assert [str(f) for f in result.failed] == []
    assert {p.name for p in result.published} == set(names)
    decay = next(p for p in result.published if p.name == "decay_audit").html.read_text()
    monthly = next(p for p in result.published if p.name == "monthly_audit").html.read_text()
    if months < 3:
        assert "Too early for a trend: the log has" in decay
        assert f"Not shown yet: {months} month(s) of data with a known review" in monthly
    if months < 2:
        assert "Not shown yet: a change of mix needs at least two months." in decay
    if jump:
        assert "No trend yet: too few periods with a known outcome." not in decay


def test_with_no_data_a_notebook_takes_the_demos_columns_and_words_from_examples():
    from aidebt.report import demo_parameters

    given = {"y_true": None, "segments": None, "feature": None, "slo": 0.9, "other": None}
    values = demo_parameters(given)
    assert values["y_true"] == "y_true" and values["feature"] == "the support assistant"
    assert values["segments"] == ["region", "language", "tier", "channel"]
    assert "slo" not in values and "other" not in values  # given, or not the demo's


def test_with_no_table_a_notebook_takes_the_demos_companion_tables():
    """Opened in JupyterLab with no input, the newer notebooks run on the demo's tables,
    generated in memory, with their columns from examples/audit.toml."""
    from aidebt.report import demo_parameters

    given = {"versions_data": None, "registry": None, "versions_version": None, "rules": None}
    given |= {"usage_data": None, "usage_user": None, "versions_config": None}
    values = demo_parameters(given)
    assert values["versions_data"].equals(datasets.demo_versions())
    assert values["usage_data"].columns == datasets.demo_usage().columns
    assert values["registry"] == datasets.demo_registry()
    assert values["versions_config"].endswith("versions.toml")
    assert values["versions_version"] == "prompt_version" and values["usage_user"] == "user_id"
    assert values["rules"]["abandon"] == "10m"
    assert "events_data" not in values  # not a parameter of this notebook: not generated


def test_month_points_to_period_for_longer_periods(capsys, small_log):
    from aidebt.cli import main

    assert main(["report", "--data", str(small_log), "--month", "2026-Q3"]) == 2
    assert "use --period or --window" in capsys.readouterr().err
