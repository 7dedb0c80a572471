"""The oracle and trial-history wrappers."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import metabench
from metabench.envs.bandit import BanditTask
from metabench.envs.navigation import GoalTask


def test_task_in_observation_appends_the_active_task():
    env = metabench.TaskInObservation(gym.make("MetaNavigation2D-v0"))
    first, second = GoalTask((0.1, -0.2)), GoalTask((0.4, 0.3))
    env.unwrapped.set_task(first)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.shape == (4,) and env.observation_space.contains(obs)
    np.testing.assert_allclose(obs, [0.0, 0.0, 0.1, -0.2], rtol=1e-6)
    env.unwrapped.set_task(second)  # pending until reset: the observation keeps the old task
    obs, *_ = env.step(np.array([0.05, 0.0]))
    np.testing.assert_allclose(obs, [0.05, 0.0, 0.1, -0.2], rtol=1e-6)
    obs, _ = env.reset()
    np.testing.assert_allclose(obs, [0.0, 0.0, 0.4, 0.3], rtol=1e-6)


def test_task_in_observation_one_hot_encodes_discrete_observations():
    env = metabench.TaskInObservation(gym.make("MetaTabularMDP-v0"))
    obs, _ = env.reset(seed=0)
    assert obs.shape == (10 + 50 + 500,) and obs[0] == 1.0 and obs[1:10].sum() == 0.0


def test_trial_history_carries_action_reward_and_flag_across_episodes():
    env = metabench.TrialHistory(gym.make("MetaBandit-v0"))
    env.unwrapped.set_task(BanditTask((0.0, 0.0, 1.0, 0.0, 0.0)))
    obs, _ = env.reset(seed=0)
    # Discrete(1) observation one-hot, 5 action slots, reward, flag; a new trial starts at zero.
    np.testing.assert_array_equal(obs, [1, 0, 0, 0, 0, 0, 0, 0])
    obs, reward, terminated, *_ = env.step(2)
    assert reward == 1.0 and terminated
    np.testing.assert_array_equal(obs, [1, 0, 0, 1, 0, 0, 1, 1])
    obs, _ = env.reset()  # same task: the trial goes on
    np.testing.assert_array_equal(obs, [1, 0, 0, 1, 0, 0, 1, 1])
    env.step(4)
    obs, _ = env.reset(options={"new_trial": True})
    np.testing.assert_array_equal(obs, [1, 0, 0, 0, 0, 0, 0, 0])
    env.step(1)
    env.unwrapped.set_task(BanditTask((1.0,) * 5))  # a new task starts a new trial
    obs, _ = env.reset()
    np.testing.assert_array_equal(obs, [1, 0, 0, 0, 0, 0, 0, 0])


def test_trial_history_within_an_episode_on_continuous_actions():
    env = metabench.TrialHistory(gym.make("MetaNavigation2D-v0"))
    env.reset(seed=0)
    assert env.observation_space.shape == (2 + 2 + 2,)
    obs, reward, terminated, truncated, _ = env.step(np.array([0.1, -0.05]))
    np.testing.assert_allclose(obs, [0.1, -0.05, 0.1, -0.05, reward, 0.0], rtol=1e-6)
    assert env.observation_space.contains(obs)
