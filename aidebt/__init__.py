"""aidebt: audit the silent debt of production AI features.

``import aidebt`` is light: the public names below are loaded on first use (PEP 562), so
scipy, statsmodels and altair are imported only by the analysis that needs them.

>>> import aidebt as ad
>>> logs = ad.datasets.demo(n_per_month=2_000, months=2)
>>> r = ad.disaggregate(logs, y_true="y_true", y_pred="y_pred", by="language")
>>> sorted(r.table["metric"].unique().to_list())
['accuracy', 'fnr', 'fpr', 'selection_rate']
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

from aidebt import jupyter

# Public name -> the module that defines it.
_EXPORTS = {
    "Comparison": "aidebt.compare",
    "compare": "aidebt.compare",
    "Curve": "aidebt.curve",
    "curve": "aidebt.curve",
    "PairedComparison": "aidebt.versions",
    "compare_paired": "aidebt.versions",
    "quantile_table": "aidebt.versions",
    "BenchmarkGap": "aidebt.versions",
    "benchmark_gap": "aidebt.versions",
    "Changepoints": "aidebt.changepoints",
    "Crossing": "aidebt.trend",
    "Trend": "aidebt.trend",
    "Decay": "aidebt.decay",
    "decay": "aidebt.decay",
    "Disaggregation": "aidebt.disaggregate",
    "disaggregate": "aidebt.disaggregate",
    "Coverage": "aidebt.coverage",
    "coverage": "aidebt.coverage",
    "Drift": "aidebt.drift",
    "DriftOverTime": "aidebt.drift",
    "DriftProfile": "aidebt.drift",
    "drift": "aidebt.drift",
    "drift_over_time": "aidebt.drift",
    "drift_profile": "aidebt.drift",
    "Fairness": "aidebt.fairness",
    "fairness": "aidebt.fairness",
    "filter_window": "aidebt.frames",
    "GateCheck": "aidebt.gates",
    "check": "aidebt.gates",
    "Month": "aidebt.periods",
    "Simpson": "aidebt.simpson",
    "simpson": "aidebt.simpson",
    "datasets": "aidebt.datasets",
    "errors": "aidebt.errors",
    "metrics": "aidebt.metrics",
    "stats": "aidebt.stats",
}

_MODULES = {"datasets", "errors", "metrics", "stats"}  # names that are modules themselves

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    if name == "__version__":  # importlib.metadata is slow to import: only when asked
        from aidebt._version import __version__

        return __version__
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'aidebt' has no attribute {name!r}")
    loaded = importlib.import_module(module)
    value = loaded if name in _MODULES else getattr(loaded, name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


class _Package(types.ModuleType):
    """The package object: importing ``aidebt.decay`` must not hide the function ``decay``.

    The import system sets each submodule as an attribute of its package; where a function
    has the name of its own module (``decay``, ``drift``, ``simpson``...), that would make
    ``ad.decay`` the module once anything imported it. Those assignments are dropped, so
    the name keeps resolving to the function.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _EXPORTS and name not in _MODULES:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

jupyter.auto_enable()  # in a Jupyter kernel, charts draw offline (aidebt/jupyter.py)
