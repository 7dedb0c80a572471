"""Interval estimates for results, computed with rliable (Agarwal et al. 2021).

Scores are arranged as rliable expects: ``(runs, tasks)`` with our seeds as runs and the
held-out tasks as tasks (rliable's stratified bootstrap resamples runs within each task). We
report the interquartile mean (IQM) and the mean, each with a percentile stratified-bootstrap
confidence interval, for the headline score and for every round (the adaptation curve with
its band), and the probability of improvement between two evaluations.

rliable draws its bootstrap indices from NumPy's *global* generator, so every function here
seeds it for the duration of the call (and restores it afterwards): the same result file
always gives the same intervals. Needs the ``stats`` extra (``pip install 'metabench[stats]'``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from metabench.evaluation.results import EvaluationResult

__all__ = [
    "Estimate",
    "Summary",
    "aggregate_estimates",
    "iqm",
    "normalise",
    "per_round_estimates",
    "probability_of_improvement",
    "summarise",
]

#: Bootstrap replications (rliable's default is 50,000; 2,000 keep the interval ends stable to
#: about 1% of their width and take well under a second).
DEFAULT_REPS = 2000


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval."""

    point: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.point:.3f} [{self.low:.3f}, {self.high:.3f}]"


def _rliable() -> tuple[Any, Any]:
    try:
        from rliable import library, metrics
    except ImportError as error:
        raise ImportError(
            f"interval estimates need rliable: pip install 'metabench[stats]' ({error})"
        ) from None
    return library, metrics


@contextlib.contextmanager
def _global_numpy_seed(seed: int) -> Iterator[None]:
    # rliable's StratifiedBootstrap draws with the global generator: seed it, then restore it.
    state = np.random.get_state()  # noqa: NPY002
    np.random.seed(seed)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


def _check(scores: np.ndarray, ndim: int, what: str) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != ndim or min(scores.shape) < 1:
        raise ValueError(
            f"{what}: expected a {ndim}-d array (runs, tasks{', rounds' if ndim == 3 else ''}), got shape {scores.shape}"
        )
    if not np.isfinite(scores).all():
        raise ValueError(f"{what}: scores must be finite (is the result partial?)")
    return scores


