"""Ranks that do not claim more than the intervals show, and the cross-family aggregate.

Ranks follow the confidence intervals, not the point estimates: an entry's rank is one plus
the number of entries whose whole interval lies above its interval. Entries whose intervals
overlap can then share a rank, and the board marks them as statistically tied instead of
printing a strict order that the data do not support (the convention of Chatbot Arena's
leaderboard; Agarwal et al. 2021 argue for reporting intervals rather than point orders).

The overall score aggregates normalised scores (0 = random, 1 = the reference optimum or
oracle) across families, as rliable aggregates normalised scores across Atari games: for each
seed, an entry's mean normalised score over a family's held-out tasks is one "run" on that
family, and the IQM over runs × families comes with a stratified-bootstrap interval
(:func:`metabench.evaluation.stats.aggregate_estimates`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from metabench.evaluation.stats import Estimate

__all__ = ["family_matrix", "interval_ranks", "tied"]


def interval_ranks(estimates: Sequence[Estimate]) -> list[int]:
    """Rank ``i`` = 1 + the number of entries ``j`` with ``low_j > high_i`` (higher is better)."""
    return [1 + sum(other.low > mine.high for other in estimates) for mine in estimates]


def tied(estimates: Sequence[Estimate]) -> list[bool]:
    """Whether each entry's interval overlaps another entry's (a statistical tie)."""
    return [
        any(
            j != i and not (other.low > mine.high or mine.low > other.high)
            for j, other in enumerate(estimates)
        )
        for i, mine in enumerate(estimates)
    ]


def family_matrix(per_family: Sequence[np.ndarray]) -> np.ndarray:
    """Runs × families: each family's normalised scores ``(seeds, tasks)`` averaged over its
    tasks per seed, truncated to the smallest seed count (the first seeds, in order)."""
    if not per_family:
        raise ValueError("family_matrix: expected at least one family's scores")
    runs = min(scores.shape[0] for scores in per_family)
    return np.stack(
        [np.asarray(scores, dtype=np.float64)[:runs].mean(axis=1) for scores in per_family], axis=1
    )
