"""The task-aware sampler on Ray: the same episodes as :class:`TaskBatchSampler`, with the envs
spread over Ray actors (the harness's ``ray`` backend, for sampling that outgrows a machine).

The policy stays in the driver: every step, it acts on the whole batch with one forward pass
and each actor steps its share of the envs, so the acting function (MAML's per-task
parameters, RL²'s hidden states) needs no change and nothing about the policy is shipped. The
price is one round trip to every actor per step, which pays off when the envs are costly
(MuJoCo, many tasks) and not for the cheap families.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import gymnasium as gym
import numpy as np

from metabench.baselines.common.sampler import TaskBatchSampler
from metabench.core import Task


class _EnvShard:
    """A Ray actor's envs: a plain local sampler's pool, driven index by index."""

    def __init__(self, env_id: str, size: int, env_kwargs: dict, wrapper, vector_env: bool) -> None:
        import metabench  # noqa: F401 - registers the families in the worker process

        self.sampler = TaskBatchSampler(env_id, size, env_kwargs, wrapper, vector_env=vector_env)

    def set_tasks(self, tasks: Sequence[Task]) -> None:
        self.sampler._set_tasks(tasks)

    def reset(self, indices: Sequence[int], seeds: Sequence[int | None] | None) -> list:
        return self.sampler._reset(indices, seeds)

    def step(self, indices: Sequence[int], actions: np.ndarray) -> list[tuple]:
        full = np.zeros((self.sampler.size, *actions.shape[1:]), dtype=actions.dtype)
        full[list(indices)] = actions
        return [tuple(step) for step in self.sampler._step(np.asarray(indices, dtype=np.int64), full)]


class RayTaskBatchSampler(TaskBatchSampler):
    """:class:`TaskBatchSampler` with its ``size`` envs split over ``num_workers`` Ray actors.

    Given the same tasks, acting function and seeds it returns the same episodes as the local
    sampler, bit for bit. It joins the running Ray instance, or starts a local one (with
    ``num_workers`` CPUs) that :meth:`close` shuts down.

    Args:
        num_workers: Ray actors (each one CPU); env ``i`` lives on actor ``i * num_workers //
            size``.
        ray_address: a Ray cluster to join (default: a local instance).
        vector_env: how each actor steps its envs (see :class:`TaskBatchSampler`).
    """

    def __init__(
        self,
        env_id: str,
        size: int,
        env_kwargs: dict | None = None,
        wrapper: Callable[[gym.Env], gym.Env] | None = None,
        num_workers: int = 2,
        ray_address: str | None = None,
        vector_env: bool = False,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise ImportError("the Ray sampler needs Ray: pip install 'metabench[ray]'") from None
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or not 1 <= num_workers <= size:
            raise ValueError(f"num_workers: expected an integer in [1, {size}], got {num_workers!r}")
        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            ray.init(
                address=ray_address,
                num_cpus=num_workers if ray_address is None else None,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        probe = gym.make(env_id, **(env_kwargs or {}))
        probe = wrapper(probe) if wrapper is not None else probe
        self.observation_space, self.action_space = probe.observation_space, probe.action_space
        self.discrete = isinstance(self.action_space, gym.spaces.Discrete)
        probe.close()
        self.size, self.vector, self.envs = size, None, []
        self.shard_of = np.arange(size) * num_workers // size
        self.local_index = np.arange(size) - np.searchsorted(self.shard_of, self.shard_of)
        shard = ray.remote(num_cpus=1)(_EnvShard)
        counts = np.bincount(self.shard_of, minlength=num_workers)
        self.shards = [
            shard.remote(env_id, int(count), dict(env_kwargs or {}), wrapper, vector_env) for count in counts
        ]

    def _by_shard(self, indices: Sequence[int]) -> list[np.ndarray]:
        indices = np.asarray(indices, dtype=np.int64)
        return [indices[self.shard_of[indices] == w] for w in range(len(self.shards))]

    def _gather(self, calls: list, groups: list[np.ndarray], indices: Sequence[int]) -> list:
        """Per-shard answers (in each group's order) back in the order of ``indices``."""
        answers = dict(zip((int(i) for g in groups for i in g), (a for r in self._ray.get(calls) for a in r)))
        return [answers[int(i)] for i in indices]

    def _set_tasks(self, tasks: Sequence[Task]) -> None:
        groups = self._by_shard(range(len(tasks)))
        self._ray.get(
            [shard.set_tasks.remote([tasks[i] for i in g]) for shard, g in zip(self.shards, groups) if len(g)]
        )

    def _reset(self, indices: Sequence[int], seeds: Sequence[int] | None = None) -> list:
        seed_of = dict(zip(indices, seeds)) if seeds is not None else {}
        groups = self._by_shard(indices)
        calls, used = [], []
        for shard, g in zip(self.shards, groups):
            if len(g):
                local_seeds = [seed_of[int(i)] for i in g] if seeds is not None else None
                calls.append(shard.reset.remote(self.local_index[g].tolist(), local_seeds))
                used.append(g)
        return self._gather(calls, used, indices)

    def _step(self, indices: np.ndarray, actions: np.ndarray) -> Iterable[tuple]:
        groups = self._by_shard(indices)
        calls, used = [], []
        for shard, g in zip(self.shards, groups):
            if len(g):
                calls.append(shard.step.remote(self.local_index[g].tolist(), actions[g]))
                used.append(g)
        return self._gather(calls, used, indices)

    def close(self) -> None:
        for shard in self.shards:
            self._ray.kill(shard)
        self.shards = []
        if self._started:
            self._ray.shutdown()


def make_sampler(
    env_id: str,
    size: int,
    env_kwargs: dict | None = None,
    wrapper: Callable[[gym.Env], gym.Env] | None = None,
    ray_workers: int = 0,
) -> TaskBatchSampler:
    """The local sampler, or the Ray one when ``ray_workers`` > 0 (the baselines' config
    field of that name)."""
    if ray_workers:
        return RayTaskBatchSampler(env_id, size, env_kwargs, wrapper, num_workers=ray_workers)
    return TaskBatchSampler(env_id, size, env_kwargs, wrapper)
