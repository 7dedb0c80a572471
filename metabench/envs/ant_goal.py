"""Ant walking to a goal position on the plane (ant-goal of ProMP, PEARL and VariBAD)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import utils

from metabench.core import Task, check_array
from metabench.envs.locomotion import TWO_PI, TaskRewardAnt


@dataclass(frozen=True)
class GoalPositionTask(Task):
    """A goal position ``(x, y)`` on the ground plane, in metres (any finite point)."""

    goal: tuple[float, float]

    def __post_init__(self) -> None:
        check_array(self, "goal", (2,))


class AntGoal(TaskRewardAnt):
    """## Description

    gymnasium's Ant (v5 model, dynamics and reset), rewarded for being close to a goal position
    it is not shown. This is the ant-goal family of ProMP (Rothfuss et al. 2019), PEARL
    (Rakelly et al. 2019) and VariBAD (Zintgraf et al. 2020). The agent must see where it is,
    so the observation keeps the torso's x and y.

    ## Task Distribution

    A task is a goal ``g = (g_x, g_y)`` (``GoalPositionTask(goal)``), uniform in the disc of
    radius ``goal_radius = 3`` around the start: angle ``2π·U``, radius ``3·√U``. Support: any
    finite point. Held-out split ``"test"``: 30 goals from the same law (in-distribution;
    PEARL evaluates on 30), pinned seed.

    ## Action Space

    ``Box(-1, 1, (8,), float32)``: torques on the eight hip and ankle joints.

    ## Observation Space

    ``Box(-inf, inf, (107,), float64)``: gymnasium's v5 Ant observation with
    ``exclude_current_positions_from_observation=False``: ``qpos`` (15: torso x, y, z and
    orientation, eight joint angles), ``qvel`` (14), then the external contact forces
    ``cfrc_ext`` of the 13 bodies other than the world, clipped to ``[-1, 1]`` (78). The goal is
    not observed.

    ## Rewards

    ``r = reward_dist + reward_ctrl + reward_contact + reward_survive`` with

    * ``reward_dist = -reward_dist_weight * ‖p - g‖₁``, ``p`` the torso's ``(x, y)`` after the
      step (``data.xpos`` of the torso, as gymnasium's Ant measures its motion); the key is
      gymnasium's Reacher name for a distance term;
    * ``reward_ctrl = -0.1 * ‖a‖²`` (gymnasium's Ant default is 0.5);
    * ``reward_contact = -5e-4 * ‖clip(cfrc_ext, -1, 1)‖²``;
    * ``reward_survive = healthy_reward = 0`` (no survive bonus, as in the sources).

    ``info`` holds the four terms, gymnasium's position and velocity entries, and ``task``.

    ## Starting State

    gymnasium's: ``qpos = init_qpos + U(-0.1, 0.1)``, ``qvel = init_qvel + 0.1·N(0, 1)``.

    ## Episode End

    Never terminates (``terminate_when_unhealthy=False``, as in the sources, whose ``done`` is
    always False); registered with ``max_episode_steps=200``.

    ## Arguments

    * ``goal_radius`` (default 3.0): the radius of the training disc.
    * ``reward_dist_weight`` (1.0), ``ctrl_cost_weight`` (0.1), ``contact_cost_weight``
      (5e-4), ``healthy_reward`` (0.0), ``terminate_when_unhealthy`` (False),
      ``exclude_current_positions_from_observation`` (False): gymnasium's names.
    * Any other keyword goes to gymnasium's ``AntEnv``.

    ## References

    * Rothfuss et al. 2019, "ProMP: Proximal Meta-Policy Search";
      ``jonasrothfuss/ProMP`` ``meta_policy_search/envs/mujoco_envs/ant_rand_goal.py``.
    * Rakelly et al. 2019, "Efficient Off-Policy Meta-Reinforcement Learning via Probabilistic
      Context Variables"; ``katerakelly/oyster`` ``rlkit/envs/ant_goal.py`` (the disc law,
      ``-‖p - g‖₁``, ctrl 0.1, contact 5e-4, no survive bonus, no termination) and
      ``configs/ant-goal.json`` (180 tasks: the first 150 train, the last 30 evaluate).
    * Zintgraf et al. 2020, "VariBAD"; ``lmzintgraf/varibad``
      ``environments/mujoco/ant_goal.py`` (the same definition).

    Deliberate differences: the observation is gymnasium's v5 with positions (107 numbers);
    PEARL and VariBAD also include the world body's contact force, always zero (113). Goals
    come from the caller's seed and the held-out ones from a pinned stream, where PEARL splits
    one list drawn from the global ``np.random``. pytorch-maml-rl's ant position task (goal
    ``U[-3, 3]²``) is a different law. dt is 0.05 s as in the sources.

    ## Version History

    * v0: initial release.
    """

    task_type = GoalPositionTask
    test_seed = 305
    test_splits = {"test": (30, "in-distribution: 30 goals uniform in the disc of radius 3")}
    task_reward_key = "reward_dist"

    def __init__(
        self,
        goal_radius: float = 3.0,
        reward_dist_weight: float = 1.0,
        ctrl_cost_weight: float = 0.1,
        contact_cost_weight: float = 5e-4,
        healthy_reward: float = 0.0,
        terminate_when_unhealthy: bool = False,
        exclude_current_positions_from_observation: bool = False,
        **kwargs: Any,
    ) -> None:
        if not (isinstance(goal_radius, (int, float)) and 0 < goal_radius < math.inf):
            raise ValueError(
                f"{type(self).__name__}: expected a positive finite goal_radius, got {goal_radius!r}"
            )
        knobs = {
            "ctrl_cost_weight": ctrl_cost_weight,
            "contact_cost_weight": contact_cost_weight,
            "healthy_reward": healthy_reward,
            "terminate_when_unhealthy": terminate_when_unhealthy,
            "exclude_current_positions_from_observation": exclude_current_positions_from_observation,
        }
        TaskRewardAnt.__init__(self, **knobs, **kwargs)
        utils.EzPickle.__init__(
            self,
            goal_radius=goal_radius,
            reward_dist_weight=reward_dist_weight,
            **knobs,
            **kwargs,
        )
        self._goal_radius = float(goal_radius)
        self._reward_dist_weight = reward_dist_weight
        self._goal = (0.0, 0.0)
        self._init_tasks()

    def default_task(self) -> Task:
        """The goal ``(1.5, 0)``: straight ahead, at half the training radius."""
        return GoalPositionTask((self._goal_radius / 2, 0.0))

    def _sample_tasks(self, rng: np.random.Generator, n: int, split: str = "train") -> list[Task]:
        angle = TWO_PI * rng.random(n)
        radius = self._goal_radius * np.sqrt(rng.random(n))
        goals = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
        return [GoalPositionTask(tuple(g)) for g in goals.tolist()]

    def _apply_task(self, task: Task) -> None:
        self._goal = task.goal

    def _task_reward(self, x: float, y: float, x_velocity: float, y_velocity: float) -> float:
        gx, gy = self._goal
        return -self._reward_dist_weight * (abs(x - gx) + abs(y - gy))
