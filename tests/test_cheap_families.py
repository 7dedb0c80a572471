"""Tier 2 for the cheap families: rewards recomputed independently, task laws, task dependence."""

from __future__ import annotations

import copy
import math

import gymnasium as gym
import numpy as np
import pytest

import metabench  # noqa: F401 - registers the families
from metabench import InvalidTaskError
from metabench.envs.bandit import BanditTask
from metabench.envs.grid_navi import GridGoalTask
from metabench.envs.navigation import GoalTask
from metabench.envs.navigation_sparse import SemicircleGoalTask
from metabench.envs.tabular_mdp import TabularMDPTask


def ks_statistic(samples: np.ndarray, cdf) -> float:
    """Kolmogorov-Smirnov distance between the empirical law of ``samples`` and ``cdf``."""
    x = np.sort(samples)
    n = len(x)
    f = cdf(x)
    return float(max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n)))


def ks_bound(n: int) -> float:
    """The KS distance exceeded with probability < 0.001 under the null (1.95 / sqrt(n))."""
    return 1.95 / math.sqrt(n)


def uniform_cdf(low: float, high: float):
    return lambda x: np.clip((x - low) / (high - low), 0.0, 1.0)


def make(env_id: str, task=None, seed: int = 0):
    env = gym.make(env_id)
    if task is not None:
        env.unwrapped.set_task(task)
    env.reset(seed=seed)
    return env


# -- Bandit -------------------------------------------------------------------------------------


def test_bandit_reward_is_one_uniform_draw_below_the_arm_probability():
    task = BanditTask((0.1, 0.35, 0.5, 0.8, 0.95))
    env = make("MetaBandit-v0", task, seed=3)
    for step in range(400):
        env.reset()
        arm = step % 5
        shadow = copy.deepcopy(env.unwrapped.np_random)
        _, reward, terminated, _, info = env.step(arm)
        assert reward == float(shadow.random() < task.probs[arm])
        assert reward == info["reward_pull"] and terminated


def test_bandit_arm_frequencies_match_the_task():
    task = BanditTask((0.0, 0.2, 0.5, 0.9, 1.0))
    env = make("MetaBandit-v0", task)
    pulls = 3000
    for arm, p in enumerate(task.probs):
        wins = 0.0
        for _ in range(pulls):
            env.reset()
            wins += env.step(arm)[1]
        assert abs(wins / pulls - p) <= 4 * math.sqrt(p * (1 - p) / pulls) + 1e-12


def test_bandit_task_law_is_uniform_per_arm():
    tasks = gym.make("MetaBandit-v0").unwrapped.sample_tasks(2000, seed=0)
    probs = np.array([t.probs for t in tasks])
    assert probs.shape == (2000, 5)
    assert ks_statistic(probs.ravel(), uniform_cdf(0, 1)) < ks_bound(probs.size)
    assert abs(probs.var() - 1 / 12) < 0.005
    assert abs(np.corrcoef(probs[:, 0], probs[:, 1])[0, 1]) < 0.1, "arms must be independent"


def test_bandit_num_arms_kwarg_and_support():
    env = gym.make("MetaBandit-v0", num_arms=10).unwrapped
    assert env.action_space.n == 10 and len(env.sample_tasks(1)[0].probs) == 10
    with pytest.raises(InvalidTaskError, match="expected 10 arm probabilities"):
        env.set_task(BanditTask((0.5,) * 5))
    with pytest.raises(InvalidTaskError, match=r"probs: expected finite numbers in \[0.0, 1.0\]"):
        BanditTask((0.5, 1.5))
    with pytest.raises(ValueError, match="num_arms"):
        gym.make("MetaBandit-v0", num_arms=1)


# -- Tabular MDP --------------------------------------------------------------------------------


def test_tabular_mdp_reward_and_transition_recomputed_from_the_generator():
    env = gym.make("MetaTabularMDP-v0")
    task = env.unwrapped.sample_tasks(1, seed=4)[0]
    means, transitions = np.array(task.mean_rewards), np.array(task.transitions)
    env.unwrapped.set_task(task)
    state, _ = env.reset(seed=5)
    assert state == 0
    rng = np.random.default_rng(6)
    for _ in range(300):
        action = int(rng.integers(5))
        shadow = copy.deepcopy(env.unwrapped.np_random)
        next_state, reward, terminated, truncated, info = env.step(action)
        noise = shadow.standard_normal()
        u = shadow.random()
        expected_state = int(np.flatnonzero(np.cumsum(transitions[state, action]) > u)[0])
        assert next_state == expected_state
        assert reward == pytest.approx(means[state, action] + noise, abs=1e-12)
        assert info["reward_mean"] + info["reward_noise"] == reward
        assert not terminated
        state = next_state
        if truncated:
            state, _ = env.reset()
            assert state == 0


