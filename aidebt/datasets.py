"""The embedded demo data: a production log of an LLM customer-support feature.

An LLM answers customer-support tickets and claims, for each ticket, whether it
resolved it (``y_pred``, with a confidence ``score``). Days or weeks later a human
review says whether the ticket was truly resolved (``y_true``); recent tickets are
not reviewed yet, so their label is null. :func:`demo` generates fourteen months of
that log, :func:`demo_eval` the "golden" evaluation set built at launch (month 1),
and :func:`write_demo` writes both as parquet files.

The generator is seeded, so the same arguments always give the same frame, and
fully vectorized: the default log (14 x 50,000 rows) takes well under two seconds.

Columns
-------
========================  ==================  ==========================================
column                    dtype               meaning
========================  ==================  ==========================================
``ts``                    Datetime("us")      when the ticket was answered, uniform
                                              within its calendar month
``model_version``         String              ``"m1"``; ``"m2"`` serves ~50% from month 10
``prompt_version``        String              ``"v1"`` or ``"v2"``
``region``                String              NA, EU, APAC, LATAM
``language``              String              en, es, de, fr, pt, ja
``tier``                  String              free, pro, enterprise
``channel``               String              chat, email, web
``intent``                String              billing, shipping, returns, account,
                                              technical, and ``account_recovery`` (new)
``y_true``                Int8, nullable      1 = truly resolved, null = not labeled yet
``y_pred``                Int8                1 = the feature claims it resolved it
``score``                 Float64 in (0, 1)   the feature's confidence;
                                              ``y_pred == (score >= 0.5)``
========================  ==================  ==========================================

Planted effects
---------------
Every effect below is planted with a known truth, so that an analysis of this log can
be checked against it. "Month k" counts calendar months from ``start`` (month 1 = the
launch month, the one the golden set is drawn from). Figures in brackets are measured
on ``demo()`` with its defaults.

1. **Subgroup failure (language).** On Japanese tickets the feature misses true
   resolutions about 4x as often as on any other language: ``ja`` adds +1.8 to the
   log-odds of a false negative, whatever the intent. At launch the false-negative
   rate is ~0.23 for ``ja`` against ~0.05 for the others [0.228 vs 0.049, 4.7x]; over
   the whole log, where harder intents raise every rate, ~0.30 against ~0.08 [0.296
   vs 0.081, 3.7x]. The false-positive rate is the same for every language (~0.19 at
   launch, ~0.26 over the log), and so is the resolution rate ``P(y_true = 1)``.
   Language is independent of every other column (en 0.42, es 0.16, de 0.10, fr 0.10,
   pt 0.10, ja 0.12), so no other column explains the gap away.
2. **Simpson's paradox (prompt x tier).** Prompt ``v2`` raises the resolution rate by
   exactly +2.5 points within every tier [free 0.794 -> 0.819, pro 0.731 -> 0.761,
   enterprise 0.591 -> 0.618], yet resolves ~4.5 points *fewer* tickets overall
   [v1 0.764, v2 0.719], because it is served mostly to the hardest tier:
   ``P(v2 | free, pro, enterprise) = 0.2, 0.5, 0.8``, with tier shares 0.50, 0.30,
   0.20 and base resolution rates 0.80, 0.74, 0.60 (enterprise hardest). The prompt
   depends on tier only - not on time, language, region, channel, intent or model
   version - so tier is the one stratifier that reverses the comparison.
3. **Decay after launch.** Accuracy (``y_pred == y_true`` among labeled rows) is flat
   at ~0.90 for months 1-6, then declines steadily to ~0.75 in month 14 [months 1-14:
   0.902, 0.901, 0.902, 0.901, 0.900, 0.901, 0.882, 0.861, 0.838, 0.820, 0.801, 0.785,
   0.763, 0.746], for two reasons that a golden set built at launch cannot see:

   * a new intent, ``account_recovery``, absent before month 7, grows linearly to
     38% of traffic in month 14 (``0.38 * (k - 6) / 8`` in month ``k``, flat after
     month 14); the feature's accuracy on it is ~0.58 against ~0.93 on the common
     existing intents (FNR 0.30, FPR 0.55);
   * among the existing intents, the mix shifts from month 7 towards ``technical``
     (15% of existing-intent traffic in months 1-6, 50% in month 14, linear in
     between), the hardest existing intent (accuracy ~0.77: FNR 0.12, FPR 0.38, against
     FNR 0.035-0.045 and FPR 0.13-0.16 for billing, shipping, returns and account).
     Re-weighting the golden set to month 14's existing-intent mix lowers its accuracy
     by ~4.5 points [0.909 -> 0.862] while its raw accuracy stays where it was.

   The intent mix is independent of tier, prompt, language and every other column.
   Intents also move the resolution rate (billing +3, shipping +4, returns +2,
   account 0, technical -6, account_recovery -8 points), so the share of resolved
   tickets drifts down a little too [0.769 in month 1, 0.710 in month 14], the same way
   for both prompts.
4. **Drift.** The intent mix drifts from month 7 (effect 3). The mixes of region
   (NA 0.40, EU 0.30, APAC 0.18, LATAM 0.12), language, tier (above) and channel
   (chat 0.60, email 0.25, web 0.15) are stationary. ``model_version`` ``m2`` takes
   ~50% of traffic from month 10 with exactly the quality of ``m1``: a change that
   changes nothing. (Pooled over the whole log ``m2`` looks worse only because it
   serves only the late, harder months; compare within months.)
5. **Late labels.** ``y_true`` is null for ~90% of the tickets of the last 7 days of
   the log, ~50% of the 7 days before and ~15% of the 7 days before those; every older
   ticket is labeled. Which tickets lack a label is independent of everything else.

The feature's ``score`` is ``logistic(1.6 * z)`` of a latent ``z ~ Normal(+mu1, 1)``
on truly resolved tickets and ``Normal(-mu0, 1)`` otherwise, with ``mu1, mu0`` set
from the FNR and FPR above, so that ``y_pred = (score >= 0.5)`` has exactly those
error rates. The score ranks tickets well [AUC 0.95 in month 1, 0.91 over the log]
and is roughly calibrated, slightly under-confident [a logistic fit of ``y_true`` on
``logit(score)`` has slope 1.0 and intercept 0.5].
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path
from statistics import NormalDist

import numpy as np
import polars as pl

from aidebt.errors import InvalidArgumentError

__all__ = ["demo", "demo_eval", "write_demo"]

# --------------------------------------------------------------------------------------
# The generative model: every number of the module docstring lives here.
# --------------------------------------------------------------------------------------
_REGIONS = ("NA", "EU", "APAC", "LATAM")
_REGION_P = (0.40, 0.30, 0.18, 0.12)
_LANGUAGES = ("en", "es", "de", "fr", "pt", "ja")
_LANGUAGE_P = (0.42, 0.16, 0.10, 0.10, 0.10, 0.12)
_WEAK_LANGUAGE = _LANGUAGES.index("ja")
_WEAK_LANGUAGE_FN_LOGIT = 1.8  # added to the log-odds of a false negative for ja
_TIERS = ("free", "pro", "enterprise")
_TIER_P = (0.50, 0.30, 0.20)
_TIER_RESOLVE = np.array([0.80, 0.74, 0.60])  # base P(y_true = 1) per tier
_TIER_P_V2 = np.array([0.2, 0.5, 0.8])  # P(prompt v2 | tier): the Simpson confounder
_V2_LIFT = 0.025  # v2 resolves 2.5 points more tickets within every tier
_CHANNELS = ("chat", "email", "web")
_CHANNEL_P = (0.60, 0.25, 0.15)
_PROMPTS = ("v1", "v2")
_MODELS = ("m1", "m2")
_M2_FROM_MONTH = 10  # 1-based month from which m2 serves
_M2_SHARE = 0.5

_INTENTS = ("billing", "shipping", "returns", "account", "technical", "account_recovery")
_TECHNICAL = _INTENTS.index("technical")
_INTENT_RESOLVE = np.array([0.03, 0.04, 0.02, 0.0, -0.06, -0.08])  # added to P(y_true)
_INTENT_FNR = np.array([0.035, 0.035, 0.04, 0.045, 0.12, 0.30])  # P(y_pred=0 | y_true=1)
_INTENT_FPR = np.array([0.13, 0.13, 0.15, 0.16, 0.38, 0.55])  # P(y_pred=1 | y_true=0)
_EXISTING_MIX_LAUNCH = np.array([0.26, 0.22, 0.18, 0.19, 0.15])
_TECHNICAL_SHARE_END = 0.50  # technical's share of existing-intent traffic at ramp end
_NEW_INTENT_SHARE_END = 0.38  # account_recovery's share of all traffic at ramp end
_RAMP_FIRST_MONTH = 7  # 1-based: first month of the drift (and of account_recovery)
_RAMP_MONTHS = 8  # months 7..14: the ramp reaches its end value in month 14

_LATE_LABEL_NULL_P = (0.90, 0.50, 0.15)  # share unlabeled: last 7 days, 7 before, ...
_SCORE_SLOPE = 1.6  # score = logistic(slope * latent), latent ~ Normal(+-mu, 1)

_US_PER_DAY = 86_400_000_000
_EPOCH = dt.datetime(1970, 1, 1)


def _intent_mix(month: np.ndarray) -> np.ndarray:
    """Intent probabilities for each 1-based month, shape ``(len(month), 6)``."""
    ramp = np.clip((np.asarray(month, dtype=float) - (_RAMP_FIRST_MONTH - 1)) / _RAMP_MONTHS, 0, 1)
    end = _EXISTING_MIX_LAUNCH.copy()
    others = np.arange(len(end)) != _TECHNICAL
    end[others] *= (1 - _TECHNICAL_SHARE_END) / end[others].sum()
    end[_TECHNICAL] = _TECHNICAL_SHARE_END
    existing = (1 - ramp)[:, None] * _EXISTING_MIX_LAUNCH + ramp[:, None] * end
    new_share = _NEW_INTENT_SHARE_END * ramp
    return np.column_stack([existing * (1 - new_share)[:, None], new_share])


def _categorical(rng: np.random.Generator, n: int, p) -> np.ndarray:
    """``n`` draws of level codes with probabilities ``p`` (inverse CDF, vectorized)."""
    cdf = np.cumsum(p)
    return np.minimum(np.searchsorted(cdf / cdf[-1], rng.random(n), side="right"), len(p) - 1)


def _latent_means() -> tuple[np.ndarray, np.ndarray]:
    """Means of the latent: ``mu1[intent, weak]`` for y_true=1, ``mu0[intent]`` for 0.

    ``P(Normal(mu1, 1) < 0) = FNR`` and ``P(Normal(-mu0, 1) >= 0) = FPR``.
    """
    inv = NormalDist().inv_cdf
    odds = _INTENT_FNR / (1 - _INTENT_FNR) * np.exp(_WEAK_LANGUAGE_FN_LOGIT)
    fnr = np.column_stack([_INTENT_FNR, odds / (1 + odds)])
    mu1 = np.vectorize(lambda p: -inv(p))(fnr)
    mu0 = np.array([-inv(p) for p in _INTENT_FPR])
    return mu1, mu0


_MU_POSITIVE, _MU_NEGATIVE = _latent_means()


def _parse_start(start: str) -> dt.datetime:
    try:
        day = dt.date.fromisoformat(start)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"start={start!r} is not an ISO date; pass a date such as '2025-10-01'."
        ) from None
    return dt.datetime(day.year, day.month, 1)


def _month_bounds(start: dt.datetime, months: int) -> np.ndarray:
    """Microseconds since the epoch of the first instant of each month, plus the end."""
    bounds = []
    for k in range(months + 1):
        year, month = divmod(start.month - 1 + k, 12)
        first = dt.datetime(start.year + year, month + 1, 1)
        bounds.append((first - _EPOCH) // dt.timedelta(microseconds=1))
    return np.array(bounds, dtype=np.int64)


def _rng(seed: int, stream: int) -> np.random.Generator:
    # Separate streams for the log and the golden set, both fixed by ``seed``.
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidArgumentError(f"seed={seed!r} must be a non-negative integer.")
    return np.random.default_rng([int(seed), stream, 0xA1DEB7])


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InvalidArgumentError(f"{name}={value!r} must be a positive integer.")


def _generate(
    rng: np.random.Generator,
    month: np.ndarray,
    ts_us: np.ndarray,
    end_us: int | None,
) -> pl.DataFrame:
    """Draw every column for rows of the given 1-based months and timestamps.

    ``end_us`` is the end of the log, from which label delays are counted; ``None``
    labels every row.
    """
    n = len(month)
    region = _categorical(rng, n, _REGION_P)
    language = _categorical(rng, n, _LANGUAGE_P)
    tier = _categorical(rng, n, _TIER_P)
    channel = _categorical(rng, n, _CHANNEL_P)

    # Intent: a per-month mix, drawn by inverse CDF of each row's month.
    months, inverse = np.unique(month, return_inverse=True)
    cdf = np.cumsum(_intent_mix(months), axis=1)
    cdf /= cdf[:, -1:]
    u = rng.random(n)
    intent = np.minimum((u[:, None] >= cdf[inverse]).sum(axis=1), len(_INTENTS) - 1)

    # Prompt depends on tier only; model version on time only (and changes nothing).
    prompt = (rng.random(n) < _TIER_P_V2[tier]).astype(np.int8)
    model = ((month >= _M2_FROM_MONTH) & (rng.random(n) < _M2_SHARE)).astype(np.int8)

    # Truth: tier + intent + prompt lift, additive on the probability scale.
    p_resolved = _TIER_RESOLVE[tier] + _INTENT_RESOLVE[intent] + _V2_LIFT * prompt
    y_true = (rng.random(n) < p_resolved).astype(np.int8)

    # The feature: a latent z ~ Normal(+mu1, 1) on true resolutions and Normal(-mu0, 1)
    # otherwise, with mu set so that P(z < 0 | y=1) = FNR and P(z >= 0 | y=0) = FPR of
    # the row's intent; the weak language only raises the FNR (a log-odds shift).
    weak = (language == _WEAK_LANGUAGE).astype(np.int64)
    mu = np.where(y_true == 1, _MU_POSITIVE[intent, weak], -_MU_NEGATIVE[intent])
    latent = mu + rng.standard_normal(n)
    score = 1.0 / (1.0 + np.exp(-np.clip(_SCORE_SLOPE * latent, -30.0, 30.0)))
    y_pred = (score >= 0.5).astype(np.int8)

    labeled = np.ones(n, dtype=bool)
    if end_us is not None:
        age_weeks = (end_us - ts_us) // (7 * _US_PER_DAY)
        p_null = np.zeros(n)
        for week, p in enumerate(_LATE_LABEL_NULL_P):
            p_null[age_weeks == week] = p
        labeled = rng.random(n) >= p_null

    def strings(levels, codes) -> pl.Series:
        return pl.Series(levels, dtype=pl.String).gather(codes)

    return pl.DataFrame(
        {
            "ts": pl.Series(ts_us, dtype=pl.Int64).cast(pl.Datetime("us")),
            "model_version": strings(_MODELS, model),
            "prompt_version": strings(_PROMPTS, prompt),
            "region": strings(_REGIONS, region),
            "language": strings(_LANGUAGES, language),
            "tier": strings(_TIERS, tier),
            "channel": strings(_CHANNELS, channel),
            "intent": strings(_INTENTS, intent),
            "y_true": pl.Series(y_true, dtype=pl.Int8).scatter(np.flatnonzero(~labeled), None),
            "y_pred": pl.Series(y_pred, dtype=pl.Int8),
            "score": pl.Series(score, dtype=pl.Float64),
        }
    )


def demo(
    n_per_month: int = 50_000,
    months: int = 14,
    start: str = "2025-10-01",
    seed: int = 0,
) -> pl.DataFrame:
    """Generate the production log of the demo LLM customer-support feature.

    One row per answered ticket, about ``n_per_month`` per calendar month (each month's
    count varies by a few percent), sorted by ``ts``. The planted effects (a language
    with 4x the false-negative rate, Simpson's paradox between prompt and tier, decay
    and drift from month 7, late labels) are described in this module's docstring.

    Parameters
    ----------
    n_per_month : int, default 50_000
        Typical number of rows per month.
    months : int, default 14
        Number of calendar months, the first one being the month of ``start``.
    start : str, default "2025-10-01"
        ISO date in the first month; the log starts on the first day of that month.
    seed : int, default 0
        Seed of the random generator: the same arguments give the same frame.

    Returns
    -------
    polars.DataFrame
        Columns ``ts, model_version, prompt_version, region, language, tier, channel,
        intent, y_true, y_pred, score``; ``y_true`` is null for unlabeled recent rows.

    Examples
    --------
    >>> from aidebt.datasets import demo
    >>> log = demo(n_per_month=1_000, months=3)
    >>> log.columns[:3]
    ['ts', 'model_version', 'prompt_version']
    >>> log["ts"].dt.month().unique().sort().to_list()
    [10, 11, 12]
    """
    _check_positive("n_per_month", n_per_month)
    _check_positive("months", months)
    bounds = _month_bounds(_parse_start(start), months)
    rng = _rng(seed, 0)
    factor = 1.0 + np.clip(rng.normal(0.0, 0.03, months), -0.07, 0.07)
    counts = np.maximum(np.rint(n_per_month * factor).astype(np.int64), 1)
    month = np.repeat(np.arange(1, months + 1), counts)
    ts_us = np.sort(rng.integers(bounds[:-1][month - 1], bounds[1:][month - 1]))
    return _generate(rng, month, ts_us, end_us=int(bounds[-1]))


def demo_eval(n: int = 3_000, seed: int = 0, start: str = "2025-10-01") -> pl.DataFrame:
    """Generate the golden evaluation set of the demo feature, built at launch.

    The same columns as :func:`demo`, drawn from the first month's traffic (the
    generative model of month 1, so no ``account_recovery`` intent and the launch
    intent mix), every row labeled, sorted by ``ts``. Its draws are independent of
    :func:`demo`'s for the same seed.

    Parameters
    ----------
    n : int, default 3_000
        Number of rows.
    seed : int, default 0
        Seed of the random generator.
    start : str, default "2025-10-01"
        ISO date in the launch month; timestamps spread over that month.

    Returns
    -------
    polars.DataFrame
        The columns of :func:`demo`, with no null ``y_true``.

    Examples
    --------
    >>> from aidebt.datasets import demo_eval
    >>> golden = demo_eval(n=500)
    >>> golden.height, golden["y_true"].null_count()
    (500, 0)
    """
    _check_positive("n", n)
    bounds = _month_bounds(_parse_start(start), 1)
    rng = _rng(seed, 1)
    ts_us = np.sort(rng.integers(bounds[0], bounds[1], size=n))
    return _generate(rng, np.ones(n, dtype=np.int64), ts_us, end_us=None)


def write_demo(directory: str | os.PathLike[str]) -> dict[str, Path]:
    """Write the default demo log and golden set as parquet files.

    ``production.parquet`` (:func:`demo` with its defaults) and ``eval.parquet``
    (:func:`demo_eval` with its defaults) land in ``directory``, created if needed.
    Each file is written to a temporary name first and renamed, so a reader never
    sees a half-written file.

    Parameters
    ----------
    directory : str or os.PathLike
        Where to write the files.

    Returns
    -------
    dict of str to pathlib.Path
        ``{"production": <path>, "eval": <path>}``.

    Examples
    --------
    >>> import tempfile
    >>> from aidebt.datasets import write_demo
    >>> paths = write_demo(tempfile.mkdtemp())
    >>> sorted(p.name for p in paths.values())
    ['eval.parquet', 'production.parquet']
    """
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    frames = {"production": demo(), "eval": demo_eval()}
    paths: dict[str, Path] = {}
    for name, frame in frames.items():
        path = target / f"{name}.parquet"
        tmp = target / f".{name}.{uuid.uuid4().hex}.parquet.tmp"
        try:
            frame.write_parquet(tmp)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        paths[name] = path
    return paths


# ======================================================================================
# Lifecycle demo: the feature's registry and a usage log (aidebt.lifecycle)
# ======================================================================================
__all__ += ["demo_registry", "demo_usage"]


def demo_registry() -> dict:
    """The registry of the demo feature: its prompts, models, golden set and index.

    A mapping in the form :func:`aidebt.lifecycle.load_registry` reads (the same content
    as ``examples/registry.toml``, which adds the golden set's path). Planted against
    :func:`demo` (14 months from 2025-10; ``as_of = "2026-11"``, i.e. 2026-11-30):

    * **prompts** ``v1`` and ``v2`` were both written for model ``m1`` and evaluated on
      ``m1`` only (on the golden set, 2025-11-03). From month 10 (2026-07) ``m2`` serves
      ~50% of the traffic, so ~50% of 2026-11's answers come from a prompt on a model it
      was never evaluated on: v1 on m2 ~29.5% and v2 on m2 ~20.5% (v2 serves
      0.5 x 0.2 + 0.3 x 0.5 + 0.2 x 0.8 = 41% of tickets; the log's own counts are the
      exact figures);
    * **model** ``m1`` is deprecated since 2026-09-01 and retires on 2027-01-02, 33 days
      after the last day of the log, while it still serves ~50%; ``m2`` replaces it;
    * **golden set** ``golden`` was built at launch, 2025-10-31, from October 2025's
      traffic: on 2026-11-30 it is 395 days (13 months) old, 30 days past its 365-day
      refresh date, and leaves ~38% of November's traffic uncovered (the new intent
      ``account_recovery``, which it has no example of);
    * **index** ``kb-articles`` (120,000 rows, used by both prompts, so 100% of the
      traffic) was built on 2025-08-15 with encoder ``embed-v1``, deprecated since
      2026-05-01, which retires on 2026-12-31: 31 days left.

    Examples
    --------
    >>> sorted(demo_registry())
    ['eval_sets', 'indexes', 'models', 'prompts', 'timezone']
    """
    return {
        "timezone": "UTC",
        "models": {
            "m1": {
                "provider": "acme",
                "released": "2025-06-01",
                "deprecated": "2026-09-01",
                "retires": "2027-01-02",
                "replacement": "m2",
            },
            "m2": {"provider": "acme", "released": "2026-06-15"},
            "embed-v1": {
                "provider": "acme",
                "released": "2024-03-01",
                "deprecated": "2026-05-01",
                "retires": "2026-12-31",
                "replacement": "embed-v2",
            },
            "embed-v2": {"provider": "acme", "released": "2026-04-15"},
        },
        "prompts": {
            "v1": {
                "written_for": "m1",
                "evaluated": "2025-11-03",
                "eval_set": "golden",
                "evaluated_on": ["m1"],
            },
            "v2": {
                "written_for": "m1",
                "evaluated": "2025-11-03",
                "eval_set": "golden",
                "evaluated_on": ["m1"],
            },
        },
        "eval_sets": {
            "golden": {
                "built": "2025-10-31",
                "window": ["2025-10-01", "2025-10-31"],
                "segments": ["intent"],
                "min_examples": 30,
                "max_age_days": 365,
                "max_uncovered": 0.2,
            }
        },
        "indexes": {
            "kb-articles": {
                "encoder": "embed-v1",
                "built": "2025-08-15",
                "rows": 120_000,
                "used_by": ["v1", "v2"],
            }
        },
    }


# The usage model: every number of demo_usage's docstring lives here.
_PLANS = ("free", "pro", "enterprise")
_PLAN_P = (0.60, 0.30, 0.10)
_ACTIVE_P = 0.6  # P(a customer is active in a given week)
_OTHER_ACTIONS = 4.0  # other actions in an active week: 1 + Poisson(4)
_ADOPTER_P = 0.10  # P(a customer ever adopts the feature)
_ADOPTION_DELAY_WEEKS = 3.0  # adoption week = floor(Exponential(mean 3 weeks))
_KEEP_USING_P = 0.8  # P(an adopter uses it in an active week after adopting)
_POWER_P = np.array([0.05, 0.15, 0.40])  # P(power user | adopter, plan)
_POWER_USES, _OTHER_USES = 14.0, 1.5  # uses in a week of use: 1 + Poisson(...)
_SUCCESS_START, _SUCCESS_SLOPE, _SUCCESS_FLOOR = 0.85, -0.01, 0.05
_COST_PER_SUCCESS_START, _COST_PER_SUCCESS_SLOPE = 0.05, 0.002  # dollars, per week
_COST_SHAPE = 4.0  # per-use cost = mean x Gamma(4, 1/4): coefficient of variation 0.5


def _usage_success_p(week: np.ndarray) -> np.ndarray:
    return np.maximum(_SUCCESS_START + _SUCCESS_SLOPE * week, _SUCCESS_FLOOR)


def _usage_cost_per_success(week: np.ndarray) -> np.ndarray:
    """The planted cost per successful use in week ``week`` (0-based): linear."""
    return _COST_PER_SUCCESS_START + _COST_PER_SUCCESS_SLOPE * np.asarray(week, dtype=float)


def _usage_cells(rng: np.random.Generator, n_users: int, weeks: int):
    """Per customer: plan and power flag; per (customer, week): other actions and uses."""
    plan = _categorical(rng, n_users, _PLAN_P)
    adopter = rng.random(n_users) < _ADOPTER_P
    adopt_week = np.floor(rng.exponential(_ADOPTION_DELAY_WEEKS, n_users)).astype(np.int64)
    power = adopter & (rng.random(n_users) < _POWER_P[plan])
    week = np.arange(weeks)
    active = rng.random((n_users, weeks)) < _ACTIVE_P
    others = np.where(active, 1 + rng.poisson(_OTHER_ACTIONS, (n_users, weeks)), 0)
    using = (
        active
        & adopter[:, None]
        & (week[None, :] >= adopt_week[:, None])
        & (rng.random((n_users, weeks)) < _KEEP_USING_P)
    )
    lam = np.where(power, _POWER_USES, _OTHER_USES)[:, None]
    uses = np.where(using, 1 + rng.poisson(np.broadcast_to(lam, (n_users, weeks))), 0)
    return plan, power, others, uses


def demo_usage(
    n_users: int = 5_000,
    weeks: int = 26,
    start: str = "2026-06-01",
    seed: int = 0,
    *,
    end: str | None = None,
) -> pl.DataFrame:
    """A usage log of the demo customer base: one row per customer action.

    The product has an AI feature (a summarizer, say); ``used_ai`` marks the actions that
    used it, each with its ``cost`` in dollars and whether it ``success``-fully did its
    job. Weeks start on Monday; ``start`` is moved back to its week's Monday.

    Planted (each a property of the generative model, so an analysis can be checked):

    * **customers**: plans free / pro / enterprise with shares 0.60 / 0.30 / 0.10. Each
      is active in a week with probability 0.6 (independently), doing 1 + Poisson(4)
      other actions then;
    * **an adoption plateau at 8%**: 10% of customers ever adopt the feature, in week
      ``floor(Exponential(mean 3))``; an adopter uses it in 80% of their active weeks
      after that. Among a week's active customers, the share who use it is therefore
      ``0.08 (1 - exp(-(t + 1) / 3))`` in week ``t`` (0-based): 2.3% in the first week,
      7.7% by week 10, 8.0% from then on [measured 7.9% in the last week];
    * **retention**: of the customers who first used it in a week, 0.6 x 0.8 = 48% use
      it again in any later week (flat: no decay);
    * **power users**: 5% / 15% / 40% of free / pro / enterprise adopters are power users,
      with 1 + Poisson(14) uses in a week of use against 1 + Poisson(1.5) for the others.
      Over the default 26 weeks, among the customers who used the feature, the top 10%
      make ~41% of its uses and the Gini coefficient of uses per user is ~0.41 [a
      simulation of 400,000 customers: top-10% share 0.406, Gini 0.412, each +/- 0.002;
      ``demo_usage()`` itself: 0.406 and 0.429 (0.396 to 0.462)]. For power users the
      feature is most of their activity: ~11% of its users use it for more than half of
      their actions [0.113 in the simulation], most of them on the enterprise plan, the
      retirement's blast radius;
    * **a rising cost per successful use**: a use in week ``t`` succeeds with probability
      ``0.85 - 0.01 t`` and costs ``(0.85 - 0.01 t)(0.05 + 0.002 t)`` dollars on average
      (Gamma-distributed, coefficient of variation 0.5), so each successful use costs
      exactly ``0.05 + 0.002 t`` dollars in expectation: $0.05 in the first week,
      $0.10 in week 25, crossing a $0.12 budget in week 35 (nine weeks after the
      default log ends). The success rate floors at 0.05.

    Parameters
    ----------
    n_users : int, default 5_000
        Customers in the base.
    weeks : int, default 26
        Weeks of log.
    start : str, default "2026-06-01"
        An ISO date in the first week (the default log ends on 2026-11-29).
    seed : int, default 0
        Seed: the same arguments give the same frame.
    end : str, optional
        Instead of ``start``: the log's last week is the last whole week (Monday to
        Sunday) that ends on or before ``end`` (``"YYYY-MM-DD"``, or ``"YYYY-MM"`` for
        that month's last day), so a report for any month has a log to show.

    Returns
    -------
    polars.DataFrame
        ``ts`` (Datetime), ``user_id`` (Int64), ``plan`` (String), ``used_ai`` (Boolean),
        ``cost`` (Float64, null on other actions) and ``success`` (Boolean, null on other
        actions), sorted by ``ts``.

    Examples
    --------
    >>> log = demo_usage(n_users=300, weeks=4)
    >>> log.columns
    ['ts', 'user_id', 'plan', 'used_ai', 'cost', 'success']
    >>> str(log["ts"].min().date()), log["plan"].unique().sort().to_list()
    ('2026-06-01', ['enterprise', 'free', 'pro'])
    """
    _check_positive("n_users", n_users)
    _check_positive("weeks", weeks)
    if end is not None:
        text = str(end).strip()
        try:
            if len(text) == 7:
                first_next = dt.date.fromisoformat(text + "-01") + dt.timedelta(days=31)
                last = first_next.replace(day=1) - dt.timedelta(days=1)
            else:
                last = dt.date.fromisoformat(text)
        except ValueError:
            raise InvalidArgumentError(
                f"end={end!r} is not a date; pass 'YYYY-MM-DD' or 'YYYY-MM'."
            ) from None
        sunday = last - dt.timedelta(days=(last.weekday() + 1) % 7)
        first = sunday - dt.timedelta(days=7 * weeks - 1)
    else:
        try:
            first = dt.date.fromisoformat(start)
        except (TypeError, ValueError):
            raise InvalidArgumentError(
                f"start={start!r} is not an ISO date; pass a date such as '2026-06-01'."
            ) from None
        first -= dt.timedelta(days=first.weekday())
    rng = _rng(seed, 2)
    plan, _, others, uses = _usage_cells(rng, n_users, weeks)

    week0_us = (dt.datetime.combine(first, dt.time()) - _EPOCH) // dt.timedelta(microseconds=1)
    user = np.arange(n_users, dtype=np.int64)[:, None]
    cells_user = np.broadcast_to(user, others.shape).ravel()
    cells_week = np.broadcast_to(np.arange(weeks), others.shape).ravel()
    n_other, n_use = others.ravel(), uses.ravel()
    # One row per action: repeat each (customer, week) cell by its count.
    row_user = np.concatenate([np.repeat(cells_user, n_other), np.repeat(cells_user, n_use)])
    row_week = np.concatenate([np.repeat(cells_week, n_other), np.repeat(cells_week, n_use)])
    feature = np.concatenate([np.zeros(n_other.sum(), bool), np.ones(n_use.sum(), bool)])
    n = len(row_user)
    ts = week0_us + row_week * 7 * _US_PER_DAY + rng.integers(0, 7 * _US_PER_DAY, n)
    p_success = _usage_success_p(row_week)
    success = rng.random(n) < p_success
    mean_cost = p_success * _usage_cost_per_success(row_week)
    cost = mean_cost * rng.gamma(_COST_SHAPE, 1 / _COST_SHAPE, n)
    order = np.lexsort((row_user, ts))
    frame = pl.DataFrame(
        {
            "ts": pl.Series(ts[order], dtype=pl.Int64).cast(pl.Datetime("us")),
            "user_id": pl.Series(row_user[order] + 1, dtype=pl.Int64),
            "plan": pl.Series(_PLANS, dtype=pl.String).gather(plan[row_user[order]]),
            "used_ai": pl.Series(feature[order], dtype=pl.Boolean),
            "cost": pl.Series(cost[order], dtype=pl.Float64),
            "success": pl.Series(success[order], dtype=pl.Boolean),
        }
    )
    off = ~pl.col("used_ai")
    return frame.with_columns(
        pl.when(off).then(None).otherwise(pl.col("cost")).alias("cost"),
        pl.when(off).then(None).otherwise(pl.col("success")).alias("success"),
    )
