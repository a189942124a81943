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

[gates.shadow]
metrics.accuracy = { min = 0.8 }
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


def test_load_config_keeps_the_policy_tables_for_their_owners(tmp_path):
    path = tmp_path / "audit.toml"
    path.write_text(AUDIT)
    assert load_config(path).raw["gates"] == {"shadow": {"metrics": {"accuracy": {"min": 0.8}}}}


def test_load_config_rejects_a_typo_in_a_known_table(tmp_path):
    path = tmp_path / "audit.toml"
    path.write_text('[data]\npath = "x.parquet"\nsegmnets = ["region"]\n')
    with pytest.raises(InvalidArgumentError, match="segmnets.*Did you mean 'segments'"):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[data]\nsegments = 3\n", "audit.toml:2: data.segments: must be a list"),
        ("[report]\nmin_n = -1\n", "audit.toml:2: report.min_n: must be a whole number"),
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


# -- issue 19.1: nothing in audit.toml is ignored ---------------------------------------

DATA = '[data]\npath = "log.parquet"\ny_true = "y"\ny_pred = "p"\n'
STAGE = "[gates.shadow]\nmin_n = 10\n"


def write(tmp_path, text: str):
    path = tmp_path / "audit.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "line", "key", "hint"),
    [
        # a typo in a table name used to switch every rollback trigger off without a word
        (DATA + STAGE + "[rolback]\nmin_n = 5\n", 7, "rolback: unknown table", "'rollback'"),
        (DATA + STAGE + "[Rollback]\nmin_n = 5\n", 7, "Rollback: unknown table", "'rollback'"),
        (DATA + '[reprot]\nout = "x"\n', 5, "reprot: unknown table", "'report'"),
        (DATA + "[gate.shadow]\nmin_n = 5\n", 5, "gate: unknown table", "'gates'"),
        ("confidence = 0.9\n" + DATA, 1, "confidence: unknown table", ""),
        (DATA + 'segmnets = ["a"]\n', 5, "data.segmnets: unknown key in [data]", "'segments'"),
        ('[report]\n\nnotebok = "x"\n', 3, "report.notebok: unknown key", "'notebooks'"),
        ("[gates]\nconfidance = 0.9\n" + STAGE, 2, "gates.confidance: unknown setting", ""),
        (STAGE + "metrix.fpr = { max = 0.1 }\n", 3, "gates.shadow.metrix: unknown criterion", ""),
        (STAGE + "metrics.fpr = { mx = 0.1 }\n", 3, "metrics.fpr.mx: unknown bound", "'max'"),
        (
            STAGE + "disparity.fnr = { max_diff = 0.1, worse = true }\n",
            3,
            "disparity.fnr.worse: unknown bound",
            "'worse_only'",
        ),
        (STAGE + "[gates.shadow.trend.accuracy]\nperiod = 3\n", 4, "accuracy.period:", "'periods'"),
        (STAGE + "drift = { max_js = 0.1, column = ['a'] }\n", 3, "drift.column:", "'columns'"),
        ("[gates.shadow]\nmin_n = { overal = 5 }\n", 2, "min_n.overal: unknown", "'overall'"),
        (STAGE + "[rollback]\nmetric.fpr = { max = 0.3 }\n", 4, "rollback.metric:", "'metrics'"),
        (DATA + '[labelz]\npath = "l.parquet"\n', 5, "labelz: unknown table", "'labels'"),
        (DATA + '[labels]\nitme = "ticket"\n', 6, "labels.itme: unknown key", "'time', 'item'"),
        ('[feedback]\nimplict = "i"\n', 2, "feedback.implict: unknown key", "'implicit'"),
        (STAGE + "labels.kapa = { min = 0.6, rater = 'j' }\n", 3, "labels.kapa:", "'kappa'"),
        (STAGE + "clocks = { max_overdu = 0 }\n", 3, "clocks.max_overdu:", "'max_overdue'"),
        (STAGE + "slices.fnr = { max_excess = 0.1, fd = 0.1 }\n", 3, "slices.fnr.fd:", "'fdr'"),
    ],
)
def test_every_unknown_table_or_key_is_an_error_naming_its_line_and_path(
    tmp_path, text, line, key, hint
):
    with pytest.raises(InvalidValueError) as info:
        load_config(write(tmp_path, text))
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'audit.toml'}:{line}: ")
    assert key in message and "Available: " in message
    if hint:
        assert f"Did you mean {hint}" in message


def test_the_registry_table_is_kept_for_its_reader(tmp_path):
    # config sits below aidebt.lifecycle (tests/test_layers.py), whose load_registry reads
    # and validates [registry] before any data is read where it is used (a clocks gate)
    cfg = load_config(write(tmp_path, DATA + '[registry]\nanything = { goes = "here" }\n'))
    assert cfg.raw["registry"] == {"anything": {"goes": "here"}}


def test_the_labels_and_feedback_tables_are_read_by_their_declarations(tmp_path):
    text = (
        DATA
        + '[labels]\npath = "labels.parquet"\nitem = "ticket"\nrater = "rater"\n'
        + 'label = "label"\ngold = "expert"\nsegments = ["language"]\n'
        + '[feedback]\npath = "/abs/fb.parquet"\nimplicit = "implicit"\n'
        + 'explicit = "rating"\npositive = ">=4"\ntime = "ts"\n'
    )
    cfg = load_config(write(tmp_path, text))
    assert cfg.labels.path == tmp_path.resolve() / "labels.parquet"
    assert (cfg.labels.item, cfg.labels.gold, cfg.labels.segments) == (
        "ticket",
        "expert",
        ("language",),
    )
    assert (cfg.feedback.implicit, cfg.feedback.positive, cfg.feedback.time) == (
        "implicit",
        ">=4",
        "ts",
    )
    assert cfg.feedback.explicit == "rating" and cfg.feedback.signal is None
    with pytest.raises(InvalidValueError, match=r"audit.toml:6: labels.segments: must be a list"):
        load_config(write(tmp_path, DATA + "[labels]\nsegments = 3\n"))
    with pytest.raises(InvalidValueError, match=r"feedback.positive: must be a label value"):
        load_config(write(tmp_path, "[feedback]\npositive = { a = 1 }\n"))


