"""HalfCheetah running at a target forward velocity (cheetah-vel of MAML, PEARL and VariBAD)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import utils
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv

from metabench.core import Task, check_scalar
from metabench.envs.locomotion import TaskRewardHalfCheetah


@dataclass(frozen=True)
class VelocityTask(Task):
    """A target forward velocity ``v*`` in m/s (any finite ``v* ≥ 0``)."""

    velocity: float

    def __post_init__(self) -> None:
        check_scalar(self, "velocity", 0.0)


def _split_descriptions(low: float, high: float, ood_width: float) -> dict[str, tuple[int, str]]:
    return {
        "test": (30, f"in-distribution: 30 target velocities from U({low:g}, {high:g})"),
        "test-ood": (
            30,
            f"out-of-distribution: 30 target velocities from U({high:g}, {high + ood_width:g}], "
            "faster than any training task",
        ),
    }


class HalfCheetahVel(TaskRewardHalfCheetah):
    """## Description

    gymnasium's HalfCheetah (v5 model, dynamics, observation and reset), rewarded for running
    forward at a target velocity it is not shown. This is the cheetah-vel family of MAML
    (Finn et al. 2017), PEARL (Rakelly et al. 2019) and VariBAD (Zintgraf et al. 2020).

    ## Task Distribution

    A task is a target velocity ``v*`` (``VelocityTask(velocity)``), drawn from ``U(0, 3)``
    (PEARL's and VariBAD's law). Support: any finite ``v* ≥ 0``, so tasks outside the training
    law are valid. Held-out splits, from a pinned seed:

    * ``"test"``: 30 velocities from the training law (in-distribution; PEARL evaluates on 30).
    * ``"test-ood"``: 30 velocities from ``U(3, 4]`` (out-of-distribution: extrapolation).

    With ``velocity_range=(low, high)``, training tasks and ``"test"`` come from
    ``U(low, high)`` and ``"test-ood"`` from ``U(high, high + 1]``.

    ## Action Space

    ``Box(-1, 1, (6,), float32)``: torques on the six joints (gymnasium's HalfCheetah).

    ## Observation Space

    ``Box(-inf, inf, (17,), float64)``, gymnasium's v5 layout: ``qpos[1:]`` (8: root height and
    angle, six joint angles) then ``qvel`` (9). The x position and the task are not observed.

    ## Rewards

    ``r = reward_forward + reward_ctrl`` with

    * ``reward_forward = -forward_reward_weight * |v - v*|``, where ``v`` is the change of the
      root's x position ``qpos[0]`` over the step divided by ``dt = 0.05`` (5 frames of 0.01 s);
    * ``reward_ctrl = -ctrl_cost_weight * ‖a‖²`` with ``ctrl_cost_weight = 0.05``.

    ``info`` holds both terms, ``x_position``, ``x_velocity`` and ``task``.

    ## Starting State

    gymnasium's: ``qpos = init_qpos + U(-0.1, 0.1)``, ``qvel = init_qvel + 0.1·N(0, 1)``.

    ## Episode End

    Never terminates; registered with ``max_episode_steps=200``.

    ## Arguments

    * ``velocity_range`` (default ``(0.0, 3.0)``): the training law ``U(low, high)``.
      ``(0.0, 2.0)`` with ``max_episode_steps=100`` is the MAML, pytorch-maml-rl and garage
      variant.
    * ``forward_reward_weight`` (default 1.0), ``ctrl_cost_weight`` (default 0.05; gymnasium's
      HalfCheetah default is 0.1, every cheetah-vel source uses 0.5·0.1), ``reset_noise_scale``
      (default 0.1): gymnasium's names.
    * Any other keyword goes to gymnasium's ``HalfCheetahEnv`` unchanged (``frame_skip``,
      ``render_mode``, ...).

    ## References

    * Finn, Abbeel, Levine 2017, "Model-Agnostic Meta-Learning for Fast Adaptation of Deep
      Networks", section 5.3; ``cbfinn/maml_rl`` ``rllab/envs/mujoco/half_cheetah_env_rand.py``
      and ``tristandeleu/pytorch-maml-rl`` (``configs/maml/halfcheetah-vel.yaml``: U(0, 2),
      horizon 100).
    * Rakelly et al. 2019, "Efficient Off-Policy Meta-Reinforcement Learning via Probabilistic
      Context Variables"; ``katerakelly/oyster`` ``rlkit/envs/half_cheetah_vel.py`` and
      ``configs/cheetah-vel.json`` (130 tasks from U(0, 3): the first 100 train, the last 30
      evaluate; horizon 200).
    * Zintgraf et al. 2020, "VariBAD"; ``lmzintgraf/varibad``
      ``environments/mujoco/half_cheetah_vel.py`` (U(0, 3), horizon 200).

    Deliberate differences from these sources:

    * Observation: they append the torso's Cartesian position ``get_body_com("torso")`` (20
      numbers), which hands the agent its absolute x position; we keep gymnasium's 17.
    * dt (0.05 s), reward and coefficients are the same. The model is gymnasium's v5
      ``half_cheetah.xml`` on the ``mujoco`` bindings rather than gym's on ``mujoco-py``.
    * Tasks: PEARL draws all its tasks from ``np.random.seed(1337)`` and splits them by
      position; we draw training tasks from the caller's seed and the held-out tasks from a
      pinned stream that ``sample_tasks`` never uses, and add the out-of-distribution split.

    ## Version History

    * v0: initial release.
    """

    task_type = VelocityTask
    test_seed = 301
    #: Width of the out-of-distribution band just above the training range.
    ood_width = 1.0
    # The registered (v0) definition; an instance with another velocity_range describes its own.
    test_splits = _split_descriptions(0.0, 3.0, 1.0)

    def __init__(
        self,
        velocity_range: tuple[float, float] = (0.0, 3.0),
        forward_reward_weight: float = 1.0,
        ctrl_cost_weight: float = 0.05,
        reset_noise_scale: float = 0.1,
        **kwargs: Any,
    ) -> None:
        low, high = (float(v) for v in velocity_range)
        if not (math.isfinite(high) and 0.0 <= low < high):
            raise ValueError(
                f"{type(self).__name__}: expected velocity_range=(low, high) with 0 <= low < high, "
                f"got {velocity_range!r}"
            )
        HalfCheetahEnv.__init__(
            self,
            forward_reward_weight=forward_reward_weight,
            ctrl_cost_weight=ctrl_cost_weight,
            reset_noise_scale=reset_noise_scale,
            **kwargs,
        )
        utils.EzPickle.__init__(
            self,
            velocity_range=velocity_range,
            forward_reward_weight=forward_reward_weight,
            ctrl_cost_weight=ctrl_cost_weight,
            reset_noise_scale=reset_noise_scale,
            **kwargs,
        )
        self._velocity_range = (low, high)
        self.test_splits = _split_descriptions(low, high, self.ood_width)
        self._target_velocity = 0.0
        self._init_tasks()

    def default_task(self) -> Task:
        """The middle of the training range (1.5 m/s for the registered id)."""
        low, high = self._velocity_range
        return VelocityTask((low + high) / 2)

    def _sample_tasks(self, rng: np.random.Generator, n: int, split: str = "train") -> list[Task]:
        low, high = self._velocity_range
        if split == "test-ood":
            # 1 - U[0, 1) lies in (0, 1]: the band excludes the training range's upper end.
            velocities = high + self.ood_width * (1.0 - rng.random(n))
        else:
            velocities = rng.uniform(low, high, n)
        return [VelocityTask(v) for v in velocities.tolist()]

    def _apply_task(self, task: Task) -> None:
        self._target_velocity = task.velocity

    def _task_reward(self, x_velocity: float) -> float:
        return -self._forward_reward_weight * abs(x_velocity - self._target_velocity)
