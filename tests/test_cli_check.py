"""``aidebt check``: exit 0 when every stage passes, 1 when a criterion fails, 2 for bad input."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

from aidebt.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main

DATA = """
[data]
path = "log.parquet"
time = "ts"
y_true = "y"
y_pred = "p"
weight = "w"
segments = ["language"]
"""
PASSING = """
[gates.shadow]
min_n = 1000
metrics.accuracy = { min = 0.80 }
"""
FAILING = """
[gates.shadow]
min_n = 1000
[gates.copilot]
metrics.accuracy = { min = 0.85 }
"""


def rows(month: int, language: str, n: int, accuracy: float) -> list[dict]:
    wrong = round(n * (1 - accuracy))
    right = n - wrong
    ts = dt.datetime(2026, month, 10)
    cells = ((1, 1, right // 2), (0, 0, right - right // 2), (0, 1, wrong // 2))
    cells += ((1, 0, wrong - wrong // 2),)
    return [{"ts": ts, "language": language, "y": y, "p": p, "w": float(w)} for y, p, w in cells]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    # October: every language is fine; November: ja falls to 0.70 while the overall stays high
    log = rows(10, "en", 9_000, 0.93) + rows(10, "ja", 1_000, 0.92)
    log += rows(11, "en", 9_000, 0.93) + rows(11, "ja", 1_000, 0.70)
    pl.DataFrame(log).write_parquet(tmp_path / "log.parquet")
    return tmp_path


def config(folder: Path, policy: str, data: str = DATA) -> str:
    path = folder / "audit.toml"
    path.write_text(textwrap.dedent(data) + textwrap.dedent(policy))
    return str(path)


def run(capsys, *argv: str):
    code = main(["check", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_exit_0_when_every_stage_passes(capsys, folder):
    code, out, err = run(capsys, "--config", config(folder, PASSING), "--month", "2026-10")
    assert code == EXIT_OK, err
    assert re.search(r"shadow +PASS", out) and "Stage reached: shadow" in out
    assert out.rstrip().endswith("PASS: every stage reached.")


def test_exit_1_names_the_failing_segment_while_the_aggregate_passes(capsys, folder):
    code, out, _ = run(capsys, "--config", config(folder, FAILING))  # latest month: 2026-11
    assert code == EXIT_FAILED
    assert "month 2026-11" in out and re.search(r"copilot +FAIL", out)
    assert "accuracy in Language: ja = 0.700" in out
    assert "accuracy overall" not in out  # the aggregate (0.907) passes
    assert "Stage reached: shadow" in out and "FAIL: copilot is not reached." in out
    # the same policy in October passes
    code, _, _ = run(capsys, "--config", config(folder, FAILING), "--month", "2026-10")
    assert code == EXIT_OK


def test_stage_option_and_rollback(capsys, folder):
    cfg = config(folder, FAILING)
    assert run(capsys, "--config", cfg, "--stage", "shadow")[0] == EXIT_OK
    assert run(capsys, "--config", cfg, "--stage", "copilot")[0] == EXIT_FAILED
    code, _, err = run(capsys, "--config", cfg, "--stage", "autopilot")
    assert code == EXIT_USAGE and "stage 'autopilot' is not in the policy" in err
    cfg = config(folder, PASSING + "[rollback]\nmetrics.accuracy = { min = 0.8 }\n")
    code, out, _ = run(capsys, "--config", cfg, "--month", "2026-11", "--stage", "shadow")
    assert code == EXIT_FAILED
    assert re.search(r"rollback +FIRED", out) and "accuracy in Language: ja" in out
    assert "FAIL: a rollback trigger fired." in out


@pytest.mark.parametrize(
    ("policy", "data", "message"),
    [
        (
            "[gates.copilot]\nmetrics.acurracy = { min = 0.8 }\n",
            DATA,
            "gates.copilot.metrics.acurracy: unknown metric. Available: ",
        ),
        (
            "[gates.copilot]\nmetrics.fpr = { max = 1.2 }\n",
            DATA,
            "gates.copilot.metrics.fpr.max: fpr is a rate: the bound must be in [0, 1]",
        ),
        ("[gates.copilot\nmin_n = 3\n", DATA, "not valid TOML"),
        ("[gates.copilot]\nmin_n = 3\n", DATA.replace('"log', '"gone'), "gone.parquet"),
        ("[gates.copilot]\nmin_n = 3\n", DATA.replace("y_true", "y_truth"), "y_truth"),
        (
            "[gates.copilot]\nmetrics.accuracy = { min = 0.8 }\n",
            DATA.replace('y_pred = "p"', 'y_pred = "pred"'),
            "'pred'",
        ),
    ],
)
def test_exit_2_for_bad_input_names_the_offending_key(capsys, folder, policy, data, message):
    code, out, err = run(capsys, "--config", config(folder, policy, data))
    assert code == EXIT_USAGE
    assert err.startswith("aidebt: error: ") and message in err
    assert out == ""


def test_exit_2_for_missing_config_bad_month_and_empty_month(capsys, folder):
    code, _, err = run(capsys, "--config", str(folder / "nope.toml"))
    assert code == EXIT_USAGE and "config file not found" in err
    cfg = config(folder, PASSING)
    code, _, err = run(capsys, "--config", cfg, "--month", "2026-13")
    assert code == EXIT_USAGE and "YYYY-MM" in err
    code, _, err = run(capsys, "--config", cfg, "--month", "2027-01")
    assert code == EXIT_USAGE and "no rows to check for month 2027-01" in err
    assert main(["check"]) == EXIT_USAGE  # --config is required


def test_console_script_exit_code(folder):
    cfg = config(folder, FAILING)
    done = subprocess.run(
        [sys.executable, "-m", "aidebt.cli", "check", "--config", cfg],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == EXIT_FAILED, done.stderr
    assert "Language: ja" in done.stdout


def test_data_option_overrides_the_config_path(capsys, folder):
    other = folder / "other.parquet"
    pl.DataFrame(rows(11, "en", 5_000, 0.95) + rows(11, "ja", 1_000, 0.95)).write_parquet(other)
    cfg = config(folder, FAILING)
    assert run(capsys, "--config", cfg)[0] == EXIT_FAILED
    code, out, _ = run(capsys, "--config", cfg, "--data", str(other), "-v")
    assert code == EXIT_OK and "6,000 rows" in out


# -- issue 19.1 and 19.12: a typo or an impossible bound never passes -------------------

ROLLBACK = "[rollback]\nmetrics.accuracy = { min = 0.8 }\n"


def test_a_rollback_trigger_fires_on_november(capsys, folder):
    code, out, _ = run(capsys, "--config", config(folder, PASSING + ROLLBACK), "--month", "2026-11")
    assert code == EXIT_FAILED and "FAIL: a rollback trigger fired." in out


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        # each of these printed "PASS: every stage reached." and exited 0 (or 1) before
        (PASSING + ROLLBACK.replace("rollback", "rolback"), ":13: rolback: unknown table"),
        (PASSING + ROLLBACK.replace("rollback", "Rollback"), ":13: Rollback: unknown table"),
        (PASSING + '[reprot]\nout = "x"\n', ":13: reprot: unknown table"),
        (
            "[gates.shadow]\nmetrics.accuracy = { min = 0.9, max = 0.8 }\n",
            ":10: gates.shadow.metrics.accuracy: min = 0.9 is above max = 0.8",
        ),
        ("[gates.shadow]\nmin_n = nan\n", ":10: gates.shadow.min_n: must be a finite number"),
        ("[gates.shadow]\nmin_n = inf\n", ":10: gates.shadow.min_n: must be a finite number"),
        (
            "[gates.shadow]\nmin_n = { segment = -inf }\n",
            ":10: gates.shadow.min_n.segment: must be a finite number, got -inf.",
        ),
        # this one ended in a traceback from int(nan)
        (
            "[gates]\nmin_segment_n = nan\n" + PASSING,
            ":10: gates.min_segment_n: must be a finite number, got nan.",
        ),
        (
            "[gates.shadow]\nmetrics.brier = { max = inf }\n",
            ":10: gates.shadow.metrics.brier.max: must be a finite number",
        ),
    ],
)
def test_typos_and_impossible_bounds_exit_2_naming_the_key(capsys, folder, policy, message):
    code, out, err = run(capsys, "--config", config(folder, policy), "--month", "2026-11")
    assert (code, out) == (EXIT_USAGE, "")
    (line,) = err.splitlines()
    assert line.startswith(f"aidebt: error: {folder / 'audit.toml'}") and message in line
    if "unknown table" in message:
        assert "Did you mean" in line


def test_time_format_and_pos_label_come_from_the_config(capsys, tmp_path):
    """A CSV with US dates and text labels is checked as its config says: [data]
    time_format reads the dates, pos_label says which labels are positive."""
    log = rows(10, "en", 9_000, 0.93) + rows(11, "en", 9_000, 0.93) + rows(11, "ja", 1_000, 0.70)
    frame = pl.DataFrame(log).with_columns(
        pl.col("ts").dt.strftime("%m/%d/%Y"),
        pl.col("y").replace_strict({1: "High", 0: "Low"}, return_dtype=pl.String),
        pl.col("p").replace_strict({1: "High", 0: "Low"}, return_dtype=pl.String),
    )
    frame.write_csv(tmp_path / "log.csv")
    data = DATA.replace("log.parquet", "log.csv")
    data += 'time_format = "%m/%d/%Y"\npos_label = ["High"]\n'
    assert main(["check", "--config", config(tmp_path, FAILING, data), "--month", "2026-11"]) == (
        EXIT_FAILED
    )
    assert "Language: ja" in capsys.readouterr().out
    without = DATA.replace("log.parquet", "log.csv") + 'pos_label = ["High"]\n'
    assert main(["check", "--config", config(tmp_path, FAILING, without)]) == EXIT_USAGE
    assert "time_format" in capsys.readouterr().err


@pytest.mark.parametrize(
    "value", ['{ y_true = "High", y_score = "x" }', "[]", "{}", '[["High"]]', "2026-11-01"]
)
def test_a_malformed_pos_label_exits_2_naming_the_key(capsys, folder, value):
    assert main(
        ["check", "--config", config(folder, PASSING, DATA + f"pos_label = {value}\n")]
    ) == (EXIT_USAGE)
    assert "data.pos_label" in capsys.readouterr().err


def test_fairness_criteria_exit_codes(capsys, folder):
    """October: both languages decide alike (exit 0); November: ja's true- and
    false-positive rates are 0.23 off en's, so equalized odds fails (exit 1) and the
    trigger fires; a misspelled summary is bad input (exit 2)."""
    policy = """
    [gates.shadow]
    fairness.demographic_parity_ratio = { min = 0.8 }
    [gates.copilot]
    fairness.equalized_odds_difference = { max = 0.1 }
    """
    cfg = config(folder, policy)
    code, out, _ = run(capsys, "--config", cfg, "--month", "2026-10")
    assert code == EXIT_OK and re.search(r"copilot +PASS", out)
    code, out, _ = run(capsys, "--config", cfg, "--month", "2026-11")
    assert code == EXIT_FAILED and re.search(r"copilot +FAIL", out)
    assert "equalized_odds_difference by language = 0.230" in out and "(ja vs en)" in out
    assert run(capsys, "--config", cfg, "--month", "2026-11", "--stage", "shadow")[0] == EXIT_OK
    cfg = config(
        folder, policy + "[rollback]\nfairness.equalized_odds_difference = { max = 0.1 }\n"
    )
    code, out, _ = run(capsys, "--config", cfg, "--month", "2026-11", "--stage", "shadow")
    assert code == EXIT_FAILED and re.search(r"rollback +FIRED", out)
    assert "FAIL: a rollback trigger fired." in out
    bad = config(folder, "[gates.s]\nfairness.equalized_odds_diference = { max = 0.1 }\n")
    code, out, err = run(capsys, "--config", bad)
    assert code == EXIT_USAGE and out == ""
    assert "gates.s.fairness.equalized_odds_diference: unknown fairness summary." in err
    assert "Did you mean 'equalized_odds_difference'" in err


def _labels(folder: Path, judge_flips: int) -> None:
    """600 items labeled by an expert and a judge; the judge flips every ``judge_flips``-th
    label of the Japanese items (0: none)."""
    items = list(range(600))
    gold = [i % 2 for i in items]
    language = ["ja" if i % 3 == 0 else "en" for i in items]
    judge = [
        1 - g if judge_flips and lang == "ja" and i % judge_flips == 0 else g
        for i, g, lang in zip(items, gold, language, strict=True)
    ]
    pl.DataFrame(
        {
            "item": items * 2,
            "who": ["expert"] * 600 + ["judge"] * 600,
            "label": gold + judge,
            "language": language * 2,
        }
    ).write_parquet(folder / "labels.parquet")


LABELS = """
[labels]
path = "labels.parquet"
item = "item"
rater = "who"
label = "label"
gold = "expert"
segments = ["language"]
"""


def test_ground_truth_criteria_exit_codes(capsys, folder):
    """labels.kappa: exit 0 while the judge agrees with the expert, 1 when it flips many
    Japanese labels, 2 for a key the table does not know; a criterion whose table is not
    configured is skipped, not failed (exit 0), and says why."""
    policy = "[gates.shadow]\nlabels.kappa = { min = 0.6, rater = 'judge' }\n"
    _labels(folder, 0)
    code, out, _ = run(capsys, "--config", config(folder, policy, DATA + LABELS))
    assert code == EXIT_OK and re.search(r"shadow +PASS", out)
    _labels(folder, 3)
    code, out, _ = run(capsys, "--config", config(folder, policy, DATA + LABELS))
    assert code == EXIT_FAILED
    assert "x kappa of judge against expert in Language: ja = " in out
    code, out, _ = run(capsys, "--config", config(folder, policy))  # no [labels] table
    assert code == EXIT_OK and "(0 checks, 1 skipped)" in out
    bad = config(folder, policy, DATA + LABELS.replace("rater =", "ratr ="))
    code, out, err = run(capsys, "--config", bad)
    assert (code, out) == (EXIT_USAGE, "")
    assert ":13: labels.ratr: unknown key in [labels]." in err and "Did you mean 'rater'" in err
    bad = config(folder, policy.replace("kappa", "kapa"), DATA + LABELS)
    code, out, err = run(capsys, "--config", bad)
    assert code == EXIT_USAGE and "gates.shadow.labels.kapa: unknown label measure" in err
    slices = "[gates.shadow]\nslices.error_rate = { max_excess = 0.05, columns = ['language'] }\n"
    code, out, _ = run(capsys, "--config", config(folder, slices), "--month", "2026-10")
    assert code == EXIT_OK
    code, out, _ = run(capsys, "--config", config(folder, slices), "--month", "2026-11")
    assert code == EXIT_FAILED and "error_rate in language = ja = 0.300 vs 0.070" in out
    clocks = "[gates.shadow]\nclocks = { max_overdu = 0 }\n"
    code, _, err = run(capsys, "--config", config(folder, clocks))
    assert code == EXIT_USAGE and "Did you mean 'max_overdue'" in err
