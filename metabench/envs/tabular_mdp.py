"""Random tabular MDPs, as in RL² (Duan et al. 2016)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from metabench.core import InvalidTaskError, MetaEnv, Task, check_array
from metabench.protocol import Protocol

#: Tolerance on each transition row summing to one.
ROW_SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class TabularMDPTask(Task):
    """Mean rewards ``mean_rewards[s][a]`` and transition probabilities ``transitions[s][a][s']``."""

    mean_rewards: tuple[tuple[float, ...], ...]
    transitions: tuple[tuple[tuple[float, ...], ...], ...]

    def __post_init__(self) -> None:
        means = check_array(self, "mean_rewards", (None, None))
        probs = check_array(self, "transitions", (means.shape[0], means.shape[1], means.shape[0]), 0.0, 1.0)
        worst = np.max(np.abs(probs.sum(axis=-1) - 1.0))
        if worst > ROW_SUM_TOLERANCE:
            raise InvalidTaskError(
                "TabularMDPTask.transitions: expected every row transitions[s][a] to sum to 1, "
                f"one is off by {worst:.3g}"
            )


class TabularMDP(MetaEnv, gym.Env):
    """## Description

    A random MDP with ``num_states`` states and ``num_actions`` actions. Each step from state
    ``s`` with action ``a`` pays a noisy reward around ``mean_rewards[s][a]`` and moves to a
    next state drawn from ``transitions[s][a]``. Episodes last 10 steps and always start in
    state 0; a trial is n consecutive episodes on one task (n set by the evaluation protocol).

    ## Task Distribution

    ``mean_rewards[s][a] ~ N(1, 1)`` and ``transitions[s][a] ~ Dirichlet(1, ..., 1)``,
    independently for every (s, a). Held-out split ``"test"``: 100 tasks from the same law
    (in-distribution), pinned seed.

    ## Action Space

    ``Discrete(num_actions)``.

    ## Observation Space

    ``Discrete(num_states)``: the current state.

    ## Rewards

    ``r = mean_rewards[s][a] + ε`` with ``ε ~ N(0, 1)``. Within a step the env's ``np_random``
    draws ε first, then the next state (by inverting the cumulative transition row with one
    uniform draw). ``info["reward_mean"]`` is ``mean_rewards[s][a]``, ``info["reward_noise"]``
    is ε; they add up to the reward.

    ## Starting State

    State 0.

    ## Episode End

    No termination; registered with ``max_episode_steps=10`` (truncation).

    ## Arguments

    ``num_states`` (default 10), ``num_actions`` (default 5).

    ## References

    Duan et al. 2016, "RL²", Table 2 (10 states, 5 actions, horizon 10,
    n ∈ {10, 25, 50, 75, 100}); the RL² authors' code (``florensacc/rllab-curriculum``) and
    ``tristandeleu/pytorch-maml-rl`` (``maml_rl/envs/mdp.py``).

    ## Version History

    * v0: initial release.
    """

    metadata = {"render_modes": []}
    task_type = TabularMDPTask
    test_seed = 102
    test_splits = {"test": (100, "in-distribution: 100 tasks from the training law")}
    #: RL²'s tabular setting (Duan et al. 2016, Table 2): a trial of n = 10 episodes of 10
    #: steps, scored by its total reward; each episode is a round. Other n (25, 50, 75, 100)
    #: with ``Protocol.replace(rounds=n)``.
    default_protocol = Protocol(
        rounds=10,
        episodes_per_round=1,
        scored_rounds=tuple(range(10)),
        headline="cumulative_return",
        source="RL² (Duan et al. 2016) Table 2: total reward over a trial of n = 10 episodes",
    )

    def __init__(self, num_states: int = 10, num_actions: int = 5) -> None:
        for name, value in (("num_states", num_states), ("num_actions", num_actions)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TabularMDP: expected {name} to be a positive integer, got {value!r}")
        self.num_states, self.num_actions = num_states, num_actions
        self.observation_space = spaces.Discrete(num_states)
        self.action_space = spaces.Discrete(num_actions)
        self._state = 0
        self._init_tasks()

    def default_task(self) -> TabularMDPTask:
        """Zero mean rewards and uniform transitions."""
        shape = (self.num_states, self.num_actions)
        return TabularMDPTask(
            mean_rewards=np.zeros(shape).tolist(),
            transitions=np.full(shape + (self.num_states,), 1.0 / self.num_states).tolist(),
        )

    def _sample_tasks(self, rng: np.random.Generator, n: int, split: str = "train") -> list[Task]:
        shape = (n, self.num_states, self.num_actions)
        means = rng.normal(1.0, 1.0, size=shape)
        transitions = rng.dirichlet(np.ones(self.num_states), size=shape)
        return [TabularMDPTask(m, p) for m, p in zip(means, transitions)]

    def _check_support(self, task: Task) -> None:
        shape = np.shape(task.mean_rewards)
        if shape != (self.num_states, self.num_actions):
            raise InvalidTaskError(
                f"TabularMDP.set_task: expected mean_rewards of shape "
                f"({self.num_states}, {self.num_actions}), got {shape}"
            )

    def _apply_task(self, task: Task) -> None:
        self._means = np.asarray(task.mean_rewards)
        cdf = np.cumsum(np.asarray(task.transitions), axis=-1)
        cdf[..., -1] = 1.0  # so that a uniform draw below 1 always lands on a state
        self._cdf = cdf

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._state = 0
        return 0, {"task": self._active_task}

    def step(self, action: Any):
        if not self.action_space.contains(action):
            raise ValueError(
                f"TabularMDP.step: expected an action in [0, {self.num_actions}), got {action!r}"
            )
        mean = float(self._means[self._state, action])
        noise = float(self.np_random.standard_normal())
        self._state = int(
            np.searchsorted(self._cdf[self._state, action], self.np_random.random(), side="right")
        )
        info = {"reward_mean": mean, "reward_noise": noise, "task": self._active_task}
        return self._state, mean + noise, False, False, info
