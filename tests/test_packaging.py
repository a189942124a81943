"""The package metadata: pyproject and environment.yml list the same dependencies."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# PyPI name -> conda-forge name, where they differ.
CONDA_NAMES = {"duckdb": "python-duckdb"}


def _name_and_spec(requirement: str) -> tuple[str, str]:
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement)
    assert match, requirement
    return match.group(1).lower(), match.group(2).replace(" ", "")


def test_environment_yml_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        wanted.extend(extra)
    expected = {CONDA_NAMES.get(n, n): s for n, s in map(_name_and_spec, wanted)}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    listed = dict(_name_and_spec(d) for d in env["dependencies"] if isinstance(d, str))
    python = listed.pop("python")
    assert python == ">=" + project["requires-python"].removeprefix(">=")
    assert listed == expected


def test_console_script_and_version() -> None:
    import aidebt

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["aidebt"] == "aidebt.cli:main"
    assert aidebt.__version__ == project["version"]


def test_the_library_installs_without_the_report_extra() -> None:
    """papermill, nbconvert, nbformat, ipykernel and JupyterLab are the `report` extra;
    the make targets and environment.yml install it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_name_and_spec(r)[0] for r in project["dependencies"]}
    report = {_name_and_spec(r)[0] for r in project["optional-dependencies"]["report"]}
    moved = {"papermill", "nbconvert", "nbformat", "ipykernel", "jupyterlab"}
    assert moved <= report and not moved & core
    assert "'.[report,dev,spark]'" in (ROOT / "Makefile").read_text()


def test_import_is_light_and_the_library_never_loads_the_report_stack() -> None:
    """`import aidebt` loads no scipy, statsmodels, altair or pandas (they come with the
    analysis that needs them); an analysis and a gate check load nothing of report/."""
    import subprocess
    import sys

    code = """
import sys
import aidebt as ad
heavy = ("scipy.stats", "statsmodels", "altair", "pandas", "aidebt.disaggregate")
print(sorted(m for m in heavy if m in sys.modules))
ad.disaggregate(ad.datasets.demo(500, months=2), y_true="y_true", y_pred="y_pred", by="tier")
report = ("aidebt.report", "papermill", "nbconvert", "nbformat", "IPython", "yaml")
print(sorted(m for m in report if m in sys.modules))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.split("\n")[:2] == ["[]", "[]"], done.stdout
