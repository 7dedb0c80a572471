"""Grid navigation to an unseen goal cell, as in VariBAD (Zintgraf et al. 2020)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from metabench.core import InvalidTaskError, MetaEnv, Task, check_scalar
from metabench.protocol import Protocol

#: Action index -> (dx, dy): stay, up, right, down, left (VariBAD's order).
MOVES = np.array([(0, 0), (0, 1), (1, 0), (0, -1), (-1, 0)])


@dataclass(frozen=True)
class GridGoalTask(Task):
    """The goal cell ``(x, y)``."""

    x: int
    y: int

    def __post_init__(self) -> None:
        check_scalar(self, "x", 0, float("inf"), integer=True)
        check_scalar(self, "y", 0, float("inf"), integer=True)


class GridNavi(MetaEnv, gym.Env):
    """## Description

    An agent starts in the corner cell ``(0, 0)`` of a ``size × size`` grid and must find an
    unseen goal cell, then stay on it.

    ## Task Distribution

    The goal is uniform over the cells outside the 2×2 start corner (21 cells on the 5×5
    grid). Support: those cells. Held-out split ``"test"``: every one of those cells once
    (21 tasks, in-distribution). The family is finite and small, so no cell is held out of
    training: as in VariBAD, it measures how fast an agent finds a goal among known
    possibilities, not generalisation to new goals.

    ## Action Space

    ``Discrete(5)``: stay, up (+y), right (+x), down (−y), left (−x). Moves into a wall
    leave the agent in place.

    ## Observation Space

    ``Box(0, size − 1, (2,), float32)``: the agent's cell.

    ## Rewards

    ``+1`` when the cell after the move is the goal, ``−0.1`` otherwise
    (``info["reward_goal"]`` repeats it).

    ## Starting State

    ``(0, 0)``.

    ## Episode End

    No termination; registered with ``max_episode_steps=15`` (VariBAD).

    ## Arguments

    ``size`` (default 5).

    ## References

    Zintgraf et al. 2020, "VariBAD: A Very Good Method for Bayes-Adaptive Deep RL via
    Meta-Learning", section 5.1; ``lmzintgraf/varibad`` (``environments/navigation/gridworld.py``).

    ## Version History

    * v0: initial release.
    """

    metadata = {"render_modes": []}
    task_type = GridGoalTask
    test_seed = 105
    test_splits = {"test": (21, "in-distribution: each of the 21 goal cells once")}
    #: VariBAD's Bayes-adaptive setting (Zintgraf et al. 2020; ``lmzintgraf/varibad``
    #: ``config/gridworld``, ``max_rollouts_per_task = 4``): 4 consecutive episodes on one goal,
    #: scored by their total return (the BAMDP return an agent should maximise).
    default_protocol = Protocol(
        rounds=4,
        episodes_per_round=1,
        scored_rounds=(0, 1, 2, 3),
        headline="cumulative_return",
        source="VariBAD (Zintgraf et al. 2020): total return over 4 episodes on one goal",
    )

    def __init__(self, size: int = 5) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 3:
            raise ValueError(f"GridNavi: expected size to be an integer >= 3, got {size!r}")
        self.size = size
        self.goals = [(x, y) for x in range(size) for y in range(size) if x > 1 or y > 1]
        self.observation_space = spaces.Box(0.0, size - 1.0, (2,), np.float32)
        self.action_space = spaces.Discrete(len(MOVES))
        self._cell = np.zeros(2, dtype=np.int64)
        self._goal = np.zeros(2, dtype=np.int64)
        self._init_tasks()

    def default_task(self) -> Task:
        """The far corner."""
        return GridGoalTask(self.size - 1, self.size - 1)

    def _sample_tasks(self, rng: np.random.Generator, n: int, split: str = "train") -> list[Task]:
        if split == "test":
            return [GridGoalTask(x, y) for x, y in self.goals]
        return [GridGoalTask(*self.goals[i]) for i in rng.integers(len(self.goals), size=n)]

    def _check_support(self, task: Task) -> None:
        if (task.x, task.y) not in self.goals:
            raise InvalidTaskError(
                f"GridNavi.set_task: expected a goal cell inside the {self.size}x{self.size} grid "
                f"and outside the 2x2 start corner, got ({task.x}, {task.y})"
            )

    def _apply_task(self, task: Task) -> None:
        self._goal = np.array([task.x, task.y])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._cell = np.zeros(2, dtype=np.int64)
        return self._cell.astype(np.float32), {"task": self._active_task}

    def step(self, action: Any):
        if not self.action_space.contains(action):
            raise ValueError(f"GridNavi.step: expected an action in [0, {len(MOVES)}), got {action!r}")
        self._cell = np.clip(self._cell + MOVES[action], 0, self.size - 1)
        reward = 1.0 if (self._cell == self._goal).all() else -0.1
        return (
            self._cell.astype(np.float32),
            reward,
            False,
            False,
            {"reward_goal": reward, "task": self._active_task},
        )
