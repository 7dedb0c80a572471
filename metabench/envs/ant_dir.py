"""Ant running forward or backward along x (ant forward/backward of MAML and ProMP)."""

from __future__ import annotations

from typing import Any

from gymnasium import utils

from metabench.envs.locomotion import DirectionTasks, TaskRewardAnt


class AntDir(DirectionTasks, TaskRewardAnt):
    """## Description

    gymnasium's Ant (v5 model, dynamics, observation, reset and termination), rewarded for its
    velocity along x, forward or backward, in a direction it is not shown. This is the
    forward/backward ant of MAML (Finn et al. 2017) and ProMP (Rothfuss et al. 2019).

    ## Task Distribution

    A task is a direction ``d ∈ {-1, +1}`` (``DirectionTask(direction)``); training tasks are
    ``+1`` or ``-1`` with probability 1/2 each. Held-out split ``"test"``: both directions,
    ``(+1, -1)``. The family has only two MDPs, so none can be held out from training: the
    test set is the whole support. What is held out at evaluation is the task's identity: the
    agent starts afresh on each test task and must tell the direction from rewards.

    ## Action Space

    ``Box(-1, 1, (8,), float32)``: torques on the eight hip and ankle joints.

    ## Observation Space

    ``Box(-inf, inf, (105,), float64)``, gymnasium's v5 layout: ``qpos[2:]`` (13: torso height
    and orientation, eight joint angles), ``qvel`` (14), then the external contact forces
    ``cfrc_ext`` of the 13 bodies other than the world, clipped to ``[-1, 1]`` (78). The x, y
    position and the task are not observed.

    ## Rewards

    ``r = reward_forward + reward_ctrl + reward_contact + reward_survive``, gymnasium's v5 Ant
    reward with the direction in the forward term:

    * ``reward_forward = forward_reward_weight * d * v_x``, ``v_x`` the torso's x velocity
      (change of ``data.xpos`` of the torso over the step divided by ``dt = 0.05``);
    * ``reward_ctrl = -0.5 * ‖a‖²``;
    * ``reward_contact = -5e-4 * ‖clip(cfrc_ext, -1, 1)‖²``;
    * ``reward_survive = 1.0`` while healthy (torso height ``z ∈ [0.2, 1.0]`` and a finite
      state), else 0.

    ``info`` holds the four terms, gymnasium's position and velocity entries, and ``task``.

    ## Starting State

    gymnasium's: ``qpos = init_qpos + U(-0.1, 0.1)``, ``qvel = init_qvel + 0.1·N(0, 1)``.

    ## Episode End

    Terminates when unhealthy; registered with ``max_episode_steps=200``.

    ## Arguments

    ``forward_reward_weight`` (1.0), ``ctrl_cost_weight`` (0.5), ``contact_cost_weight``
    (5e-4), ``healthy_reward`` (1.0), ``terminate_when_unhealthy`` (True): gymnasium's v5 Ant
    names and defaults. Any other keyword (``healthy_z_range``, ``contact_force_range``,
    ``include_cfrc_ext_in_observation``, ...) goes to gymnasium's ``AntEnv``. pytorch-maml-rl's
    variant is ``ctrl_cost_weight=0.005, healthy_reward=0.05``.

    ## References

    * Finn, Abbeel, Levine 2017, "Model-Agnostic Meta-Learning for Fast Adaptation of Deep
      Networks", section 5.3; ``cbfinn/maml_rl``; ``tristandeleu/pytorch-maml-rl``
      ``maml_rl/envs/mujoco/ant.py`` (``AntDirEnv``: ctrl 0.005, survive 0.05).
    * Rothfuss et al. 2019, "ProMP: Proximal Meta-Policy Search"; learn2learn's
      ``AntForwardBackwardEnv`` (ctrl 0.5, contact 5e-4, survive 1.0).
    * PEARL's ``rlkit/envs/ant_dir.py`` with ``forward_backward=True`` (angles 0 and π), same
      coefficients. VariBAD's ``environments/mujoco/ant_dir.py`` samples ±1 but uses it as an
      angle in radians (direction ``(cos 1, ±sin 1)``); we read ±1 as ±x.

    Deliberate differences: the observation is gymnasium's v5 (105 numbers) where PEARL and
    VariBAD use ``qpos[2:]`` and ``qvel`` (27: ``include_cfrc_ext_in_observation=False``),
    learn2learn adds all 14 bodies' clipped contact forces (111) and pytorch-maml-rl adds the
    torso's rotation matrix and Cartesian position (a position leak). The survive bonus is 0
    on the step that ends the episode (gymnasium's rule; the sources pay it on every step).
    dt is 0.05 s as in all sources.

    ## Version History

    * v0: initial release.
    """

    test_seed = 303

    def __init__(
        self,
        forward_reward_weight: float = 1.0,
        ctrl_cost_weight: float = 0.5,
        contact_cost_weight: float = 5e-4,
        healthy_reward: float = 1.0,
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
        TaskRewardAnt.__init__(self, **knobs, **kwargs)
        utils.EzPickle.__init__(self, **knobs, **kwargs)
        self._init_tasks()

    def _task_reward(self, x: float, y: float, x_velocity: float, y_velocity: float) -> float:
        return self._forward_reward_weight * self._direction * x_velocity
