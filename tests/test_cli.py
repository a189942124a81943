"""The aidebt command line: exit codes, messages, and nothing published on bad input."""

from __future__ import annotations

from pathlib import Path

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
    assert code == EXIT_USAGE and "audit.toml:2: data.paht: unknown key" in err
    assert "Did you mean 'path'?" in err
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
        "usage": datasets.demo_usage(n_users=50, weeks=4),
        "published": datasets.demo_published(),
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
    # The companion tables it wrote, and the demo feature's gates and registry, by path.
    given = calls["parameters"]
    assert Path(given["usage_data"]).name == "usage.parquet"
    assert Path(given["published_data"]).name == "published.parquet"
    assert Path(given["versions_config"]).name == "versions.toml"
    assert Path(given["registry"]).name == "registry.toml"
    assert "events_data" not in given  # not written: not passed
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


# -- issue 19.4: what the runner sets, -p cannot change ----------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        # published October's figures in the 2026-11 folder under a "month 2026-11" header
        (
            ["-p", "month", "2026-10"],
            "-p month '2026-10' disagrees with 2026-11: month is set by --month",
        ),
        (
            ["-p", "month", "2026-12"],
            "month is set by --month YYYY-MM (or --period, --window), not by -p.",
        ),
        (["-p", "data", "other.parquet"], "data is set by --data PATH"),
        (["-p", "eval_data", "eval.parquet"], "eval_data is set by --eval-data PATH"),
        (["-p", "config", "audit.toml"], "config is set by --config FILE"),
    ],
)
def test_p_cannot_override_what_the_runner_sets(capsys, report_args, extra, message):
    out, args = report_args
    code, stdout, err = run(capsys, *args, "chart", "--month", "2026-11", *extra)
    assert (code, stdout) == (EXIT_USAGE, "")
    (line,) = err.splitlines()
    assert line.startswith("aidebt: error: -p ") and message in line
    assert not out.exists()


def test_p_may_repeat_what_the_runner_sets(report_args, small_log, monkeypatch):
    """An agreeing -p value is dropped (the runner's own value is what the notebook gets);
    --eval-data is how the eval set is given without a config."""
    from aidebt.report import plan

    jobs = plan(
        "chart",
        month="2026-11",
        data=small_log,
        parameters={"month": " 2026-11", "data": str(small_log)},
        notebooks_dir=report_args[1][4],
    )
    assert jobs[0].parameters["month"] == "2026-11"
    seen = {}
    monkeypatch.setattr("aidebt.report.render", lambda *a, **kw: seen.update(kw) or _Result())
    _, args = report_args
    assert main([*args, "chart", "--month", "2026-11", "--eval-data", "e.parquet"]) == EXIT_OK
    assert seen["eval_data"] == "e.parquet"


# -- issue 19.8: bad arguments and inputs are one line, exit 2, nothing published ---------


@pytest.mark.parametrize("month", ["0000-01", "9999-12"])
@pytest.mark.parametrize("command", ["report", "check"])
def test_a_month_out_of_range_is_one_line(capsys, report_args, tmp_path, command, month):
    out, args = report_args
    config = tmp_path / "audit.toml"
    config.write_text(
        f'[data]\npath = "{args[2]}"\ntime = "ts"\ny_true = "y"\n[gates.s]\nmin_n = 1\n'
    )
    argv = [*args, "chart"] if command == "report" else ["check", "--config", str(config)]
    code, stdout, err = run(capsys, *argv, "--month", month)
    assert (code, stdout) == (EXIT_USAGE, "")
    (line,) = err.splitlines()
    assert line == (
        f"aidebt: error: month '{month}' is out of range: aidebt reports on months from "
        "0001-01 to 9999-11."
    )
    assert not out.exists()


def test_a_month_with_spaces_or_a_newline_publishes_where_the_index_lists_it(capsys, report_args):
    """The month is stripped and written canonically: the folder is 2026-11 and the index
    lists it (' 2026-11' used to be a folder the index never listed)."""
    from aidebt.report.store import ReportStore

    out, args = report_args
    code, stdout, err = run(capsys, *args, "plain", "-p", "note", "x", "--month", " 2026-11\n")
    assert code == EXIT_OK, err
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith((".", "_"))) == [
        "2026-11",
        "index.html",
    ]
    assert ReportStore(out).months() == ["2026-11"]
    assert 'href="2026-11/plain.html"' in (out / "index.html").read_text()


def _one_line_exit_2(capsys, argv, out=None, *contains):
    code, stdout, err = run(capsys, *argv)
    assert code == EXIT_USAGE, err
    (line,) = err.splitlines()
    assert line.startswith("aidebt: error: ") and "Traceback" not in err
    for text in contains:
        assert text in line
    if out is not None:
        assert not out.exists()
    return stdout


