"""Tier 2 for the MuJoCo reward-varied families.

The reward is recomputed here from the MuJoCo state alone (``env.unwrapped.data`` before and
after each step) with the metabench v0 coefficients of shared/REFERENCE.md written out as
literals, so a wrong coefficient, velocity, contact term, survive bonus or termination in the
env fails. The rest checks that the reward depends on the task as it should, that the task
laws and held-out splits are the documented ones, and that everything but the reward is
gymnasium's own v5 env.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.mujoco.ant_v5 import AntEnv
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv
from gymnasium.envs.mujoco.humanoid_v5 import HumanoidEnv

import metabench  # noqa: F401  (registers the ids)
from metabench import InvalidTaskError
from metabench.envs.ant_goal import GoalPositionTask
from metabench.envs.half_cheetah_vel import VelocityTask
from metabench.envs.locomotion import DirectionTask, HeadingTask

HORIZON = 200


@dataclass(frozen=True)
class State:
    """What the reward is recomputed from, copied out of ``env.unwrapped.data``."""

    qpos: np.ndarray
    qvel: np.ndarray
    torso_xy: np.ndarray
    com_xy: np.ndarray
    cfrc_ext: np.ndarray


def state_of(env: gym.Env) -> State:
    model, data = env.unwrapped.model, env.unwrapped.data
    com = (model.body_mass[:, None] * data.xipos).sum(axis=0) / model.body_mass.sum()
    return State(
        data.qpos.copy(),
        data.qvel.copy(),
        data.body("torso").xpos[:2].copy(),
        com[:2],
        data.cfrc_ext.copy(),
    )


def ctrl_term(action: np.ndarray, weight: float) -> float:
    return -weight * float(np.sum(np.square(np.asarray(action, dtype=np.float64))))


def ant_terms(after: State, action, ctrl_weight: float, survive: float) -> tuple[dict, bool]:
    """Ctrl, contact and survive terms of gymnasium's v5 Ant; and whether it is unhealthy."""
    finite = np.isfinite(after.qpos).all() and np.isfinite(after.qvel).all()
    healthy = bool(finite and 0.2 <= after.qpos[2] <= 1.0)
    terms = {
        "reward_ctrl": ctrl_term(action, ctrl_weight),
        "reward_contact": -5e-4 * float(np.sum(np.square(np.clip(after.cfrc_ext, -1.0, 1.0)))),
        "reward_survive": survive if healthy else 0.0,
    }
    return terms, not healthy


def humanoid_terms(after: State, action) -> tuple[dict, bool]:
    """Ctrl, capped contact and survive terms of gymnasium's v5 Humanoid; and unhealthy."""
    healthy = bool(1.0 < after.qpos[2] < 2.0)
    terms = {
        "reward_ctrl": ctrl_term(action, 0.1),
        "reward_contact": -min(5e-7 * float(np.sum(np.square(after.cfrc_ext))), 10.0),
        "reward_survive": 5.0 if healthy else 0.0,
    }
    return terms, not healthy


def unit(angle: float) -> np.ndarray:
    return np.array([math.cos(angle), math.sin(angle)])


# Each takes (task, state before, state after, action) and returns the reward terms and
# whether the step terminates the episode.
Expectation = Callable[[Any, State, State, np.ndarray], tuple[dict, bool]]


def cheetah_vel(task, before, after, action):
    v = (after.qpos[0] - before.qpos[0]) / 0.05
    return {"reward_forward": -abs(v - task.velocity), "reward_ctrl": ctrl_term(action, 0.05)}, False


def cheetah_dir(task, before, after, action):
    v = (after.qpos[0] - before.qpos[0]) / 0.05
    return {"reward_forward": task.direction * v, "reward_ctrl": ctrl_term(action, 0.05)}, False


def ant_dir(task, before, after, action):
    v = (after.torso_xy - before.torso_xy) / 0.05
    terms, unhealthy = ant_terms(after, action, 0.5, 1.0)
    return {"reward_forward": task.direction * v[0], **terms}, unhealthy


