"""HalfCheetah running forward or backward (cheetah-dir of MAML, PEARL and VariBAD)."""

from __future__ import annotations

from typing import Any

from gymnasium import utils
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv

from metabench.envs.locomotion import DirectionTasks, TaskRewardHalfCheetah


class HalfCheetahDir(DirectionTasks, TaskRewardHalfCheetah):
    """## Description

    gymnasium's HalfCheetah (v5 model, dynamics, observation and reset), rewarded for its
    velocity along a direction, forward or backward, that it is not shown. This is the
    cheetah-dir family of MAML (Finn et al. 2017), PEARL (Rakelly et al. 2019) and VariBAD
    (Zintgraf et al. 2020).

    ## Task Distribution

    A task is a direction ``d ∈ {-1, +1}`` (``DirectionTask(direction)``); training tasks are
    ``+1`` or ``-1`` with probability 1/2 each. Held-out split ``"test"``: both directions,
    ``(+1, -1)``. The family has only two MDPs, so none can be held out from training: the
    test set is the whole support, as in PEARL (whose eval tasks are its two training tasks).
    What is held out at evaluation is the task's identity: the agent starts afresh on each
    test task and must tell the direction from rewards.

    ## Action Space

    ``Box(-1, 1, (6,), float32)``: torques on the six joints (gymnasium's HalfCheetah).

    ## Observation Space

    ``Box(-inf, inf, (17,), float64)``, gymnasium's v5 layout: ``qpos[1:]`` (8: root height and
    angle, six joint angles) then ``qvel`` (9). The x position and the task are not observed.

    ## Rewards

    ``r = reward_forward + reward_ctrl`` with

    * ``reward_forward = forward_reward_weight * d * v``, where ``v`` is the change of the root's
      x position ``qpos[0]`` over the step divided by ``dt = 0.05`` (5 frames of 0.01 s);
    * ``reward_ctrl = -ctrl_cost_weight * ‖a‖²`` with ``ctrl_cost_weight = 0.05``.

    ``info`` holds both terms, ``x_position``, ``x_velocity`` and ``task``.

    ## Starting State

    gymnasium's: ``qpos = init_qpos + U(-0.1, 0.1)``, ``qvel = init_qvel + 0.1·N(0, 1)``.

    ## Episode End

    Never terminates; registered with ``max_episode_steps=200`` (MAML's configs use 100:
    ``gym.make(..., max_episode_steps=100)``).

    ## Arguments

    ``forward_reward_weight`` (default 1.0), ``ctrl_cost_weight`` (default 0.05; gymnasium's
    HalfCheetah default is 0.1, every cheetah-dir source uses 0.5·0.1), ``reset_noise_scale``
    (default 0.1): gymnasium's names. Any other keyword goes to gymnasium's ``HalfCheetahEnv``.

    ## References

    * Finn, Abbeel, Levine 2017, "Model-Agnostic Meta-Learning for Fast Adaptation of Deep
      Networks", section 5.3; ``cbfinn/maml_rl``
      ``rllab/envs/mujoco/half_cheetah_env_rand_direc.py``; ``tristandeleu/pytorch-maml-rl``
      ``maml_rl/envs/mujoco/half_cheetah.py``.
    * Rakelly et al. 2019, "Efficient Off-Policy Meta-Reinforcement Learning via Probabilistic
      Context Variables"; ``katerakelly/oyster`` ``rlkit/envs/half_cheetah_dir.py`` and
      ``configs/cheetah-dir.json`` (2 tasks, used for training and evaluation).
    * Zintgraf et al. 2020, "VariBAD"; ``lmzintgraf/varibad``
      ``environments/mujoco/half_cheetah_dir.py``; learn2learn's
      ``HalfCheetahForwardBackwardEnv``.

    Deliberate differences: these sources append the torso's Cartesian position (20
    observations, including the absolute x position); we keep gymnasium's 17. dt (0.05 s), the
    reward and its coefficients are the same; the model is gymnasium's v5 ``half_cheetah.xml``
    on the ``mujoco`` bindings.

    ## Version History

    * v0: initial release.
    """

    test_seed = 302

    def __init__(
        self,
        forward_reward_weight: float = 1.0,
        ctrl_cost_weight: float = 0.05,
        reset_noise_scale: float = 0.1,
        **kwargs: Any,
    ) -> None:
        HalfCheetahEnv.__init__(
            self,
            forward_reward_weight=forward_reward_weight,
            ctrl_cost_weight=ctrl_cost_weight,
            reset_noise_scale=reset_noise_scale,
            **kwargs,
        )
        utils.EzPickle.__init__(
            self,
            forward_reward_weight=forward_reward_weight,
            ctrl_cost_weight=ctrl_cost_weight,
            reset_noise_scale=reset_noise_scale,
            **kwargs,
        )
        self._init_tasks()

    def _task_reward(self, x_velocity: float) -> float:
        return self._forward_reward_weight * self._direction * x_velocity
