"""Tier 1: the contract of DESIGN.md, checked on every registered family."""

from __future__ import annotations

import json
import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import metabench
from metabench import InvalidTaskError

IDS = [family.id for family in metabench.FAMILIES]


def rollout(env: gym.Env, seed: int, steps: int, action_seed: int = 0) -> list:
    """Observations, rewards and flags of ``steps`` random steps, resetting at episode ends."""
    env.action_space.seed(action_seed)
    obs, _ = env.reset(seed=seed)
    trace = [np.asarray(obs).copy()]
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        trace += [np.asarray(obs).copy(), float(reward), terminated, truncated]
        if terminated or truncated:
            obs, _ = env.reset()
            trace.append(np.asarray(obs).copy())
    return trace


def assert_same_trace(a: list, b: list) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.fixture(params=IDS)
def env_id(request) -> str:
    return request.param


def test_registered_with_horizon(env_id):
    spec = gym.spec(env_id)
    assert spec.max_episode_steps and spec.max_episode_steps > 0
    assert isinstance(spec.entry_point, str), "entry points must be strings so specs serialise"


def test_check_env_passes_without_warnings(env_id):
    """Every warning fails the test but one: check_env flags any infinite Box bound, and
    positions and velocities are genuinely unbounded (gymnasium's own v5 MuJoCo envs declare
    the same infinite observation bounds)."""
    env = gym.make(env_id)
    env.unwrapped.set_task(env.unwrapped.sample_tasks(1, seed=0)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings(
            "ignore", message=r".*Box observation space (min|max)imum value is -?infinity"
        )
        check_env(env.unwrapped, skip_render_check=True)


def test_default_task_lets_make_then_reset_work(env_id):
    env = gym.make(env_id)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert info["task"] == env.unwrapped.default_task() == env.unwrapped.get_task()


def test_same_seed_and_task_give_the_same_trajectory(env_id):
    first, second = gym.make(env_id), gym.make(env_id)
    task = first.unwrapped.sample_tasks(1, seed=3)[0]
    for env in (first, second):
        env.unwrapped.set_task(task)
    assert_same_trace(rollout(first, seed=7, steps=60), rollout(second, seed=7, steps=60))


def test_tasks_round_trip_through_json(env_id):
    env = gym.make(env_id)
    for task in env.unwrapped.sample_tasks(3, seed=1) + env.unwrapped.test_tasks()[:2]:
        text = json.dumps(task.to_dict())
        back = type(task).from_dict(json.loads(text))
        assert back == task
        assert type(task).from_json(task.to_json()) == task
        env.unwrapped.set_task(json.loads(text))  # a plain mapping is accepted too
        assert env.unwrapped.get_task() == task


def test_pickling_keeps_the_task(env_id):
    env = gym.make(env_id)
    task = env.unwrapped.sample_tasks(1, seed=2)[0]
    env.unwrapped.set_task(task)
    clone = pickle.loads(pickle.dumps(env))
    assert clone.unwrapped.get_task() == task
    assert_same_trace(rollout(clone, seed=4, steps=30), rollout(env, seed=4, steps=30))


def test_set_task_survives_reset_and_applies_at_reset(env_id):
    env = gym.make(env_id)
    task = env.unwrapped.sample_tasks(1, seed=5)[0]
    env.unwrapped.set_task(task)
    assert env.unwrapped.get_task() == task  # visible at once
    _, info = env.reset(seed=0)
    assert info["task"] == task
    env.step(env.action_space.sample())
    _, info = env.reset()
    assert info["task"] == task and env.unwrapped.get_task() == task


def test_set_task_mid_episode_takes_effect_at_next_reset(env_id):
    env = gym.make(env_id)
    old, new = env.unwrapped.sample_tasks(2, seed=6)
    env.unwrapped.set_task(old)
    env.reset(seed=0)
    env.unwrapped.set_task(new)
    *_, info = env.step(env.action_space.sample())
    assert info["task"] == old
    _, info = env.reset()
    assert info["task"] == new


def test_sample_tasks_is_reproducible_from_its_seed(env_id):
    env = gym.make(env_id).unwrapped
    assert env.sample_tasks(5, seed=11) == env.sample_tasks(5, seed=11)
    assert env.sample_tasks(5, seed=np.random.default_rng(11)) == env.sample_tasks(5, seed=11)
    assert len(env.sample_tasks(0)) == 0
    with pytest.raises(ValueError, match="non-negative integer"):
        env.sample_tasks(-1)


def test_sample_tasks_ignores_global_random_state_and_reset_seed(env_id):
    env = gym.make(env_id)
    state = np.random.get_state()
    np.random.seed(0)
    env.reset(seed=123)
    a = env.unwrapped.sample_tasks(4, seed=9)
    np.random.seed(1)
    env.reset(seed=456)
    b = env.unwrapped.sample_tasks(4, seed=9)
    assert a == b
    np.random.seed(0)
    before = np.random.random()
    np.random.seed(0)
    env.unwrapped.sample_tasks(4)  # the env's own stream
    assert np.random.random() == before, "sample_tasks must not touch global np.random"
    np.random.set_state(state)


def test_test_tasks_are_fixed_and_not_a_training_stream(env_id):
    env, other = gym.make(env_id).unwrapped, gym.make(env_id).unwrapped
    for split, (size, description) in env.test_splits.items():
        tasks = env.test_tasks(split)
        assert len(tasks) == size and description
        assert tasks == other.test_tasks(split)
        for task in tasks:
            env.set_task(task)  # every held-out task is valid
    with pytest.raises(ValueError, match="unknown split"):
        env.test_tasks("no-such-split")
    test = env.test_tasks()
    if set(env.sample_tasks(1000, seed=0)) <= set(test):
        # The test set enumerates a finite family's whole support (directions ±1, GridNavi's
        # cells): a training draw of its size can equal it by chance, and there is no stream
        # to tell apart.
        return
    for seed in range(3):
        assert env.sample_tasks(len(test), seed=seed) != test


def test_vector_env_gets_a_task_per_sub_env(env_id):
    tasks = gym.make(env_id).unwrapped.sample_tasks(3, seed=8)
    vec = gym.make_vec(env_id, num_envs=3, vectorization_mode="sync")
    vec.set_attr("task", tasks)
    assert list(vec.get_attr("task")) == tasks
    vec.reset(seed=21)
    _, _, _, _, infos = vec.step(vec.action_space.sample())
    assert list(infos["task"]) == tasks
    # Each sub-env behaves like a single env with the same task, seed and actions.
    single = gym.make(env_id)
    single.unwrapped.set_task(tasks[1])
    single.reset(seed=22)
    vec.reset(seed=21)
    actions = vec.action_space.sample()
    vec_obs, vec_rewards, *_ = vec.step(actions)
    obs, reward, *_ = single.step(actions[1])
    np.testing.assert_array_equal(vec_obs[1], obs)
    assert vec_rewards[1] == reward
    vec.close()


def test_wrappers_reach_the_task_api(env_id):
    env = gym.make(env_id)
    tasks = env.get_wrapper_attr("sample_tasks")(2, seed=0)
    assert tasks == env.unwrapped.sample_tasks(2, seed=0)


@pytest.mark.parametrize("bad", [None, 3.0, "task", [1, 2]])
def test_set_task_rejects_the_wrong_type(env_id, bad):
    env = gym.make(env_id).unwrapped
    with pytest.raises(ValueError, match=env.task_type.__name__):
        env.set_task(bad)


def test_set_task_rejects_missing_unknown_and_non_finite_fields(env_id):
    env = gym.make(env_id).unwrapped
    data = env.sample_tasks(1, seed=0)[0].to_dict()
    name = next(iter(data))
    with pytest.raises(InvalidTaskError, match=f"missing \\['{name}'\\]"):
        env.set_task({k: v for k, v in data.items() if k != name})
    with pytest.raises(InvalidTaskError, match="unknown \\['zzz'\\]"):
        env.set_task({**data, "zzz": 1.0})
    for poison in (float("nan"), float("inf")):
        poisoned = np.array(data[name], dtype=float)
        poisoned.flat[0] = poison
        value = poisoned.tolist() if poisoned.ndim else float(poisoned)
        with pytest.raises(InvalidTaskError, match=name):
            env.set_task({**data, name: value})
    assert env.get_task() == env.default_task(), "a rejected task must leave the env unchanged"
