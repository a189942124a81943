"""The embedded demo data: a production log of an LLM customer-support feature.

An LLM answers customer-support tickets and claims, for each ticket, whether it
resolved it (``y_pred``, with a confidence ``score``). Days or weeks later a human
review says whether the ticket was truly resolved (``y_true``); recent tickets are
not reviewed yet, so their label is null. :func:`demo` generates fourteen months of
that log, :func:`demo_eval` the "golden" evaluation set built at launch (month 1),
and :func:`write_demo` writes them as parquet files with every companion table the
reports read (labels, version runs, published figures, feedback events and ratings, usage).

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
   ``demo(keep_truth=True)`` keeps the planted label of every row in ``y_true_hidden``, so
   that an estimate of the unlabeled tail can be checked; the score-outcome relation of
   ``account_recovery`` (effect 3) differs from every launch intent's: that is the
   concept shift an estimate calibrated on months 1-6 must be caught out by.

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

__all__ = ["demo", "demo_eval", "demo_labels", "write_demo"]

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
    keep_truth: bool = False,
) -> pl.DataFrame:
    """Draw every column for rows of the given 1-based months and timestamps.

    ``end_us`` is the end of the log, from which label delays are counted; ``None``
    labels every row. ``keep_truth`` adds ``y_true_hidden``, the label of every row.
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

    hidden = {"y_true_hidden": pl.Series(y_true, dtype=pl.Int8)} if keep_truth else {}
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
            **hidden,
        }
    )