def ant_dir_2d(task, before, after, action):
    v = (after.torso_xy - before.torso_xy) / 0.05
    terms, unhealthy = ant_terms(after, action, 0.5, 1.0)
    return {"reward_forward": float(unit(task.angle) @ v), **terms}, unhealthy


def ant_goal(task, before, after, action):
    terms, _ = ant_terms(after, action, 0.1, 0.0)
    dist = -float(np.abs(after.torso_xy - np.array(task.goal)).sum())
    return {"reward_dist": dist, **terms}, False  # never terminates


def humanoid_dir(task, before, after, action):
    v = (after.com_xy - before.com_xy) / 0.015
    terms, unhealthy = humanoid_terms(after, action)
    return {"reward_forward": 1.25 * float(unit(task.angle) @ v), **terms}, unhealthy


def humanoid_fwd_back(task, before, after, action):
    v = (after.com_xy - before.com_xy) / 0.015
    terms, unhealthy = humanoid_terms(after, action)
    return {"reward_forward": 1.25 * task.direction * v[0], **terms}, unhealthy


@dataclass(frozen=True)
class Spec:
    expect: Expectation
    episodes: int  # whole episodes per task in the recomputation test
    terminates: bool
    body: type  # gymnasium's v5 env of the same body
    body_kwargs: dict
    obs_size: int


SPECS = {
    "MetaHalfCheetahVel-v0": Spec(cheetah_vel, 1, False, HalfCheetahEnv, {}, 17),
    "MetaHalfCheetahDir-v0": Spec(cheetah_dir, 1, False, HalfCheetahEnv, {}, 17),
    "MetaAntDir-v0": Spec(ant_dir, 3, True, AntEnv, {}, 105),
    "MetaAntDir2D-v0": Spec(ant_dir_2d, 3, True, AntEnv, {}, 105),
    "MetaAntGoal-v0": Spec(
        ant_goal,
        1,
        False,
        AntEnv,
        {"exclude_current_positions_from_observation": False, "terminate_when_unhealthy": False},
        107,
    ),
    "MetaHumanoidDir-v0": Spec(humanoid_dir, 3, True, HumanoidEnv, {}, 348),
    "MetaHumanoidFwdBack-v0": Spec(humanoid_fwd_back, 3, True, HumanoidEnv, {}, 348),
}
IDS = list(SPECS)


def test_every_mujoco_family_is_covered():
    registered = {f.id for f in metabench.FAMILIES if f.entry_point.split(":")[0] in _MUJOCO_MODULES}
    assert registered == set(SPECS)


_MUJOCO_MODULES = {
    "metabench.envs.half_cheetah_vel",
    "metabench.envs.half_cheetah_dir",
    "metabench.envs.ant_dir",
    "metabench.envs.ant_dir_2d",
    "metabench.envs.ant_goal",
    "metabench.envs.humanoid_dir",
    "metabench.envs.humanoid_fwd_back",
}


def reward_terms(info: dict) -> list[str]:
    return [key for key in info if key.startswith("reward_")]


