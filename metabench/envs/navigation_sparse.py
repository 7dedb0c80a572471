"""2-D point navigation to goals on a half-circle with a sparse reward, as in PEARL."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from metabench.core import Task, check_scalar
from metabench.envs.navigation import Navigation2D
from metabench.protocol import Protocol


@dataclass(frozen=True)
class SemicircleGoalTask(Task):
    """A goal at angle ``angle`` (radians, in [0, π]) on the unit half-circle."""

    angle: float

    def __post_init__(self) -> None:
        check_scalar(self, "angle", 0.0, math.pi)

    @property
    def goal(self) -> tuple[float, float]:
        """The goal position ``(cos θ, sin θ)``."""
        return (math.cos(self.angle), math.sin(self.angle))

    def to_vector(self) -> np.ndarray:
        return np.array(self.goal)


class Navigation2DSparse(Navigation2D):
    """## Description

    A point starts at the origin and must find a goal on the unit half-circle; it is paid only
    within ``goal_radius`` of the goal, so it has to explore along the arc.

    ## Task Distribution

    ``θ ~ U(0, π)``, goal ``(cos θ, sin θ)``. Support: ``θ ∈ [0, π]``. Held-out split
    ``"test"``: 20 angles from the same law (in-distribution; PEARL's 20 eval tasks), pinned
    seed.

    ## Action Space

    ``Box(-0.1, 0.1, (2,))``: the displacement, clipped; a NaN action raises ``ValueError``.

    ## Observation Space

    ``Box(-inf, inf, (2,), float32)``: the position.

    ## Rewards

    With ``d = ‖s' − g‖₂``: ``r = 1 − d`` if ``d ≤ goal_radius`` else ``0``.
    ``info["reward_dist"]`` is that sparse reward; ``info["reward_dense"] = −d`` is given for
    methods that train on the dense signal (PEARL's code does).

    ## Starting State

    ``(0, 0)``.

    ## Episode End

    No termination; registered with ``max_episode_steps=20`` (PEARL). VariBAD used 100:
    ``gym.make("MetaNavigation2DSparse-v0", max_episode_steps=100)``.

    ## Arguments

    ``goal_radius`` (default 0.2).

    ## References

    Rakelly et al. 2019, "Efficient Off-Policy Meta-Reinforcement Learning via Probabilistic
    Context Variables" (PEARL), sparse 2-D navigation; ``katerakelly/oyster``
    (``rlkit/envs/point_robot.py``, ``SparsePointEnv``) and ``lmzintgraf/varibad``
    (``environments/navigation/point_robot.py``). Differences: PEARL's env returns the dense
    reward and its sampler swaps in the sparse one; we return the sparse reward, as VariBAD
    does. PEARL spaces its goals evenly (``linspace``) over the arc; we draw θ uniformly.

    ## Version History

    * v0: initial release.
    """

    task_type = SemicircleGoalTask
    test_seed = 104
    test_splits = {"test": (20, "in-distribution: 20 angles from the training law")}
    #: PEARL's online evaluation of the sparse point robot (``katerakelly/oyster``,
    #: ``configs/sparse-point-robot.json``: 400 eval steps = 20 trajectories of 20 steps, the
    #: first ``num_exp_traj_eval = 5`` exploratory, the posterior updated after each). PEARL
    #: reports the last trajectory's return; we score the mean of the last round of 5, which
    #: measures the same adapted behaviour with less variance.
    default_protocol = Protocol(
        rounds=4,
        episodes_per_round=5,
        scored_rounds=(3,),
        headline="mean_return",
        source="PEARL (Rakelly et al. 2019) sparse point robot: 20 online trajectories, last ones scored",
    )

    def __init__(self, goal_radius: float = 0.2) -> None:
        if not (isinstance(goal_radius, (int, float)) and 0 < goal_radius < math.inf):
            raise ValueError(f"Navigation2DSparse: expected a positive goal_radius, got {goal_radius!r}")
        self.goal_radius = float(goal_radius)
        super().__init__()

    def default_task(self) -> Task:
        """The goal straight up, ``θ = π/2``."""
        return SemicircleGoalTask(math.pi / 2)

    def _sample_tasks(self, rng: np.random.Generator, n: int, split: str = "train") -> list[Task]:
        return [SemicircleGoalTask(float(a)) for a in rng.uniform(0.0, math.pi, size=n)]

    def step(self, action):
        offset = self._move(action)
        distance = float(np.sqrt(offset @ offset))
        reward = 1.0 - distance if distance <= self.goal_radius else 0.0
        info = {"reward_dist": reward, "reward_dense": -distance, "task": self._active_task}
        return self._position.astype(np.float32), reward, False, False, info
