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
