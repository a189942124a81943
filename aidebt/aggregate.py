"""Step 1 of every analysis: one group-by pass to a small table of sufficient statistics.

Every metric aidebt reports is a function of a few additive per-group sums: the cells of
the confusion matrix, sums and sums of squares of an outcome or a score, and, for AUC,
counts per (score, label). :func:`sufficient_stats` computes them in a single group-by
that runs inside the engine holding the data (polars, DuckDB, pandas, pyarrow, Spark,
through narwhals): per-row contributions are plain columns, the aggregation is plain sums.
Because the sums are additive, margins and the overall row come from re-summing the small
table (:func:`rollup`), never from another scan of the rows.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import narwhals as nw
import narwhals.dtypes as nwd
import numpy as np
import polars as pl

from aidebt import frames
from aidebt.errors import ColumnTypeError, InvalidArgumentError, InvalidValueError
from aidebt.groups import check_names

# The additive statistics and what each one sums (every sum is frequency-weighted).
STAT_DOCS = {
    "rows": "rows in the group (unweighted)",
    "n": "weighted size of the group, labeled or not",
    "labeled": "weighted rows with a non-null label",
    "tp": "true positives",
    "fp": "false positives",
    "fn": "false negatives",
    "tn": "true negatives",
    "pred_pos": "predicted positives over all rows (labeled or not)",
    "pos": "labeled positives",
    "y_sum": "sum of a numeric outcome",
    "y_sq": "sum of squares of a numeric outcome",
    "score_n": "rows with a score",
    "score_sum": "sum of scores",
    "score_sq": "sum of squared scores",
    "brier_n": "labeled rows with a score",
    "brier_sum": "sum of (score - label)^2",
    "brier_sq": "sum of (score - label)^4",
    "t_sum": "sum of a time coordinate over the rows (with time=: where in its period a row is)",
    "t_labeled": "sum of the time coordinate over the labeled rows",
}
# Calibration (the ``ece`` metric): per equal-width score bin k of [0, 1], over labeled
# rows with a score, three additive sums (asked for with need={CALIBRATION}). The pass
# groups by the score bin too (one key of at most twelve values: cheaper in every engine
# than thirty conditional sums), and the small table is spread back to these columns.
CALIBRATION = "calibration"
_CAL_BIN = "_cal_bin"
CALIBRATION_BINS = 10  # = aidebt.stats.CALIBRATION_BINS (stats is imported lazily here)
CAL_SIZE = tuple(f"cal_n_{k}" for k in range(CALIBRATION_BINS))
CAL_POS = tuple(f"cal_pos_{k}" for k in range(CALIBRATION_BINS))
CAL_SCORE = tuple(f"cal_s_{k}" for k in range(CALIBRATION_BINS))
for _k in range(CALIBRATION_BINS):
    _bin = f"in score bin {_k} ([{_k / 10:.1f}, {(_k + 1) / 10:.1f}{']' if _k == 9 else ')'})"
    STAT_DOCS[CAL_SIZE[_k]] = f"labeled rows with a score {_bin}"
    STAT_DOCS[CAL_POS[_k]] = f"labeled positives with a score {_bin}"
    STAT_DOCS[CAL_SCORE[_k]] = f"sum of the scores of labeled rows {_bin}"
# Input checks that ride along in the same pass; each must sum to zero. (The pass also
# counts the rows holding each positive label, "_pos_<role>_<i>", which must not be zero.)
_CHECKS = ("bad_labels", "bad_weight", "frac_weight", "bad_score", "out_score")
_POS_CHECK = "_pos_"
STAT_COLUMNS = frozenset({*STAT_DOCS, "pred_labeled", *_CHECKS})
"""Every column a table of sums holds besides its keys: no group column may be named so."""
# Within this distance of a whole number a float weight counts as one (3.0000000001 is 3).
_WHOLE = 1e-9
# A per-row 0/1 flag of the pass (labeled, a check...): one byte a row, not eight. Every
# engine sums it into a 64-bit (or wider) integer, and the pass is a third faster for it.
FLAG = nw.Int8


LABEL_ROLES = ("y_true", "y_pred")
"""The roles ``pos_label`` applies to."""
_COLLECTIONS = (list, tuple, set, frozenset)


@dataclass(frozen=True)
class Roles:
    """Which columns play which part in an analysis.

    ``binary`` says whether ``y_true`` must be a 0/1 label (it need not for ``mean``).
    ``probability``: a metric compares the score with the label (the Brier score), so
    scores must lie in [0, 1]; AUC and the mean score take any finite score.

    ``pos_label`` says which values of a label or prediction column mean *positive*
    (every other value is negative, a null stays unlabeled), like scikit-learn's, in
    one of three forms:

    - a value: ``pos_label="High"``, for ``y_true`` and ``y_pred`` alike;
    - a list of values: ``pos_label=["Medium", "High"]`` ("Medium or High is positive");
    - per column, where they differ: ``pos_label={"y_true": ["Medium", "High"],
      "y_pred": 1}`` (a role left out keeps its 0/1 or boolean column as it is).

    Each positive value must occur in its column (with one ``pos_label`` for both,
    in either column) and have the column's type: a typo would otherwise make every row
    negative. The pass checks it at no extra cost.

    Examples
    --------
    >>> Roles(y_true="y", pos_label={"y_true": ["Medium", "High"]}).positives("y_true")
    ('Medium', 'High')
    >>> Roles(y_true="y", pos_label="High").positives("y_pred")
    ('High',)
    >>> Roles(y_true="y", pos_label={"y_true": "High"}).positives("y_pred") is None
    True
    """

    y_true: str | None = None
    y_pred: str | None = None
    y_score: str | None = None
    weight: str | None = None
    pos_label: Any = None
    binary: bool = True
    probability: bool = False

    def __post_init__(self) -> None:
        check_pos_label(self.pos_label)
        if self.pos_label is not None and not self.binary:
            raise InvalidArgumentError(
                f"pos_label={self.pos_label!r} turns labels into 0/1, but every metric asked for "
                "reads y_true as a number (mean): drop pos_label, or ask for 'prevalence' "
                "(the share of positive labels)."
            )

    def names(self) -> list[str]:
        return [c for c in (self.y_true, self.y_pred, self.y_score, self.weight) if c]

    def positives(self, role: str) -> tuple | None:
        """The values that mean positive in the ``role`` column; None: it is 0/1 already."""
        given = self.pos_label
        if isinstance(given, Mapping):
            given = given.get(role)
        if given is None:
            return None
        return tuple(given) if isinstance(given, _COLLECTIONS) else (given,)

    def binarize(self, values: Any, role: str) -> Any:
        """A numpy array of one role's raw values as 0/1 (for user metric callables)."""
        import numpy as np

        pos = self.positives(role)
        return values if pos is None else np.isin(values, list(pos)).astype(int)


_POS_LABEL_FORMS = (
    "a value (pos_label='High'), a list of values (pos_label=['Medium', 'High']) or one "
    "per column (pos_label={'y_true': ['Medium', 'High'], 'y_pred': 1})"
)


def check_pos_label(pos_label: Any) -> None:
    """Raise a clear error unless ``pos_label`` has one of its three forms (no data read)."""
    if pos_label is None:
        return
    parts = pos_label if isinstance(pos_label, Mapping) else {"": pos_label}
    unknown = [k for k in parts if k not in LABEL_ROLES] if parts is pos_label else []
    if unknown or not parts:
        raise InvalidArgumentError(
            f"pos_label={pos_label!r}: a mapping names the roles it applies to, 'y_true' "
            f"and/or 'y_pred'{f' (not {unknown[0]!r})' if unknown else ''}. pos_label is "
            f"{_POS_LABEL_FORMS}."
        )
    for given in parts.values():
        values = list(given) if isinstance(given, _COLLECTIONS) else [given]
        if not values:
            raise InvalidArgumentError(
                f"pos_label={pos_label!r} names no positive value. pos_label is {_POS_LABEL_FORMS}."
            )
        for v in values:
            if (
                v is None
                or isinstance(v, (Mapping, *_COLLECTIONS))
                or (isinstance(v, float) and v != v)
            ):
                raise InvalidArgumentError(
                    f"pos_label={pos_label!r} holds {v!r}, which cannot be a label value. "
                    f"pos_label is {_POS_LABEL_FORMS}."
                )


def is_missing(frame: nw.LazyFrame, name: str) -> nw.Expr:
    """Where a label (or prediction, or score) is missing, as a boolean expression.

    The one rule of the package: a value is missing when it is null, or NaN in a float
    column (pandas' only missing value for numpy floats); None in a pandas object column
    is a null too. A row whose label is missing is unlabeled: it counts in ``n`` and the
    selection rate, never in a label-based metric.

    Examples
    --------
    >>> import polars as pl
    >>> frame = nw.from_native(pl.LazyFrame({"y": [1.0, None, float("nan"), 0.0]}))
    >>> frame.select(is_missing(frame, "y")).collect()["y"].to_list()
    [False, True, True, False]
    """
    col = nw.col(name)
    if frames.columns(frame)[name].is_float():
        return col.is_null() | col.is_nan()
    return col.is_null()


def present(frame: nw.LazyFrame, name: str) -> nw.Expr:
    """The column with every missing value (:func:`is_missing`) as null."""
    col = nw.col(name)
    if frames.columns(frame)[name].is_float():
        return nw.when(~col.is_nan()).then(col)
    return col


