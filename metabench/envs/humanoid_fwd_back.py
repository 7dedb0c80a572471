"""Humanoid running forward or backward along x (learn2learn's HumanoidForwardBackward)."""

from __future__ import annotations

from typing import Any

from gymnasium import utils
from gymnasium.envs.mujoco.humanoid_v5 import HumanoidEnv

from metabench.envs.locomotion import DirectionTasks, TaskRewardHumanoid


class HumanoidFwdBack(DirectionTasks, TaskRewardHumanoid):
    """## Description

    gymnasium's Humanoid (v5 model, dynamics, observation, reset, termination and reward
    weights), rewarded for the x velocity of its centre of mass in a direction, forward or
    backward, that it is not shown. This is learn2learn's ``HumanoidForwardBackwardEnv``
    (after ProMP, Rothfuss et al. 2019).

    ## Task Distribution

    A task is a direction ``d ∈ {-1, +1}`` (``DirectionTask(direction)``); training tasks are
    ``+1`` or ``-1`` with probability 1/2 each. Held-out split ``"test"``: both directions,
    ``(+1, -1)``. The family has only two MDPs, so none can be held out from training: the
    test set is the whole support. What is held out at evaluation is the task's identity: the
    agent starts afresh on each test task and must tell the direction from rewards.

    ## Action Space

    ``Box(-0.4, 0.4, (17,), float32)``: torques on the 17 joints (gymnasium's Humanoid).

    ## Observation Space

    ``Box(-inf, inf, (348,), float64)``, gymnasium's v5 layout: ``qpos[2:]`` (22), ``qvel``
    (23), then for the 13 bodies other than the world ``cinert`` (130), ``cvel`` (78), the
    actuator forces ``qfrc_actuator[6:]`` (17) and the contact forces ``cfrc_ext`` (78). The
    x, y position and the task are not observed.

    ## Rewards

    ``r = reward_forward + reward_ctrl + reward_contact + reward_survive``, gymnasium's v5
    Humanoid reward with the direction in the forward term:

    * ``reward_forward = 1.25 * d * v_x``, ``v_x`` the x velocity of the centre of mass
      (body-mass-weighted ``data.xipos``) over the step, divided by ``dt = 0.015`` (5 frames
      of 0.003 s); with ``d = +1`` the reward is gymnasium's Humanoid v5 reward;
    * ``reward_ctrl = -0.1 * ‖a‖²``;
    * ``reward_contact = -min(5e-7 * ‖cfrc_ext‖², 10)``;
    * ``reward_survive = 5.0`` while healthy (torso height ``qpos[2] ∈ (1, 2)``), else 0.

    ``info`` holds the four terms, gymnasium's position, tendon and velocity entries, and
    ``task``.

    ## Starting State

    gymnasium's: ``qpos = init_qpos + U(-0.01, 0.01)``, ``qvel = init_qvel + U(-0.01, 0.01)``.

    ## Episode End

    Terminates when unhealthy; registered with ``max_episode_steps=200``.

    ## Arguments

    ``forward_reward_weight`` (1.25), ``ctrl_cost_weight`` (0.1), ``contact_cost_weight``
    (5e-7), ``healthy_reward`` (5.0), ``terminate_when_unhealthy`` (True): gymnasium's v5
    Humanoid names and defaults. Any other keyword goes to gymnasium's ``HumanoidEnv``.

    ## References

    * learn2learn ``learn2learn/gym/envs/mujoco/humanoid_forward_backward.py`` (directions
      ±1 with probability 1/2; forward ``0.25 · Δcom_x / 0.003``, which is
      ``1.25 · Δcom_x / 0.015``; ctrl 0.1; contact ``min(5e-7·‖cfrc_ext‖², 10)``; alive 5; done
      when ``qpos[2] ∉ [1, 2]``), adapted from ProMP (Rothfuss et al. 2019, "ProMP: Proximal
      Meta-Policy Search").

    Deliberate differences: the observation is gymnasium's v5 (348 numbers) where learn2learn
    uses gym's v2 layout (376); under ``mujoco-py >= 2.0`` learn2learn reads ``cfrc_ext`` as
    zeros (gym issue #1541), so its contact cost was 0, where gymnasium v5 computes it; the
    alive bonus is 0 on the step that ends the episode (gymnasium's rule). The weights and dt
    are the same.

    ## Version History

    * v0: initial release.
    """

    test_seed = 307

    def __init__(
        self,
        forward_reward_weight: float = 1.25,
        ctrl_cost_weight: float = 0.1,
        contact_cost_weight: float = 5e-7,
        healthy_reward: float = 5.0,
        terminate_when_unhealthy: bool = True,
        **kwargs: Any,
    ) -> None:
        knobs = {
            "forward_reward_weight": forward_reward_weight,
            "ctrl_cost_weight": ctrl_cost_weight,
            "contact_cost_weight": contact_cost_weight,
            "healthy_reward": healthy_reward,
            "terminate_when_unhealthy": terminate_when_unhealthy,
        }
        HumanoidEnv.__init__(self, **knobs, **kwargs)
        utils.EzPickle.__init__(self, **knobs, **kwargs)
        self._init_tasks()

    def _task_reward(self, x_velocity: float, y_velocity: float) -> float:
        return self._forward_reward_weight * self._direction * x_velocity
