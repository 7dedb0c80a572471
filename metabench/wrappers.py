"""Observation wrappers used by baselines: oracle task input and RL²-style trial history.

Both read the active task from ``info["task"]``, which every family returns from ``reset``
and ``step``, so they work on any family and see the task that is really in force.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


def _float_box(*parts: spaces.Box) -> spaces.Box:
    low = np.concatenate([np.asarray(p.low, dtype=np.float64).ravel() for p in parts])
    high = np.concatenate([np.asarray(p.high, dtype=np.float64).ravel() for p in parts])
    return spaces.Box(low.astype(np.float32), high.astype(np.float32), dtype=np.float32)


def _unbounded(n: int) -> spaces.Box:
    return spaces.Box(-np.inf, np.inf, (n,), np.float64)


class TaskInObservation(gym.Wrapper):
    """Append the active task's numeric vector (``Task.to_vector()``) to the observation.

    For oracle and multi-task references only: it hands the agent what a meta-learner must
    infer. The observation becomes a flat float32 ``Box`` (discrete observations one-hot).
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        task_size = env.unwrapped.get_task().to_vector().size
        self.observation_space = _float_box(
            spaces.flatten_space(env.observation_space), _unbounded(task_size)
        )

    def _augment(self, obs: Any, info: dict[str, Any]) -> np.ndarray:
        flat = spaces.flatten(self.env.observation_space, obs)
        return np.concatenate([flat, info["task"].to_vector()]).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        return self._augment(obs, info), info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._augment(obs, info), reward, terminated, truncated, info


class TrialHistory(gym.Wrapper):
    """Append the previous action, reward and an episode-boundary flag to the observation.

    This is RL²'s input (Duan et al. 2016): a recurrent agent sees ``(o_t, a_{t-1}, r_{t-1},
    d_{t-1})`` across the consecutive episodes of a *trial* on one task. Within a trial, the
    first observation after ``reset`` carries the last action and reward of the episode before
    it with the flag set to 1. A trial starts afresh (zeros) on the first reset, when the task
    differs from the trial's, or on ``reset(options={"new_trial": True})``.

    The observation is a flat float32 ``Box``: flattened observation, flattened action
    (one-hot when discrete), reward, flag.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._action_size = spaces.flatdim(env.action_space)
        self.observation_space = _float_box(
            spaces.flatten_space(env.observation_space),
            spaces.flatten_space(env.action_space),
            _unbounded(2),
        )
        self._trial_task: Any = None
        self._last: np.ndarray | None = None  # (action..., reward) of the trial's last step

    def _augment(self, obs: Any, history: np.ndarray, flag: float) -> np.ndarray:
        flat = spaces.flatten(self.env.observation_space, obs)
        return np.concatenate([flat, history, [flag]]).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        options = dict(options or {})
        new_trial = bool(options.pop("new_trial", False))
        obs, info = self.env.reset(seed=seed, options=options or None)
        if new_trial or self._last is None or info["task"] != self._trial_task:
            self._trial_task, self._last = info["task"], None
            return self._augment(obs, np.zeros(self._action_size + 1), 0.0), info
        return self._augment(obs, self._last, 1.0), info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        flat_action = spaces.flatten(self.env.action_space, action)
        self._last = np.concatenate([flat_action, [reward]])
        return (
            self._augment(obs, self._last, float(terminated or truncated)),
            reward,
            terminated,
            truncated,
            info,
        )
