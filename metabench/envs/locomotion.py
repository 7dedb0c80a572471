"""What the MuJoCo reward-varied families share: two direction task types, and one base per
body whose ``step`` is gymnasium's v5 step with the task-dependent term left to the family.

Each base subclasses gymnasium's own v5 env (``HalfCheetahEnv``, ``AntEnv``, ``HumanoidEnv``),
so the model, the action space, the observation, the reset noise, the control, contact and
healthy terms and the termination rule are gymnasium's. A family only supplies its task type,
its sampler and the one reward term the task changes (``_task_reward``).

``step`` is rewritten rather than inherited because gymnasium's passes only the x velocity to
its reward. The rewrite also evaluates each term once (gymnasium's Ant step evaluates
``is_healthy`` twice and looks the torso up by name twice), so the task costs nothing per step
(see ``benchmarks/test_bench_mujoco_reward.py``). The ``info`` keys are gymnasium's, plus
``"task"``; the reward is the sum of the ``"reward_*"`` entries, in the order they are listed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium.envs.mujoco.ant_v5 import AntEnv
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv
from gymnasium.envs.mujoco.humanoid_v5 import HumanoidEnv

from metabench.core import InvalidTaskError, Task, check_scalar
from metabench.envs.mujoco_meta import MujocoMetaEnv

__all__ = [
    "DirectionTask",
    "DirectionTasks",
    "HeadingTask",
    "HeadingTasks",
    "TaskRewardAnt",
    "TaskRewardHalfCheetah",
    "TaskRewardHumanoid",
]

TWO_PI = 2.0 * math.pi


@dataclass(frozen=True)
class DirectionTask(Task):
    """Run forward (``direction=1.0``) or backward (``direction=-1.0``) along the x axis."""

    direction: float

    def __post_init__(self) -> None:
        value = check_scalar(self, "direction", -1.0, 1.0)
        if value not in (-1.0, 1.0):
            raise InvalidTaskError(f"DirectionTask.direction: expected -1.0 or 1.0, got {value!r}")


@dataclass(frozen=True)
class HeadingTask(Task):
    """Run along the unit vector ``(cos angle, sin angle)`` of the ground plane.

    ``angle`` is in radians, counter-clockwise from +x, in ``[0, 2π]``: one number per
    direction (``0`` and ``2π`` both mean +x).
    """

    angle: float

    def __post_init__(self) -> None:
        check_scalar(self, "angle", 0.0, TWO_PI)


class DirectionTasks:
    """Task machinery of the ±x families (mixed in before the body's base): ``DirectionTask``,
    ±1 with equal probability, default +1. Both directions form the held-out set: a family of
    two tasks can hold none out. The family's reward reads ``self._direction``."""

    task_type = DirectionTask
    test_splits = {"test": (2, "the whole support: directions +1 and -1 (no task can be held out)")}
    _direction = 1.0

    def default_task(self) -> Task:
        """Forward, ``+1``."""
        return DirectionTask(1.0)

    def _sample_tasks(self, rng: np.random.Generator, n: int, split: str = "train") -> list[Task]:
        if split == "test":
            return [DirectionTask(1.0), DirectionTask(-1.0)]
        return [DirectionTask(d) for d in rng.choice((-1.0, 1.0), size=n).tolist()]

    def _apply_task(self, task: Task) -> None:
        self._direction = task.direction


class HeadingTasks:
    """Task machinery of the planar-heading families (mixed in before the body's base):
    ``HeadingTask``, ``θ ~ U(0, 2π)``, default ``θ = 0``; 30 held-out headings from the same
    law. ``self._heading`` holds ``w·(cos θ, sin θ)``, ``w`` the family's
    ``forward_reward_weight``, for the family's reward to dot with the velocity."""

    task_type = HeadingTask
    test_splits = {"test": (30, "in-distribution: 30 headings from U(0, 2π)")}
    _forward_reward_weight: float
    _heading = (1.0, 0.0)

    def default_task(self) -> Task:
        """Along +x, ``θ = 0``."""
        return HeadingTask(0.0)

    def _sample_tasks(self, rng: np.random.Generator, n: int, split: str = "train") -> list[Task]:
        return [HeadingTask(a) for a in rng.uniform(0.0, TWO_PI, n).tolist()]

    def _apply_task(self, task: Task) -> None:
        # Scaled by the weight once here, not on every step.
        weight = self._forward_reward_weight
        self._heading = (weight * math.cos(task.angle), weight * math.sin(task.angle))


class TaskRewardHalfCheetah(MujocoMetaEnv, HalfCheetahEnv):
    """gymnasium's HalfCheetah v5 whose forward term ``_task_reward(x_velocity)`` is the task's.

    ``x_velocity`` is gymnasium's: the change of the root slide joint ``qpos[0]`` over the step,
    divided by ``dt``. Reward = ``reward_forward + reward_ctrl``.
    """

    def _task_reward(self, x_velocity: float) -> float:
        raise NotImplementedError

    def step(self, action: Any):
        qpos = self.data.qpos
        x_before = float(qpos[0])
        self.do_simulation(action, self.frame_skip)
        x_after = float(qpos[0])
        x_velocity = (x_after - x_before) / self.dt
        reward_forward = self._task_reward(x_velocity)
        ctrl = self.data.ctrl  # the action as applied, in float64
        reward_ctrl = -self._ctrl_cost_weight * float(ctrl @ ctrl)
        reward = reward_forward + reward_ctrl
        info = {
            "x_position": x_after,
            "x_velocity": x_velocity,
            "reward_forward": reward_forward,
            "reward_ctrl": reward_ctrl,
            "task": self._active_task,
        }
        if self.render_mode == "human":
            self.render()
        return self._get_obs(), reward, False, False, info


class TaskRewardAnt(MujocoMetaEnv, AntEnv):
    """gymnasium's Ant v5 whose first reward term ``_task_reward(x, y, vx, vy)`` is the task's.

    ``(x, y)`` is the main body's (the torso's) position after the step and ``(vx, vy)`` its
    velocity over the step, as gymnasium's Ant measures them (``data.xpos`` of ``main_body``).
    Reward = task term + ``reward_ctrl + reward_contact + reward_survive``, with gymnasium's
    control, contact and healthy terms; the task term goes into ``info[task_reward_key]``.
    """

    #: The ``info`` key of the task's term.
    task_reward_key = "reward_forward"

    def _task_reward(self, x: float, y: float, x_velocity: float, y_velocity: float) -> float:
        raise NotImplementedError

    def __init__(self, **kwargs: Any) -> None:
        AntEnv.__init__(self, **kwargs)
        self._main_body_id = self.model.body(self._main_body).id

    def step(self, action: Any):
        data = self.data
        torso = data.xpos[self._main_body_id]
        x_before, y_before = float(torso[0]), float(torso[1])
        self.do_simulation(action, self.frame_skip)
        x_after, y_after = float(torso[0]), float(torso[1])
        dt = self.dt
        x_velocity = (x_after - x_before) / dt
        y_velocity = (y_after - y_before) / dt
        reward_task = self._task_reward(x_after, y_after, x_velocity, y_velocity)
        ctrl = data.ctrl
        reward_ctrl = -self._ctrl_cost_weight * float(ctrl @ ctrl)
        reward_contact = -float(self.contact_cost)
        healthy = bool(self.is_healthy)
        reward_survive = self._healthy_reward if healthy else 0.0
        reward = reward_task + reward_ctrl + reward_contact + reward_survive
        terminated = self._terminate_when_unhealthy and not healthy
        qpos = data.qpos
        x, y = float(qpos[0]), float(qpos[1])
        info = {
            "x_position": x,
            "y_position": y,
            "distance_from_origin": math.hypot(x, y),
            "x_velocity": x_velocity,
            "y_velocity": y_velocity,
            self.task_reward_key: reward_task,
            "reward_ctrl": reward_ctrl,
            "reward_contact": reward_contact,
            "reward_survive": reward_survive,
            "task": self._active_task,
        }
        if self.render_mode == "human":
            self.render()
        return self._get_obs(), reward, terminated, False, info


class TaskRewardHumanoid(MujocoMetaEnv, HumanoidEnv):
    """gymnasium's Humanoid v5 whose forward term ``_task_reward(vx, vy)`` is the task's.

    ``(vx, vy)`` is the velocity of the centre of mass over the step (the body-mass-weighted
    mean of ``data.xipos``), as gymnasium's Humanoid measures it. Reward = ``reward_forward +
    reward_ctrl + reward_contact + reward_survive``, with gymnasium's control, capped contact and
    healthy terms.
    """

    def _task_reward(self, x_velocity: float, y_velocity: float) -> float:
        raise NotImplementedError

    def _mass_center_xy(self) -> np.ndarray:
        mass = self.model.body_mass
        return (mass @ self.data.xipos[:, :2]) / mass.sum()

    def step(self, action: Any):
        data = self.data
        xy_before = self._mass_center_xy()
        self.do_simulation(action, self.frame_skip)
        xy_after = self._mass_center_xy()
        dt = self.dt
        x_velocity = float(xy_after[0] - xy_before[0]) / dt
        y_velocity = float(xy_after[1] - xy_before[1]) / dt
        reward_forward = self._task_reward(x_velocity, y_velocity)
        ctrl = data.ctrl
        reward_ctrl = -self._ctrl_cost_weight * float(ctrl @ ctrl)
        reward_contact = -float(self.contact_cost)
        healthy = bool(self.is_healthy)
        reward_survive = self._healthy_reward if healthy else 0.0
        reward = reward_forward + reward_ctrl + reward_contact + reward_survive
        terminated = self._terminate_when_unhealthy and not healthy
        qpos = data.qpos
        x, y = float(qpos[0]), float(qpos[1])
        info = {
            "x_position": x,
            "y_position": y,
            "tendon_length": data.ten_length.copy(),
            "tendon_velocity": data.ten_velocity.copy(),
            "distance_from_origin": math.hypot(x, y),
            "x_velocity": x_velocity,
            "y_velocity": y_velocity,
            "reward_forward": reward_forward,
            "reward_ctrl": reward_ctrl,
            "reward_contact": reward_contact,
            "reward_survive": reward_survive,
            "task": self._active_task,
        }
        if self.render_mode == "human":
            self.render()
        return self._get_obs(), reward, terminated, False, info
