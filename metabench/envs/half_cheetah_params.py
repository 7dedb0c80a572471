"""HalfCheetah with random physical parameters, PEARL's law (Rakelly et al. 2019) on the cheetah."""

from __future__ import annotations

from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv

from metabench.envs.dynamics import RandParamsEnv


class HalfCheetahParams(RandParamsEnv, HalfCheetahEnv):
    """## Description

    gymnasium's HalfCheetah-v5 (a planar two-legged runner: torso and head, back and front
    thigh, shin and foot, six hinge motors) whose body masses, inertias, joint damping and geom
    friction are scaled by a task the agent does not observe. The reward is gymnasium's: run
    forward.

    ## Task Distribution

    PEARL's law (``rand_param_envs.RandomEnv``), drawn independently per element:

    ==================  ==========================  ======================================
    model array         multiplier                  per
    ==================  ==========================  ======================================
    ``body_mass``       ``1.5 ** U(-3, 3)``         body (8: the world and 7 links)
    ``body_inertia``    ``1.5 ** U(-3, 3)``         body and principal axis (8 × 3)
    ``dof_damping``     ``1.3 ** U(-3, 3)``         degree of freedom (9)
    ``geom_friction``   ``1.5 ** U(-3, 3)``         geom and component (9 × 3)
    ==================  ==========================  ======================================

    The task (:class:`~metabench.envs.dynamics.ParamsTask`) holds the 68 exponents, so a
    results file records exactly which model was scored; ``task.multipliers()`` gives
    ``1.5 ** e`` / ``1.3 ** e``. Support: every exponent in ``[-3, 3]``, shapes as above. Some
    elements are scaled but have no effect, as in PEARL: the world body (mass 0), the three
    root degrees of freedom (damping 0), the two principal moments whose axes lie in the x-z
    plane (the cheetah moves in that plane; only the moment about y enters its dynamics) and
    the torsional and rolling friction (its contacts have ``condim=3``). Because inertias are
    scaled per axis, nearly every task breaks the triangle inequality ``A + B >= C`` of some
    body's principal moments, which MuJoCo's compiler would reject from an XML; this is
    harmless here for the same reason. Held-out split ``"test"``: 40 tasks from the same law
    (in-distribution), pinned seed.

    ``set_task`` writes ``nominal × multiplier`` into the compiled model in place and calls
    ``mujoco.mj_setConst``, which refreshes the constants MuJoCo derives from masses and
    inertias (``body_subtreemass``, ``body_invweight0``, ``dof_invweight0``, ...). It is needed:
    the solver sets contact and joint-limit softness from the inverse weights, and stale ones
    move a rollout by up to metres (see :class:`~metabench.envs.dynamics.RandParamsEnv`). The
    result is the model MuJoCo would compile from an XML with the scaled values. The default
    task (all exponents 0) is the nominal model, exactly.

    ## Action Space

    ``Box(-1, 1, (6,), float32)``: torques of the back thigh, shin, foot, then the front ones
    (gears 120, 90, 60, 120, 60, 30).

    ## Observation Space

    ``Box(-inf, inf, (17,), float64)``: ``qpos[1:]`` (torso height and angle, six joint angles)
    and ``qvel``, as in gymnasium.

    ## Rewards

    gymnasium HalfCheetah-v5's: ``r = forward_reward_weight · Δx/dt − ctrl_cost_weight ·
    ‖a‖²`` with defaults 1 and 0.1. ``info`` has ``reward_forward``, ``reward_ctrl``
    (negative) and ``task``; they add up to the reward.

    ## Starting State

    The nominal pose plus ``U(-0.1, 0.1)`` noise on ``qpos`` and ``0.1 · N(0, 1)`` on ``qvel``.

    ## Episode End

    Never terminates; registered with ``max_episode_steps=200`` (the horizon of PEARL's
    parameter and cheetah families).

    ## Arguments

    Every keyword of gymnasium's ``HalfCheetahEnv`` (v5), same names and defaults, e.g.
    ``frame_skip=5`` (``dt = 0.01 × 5 = 0.05`` s), ``ctrl_cost_weight=0.1``,
    ``reset_noise_scale=0.1``.

    ## References

    The law is that of PEARL's Walker-2D-Params and Hopper-Params (Rakelly et al. 2019,
    "Efficient Off-Policy Meta-Reinforcement Learning via Probabilistic Context Variables";
    ``dennisl88/rand_param_envs``, ``base.py``); PEARL did not randomise the cheetah, so this
    family has no published numbers of its own. Differences from the original code: derived
    constants kept consistent (the original wrote the arrays through mujoco-py without
    ``mj_setConst``); task randomness from the env's own stream instead of global
    ``np.random``.

    ## Version History

    * v0: initial release.
    """

    test_seed = 403
    test_splits = {"test": (40, "in-distribution: 40 tasks from PEARL's law")}
