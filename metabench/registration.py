"""The registry of metabench families: one line per gymnasium id.

``import metabench`` registers them all with gymnasium. Entry points are strings, so that a
spec serialises and ``import metabench`` stays cheap (no MuJoCo import until an env is made).
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym


@dataclass(frozen=True)
class Family:
    """One registered family.

    Attributes:
        id: the gymnasium id, ``Meta<Body><What>-v<N>``.
        entry_point: ``"module:Class"``.
        max_episode_steps: the horizon (truncation comes only from here).
        varies: what the task changes, for the README's table.
        source: the papers whose definition it follows.
    """

    id: str
    entry_point: str
    max_episode_steps: int
    varies: str
    source: str


FAMILIES: tuple[Family, ...] = (
    Family(
        "MetaBandit-v0",
        "metabench.envs.bandit:Bandit",
        1,
        "5 Bernoulli arm probabilities, each U(0, 1)",
        "RL² (Duan et al. 2016)",
    ),
    Family(
        "MetaTabularMDP-v0",
        "metabench.envs.tabular_mdp:TabularMDP",
        10,
        "mean rewards N(1, 1) and Dirichlet(1) transitions, 10 states × 5 actions",
        "RL² (Duan et al. 2016)",
    ),
    Family(
        "MetaNavigation2D-v0",
        "metabench.envs.navigation:Navigation2D",
        100,
        "goal position U[−0.5, 0.5]²",
        "MAML (Finn et al. 2017)",
    ),
    Family(
        "MetaNavigation2DSparse-v0",
        "metabench.envs.navigation_sparse:Navigation2DSparse",
        20,
        "goal on the unit half-circle, angle U(0, π); sparse reward",
        "PEARL (Rakelly et al. 2019)",
    ),
    Family(
        "MetaGridNavi-v0",
        "metabench.envs.grid_navi:GridNavi",
        15,
        "goal cell, uniform over 21 cells of a 5×5 grid",
        "VariBAD (Zintgraf et al. 2020)",
    ),
    Family(
        "MetaHalfCheetahVel-v0",
        "metabench.envs.half_cheetah_vel:HalfCheetahVel",
        200,
        "target forward velocity U(0, 3); OOD split U(3, 4]",
        "MAML (Finn et al. 2017), PEARL (Rakelly et al. 2019), VariBAD (Zintgraf et al. 2020)",
    ),
    Family(
        "MetaHalfCheetahDir-v0",
        "metabench.envs.half_cheetah_dir:HalfCheetahDir",
        200,
        "direction ±1 along x",
        "MAML (Finn et al. 2017), PEARL (Rakelly et al. 2019), VariBAD (Zintgraf et al. 2020)",
    ),
    Family(
        "MetaAntDir-v0",
        "metabench.envs.ant_dir:AntDir",
        200,
        "direction ±1 along x",
        "MAML (Finn et al. 2017), ProMP (Rothfuss et al. 2019)",
    ),
    Family(
        "MetaAntDir2D-v0",
        "metabench.envs.ant_dir_2d:AntDir2D",
        200,
        "heading angle U(0, 2π) in the plane",
        "PEARL (Rakelly et al. 2019)",
    ),
    Family(
        "MetaAntGoal-v0",
        "metabench.envs.ant_goal:AntGoal",
        200,
        "goal position uniform in the disc of radius 3",
        "ProMP (Rothfuss et al. 2019), PEARL (Rakelly et al. 2019), VariBAD (Zintgraf et al. 2020)",
    ),
    Family(
        "MetaHumanoidDir-v0",
        "metabench.envs.humanoid_dir:HumanoidDir",
        200,
        "heading angle U(0, 2π) in the plane",
        "PEARL (Rakelly et al. 2019), VariBAD (Zintgraf et al. 2020)",
    ),
    Family(
        "MetaHumanoidFwdBack-v0",
        "metabench.envs.humanoid_fwd_back:HumanoidFwdBack",
        200,
        "direction ±1 along x",
        "learn2learn, after ProMP (Rothfuss et al. 2019)",
    ),
    Family(
        "MetaWalker2dParams-v0",
        "metabench.envs.walker2d_params:Walker2dParams",
        200,
        "body mass, inertia, friction × 1.5^U(−3, 3), joint damping × 1.3^U(−3, 3), per element",
        "PEARL (Rakelly et al. 2019)",
    ),
    Family(
        "MetaHopperParams-v0",
        "metabench.envs.hopper_params:HopperParams",
        200,
        "body mass, inertia, friction × 1.5^U(−3, 3), joint damping × 1.3^U(−3, 3), per element",
        "PEARL (Rakelly et al. 2019)",
    ),
    Family(
        "MetaHalfCheetahParams-v0",
        "metabench.envs.half_cheetah_params:HalfCheetahParams",
        200,
        "body mass, inertia, friction × 1.5^U(−3, 3), joint damping × 1.3^U(−3, 3), per element",
        "PEARL's law (Rakelly et al. 2019) on the cheetah",
    ),
    Family(
        "MetaAntCrippled-v0",
        "metabench.envs.ant_crippled:AntCrippled",
        200,
        "one leg's two motors disabled; legs 0–2 in training, leg 3 held out",
        "Nagabandi et al. 2019",
    ),
    Family(
        "MetaHalfCheetahCrippled-v0",
        "metabench.envs.half_cheetah_crippled:HalfCheetahCrippled",
        200,
        "one joint's motor disabled; joints 1–5 in training, joint 0 held out",
        "Nagabandi et al. 2019",
    ),
)


def register_all() -> None:
    """Register every family with gymnasium (idempotent)."""
    for family in FAMILIES:
        if family.id not in gym.registry:
            gym.register(
                id=family.id,
                entry_point=family.entry_point,
                max_episode_steps=family.max_episode_steps,
                # gym.make_vec's default: sub-envs stepped on threads (see metabench/vector.py).
                vector_entry_point=f"metabench.vector:{family.id}",
            )
