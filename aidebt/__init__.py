"""aidebt: audit the silent debt of production AI features.

>>> import aidebt as ad
>>> logs = ad.datasets.demo(n_per_month=2_000, months=2)
>>> r = ad.disaggregate(logs, y_true="y_true", y_pred="y_pred", by="language")
>>> sorted(r.table["metric"].unique().to_list())
['accuracy', 'fnr', 'fpr', 'selection_rate']
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from aidebt import datasets, errors, jupyter, metrics, stats
from aidebt.compare import Comparison, compare
from aidebt.decay import Changepoints, Crossing, Decay, Trend, decay
from aidebt.disaggregate import Disaggregation, disaggregate
from aidebt.drift import (
    Coverage,
    Drift,
    DriftOverTime,
    DriftProfile,
    coverage,
    drift,
    drift_over_time,
    drift_profile,
)
from aidebt.frames import filter_window
from aidebt.gates import GateCheck, check
from aidebt.simpson import Simpson, simpson

try:
    __version__ = version("aidebt")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"

jupyter.auto_enable()  # in a Jupyter kernel, charts draw offline (aidebt/jupyter.py)

__all__ = [
    "Comparison",
    "Changepoints",
    "Coverage",
    "Crossing",
    "Decay",
    "Disaggregation",
    "GateCheck",
    "Simpson",
    "Drift",
    "DriftOverTime",
    "DriftProfile",
    "Trend",
    "__version__",
    "check",
    "compare",
    "coverage",
    "datasets",
    "decay",
    "disaggregate",
    "drift",
    "drift_over_time",
    "drift_profile",
    "errors",
    "filter_window",
    "metrics",
    "simpson",
    "stats",
]
