"""Properties of audit.toml checking (issue 19): any unknown or mistyped table or key, at
any level, and any non-finite or inverted bound, stops ``aidebt check`` and ``aidebt
report`` with exit 2 and one error line naming the key (and its line), before any data
is read.

Documents are a complete, valid audit.toml with one mutation. The places and the names
that are allowed come from the declarations themselves (config.TABLES, the dataclass
fields, the policy's tables), so a key another module declares is covered at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import math
import re
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aidebt import config, policy
from aidebt import metrics as mreg
from aidebt.cli import EXIT_USAGE, main


# --------------------------------------------------------------------------------------
# The documents
# --------------------------------------------------------------------------------------
def base(log: Path) -> dict[str, Any]:
    """A valid audit.toml using every table and criterion."""
    return {
        "data": {
            "path": str(log),
            "eval_path": str(log),
            "time": "ts",
            "y_true": "y",
            "y_pred": "p",
            "y_score": "s",
            "segments": ["seg"],
            "version": "v",
        },
        "report": {"out": "reports", "min_n": 5, "notebooks": ["subgroup_audit"]},
        "gates": {
            "confidence": 0.95,
            "min_segment_n": 30,
            "shadow": {"min_n": 100, "metrics": {"accuracy": {"min": 0.5}}},
            "copilot": {
                "min_n": {"overall": 100, "segment": 10},
                "metrics": {"fpr": {"max": 0.5}, "accuracy": {"min": 0.2, "max": 0.99}},
                "disparity": {"fnr": {"max_diff": 0.3, "worse_only": True}},
                "trend": {"accuracy": {"no_significant_decline": True, "periods": 3}},
                "fairness": {"demographic_parity_ratio": {"min": 0.5, "by": ["seg"]}},
                "drift": {"max_js": 0.5, "columns": ["seg"], "against": "previous"},
            },
        },
        "rollback": {"metrics": {"accuracy": {"min": 0.1}}},
        "registry": {"anything": {"goes": 1}},
    }


def _fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


# Where keys are checked, and what is allowed there: the declarations.
SLOTS: dict[tuple[str, ...], list[str]] = {
    (): list(config.TABLES),
    ("data",): _fields(config.DataConfig),
    ("report",): _fields(config.ReportSettings),
    ("gates",): list(policy.SETTINGS),
    ("gates", "copilot"): list(policy.CRITERIA),
    ("rollback",): list(policy.CRITERIA),
    ("gates", "copilot", "min_n"): list(policy._MIN_N_KEYS),
    ("gates", "copilot", "metrics"): [*mreg.REGISTRY, *mreg.ALIASES],
    ("gates", "copilot", "metrics", "accuracy"): list(policy._BOUNDS["metrics"]),
    ("gates", "copilot", "disparity", "fnr"): list(policy._BOUNDS["disparity"]),
    ("gates", "copilot", "trend", "accuracy"): list(policy._TREND_KEYS),
    ("gates", "copilot", "drift"): list(policy._DRIFT_KEYS),
    ("gates", "copilot", "fairness"): list(mreg.FAIRNESS_SUMMARIES),
    ("gates", "copilot", "fairness", "demographic_parity_ratio"): list(policy._FAIRNESS_KEYS),
    ("rollback", "metrics", "accuracy"): list(policy._BOUNDS["metrics"]),
}
NUMBERS = [
    ("gates", "confidence"),
    ("gates", "min_segment_n"),
    ("gates", "shadow", "min_n"),
    ("gates", "copilot", "min_n", "overall"),
    ("gates", "copilot", "min_n", "segment"),
    ("gates", "shadow", "metrics", "accuracy", "min"),
    ("gates", "copilot", "metrics", "fpr", "max"),
    ("gates", "copilot", "metrics", "accuracy", "max"),
    ("gates", "copilot", "disparity", "fnr", "max_diff"),
    ("gates", "copilot", "drift", "max_js"),
    ("gates", "copilot", "fairness", "demographic_parity_ratio", "min"),
    ("rollback", "metrics", "accuracy", "min"),
]
TABLES = ["data", "report", "gates", "rollback"]  # each must be a table

BARE = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1)


@st.composite
def typos(draw, allowed: list[str], fold_case: bool = False) -> str:
    """A near miss of an allowed name (a case change, a letter dropped, doubled or
    swapped), or any other bare key; never an allowed one (in any case, for metric
    names: the registry looks them up case-insensitively)."""
    if fold_case:
        allowed = [*allowed, *(a.capitalize() for a in allowed), *(a.upper() for a in allowed)]
        return draw(typos(allowed).filter(lambda n: n.lower() not in allowed))
    word = draw(st.sampled_from(allowed))
    i = draw(st.integers(0, max(len(word) - 1, 0)))
    name = draw(
        st.sampled_from(
            [
                word.capitalize(),
                word.upper(),
                word[:i] + word[i + 1 :],
                word[:i] + word[i] + word[i:],
                word[:i] + word[i + 1 : i + 2] + word[i : i + 1] + word[i + 2 :],
                draw(BARE),
            ]
        )
    )
    return name if name and name not in allowed else draw(BARE.filter(lambda n: n not in allowed))


@st.composite
def mutations(draw) -> tuple[str, tuple[str, ...], Any]:
    """(kind, key path expected in the error, what to write there)."""
    kind = draw(st.sampled_from(["unknown", "not a table", "not finite", "inverted"]))
    if kind == "unknown":
        where = draw(st.sampled_from(sorted(SLOTS)))
        name = draw(typos(SLOTS[where], fold_case=where[-1:] == ("metrics",)))
        if where == ("gates",):  # a table there is a stage: a setting is a plain value
            value = draw(st.sampled_from([0.9, 3, "x", True]))
        elif where == ("gates", "copilot", "metrics"):
            value = {"min": 0.5}
        else:
            value = draw(st.sampled_from([0.5, 3, "x", True, {"a": 1}]))
        return kind, (*where, name), value
    if kind == "not a table":
        name = draw(st.sampled_from(TABLES))
        return kind, (name,), draw(st.sampled_from([3, "x", [1, 2], True]))
    if kind == "not finite":
        at = draw(st.sampled_from(NUMBERS))
        value = draw(st.sampled_from([float("nan"), float("inf"), float("-inf"), 10**400]))
        return kind, at, value
    low = draw(st.floats(0, 0.99, allow_nan=False))
    high = draw(st.floats(low, 1, allow_nan=False, exclude_min=True))
    stage = draw(st.sampled_from([("gates", "copilot"), ("gates", "shadow"), ("rollback",)]))
    metric = draw(st.sampled_from(["accuracy", "fpr", "precision"]))
    return kind, (*stage, "metrics", metric), {"min": high, "max": low}


def mutate(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(doc))  # a deep copy (the base holds only JSON values)
    table = doc
    for part in path[:-1]:
        table = table.setdefault(part, {})
    table[path[-1]] = value
    return doc


# --------------------------------------------------------------------------------------
# A small TOML writer: tables as headers, everything below as inline values
# --------------------------------------------------------------------------------------
def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, int | str):
        return json.dumps(v) if isinstance(v, str) else str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"


def dumps(doc: dict[str, Any]) -> str:
    scalars = [f"{_key(k)} = {_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    lines = [*scalars]
    for name, table in doc.items():
        if isinstance(table, dict):
            lines += ["", f"[{_key(name)}]"]
            lines += [f"{_key(k)} = {_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# The property
# --------------------------------------------------------------------------------------
class DataRead(Exception):
    """Raised by the spies: something tried to read the data."""


@contextlib.contextmanager
def no_data_read():
    """Every door to the data raises DataRead: aidebt's loader and polars' readers."""

    def spy(*args, **kwargs):
        raise DataRead(args[:1])

    with pytest.MonkeyPatch.context() as mp:
        for name in ("load", "load_month", "latest_month", "to_lazy"):
            mp.setattr(f"aidebt.frames.{name}", spy)
        for name in ("scan_parquet", "read_parquet", "scan_csv", "read_csv"):
            mp.setattr(pl, name, spy)
        yield


@pytest.fixture(scope="module")
def log(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("log") / "log.parquet"
    ts = [dt.datetime(2026, m, 5) for m in (9, 10, 11) for _ in range(50)]
    n = len(ts)
    pl.DataFrame(
        {
            "ts": ts,
            "y": [i % 2 for i in range(n)],
            "p": [i % 3 == 0 for i in range(n)],
            "s": [0.5] * n,
            "seg": ["a", "b"] * (n // 2),
            "v": ["v1"] * n,
        }
    ).write_parquet(path)
    return path


def run(doc: dict[str, Any], command: str, capsys) -> tuple[int, str, str, str]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "audit.toml"
        text = dumps(doc)
        path.write_text(text)
        argv = ["check", "--config", str(path)]
        if command == "report":
            argv = ["report", "--config", str(path), "--month", "2026-11"]
            argv += ["--out", str(Path(folder) / "out")]
        with no_data_read():
            code = main(argv)
        out, err = capsys.readouterr()
        assert not (Path(folder) / "out").exists()  # nothing published
        return code, out, err, text


def test_the_base_document_is_valid_and_reaches_the_data(log, capsys):
    """The control: unmutated, both commands get as far as reading the data."""
    for command in ("check", "report"):
        with pytest.raises(DataRead):
            run(base(log), command, capsys)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(mutation=mutations(), command=st.sampled_from(["check", "report"]))
def test_any_bad_table_key_or_bound_exits_2_naming_it_before_any_data_is_read(
    log, capsys, mutation, command
):
    kind, path, value = mutation
    code, out, err, text = run(mutate(base(log), path, value), command, capsys)
    assert (code, out) == (EXIT_USAGE, ""), err
    (line,) = err.splitlines()
    found = re.match(r"aidebt: error: .*audit\.toml:(\d+): (.+?): (.*)$", line)
    assert found, line
    key = ".".join(path)
    assert found.group(2) == key
    # the line named is the one that writes the key
    assert path[-1] in text.splitlines()[int(found.group(1)) - 1]
    detail = found.group(3)
    expected = {
        "unknown": "unknown ",
        "not a table": "must be a table",
        "not finite": "must be a finite number",
        "inverted": "is above max",
    }[kind]
    assert detail.startswith(expected) if kind != "inverted" else expected in detail
    if kind == "unknown":
        assert "Available: " in detail
