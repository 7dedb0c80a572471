"""2-D point navigation to a goal with a dense reward, as in MAML (Finn et al. 2017)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from metabench.core import MetaEnv, Task, check_array
from metabench.protocol import Protocol


@dataclass(frozen=True)
class GoalTask(Task):
    """A goal position ``(x, y)``."""

    goal: tuple[float, float]

    def __post_init__(self) -> None:
        check_array(self, "goal", (2,))


class Navigation2D(MetaEnv, gym.Env):
    """## Description

    A point in the plane starts at the origin and moves by its (clipped) action each step
    towards a goal it cannot see.

    ## Task Distribution

    The goal ``(x, y) ~ U[-0.5, 0.5]²``. Support: any finite goal. Held-out split ``"test"``:
    40 goals from the same law (in-distribution; 40 is MAML's meta-batch size), pinned seed.

    ## Action Space

    ``Box(-0.1, 0.1, (2,))``: the displacement; actions outside are clipped to it. A NaN or
    infinite action raises ``ValueError``.

    ## Observation Space

    ``Box(-inf, inf, (2,), float32)``: the position (the goal is not observed).

    ## Rewards

    ``r = -‖s' − g‖₂``, with ``s'`` the position after the move. ``info["reward_dist"]``
    repeats it.

    ## Starting State

    ``(0, 0)``.

    ## Episode End

    Terminates when ``|x − g_x| < 0.01`` and ``|y − g_y| < 0.01`` (as in MAML's code);
    registered with ``max_episode_steps=100``.

    ## References

    Finn et al. 2017, "Model-Agnostic Meta-Learning for Fast Adaptation of Deep Networks",
    section 5.3; ``cbfinn/maml_rl`` (``maml_examples/point_env_randgoal.py``) and
    ``tristandeleu/pytorch-maml-rl`` (``maml_rl/envs/navigation.py``). Difference: the state is
    kept in float64 (observations are float32); the original kept float32 throughout.

    ## Version History

    * v0: initial release.
    """

    metadata = {"render_modes": []}
    task_type: type[Task] = GoalTask
    test_seed = 103
    test_splits = {"test": (40, "in-distribution: 40 goals from the training law")}
    #: MAML's evaluation (Finn et al. 2017, 2-D navigation; ``tristandeleu/pytorch-maml-rl``
    #: ``test.py``): 20 trajectories, one adaptation step, then 20 trajectories scored by their
    #: mean return.
    default_protocol = Protocol(
        rounds=2,
        episodes_per_round=20,
        scored_rounds=(1,),
        headline="mean_return",
        source="MAML (Finn et al. 2017): 20 trajectories per adaptation step, scored after one step",
    )
    #: Largest displacement per step along each axis.
    max_step = 0.1
    #: Termination tolerance along each axis (MAML's code).
    goal_tolerance = 0.01

    def __init__(self) -> None:
        self.observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.action_space = spaces.Box(-self.max_step, self.max_step, (2,), np.float32)
        self._position = np.zeros(2)
        self._goal = np.zeros(2)
        self._init_tasks()

    def default_task(self) -> Task:
        """The goal ``(0.25, 0.25)``."""
        return GoalTask((0.25, 0.25))

    def _sample_tasks(self, rng: np.random.Generator, n: int, split: str = "train") -> list[Task]:
        return [GoalTask(tuple(g)) for g in rng.uniform(-0.5, 0.5, size=(n, 2))]

    def _apply_task(self, task: Task) -> None:
        self._goal = np.array(task.goal)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._position = np.zeros(2)
        return self._position.astype(np.float32), {"task": self._active_task}

    def _move(self, action: Any) -> np.ndarray:
        """Clip and apply ``action``; return the offset from the goal after the move."""
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (2,) or not np.isfinite(action).all():
            raise ValueError(f"{type(self).__name__}.step: expected 2 finite numbers, got {action!r}")
        self._position = self._position + np.clip(action, -self.max_step, self.max_step)
        return self._position - self._goal

    def step(self, action: Any):
        offset = self._move(action)
        reward = -float(np.sqrt(offset @ offset))
        terminated = bool(np.all(np.abs(offset) < self.goal_tolerance))
        info = {"reward_dist": reward, "task": self._active_task}
        return self._position.astype(np.float32), reward, terminated, False, info
