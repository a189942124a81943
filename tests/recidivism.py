"""A second data set, shaped like a public criminal-justice risk-score file, not like the demo.

The reports are tested on it because it differs from the demo log in every way a real
team's log can: no score column, no version column, labels and decisions written as
text (``"Yes"``/``"No"``), the date of each row written as text in a CSV file, no golden
set, a column recorded *after* the outcome (``is_recid``: a leak) and a duplicated model
output (``decile_score.1``), and groups of a handful of people (``race`` has two levels
of well under 1%). Two years of 300 rows a month.

Planted truths (the design follows the published analyses of such files, the numbers are
this generator's own): people in ``race = "African-American"`` get a higher decile score
for the same risk, so their false-positive rate (rated medium or high risk, did not
reoffend) is about twice that of ``"Caucasian"``; reoffending depends on age, priors and
charge degree, not on race.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

RACES = ["African-American", "Caucasian", "Hispanic", "Other", "Asian", "Native American"]
RACE_P = [0.51, 0.34, 0.08, 0.062, 0.005, 0.003]
AGES = ["Less than 25", "25 - 45", "Greater than 45"]
AGE_P = [0.22, 0.57, 0.21]

VOCABULARY = """
[report]
title = "Risk assessment"
feature = "the risk score"
decision = "risk rating"
outcome = "two-year outcome"
positive = "reoffended"
negative = "did not reoffend"
flagged = "rated medium or high risk"
names = { age_cat = "age group", c_charge_degree = "charge degree" }
"""


def recidivism(months: int = 24, per_month: int = 300, seed: int = 7) -> pl.DataFrame:
    """The data set, one row per person assessed, ``per_month`` rows in each month.

    Examples
    --------
    >>> frame = recidivism(months=2, per_month=10)
    >>> frame.height, frame["two_year_recid"].unique().sort().to_list()
    (20, ['No', 'Yes'])
    """
    rng = np.random.default_rng(seed)
    n = months * per_month
    month = np.repeat(np.arange(months), per_month)
    day = rng.integers(1, 29, n)
    start = dt.date(2013, 1, 1)
    dates = [
        dt.date(start.year + (start.month - 1 + m) // 12, (start.month - 1 + m) % 12 + 1, int(d))
        for m, d in zip(month, day, strict=True)
    ]
    race = rng.choice(len(RACES), n, p=RACE_P)
    age = rng.choice(len(AGES), n, p=AGE_P)
    sex = np.where(rng.random(n) < 0.81, "Male", "Female")
    felony = rng.random(n) < 0.64
    priors = rng.poisson(np.where(age == 0, 1.5, np.where(age == 1, 3.5, 4.0)))
    # Risk depends on age, priors and charge; not on race.
    logit = -0.4 + np.array([0.9, 0.0, -0.8])[age] + 0.18 * np.minimum(priors, 15) - 0.6
    logit = logit + 0.2 * felony
    reoffends = rng.random(n) < 1 / (1 + np.exp(-logit))
    # The score sees the same risk, plus a bias against one group.
    latent = logit + 0.6 * (race == 0) + rng.normal(0, 0.6, n)
    decile = np.clip(np.ceil((latent + 1.8) / 0.5), 1, 10).astype(int)
    text = np.where(decile <= 4, "Low", np.where(decile <= 7, "Medium", "High"))
    # Recorded after the outcome: anyone who reoffended within two years, and some later.
    is_recid = reoffends | (rng.random(n) < 0.08)
    yes_no = np.array(["No", "Yes"])
    return pl.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "screening_date": dates,
            "sex": sex,
            "race": np.array(RACES)[race],
            "age_cat": np.array(AGES)[age],
            "c_charge_degree": np.where(felony, "F", "M"),
            "priors_count": priors,
            "decile_score": decile,
            "decile_score.1": decile,
            "score_text": text,
            "high_risk": yes_no[(decile >= 5).astype(int)],
            "is_recid": yes_no[is_recid.astype(int)],
            "two_year_recid": yes_no[reoffends.astype(int)],
        }
    )


def write(folder: str | Path, **kwargs) -> Path:
    """Write the data set as ``folder/people.csv`` (dates as ISO text) and an
    ``audit.toml`` next to it that names its columns and words; return the config."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    recidivism(**kwargs).write_csv(folder / "people.csv")
    config = folder / "audit.toml"
    config.write_text(
        '[data]\npath = "people.csv"\ntime = "screening_date"\ny_true = "two_year_recid"\n'
        'y_pred = "high_risk"\n'
        'segments = ["race", "sex", "age_cat", "c_charge_degree"]\n'
        + VOCABULARY
        + '\n[report.parameters]\npos_label = "Yes"\n'
    )
    return config