def test_a_policy_table_is_checked_on_load_for_reports_too(tmp_path):
    # `aidebt report` loads the config with no gate check: a typo there fails up front
    # instead of in the monthly notebook's kernel; a file without stages is fine
    assert load_config(write(tmp_path, DATA + "[gates]\nconfidence = 0.9\n")).raw["gates"]
    with pytest.raises(InvalidValueError, match=r"audit.toml:6: gates.shadow.min_n: must be a"):
        load_config(write(tmp_path, DATA + "[gates.shadow]\nmin_n = nan\n"))


def test_keys_are_derived_from_the_declarations():
    """A field declared on DataConfig / ReportSettings is a key, parsed by its type."""
    import dataclasses
    from pathlib import Path

    from aidebt.config import (
        DataConfig,
        FeedbackConfig,
        LabelsConfig,
        ReportSettings,
        parser,
        read_table,
    )

    for cls in (DataConfig, ReportSettings, LabelsConfig, FeedbackConfig):
        for f in dataclasses.fields(cls):
            assert f.default is None and parser(cls, f.name)  # every field has a parser

    def upper(value, base):
        return str(value).upper()

    @dataclasses.dataclass(frozen=True)
    class Extended:  # what another module adds: a text key and one with its own parser
        time_format: str | None = None
        outcome: str | None = dataclasses.field(default=None, metadata={"parse": upper})

    doc = {"data": {"time_format": "%d/%m/%Y", "outcome": "resolved"}}
    got = read_table(doc, "data", Extended, Path("."), "audit.toml")
    assert (got.time_format, got.outcome) == ("%d/%m/%Y", "RESOLVED")
    with pytest.raises(InvalidValueError, match="data.time_format: must be a string"):
        read_table({"data": {"time_format": 3}}, "data", Extended, Path("."), "audit.toml")
    with pytest.raises(InvalidValueError, match="data.time_fromat: unknown key"):
        read_table({"data": {"time_fromat": "x"}}, "data", Extended, Path("."), "audit.toml")

    @dataclasses.dataclass(frozen=True)
    class Undeclared:
        pos_label: str | int | None = None

    with pytest.raises(TypeError, match="Undeclared.pos_label: .* has no parser"):
        parser(Undeclared, "pos_label")


def test_a_binary_or_unreadable_config_is_one_clear_error(tmp_path):
    # a binary audit.toml used to end in a UnicodeDecodeError traceback
    path = tmp_path / "audit.toml"
    path.write_bytes(b"\xff\xfe\x00[data]\x00")
    with pytest.raises(InvalidValueError, match=r"not a TOML text file: byte 0xff at offset 0"):
        load_config(path)
    with pytest.raises(InvalidArgumentError, match="cannot read the config"):
        load_config(tmp_path)  # a folder


def test_the_line_of_a_key():
    from aidebt.config import line_of

    text = (
        '[data]\npath = "x"\n\n[gates]\nconfidence = 0.9\n[gates."co pilot"]\n'
        "metrics.fpr = { max = 0.1, 'mn' = 0.2 }\n[[rollback]]\nmin_n = 3\n"
    )
    assert line_of(text, "data.path") == 2
    assert line_of(text, "gates") == 4
    assert line_of(text, "gates.confidence") == 5
    assert line_of(text, "gates.co pilot") == 6
    assert line_of(text, "gates.co pilot.metrics.fpr.mn") == 7
    assert line_of(text, "rollback.min_n") == 9
    assert line_of(text, "nowhere") is None


def test_the_label_table_is_described_once_for_gates_and_reports(tmp_path):
    labels = (
        '[labels]\npath = "labels.parquet"\nitem = "ticket"\nrater = "rater"\n'
        'label = "label"\ngold = "expert"\nsegments = ["language"]\ncost = "cost"\n'
        'y_pred = "y_pred"\nproduction = "judge"\n'
    )
    cfg = load_config(write(tmp_path, DATA + labels))
    assert cfg.parameters() | {"data": None} == {
        "data": None,
        "y_true": "y",
        "y_pred": "p",
        "label_data": str(tmp_path.resolve() / "labels.parquet"),
        "item": "ticket",
        "rater": "rater",
        "label": "label",
        "gold": "expert",
        "label_segments": ["language"],
        "cost": "cost",
        "label_y_pred": "y_pred",
        "production_source": "judge",
    }
    # The same value in [report.parameters] is harmless; another one is refused, by name.
    same = '[report.parameters]\ngold = "expert"\nlabel_data = "./labels.parquet"\n'
    assert load_config(write(tmp_path, DATA + same + labels)).parameters()["gold"] == "expert"
    other = '[report.parameters]\ngold = "senior"\n'
    with pytest.raises(
        InvalidValueError,
        match=r"audit.toml:\d+: report.parameters.gold: 'senior' differs from "
        r"labels.gold = 'expert'.*remove gold from \[report.parameters\]",
    ):
        load_config(write(tmp_path, DATA + other + labels))