def test_tabular_mdp_empirical_dynamics_match_the_task():
    env = gym.make("MetaTabularMDP-v0").unwrapped
    task = env.sample_tasks(1, seed=1)[0]
    env.set_task(task)
    env.reset(seed=0)
    counts, rewards, n = np.zeros(10), [], 4000
    for _ in range(n):
        env.reset()  # state 0; action 2 from state 0 every time
        state, reward, *_ = env.step(2)
        counts[state] += 1
        rewards.append(reward)
    p = np.array(task.transitions[0][2])
    assert np.all(np.abs(counts / n - p) <= 4 * np.sqrt(p * (1 - p) / n) + 1e-12)
    assert abs(np.mean(rewards) - task.mean_rewards[0][2]) < 4 / math.sqrt(n)
    assert abs(np.std(rewards) - 1.0) < 0.05


def test_tabular_mdp_task_law():
    tasks = gym.make("MetaTabularMDP-v0").unwrapped.sample_tasks(300, seed=2)
    means = np.array([t.mean_rewards for t in tasks])
    probs = np.array([t.transitions for t in tasks])
    assert means.shape == (300, 10, 5) and probs.shape == (300, 10, 5, 10)
    normal_cdf = np.vectorize(lambda x: 0.5 * (1 + math.erf((x - 1.0) / math.sqrt(2))))
    assert ks_statistic(means.ravel(), normal_cdf) < ks_bound(means.size)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-12)
    # Dirichlet(1, ..., 1) over 10 states: each marginal is Beta(1, 9).
    beta_cdf = lambda x: 1 - (1 - x) ** 9  # noqa: E731
    assert ks_statistic(probs[..., 0].ravel(), beta_cdf) < ks_bound(probs[..., 0].size)


def test_tabular_mdp_rejects_bad_transitions():
    env = gym.make("MetaTabularMDP-v0").unwrapped
    data = env.sample_tasks(1, seed=0)[0].to_dict()
    bad = np.array(data["transitions"])
    bad[3, 1] *= 2
    with pytest.raises(InvalidTaskError, match=r"transitions\[s\]\[a\] to sum to 1"):
        env.set_task({**data, "transitions": bad.tolist()})
    bad = np.array(data["transitions"])[:, :, :9]
    with pytest.raises(InvalidTaskError, match="shape"):
        env.set_task({**data, "transitions": bad.tolist()})
    with pytest.raises(InvalidTaskError, match="expected mean_rewards of shape"):
        env.set_task(TabularMDPTask(np.zeros((3, 5)).tolist(), np.full((3, 5, 3), 1 / 3).tolist()))


# -- Navigation ---------------------------------------------------------------------------------


def test_navigation_reward_position_and_termination():
    goal = (0.23, -0.31)
    env = make("MetaNavigation2D-v0", GoalTask(goal))
    position = np.zeros(2)
    rng = np.random.default_rng(0)
    for _ in range(100):
        action = rng.uniform(-0.3, 0.3, size=2)  # half of these get clipped
        obs, reward, terminated, _, info = env.step(action)
        position = position + np.clip(action, -0.1, 0.1)
        np.testing.assert_allclose(obs, position, rtol=1e-6)
        assert reward == pytest.approx(-math.dist(position, goal), abs=1e-12)
        assert reward == info["reward_dist"]
        if terminated:
            break
    # Walking straight at the goal ends the episode within the tolerance.
    env.reset()
    position = np.zeros(2)
    for _ in range(10):
        obs, reward, terminated, *_ = env.step(np.clip(np.array(goal) - position, -0.1, 0.1))
        position = np.asarray(obs, dtype=np.float64)
        if terminated:
            break
    assert terminated and reward > -0.01 * math.sqrt(2)


def test_navigation_rejects_bad_actions():
    env = make("MetaNavigation2D-v0")
    for bad in ([np.nan, 0.0], [0.0, np.inf], [0.1, 0.1, 0.1]):
        with pytest.raises(ValueError, match="expected 2 finite numbers"):
            env.step(np.array(bad))


def test_navigation_goal_law():
    tasks = gym.make("MetaNavigation2D-v0").unwrapped.sample_tasks(3000, seed=0)
    goals = np.array([t.goal for t in tasks])
    for axis in range(2):
        assert ks_statistic(goals[:, axis], uniform_cdf(-0.5, 0.5)) < ks_bound(len(goals))
    assert abs(np.corrcoef(goals.T)[0, 1]) < 0.1