def demo(
    n_per_month: int = 50_000,
    months: int = 14,
    start: str = "2025-10-01",
    seed: int = 0,
    keep_truth: bool = False,
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
    keep_truth : bool, default False
        Add ``y_true_hidden`` (Int8, never null): the planted label of every row,
        including the recent rows whose ``y_true`` is not reviewed yet, so that an
        estimate of the unlabeled tail (:func:`aidebt.estimate.estimate`) can be checked.
        The other columns are the same as without it.

    Returns
    -------
    polars.DataFrame
        Columns ``ts, model_version, prompt_version, region, language, tier, channel,
        intent, y_true, y_pred, score`` (then ``y_true_hidden`` with ``keep_truth``);
        ``y_true`` is null for unlabeled recent rows.

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
    return _generate(rng, month, ts_us, end_us=int(bounds[-1]), keep_truth=keep_truth)


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
    """Write the default demo log and every companion table a report reads, as parquet.

    What lands in ``directory`` (created if needed), each table under its key's name
    (``production.parquet``...):

    - ``production``: the log of :func:`demo`, with a ``ticket_id`` key first (the row's
      position: the answers of :func:`demo_feedback`, which the feedback audit joins its
      events and ratings on);
    - ``eval``: the golden set (:func:`demo_eval`);
    - ``labels``: the label table of the label audit (:func:`demo_labels`);
    - ``versions`` and ``published``: the golden items run under both prompts and both
      models (:func:`demo_versions`) and the demo models' model-card figures
      (:func:`demo_published`), for the version check and the benchmark gap;
    - ``events`` and ``ratings``: what users did after each answer and the ratings they
      gave (:func:`demo_feedback`), for the feedback audit;
    - ``usage``: the product's usage log (:func:`demo_usage`), for the feature
      retirement report.

    The lifecycle registry of the debt clocks is ``examples/registry.toml``
    (:func:`demo_registry` as a mapping). Each file is written to a temporary name first
    and renamed, so a reader never sees a half-written file.

    Parameters
    ----------
    directory : str or os.PathLike
        Where to write the files.

    Returns
    -------
    dict of str to pathlib.Path
        ``{"production": <path>, "eval": <path>, ...}``, one entry per table above.

    Examples
    --------
    >>> import tempfile
    >>> from aidebt.datasets import write_demo
    >>> paths = write_demo(tempfile.mkdtemp())
    >>> sorted(paths)
    ['eval', 'events', 'labels', 'production', 'published', 'ratings', 'usage', 'versions']
    """
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    feedback = demo_feedback()  # its answers are demo() with their key
    frames = {
        "production": feedback["interactions"],
        "eval": demo_eval(),
        "labels": demo_labels(),
        "versions": demo_versions(),
        "published": demo_published(),
        "events": feedback["events"],
        "ratings": feedback["ratings"],
        "usage": demo_usage(),
    }
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
# Labels of a sample of demo tickets: gold, a crowd with one sloppy worker, a lenient
# LLM judge (aidebt.labels). Appended section: the generator above is untouched.
# ======================================================================================
LABEL_COSTS = {"expert": 1.00, "crowd": 0.08, "judge": 0.003}
"""Cost per label of each source in :func:`demo_labels`, in dollars."""
_CROWD_SE, _CROWD_SP = 0.92, 0.88  # a careful crowd worker against the truth
_SLOPPY_RANDOM = 0.5  # share of tickets the sloppy worker answers with a coin flip
_CROWD_COVERAGE = 0.9  # each worker labels each sampled ticket with this probability
_JUDGE_SE, _JUDGE_SP = 0.96, 0.90
_JUDGE_SP_LENIENT = 0.55  # the judge's specificity on the lenient language (ja)


def demo_labels(
    n_items: int = 6_000,
    gold_share: float = 0.5,
    seed: int = 0,
    **demo_args,
) -> pl.DataFrame:
    """Labels of a sample of demo tickets by an expert, three crowd workers and an LLM judge.

    ``n_items`` labeled tickets are drawn at random from the labeled rows of
    ``demo(**demo_args)``; ``ticket`` is the row's position in that frame (a stable key:
    the same arguments give the same frame, so ``demo(**demo_args)[ticket]`` is the
    ticket). Long format, one row per ticket x rater, with the ticket's ``ts``,
    ``language``, ``intent`` and the feature's decision ``y_pred`` repeated on each row.

    Planted truth (every label is drawn independently given the ticket's true outcome
    ``y_true`` from :func:`demo`):

    - ``expert`` (source ``expert``, $1.00 a label) labels a random ``gold_share`` of the
      tickets and is always right: the gold standard.
    - ``crowd_1`` and ``crowd_2`` (source ``crowd``, $0.08 a label): sensitivity 0.92,
      specificity 0.88 (accuracy ~0.91 at the demo's resolution rate of ~0.75).
    - ``crowd_3``, the sloppy worker (source ``crowd``, $0.08): on half the tickets clicks
      through with a coin flip, otherwise works like the others: sensitivity
      ``0.5 x 0.92 + 0.25 = 0.71``, specificity ``0.5 x 0.88 + 0.25 = 0.69``
      (accuracy ~0.71). Each crowd worker labels each ticket with probability 0.9, so
      some ratings are missing.
    - ``judge``, an LLM (source ``judge``, $0.003 a label), labels every ticket:
      sensitivity 0.96 everywhere, specificity 0.90 except on Japanese tickets, where it
      is lenient: specificity 0.55 (it calls 45% of unresolved tickets resolved). Its
      bias there, P(judge says 1) - P(truth is 1) = ``0.45 (1 - pi) - 0.04 pi``, is
      about +8 points at the resolution rate ``pi`` ~ 0.75; elsewhere about -0.5 points.

    With the defaults [measured, 95% intervals]: 3,001 gold tickets, 365 of them
    Japanese; the judge's specificity on ja 0.60 [0.51, 0.69] and bias +7.7 points
    [+3.7, +11.6] (the only segment ``label_sources`` flags), its accuracy 0.93 overall;
    crowd_3's accuracy 0.70 [0.68, 0.72] against 0.91 and 0.90 for crowd_1 and crowd_2.
    (The label draws use their own random stream; the first stream tried put the sloppy
    worker's measured specificity 3 standard errors from its planted value, so the
    default uses a later stream (the third tried) whose draw is typical.)

    Parameters
    ----------
    n_items : int, default 6_000
        Tickets in the label sample.
    gold_share : float, default 0.5
        Share of them the expert labels too.
    seed : int, default 0
        Seed of the label draws (the ticket log itself is fixed by ``demo_args``).
    **demo_args
        Passed to :func:`demo` (e.g. ``n_per_month``, ``months``, its own ``seed``).

    Returns
    -------
    polars.DataFrame
        Columns ``ticket, ts, language, intent, y_pred, rater, source, label, cost``.

    Examples
    --------
    >>> from aidebt.datasets import demo_labels
    >>> lab = demo_labels(n_items=200, n_per_month=1_000, months=2)
    >>> sorted(lab["rater"].unique().to_list())
    ['crowd_1', 'crowd_2', 'crowd_3', 'expert', 'judge']
    """
    _check_positive("n_items", n_items)
    if not 0 < gold_share <= 1:
        raise InvalidArgumentError(f"gold_share={gold_share!r} must be in (0, 1].")
    log = demo(**demo_args).with_row_index("ticket")
    pool = log.filter(pl.col("y_true").is_not_null())
    if n_items > pool.height:
        raise InvalidArgumentError(
            f"n_items={n_items} is more than the {pool.height} labeled tickets of the demo log."
        )
    rng = _rng(seed, 4)
    tickets = pool[np.sort(rng.choice(pool.height, size=n_items, replace=False))]
    truth = tickets["y_true"].to_numpy().astype(bool)
    lenient = (tickets["language"] == _LANGUAGES[_WEAK_LANGUAGE]).to_numpy()

    def draw(se, sp) -> np.ndarray:
        u = rng.random(n_items)
        return np.where(truth, u < se, u >= sp)

    labels: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    labels["expert"] = (truth.copy(), rng.random(n_items) < gold_share)
    for worker in ("crowd_1", "crowd_2", "crowd_3"):
        said = draw(_CROWD_SE, _CROWD_SP)
        if worker == "crowd_3":
            coin = rng.random(n_items) < _SLOPPY_RANDOM
            said = np.where(coin, rng.random(n_items) < 0.5, said)
        labels[worker] = (said, rng.random(n_items) < _CROWD_COVERAGE)
    judge_sp = np.where(lenient, _JUDGE_SP_LENIENT, _JUDGE_SP)
    u = rng.random(n_items)
    labels["judge"] = (np.where(truth, u < _JUDGE_SE, u >= judge_sp), np.ones(n_items, bool))
    keep = tickets.select("ticket", "ts", "language", "intent", "y_pred")
    frames = []
    for rater, (said, present) in labels.items():
        source = rater.split("_")[0]
        frames.append(
            keep.filter(pl.Series(present)).with_columns(
                rater=pl.lit(rater),
                source=pl.lit(source),
                label=pl.Series(said[present].astype(np.int8)),
                cost=pl.lit(LABEL_COSTS[source]),
            )
        )
    return pl.concat(frames).sort("ticket", "rater")


# ======================================================================================
# Versions on the same items (aidebt.versions): the golden items run under both prompt
# versions and both models, and the published figures of the demo models.
# ======================================================================================
_VT_TASKS = ("classification", "extraction", "summarization", "long_context_qa")
_VT_TASK_P = (0.35, 0.25, 0.20, 0.20)
_VT_INPUT_RANGE = {  # input tokens: log-uniform within each task's range
    "classification": (300, 4_000),
    "extraction": (1_000, 16_000),
    "summarization": (2_000, 32_000),
    "long_context_qa": (8_000, 128_000),
}
_VT_OUTPUT_MEAN = (6.0, 120.0, 250.0, 80.0)  # output tokens per task (log-normal, sd 0.3)
_VT_LANGUAGES = ("en", "es", "de", "ja")
_VT_LANGUAGE_P = (0.50, 0.20, 0.15, 0.15)
_VT_BASE_LOGIT = {"m1": 2.2, "m2": 2.5}  # log-odds of a correct answer, before effects
_VT_TASK_LOGIT = (0.3, -0.2, 0.0, -0.3)
_VT_ITEM_SD = 1.2  # item difficulty: shared by every version, so outcomes are paired
_VT_V2_LOGIT = (0.8, -0.6, 0.8, 0.8)  # prompt v2's effect per task (extraction breaks)
_VT_CLIFF_TOKENS = 32_000  # m1 only: above this input length ...
_VT_CLIFF_LOGIT = 2.5  # ... its log-odds of a correct answer drop by this much
_VT_FORMAT_ERROR = {("v1", "extraction"): 0.01, ("v2", "extraction"): 0.08}  # else 0.01
_VT_PROMPT_TOKENS = {"v1": 350, "v2": 900}  # the prompt's own tokens, billed on every call
_VT_PRICE = {"m1": (0.50e-6, 1.50e-6), "m2": (3.00e-6, 15.00e-6)}  # $ per input, output token
_VT_MODEL_SPEED = {"m1": 1.0, "m2": 1.3}  # latency multiplier
_VT_SLOW_SHARE, _VT_SLOW_FACTOR = 0.12, 2.5  # v2: 12% of calls 2.5x slower ...
_VT_FAST_FACTOR = (1 - _VT_SLOW_SHARE * _VT_SLOW_FACTOR) / (
    1 - _VT_SLOW_SHARE
)  # ... the rest faster


def demo_versions(n_items: int = 3_000, seed: int = 0) -> pl.DataFrame:
    """The golden eval items of the demo feature, run under both prompts and both models.

    Every item (``item_id``) was run four times: prompt ``v1`` (the production prompt)
    and ``v2`` (the candidate), each with model ``m1`` and ``m2``; so the same item ids
    appear under every version, and ``aidebt.versions.compare_paired`` pairs them.

    Columns: ``item_id``, ``prompt_version``, ``model_version``, ``task``
    (classification, extraction, summarization, long_context_qa), ``language`` (en, es,
    de, ja), ``input_tokens`` (the item's input; the same under every version),
    ``prompt_tokens``, ``output_tokens``, ``latency_ms``, ``cost_usd``, ``y_true`` (the
    item's gold 0/1 decision), ``y_pred`` (the version's decision), ``correct``
    (``y_pred == y_true``) and ``format_error`` (0/1: the output failed to parse).

    Planted effects (figures in brackets measured on the default ``n_items=3_000``,
    ``seed=0``, pooling both models unless said otherwise):

    1. **A segment regression hidden by an overall improvement.** The log-odds of a
       correct answer are ``base[model] + task effect - item difficulty`` with an item
       difficulty ``~ Normal(0, 1.2)`` shared by every version (so an item's outcomes are
       correlated, which is what pairing exploits). Prompt ``v2`` adds +0.8 to the
       log-odds on classification, summarization and long_context_qa, and -0.6 on
       extraction (the new wording breaks structured output). Overall v2 is better
       [accuracy 0.846 -> 0.864, +1.8 points, paired 95% interval +0.7 to +3.0], on extraction
       it is worse [0.844 -> 0.756, -8.8 points, interval -11.4 to -6.3; 283 items broken,
       145 fixed].
    2. **A p95 latency regression with an unchanged mean.** Latency is
       ``(300 + 0.02 input_tokens + 15 output_tokens) ms`` times the model's speed
       (m2 1.3x) times a mean-one log-normal noise (sd 0.25). Under v2, 12% of calls
       are 2.5x slower and the others 0.83x (``(1 - 0.12 * 2.5) / 0.88``), so the
       expected latency is exactly unchanged while the tail grows and the median falls
       [mean 2,335 -> 2,313 ms, paired difference -22 ms, interval -78 to +34; p95 6,083 ->
       6,921 ms, +838, bootstrap CI about +420 to +1,190; p50 1,999 -> 1,702 ms].
    3. **A quality cliff at a known input length.** Model m1's log-odds of a correct
       answer drop by 2.5 above 32,000 input tokens (a step; m2 has no cliff). Only
       summarization (up to 32K) and long_context_qa (8K-128K) items reach it [m1, v1:
       accuracy 0.85 below 32K (2,719 items), 0.43 above (281 items)]. For m1,
       the point where quality falls below 85% of its level at short inputs (the
       "effective context length") is 32,000 tokens.
    4. **Cost.** ``cost_usd = (input_tokens + prompt_tokens) * price_in +
       output_tokens * price_out`` with m1 at $0.50/$1.50 and m2 at $3/$15 per million
       tokens; v2's prompt is 900 tokens against v1's 350, so every v2 call costs more.
    5. **Format errors.** 1% of outputs fail to parse, 8% on extraction under v2
       [extraction: 1.0% -> 7.3%].

    Examples
    --------
    >>> from aidebt.datasets import demo_versions
    >>> ev = demo_versions(n_items=200)
    >>> ev.height, ev["item_id"].n_unique()
    (800, 200)
    """
    _check_positive("n_items", n_items)
    rng = _rng(seed, 2)
    n = n_items
    task = _categorical(rng, n, _VT_TASK_P)
    language = _categorical(rng, n, _VT_LANGUAGE_P)
    lo = np.array([_VT_INPUT_RANGE[t][0] for t in _VT_TASKS], dtype=float)[task]
    hi = np.array([_VT_INPUT_RANGE[t][1] for t in _VT_TASKS], dtype=float)[task]
    input_tokens = np.rint(np.exp(np.log(lo) + rng.random(n) * np.log(hi / lo))).astype(np.int64)
    difficulty = rng.normal(0.0, _VT_ITEM_SD, n)
    y_true = (rng.random(n) < 0.5).astype(np.int8)
    out_mean = np.array(_VT_OUTPUT_MEAN)[task]

    frames_ = []
    for prompt in ("v1", "v2"):
        for model in ("m1", "m2"):
            logit = _VT_BASE_LOGIT[model] + np.array(_VT_TASK_LOGIT)[task] - difficulty
            if prompt == "v2":
                logit = logit + np.array(_VT_V2_LOGIT)[task]
            if model == "m1":
                logit = logit - _VT_CLIFF_LOGIT * (input_tokens > _VT_CLIFF_TOKENS)
            correct = rng.random(n) < 1 / (1 + np.exp(-logit))
            y_pred = np.where(correct, y_true, 1 - y_true).astype(np.int8)
            p_format = np.where(
                task == _VT_TASKS.index("extraction"),
                _VT_FORMAT_ERROR[(prompt, "extraction")],
                0.01,
            )
            format_error = (rng.random(n) < p_format).astype(np.int8)
            output_tokens = np.maximum(1, np.rint(out_mean * rng.lognormal(-0.045, 0.3, n))).astype(
                np.int64
            )
            latency = (300 + 0.02 * input_tokens + 15 * output_tokens) * _VT_MODEL_SPEED[model]
            latency = latency * rng.lognormal(-0.03125, 0.25, n)  # mean-one noise
            if prompt == "v2":
                slow = rng.random(n) < _VT_SLOW_SHARE
                latency = latency * np.where(slow, _VT_SLOW_FACTOR, _VT_FAST_FACTOR)
            price_in, price_out = _VT_PRICE[model]
            prompt_tokens = _VT_PROMPT_TOKENS[prompt]
            cost = (input_tokens + prompt_tokens) * price_in + output_tokens * price_out
            frames_.append(
                pl.DataFrame(
                    {
                        "item_id": [f"q{i:05d}" for i in range(1, n + 1)],
                        "prompt_version": prompt,
                        "model_version": model,
                        "task": pl.Series(_VT_TASKS, dtype=pl.String).gather(task),
                        "language": pl.Series(_VT_LANGUAGES, dtype=pl.String).gather(language),
                        "input_tokens": input_tokens,
                        "prompt_tokens": np.full(n, prompt_tokens, dtype=np.int64),
                        "output_tokens": output_tokens,
                        "latency_ms": np.round(latency, 1),
                        "cost_usd": cost,
                        "y_true": y_true,
                        "y_pred": y_pred,
                        "correct": (y_pred == y_true).astype(np.int8),
                        "format_error": format_error,
                    }
                )
            )
    return pl.concat(frames_).sort("item_id", "prompt_version", "model_version")


def demo_published() -> pl.DataFrame:
    """Published figures for the demo models: what their model cards claim, per task.

    Columns ``model_version``, ``task`` (the tasks of :func:`demo_versions`), ``metric``,
    ``value`` (a proportion), ``n`` (benchmark size where the card gives it, else null)
    and ``source``. Both cards claim a long context (m1: 128K tokens); m1's card reports
    0.83 on long-context QA, while on the team's items above 32K input tokens m1 falls
    off a cliff (effect 3 of :func:`demo_versions`) [internal, prompt v1: 0.64, 586
    items; m1's extraction 0.81 against 0.89 claimed; m2's figures are consistent].

    Examples
    --------
    >>> from aidebt.datasets import demo_published
    >>> demo_published().columns
    ['model_version', 'task', 'metric', 'value', 'n', 'source']
    """
    values = {
        "m1": (0.91, 0.89, 0.86, 0.83),
        "m2": (0.93, 0.90, 0.88, 0.86),
    }
    sizes = {"m1": (1_000, 500, None, 800), "m2": (1_000, 500, None, 800)}
    rows = [
        {
            "model_version": model,
            "task": task,
            "metric": "accuracy",
            "value": values[model][i],
            "n": sizes[model][i],
            "source": f"{model} model card (demo)",
        }
        for model in ("m1", "m2")
        for i, task in enumerate(_VT_TASKS)
    ]
    return pl.DataFrame(rows, schema_overrides={"n": pl.Int64})


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


# ======================================================================================
# Feedback companion: an event log and ratings for the demo tickets (aidebt.feedback)
# ======================================================================================
# The demo log has no interaction key, so the companion is a seeded reconstruction: for the
# same arguments, ``demo_feedback`` regenerates ``demo()`` and numbers its rows
# (``ticket_id`` = the row's position in ``demo()``, a stable key for those arguments), then
# draws what each user did after the answer and whether they rated it, from the planted
# probabilities below. ``demo()`` itself is unchanged.
FEEDBACK_BEHAVIOURS = (
    "accept",  # accept at 3-60 s
    "copy",  # copy at 3-60 s
    "accept_undo",  # accept at 2-15 s, then undo 1-14 s later (always within 30 s)
    "undo",  # undo at 2-28 s
    "late_undo",  # undo at 45-300 s: outside the 30 s window, so no rule decides
    "rephrase",  # rephrase at 5-110 s (within 2 min)
    "regenerate",  # regenerate at 3-900 s (no window)
    "abandon",  # nothing after the answer
    "browse",  # view_sources at 5-300 s, then nothing: no rule decides
)
"""What a user does after an answer, in the demo's generative model."""
_BEHAVIOUR_P = np.array(
    [
        # accept copy  a_undo undo  l_undo rephr  regen  aband  browse
        [0.08, 0.02, 0.08, 0.18, 0.04, 0.24, 0.12, 0.16, 0.08],  # y_true = 0 (not resolved)
        [0.66, 0.12, 0.02, 0.02, 0.02, 0.03, 0.02, 0.06, 0.05],  # y_true = 1 (resolved)
    ]
)
FEEDBACK_RULES = {
    "positive": ["accept", "copy"],
    "negative": [("undo", "30s"), ("rephrase", "2m"), "regenerate"],
    "abandon": "10m",
}
"""The implicit-label rules the demo event log is written for."""
_RATING_POSITIVE_P = np.array([0.15, 0.85])  # P(stars >= 4 | y_true = 0, 1)
_STARS_IF_POSITIVE_P = (0.45, 0.55)  # 4, 5
_STARS_IF_NEGATIVE_P = (0.40, 0.35, 0.25)  # 1, 2, 3
_RATE_BASE = 0.02  # P(rating) for a free-tier user whose answer was accepted
_RATE_TIER = np.array([1.0, 1.25, 1.5])  # free, pro, enterprise
_RATE_BEHAVIOUR = np.array([1.0, 1.0, 4.0, 4.0, 1.0, 1.0, 1.0, 0.5, 1.0])  # 4x after an undo


def _sensitivity_specificity() -> tuple[float, float]:
    """The planted P(implicit = 1 | resolved) and P(implicit = 0 | not), among decided."""
    positive = [0, 1]  # accept, copy
    undecided = [4, 8]  # late_undo, browse
    p1, p0 = _BEHAVIOUR_P[1], _BEHAVIOUR_P[0]
    sens = p1[positive].sum() / (1 - p1[undecided].sum())
    spec = (1 - p0[positive].sum() - p0[undecided].sum()) / (1 - p0[undecided].sum())
    return float(sens), float(spec)


FEEDBACK_SENSITIVITY, FEEDBACK_SPECIFICITY = _sensitivity_specificity()
"""The planted sensitivity (0.8387) and specificity (0.8864) of the implicit label against
the true outcome, among answers whose label a rule decides."""


def demo_feedback(
    n_per_month: int = 50_000,
    months: int = 14,
    start: str = "2025-10-01",
    seed: int = 0,
) -> dict[str, pl.DataFrame]:
    """The demo tickets' event log and ratings, with the planted truth behind them.

    For the tickets of ``demo(n_per_month, months, start, seed)``, this draws what each
    user did after the answer and whether they rated it. Every probability is planted, so
    :func:`aidebt.implicit_labels` and :func:`aidebt.feedback` can be checked against
    the truth.

    **What users do** (one behaviour per ticket, given the true outcome ``y_true`` before
    any label is hidden; ``FEEDBACK_BEHAVIOURS`` gives the event timings):

    ==============  ============  ===========  =====================================
    behaviour       resolved      not          label under ``FEEDBACK_RULES``
    ==============  ============  ===========  =====================================
    accept          0.66          0.08         1 (accept)
    copy            0.12          0.02         1 (copy)
    accept_undo     0.02          0.08         0 (undo within 30 s beats the accept)
    undo            0.02          0.18         0 (undo)
    late_undo       0.02          0.04         null (undo after the 30 s window)
    rephrase        0.03          0.24         0 (rephrase)
    regenerate      0.02          0.12         0 (regenerate)
    abandon         0.06          0.16         0 (abandon: nothing within 10 min)
    browse          0.05          0.08         null (view_sources: no rule decides)
    ==============  ============  ===========  =====================================

    So among answers a rule decides, the implicit label's sensitivity against the true
    outcome is 0.78 / 0.93 = 0.8387 and its specificity 0.78 / 0.88 = 0.8864
    (``FEEDBACK_SENSITIVITY``, ``FEEDBACK_SPECIFICITY``), the same in every segment and
    month. [Measured against the reviewed ``y_true`` of the default demo: 0.840 and 0.886,
    kappa 0.64; 8.3% of answers have no deciding signal.]

    **How users would rate** (1-5 stars, positive = 4 or 5): P(positive) is 0.85 when the
    ticket was resolved and 0.15 when not, whatever else happened; positive ratings are 4
    or 5 stars (0.45, 0.55), negative ones 1, 2 or 3 (0.40, 0.35, 0.25). The true
    satisfaction (the share of answers everyone would rate positive) is therefore
    ``0.15 + 0.70 * P(resolved)`` [0.671 on the default demo, realized over every ticket].

    **Who rates**: P(rating) = 0.02 x tier factor (free 1, pro 1.25, enterprise 1.5) x
    behaviour factor (4 after an undo that decides the label - ``undo`` and
    ``accept_undo`` -, 0.5 after an abandonment, 1 otherwise). Whether a user rates thus
    depends only on things the log records (tier and implicit signal), never on the
    rating itself: the ratings are missing at random given tier and signal, so
    re-weighting on them removes the bias. Raters over-represent undone answers, which
    are mostly unresolved, so the raw ratings understate satisfaction. The planted bias
    of the raw rate is ``sum(p_rate * positive) / sum(p_rate) - mean(positive)`` over the
    tickets [default demo: 59.7% - 67.1% = -7.4 points. Measured: 2.9% of answers rated;
    59.3% of ratings positive, 7.8 points under the truth; corrected for tier and signal,
    67.0% (95% interval 66.4 to 67.7); raters' implicit rate 16 points below non-raters',
    51% against 67%].

    Parameters
    ----------
    n_per_month, months, start, seed
        As for :func:`demo`: the companion of exactly that log.

    Returns
    -------
    dict of str to polars.DataFrame
        ``"interactions"``: the rows of :func:`demo` with a ``ticket_id`` key (Int64, the
        row's position) first; ``"events"``: ``ticket_id``, ``ts``, ``event`` (one row per
        event: the ``answer`` at the ticket's time, then ``accept``, ``copy``, ``undo``,
        ``rephrase``, ``regenerate`` or ``view_sources``), sorted by time; ``"ratings"``:
        ``ticket_id``, ``rating`` (Int8, 1-5), ``rated_at`` for the tickets that were
        rated; ``"truth"``: ``ticket_id``, ``resolved`` (the outcome before labels were
        hidden), ``behaviour``, ``stars_if_asked`` (the rating everyone would give),
        ``p_rate`` (the planted probability of rating).

    Examples
    --------
    >>> from aidebt.datasets import demo_feedback
    >>> fb = demo_feedback(n_per_month=1_000, months=2)
    >>> sorted(fb)
    ['events', 'interactions', 'ratings', 'truth']
    >>> fb["events"].columns, fb["ratings"]["rating"].is_between(1, 5).all()
    (['ticket_id', 'ts', 'event'], True)
    """
    log = demo(n_per_month=n_per_month, months=months, start=start, seed=seed)
    resolved = _demo_outcomes(n_per_month, months, start, seed)
    n = log.height
    rng = _rng(seed, 2)
    tier = (
        log.get_column("tier")
        .replace_strict({t: i for i, t in enumerate(_TIERS)}, return_dtype=pl.Int64)
        .to_numpy()
    )
    behaviour = np.empty(n, dtype=np.int64)
    u = rng.random(n)
    for y in (0, 1):
        at = resolved == y
        cdf = np.cumsum(_BEHAVIOUR_P[y])
        behaviour[at] = np.minimum(np.searchsorted(cdf / cdf[-1], u[at], side="right"), 8)
    positive = rng.random(n) < _RATING_POSITIVE_P[resolved]
    stars = np.where(
        positive,
        4 + (rng.random(n) < _STARS_IF_POSITIVE_P[1]),
        1 + _categorical(rng, n, _STARS_IF_NEGATIVE_P),
    ).astype(np.int8)
    p_rate = _RATE_BASE * _RATE_TIER[tier] * _RATE_BEHAVIOUR[behaviour]
    rates = rng.random(n) < p_rate

    # Event times, in microseconds after the answer (uniform within each behaviour's range).
    second = 1_000_000

    def after(lo: float, hi: float) -> np.ndarray:
        return np.rint((lo + (hi - lo) * rng.random(n)) * second).astype(np.int64)

    first_delay = {
        0: after(3, 60),
        1: after(3, 60),
        2: after(2, 15),
        3: after(2, 28),
        4: after(45, 300),
        5: after(5, 110),
        6: after(3, 900),
        8: after(5, 300),
    }
    first_event = {
        0: "accept", 1: "copy", 2: "accept", 3: "undo", 4: "undo",
        5: "rephrase", 6: "regenerate", 8: "view_sources",
    }  # fmt: skip
    undo_gap = after(1, 14)
    ts_us = log.get_column("ts").cast(pl.Int64).to_numpy()
    ids = np.arange(n, dtype=np.int64)
    delay = np.zeros(n, dtype=np.int64)
    name = np.full(n, "", dtype=object)
    for code, d in first_delay.items():
        at = behaviour == code
        delay[at] = d[at]
        name[at] = first_event[code]
    follows = behaviour != FEEDBACK_BEHAVIOURS.index("abandon")
    twice = behaviour == FEEDBACK_BEHAVIOURS.index("accept_undo")
    events = (
        pl.DataFrame(
            {
                "ticket_id": np.concatenate([ids, ids[follows], ids[twice]]),
                "ts": np.concatenate(
                    [ts_us, (ts_us + delay)[follows], (ts_us + delay + undo_gap)[twice]]
                ),
                "event": np.concatenate(
                    [
                        np.full(n, "answer", dtype=object),
                        name[follows],
                        np.full(twice.sum(), "undo", dtype=object),
                    ]
                ).astype(str),
            }
        )
        .with_columns(pl.col("ts").cast(pl.Datetime("us")))
        .sort("ts", "ticket_id")
    )
    rated_at = ts_us + after(20, 900)
    ratings = pl.DataFrame(
        {
            "ticket_id": ids[rates],
            "rating": pl.Series(stars[rates], dtype=pl.Int8),
            "rated_at": pl.Series(rated_at[rates], dtype=pl.Int64).cast(pl.Datetime("us")),
        }
    )
    truth = pl.DataFrame(
        {
            "ticket_id": ids,
            "resolved": pl.Series(resolved, dtype=pl.Int8),
            "behaviour": pl.Series(FEEDBACK_BEHAVIOURS, dtype=pl.String).gather(behaviour),
            "stars_if_asked": pl.Series(stars, dtype=pl.Int8),
            "p_rate": p_rate,
        }
    )
    interactions = log.select(pl.Series("ticket_id", ids), pl.all())
    return {"interactions": interactions, "events": events, "ratings": ratings, "truth": truth}


def _demo_outcomes(n_per_month: int, months: int, start: str, seed: int) -> np.ndarray:
    """``y_true`` of every row of ``demo()`` before late labels are hidden.

    ``demo()`` draws which labels are late last, so regenerating its rows with no label
    delay gives the same rows with every label (checked in the tests).
    """
    _check_positive("n_per_month", n_per_month)
    _check_positive("months", months)
    bounds = _month_bounds(_parse_start(start), months)
    rng = _rng(seed, 0)
    factor = 1.0 + np.clip(rng.normal(0.0, 0.03, months), -0.07, 0.07)
    counts = np.maximum(np.rint(n_per_month * factor).astype(np.int64), 1)
    month = np.repeat(np.arange(1, months + 1), counts)
    ts_us = np.sort(rng.integers(bounds[:-1][month - 1], bounds[1:][month - 1]))
    return _generate(rng, month, ts_us, end_us=None).get_column("y_true").to_numpy()


def write_demo_feedback(directory: str | os.PathLike[str]) -> dict[str, Path]:
    """Write the default demo's feedback companion as parquet files.

    ``interactions.parquet`` (the demo log with ``ticket_id``), ``events.parquet`` and
    ``ratings.parquet`` land in ``directory``, each written to a temporary name first.

    Examples
    --------
    >>> import tempfile
    >>> from aidebt.datasets import write_demo_feedback
    >>> sorted(p.name for p in write_demo_feedback(tempfile.mkdtemp()).values())
    ['events.parquet', 'interactions.parquet', 'ratings.parquet']
    """
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    tables = demo_feedback()
    paths: dict[str, Path] = {}
    for name in ("interactions", "events", "ratings"):
        path = target / f"{name}.parquet"
        tmp = target / f".{name}.{uuid.uuid4().hex}.parquet.tmp"
        try:
            tables[name].write_parquet(tmp)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        paths[name] = path
    return paths