def _label_expr(frame: nw.LazyFrame, name: str, role: str, roles: Roles) -> nw.Expr:
    """A column as numbers (null kept), mapping ``pos_label`` or booleans to 0/1."""
    dtype = frames.columns(frame)[name]
    col = nw.col(name)
    missing = is_missing(frame, name)
    positives = roles.positives(role) if roles.binary else None
    if roles.binary and positives is None and numbers_as_categories(frame, name, dtype):
        # pandas' astype("category") of 0/1 labels: the categories are read as the numbers
        # they are (through their text, which every engine's categories cast to).
        return col.cast(nw.String).cast(nw.Float64)
    if positives is not None:
        _check_positive_types(frame, name, role, dtype, positives, roles)
        hit = col == positives[0] if len(positives) == 1 else col.is_in(list(positives))
        # Guarded: pandas compares a missing value as False, which would make it a negative.
        return nw.when(~missing).then(hit.cast(nw.Int8))
    if dtype == nw.Boolean:
        return col.cast(nw.Int8)
    if dtype == nw.Object and roles.binary:
        # pandas keeps booleans with None as objects: True/1 -> 1, False/0 -> 0, and any
        # other value -> 2, which the label check reports with sample values.
        known = nw.when(col == 1).then(nw.lit(1, nw.Int8)).otherwise(nw.lit(2, nw.Int8))
        known = nw.when(col == 0).then(nw.lit(0, nw.Int8)).otherwise(known)
        return nw.when(~missing).then(known)
    if not frames.is_numeric(dtype):
        found = frames.sample_values(frame, name)
        hint = pos_label_hint(frame, role, roles) if roles.binary else "Cast it to a number first."
        raise ColumnTypeError(
            f"Column {name!r} ({role}) holds {dtype} values ({found}); aidebt needs 0/1 or "
            f"booleans here. {hint}"
        )
    return _as_float_if_decimal(present(frame, name), dtype)


def numbers_as_categories(frame: nw.LazyFrame, name: str, dtype: Any) -> bool:
    """A categorical column whose categories are numbers (0/1 labels stored as categories).

    One small query on the column's distinct values, for a categorical label column only.
    """
    if not (dtype == nw.Categorical or isinstance(dtype, nwd.Enum) or dtype == nw.Enum):
        return False
    values = [v for v in frames.distinct_values(frame, name, limit=20) or [] if v is not None]
    return bool(values) and all(_spells_number(v) for v in values)


def _spells_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


# Two-valued vocabularies whose positive member is not a matter of opinion.
_KNOWN_POSITIVE = {
    frozenset({"yes", "no"}): "yes",
    frozenset({"y", "n"}): "y",
    frozenset({"true", "false"}): "true",
    frozenset({"t", "f"}): "t",
    frozenset({"positive", "negative"}): "positive",
    frozenset({"pos", "neg"}): "pos",
}


def known_positive(values: Sequence[Any]) -> Any:
    """The positive one of two label values whose vocabulary settles it (``'Yes'`` of
    Yes/No, ``'T'`` of T/F...), else None: aidebt never picks one by sort order.

    >>> known_positive(["No", "Yes"]), known_positive(["fraud", "ok"])
    ('Yes', None)
    """
    known = _KNOWN_POSITIVE.get(frozenset(str(v).lower() for v in values))
    return next((v for v in values if str(v).lower() == known), None) if known else None


def flag_fix(frame: nw.LazyFrame, name: str) -> str:
    """Code that maps a text yes/no column to 0/1, for an error message (never a guess).

    The positive value is named only where the vocabulary settles it (:func:`known_positive`);
    otherwise the code says VALUE and lists the values to choose from.
    """
    values = [v for v in frames.distinct_values(frame, name, limit=20) or [] if v is not None]
    positive = known_positive(values)
    if positive is not None:
        return f"(pl.col({name!r}) == {positive!r}).cast(pl.Int8)"
    listed = ", ".join(repr(v) for v in values[:8])
    return (
        f"(pl.col({name!r}) == VALUE).cast(pl.Int8), where VALUE is the value that means "
        f"positive (one of {listed})"
    )


def pos_label_hint(frame: nw.LazyFrame, role: str, roles: Roles) -> str:
    """How to say which values of a text label column mean positive (never a guess).

    A value is suggested only where the vocabulary settles it (yes/no, true/false...): for
    any other values, picking one (the first in sort order, say) could invert the labels.
    With a numeric column in the other role, the hint is the per-column form, since one
    ``pos_label`` for both would be compared with that column's numbers too.
    """
    name = getattr(roles, role)
    values = [v for v in frames.distinct_values(frame, name, limit=20) or [] if v is not None]
    value = known_positive(values)
    shown = "VALUE" if value is None else repr(value)
    other = "y_pred" if role == "y_true" else "y_true"
    other_name = getattr(roles, other)
    numeric_other = other_name is not None and frames.is_numeric(frames.columns(frame)[other_name])
    form = f"pos_label={{{role!r}: {shown}}}" if numeric_other else f"pos_label={shown}"
    if value is None:
        listed = ", ".join(repr(v) for v in values[:8])
        what = f", where VALUE is the value that means positive (one of {listed}) or a list of them"
    else:
        what = f" ({value!r} means positive)"
    kept = f"; {other} ({other_name!r}) holds numbers and stays as it is" if numeric_other else ""
    return f"Say which values mean positive with {form}{what}{kept}."


def _check_positive_types(
    frame: nw.LazyFrame, name: str, role: str, dtype: Any, positives: tuple, roles: Roles
) -> None:
    """A positive value of another type than its column's never matches: say so (schema only)."""
    if dtype in (nw.String, nw.Categorical) or isinstance(dtype, nwd.Enum) or dtype == nw.Enum:
        ok, kind = all(isinstance(v, str) for v in positives), "text"
    elif dtype == nw.Boolean:
        ok, kind = all(isinstance(v, bool) or v in (0, 1) for v in positives), "booleans"
    elif dtype.is_numeric():
        ok = all(isinstance(v, int | float) and not isinstance(v, bool) for v in positives)
        kind = "numbers"
    else:  # pandas objects and other types: compared as they are
        return
    if ok:
        return
    found = frames.sample_values(frame, name)
    fix = "Pass a value of the column's type"
    other = "y_pred" if role == "y_true" else "y_true"
    if not isinstance(roles.pos_label, Mapping) and getattr(roles, other):
        fix = (
            f"To apply it to {other} only, pass pos_label={{{other!r}: {roles.pos_label!r}}}; "
            "or pass a value of this column's type"
        )
    raise ColumnTypeError(
        f"pos_label {_values_text(positives)} does not match column {name!r} ({role}), which "
        f"holds {kind} ({found}): no row would be positive. {fix}."
    )


def _values_text(values: Sequence[Any]) -> str:
    return repr(values[0]) if len(values) == 1 else "[" + ", ".join(map(repr, values)) + "]"


def _as_float_if_decimal(col: nw.Expr, dtype: Any) -> nw.Expr:
    """Decimals as Float64 before any arithmetic, the same in every engine.

    Engines multiply decimals differently (polars keeps the operands' scale, so a product of
    two 6-digit decimals loses 6 digits; DuckDB and Spark widen it); as floats, a decimal
    column gives what the same values give in a float column.
    """
    return col.cast(nw.Float64) if isinstance(dtype, nwd.Decimal) or dtype == nw.Decimal else col


def _contributions(
    frame: nw.LazyFrame, roles: Roles, need: set[str], time: nw.Expr | None = None
) -> dict[str, nw.Expr]:
    """Per-row contribution of each statistic; the group-by only sums these.

    Plain column sums keep every engine on its fast aggregation path, and the list is kept
    short: fn, fp and tn are derived afterwards from tp, pos and pred_labeled (see
    :func:`_as_stats`), and an unweighted pass multiplies by nothing.
    """

    schema = frames.columns(frame)
    weight = (
        _as_float_if_decimal(nw.col(roles.weight), schema[roles.weight]) if roles.weight else None
    )

    def weighted(expr: nw.Expr) -> nw.Expr:
        return expr * weight.fill_null(0) if weight is not None else expr

    out: dict[str, nw.Expr] = {}  # "rows" is counted by the group-by itself (_sums)
    if roles.weight:  # unweighted, n is rows: _complete fills it in without a second sum
        out["n"] = weighted(nw.lit(1, nw.Int64))
        out.update(weight_checks(roles.weight, schema[roles.weight]))
    if time is not None:  # a period's mean time is one more additive statistic
        out["t_sum"] = weighted(time)
    if roles.y_true:
        y = _label_expr(frame, roles.y_true, "y_true", roles)
        labeled = (~y.is_null()).cast(FLAG)
        y0 = y.fill_null(0)
        out["labeled"] = weighted(labeled)
        if time is not None:
            out["t_labeled"] = weighted(labeled * time)
        bad = ~y.is_null() & ~((y == 0) | (y == 1)) if roles.binary else None
        if roles.binary:
            out["pos"] = weighted(y0)
        if "y_sum" in need:
            out["y_sum"] = weighted(y0)
            out["y_sq"] = weighted(y0 * y0)
        if roles.y_pred and roles.binary:
            p = _label_expr(frame, roles.y_pred, "y_pred", roles)
            p0 = p.fill_null(0)
            bad = bad | p.is_null() | ~((p == 0) | (p == 1))
            out["tp"] = weighted(y0 * p0)
            out["pred_labeled"] = weighted(labeled * p0)
            out["pred_pos"] = weighted(p0)
        if bad is not None:
            # One check column for labels and predictions; _raise_on_bad_input says which.
            out["bad_labels"] = bad.cast(FLAG)
    elif roles.y_pred and roles.binary:  # predictions alone: selection_rate needs no labels
        p = _label_expr(frame, roles.y_pred, "y_pred", roles)
        out["pred_pos"] = weighted(p.fill_null(0))
        out["bad_labels"] = (p.is_null() | ~((p == 0) | (p == 1))).cast(FLAG)
    out.update(_positive_counts(roles))
    for name in sorted(need):  # sums of a numeric column, for its mean (value_sums)
        if name.startswith("sum(") and name.endswith(")"):
            column = name[4:-1]
            v = _as_float_if_decimal(nw.col(column), schema[column])
            has = ~v.is_null()
            if schema[column].is_float():
                has = has & v.is_finite()  # NaN (and infinities) count as missing
            v0 = nw.when(has).then(v).otherwise(0)
            total, squares, count = value_sums(column)
            out[total] = weighted(v0)
            out[squares] = weighted(v0 * v0)
            out[count] = weighted(has.cast(FLAG))
    if roles.y_score:
        s_col = frames.columns(frame)[roles.y_score]
        if not frames.is_numeric(s_col):
            raise ColumnTypeError(
                f"Column {roles.y_score!r} (y_score) has type {s_col}; scores must be numbers. "
                "Pass the model's probability or confidence column."
            )
        s = _as_float_if_decimal(nw.col(roles.y_score), s_col)
        has = ~s.is_null()
        s0 = s.fill_null(0)
        if s_col.is_float():
            out["bad_score"] = (has & ~s.is_finite()).cast(FLAG)
        if roles.probability:
            out["out_score"] = (has & ((s < 0) | (s > 1))).cast(FLAG)
        out["score_n"] = weighted(has.cast(FLAG))
        out["score_sum"] = weighted(s0)
        out["score_sq"] = weighted(s0 * s0)
        if roles.y_true and roles.binary:
            y = _label_expr(frame, roles.y_true, "y_true", roles)
            both = (has & ~y.is_null()).cast(FLAG)
            d = s0 - y.fill_null(0)
            d2 = d * d  # not ** 2: polars has no pow for Decimal scores
            out["brier_n"] = weighted(both)
            out["brier_sum"] = weighted(both * d2)
            out["brier_sq"] = weighted(both * d2 * d2)
    return out


