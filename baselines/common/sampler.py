"""Task-aware episode sampling: a batch of episodes, each on its own task, in lockstep.

Every sub-env has its own task; the acting function sees the whole batch of observations at
once, so a policy runs one forward pass per step for the batch. Episodes are returned as
padded ``(T, N, ...)`` tensors with a validity mask, the layout the baselines' losses use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from metabench.core import Task
from metabench.vector import MetaVectorEnv


@dataclass
class Episodes:
    """``N`` episodes padded to the longest, ``T`` steps.

    Attributes:
        obs: ``(T, N, obs_dim)`` float32, flattened observations (one-hot if discrete).
        actions: ``(T, N, act_dim)`` float32, or ``(T, N)`` int64 for discrete actions.
        rewards: ``(T, N)`` float32, zero past the column's end.
        mask: ``(T, N)`` float32, 1 on real steps.
        episode_ends: ``(T, N)`` float32, 1 where an episode ended with that step (a column
            may hold several consecutive episodes: a trial).
    """

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    mask: torch.Tensor
    episode_ends: torch.Tensor

    @property
    def returns(self) -> torch.Tensor:
        """Each episode's undiscounted return, ``(N,)``."""
        return self.rewards.sum(0)

    @property
    def num_steps(self) -> int:
        """Real environment steps in the batch."""
        return int(self.mask.sum().item())

    def select(self, columns: slice | Sequence[int]) -> Episodes:
        """The episodes in ``columns``."""
        return Episodes(*(getattr(self, f.name)[:, columns] for f in dataclasses.fields(self)))


ActFn = Callable[[torch.Tensor], torch.Tensor]


class TaskBatchSampler:
    """A fixed pool of ``size`` envs of ``env_id``, each rolled out on its own task.

    Args:
        wrapper: applied to every env (e.g. :class:`metabench.TrialHistory` for RL²).
        vector_env: step the pool as one :class:`metabench.vector.MetaVectorEnv` (sub-envs on
            threads, both cores for MuJoCo families); ``False`` steps plain envs one by one.
            The episodes are the same, bit for bit.
        num_procs: processes the vector env spreads the pool over (1: threads in this process;
            see :class:`metabench.vector.MetaVectorEnv`).
    """

    def __init__(
        self,
        env_id: str,
        size: int,
        env_kwargs: dict | None = None,
        wrapper: Callable[[gym.Env], gym.Env] | None = None,
        vector_env: bool = True,
        num_procs: int = 1,
    ) -> None:
        self.size = size
        self.vector: MetaVectorEnv | None = None
        if vector_env:
            wrappers = (wrapper,) if wrapper is not None else ()
            self.vector = MetaVectorEnv(
                env_id,
                size,
                autoreset_mode=AutoresetMode.DISABLED,
                wrappers=wrappers,
                infos=False,
                num_procs=num_procs,
                **(env_kwargs or {}),
            )
            self.envs = self.vector.envs
        else:
            self.envs = [gym.make(env_id, **(env_kwargs or {})) for _ in range(size)]
            if wrapper is not None:
                self.envs = [wrapper(env) for env in self.envs]
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space
        self.discrete = isinstance(self.action_space, gym.spaces.Discrete)

    def sample(
        self, tasks: Sequence[Task], act: ActFn, seeds: Sequence[int], episodes_per_task: int = 1
    ) -> Episodes:
        """Column ``i`` runs ``episodes_per_task`` consecutive episodes of ``tasks[i]``, the
        first from ``reset(seed=seeds[i])``, the next ones continuing the env's random stream.

        Args:
            act: batch of flattened observations ``(n, obs_dim)`` float32 ↦ actions ``(n, ...)``.
                It is called under ``torch.no_grad()`` once per step for every column, finished
                ones included (their actions are ignored), so a recurrent ``act`` can keep its
                batch of hidden states aligned with the columns.
        """
        n = len(tasks)
        if not (n == len(seeds) <= self.size):
            raise ValueError(
                f"expected at most {self.size} tasks and one seed per task, got {n} and {len(seeds)}"
            )
        self._set_tasks(tasks)
        space = self.observation_space
        first = self._reset(range(n), [int(s) for s in seeds])
        obs = np.stack([gym.spaces.flatten(space, o) for o in first])
        obs = obs.astype(np.float32)
        alive = np.ones(n, dtype=bool)
        remaining = np.full(n, episodes_per_task)
        trace: list[tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray, np.ndarray]] = []
        while alive.any():
            obs_t = torch.from_numpy(obs.copy())
            with torch.no_grad():
                actions = act(obs_t)
            actions_np = actions.numpy()
            rewards = np.zeros(n, dtype=np.float32)
            mask = alive.astype(np.float32)
            ends = np.zeros(n, dtype=np.float32)
            stepped, restart = np.flatnonzero(alive), []
            for i, (next_obs, reward, terminated, truncated) in zip(stepped, self._step(stepped, actions_np)):
                rewards[i] = reward
                if terminated or truncated:
                    ends[i] = 1.0
                    remaining[i] -= 1
                    alive[i] = remaining[i] > 0
                    if alive[i]:
                        restart.append(i)
                obs[i] = gym.spaces.flatten(space, next_obs)
            for i, next_obs in zip(restart, self._reset(restart)):  # continues each env's stream
                obs[i] = gym.spaces.flatten(space, next_obs)
            trace.append((obs_t, actions, rewards, mask, ends))
        observations, actions, rewards, masks, ends = zip(*trace)
        return Episodes(
            obs=torch.stack(observations),
            actions=torch.stack(actions),
            rewards=torch.from_numpy(np.stack(rewards)),
            mask=torch.from_numpy(np.stack(masks)),
            episode_ends=torch.from_numpy(np.stack(ends)),
        )

    def _set_tasks(self, tasks: Sequence[Task]) -> None:
        """Env ``i`` takes ``tasks[i]`` (from its next reset)."""
        if self.vector is not None and self.vector.num_procs > 1:  # most envs live in workers
            current = self.vector.get_attr("task")
            self.vector.set_attr("task", [*tasks, *current[len(tasks) :]])
            return
        for env, task in zip(self.envs, tasks):
            env.unwrapped.set_task(task)

    def _step(self, indices: np.ndarray, actions: np.ndarray) -> Iterable[tuple]:
        """``(obs, reward, terminated, truncated)`` of env ``i`` stepped with ``actions[i]``,
        for ``i`` in ``indices``."""
        if self.vector is None:
            return [self.envs[i].step(actions[i])[:4] for i in indices]
        obs, rewards, terminated, truncated, _ = self.vector.step_some(indices, [actions[i] for i in indices])
        return zip(obs, rewards, terminated, truncated)

    def _reset(self, indices: Sequence[int], seeds: Sequence[int] | None = None) -> list:
        """The first observations of envs ``indices`` reset (with ``seeds``, or continuing their
        random streams)."""
        seeds = list(seeds) if seeds is not None else [None] * len(indices)
        if self.vector is None:
            return [self.envs[i].reset(seed=s)[0] for i, s in zip(indices, seeds)]
        if not len(indices):
            return []
        mask = np.zeros(self.size, dtype=bool)
        mask[list(indices)] = True
        all_seeds: list[int | None] = [None] * self.size
        for i, s in zip(indices, seeds):
            all_seeds[i] = s
        obs, _ = self.vector.reset(seed=all_seeds, options={"reset_mask": mask})
        return [obs[i] for i in indices]

    def close(self) -> None:
        if self.vector is not None:
            self.vector.close()
            return
        for env in self.envs:
            env.close()
