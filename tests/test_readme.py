"""The README's ten-line example runs as written (on a smaller demo log)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import aidebt as ad

README = Path(__file__).resolve().parents[1] / "README.md"


def ten_lines() -> str:
    """The code of the README's "Ten lines" section."""
    text = README.read_text()
    section = text[text.index("## Ten lines") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_ten_line_example_runs(monkeypatch) -> None:
    code = ten_lines()
    small = ad.datasets.demo
    monkeypatch.setattr(ad.datasets, "demo", lambda: small(n_per_month=5_000))
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["r"].worst(1)["language"].to_list() == ["ja"]


def versions_section() -> str:
    """The code of the README's "Versions on the same items" section."""
    text = README.read_text()
    section = text[text.index("## Versions on the same items") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_versions_example_runs() -> None:
    namespace: dict = {"ad": ad}
    exec(compile(versions_section(), "README.md", "exec"), namespace)
    lines = namespace["p"].summary()
    assert any(line.startswith("But in Task: extraction") for line in lines)
    assert "+1.8 points (95% interval +0.7 to +3.0 points)" in lines[1]
