"""A stand-in MuJoCo family for the harness benchmark while ``MetaHalfCheetahVel-v0`` is not
registered: gymnasium's HalfCheetah-v5, wrapped minimally into a MetaEnv (a target-velocity
task that nothing reads; the dynamics and the step cost are HalfCheetah-v5's own).

Made as ``gym.make("bench_envs:MetaCheetahStandIn-v0")`` (gymnasium imports this module first),
so that worker processes find it too.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv

from metabench.core import MetaEnv, Task, check_scalar


@dataclass(frozen=True)
class VelocityTask(Task):
    velocity: float

    def __post_init__(self) -> None:
        check_scalar(self, "velocity", 0.0, 3.0)


class CheetahStandIn(MetaEnv, HalfCheetahEnv):
    task_type = VelocityTask
    test_seed = 999
    test_splits = {"test": (30, "PEARL's 30 eval tasks, U(0, 3)")}

    def __init__(self, **kwargs) -> None:
        HalfCheetahEnv.__init__(self, **kwargs)
        self._init_tasks()

    def default_task(self) -> Task:
        return VelocityTask(1.0)

    def _sample_tasks(self, rng: np.random.Generator, n: int, split: str = "train") -> list[Task]:
        return [VelocityTask(float(v)) for v in rng.uniform(0.0, 3.0, n)]


if "MetaCheetahStandIn-v0" not in gym.registry:
    gym.register("MetaCheetahStandIn-v0", entry_point=CheetahStandIn, max_episode_steps=200)
