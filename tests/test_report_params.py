"""Everything a run checks before the first cell executes (no kernel starts here)."""

from __future__ import annotations

import pytest

from aidebt.errors import InvalidArgumentError, InvalidValueError
from aidebt.report import plan, render
from aidebt.report.notebooks import (
    inspect_parameters,
    list_notebooks,
    notebooks_dir,
    resolve_notebooks,
)


def test_list_and_resolve_notebooks(test_notebooks):
    assert [p.stem for p in list_notebooks(test_notebooks)] == ["chart", "failing", "plain"]
    assert [p.stem for p in resolve_notebooks("all", test_notebooks)] == [
        "chart",
        "failing",
        "plain",
    ]
    assert [p.stem for p in resolve_notebooks(["plain", "chart"], test_notebooks)] == [
        "plain",
        "chart",
    ]
    path = test_notebooks / "plain.ipynb"
    assert resolve_notebooks(str(path)) == [path.resolve()]
    with pytest.raises(
        InvalidArgumentError, match="unknown notebook 'chrat'.*Did you mean 'chart'"
    ):
        resolve_notebooks("chrat", test_notebooks)


def test_shipped_notebooks_are_found_from_the_package():
    folder = notebooks_dir()
    assert folder.name in ("notebooks", "_notebooks") and folder.is_dir()


def test_inspect_parameters_evaluates_defaults_and_reads_help(test_notebooks):
    params = inspect_parameters(test_notebooks / "chart.ipynb")
    assert list(params) == ["data", "month", "time", "min_n"]
    assert params["time"].default == "ts"
    assert params["min_n"].help.startswith("groups below")
    assert not params["min_n"].required
    assert inspect_parameters(test_notebooks / "plain.ipynb")["note"].required


def _plan(test_notebooks, small_log, notebooks=("chart",), **kwargs):
    kwargs.setdefault("month", "2026-11")
    kwargs.setdefault("data", small_log)
    return plan(list(notebooks), notebooks_dir=test_notebooks, **kwargs)


@pytest.mark.filterwarnings("ignore:min_n=5 does not apply")
def test_plan_binds_common_values_only_where_declared(test_notebooks, small_log):
    jobs = _plan(test_notebooks, small_log, ["chart", "plain"], parameters={"note": "hi"}, min_n=5)
    chart, plain = (job.parameters for job in jobs)
    assert chart == {"data": str(small_log.resolve()), "month": "2026-11", "min_n": 5}
    assert plain == {"data": str(small_log.resolve()), "month": "2026-11", "note": "hi"}
    assert jobs[0].inputs["data"]["month_rows"] == 400
    assert jobs[0].inputs["data"] is jobs[1].inputs["data"]  # fingerprinted once


def test_plan_warns_when_min_n_cannot_apply(test_notebooks, small_log):
    with pytest.warns(UserWarning, match="min_n=5 does not apply to plain"):
        _plan(test_notebooks, small_log, ["plain"], parameters={"note": "x"}, min_n=5)


def test_unknown_parameter_lists_the_valid_ones(test_notebooks, small_log):
    with pytest.raises(InvalidArgumentError) as err:
        _plan(test_notebooks, small_log, parameters={"min_m": 3})
    message = str(err.value)
    assert "unknown parameter 'min_m' for notebook 'chart'" in message
    assert "'data', 'min_n', 'month', 'time'" in message and "Did you mean 'min_n'" in message


def test_missing_required_parameter(test_notebooks, small_log):
    with pytest.raises(InvalidArgumentError, match="'plain' needs parameter\\(s\\) 'note'"):
        _plan(test_notebooks, small_log, ["plain"])


def test_missing_data(test_notebooks, small_log, tmp_path):
    with pytest.raises(InvalidArgumentError, match="data file not found: .*nope.parquet"):
        _plan(test_notebooks, small_log, data=tmp_path / "nope.parquet")
    with pytest.raises(InvalidArgumentError, match="no data to report on"):
        _plan(test_notebooks, small_log, data=None)


def test_month_without_rows(test_notebooks, small_log):
    with pytest.raises(
        InvalidValueError, match="no rows for month 2027-01.*covers 2026-10 to 2026-11"
    ):
        _plan(test_notebooks, small_log, month="2027-01")


def test_config_supplies_data_and_notebook_list(test_notebooks, small_log, tmp_path):
    config = tmp_path / "audit.toml"
    config.write_text(
        f'[data]\npath = "{small_log}"\ntime = "ts"\n[report]\nnotebooks = ["chart"]\nmin_n = 7\n'
    )
    (job,) = plan("all", month="2026-11", config=config, notebooks_dir=test_notebooks)
    assert job.path.stem == "chart"
    assert job.parameters == {
        "data": str(small_log.resolve()),
        "time": "ts",
        "min_n": 7,
        "month": "2026-11",
    }


def test_a_rejected_run_publishes_nothing(test_notebooks, small_log, tmp_path):
    out = tmp_path / "reports"
    with pytest.raises(InvalidArgumentError):
        render(
            "chart",
            month="2026-11",
            data=small_log,
            parameters={"nope": 1},
            out=out,
            notebooks_dir=test_notebooks,
            progress=False,
        )
    with pytest.raises(InvalidValueError):
        render(
            "chart",
            month="2030-01",
            data=small_log,
            out=out,
            notebooks_dir=test_notebooks,
            progress=False,
        )
    assert not out.exists()


def test_config_path_goes_to_notebooks_that_read_the_policy(small_log, tmp_path):
    import hashlib

    config = tmp_path / "audit.toml"
    config.write_text(
        f'[data]\npath = "{small_log}"\ntime = "ts"\ny_true = "y"\ny_pred = "y"\n[gates.shadow]\nmin_n = 10\n'
    )
    declared = [p for p in list_notebooks() if "config" in inspect_parameters(p)]
    if not declared:
        pytest.skip("no shipped notebook takes a config parameter")
    (job,) = plan([declared[0].stem], month="2026-11", config=config)
    assert job.parameters["config"] == str(config.resolve())
    assert job.inputs["config"]["sha256"] == hashlib.sha256(config.read_bytes()).hexdigest()


def test_a_registry_written_in_the_config_is_found_next_to_it(small_log, tmp_path):
    """Settings files given in [report.parameters] (a registry, a policy of change gates)
    are read relative to the config, like the data, and fingerprinted in the manifest."""
    import hashlib
    import shutil

    from aidebt.report.notebooks import shipped

    folder = tmp_path / "team"
    folder.mkdir()
    registry = folder / "registry.toml"
    shutil.copy(shipped("examples") / "registry.toml", registry)
    config = folder / "audit.toml"
    config.write_text(
        f'[data]\npath = "{small_log}"\ntime = "ts"\ny_true = "y"\ny_pred = "y"\n'
        '[report.parameters]\nregistry = "registry.toml"\n'
    )
    (job,) = plan(["debt_clocks"], month="2026-11", config=config)
    assert job.skipped is None
    assert job.parameters["registry"] == str(registry.resolve())
    assert job.inputs["registry"]["sha256"] == hashlib.sha256(registry.read_bytes()).hexdigest()
