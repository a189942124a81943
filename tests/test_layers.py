"""The layers of the package: report/ sits above the library and below the CLI only.

Read from the source (ast), so that a function-local import counts as much as a
top-level one: nothing in the library imports ``aidebt.report`` (only ``aidebt.cli``
does), and ``aidebt.report`` never imports the package root (whose names re-export the
whole API).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "aidebt"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Modules of aidebt that ``path`` imports (``from aidebt import x``: x if a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "aidebt"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "aidebt":
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                is_module = (PACKAGE.parent / Path(*sub.split("."))).with_suffix(".py").exists()
                is_package = (PACKAGE.parent / Path(*sub.split("."))).is_dir()
                found.add(sub if is_module or is_package else node.module)
    return found


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_only_the_cli_imports_report() -> None:
    users = {
        m
        for m, deps in graph().items()
        if not m.startswith("aidebt.report") and any(d.startswith("aidebt.report") for d in deps)
    }
    assert users == {"aidebt.cli"}


def test_report_never_imports_the_package_root() -> None:
    offenders = {
        m: deps for m, deps in graph().items() if m.startswith("aidebt.report") and "aidebt" in deps
    }
    assert offenders == {}


def test_the_core_never_imports_an_analysis() -> None:
    """frames, aggregate, metrics, stats, distributions, periods, groups, results, prose,
    config, policy and prepare are the layer every analysis builds on: none of them imports an analysis."""
    core = {
        "aidebt.errors",
        "aidebt.periods",
        "aidebt.groups",
        "aidebt.frames",
        "aidebt.aggregate",
        "aidebt.stats",
        "aidebt.distributions",
        "aidebt.metrics",
        "aidebt.results",
        "aidebt.prose",
        "aidebt.prepare",
        "aidebt.config",
        "aidebt.policy",
    }
    leaks = {m: sorted(graph()[m] - core - {"aidebt._version"}) for m in core}
    assert {m: d for m, d in leaks.items() if d} == {}