def test_sparse_navigation_reward_inside_and_outside_the_radius():
    task = SemicircleGoalTask(math.pi / 3)
    goal = np.array([math.cos(math.pi / 3), math.sin(math.pi / 3)])
    np.testing.assert_allclose(task.goal, goal)
    env = make("MetaNavigation2DSparse-v0", task)
    position = np.zeros(2)
    seen_inside = False
    for _ in range(20):
        obs, reward, terminated, _, info = env.step(np.clip(goal - position, -0.1, 0.1))
        position = position + np.clip(goal - position, -0.1, 0.1)
        distance = float(np.linalg.norm(position - goal))
        expected = 1.0 - distance if distance <= 0.2 else 0.0
        assert reward == pytest.approx(expected, abs=1e-12)
        assert info["reward_dense"] == pytest.approx(-distance, abs=1e-12)
        assert not terminated
        seen_inside |= distance <= 0.2
    assert seen_inside and reward == pytest.approx(1.0)


def test_sparse_navigation_angle_law_and_support():
    env = gym.make("MetaNavigation2DSparse-v0").unwrapped
    angles = np.array([t.angle for t in env.sample_tasks(3000, seed=1)])
    assert ks_statistic(angles, uniform_cdf(0, math.pi)) < ks_bound(len(angles))
    for bad in (-0.1, math.pi + 0.1):
        with pytest.raises(InvalidTaskError, match="angle"):
            env.set_task({"angle": bad})


# -- GridNavi -----------------------------------------------------------------------------------


def test_grid_navi_moves_rewards_and_walls():
    env = make("MetaGridNavi-v0", GridGoalTask(2, 1))
    moves = {0: (0, 0), 1: (0, 1), 2: (1, 0), 3: (0, -1), 4: (-1, 0)}
    cell = (0, 0)
    rng = np.random.default_rng(0)
    for _ in range(15):
        action = int(rng.integers(5))
        obs, reward, terminated, truncated, info = env.step(action)
        dx, dy = moves[action]
        cell = (min(max(cell[0] + dx, 0), 4), min(max(cell[1] + dy, 0), 4))
        assert tuple(obs) == cell
        assert reward == (1.0 if cell == (2, 1) else -0.1) == info["reward_goal"]
        assert not terminated
    assert truncated


def test_grid_navi_goal_law_and_support():
    env = gym.make("MetaGridNavi-v0").unwrapped
    goals = [(t.x, t.y) for t in env.sample_tasks(21000, seed=0)]
    cells = sorted(set(goals))
    assert len(cells) == 21 and not {(0, 0), (0, 1), (1, 0), (1, 1)} & set(cells)
    counts = np.array([goals.count(c) for c in cells])
    assert np.all(np.abs(counts - 1000) < 4 * math.sqrt(1000))
    assert sorted((t.x, t.y) for t in env.test_tasks()) == cells
    for bad in ({"x": 1, "y": 1}, {"x": 5, "y": 0}, {"x": 2.5, "y": 3}):
        with pytest.raises(InvalidTaskError):
            env.set_task(bad)


# -- Every cheap family: the reward depends on the task ------------------------------------------


@pytest.mark.parametrize(
    ("env_id", "good", "bad", "policy"),
    [
        ("MetaBandit-v0", BanditTask((0.9,) * 5), BanditTask((0.1,) * 5), lambda t: 0),
        ("MetaNavigation2D-v0", GoalTask((0.3, 0.3)), GoalTask((-0.3, -0.3)), lambda t: np.array([0.1, 0.1])),
        (
            "MetaNavigation2DSparse-v0",
            SemicircleGoalTask(0.0),
            SemicircleGoalTask(math.pi),
            lambda t: np.array([0.1, 0.0]),
        ),
        ("MetaGridNavi-v0", GridGoalTask(4, 0), GridGoalTask(0, 4), lambda t: 2),
    ],
)
def test_the_same_behaviour_earns_more_under_the_task_it_suits(env_id, good, bad, policy):
    def episode_return(task) -> float:
        env = make(env_id, task, seed=1)
        total = 0.0
        for _ in range(200 if env_id == "MetaBandit-v0" else 1):
            env.reset()
            for t in range(gym.spec(env_id).max_episode_steps):
                _, reward, terminated, truncated, _ = env.step(policy(t))
                total += reward
                if terminated or truncated:
                    break
        return total

    assert episode_return(good) > episode_return(bad)