def _interval(
    scores: Any, func: Any, reps: int, confidence: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    library, _ = _rliable()
    with _global_numpy_seed(seed):
        points, intervals = library.get_interval_estimates(
            {"x": scores}, func, reps=reps, confidence_interval_size=confidence
        )
    return np.asarray(points["x"]), np.asarray(intervals["x"])


def iqm(scores: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """The interquartile mean: the mean of the middle half, trimming ``int(n / 4)`` values at
    each end, exactly as rliable's ``aggregate_iqm`` (``scipy.stats.trim_mean(x, 0.25)``)
    but without scipy's per-call overhead, which dominates a bootstrap's time.

    Args:
        axis: ``None`` pools every value; an axis trims along it.
    """
    values = np.asarray(scores, dtype=np.float64)
    if axis is None:
        values, axis = values.ravel(), 0
    n = values.shape[axis]
    cut = int(0.25 * n)
    ordered = np.sort(values, axis=axis)
    return np.take(ordered, np.arange(cut, n - cut), axis=axis).mean(axis=axis)


def aggregate_estimates(
    scores: np.ndarray, *, reps: int = DEFAULT_REPS, confidence: float = 0.95, seed: int = 0
) -> dict[str, Estimate]:
    """IQM and mean of ``scores`` ``(runs, tasks)`` with stratified-bootstrap CIs."""
    scores = _check(scores, 2, "aggregate_estimates")
    func = lambda x: np.array([iqm(x), x.mean(axis=0).mean()])  # noqa: E731 - as rliable's
    points, intervals = _interval(scores, func, reps, confidence, seed)
    return {
        name: Estimate(float(points[i]), float(intervals[0, i]), float(intervals[1, i]))
        for i, name in enumerate(("iqm", "mean"))
    }


def _round_iqm_and_mean(x: np.ndarray) -> np.ndarray:
    """Per round: rliable's IQM (pooled over runs and tasks) and mean, vectorised over rounds."""
    return np.concatenate([iqm(x.reshape(-1, x.shape[-1]), axis=0), x.mean(axis=0).mean(axis=0)])


def per_round_estimates(
    scores: np.ndarray, *, reps: int = DEFAULT_REPS, confidence: float = 0.95, seed: int = 0
) -> dict[str, list[Estimate]]:
    """IQM and mean of every round of ``scores`` ``(runs, tasks, rounds)``, with CIs: the
    adaptation curve and its band."""
    scores = _check(scores, 3, "per_round_estimates")
    points, intervals = _interval(scores, _round_iqm_and_mean, reps, confidence, seed)
    rounds = scores.shape[2]
    return {
        name: [
            Estimate(
                float(points[k * rounds + r]),
                float(intervals[0, k * rounds + r]),
                float(intervals[1, k * rounds + r]),
            )
            for r in range(rounds)
        ]
        for k, name in enumerate(("iqm", "mean"))
    }


def _improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) per task, averaged over tasks: the Mann-Whitney U statistic over
    ``runs_x × runs_y`` (ties count one half), as rliable's ``probability_of_improvement``,
    vectorised over tasks."""
    greater = (x[:, None, :] > y[None, :, :]).mean(axis=(0, 1))
    ties = (x[:, None, :] == y[None, :, :]).mean(axis=(0, 1))
    return float(np.mean(greater + 0.5 * ties))


def probability_of_improvement(
    scores_x: np.ndarray,
    scores_y: np.ndarray,
    *,
    reps: int = DEFAULT_REPS,
    confidence: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """Probability that X beats Y on a random task (``(runs, tasks)`` each, same tasks), with
    a CI from rliable's stratified independent bootstrap."""
    scores_x = _check(scores_x, 2, "probability_of_improvement (x)")
    scores_y = _check(scores_y, 2, "probability_of_improvement (y)")
    if scores_x.shape[1] != scores_y.shape[1]:
        raise ValueError(
            f"probability_of_improvement: different task counts {scores_x.shape[1]} vs {scores_y.shape[1]}"
        )
    func = lambda x, y: np.array([_improvement(x, y)])  # noqa: E731
    points, intervals = _interval([scores_x, scores_y], func, reps, confidence, seed)
    return Estimate(float(points[0]), float(intervals[0, 0]), float(intervals[1, 0]))


def normalise(scores: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Per-task normalised scores: 0 at ``low`` (random), 1 at ``high`` (the reference optimum).

    Args:
        scores: ``(runs, tasks)``; low, high: ``(tasks,)``.
    """
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    span = high - low
    if np.any(span <= 0):
        raise ValueError("normalise: the reference optimum must beat random on every task")
    return (np.asarray(scores, dtype=np.float64) - low) / span


@dataclass(frozen=True)
class Summary:
    """What a report shows for one evaluation."""

    headline: dict[str, Estimate]
    rounds: dict[str, list[Estimate]]
    normalised: dict[str, Estimate] | None
    runs: int
    tasks: int


def summarise(
    result: EvaluationResult,
    *,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
    reps: int = DEFAULT_REPS,
    confidence: float = 0.95,
    seed: int = 0,
) -> Summary:
    """Headline and per-round estimates of a complete result (and normalised headline
    estimates when per-task ``bounds`` = (random, optimum) are given)."""
    if result.status != "complete":
        raise ValueError(f"summarise: the result is partial ({len(result.units)} trials); finish it first")
    headline = result.headline_scores()
    normalised = None
    if bounds is not None:
        normalised = aggregate_estimates(
            normalise(headline, *bounds), reps=reps, confidence=confidence, seed=seed
        )
    return Summary(
        headline=aggregate_estimates(headline, reps=reps, confidence=confidence, seed=seed),
        rounds=per_round_estimates(result.round_scores(), reps=reps, confidence=confidence, seed=seed),
        normalised=normalised,
        runs=headline.shape[0],
        tasks=headline.shape[1],
    )
