"""Bernoulli multi-armed bandits, as in RL² (Duan et al. 2016)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from metabench.core import InvalidTaskError, MetaEnv, Task, check_array
from metabench.protocol import Protocol


@dataclass(frozen=True)
class BanditTask(Task):
    """The success probability of each arm."""

    probs: tuple[float, ...]

    def __post_init__(self) -> None:
        check_array(self, "probs", (None,), 0.0, 1.0)


class Bandit(MetaEnv, gym.Env):
    """## Description

    A k-armed Bernoulli bandit. Each episode is a single pull: the agent picks an arm and
    receives reward 1 with that arm's probability, 0 otherwise. A *trial* is n consecutive
    episodes on one task; the evaluation protocol, not the env, sets n.

    ## Task Distribution

    A task is the vector of arm probabilities ``probs``; each ``p_i ~ U(0, 1)``, independently.
    Support: any ``k`` numbers in ``[0, 1]``. Held-out split ``"test"``: 100 tasks from the same
    law (in-distribution), pinned seed.

    ## Action Space

    ``Discrete(k)``: the arm to pull.

    ## Observation Space

    ``Discrete(1)``: there is nothing to observe; the information is in the rewards.

    ## Rewards

    ``r = 1[u < p_a]`` with ``u ~ U(0, 1)`` drawn from the env's ``np_random``.
    ``info["reward_pull"]`` repeats it; ``info["task"]`` is the task.

    ## Starting State

    The single state 0.

    ## Episode End

    Every pull terminates the episode (``terminated=True``); registered with
    ``max_episode_steps=1``.

    ## Arguments

    ``num_arms`` (int, default 5): k. RL² used k ∈ {5, 10, 50}.

    ## References

    Duan et al. 2016, "RL²: Fast Reinforcement Learning via Slow Reinforcement Learning",
    Table 1 (k ∈ {5, 10, 50}, n ∈ {10, 100, 500}); the RL² authors' code
    (``florensacc/rllab-curriculum``, ``sandbox/rocky/neural_learner``) and
    ``tristandeleu/pytorch-maml-rl`` (``maml_rl/envs/bandit.py``).

    ## Version History

    * v0: initial release.
    """

    metadata = {"render_modes": []}
    task_type = BanditTask
    test_seed = 101
    test_splits = {"test": (100, "in-distribution: 100 tasks from the training law")}
    #: RL²'s bandit setting (Duan et al. 2016, Table 1): a trial of n = 10 pulls, one pull per
    #: episode, scored by its total reward. Each pull is a round, so the adaptation curve is the
    #: mean reward of each pull. Other n (100, 500) with ``Protocol.replace(rounds=n)``.
    default_protocol = Protocol(
        rounds=10,
        episodes_per_round=1,
        scored_rounds=tuple(range(10)),
        headline="cumulative_return",
        source="RL² (Duan et al. 2016) Table 1: total reward over a trial of n = 10 pulls",
    )

    def __init__(self, num_arms: int = 5) -> None:
        if isinstance(num_arms, bool) or not isinstance(num_arms, int) or num_arms < 2:
            raise ValueError(f"Bandit: expected num_arms to be an integer >= 2, got {num_arms!r}")
        self.num_arms = num_arms
        self.action_space = spaces.Discrete(num_arms)
        self.observation_space = spaces.Discrete(1)
        self._probs = np.zeros(num_arms)
        self._init_tasks()

    def default_task(self) -> BanditTask:
        """Arm probabilities evenly spread over (0, 1)."""
        return BanditTask(tuple((np.arange(self.num_arms) + 0.5) / self.num_arms))

    def _sample_tasks(self, rng: np.random.Generator, n: int, split: str = "train") -> list[Task]:
        return [BanditTask(tuple(p)) for p in rng.uniform(0.0, 1.0, size=(n, self.num_arms))]

    def _check_support(self, task: Task) -> None:
        if len(task.probs) != self.num_arms:
            raise InvalidTaskError(
                f"Bandit.set_task: expected {self.num_arms} arm probabilities, got {len(task.probs)}"
            )

    def _apply_task(self, task: Task) -> None:
        self._probs = np.asarray(task.probs)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        return 0, {"task": self._active_task}

    def step(self, action: Any):
        if not self.action_space.contains(action):
            raise ValueError(f"Bandit.step: expected an arm in [0, {self.num_arms}), got {action!r}")
        reward = float(self.np_random.random() < self._probs[action])
        return 0, reward, True, False, {"reward_pull": reward, "task": self._active_task}
