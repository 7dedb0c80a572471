"""Speed of the MuJoCo reward-varied families against gymnasium's own v5 env of the same body.

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_mujoco_reward.py``; the ratios are
printed at the end (benchmarks/conftest.py).

* ``test_step[<id>]``: the family's ``env.step`` against gymnasium's v5 env of the same body,
  both unwrapped. The two are interleaved round by round: each round first steps gymnasium's
  env (timed with the same ``time.perf_counter`` pytest-benchmark uses, in the untimed setup),
  then the family's env (timed by pytest-benchmark), with the same action from the same
  state: the families' physics is gymnasium's bit for bit, so both follow one trajectory, and
  both see the same machine load. Both reset, untimed, after a termination or 200 steps. The
  goal is a ratio ≥ 1: the task machinery costs nothing per step.
* ``test_reset[<id>]``: ``reset`` after switching to another task (so the task is applied)
  against gymnasium's plain ``reset``, interleaved the same way.
* ``test_set_task*``: absolute latency of ``set_task`` with a task object, and with a mapping
  (which builds and validates the task). The goal is ≤ 5 µs.
"""

from __future__ import annotations

import statistics
import time
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.mujoco.ant_v5 import AntEnv
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv
from gymnasium.envs.mujoco.humanoid_v5 import HumanoidEnv

import metabench  # noqa: F401  (registers the ids)

HORIZON = 200
WARMUP = 200
# (gymnasium body, its kwargs that give the same observation and termination, timed rounds)
BODIES = {
    "MetaHalfCheetahVel-v0": (HalfCheetahEnv, {}, 10000),
    "MetaHalfCheetahDir-v0": (HalfCheetahEnv, {}, 10000),
    "MetaAntDir-v0": (AntEnv, {}, 4000),
    "MetaAntDir2D-v0": (AntEnv, {}, 4000),
    "MetaAntGoal-v0": (
        AntEnv,
        {"exclude_current_positions_from_observation": False, "terminate_when_unhealthy": False},
        4000,
    ),
    "MetaHumanoidDir-v0": (HumanoidEnv, {}, 2000),
    "MetaHumanoidFwdBack-v0": (HumanoidEnv, {}, 2000),
}


def make_pair(env_id: str) -> tuple[gym.Env, gym.Env]:
    """The family's env (with a sampled task) and gymnasium's, both unwrapped."""
    body, kwargs, _ = BODIES[env_id]
    ours = gym.make(env_id).unwrapped
    ours.set_task(ours.sample_tasks(1, seed=0)[0])
    return ours, body(**kwargs)


def reference_stats(name: str, durations: list[float]) -> dict:
    timed = durations[WARMUP:]
    return {"name": name, "median": statistics.median(timed), "min": min(timed)}


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize("env_id", list(BODIES))
def test_step(benchmark, env_id):
    ours, reference = make_pair(env_id)
    rounds = BODIES[env_id][2]
    actions = np.random.default_rng(0).uniform(
        ours.action_space.low, ours.action_space.high, (rounds + WARMUP, *ours.action_space.shape)
    )
    actions = iter(actions.astype(ours.action_space.dtype))
    durations: list[float] = []
    episode = {"steps": 0, "resets": 0}

    def step_reference_then_hand_over():
        if episode["steps"] == 0:
            for env in (ours, reference):
                env.reset(seed=episode["resets"])
            episode["resets"] += 1
        action = next(actions)
        start = time.perf_counter()
        _, _, terminated, _, _ = reference.step(action)
        durations.append(time.perf_counter() - start)
        # Same physics, same action: ``ours`` terminates on the same step as the reference.
        episode["steps"] = 0 if terminated or episode["steps"] + 1 == HORIZON else episode["steps"] + 1
        return (action,), {}

    benchmark.pedantic(ours.step, setup=step_reference_then_hand_over, rounds=rounds, warmup_rounds=WARMUP)
    benchmark.extra_info["reference"] = reference_stats(type(reference).__name__ + " v5 step", durations)


@pytest.mark.parametrize("env_id", list(BODIES))
def test_reset(benchmark, env_id):
    ours, reference = make_pair(env_id)
    tasks = ours.test_tasks()[:2]  # two different tasks: every reset applies a new one
    durations: list[float] = []

    def switch_task_and_reset_reference():
        ours.set_task(tasks[len(durations) % 2])
        start = time.perf_counter()
        reference.reset(seed=0)
        durations.append(time.perf_counter() - start)
        return (), {"seed": 0}

    benchmark.pedantic(ours.reset, setup=switch_task_and_reset_reference, rounds=1000, warmup_rounds=WARMUP)
    benchmark.extra_info["reference"] = reference_stats(type(reference).__name__ + " v5 reset", durations)


@pytest.mark.parametrize("env_id", list(BODIES))
def test_set_task(benchmark, env_id):
    env, _ = make_pair(env_id)
    task = env.sample_tasks(1, seed=2)[0]
    benchmark(env.set_task, task)
    assert env.get_task() == task


@pytest.mark.parametrize("env_id", ["MetaHalfCheetahVel-v0", "MetaAntGoal-v0"])
def test_set_task_from_mapping(benchmark, env_id):
    env, _ = make_pair(env_id)
    data = env.sample_tasks(1, seed=2)[0].to_dict()
    benchmark(env.set_task, data)
