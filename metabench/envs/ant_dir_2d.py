"""Ant running along a direction of the plane (PEARL's ant-dir, learn2learn's AntDirection)."""

from __future__ import annotations

from typing import Any

from gymnasium import utils

from metabench.envs.locomotion import HeadingTasks, TaskRewardAnt


class AntDir2D(HeadingTasks, TaskRewardAnt):
    """## Description

    gymnasium's Ant (v5 model, dynamics, observation, reset and termination), rewarded for its
    velocity along a direction of the ground plane that it is not shown. This is PEARL's
    ant-dir (Rakelly et al. 2019) and learn2learn's ``AntDirectionEnv``.

    ## Task Distribution

    A task is a heading angle ``θ`` in radians (``HeadingTask(angle)``), direction
    ``u = (cos θ, sin θ)``; ``θ ~ U(0, 2π)``, i.e. ``u`` uniform on the unit circle. Support:
    any ``θ ∈ [0, 2π]``. Held-out split ``"test"``: 30 headings from the same law
    (in-distribution), pinned seed.

    ## Action Space

    ``Box(-1, 1, (8,), float32)``: torques on the eight hip and ankle joints.

    ## Observation Space

    ``Box(-inf, inf, (105,), float64)``, gymnasium's v5 layout: ``qpos[2:]`` (13: torso height
    and orientation, eight joint angles), ``qvel`` (14), then the external contact forces
    ``cfrc_ext`` of the 13 bodies other than the world, clipped to ``[-1, 1]`` (78). The x, y
    position and the task are not observed.

    ## Rewards

    ``r = reward_forward + reward_ctrl + reward_contact + reward_survive``, gymnasium's v5 Ant
    reward with the heading in the forward term:

    * ``reward_forward = forward_reward_weight * (u · v_xy)``, ``v_xy`` the torso's planar
      velocity (change of ``data.xpos`` of the torso over the step divided by ``dt = 0.05``);
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
    ``include_cfrc_ext_in_observation``, ...) goes to gymnasium's ``AntEnv``.

    ## References

    * Rakelly et al. 2019, "Efficient Off-Policy Meta-Reinforcement Learning via Probabilistic
      Context Variables"; ``katerakelly/oyster`` ``rlkit/envs/ant_dir.py`` (θ ~ U(0, 2π),
      ctrl 0.5, contact 5e-4, survive 1.0, frame skip 5) and ``configs/ant-dir.json``.
    * learn2learn ``learn2learn/gym/envs/mujoco/ant_direction.py`` (direction uniform on the
      circle by normalising a Gaussian; same coefficients), after ProMP (Rothfuss et al. 2019).
    * VariBAD's ``AntDir2DEnv`` (``environments/mujoco/ant_dir.py``) samples unit vectors from
      the same law, but its ``set_task`` keeps their first component and its ``step`` uses
      that number as an angle.

    Deliberate differences:

    * Split: PEARL's ``ant-dir.json`` draws 2 angles and evaluates on its 2 training tasks; we
      hold out 30 headings from a pinned stream (30 as in PEARL's humanoid-dir).
    * Observation: gymnasium's v5 (105 numbers) where PEARL uses ``qpos[2:]`` and ``qvel``
      (27: ``include_cfrc_ext_in_observation=False``) and learn2learn adds all 14 bodies'
      clipped contact forces (111).
    * The survive bonus is 0 on the step that ends the episode (gymnasium's rule; PEARL pays
      it on every step). dt is 0.05 s as in the sources.

    ## Version History

    * v0: initial release.
    """

    test_seed = 304

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
        ux, uy = self._heading
        return ux * x_velocity + uy * y_velocity
