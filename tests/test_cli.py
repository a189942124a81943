"""The aidebt command line: exit codes, messages, and nothing published on bad input."""

from __future__ import annotations

import pytest

from aidebt.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def report_args(test_notebooks, small_log, tmp_path):
    out = tmp_path / "reports"
    return out, [
        "report",
        "--data",
        str(small_log),
        "--notebooks",
        str(test_notebooks),
        "--out",
        str(out),
        "--no-progress",
    ]


def test_list_shows_notebooks_titles_and_parameters(capsys, test_notebooks):
    code, out, _ = run(capsys, "list", "--notebooks", str(test_notebooks))
    assert code == EXIT_OK
    assert "chart: Chart test report" in out
    assert "    min_n = 0  # groups below this are suppressed" in out
    assert "    note = None  # required: a sentence to print" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["chart", "--month", "2026-11", "-p", "min_m", "3"],
            "unknown parameter 'min_m' for notebook 'chart'. Available: 'data', 'min_n', 'month', 'time'",
        ),
        (["plain", "--month", "2026-11"], "'plain' needs parameter(s) 'note'"),
        (["chart", "--month", "2031-01"], "no rows for month 2031-01"),
        (["chart", "--month", "Nov"], "month must look like YYYY-MM"),
        (["nope", "--month", "2026-11"], "unknown notebook 'nope'"),
    ],
)
def test_bad_input_is_a_clear_message_exit_2_and_nothing_published(
    capsys, report_args, extra, message
):
    out, args = report_args
    code, _, err = run(capsys, *args, *extra)
    assert code == EXIT_USAGE
    assert err.startswith("aidebt: error: ") and message in err
    assert not out.exists()


def test_missing_data_file(capsys, tmp_path, test_notebooks):
    out = tmp_path / "reports"
    code, _, err = run(
        capsys,
        "report",
        "chart",
        "--data",
        str(tmp_path / "gone.parquet"),
        "--month",
        "2026-11",
        "--notebooks",
        str(test_notebooks),
        "--out",
        str(out),
    )
    assert code == EXIT_USAGE and "data file not found" in err and "gone.parquet" in err
    assert not out.exists()


def test_config_errors_and_option_errors_exit_2(capsys, tmp_path):
    config = tmp_path / "audit.toml"
    config.write_text("[data]\npaht = 'x.parquet'\n")
    code, _, err = run(capsys, "report", "--config", str(config), "--month", "2026-11")
    assert code == EXIT_USAGE and "unknown key 'paht'" in err and "'path'" in err
    code, _, err = run(capsys, "report", "--month", "2026-11")  # neither --config nor --data
    assert code == EXIT_USAGE and "one of the arguments --config --data is required" in err
    code, _, err = run(capsys, "report", "--data", "x", "--month", "2026-11", "--min-n", "-3")
    assert code == EXIT_USAGE and "expected a whole number" in err


def test_parameter_values_are_yaml(capsys, report_args, monkeypatch):
    out, args = report_args
    seen = {}
    monkeypatch.setattr("aidebt.report.render", lambda *a, **kw: seen.update(kw) or _Result())
    code, _, _ = run(
        capsys,
        *args,
        "chart",
        "--month",
        "2026-11",
        "-p",
        "segments",
        "[region, tier]",
        "-p",
        "min_n",
        "30",
        "--min-n",
        "5",
    )
    assert code == EXIT_OK
    assert seen["parameters"] == {"segments": ["region", "tier"], "min_n": 30}
    assert seen["min_n"] == 5


class _Result:
    published: list = []
    skipped: list = []
    index = None


@pytest.mark.slow
def test_a_failing_notebook_exits_1_names_the_cell_and_keeps_the_executed_notebook(
    capsys, report_args
):
    out, args = report_args
    code, _, err = run(capsys, *args, "failing", "--month", "2026-11")
    assert code == EXIT_FAILED
    assert "notebook 'failing' failed in cell 4" in err
    assert "ValueError: planted failure for the test" in err
    assert not (out / "2026-11").exists()  # no HTML, no manifest
    (kept,) = (out / "_failed" / "2026-11").glob("failing.*.ipynb")
    assert str(kept) in err
    assert "planted failure" in kept.read_text()


def test_demo_writes_data_renders_the_latest_month_and_prints_the_index(
    capsys, tmp_path, monkeypatch
):
    from aidebt import datasets

    small = {
        "production": datasets.demo(n_per_month=200, months=3),
        "eval": datasets.demo_eval(n=100),
    }

    def write_small(directory):
        directory.mkdir(parents=True, exist_ok=True)
        paths = {k: directory / f"{k}.parquet" for k in small}
        for k, frame in small.items():
            frame.write_parquet(paths[k])
        return paths

    calls = {}

    def fake_render(notebooks, **kw):
        calls.update(kw, notebooks=notebooks)
        index = kw["out"] / "index.html"
        index.parent.mkdir(parents=True)
        index.write_text("")
        return type("R", (), {"published": [], "skipped": [], "index": index})()

    monkeypatch.setattr(datasets, "write_demo", lambda d: write_small(tmp_path / "demo_data"))
    monkeypatch.setattr("aidebt.report.render", fake_render)
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "demo", "--no-progress")
    assert code == EXIT_OK
    assert calls["notebooks"] == "all"
    last = small["production"]["ts"].max()
    assert str(calls["month"]) == f"{last.year:04d}-{last.month:02d}"
    assert calls["data"].name == "production.parquet" and calls["eval_data"].name == "eval.parquet"
    assert out.strip().splitlines()[-1] == str((tmp_path / "reports" / "index.html").resolve())


def test_warnings_are_one_line_messages(capsys, report_args):
    _, args = report_args
    code, _, err = run(
        capsys, *args, "plain", "-p", "note", "x", "--min-n", "5", "--month", "2031-01"
    )
    assert code == EXIT_USAGE
    assert "aidebt: warning: min_n=5 does not apply to plain" in err
    assert "UserWarning" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "--data", "logs.parquet", "--month", "2026-11"],
        ["demo", "--no-progress"],
        ["list"],
    ],
)
def test_report_commands_without_the_extra_say_which_install_fixes_it(
    capsys, monkeypatch, tmp_path, argv
):
    """`pip install aidebt` is the library: rendering needs `aidebt[report]`, and the
    command says so in one line, exit 2, before touching anything."""
    import sys

    monkeypatch.setitem(sys.modules, "papermill", None)  # as if it were not installed
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == EXIT_USAGE and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith(f"aidebt: error: aidebt {argv[0]} ")
    assert "papermill not installed" in line and line.endswith("pip install 'aidebt[report]'")
    assert list(tmp_path.iterdir()) == []  # demo wrote no data