@pytest.mark.parametrize("env_id", IDS)
def test_reward_recomputed_from_the_mujoco_state(env_id):
    """Random actions over whole episodes (terminations and truncations), two tasks in turn
    in one env, so that switching tasks is checked too."""
    spec = SPECS[env_id]
    env = gym.make(env_id)
    env.action_space.seed(0)
    tasks = env.unwrapped.test_tasks()[:2]
    ends = []
    for i, task in enumerate(tasks):
        env.unwrapped.set_task(task)
        for episode in range(spec.episodes):
            env.reset(seed=10 * i + episode)
            for step in range(1, HORIZON + 1):
                before = state_of(env)
                action = env.action_space.sample()
                _, reward, terminated, truncated, info = env.step(action)
                expected, expect_terminated = spec.expect(task, before, state_of(env), action)

                assert info["task"] == task
                assert reward_terms(info) == list(expected)
                for key, value in expected.items():
                    assert info[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
                total = 0.0
                for key in reward_terms(info):
                    total += info[key]
                assert reward == total, "the reward must be exactly the sum of its terms"
                assert terminated == expect_terminated
                assert truncated == (step == HORIZON and not terminated)
                if terminated or truncated:
                    ends.append("terminated" if terminated else "truncated")
                    break
    assert len(ends) == len(tasks) * spec.episodes
    if spec.terminates:
        assert "terminated" in ends, "the episodes should include a termination"
    else:
        assert set(ends) == {"truncated"}


def pushed_step(env_id: str, task, velocity_xy: tuple[float, float]) -> tuple[float, dict]:
    """Reset, give the root a planar velocity, take one step with zero torques."""
    env = gym.make(env_id)
    env.unwrapped.set_task(task)
    env.reset(seed=0)
    data = env.unwrapped.data
    qpos, qvel = data.qpos.copy(), data.qvel.copy()
    free_joint = env.unwrapped.model.jnt_type[0] == 0  # mjJNT_FREE: the ant and the humanoid
    qvel[0] = velocity_xy[0]
    if free_joint:
        qvel[1] = velocity_xy[1]
    env.unwrapped.set_state(qpos, qvel)
    _, reward, _, _, info = env.step(np.zeros(env.action_space.shape, dtype=np.float32))
    return reward, info


@pytest.mark.parametrize("env_id", ["MetaHalfCheetahDir-v0", "MetaAntDir-v0", "MetaHumanoidFwdBack-v0"])
def test_running_forward_earns_more_forward_than_backward(env_id):
    forward, info = pushed_step(env_id, DirectionTask(1.0), (2.0, 0.0))
    backward, _ = pushed_step(env_id, DirectionTask(-1.0), (2.0, 0.0))
    assert info["x_velocity"] > 0.5
    assert forward > backward


@pytest.mark.parametrize("env_id", ["MetaAntDir2D-v0", "MetaHumanoidDir-v0"])
def test_running_along_the_heading_earns_more_than_across_or_against_it(env_id):
    push = 1.0  # radians: an arbitrary heading that is neither axis
    rewards = [
        pushed_step(env_id, HeadingTask(push + offset), tuple(2.0 * unit(push)))[0]
        for offset in (0.0, math.pi / 2, math.pi)
    ]
    assert rewards[0] > rewards[1] > rewards[2]


def test_the_closer_velocity_target_earns_more():
    targets = [0.0, 1.0, 2.0, 3.0, 3.5]
    results = [pushed_step("MetaHalfCheetahVel-v0", VelocityTask(t), (2.0, 0.0)) for t in targets]
    speed = results[0][1]["x_velocity"]
    assert speed > 1.0 and speed < 3.0, speed  # the push lands between the targets
    by_distance = [r for _, r in sorted((abs(t - speed), r) for t, (r, _) in zip(targets, results))]
    assert by_distance == sorted(by_distance, reverse=True)


def test_the_closer_goal_earns_more():
    goals = [(0.5, 0.0), (1.5, 1.0), (0.0, -3.0), (-2.0, 2.0)]
    rewards = [pushed_step("MetaAntGoal-v0", GoalPositionTask(g), (0.0, 0.0))[0] for g in goals]
    assert rewards == sorted(rewards, reverse=True)  # goals listed by L1 distance from the start


@pytest.mark.parametrize("env_id", IDS)
def test_everything_but_the_reward_is_gymnasiums_v5_env(env_id):
    """Same seeds and actions: the same observations, bit for bit, and the same terminations as
    gymnasium's own env of the same body (which also shows that the observation holds neither
    the task nor, except for AntGoal, the position)."""
    spec = SPECS[env_id]
    ours = gym.make(env_id).unwrapped
    ours.set_task(ours.sample_tasks(1, seed=1)[0])
    reference = spec.body(**spec.body_kwargs)
    assert ours.observation_space == reference.observation_space
    assert ours.observation_space.shape == (spec.obs_size,)
    assert ours.action_space == reference.action_space
    assert ours.dt == reference.dt
    actions = np.random.default_rng(0).uniform(
        ours.action_space.low, ours.action_space.high, (60, *ours.action_space.shape)
    )
    for seed in range(2):
        obs, _ = ours.reset(seed=seed)
        ref_obs, _ = reference.reset(seed=seed)
        np.testing.assert_array_equal(obs, ref_obs)
        for action in actions:
            obs, _, terminated, _, info = ours.step(action)
            ref_obs, _, ref_terminated, _, ref_info = reference.step(action)
            np.testing.assert_array_equal(obs, ref_obs)
            assert terminated == ref_terminated
            for key in ("x_position", "x_velocity", "y_velocity", "distance_from_origin"):
                if key in ref_info:
                    assert info[key] == pytest.approx(ref_info[key], rel=1e-12, abs=1e-12)
            if terminated:
                break
    if env_id == "MetaAntGoal-v0":  # the goal family needs its position
        np.testing.assert_array_equal(obs[:2], ours.data.qpos[:2])


@pytest.mark.parametrize(
    ("env_id", "task", "kwargs"),
    [
        ("MetaHalfCheetahDir-v0", DirectionTask(1.0), {"ctrl_cost_weight": 0.1}),
        ("MetaAntDir-v0", DirectionTask(1.0), {}),
        ("MetaAntDir2D-v0", HeadingTask(0.0), {}),
        ("MetaHumanoidDir-v0", HeadingTask(0.0), {}),
        ("MetaHumanoidFwdBack-v0", DirectionTask(1.0), {}),
    ],
)
def test_along_plus_x_with_gymnasiums_weights_the_reward_is_gymnasiums(env_id, task, kwargs):
    ours = gym.make(env_id, **kwargs).unwrapped
    ours.set_task(task)
    reference = SPECS[env_id].body()
    actions = (
        np.random.default_rng(1)
        .uniform(ours.action_space.low, ours.action_space.high, (40, *ours.action_space.shape))
        .astype(np.float32)
    )
    ours.reset(seed=3)
    reference.reset(seed=3)
    for action in actions:
        _, reward, terminated, _, info = ours.step(action)
        _, ref_reward, _, _, ref_info = reference.step(action)
        # gymnasium squares float32 actions in float32; we use the float64 control.
        assert reward == pytest.approx(ref_reward, rel=1e-6, abs=1e-6)
        for key in reward_terms(ref_info):
            assert info[key] == pytest.approx(ref_info[key], rel=1e-6, abs=1e-6), key
        if terminated:
            break


@pytest.mark.parametrize("env_id", IDS)
def test_observations_do_not_depend_on_the_task(env_id):
    envs = [gym.make(env_id) for _ in range(2)]
    tasks = envs[0].unwrapped.sample_tasks(64, seed=4)
    tasks = [tasks[0], next(t for t in tasks if t != tasks[0])]
    actions = np.random.default_rng(2).uniform(-0.4, 0.4, (30, *envs[0].action_space.shape))
    traces = []
    for env, task in zip(envs, tasks):
        env.unwrapped.set_task(task)
        obs, _ = env.reset(seed=5)
        trace = [obs]
        for action in actions:
            obs, _, terminated, _, _ = env.step(action)
            trace.append(obs)
            if terminated:
                break
        traces.append(np.array(trace))
    np.testing.assert_array_equal(traces[0], traces[1])


def test_set_task_reloads_nothing():
    env = gym.make("MetaHumanoidDir-v0")
    model, data = env.unwrapped.model, env.unwrapped.data
    for task in env.unwrapped.sample_tasks(3, seed=0):
        env.unwrapped.set_task(task)
        env.reset()
        assert env.unwrapped.model is model and env.unwrapped.data is data


# -- task laws and held-out splits -------------------------------------------------------------

N = 4000  # draws for the moment checks; tolerances are about 5 standard errors


def test_cheetah_velocity_law_and_splits():
    env = gym.make("MetaHalfCheetahVel-v0").unwrapped
    v = np.array([t.velocity for t in env.sample_tasks(N, seed=0)])
    assert v.min() >= 0.0 and v.max() < 3.0
    assert v.mean() == pytest.approx(1.5, abs=0.07)
    assert v.var() == pytest.approx(0.75, abs=0.05)  # U(0, 3): 9 / 12
    test = [t.velocity for t in env.test_tasks("test")]
    ood = [t.velocity for t in env.test_tasks("test-ood")]
    assert len(test) == len(ood) == 30  # PEARL's 30 evaluation tasks
    assert all(0.0 <= x < 3.0 for x in test)
    assert all(3.0 < x <= 4.0 for x in ood)
    assert env.default_task() == VelocityTask(1.5)


def test_cheetah_velocity_range_kwarg_moves_the_law_and_survives_pickling():
    env = pickle.loads(pickle.dumps(gym.make("MetaHalfCheetahVel-v0", velocity_range=(0.0, 2.0))))
    v = np.array([t.velocity for t in env.unwrapped.sample_tasks(N, seed=0)])
    assert v.max() < 2.0 and v.mean() == pytest.approx(1.0, abs=0.05)
    assert all(t.velocity < 2.0 for t in env.unwrapped.test_tasks("test"))
    assert all(2.0 < t.velocity <= 3.0 for t in env.unwrapped.test_tasks("test-ood"))
    assert "U(0, 2)" in env.unwrapped.test_splits["test"][1]
    env.unwrapped.set_task(VelocityTask(3.5))  # the support is wider than the training law


@pytest.mark.parametrize("bad", [(2.0, 1.0), (-1.0, 1.0), (0.0, float("inf"))])
def test_cheetah_velocity_range_is_validated(bad):
    with pytest.raises(ValueError, match="velocity_range"):
        gym.make("MetaHalfCheetahVel-v0", velocity_range=bad)


@pytest.mark.parametrize("env_id", ["MetaHalfCheetahDir-v0", "MetaAntDir-v0", "MetaHumanoidFwdBack-v0"])
def test_direction_law_and_split(env_id):
    env = gym.make(env_id).unwrapped
    d = np.array([t.direction for t in env.sample_tasks(N, seed=0)])
    assert set(d.tolist()) == {-1.0, 1.0}
    assert (d > 0).mean() == pytest.approx(0.5, abs=0.04)
    assert env.test_tasks() == [DirectionTask(1.0), DirectionTask(-1.0)]


@pytest.mark.parametrize("env_id", ["MetaAntDir2D-v0", "MetaHumanoidDir-v0"])
def test_heading_law_and_split(env_id):
    env = gym.make(env_id).unwrapped
    angles = np.array([t.angle for t in env.sample_tasks(N, seed=0)])
    assert angles.min() >= 0.0 and angles.max() < 2 * math.pi
    assert np.cos(angles).mean() == pytest.approx(0.0, abs=0.06)
    assert np.sin(angles).mean() == pytest.approx(0.0, abs=0.06)
    assert np.cos(2 * angles).mean() == pytest.approx(0.0, abs=0.06)
    assert len(env.test_tasks()) == 30


def test_goal_law_and_split():
    env = gym.make("MetaAntGoal-v0").unwrapped
    goals = np.array([t.goal for t in env.sample_tasks(N, seed=0)])
    r2 = (goals**2).sum(axis=1)
    assert r2.max() <= 9.0
    # Uniform in the disc: r² ~ U(0, 9). A radius uniform in [0, 3] would put half inside 1.5.
    assert (r2 < 2.25).mean() == pytest.approx(0.25, abs=0.035)
    assert r2.mean() == pytest.approx(4.5, abs=0.2)
    assert np.abs(goals.mean(axis=0)).max() < 0.12
    assert len(env.test_tasks()) == 30
    wide = gym.make("MetaAntGoal-v0", goal_radius=1.0).unwrapped
    assert max(np.hypot(*t.goal) for t in wide.sample_tasks(200, seed=0)) <= 1.0


@pytest.mark.parametrize(
    ("make_task", "field"),
    [
        (lambda: VelocityTask(-0.5), "velocity"),
        (lambda: DirectionTask(0.0), "direction"),
        (lambda: DirectionTask(0.5), "direction"),
        (lambda: HeadingTask(-0.1), "angle"),
        (lambda: HeadingTask(7.0), "angle"),
        (lambda: GoalPositionTask((1.0,)), "goal"),
    ],
)
def test_tasks_outside_the_support_are_rejected(make_task, field):
    with pytest.raises(InvalidTaskError, match=field):
        make_task()
