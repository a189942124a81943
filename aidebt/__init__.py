"""aidebt: audit the silent debt of production AI features.

>>> import aidebt as ad
>>> logs = ad.datasets.demo(n_per_month=2_000, months=2)
>>> r = ad.disaggregate(logs, y_true="y_true", y_pred="y_pred", by="language")
>>> sorted(r.table["metric"].unique().to_list())
['accuracy', 'fnr', 'fpr', 'selection_rate']
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from aidebt import datasets, errors, metrics, stats
from aidebt.disaggregate import Disaggregation, disaggregate

try:
    __version__ = version("aidebt")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"

__all__ = [
    "Disaggregation",
    "__version__",
    "datasets",
    "disaggregate",
    "errors",
    "metrics",
    "stats",
]
