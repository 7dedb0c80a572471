"""Ant with one crippled leg, as in Nagabandi et al. 2019 ("Learning to Adapt")."""

from __future__ import annotations

from gymnasium.envs.mujoco.ant_v5 import AntEnv

from metabench.envs.dynamics import CrippledLimbEnv


class AntCrippled(CrippledLimbEnv, AntEnv):
    """## Description

    gymnasium's Ant-v5 (a quadruped, two motors per leg) in which one leg may be crippled: a
    task disables both motors of that leg (hip and ankle), which the agent is not told. The
    reward is gymnasium's: walk forward along x without falling.

    ## Task Distribution

    A task (:class:`~metabench.envs.dynamics.CrippledLimbTask`) is the index of the crippled
    leg, numbered as in Nagabandi et al.'s code:

    =====  ===================  ====================  ==================
    limb   body                 motors                in training
    =====  ===================  ====================  ==================
    0      ``front_left_leg``   ``hip_1, ankle_1``    yes
    1      ``front_right_leg``  ``hip_2, ankle_2``    yes
    2      ``back_leg``         ``hip_3, ankle_3``    yes
    3      ``right_back_leg``   ``hip_4, ankle_4``    no (held out)
    =====  ===================  ====================  ==================

    Training tasks cripple leg 0, 1 or 2, uniformly (``learning_to_adapt``'s ``AntEnv``
    draws ``randint(0, 3)`` and keeps leg 3 for test). ``limb=-1`` is the intact ant: the
    default task, in the support but never sampled. Held-out splits, both out of distribution in
    part: ``"test"`` cripples each of the four legs once (the three seen in training and leg 3,
    never crippled in training); ``"unseen"`` is leg 3 alone, Nagabandi et al.'s test
    condition.

    ``set_task`` sets the gear of the leg's two motors to 0 in the compiled model (and the
    derived ``actuator_acc0`` with it, see :class:`~metabench.envs.dynamics.CrippledLimbEnv`),
    restoring every other gear from its saved nominal value; the leg still has its mass,
    joints and contacts, and its motor commands have no effect.

    ## Action Space

    ``Box(-1, 1, (8,), float32)``: motor commands in gymnasium's order ``hip_4, ankle_4,
    hip_1, ankle_1, hip_2, ankle_2, hip_3, ankle_3`` (gear 150).

    ## Observation Space

    ``Box(-inf, inf, (105,), float64)``: gymnasium Ant-v5's default, ``qpos[2:]``, ``qvel`` and
    the clipped external contact forces ``cfrc_ext`` of the 13 bodies.

    ## Rewards

    gymnasium Ant-v5's: ``r = forward_reward_weight · Δx/dt + healthy_reward −
    ctrl_cost_weight · ‖a‖² − contact_cost_weight · ‖clip(cfrc_ext, −1, 1)‖²`` with defaults
    1, 1, 0.5 and 5e-4. The control cost is charged on the commanded action, crippled motors
    included. ``info`` has ``reward_forward``, ``reward_survive``, ``reward_ctrl`` and
    ``reward_contact`` (both negative) and ``task``; they add up to the reward.

    ## Starting State

    The nominal pose plus ``U(-0.1, 0.1)`` noise on ``qpos`` and ``0.1 · N(0, 1)`` on ``qvel``.

    ## Episode End

    Terminates when the torso height leaves ``[0.2, 1.0]`` or the state is not finite;
    registered with ``max_episode_steps=200``.

    ## Arguments

    Every keyword of gymnasium's ``AntEnv`` (v5), same names and defaults, e.g.
    ``frame_skip=5`` (``dt = 0.05`` s), ``ctrl_cost_weight=0.5``, ``contact_cost_weight=5e-4``,
    ``healthy_reward=1.0``.

    ## References

    Nagabandi, Clavera et al. 2019, "Learning to Adapt in Dynamic, Real-World Environments
    through Meta-Reinforcement Learning" (ICLR), the crippled-leg ant; their code
    ``iclavera/learning_to_adapt`` (``learning_to_adapt/envs/ant_env.py``), whose legs 0-3
    disable actions (2, 3), (4, 5), (6, 7) and (0, 1), i.e. the motors above. Differences: the
    original zeroes the actions (a mask) rather than the gears, also halves the crippled leg's
    geoms and moves its lower geom, and uses its own observation, reward (torso velocity +
    0.05, no control or contact cost) and horizon; we keep gymnasium v5's model, observation
    and reward, and only disable the motors.

    ## Version History

    * v0: initial release.
    """

    test_seed = 404
    limbs = (("hip_1", "ankle_1"), ("hip_2", "ankle_2"), ("hip_3", "ankle_3"), ("hip_4", "ankle_4"))
    limb_names = ("front_left_leg", "front_right_leg", "back_leg", "right_back_leg")
    train_limbs = (0, 1, 2)
    test_splits = {
        "test": (4, "each leg once: legs 0-2 (seen in training) and leg 3 (never crippled in training)"),
        "unseen": (1, "out-of-distribution: leg 3 (right_back_leg), never crippled in training"),
    }
