"""The README's ten-line example runs as written (on a smaller demo log)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import aidebt as ad

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_ten_line_example_runs(monkeypatch) -> None:
    text = README.read_text()
    section = text[text.index("## Ten lines") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    small = ad.datasets.demo
    monkeypatch.setattr(ad.datasets, "demo", lambda: small(n_per_month=5_000))
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["r"].worst(1)["language"].to_list() == ["ja"]
