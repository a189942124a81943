"""audit.toml loading and -p value parsing."""

from __future__ import annotations

import pytest

from aidebt.errors import InvalidArgumentError, InvalidValueError
from aidebt.report import load_config, parse_value

AUDIT = """
[data]
path = "logs/production.parquet"
eval_path = "/abs/eval.parquet"
time = "ts"
y_true = "label"
y_pred = "pred"
y_score = "score"
segments = ["region", "tier"]
weight = ""
version = "model_version"

[report]
out = "out/reports"
min_n = 25
notebooks = ["subgroup_audit"]

[gates.accuracy]
min = 0.8
"""


def test_load_config_reads_both_tables_and_resolves_relative_paths(tmp_path):
    path = tmp_path / "audit.toml"
    path.write_text(AUDIT)
    cfg = load_config(path)
    assert cfg.data.path == tmp_path.resolve() / "logs" / "production.parquet"
    assert str(cfg.data.eval_path) == "/abs/eval.parquet"
    assert cfg.data.segments == ("region", "tier")
    assert cfg.data.weight is None  # "" means unset: TOML has no null
    assert cfg.report.out == tmp_path.resolve() / "out" / "reports"
    assert cfg.report.min_n == 25
    assert cfg.report.notebooks == ("subgroup_audit",)
    assert cfg.parameters() == {
        "data": str(tmp_path.resolve() / "logs" / "production.parquet"),
        "eval_data": "/abs/eval.parquet",
        "time": "ts",
        "y_true": "label",
        "y_pred": "pred",
        "y_score": "score",
        "segments": ["region", "tier"],
        "version": "model_version",
    }


def test_load_config_keeps_unknown_tables_for_their_owners(tmp_path):
    path = tmp_path / "audit.toml"
    path.write_text(AUDIT)
    assert load_config(path).raw["gates"] == {"accuracy": {"min": 0.8}}


def test_load_config_rejects_a_typo_in_a_known_table(tmp_path):
    path = tmp_path / "audit.toml"
    path.write_text('[data]\npath = "x.parquet"\nsegmnets = ["region"]\n')
    with pytest.raises(InvalidArgumentError, match="segmnets.*Did you mean 'segments'"):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[data]\nsegments = 3\n", "segments must be a list"),
        ("[report]\nmin_n = -1\n", "min_n must be a whole number"),
        ("[data\n", "not valid TOML"),
    ],
)
def test_load_config_rejects_bad_values(tmp_path, text, message):
    path = tmp_path / "audit.toml"
    path.write_text(text)
    with pytest.raises(InvalidValueError, match=message):
        load_config(path)


def test_load_config_missing_file(tmp_path):
    with pytest.raises(InvalidArgumentError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("[region, tier]", ["region", "tier"]),
        ("0.8", 0.8),
        ("30", 30),
        ("true", True),
        ("null", None),
        ("en", "en"),
        ("2026-11", "2026-11"),
        ("2026-11-01", "2026-11-01"),
        ("{a: 1}", {"a": 1}),
    ],
)
def test_parse_value_is_yaml(text, value):
    assert parse_value(text) == value


def test_parse_value_reports_bad_yaml():
    with pytest.raises(InvalidValueError, match="as YAML"):
        parse_value("[unclosed")