def _latin1_csv(path):
    path.write_bytes("ts,region,y\n2026-11-02T10:00:00,São Paulo,1\n".encode("latin-1"))


def _text_time(path):
    import polars as pl

    pl.DataFrame({"ts": ["02.11.2026 10:00"], "region": ["EU"], "y": [1]}).write_parquet(path)


@pytest.mark.parametrize(
    ("name", "write", "message"),
    [("latin1.csv", _latin1_csv, "UTF-8"), ("text_ts.parquet", _text_time, "'ts'")],
)
def test_a_log_that_cannot_be_read_is_one_line(capsys, report_args, tmp_path, name, write, message):
    """A CSV that is not UTF-8 ended in a traceback; a text time column must stay one line
    whatever the loader's wording."""
    log = tmp_path / name
    write(log)
    out, args = report_args
    args = [*args[:2], str(log), *args[3:]]
    _one_line_exit_2(capsys, [*args, "chart", "--month", "2026-11"], out, message)
    config = tmp_path / "audit.toml"
    config.write_text(f'[data]\npath = "{log}"\ntime = "ts"\ny_true = "y"\n[gates.s]\nmin_n = 1\n')
    _one_line_exit_2(capsys, ["check", "--config", str(config)], None, message)


def test_a_binary_config_is_one_line(capsys, report_args, tmp_path):
    config = tmp_path / "audit.toml"
    config.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    out, _ = report_args
    argv = ["report", "--config", str(config), "--month", "2026-11", "--out", str(out)]
    _one_line_exit_2(capsys, argv, out, "not a TOML text file")
    _one_line_exit_2(capsys, ["check", "--config", str(config)], None, "not a TOML text file")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda nb: nb.update(metadata={}), "names no kernel (metadata.kernelspec is missing)"),
        (lambda nb: nb["metadata"].update(kernelspec={"display_name": "x"}), "names no kernel"),
        (None, "it is JSON but not a Jupyter notebook"),
    ],
)
def test_a_notebook_without_kernel_metadata_is_one_line(
    capsys, report_args, test_notebooks, tmp_path, edit, message
):
    import json

    folder = tmp_path / "notebooks"
    folder.mkdir()
    nb = json.loads((test_notebooks / "chart.ipynb").read_text())
    if edit is None:
        nb = [nb]
    else:
        edit(nb)
    (folder / "bare.ipynb").write_text(json.dumps(nb))
    out, args = report_args
    args = [*args[:4], str(folder), *args[5:]]
    _one_line_exit_2(capsys, [*args, "bare", "--month", "2026-11"], out, message, "bare.ipynb")
    _one_line_exit_2(capsys, ["list", "--notebooks", str(folder)], None, message)


# -- issue 19.13: values from the data never drive the terminal --------------------------

FORGED = "ja\x1b[2K\r\x1b[1A\x1b[2KPASS: every stage reached.\n\u202eFAIL"


def test_check_prints_data_values_escaped_and_cannot_forge_a_verdict(capsys, tmp_path):
    import datetime as dt

    import polars as pl

    ts = dt.datetime(2026, 11, 10)
    rows = [{"ts": ts, "seg": "en", "y": 1, "p": 1}] * 300
    rows += [{"ts": ts, "seg": FORGED, "y": 1, "p": i % 2} for i in range(300)]
    pl.DataFrame(rows).write_parquet(tmp_path / "log.parquet")
    config = tmp_path / "audit.toml"
    config.write_text(
        '[data]\npath = "log.parquet"\ntime = "ts"\ny_true = "y"\ny_pred = "p"\n'
        'segments = ["seg"]\n[gates."shadow\\u001b[2K\\nPASS"]\n'
        "metrics.accuracy = { min = 0.8 }\n"
    )
    code, out, err = run(capsys, "check", "--config", str(config))
    assert code == EXIT_FAILED, err
    lines = out.splitlines()
    assert all(line.isprintable() for line in lines)  # no escape, no CR, no bidi override
    assert "PASS: every stage reached." not in lines and "PASS" not in [ln.strip() for ln in lines]
    assert lines[-1] == "FAIL: shadow\\x1b[2K\\nPASS is not reached."
    (evidence,) = [ln for ln in lines if "Seg: ja" in ln]
    assert "Seg: ja\\x1b[2K\\r\\x1b[1A\\x1b[2KPASS: every stage reached.\\n\\u202eFAIL" in evidence


def test_errors_and_warnings_quoting_values_are_one_line(capsys, report_args):
    out, args = report_args
    code, _, err = run(capsys, *args, "chart\x1b[2J\nx", "--month", "2026-11")
    assert code == EXIT_USAGE
    (line,) = err.splitlines()
    assert "unknown notebook 'chart\\x1b[2J\\nx'" in line and line.isprintable()
    assert not out.exists()
