"""HalfCheetah with one disabled joint, as in Nagabandi et al. 2019 ("Learning to Adapt")."""

from __future__ import annotations

from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv

from metabench.envs.dynamics import CrippledLimbEnv


class HalfCheetahCrippled(CrippledLimbEnv, HalfCheetahEnv):
    """## Description

    gymnasium's HalfCheetah-v5 (a planar runner, three motors per leg) in which one joint may
    be disabled: a task turns off that joint's motor, which the agent is not told. The reward
    is gymnasium's: run forward.

    ## Task Distribution

    A task (:class:`~metabench.envs.dynamics.CrippledLimbTask`) is the index of the disabled
    joint, in action order, as in Nagabandi et al.'s code:

    =====  ==========  =====  ==================
    limb   joint       gear   in training
    =====  ==========  =====  ==================
    0      ``bthigh``  120    no (held out)
    1      ``bshin``   90     yes
    2      ``bfoot``   60     yes
    3      ``fthigh``  120    yes
    4      ``fshin``   60     yes
    5      ``ffoot``   30     yes
    =====  ==========  =====  ==================

    The cheetah's crippled "limb" is one joint, not a whole leg: its legs are only two, and
    Nagabandi et al. disable one joint at a time. Training tasks disable joint 1, ..., 5,
    uniformly (``learning_to_adapt``'s ``HalfCheetahEnv`` draws ``randint(1, action_dim)``, so
    joint 0, the back thigh, is never disabled in training). ``limb=-1`` is the intact cheetah:
    the default task, in the support but never sampled. Held-out splits, both out of
    distribution in part: ``"test"`` disables each of the six joints once (five seen in
    training and joint 0, never disabled in training); ``"unseen"`` is joint 0 alone.

    ``set_task`` sets the joint's motor gear to 0 in the compiled model (and the derived
    ``actuator_acc0`` with it, see :class:`~metabench.envs.dynamics.CrippledLimbEnv`),
    restoring every other gear from its saved nominal value; the joint still moves, damped,
    and its motor command has no effect.

    ## Action Space

    ``Box(-1, 1, (6,), float32)``: torques of the back thigh, shin, foot, then the front ones.

    ## Observation Space

    ``Box(-inf, inf, (17,), float64)``: ``qpos[1:]`` and ``qvel``, as in gymnasium.

    ## Rewards

    gymnasium HalfCheetah-v5's: ``r = forward_reward_weight · Δx/dt − ctrl_cost_weight ·
    ‖a‖²`` with defaults 1 and 0.1. The control cost is charged on the commanded action, the
    disabled motor's included. ``info`` has ``reward_forward``, ``reward_ctrl`` (negative) and
    ``task``; they add up to the reward.

    ## Starting State

    The nominal pose plus ``U(-0.1, 0.1)`` noise on ``qpos`` and ``0.1 · N(0, 1)`` on ``qvel``.

    ## Episode End

    Never terminates; registered with ``max_episode_steps=200``.

    ## Arguments

    Every keyword of gymnasium's ``HalfCheetahEnv`` (v5), same names and defaults, e.g.
    ``frame_skip=5`` (``dt = 0.05`` s), ``ctrl_cost_weight=0.1``. ``ctrl_cost_weight=0.05``
    gives Nagabandi et al.'s control weight.

    ## References

    Nagabandi, Clavera et al. 2019, "Learning to Adapt in Dynamic, Real-World Environments
    through Meta-Reinforcement Learning" (ICLR), the half-cheetah with a disabled joint; their
    code ``iclavera/learning_to_adapt`` (``learning_to_adapt/envs/half_cheetah_env.py``).
    Differences: the original zeroes the action (a mask) rather than the gear, computes the
    control cost on the masked action, uses the torso's COM velocity for the forward reward and
    its own observation (with the torso COM) and horizon; we keep gymnasium v5's model,
    observation and reward, and only disable the motor.

    ## Version History

    * v0: initial release.
    """

    test_seed = 405
    limbs = (("bthigh",), ("bshin",), ("bfoot",), ("fthigh",), ("fshin",), ("ffoot",))
    limb_names = ("bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot")
    train_limbs = (1, 2, 3, 4, 5)
    test_splits = {
        "test": (
            6,
            "each joint once: joints 1-5 (seen in training) and joint 0 (never disabled in training)",
        ),
        "unseen": (1, "out-of-distribution: joint 0 (bthigh), never disabled in training"),
    }
