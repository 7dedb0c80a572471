"""Humanoid running along a direction of the plane (humanoid-dir of PEARL and VariBAD)."""

from __future__ import annotations

from typing import Any

from gymnasium import utils
from gymnasium.envs.mujoco.humanoid_v5 import HumanoidEnv

from metabench.envs.locomotion import HeadingTasks, TaskRewardHumanoid


class HumanoidDir(HeadingTasks, TaskRewardHumanoid):
    """## Description

    gymnasium's Humanoid (v5 model, dynamics, observation, reset, termination and reward
    weights), rewarded for the velocity of its centre of mass along a direction of the ground
    plane that it is not shown. This is the humanoid-dir family of PEARL (Rakelly et al. 2019)
    and VariBAD (Zintgraf et al. 2020), and learn2learn's ``HumanoidDirectionEnv``.

    ## Task Distribution

    A task is a heading angle ``θ`` in radians (``HeadingTask(angle)``), direction
    ``u = (cos θ, sin θ)``; ``θ ~ U(0, 2π)``. Support: any ``θ ∈ [0, 2π]``. Held-out split
    ``"test"``: 30 headings from the same law (in-distribution; PEARL evaluates on 30),
    pinned seed.

    ## Action Space

    ``Box(-0.4, 0.4, (17,), float32)``: torques on the 17 joints (gymnasium's Humanoid).

    ## Observation Space

    ``Box(-inf, inf, (348,), float64)``, gymnasium's v5 layout: ``qpos[2:]`` (22), ``qvel``
    (23), then for the 13 bodies other than the world ``cinert`` (130), ``cvel`` (78), the
    actuator forces ``qfrc_actuator[6:]`` (17) and the contact forces ``cfrc_ext`` (78). The
    x, y position and the task are not observed.

    ## Rewards

    ``r = reward_forward + reward_ctrl + reward_contact + reward_survive``, gymnasium's v5
    Humanoid reward with the heading in the forward term:

    * ``reward_forward = 1.25 * (u · v_com)``, ``v_com`` the planar velocity of the centre of
      mass (body-mass-weighted ``data.xipos``) over the step, divided by ``dt = 0.015``
      (5 frames of 0.003 s);
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
    Humanoid names and defaults. Any other keyword (``contact_cost_range``,
    ``healthy_z_range``, the ``include_*_in_observation`` switches, ...) goes to gymnasium's
    ``HumanoidEnv``.

    ## References

    * Rakelly et al. 2019, "Efficient Off-Policy Meta-Reinforcement Learning via Probabilistic
      Context Variables"; ``katerakelly/oyster`` ``rlkit/envs/humanoid_dir.py`` (θ ~ U(0, 2π);
      forward ``0.25 · Δcom / 0.003``, which is ``1.25 · Δcom / 0.015``; ctrl 0.1; contact
      ``min(5e-7·‖cfrc_ext‖², 10)``; alive 5; done when ``qpos[2] ∉ [1, 2]``) and
      ``configs/humanoid-dir.json`` (130 tasks: the first 100 train, the last 30 evaluate).
    * Zintgraf et al. 2020, "VariBAD"; ``lmzintgraf/varibad``
      ``environments/mujoco/humanoid_dir.py`` (PEARL's, with actions rescaled to [-1, 1]).
    * learn2learn ``learn2learn/gym/envs/mujoco/humanoid_direction.py`` (direction uniform on
      the circle; same reward).

    Deliberate differences:

    * Observation: gymnasium's v5 (348 numbers, the world body's always-zero rows and the root's
      6 actuator-free DoFs dropped) where the sources use gym's v2 layout (376).
    * Contact forces: with ``mujoco-py >= 2.0`` the sources read ``cfrc_ext`` as zeros (gym issue
      #1541), so their contact cost was 0; gymnasium v5 computes it.
    * The alive bonus is 0 on the step that ends the episode (gymnasium's rule; the sources pay
      it on every step). Actions are gymnasium's ``[-0.4, 0.4]``, not VariBAD's rescaled
      ``[-1, 1]``. The weights and dt are the same.
    * Tasks: training headings come from the caller's seed and the held-out ones from a pinned
      stream, where PEARL splits one list drawn from the global ``np.random``.

    ## Version History

    * v0: initial release.
    """

    test_seed = 306

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
        ux, uy = self._heading
        return ux * x_velocity + uy * y_velocity