def score_bin(score: nw.Expr, edges: Sequence[float]) -> nw.Expr:
    """The index of a score's bin: ``[e_0, e_1)`` is 0 ... ``[e_{k-1}, 1]`` is ``k - 1``.

    A score below 0 or above 1 (or null) gets ``k``, outside every bin. The one binning
    rule of the package: the ``ece`` metric's per-bin sums and the score-bin key of
    :func:`aidebt.fairness.score_bin_key` both use it. ``edges`` come from
    :func:`aidebt.stats.calibration_edges`.
    """
    k = len(edges) - 1
    key = nw.when(score < 0).then(nw.lit(k))
    for idx, edge in enumerate(edges[1:-1]):
        key = key.when(score < float(edge)).then(nw.lit(idx))
    return key.when(score <= 1).then(nw.lit(k - 1)).otherwise(nw.lit(k))


def calibration_key(
    frame: nw.LazyFrame, y_score: str, y_true: str | None, edges: Sequence[float]
) -> nw.Expr:
    """The score-bin group key of a calibration: the bin's index (:func:`score_bin`),
    ``-1`` for a row with no score or no label (:func:`is_missing`), ``k`` for a score
    outside [0, 1]. Grouped by it, a bin's ``labeled``, ``pos`` and ``score_sum`` are the
    size, positives and sum of scores of its labeled scored rows."""
    unusable = is_missing(frame, y_score)
    if y_true is not None:
        unusable = unusable | is_missing(frame, y_true)
    return nw.when(unusable).then(nw.lit(-1)).otherwise(score_bin(nw.col(y_score), edges))


