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
