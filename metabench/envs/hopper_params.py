"""Hopper with random physical parameters, PEARL's Hopper-Params (Rakelly et al. 2019)."""

from __future__ import annotations

from gymnasium.envs.mujoco.hopper_v5 import HopperEnv

from metabench.envs.dynamics import RandParamsEnv


class HopperParams(RandParamsEnv, HopperEnv):
    """## Description

    gymnasium's Hopper-v5 (a planar one-legged robot: torso, thigh, leg and foot, three hinge
    motors) whose body masses, inertias, joint damping and geom friction are scaled by a task
    the agent does not observe. The reward is gymnasium's: hop forward without falling.

    ## Task Distribution

    PEARL's law (``rand_param_envs.RandomEnv``), drawn independently per element:

    ==================  ==========================  ======================================
    model array         multiplier                  per
    ==================  ==========================  ======================================
    ``body_mass``       ``1.5 ** U(-3, 3)``         body (5: the world and 4 links)
    ``body_inertia``    ``1.5 ** U(-3, 3)``         body and principal axis (5 × 3)
    ``dof_damping``     ``1.3 ** U(-3, 3)``         degree of freedom (6)
    ``geom_friction``   ``1.5 ** U(-3, 3)``         geom and component (5 × 3)
    ==================  ==========================  ======================================

    The task (:class:`~metabench.envs.dynamics.ParamsTask`) holds the 41 exponents, so a
    results file records exactly which model was scored; ``task.multipliers()`` gives
    ``1.5 ** e`` / ``1.3 ** e``. Support: every exponent in ``[-3, 3]``, shapes as above. Some
    elements are scaled but have no effect, as in PEARL: the world body (mass 0), the three
    root degrees of freedom (damping 0), the inertia about the x and z axes (the hopper moves in
    the x-z plane; only the moment about y enters its dynamics) and the torsional and rolling
    friction (its contacts have ``condim=3``). Because inertias are scaled per axis, nearly every
    task breaks the triangle inequality ``A + B >= C`` of some body's principal moments, which
    MuJoCo's compiler would reject from an XML; this is harmless here for the same reason.
    Held-out split ``"test"``: 40 tasks from the same law (in-distribution), pinned seed.

    ``set_task`` writes ``nominal × multiplier`` into the compiled model in place and calls
    ``mujoco.mj_setConst``, which refreshes the constants MuJoCo derives from masses and
    inertias (``body_subtreemass``, ``body_invweight0``, ``dof_invweight0``, ...). It is needed:
    the solver sets contact and joint-limit softness from the inverse weights, and stale ones
    move a rollout by up to metres (see :class:`~metabench.envs.dynamics.RandParamsEnv`). The
    result is the model MuJoCo would compile from an XML with the scaled values. The default
    task (all exponents 0) is the nominal model, exactly.

    ## Action Space

    ``Box(-1, 1, (3,), float32)``: torques of the thigh, leg and foot hinges (gear 200).

    ## Observation Space

    ``Box(-inf, inf, (11,), float64)``: ``qpos[1:]`` (torso height and angle, three joint
    angles) and ``qvel`` clipped to ``[-10, 10]``, as in gymnasium (and PEARL).

    ## Rewards

    gymnasium Hopper-v5's: ``r = forward_reward_weight · Δx/dt + healthy_reward −
    ctrl_cost_weight · ‖a‖²`` with defaults 1, 1 and 1e-3 (PEARL's reward had the same
    coefficients). ``info`` has ``reward_forward``, ``reward_survive``, ``reward_ctrl``
    (negative) and ``task``; they add up to the reward.

    ## Starting State

    The nominal pose plus ``U(-0.005, 0.005)`` noise on every ``qpos`` and ``qvel``.

    ## Episode End

    Terminates when unhealthy, as in gymnasium and PEARL: an entry of ``(qpos, qvel)`` other
    than x and z leaves ``(-100, 100)``, the torso height falls to 0.7 or below, or the torso
    angle leaves ``(-0.2, 0.2)``;
    registered with ``max_episode_steps=200`` (PEARL's horizon).

    ## Arguments

    Every keyword of gymnasium's ``HopperEnv`` (v5), same names and defaults, e.g.
    ``frame_skip=4``, ``ctrl_cost_weight=1e-3``, ``healthy_reward=1.0``,
    ``reset_noise_scale=5e-3``. **Time step**: here ``dt = 0.002 × 4 = 0.008`` s (gymnasium
    v5); ``rand_param_envs`` ran its Hopper at ``timestep 0.004 × frame_skip 4 = 0.016`` s, so
    the same 200 steps cover 1.6 s here and 3.2 s there. ``frame_skip=8`` reproduces PEARL's
    control period (and the scale of its ``Δx/dt`` reward) on gymnasium's integration step;
    we offer it rather than a 0.004 s timestep because it is gymnasium's own kwarg and keeps
    the step the v5 model is tuned at (both were stable on 200 random tasks).

    ## References

    Rakelly et al. 2019, "Efficient Off-Policy Meta-Reinforcement Learning via Probabilistic
    Context Variables" (PEARL), Hopper-Params; its code ``katerakelly/oyster``
    (``configs/hopper_rand_params.json``: 40 train and 10 eval tasks, 200 steps) with
    ``dennisl88/rand_param_envs`` (``base.py``, ``hopper_rand_params.py``); also
    ``lmzintgraf/varibad`` (``environments/mujoco/rand_param_envs``). Differences: MuJoCo 3 and
    gymnasium's v5 model (the same bodies, joints and gears as PEARL's) instead of MuJoCo 1.31;
    dt as above; derived constants kept consistent (the original wrote the arrays through
    mujoco-py without ``mj_setConst``); task randomness from the env's own stream instead of
    global ``np.random``.

    ## Version History

    * v0: initial release.
    """

    test_seed = 402
    test_splits = {"test": (40, "in-distribution: 40 tasks from PEARL's law")}