def _spread_bins(stats: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """A table grouped by the keys and the calibration bin, back to one row per group:
    every sum re-summed, and each bin's ``labeled``, ``pos`` and ``score_sum`` spread into
    the ``cal_*`` columns (a bin with no row sums to 0)."""
    b = pl.col(_CAL_BIN)
    per_bin = [
        agg
        for k in range(CALIBRATION_BINS)
        for agg in (
            pl.col("labeled").filter(b == k).sum().alias(CAL_SIZE[k]),
            pl.col("pos").filter(b == k).sum().alias(CAL_POS[k]),
            pl.col("score_sum").filter(b == k).sum().alias(CAL_SCORE[k]),
        )
    ]
    sums = [pl.col(c).sum() for c in stats.columns if c not in (*keys, _CAL_BIN)]
    if not keys:
        return stats.select(*sums, *per_bin)
    return stats.group_by(keys, maintain_order=True).agg(*sums, *per_bin)


def calibration_table(stats: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """The ``ece`` metric's per-bin sums of a statistics table, long: one row per bin.

    Returns the ``keys``, :data:`aidebt.stats.SCORE_BIN`, ``labeled``, ``pos`` and
    ``score_sum``: the layout of a table grouped by a score-bin key, which
    :func:`aidebt.stats.reliability_table` and the calibration of
    :mod:`aidebt.fairness` read.

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"g": ["a", "a", "b"], "y": [1, 0, 1], "s": [0.95, 0.15, 0.5]})
    >>> roles = Roles(y_true="y", y_score="s")
    >>> t = sufficient_stats(df, ["g"], roles, need={CALIBRATION})
    >>> calibration_table(t, ["g"]).filter(pl.col("labeled") > 0).rows()
    [('a', 1, 1.0, 0.0, 0.15), ('a', 9, 1.0, 1.0, 0.95), ('b', 5, 1.0, 1.0, 0.5)]
    """
    from aidebt.stats import SCORE_BIN

    keys = list(keys)
    missing = [c for c in CAL_SIZE if c not in stats.columns]
    if missing:
        raise InvalidArgumentError(
            "The statistics table has no per-bin calibration sums: aggregate with "
            f"need={{{CALIBRATION!r}}} (the ece metric asks for them)."
        )
    parts = [
        stats.select(
            *keys,
            pl.lit(k, pl.Int64).alias(SCORE_BIN),
            pl.col(CAL_SIZE[k]).alias("labeled"),
            pl.col(CAL_POS[k]).alias("pos"),
            pl.col(CAL_SCORE[k]).alias("score_sum"),
        )
        for k in range(CALIBRATION_BINS)
    ]
    return pl.concat(parts).sort([*keys, SCORE_BIN])


def value_sums(column: str) -> tuple[str, str, str]:
    """The statistics of a numeric column's mean: its sum, sum of squares and count.

    Named ``sum(c)``, ``sq(c)`` and ``count(c)``; ``need={"sum(c)"}`` adds the three to
    :func:`sufficient_stats` (nulls and NaN are left out of all three).

    Examples
    --------
    >>> value_sums("latency_ms")
    ('sum(latency_ms)', 'sq(latency_ms)', 'count(latency_ms)')
    """
    return f"sum({column})", f"sq({column})", f"count({column})"


def weight_checks(name: str, dtype: Any) -> dict[str, nw.Expr]:
    """Per-row checks of a frequency-weight column, summed in the pass (each must sum to 0).

    ``bad_weight``: null, negative, NaN or infinite. ``frac_weight``: finite but not a
    whole number. A frequency weight is a count (the row stands for that many identical
    rows), and every interval reads the summed weights as the number of observations: a
    fractional weight is a sampling or importance weight, whose sums are not counts.
    """
    w = _as_float_if_decimal(nw.col(name), dtype)
    bad = w.is_null() | (w < 0)
    if dtype.is_float():
        bad = bad | ~w.is_finite()
    checks = {"bad_weight": bad.cast(FLAG)}
    if dtype.is_float() or isinstance(dtype, nwd.Decimal) or dtype == nw.Decimal:
        fraction = (w - w.round(0)).abs() > _WHOLE
        checks["frac_weight"] = nw.when(~bad).then(fraction).otherwise(False).cast(FLAG)
    return checks


def _positive_counts(roles: Roles) -> dict[str, nw.Expr]:
    """Rows holding each positive value, per label role (unweighted; each must not be 0)."""
    out = {}
    used = {"y_true": roles.y_true, "y_pred": roles.y_pred if roles.binary else None}
    for role, name in used.items():
        positives = roles.positives(role) if roles.binary and name else None
        for i, value in enumerate(positives or ()):
            out[f"{_POS_CHECK}{role}_{i}"] = (nw.col(name) == value).fill_null(False).cast(FLAG)
    return out


def _sums(contributions: Mapping[str, nw.Expr]) -> list[nw.Expr]:
    """The aggregations of one pass: a plain sum per contribution, and the row count."""
    return [*(nw.col(name).sum() for name in contributions), nw.len().alias("rows")]


def _as_stats(table: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """The pass's sums as statistics, in one step on the small table.

    The check columns go (their sums were read); ``n`` is ``rows`` when there are no
    weights; fn, fp and tn follow from tp, pos and pred_labeled (computed in the engine's
    types, as summed); then one dtype per statistic whatever the engine: ``rows`` Int64,
    every other sum Float64. Engines type the same sum differently (polars UInt32/Int64,
    DuckDB HUGEINT as Decimal(38, 0), pandas float64 when a label column held NaN, Spark
    LongType/Double); counts below 2**53 are exact as Float64, and every formula
    downstream works in floats.
    """
    names = table.columns

    def typed(name: str, expr: pl.Expr | None = None) -> pl.Expr:
        expr = pl.col(name) if expr is None else expr
        if name in keys:
            return expr
        return expr.cast(pl.Int64 if name == "rows" else pl.Float64).alias(name)

    derived = "tp" in names  # then pred_labeled only serves to derive fp and tn
    out = [
        typed(c)
        for c in names
        if c not in _CHECKS
        and not c.startswith(_POS_CHECK)
        and not (derived and c == "pred_labeled")
    ]
    if "n" not in names and "rows" in names:
        out.append(typed("n", pl.col("rows")))
    if derived:
        tp, pos, pred_lab, lab = (pl.col(c) for c in ("tp", "pos", "pred_labeled", "labeled"))
        out += [
            typed("fn", pos - tp),
            typed("fp", pred_lab - tp),
            typed("tn", lab - pos - pred_lab + tp),
        ]
    return table.select(out)


def _tidy_keys(stats: pl.DataFrame, keys: list[str], schema: dict[str, Any]) -> pl.DataFrame:
    """Group values as strings with null/NaN as ``(missing)``, merging what that makes equal.

    The rule is :func:`aidebt.frames.group_key`, applied to the small aggregated table
    rather than to every row: casting a key column to text before the group-by costs more
    than the whole aggregation. Keys not in ``schema`` (computed ones such as a period,
    and the score/label keys of AUC counts) are left as they are.
    """
    if not keys:
        return stats
    return _merge_missing(_text_keys(stats, keys, schema), keys, schema)


def _text_keys(stats: pl.DataFrame, keys: list[str], schema: dict[str, Any]) -> pl.DataFrame:
    """The first half of :func:`_tidy_keys`: keys as text, rows sorted."""
    fixed = [
        frames.group_key(k, schema[k], on=pl)
        for k in keys
        if k in schema and k not in ("_score", "_label")
    ]
    # Engines return groups in any order: sort, so every engine gives the same table.
    return stats.with_columns(fixed).sort(keys, nulls_last=True)


def _merge_missing(stats: pl.DataFrame, keys: list[str], schema: dict[str, Any]) -> pl.DataFrame:
    """The second half of :func:`_tidy_keys`: groups that became equal as text, re-summed.

    NaN and null both become ``(missing)``, and an object column's values can share a
    text; text, integer, boolean and date keys cannot collide, so their (usual) tables
    skip the check.
    """
    if all(_distinct_as_text(schema[k]) for k in keys if k in schema):
        return stats
    if stats.select(keys).is_duplicated().any():
        stats = rollup(stats, keys, keys).sort(keys, nulls_last=True)
    return stats


def _distinct_as_text(dtype: Any) -> bool:
    """Whether distinct values of a key of this type stay distinct as group-key text."""
    return (
        dtype.is_integer()
        or dtype in (nw.String, nw.Categorical, nw.Boolean, nw.Date)
        or isinstance(dtype, nwd.Enum | nwd.Datetime)
    )


def collect(table: nw.LazyFrame) -> pl.DataFrame:
    """Run an aggregation query in its own engine and bring the (small) result into polars.

    A polars query runs on the streaming engine, which reads parquet/CSV scans in batches
    (so a log larger than memory is aggregated in bounded memory); DuckDB, Spark, pandas
    and pyarrow run the query natively and hand over only the aggregated rows (through
    Arrow). Raw rows never reach Python.
    """
    if table.implementation is nw.Implementation.POLARS:
        return table.collect(backend="polars", engine="streaming").to_native()
    return table.collect(backend="polars").to_native()


def sufficient_stats(
    data: Any,
    keys: Sequence[str],
    roles: Roles,
    *,
    derived_keys: Mapping[str, nw.Expr] | None = None,
    need: set[str] | frozenset[str] = frozenset(),
    time: nw.Expr | None = None,
) -> pl.DataFrame:
    """One group-by pass over the rows: a polars table of additive sums per group.

    Parameters
    ----------
    data
        Any input :func:`aidebt.frames.to_lazy` accepts.
    keys
        Group columns. Null and NaN become the explicit ``(missing)`` group; values are
        returned as strings. Only combinations present in the data appear.
    roles
        The label, prediction, score and weight columns.
    derived_keys
        Extra group keys computed from the rows (e.g. a period truncated from a timestamp).
    need
        Optional statistics beyond the default set (``{"y_sum"}`` for numeric outcomes,
        ``{"sum(c)"}`` for the mean of a numeric column ``c``: :func:`value_sums`).
    time
        A numeric expression of each row's time (whole seconds since the epoch, for
        :func:`aidebt.decay.decay`): adds ``t_sum`` (and ``t_labeled`` over labeled rows),
        from which a period's mean time is ``t_sum / n``.

    Returns
    -------
    polars.DataFrame
        One row per observed group, sorted by the keys: the keys, then the sums named in
        ``STAT_DOCS`` (``rows`` Int64, every other sum Float64, whatever the engine).

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"g": ["a", "a", "b"], "y": [1, 0, 1], "p": [1, 1, 0]})
    >>> t = sufficient_stats(df, ["g"], Roles(y_true="y", y_pred="p")).sort("g")
    >>> t.select("g", "tp", "fp", "fn", "tn").rows()
    [('a', 1.0, 1.0, 0.0, 0.0), ('b', 0.0, 0.0, 1.0, 0.0)]
    """
    frame = frames.to_lazy(data)
    keys = list(keys)
    frames.require_columns(frame, keys, role="a group column")
    derived = dict(derived_keys or {})
    check_names(keys, STAT_COLUMNS | set(derived) | {_CAL_BIN})
    frames.require_columns(frame, roles.names())
    schema = frames.columns(frame)
    contributions = _contributions(frame, roles, set(need), time)
    all_keys = keys + list(derived)
    if CALIBRATION in need:  # the score bin as one more key of the pass (see CAL_SIZE)
        derived[_CAL_BIN] = _calibration_key_of(frame, roles)
    prepared = frame.select(
        *(nw.col(k) for k in keys),
        *(expr.alias(name) for name, expr in derived.items()),
        *(expr.alias(name) for name, expr in contributions.items()),
    )
    sums = _sums(contributions)
    group = [*keys, *derived]
    table = prepared.group_by(*group).agg(*sums) if group else prepared.select(*sums)
    stats = collect(table)
    _raise_on_bad_input(frame, stats, roles)
    stats = _as_stats(stats, group)
    if _CAL_BIN in group:
        stats = _spread_bins(stats, all_keys)
    # all_keys: a derived key (a period) must count when merging (missing) duplicates.
    return _tidy_keys(stats, all_keys, schema)


def _calibration_key_of(frame: nw.LazyFrame, roles: Roles) -> nw.Expr:
    """The ``ece`` metric's score-bin key: ten equal-width bins (needs labels and scores)."""
    from aidebt.stats import calibration_edges

    if not (roles.y_score and roles.y_true and roles.binary):
        raise InvalidArgumentError(
            "The calibration sums compare a score with a 0/1 label: pass y_score= and y_true=."
        )
    return calibration_key(frame, roles.y_score, roles.y_true, calibration_edges(CALIBRATION_BINS))


def _raise_on_bad_input(frame: nw.LazyFrame, stats: pl.DataFrame, roles: Roles) -> None:
    """Turn the check sums computed in the pass into clear errors (small queries only here)."""

    def bad(name: str) -> int:
        return int(stats.get_column(name).sum()) if name in stats.columns else 0

    if bad("bad_weight") or bad("frac_weight"):
        raise_on_bad_weights(frame, roles.weight, bad("bad_weight"), bad("frac_weight"))
    _raise_on_missing_positives(frame, stats, roles)
    if bad("bad_labels"):
        _raise_on_bad_labels(frame, roles)
    score = nw.col(roles.y_score) if roles.y_score else None
    if bad("bad_score"):
        raise InvalidValueError(
            f"Column {roles.y_score!r} (y_score) has {bad('bad_score'):,} NaN or infinite scores "
            f"(values such as {_bad_sample(frame, roles.y_score, ~score.is_finite())}). Drop or "
            "fill them; a null score is left out of score metrics."
        )
    if bad("out_score"):
        raise InvalidValueError(
            f"Column {roles.y_score!r} (y_score) has {bad('out_score'):,} scores outside [0, 1] "
            f"(values such as {_bad_sample(frame, roles.y_score, (score < 0) | (score > 1))}), "
            "but the Brier score and the calibration error (ece) compare a probability with the "
            "0/1 label. Pass probabilities (percentages divided by 100, say); AUC and "
            "mean_score take any finite score."
        )


def _bad_sample(frame: nw.LazyFrame, name: str, condition: nw.Expr) -> str:
    """A few values of the rows that failed a check (a small query, on the error path)."""
    return frames.sample_values(frame.filter(~nw.col(name).is_null() & condition), name, 5)


def raise_on_bad_weights(frame: nw.LazyFrame, name: str, bad: int, fractional: int) -> None:
    """The errors of :func:`weight_checks`, with a few of the offending values."""
    w = nw.col(name)
    dtype = frames.columns(frame)[name]
    if bad:
        invalid = w.is_null() | (w < 0)
        invalid = invalid | ~w.is_finite() if dtype.is_float() else invalid
        raise InvalidValueError(
            f"Column {name!r} (weight) has {bad:,} values that are null or negative, NaN or infinite "
            f"(values such as {frames.sample_values(frame.filter(invalid), name, 5)}). "
            "Frequency weights must be counts >= 0: drop or fix those rows."
        )
    if fractional:
        w = _as_float_if_decimal(w, dtype)
        shown = _bad_sample(frame, name, (w - w.round(0)).abs() > _WHOLE)
        raise InvalidValueError(
            f"Column {name!r} (weight) has {fractional:,} weights that are not whole numbers "
            f"(values such as {shown}). aidebt reads weight= as frequency weights: a row with "
            "weight 3 stands for 3 identical rows, and every interval counts the weights as "
            "observations. Sampling or importance weights (a row's share of a population, an "
            "inverse probability) are a different kind: their total is not a number of "
            "observations (the same data weighted by 1/1000 or by 1000 would give intervals a "
            "hundred times apart), and aidebt has no interval for them. If the column holds "
            "counts, store them as whole numbers; if it holds sampling or importance weights, "
            "leave weight= out."
        )


def _raise_on_missing_positives(frame: nw.LazyFrame, stats: pl.DataFrame, roles: Roles) -> None:
    """A positive value that occurs nowhere is a typo or the wrong type: name it and what is there.

    With one ``pos_label`` for both columns a value must occur in either (a model that
    never predicts positive is possible); with one per column, in its own column.
    """
    counts = {c: int(stats.get_column(c).sum()) for c in stats.columns if c.startswith(_POS_CHECK)}
    if not counts:
        return
    shared = not isinstance(roles.pos_label, Mapping)
    roles_used = [r for r in LABEL_ROLES if any(c.startswith(f"{_POS_CHECK}{r}_") for c in counts)]
    for role in roles_used:
        for i, value in enumerate(roles.positives(role)):
            where = roles_used if shared else [role]
            if sum(counts.get(f"{_POS_CHECK}{r}_{i}", 0) for r in where):
                continue
            names = " or ".join(f"{getattr(roles, r)!r} ({r})" for r in where)
            present = [
                v for r in where for v in frames.distinct_values(frame, getattr(roles, r), 20) or []
            ]
            present = sorted({v for v in present if v is not None}, key=str)
            close = difflib.get_close_matches(str(value), [str(v) for v in present], n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise InvalidValueError(
                f"pos_label {value!r} never occurs in column {names}, so every row would count "
                f"as negative. Values present: {', '.join(map(repr, present[:20]))}.{hint} "
                "(If that column truly has no positive row, map it to 0/1 instead.)"
            )


def _raise_on_bad_labels(frame: nw.LazyFrame, roles: Roles) -> None:
    """Find which label or prediction check failed (a small query, on the error path only)."""
    checks = {}
    if roles.y_true:
        y = _label_expr(frame, roles.y_true, "y_true", roles)
        checks["bad_y"] = (~y.is_null() & ~((y == 0) | (y == 1))).cast(nw.Int64).sum()
    if roles.y_pred:
        p = _label_expr(frame, roles.y_pred, "y_pred", roles)
        checks["null_pred"] = p.is_null().cast(nw.Int64).sum()
        checks["bad_pred"] = (~p.is_null() & ~((p == 0) | (p == 1))).cast(nw.Int64).sum()
    counts = frame.select(**checks).collect(backend="polars").to_native().row(0, named=True)
    for check, role, name in (
        ("bad_y", "y_true", roles.y_true),
        ("bad_pred", "y_pred", roles.y_pred),
    ):
        if counts.get(check):
            raise InvalidValueError(
                f"Column {name!r} ({role}) must hold 0/1 labels, but {counts[check]} rows hold "
                f"other values; values found: {frames.sample_values(frame, name)}. Pass "
                "pos_label= to say which value means positive, or map the column to 0/1."
            )
    if counts.get("null_pred"):
        raise InvalidValueError(
            f"Column {roles.y_pred!r} (y_pred) has {counts['null_pred']} null predictions. Every "
            "row needs a prediction (labels may be null, predictions may not): fill or drop them."
        )


def _scored_rows(
    frame: nw.LazyFrame, keys: Sequence[str], derived: Mapping[str, nw.Expr], roles: Roles
) -> nw.LazyFrame:
    """The labeled rows with a score: keys, ``_score`` (Float64), ``_label`` (0/1), ``_w``.

    A float key's NaN becomes null (both are the one ``(missing)`` group), and a score of
    -0.0 becomes 0.0, so that every engine sees the same groups and the same ties.
    """
    schema = frames.columns(frame)
    score = _as_float_if_decimal(nw.col(roles.y_score), schema[roles.y_score]).cast(nw.Float64)
    if roles.weight:
        w = _as_float_if_decimal(nw.col(roles.weight), schema[roles.weight]).cast(nw.Float64)
        w = w.fill_null(0.0)
    else:
        w = nw.lit(1.0, nw.Float64)
    y = _label_expr(frame, roles.y_true, "y_true", roles)
    return frame.select(
        *(present(frame, k).alias(k) for k in keys),
        *(expr.alias(name) for name, expr in derived.items()),
        nw.when(score == 0).then(nw.lit(0.0, nw.Float64)).otherwise(score).alias("_score"),
        y.cast(nw.Float64).alias("_label"),
        w.alias("_w"),
    ).filter(~nw.col("_score").is_null() & ~nw.col("_label").is_null())


def score_label_counts(
    data: Any,
    keys: Sequence[str],
    roles: Roles,
    *,
    derived_keys: Mapping[str, nw.Expr] | None = None,
) -> pl.DataFrame:
    """Weighted counts per (group, score value, label): the exact sufficient statistic for AUC.

    Labeled rows with a score only. AUC and its DeLong variance depend on the rows only
    through these counts, so nothing is lost (:func:`aidebt.stats.auc_delong` reads them);
    the table has one row per distinct score of each group, so :func:`auc_sums` uses it
    only where scores take few values.
    """
    frame = frames.to_lazy(data)
    schema = frames.columns(frame)
    keys = list(keys)
    check_names(keys, STAT_COLUMNS | set(derived_keys or {}))
    derived = dict(derived_keys or {})
    rows = _scored_rows(frame, keys, derived, roles)
    table = rows.group_by(*keys, *derived, "_score", "_label").agg(nw.col("_w").sum())
    counts = collect(table).with_columns(pl.col("_label").cast(pl.Int64))
    return _tidy_keys(counts, [*keys, *derived, "_score", "_label"], schema)


# --------------------------------------------------------------------------------------
# AUC: DeLong's placement sums per group, by window functions in the engine
# --------------------------------------------------------------------------------------
AUC_SUMS = {
    "_auc_n_pos": "weighted positives (m)",
    "_auc_n_neg": "weighted negatives (n)",
    "_auc_v10": "over positives, w * P10: P10 = 2 x (negatives scored below + half the tied)",
    "_auc_v10_sq": "over positives, w * P10^2",
    "_auc_v01_sq": "over negatives, w * P01^2: P01 = 2 x (positives scored above + half the tied)",
}
"""The per-group sums of :func:`auc_sums`, from which :func:`aidebt.stats.auc_from_sums`
gives the AUC (``_auc_v10 / 2mn``) and DeLong's variance. Placements are kept doubled so
that with whole weights every one is a whole number, exact in floating point."""
# auc_sums(method="auto") aggregates to one row per distinct (group, score, label) first
# when the data's distinct scores are at most this share of its rows (scores on a coarse
# grid); otherwise it sorts the rows themselves. A judgement between two measured ends
# (2M rows, 150 groups, polars, a loaded 2-core machine): every score distinct, sort
# 2.4 s and counts 3.5 s; 100 distinct scores, sort 1.6 s and counts 0.23 s.
AUC_COUNTS_SHARE = 0.25
_AUC_METHODS = ("auto", "sort", "counts")


def auc_sums(
    data: Any,
    key_sets: Sequence[Sequence[str]],
    roles: Roles,
    *,
    derived_keys: Mapping[str, nw.Expr] | None = None,
    method: str = "auto",
) -> list[pl.DataFrame]:
    """What AUC and its DeLong variance need, one row per group, for each grouping asked.

    The AUC of a group is the mean over its positives of the placement ``V10`` (the share
    of its negatives scored below, ties half), and DeLong's variance needs the sums of
    ``V10^2`` over positives and of ``V01^2`` (the share of positives scored above a
    negative) over negatives (:func:`aidebt.stats.auc_from_sums`). A placement is a
    cumulative count along the sorted scores, so these sums come from window functions
    in the engine that holds the data (polars, DuckDB, Spark; pandas and pyarrow rows go
    to polars through Arrow first, :func:`aidebt.frames.in_polars`), and only one row per
    group comes back:

    - ``method="sort"``: the rows are sorted by score and the placements are running sums
      of each class's weights, ties found from neighbouring rows. In polars one sort
      serves every grouping (a window per grouping over the same order); DuckDB and Spark
      run a query per grouping, its windows ordered by (score, label) both ways so that
      ties count one half without any per-row order.
    - ``method="counts"``: the rows are first counted per distinct (group, score, label)
      (:func:`score_label_counts`), and the same windows run on that table. Far cheaper
      when scores take few values (a grid of 1,000 scores), far dearer when each row has
      its own score (the table is then as long as the data).
    - ``method="auto"`` (default) picks ``counts`` when a HyperLogLog estimate of the
      distinct scores is at most ``AUC_COUNTS_SHARE`` of the rows
      (:func:`aidebt.frames.approx_distinct` over the score column: a cheap pass),
      ``sort`` otherwise.

    Both give the same sums: exactly, when the weights are whole numbers (every placement
    is then a whole number), so the AUC agrees to the last bit or two and its standard
    error to 1e-12.

    Parameters
    ----------
    data, roles, derived_keys
        As for :func:`sufficient_stats` (``roles`` needs ``y_true`` and ``y_score``).
    key_sets
        One list of group columns per table wanted (``[]``: overall), each drawn from the
        data's columns and ``derived_keys``.
    method
        ``"auto"``, ``"sort"`` or ``"counts"``, as above.

    Returns
    -------
    list of polars.DataFrame
        In the order of ``key_sets``: the keys (strings, null/NaN as ``(missing)``), then
        the sums of ``AUC_SUMS``, one row per group with a labeled scored row.

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"g": ["a", "a", "a", "b", "b"], "y": [1, 0, 0, 1, 0],
    ...                    "s": [0.9, 0.4, 0.9, 0.2, 0.7]})
    >>> by_g, overall = auc_sums(df, [["g"], []], Roles(y_true="y", y_score="s"))
    >>> by_g.select("g", "_auc_n_pos", "_auc_n_neg", "_auc_v10").rows()
    [('a', 1.0, 2.0, 3.0), ('b', 1.0, 1.0, 0.0)]
    >>> overall["_auc_v10"].item() / (2 * 2 * 3)  # the overall AUC: 2.5 of 6 pairs
    0.4166666666666667
    """
    if method not in _AUC_METHODS:
        raise InvalidArgumentError(
            f"method={method!r} is not one of {', '.join(map(repr, _AUC_METHODS))}."
        )
    frame = frames.to_lazy(data)
    sets = [list(ks) for ks in key_sets]
    derived = dict(derived_keys or {})
    keys = list(dict.fromkeys(k for ks in sets for k in ks))
    raw = [k for k in keys if k not in derived]
    frames.require_columns(frame, raw, role="a group column")
    check_names(raw, STAT_COLUMNS | set(derived))
    frames.require_columns(frame, roles.names())
    schema = frames.columns(frame)
    used = {k: derived[k] for k in keys if k in derived}
    # pandas and pyarrow have no fast sort-and-window path: their rows (four columns by
    # now) go to polars through Arrow.
    rows = frames.in_polars(_scored_rows(frame, raw, used, roles))
    if method == "auto":
        method = _auc_method(frame, roles.y_score)
    weighted = roles.weight is not None
    if method == "counts":
        counts = collect(rows.group_by(*keys, "_score", "_label").agg(nw.col("_w").sum()))
        rows, weighted = nw.from_native(counts.lazy()), True
    tables = placement_sums(rows, sets, weighted=weighted)
    return [
        _tidy_keys(table.with_columns(pl.col(c).cast(pl.Float64) for c in AUC_SUMS), ks, schema)
        for table, ks in zip(tables, sets, strict=True)
    ]


def _auc_method(frame: nw.LazyFrame, score: str) -> str:
    """``"counts"`` when the score column holds few distinct values next to its rows, else
    ``"sort"``: a HyperLogLog estimate over that one column of the data, in its engine
    (cheap: no group key or label is computed for it). The (group, score) pairs of the
    counts table number at least the distinct scores, and seldom many more where those
    are few (a score grid in a dozen months)."""
    total, distinct = frames.approx_distinct(frames.in_polars(frame, [score]), [score])
    return "counts" if distinct <= AUC_COUNTS_SHARE * total else "sort"


def placement_sums(
    rows: nw.LazyFrame, key_sets: Sequence[Sequence[str]], *, weighted: bool = True
) -> list[pl.DataFrame]:
    """DeLong's placement sums (``AUC_SUMS``) per group of each key set, in the rows' engine.

    ``rows`` holds the keys, ``_score``, ``_label`` (0/1) and, when ``weighted``, ``_w``
    (frequency weights: the raw rows, or the per-(group, score, label) counts, where a row
    of weight 3 is three rows). Keys come back as the engine gives them; see
    :func:`auc_sums`.
    """
    sets = [list(ks) for ks in key_sets]
    if rows.implementation.is_polars():
        return _placements_polars(rows.to_native().lazy(), sets, weighted)
    return [_placements_windows(rows, ks, weighted) for ks in sets]


def _placement_aggs(col: Any, wp: Any, wn: Any) -> list[Any]:
    p10, p01 = col("_p10"), col("_p01")
    return [
        wp.sum().alias("_auc_n_pos"),
        wn.sum().alias("_auc_n_neg"),
        (wp * p10).sum().alias("_auc_v10"),
        (wp * p10 * p10).sum().alias("_auc_v10_sq"),
        (wn * p01 * p01).sum().alias("_auc_v01_sq"),
    ]


def _placements_polars(
    lf: pl.LazyFrame, sets: list[list[str]], weighted: bool
) -> list[pl.DataFrame]:
    """Each group's rows sorted by score (a sort per group, in parallel), then running sums.

    The rows are gathered once; for each grouping, a group-by sorts each group's rows by
    score and lays the groups end to end (several times cheaper in polars than one sort
    on (keys, score), or one sort by score followed by a stable regrouping). A tie block
    (equal scores within a group) is found from its neighbours, and the running class
    weights before it and through its end are carried over the block by a forward and a
    backward fill: at a positive, negatives below (``lt``) plus at or below (``le``) is
    twice its placement; at a negative, positives above (``gt``) plus at or above
    (``ge``). The running sums run over the whole table (no per-group window: cheaper in
    polars than ``over``), a group's share being the running sum less its value at the
    group's start (or end); exact with whole weights.
    """
    keys = list(dict.fromkeys(k for ks in sets for k in ks))
    label = pl.col("_label").cast(pl.Float64)
    wp = pl.col("_w") * label if weighted else label
    wn = pl.col("_w") - wp if weighted else 1.0 - label
    base = lf.select(
        *keys, "_score", pl.col("_label").cast(pl.Int8), *(["_w"] if weighted else [])
    ).collect(engine="streaming")  # the one query that reads the data (a scan, maybe)
    score = pl.col("_score")
    cn = wn.cum_sum()  # negative weight up to this row (the whole table)
    rp = wp.cum_sum(reverse=True)  # positive weight from this row on

    def carried(at: pl.Expr, value: pl.Expr, forward: bool) -> pl.Expr:
        held = pl.when(at).then(value)
        return held.forward_fill() if forward else held.backward_fill()

    out = []
    for ks in sets:
        new_block = (score != score.shift(1)).fill_null(True)
        end_block = (score != score.shift(-1)).fill_null(True)
        if ks:
            rest = pl.exclude(ks)
            frame = base.lazy().group_by(ks).agg(rest.sort_by("_score")).explode(rest)
            row = pl.int_range(pl.len())
            new_group = (row == 0) | pl.any_horizontal(
                pl.col(k).ne_missing(pl.col(k).shift(1)) for k in ks
            )
            end_group = (row == pl.len() - 1) | pl.any_horizontal(
                pl.col(k).ne_missing(pl.col(k).shift(-1)) for k in ks
            )
            new_block, end_block = new_block | new_group, end_block | end_group
        else:
            frame = base.lazy().sort("_score")
        # lt + le of the negatives, ge + gt of the positives (running sums of the table).
        p10 = carried(new_block, cn - wn, True) + carried(end_block, cn, False)
        p01 = carried(new_block, rp, True) + carried(end_block, rp - wp, False)
        if ks:  # less twice what the table holds before the group (after it)
            p10 = p10 - 2 * carried(new_group, cn - wn, True)
            p01 = p01 - 2 * carried(end_group, rp - wp, False)
        placed = frame.select(*ks, "_label", *(["_w"] if weighted else []), _p10=p10, _p01=p01)
        aggs = _placement_aggs(pl.col, wp, wn)
        query = placed.group_by(ks).agg(aggs) if ks else placed.select(aggs)
        # Rows already in memory: the in-memory engine sorts and scans them faster.
        out.append(query.collect(engine="in-memory"))
    return out


def _placements_windows(rows: nw.LazyFrame, ks: list[str], weighted: bool) -> pl.DataFrame:
    """One grouping's placement sums through narwhals windows (DuckDB, Spark, others).

    Running sums over rows (the frame every engine supports) ordered by (score, label):
    at a positive, the negatives' sum reaches through its tie block (they sort first), and
    ordered by (score, 1 - label) it stops before it; and the same for the positives at a
    negative. No row order among ties matters, so the engine may break ties as it likes.
    """
    part = ks or ["_auc_all"]
    label = nw.col("_label")
    frame = rows.with_columns(
        (nw.col("_w") * label if weighted else label).alias("_wp"),
        (nw.col("_w") * (1 - label) if weighted else 1 - label).alias("_wn"),
        (1 - label).alias("_auc_ny"),
        *([] if ks else [nw.lit(0, nw.Int64).alias("_auc_all")]),
    )
    wp, wn = nw.col("_wp"), nw.col("_wn")

    def running(c: nw.Expr, by: str) -> nw.Expr:
        return c.cum_sum().over(*part, order_by=["_score", by])

    placed = frame.with_columns(
        (running(wn, "_label") + running(wn, "_auc_ny")).alias("_p10"),
        (2 * wp.sum().over(*part) - running(wp, "_label") - running(wp, "_auc_ny")).alias("_p01"),
    )
    aggs = _placement_aggs(nw.col, wp, wn)
    return collect(placed.group_by(*ks).agg(*aggs) if ks else placed.select(*aggs))


def stat_columns(stats: pl.DataFrame, keys: Sequence[str]) -> list[str]:
    return [c for c in stats.columns if c not in keys]


def rollup(stats: pl.DataFrame, keys: Sequence[str], to: Sequence[str]) -> pl.DataFrame:
    """Re-sum the small table to a coarser grouping (``to`` a subset of ``keys``; [] = overall).

    The statistics are additive, so this equals a fresh scan at the coarser grouping.
    """
    sums = [pl.col(c).sum() for c in stat_columns(stats, keys)]
    if not to:
        return stats.select(sums)
    return stats.group_by(list(to), maintain_order=True).agg(sums)


def value_counts(
    data: Any,
    keys: Sequence[str] = (),
    *,
    weight: str | None = None,
    derived_keys: Mapping[str, nw.Expr] | None = None,
    stack: Mapping[str, nw.Expr] | None = None,
) -> pl.DataFrame:
    """Weighted row counts per group in one group-by pass, in the engine that holds the data.

    Parameters
    ----------
    data
        Any input :func:`aidebt.frames.to_lazy` accepts.
    keys
        Group columns, returned as strings with null/NaN as ``(missing)`` (like
        :func:`sufficient_stats`).
    weight
        Optional frequency-weight column (counts >= 0, no nulls).
    derived_keys
        Extra group keys computed from the rows (e.g. a period index).
    stack
        ``{name: expression}``: count the values of several expressions in the same pass.
        The expressions are cast to strings (null becomes ``(missing)``) and stacked, so
        the result is long: the keys, ``column`` (the name), ``value``, then the counts.

    Returns
    -------
    polars.DataFrame
        The keys (and ``column``, ``value`` with ``stack``), ``n`` (weighted count) and
        ``rows`` (unweighted count); only observed combinations.

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"g": ["a", "a", "b"], "x": ["u", "v", "u"]})
    >>> value_counts(df, ["g"]).sort("g").rows()
    [('a', 2.0, 2), ('b', 1.0, 1)]
    >>> t = value_counts(df, stack={"x": nw.col("x"), "g": nw.col("g")})
    >>> t.sort("column", "value").select("column", "value", "n").rows()
    [('g', 'a', 2.0), ('g', 'b', 1.0), ('x', 'u', 2.0), ('x', 'v', 1.0)]
    """
    frame = frames.to_lazy(data)
    keys = list(keys)
    frames.require_columns(frame, keys, role="a group column")
    check_names(keys, {"n", "rows", *(derived_keys or {}), *(("column", "value") if stack else ())})
    frames.require_columns(frame, [weight], role="weight")
    schema = frames.columns(frame)
    if weight is not None and not frames.is_numeric(schema[weight]):
        frames.check_numeric(frame, weight, role="weight", fix="Weights are counts >= 0.")
    derived = dict(derived_keys or {})
    w = nw.col(weight) if weight else nw.lit(1)
    checks = weight_checks(weight, schema[weight]) if weight else {}
    check_cols = {f"_{name}": expr for name, expr in checks.items()}
    base = [
        *(nw.col(k) for k in keys),
        *(expr.alias(name) for name, expr in derived.items()),
        w.fill_null(0).alias("_w"),
        *(expr.alias(name) for name, expr in check_cols.items()),
    ]
    group = keys + list(derived)
    aggs = [
        nw.col("_w").sum().alias("n"),
        nw.len().alias("rows"),
        *(nw.col(name).sum().alias(name) for name in check_cols),
    ]
    if stack:
        # One group-by per stacked expression, unioned: the same single query (columnar
        # scans read each column once either way), no K-fold copy of the rows as an
        # unpivot would make, and no engine-specific SQL (narwhals' DuckDB unpivot runs on
        # the default connection, so it fails on a relation from any other connection).
        values = {f"_v{i}": expr for i, expr in enumerate(stack.values())}
        prepared = frame.select(*base, *(expr.alias(name) for name, expr in values.items()))
        value_types = frames.columns(prepared)  # schema only
        branches = [
            prepared.group_by(*group, name)
            .agg(*aggs)
            .select(
                *group,
                nw.lit(name, nw.String).alias("column"),
                frames.group_key(name, value_types[name]).alias("value"),
                "n",
                "rows",
                *check_cols,
            )
            for name in values
        ]
        table = nw.concat(branches, how="vertical")
        group = [*group, "column", "value"]
    else:
        prepared = frame.select(*base)
        table = prepared.group_by(*group).agg(*aggs) if group else prepared.select(*aggs)
    counts = collect(table)
    found = {name[1:]: int(counts.get_column(name).sum() or 0) for name in check_cols}
    if any(found.values()):
        raise_on_bad_weights(frame, weight, found["bad_weight"], found.get("frac_weight", 0))
    counts = counts.drop(list(check_cols)).with_columns(
        pl.col("n").cast(pl.Float64), pl.col("rows").cast(pl.Int64)
    )
    counts = _tidy_keys(counts, [*keys, *derived, *(["column", "value"] if stack else [])], schema)
    if stack:
        index = {f"_v{i}": name for i, name in enumerate(stack)}
        counts = counts.with_columns(pl.col("column").replace_strict(index, return_dtype=pl.String))
    return counts


def sufficient_stats_sets(
    data: Any,
    key_sets: Sequence[Sequence[str]],
    roles: Roles,
    *,
    need: set[str] | frozenset[str] = frozenset(),
    extra: Mapping[str, nw.Expr] | None = None,
) -> list[pl.DataFrame]:
    """Several groupings of the same rows in ONE query: one table of sums per key set.

    The result equals calling :func:`sufficient_stats` once per key set, but the per-row
    contributions are computed once and every group-by is a branch of a single query (a
    union of group-bys over one shared projection, SQL's ``GROUPING SETS``). Polars
    evaluates the shared projection once (common sub-plan caching) and runs the branches
    in parallel, so the rows are read once; other engines receive a single query. Use it
    when the joint grouping by every key at once would have too many groups to be cheap
    (its size is the product of the key cardinalities), e.g. to scan many stratifiers.

    Parameters
    ----------
    data, roles, need
        As for :func:`sufficient_stats`.
    key_sets
        One list of group columns per table wanted (``[]`` gives the overall sums).
    extra
        Additional per-row contributions ``{name: expression}`` summed in the same pass
        (a check that a column holds what the analysis needs, for instance).

    Returns
    -------
    list of polars.DataFrame
        In the order of ``key_sets``: the keys (strings, null/NaN as ``(missing)``), then
        the sums.

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"g": ["a", "a", "b"], "h": [1, 2, 2], "y": [1, 0, 1]})
    >>> by_g, by_h = sufficient_stats_sets(df, [["g"], ["h"]], Roles(y_true="y"))
    >>> by_g.sort("g").select("g", "n", "pos").rows()
    [('a', 2.0, 1.0), ('b', 1.0, 1.0)]
    >>> by_h.sort("h").select("h", "n", "pos").rows()
    [('1', 1.0, 1.0), ('2', 2.0, 1.0)]
    """
    if CALIBRATION in need:
        raise InvalidArgumentError(
            "sufficient_stats_sets() has no calibration sums; use sufficient_stats()."
        )
    frame = frames.to_lazy(data)
    sets = [list(ks) for ks in key_sets]
    keys = list(dict.fromkeys(k for ks in sets for k in ks))
    frames.require_columns(frame, keys, role="a group column")
    check_names(keys, STAT_COLUMNS)
    frames.require_columns(frame, roles.names())
    schema = frames.columns(frame)
    contributions = {**_contributions(frame, roles, set(need)), **dict(extra or {})}
    prepared = frame.select(
        *(nw.col(k) for k in keys), *(expr.alias(name) for name, expr in contributions.items())
    )
    sums = _sums(contributions)
    width = max((len(ks) for ks in sets), default=0)
    branches = []
    for i, ks in enumerate(sets):
        grouped = prepared.group_by(*ks).agg(*sums) if ks else prepared.select(*sums)
        # Keys become strings on the small grouped table (cheap), in positional columns
        # _k0, _k1, ... so that every branch has the same schema.
        branches.append(
            grouped.select(
                nw.lit(i, nw.Int64).alias("_set"),
                *(
                    frames.group_key(k, schema[k]).alias(f"_k{j}")
                    if j < len(ks)
                    else nw.lit(None, nw.String).alias(f"_k{j}")
                    for j, k in enumerate([*ks, *([None] * (width - len(ks)))])
                ),
                *contributions,
                "rows",
            )
        )
    query = nw.concat(branches, how="vertical")
    if query.implementation is nw.Implementation.POLARS and "SCAN" not in (
        query.to_native().explain(optimized=False)
    ):
        # Rows already in memory: the in-memory engine computes the shared projection once
        # (a cached sub-plan) and runs the branches in parallel, 2-3x faster here than the
        # streaming engine; file scans keep streaming (bounded memory).
        stacked = query.collect(backend="polars", engine="in-memory").to_native()
    else:
        stacked = collect(query)
    sum_cols = [*contributions, "rows"]
    _raise_on_bad_input(frame, stacked.filter(pl.col("_set") == 0).select(sum_cols), roles)
    out = []
    for i, ks in enumerate(sets):
        table = stacked.filter(pl.col("_set") == i).select(
            *(pl.col(f"_k{j}").alias(k) for j, k in enumerate(ks)), *sum_cols
        )
        table = _as_stats(table, ks)
        if ks and table.select(ks).is_duplicated().any():  # NaN and null both became (missing)
            table = rollup(table, ks, ks)
        out.append(table.sort(ks) if ks else table)
    return out


# --------------------------------------------------------------------------------------
# Quantiles: a pass of their own
#
# A quantile is not a function of additive sums, so it has no column in the table above:
# each group's quantile needs that group's values (the exact order statistics) or a
# mergeable sketch. :func:`quantile_pass` is that pass; the ranks of each interval come
# from aidebt.stats (the inference half).
# --------------------------------------------------------------------------------------
QUANTILE_METHODS = ("exact", "sketch")
"""How :func:`quantile_pass` computes quantiles: the order statistics themselves, or a
log-bucket sketch counted in the data's own engine."""


@dataclass(frozen=True)
class QuantileSummary:
    """What :func:`quantile_pass` returns.

    ``groups``: one row per group: the keys, ``n`` (values), ``missing`` (null or NaN)
    and, with ``moments``, ``_sum`` and ``_sq`` (the values' sum and sum of squares).
    ``table``: one row per (group, level): the keys, ``q``, ``value`` (the order
    statistic of rank ``ceil(n q)``), ``ci_low``, ``ci_high`` (the distribution-free
    interval's order statistics; null where the group is too small for that bound),
    ``coverage`` (its exact coverage), ``n`` and ``missing``.
    """

    groups: pl.DataFrame
    table: pl.DataFrame


def quantile_pass(
    data: Any,
    value: str,
    keys: Sequence[str],
    levels: Sequence[float],
    *,
    confidence: float = 0.95,
    method: str = "exact",
    relative_error: float = 0.01,
    moments: bool = False,
    derived_keys: Mapping[str, nw.Expr] | None = None,
) -> QuantileSummary:
    """Per-group quantiles of a numeric column, with distribution-free intervals, in one pass.

    ``method="exact"``: in polars (eager, lazy or streaming) one group-by keeps, per
    group, the sorted top of its values that the requested ranks can reach (``top_k``,
    with ``k`` computed from the group's size in the same expression: all values when a
    level is below 0.5), and the ranks are read off that list. Other engines hand the
    key and value columns to polars through Arrow. ``method="sketch"``: a histogram of
    log-spaced buckets (``bucket = ceil(log(v) / log(gamma))``, ``gamma = (1 + e) / (1 -
    e)``, ``e = relative_error``) counted by one plain group-by in the data's own engine
    (DuckDB, Spark...); every quantile and interval bound is then known within a relative
    error ``e`` of its exact value (DDSketch, Masson, Rim & Lee 2019). Values must be >= 0.

    The ranks of each interval are :func:`aidebt.stats.quantile_ci_ranks` (exact binomial
    coverage, no assumption on the distribution's shape). ``keys`` come back as strings
    (``(missing)`` for null); ``derived_keys`` are computed group keys (a period).

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"g": ["a"] * 100 + ["b"] * 100, "v": list(range(1, 201))})
    >>> s = quantile_pass(df, "v", ["g"], [0.5])
    >>> s.table.select("g", "value", "ci_low", "ci_high").rows()
    [('a', 50.0, 40.0, 61.0), ('b', 150.0, 140.0, 161.0)]
    """
    from aidebt import stats as st  # the inference half; imported when a quantile is asked

    frame = frames.to_lazy(data)
    keys = list(keys)
    derived = dict(derived_keys or {})
    if method not in QUANTILE_METHODS:
        raise InvalidArgumentError(f"method={method!r} must be one of {QUANTILE_METHODS}.")
    schema = frames.columns(frame)
    prepared = frame.select(
        *(nw.col(k) for k in keys),
        *(expr.alias(name) for name, expr in derived.items()),
        nw.col(value),
    )
    all_keys = [*keys, *derived]

    def tidy(table: pl.DataFrame) -> pl.DataFrame:
        # group values as text, (missing) for null, as sufficient_stats gives them
        fixed = [frames.group_key(k, schema[k]) for k in keys]
        return nw.from_native(table).with_columns(*fixed).to_native() if fixed else table

    if method == "exact":
        groups, picks = _exact_quantiles(prepared, value, all_keys, levels, confidence, moments)
        groups = tidy(groups)
    else:
        if not 0 < relative_error < 0.5:
            raise InvalidArgumentError(
                f"relative_error={relative_error!r} must be between 0 and 0.5, e.g. 0.01."
            )
        groups, picks = _sketch_quantiles(prepared, value, all_keys, relative_error, tidy)
    if all_keys:
        groups = groups.sort(all_keys, nulls_last=True)
    pieces = []
    n = groups["n"].to_numpy()
    for q in levels:
        ranks = st.quantile_ci_ranks(n, q, confidence)
        est, lo, hi = picks(groups, st.quantile_rank(n, q), ranks["lo"], ranks["hi"])
        pieces.append(
            pl.DataFrame(
                [
                    *(groups.get_column(k) for k in all_keys),
                    pl.Series("q", [float(q)] * groups.height, dtype=pl.Float64),
                    *(
                        pl.Series(name, np.asarray(a, dtype=float), nan_to_null=True)
                        for name, a in (
                            ("value", est),
                            ("ci_low", lo),
                            ("ci_high", hi),
                            ("coverage", ranks["coverage"]),
                        )
                    ),
                    groups["n"].cast(pl.Float64),
                    groups["missing"].cast(pl.Float64),
                ]
            )
        )
    stat_cols = ["n", "missing", *(["_sum", "_sq"] if moments else [])]
    table = (
        pl.concat(pieces, how="vertical_relaxed")
        if pieces
        else groups.select(all_keys).clear().with_columns(q=pl.lit(None, pl.Float64))
    )
    return QuantileSummary(groups.select(*all_keys, *stat_cols), table)


def _exact_quantiles(frame, value, keys, levels, confidence, moments):
    """One polars group-by: per group its size, sums, and the sorted values the ranks reach."""
    from aidebt import stats as st

    if frame.implementation is nw.Implementation.POLARS:
        lf = frame.to_native().lazy()
    else:  # DuckDB, pandas, arrow, Spark: the key and value columns, through Arrow
        lf = frame.collect(backend="polars").to_native().lazy()
    lf = lf.select(*keys, pl.col(value).cast(pl.Float64).fill_nan(None).alias("_v"))
    low = min(levels) if levels else 1.0
    n = pl.col("_v").count()
    if low >= 0.5:
        # Enough of the top to hold every rank the levels' intervals can ask for: the lower
        # bound of the lowest level sits about z sqrt(n q (1 - q)) ranks below n q.
        z = st.normal_quantile(confidence)
        spread = (n.cast(pl.Float64) * low * (1 - low)).sqrt()
        k = (n.cast(pl.Float64) * (1 - low) + (z + 3) * spread + 10).ceil().cast(pl.Int64)
        k = pl.min_horizontal(k, n.cast(pl.Int64))
        tail = pl.col("_v").top_k(k).sort()  # top_k prefers non-nulls, and k <= n
    else:
        k = n.cast(pl.Int64)
        tail = pl.col("_v").drop_nulls().sort()
    aggs = [
        n.cast(pl.Float64).alias("n"),
        pl.col("_v").null_count().cast(pl.Float64).alias("missing"),
        tail.alias("_tail"),
        k.alias("_k"),
    ]
    if moments:
        aggs += [pl.col("_v").sum().alias("_sum"), (pl.col("_v") * pl.col("_v")).sum().alias("_sq")]
    if not keys:  # a select keeps the values as a column: make the list explicit
        aggs[2] = tail.implode().alias("_tail")
    query = lf.group_by(keys).agg(aggs) if keys else lf.select(aggs)
    groups = query.collect(engine="streaming")

    def picks(groups, rank, lo, hi):
        size = groups["n"].to_numpy()
        start = size - groups["_k"].to_numpy()  # ranks 1..start are not in the list
        if ((lo >= 1) & (lo <= start)).any():  # cannot happen with the margin above
            raise RuntimeError("quantile interval rank below the kept values")
        idx = pl.DataFrame({"_r": rank - start - 1, "_l": lo - start - 1, "_h": hi - start - 1})
        ok = {"_r": rank >= 1, "_l": (lo >= 1), "_h": (hi <= size)}
        got = (
            groups.select("_tail")
            .with_columns(idx)
            .select(
                pl.when(pl.lit(pl.Series(ok[c])))
                .then(pl.col("_tail").list.get(pl.col(c).clip(0), null_on_oob=True))
                .alias(c)
                for c in ("_r", "_l", "_h")
            )
        )
        return (got[c].cast(pl.Float64).fill_null(np.nan).to_numpy() for c in ("_r", "_l", "_h"))

    return groups, picks


def _sketch_quantiles(frame, value, keys, eps, tidy):
    """Log-bucket counts per group in the data's engine (additive), quantiles read off them."""
    gamma = (1 + eps) / (1 - eps)
    v = nw.col(value).cast(nw.Float64)
    # NaN and null compare as neither >= 0 nor < 0: one test keeps both out, in every engine.
    has = ((v >= 0) | (v < 0)).fill_null(False)
    pos = has & (v > 0)
    safe = nw.when(pos).then(v).otherwise(nw.lit(1.0))  # no log of 0, NaN or null
    zero_bucket = -(2.0**40)  # below every log bucket
    bucket = (
        nw.when(pos)
        .then((safe.log() / math.log(gamma)).ceil())
        .otherwise(nw.when(has & (v == 0)).then(nw.lit(zero_bucket)))
    )
    clean = nw.when(has).then(v).otherwise(nw.lit(0.0))

    def flag(cond):
        return cond.fill_null(False).cast(nw.Int64)

    prepared = frame.select(
        *(nw.col(c) for c in keys),
        bucket.alias("_b"),
        flag(has).alias("_has"),
        flag(has & (v < 0)).alias("_neg"),
        clean.alias("_v"),
        (clean * clean).alias("_v2"),
    )
    counts = collect(
        prepared.group_by(*keys, "_b").agg(
            nw.col("_has").sum(),
            nw.col("_neg").sum(),
            nw.col("_v").sum(),
            nw.col("_v2").sum(),
            nw.len().alias("_rows"),
        )
    ).with_columns(pl.col("_has", "_neg", "_v", "_v2", "_rows").cast(pl.Float64))
    counts = tidy(counts)
    if counts["_neg"].sum() > 0:
        raise InvalidValueError(
            f"Column {value!r} has {int(counts['_neg'].sum())} negative values; the sketch "
            "handles values >= 0 (latency, tokens, cost). Use method='exact'."
        )
    totals = [
        pl.col("_has").sum().alias("n"),
        (pl.col("_rows").sum() - pl.col("_has").sum()).alias("missing"),
        pl.col("_v").sum().alias("_sum"),
        pl.col("_v2").sum().alias("_sq"),
    ]
    groups = (
        counts.group_by(keys, maintain_order=True).agg(totals) if keys else counts.select(totals)
    )
    buckets = counts.filter(pl.col("_b").is_not_null())

    def picks(groups, rank, lo, hi):
        # Cumulative counts of every group's buckets, in bucket order, one array for all
        # groups (each group shifted above the previous): one searchsorted per rank.
        g = groups.select(keys).with_row_index("_gi") if keys else None
        b = (
            buckets.join(g, on=keys, how="left", nulls_equal=True)
            if keys
            else (buckets.with_columns(_gi=pl.lit(0, pl.UInt32)))
        )
        b = b.sort("_gi", "_b")
        gi = b["_gi"].to_numpy().astype(np.int64)
        cum = np.cumsum(b["_has"].to_numpy())
        size = groups["n"].to_numpy()
        offset = np.concatenate([[0.0], np.cumsum(size)[:-1]])
        rep = np.where(
            b["_b"].to_numpy() == zero_bucket, 0.0, 2 * gamma ** b["_b"].to_numpy() / (gamma + 1)
        )

        def at(r, valid):
            idx = np.searchsorted(cum, offset + np.maximum(r, 1) - 0.5, side="left")
            idx = np.clip(idx, 0, max(len(cum) - 1, 0))
            out = rep[idx] if len(cum) else np.full(len(size), np.nan)
            return np.where(valid & (gi[idx] == np.arange(len(size))), out, np.nan)

        return at(rank, rank >= 1), at(lo, lo >= 1), at(hi, hi <= size)

    return groups, picks
