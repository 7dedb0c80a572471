"""Interval estimates against rliable itself, on fixed inputs."""

from __future__ import annotations

import numpy as np
import pytest

rliable = pytest.importorskip("rliable", reason="the stats extra is not installed")
from rliable import library, metrics  # noqa: E402

from metabench.evaluation.stats import (  # noqa: E402
    aggregate_estimates,
    iqm,
    normalise,
    per_round_estimates,
    probability_of_improvement,
)

REPS = 500


@pytest.fixture
def scores() -> np.ndarray:
    return np.random.default_rng(7).normal(size=(5, 13, 4)) + np.arange(4)  # runs, tasks, rounds


def rliable_reference(data, func, seed: int = 0, reps: int = REPS):
    """rliable's own computation, with its global generator seeded as ours seeds it."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        points, intervals = library.get_interval_estimates({"x": data}, func, reps=reps)
    finally:
        np.random.set_state(state)
    return np.asarray(points["x"]), np.asarray(intervals["x"])


@pytest.mark.parametrize("size", [(5, 13), (3, 7), (10, 100), (1, 1)])
def test_iqm_equals_rliable_aggregate_iqm(size):
    x = np.random.default_rng(size[1]).exponential(size=size)
    assert iqm(x) == pytest.approx(metrics.aggregate_iqm(x), rel=1e-12)


def test_iqm_is_the_mean_of_the_middle_half():
    assert iqm(np.array([[100.0, 1.0, 2.0, -50.0]])) == 1.5
    assert iqm(np.arange(8.0).reshape(2, 4)) == pytest.approx(np.mean([2, 3, 4, 5]))


def test_aggregate_intervals_equal_rliable(scores):
    ours = aggregate_estimates(scores[..., 0], reps=REPS)
    points, intervals = rliable_reference(
        scores[..., 0], lambda x: np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x)])
    )
    for i, name in enumerate(("iqm", "mean")):
        assert ours[name].point == pytest.approx(points[i], rel=1e-12)
        assert (ours[name].low, ours[name].high) == pytest.approx(tuple(intervals[:, i]), rel=1e-12)
        assert ours[name].low < ours[name].point < ours[name].high


def test_per_round_intervals_equal_rliable(scores):
    ours = per_round_estimates(scores, reps=REPS)
    rounds = scores.shape[2]

    def reference(x):
        return np.array(
            [metrics.aggregate_iqm(x[..., r]) for r in range(rounds)]
            + [metrics.aggregate_mean(x[..., r]) for r in range(rounds)]
        )

    points, intervals = rliable_reference(scores, reference)
    for k, name in enumerate(("iqm", "mean")):
        for r in range(rounds):
            estimate = ours[name][r]
            assert estimate.point == pytest.approx(points[k * rounds + r], rel=1e-12)
            assert (estimate.low, estimate.high) == pytest.approx(
                tuple(intervals[:, k * rounds + r]), rel=1e-12
            )
    # the rounds were shifted by 0, 1, 2, 3: the curve must climb
    assert np.all(np.diff([e.point for e in ours["mean"]]) > 0.5)


def test_probability_of_improvement_equals_rliable(scores):
    x, y = scores[..., 1], scores[..., 0] + 0.3
    y[:, 0] = x[:, 0]  # one task with identical scores: rliable counts it as 1/2
    x[0, 1] = y[0, 1]  # and a tie inside another task
    ours = probability_of_improvement(x, y, reps=200)
    assert ours.point == pytest.approx(metrics.probability_of_improvement(x, y), rel=1e-12)
    state = np.random.get_state()
    np.random.seed(0)
    try:
        points, intervals = library.get_interval_estimates(
            {"x": [x, y]}, lambda a, b: np.array([metrics.probability_of_improvement(a, b)]), reps=200
        )
    finally:
        np.random.set_state(state)
    assert (ours.low, ours.high) == pytest.approx(tuple(intervals["x"][:, 0]), rel=1e-12)
    assert probability_of_improvement(y, x, reps=50).point == pytest.approx(1 - ours.point)


def test_estimates_are_reproducible_and_leave_global_random_state_alone(scores):
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    first = aggregate_estimates(scores[..., 2], reps=100, seed=5)
    assert np.random.random() == expected
    assert aggregate_estimates(scores[..., 2], reps=100, seed=5) == first
    assert aggregate_estimates(scores[..., 2], reps=100, seed=6) != first


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="finite"):
        aggregate_estimates(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="2-d"):
        aggregate_estimates(np.zeros(3))
    with pytest.raises(ValueError, match="different task counts"):
        probability_of_improvement(np.zeros((2, 3)), np.zeros((2, 4)))


def test_normalise_maps_random_to_zero_and_optimum_to_one():
    low, high = np.array([1.0, 5.0]), np.array([3.0, 6.0])
    np.testing.assert_allclose(normalise(np.array([[1.0, 6.0], [2.0, 5.5]]), low, high), [[0, 1], [0.5, 0.5]])
    with pytest.raises(ValueError, match="must beat random"):
        normalise(np.zeros((1, 2)), low, low)
