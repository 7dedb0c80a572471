"""The task-batched vector env (metabench/vector.py): every sub-env is, bit for bit, a single env
with the same task, seed and actions, for every family, through episode ends and autoresets."""

from __future__ import annotations

import os
import threading
import time

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import metabench
from metabench import InvalidTaskError
from metabench.vector import MetaVectorEnv, StepChoice

IDS = [family.id for family in metabench.FAMILIES]
NUM_ENVS = 3
#: Short episodes, so that a short run crosses several truncations and autoresets.
HORIZON = 40
STEPS = 120


def same_bits(a, b) -> bool:
    """Equal as stored numbers: same dtype, shape and bytes (``-0.0 != 0.0``, NaN == NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def assert_info_row(infos: dict, row: int, info: dict) -> None:
    """Row ``row`` of batched ``infos`` holds exactly the single env's ``info``."""
    keys = {key for key in infos if not key.startswith("_") and infos[f"_{key}"][row]}
    assert keys == set(info)
    for key, value in info.items():
        got = infos[key][row]
        if isinstance(value, (float, np.floating)):
            assert same_bits(np.float64(got), np.float64(value)), key
        elif isinstance(value, np.ndarray):
            assert same_bits(got, value), key
        else:
            assert got == value, key


def actions_for(space: gym.Space, steps: int, seed: int) -> list[list]:
    space.seed(seed)
    return [[space.sample() for _ in range(NUM_ENVS)] for _ in range(steps)]


@pytest.mark.parametrize("num_procs", [1, 2], ids=["threads", "processes"])
@pytest.mark.parametrize("env_id", IDS)
def test_sub_envs_equal_single_envs_bit_for_bit(env_id, num_procs):
    """NEXT_STEP autoreset against single envs driven by hand: steps, ends, resets, infos; in
    one process, and split over two (sub-env 0 here, sub-envs 1 and 2 in a worker)."""
    vec = gym.make_vec(env_id, num_envs=NUM_ENVS, max_episode_steps=HORIZON, num_procs=num_procs)
    assert isinstance(vec, MetaVectorEnv) and vec.num_procs == num_procs
    singles = [gym.make(env_id, max_episode_steps=HORIZON) for _ in range(NUM_ENVS)]
    tasks = singles[0].unwrapped.sample_tasks(NUM_ENVS, seed=4)
    seeds = [11, 12, 13]
    vec.set_attr("task", tasks)
    obs, infos = vec.reset(seed=seeds)
    for i, (env, task, seed) in enumerate(zip(singles, tasks, seeds)):
        env.unwrapped.set_task(task)
        single_obs, single_info = env.reset(seed=seed)
        assert same_bits(obs[i], single_obs)
        assert_info_row(infos, i, single_info)
    ended = [False] * NUM_ENVS
    terminations = truncations = 0
    for actions in actions_for(singles[0].action_space, STEPS, seed=5):
        obs, rewards, terminated, truncated, infos = vec.step(np.stack(actions))
        for i, env in enumerate(singles):
            if ended[i]:  # NEXT_STEP: this step resets the sub-env and ignores its action
                expected = (*env.reset(), 0.0, False, False)
                expected = (expected[0], expected[2], expected[3], expected[4], expected[1])
            else:
                expected = env.step(actions[i])
            single_obs, reward, term, trunc, info = expected
            assert same_bits(obs[i], single_obs)
            assert same_bits(rewards[i], np.float64(reward))
            assert (terminated[i], truncated[i]) == (term, trunc)
            assert_info_row(infos, i, info)
            ended[i] = term or trunc
            terminations += term
            truncations += trunc and not term
    # The run crosses episode ends (and so autoresets) of the kind the family has.
    if env_id == "MetaBandit-v0" or getattr(singles[0].unwrapped, "_terminate_when_unhealthy", False):
        assert terminations > 0
    else:
        assert truncations > 0
    vec.close()


def run_both(env_id: str, mode: AutoresetMode, steps: int, **kwargs) -> None:
    """Our vector env against gymnasium's SyncVectorEnv (the reference of each autoreset mode)."""
    ours = MetaVectorEnv(env_id, NUM_ENVS, autoreset_mode=mode, max_episode_steps=HORIZON, **kwargs)
    theirs = SyncVectorEnv(
        [lambda: gym.make(env_id, max_episode_steps=HORIZON)] * NUM_ENVS, autoreset_mode=mode
    )
    tasks = ours.envs[0].unwrapped.sample_tasks(NUM_ENVS, seed=2)
    for vec in (ours, theirs):
        vec.set_attr("task", tasks)
    results = [vec.reset(seed=3) for vec in (ours, theirs)]
    ended = np.zeros(NUM_ENVS, dtype=bool)
    for actions in actions_for(ours.single_action_space, steps, seed=6):
        if mode is AutoresetMode.DISABLED and ended.any():
            mask = ended.copy()
            results = [vec.reset(options={"reset_mask": mask}) for vec in (ours, theirs)]
            ended[:] = False
        else:
            results = [vec.step(np.stack(actions)) for vec in (ours, theirs)]
            ended = results[0][2] | results[0][3]
        (a, *rest_a, infos_a), (b, *rest_b, infos_b) = results
        assert same_bits(a, b)
        for x, y in zip(rest_a, rest_b):
            assert same_bits(x, y)
        assert_same_infos(infos_a, infos_b)
    ours.close()
    theirs.close()


def assert_same_infos(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for key in a:
        if isinstance(a[key], dict):
            assert_same_infos(a[key], b[key])
        elif a[key].dtype == object:
            assert len(a[key]) == len(b[key])
            for x, y in zip(a[key], b[key]):
                assert same_bits(x, y) if isinstance(x, np.ndarray) else x == y
        else:
            assert same_bits(a[key], b[key]), key


@pytest.mark.parametrize("mode", list(AutoresetMode))
@pytest.mark.parametrize("env_id", ["MetaHopperParams-v0", "MetaGridNavi-v0"])
def test_every_autoreset_mode_matches_gymnasium(env_id, mode):
    run_both(env_id, mode, steps=60)


@pytest.mark.parametrize("mode", list(AutoresetMode))
def test_every_autoreset_mode_matches_gymnasium_across_processes(mode):
    """The batched cheetah split over two processes (SAME_STEP: its own steps)."""
    run_both("MetaHalfCheetahVel-v0", mode, steps=60, num_procs=2)


def test_pure_python_family_on_several_threads():
    """Threads are not the default for pure-Python families; forced, they still match."""
    run_both("MetaNavigation2D-v0", AutoresetMode.NEXT_STEP, steps=60, num_threads=3)


def test_default_threads_and_choices():
    bandit = MetaVectorEnv("MetaBandit-v0", 4)
    assert bandit.num_threads == 1 and bandit.step_choice is None
    cores = len(os.sched_getaffinity(0))
    cheetah = MetaVectorEnv("MetaHalfCheetahVel-v0", 4)
    assert cheetah.num_threads == min(cores, 4)
    if cheetah.num_threads > 1:
        most = cheetah.num_threads
        assert cheetah.step_choice.options == ((most, True), (most, False), (1, True))
        params = MetaVectorEnv("MetaHalfCheetahParams-v0", 4).step_choice
        assert params.options == ((most, False), (1, False))
        unbatched = MetaVectorEnv("MetaHalfCheetahVel-v0", 4, batched=False)
        assert not unbatched.batched and unbatched.step_choice.options == ((most, False), (1, False))
    assert MetaVectorEnv("MetaHalfCheetahVel-v0", 4, num_threads=2).step_choice is None
    assert MetaVectorEnv("MetaHalfCheetahVel-v0", 1).num_threads == 1
    with pytest.raises(ValueError, match="no batched step"):
        MetaVectorEnv("MetaHopperParams-v0", 2, batched=True)


def test_step_choice_probes_every_other_option():
    choice = StepChoice([(2, True), (2, False), (1, True)], period=10, probe=2)
    timings = {0: 2.0, 1: 3.0, 2: 1.0}
    picks = []
    for _ in range(20):
        option = choice.choose()
        picks.append(option)
        choice.record(option, timings[option], 10)
    assert picks[:3] == [0, 1, 2] and choice.best == 2  # each measured once
    # the first 4 calls of each cycle of 10 probe options 0, 0, 1, 1 (call 3 is in phase 3)
    assert picks[3] == 1 and picks[10:14] == [0, 0, 1, 1]
    assert set(picks[4:10] + picks[14:]) == {2}


def test_step_choice_follows_the_faster_option():
    choice = StepChoice([(2, False), (1, False)], period=10, probe=2, smoothing=0.5)
    timings = {0: 3.0, 1: 1.0}  # seconds per 10 steps: one thread is faster (a busy machine)
    picks = []
    for _ in range(30):
        option = choice.choose()
        picks.append(option)
        choice.record(option, timings[option], 10)
    assert picks[:2] == [0, 1]  # each measured once
    assert choice.cost == [0.3, 0.1] and choice.best == 1
    # then two probes of the slower option at the start of each cycle of ten calls
    assert [i for i, p in enumerate(picks) if p == 0] == [0, 10, 11, 20, 21]
    timings = {0: 0.5, 1: 1.0}  # the cores free up: the probes notice, threads take over
    for _ in range(12):
        option = choice.choose()
        choice.record(option, timings[option], 10)
    # probes at calls 30, 31 (0.3 -> 0.175 -> 0.1125: still slower) and 40 (-> 0.08125: faster,
    # so call 41 probes the single thread instead)
    assert choice.best == 0
    assert choice.cost == pytest.approx([0.08125, 0.1], rel=1e-12)


def test_step_some_moves_only_the_given_sub_envs():
    env_id = "MetaAntGoal-v0"
    vec = MetaVectorEnv(env_id, NUM_ENVS, autoreset_mode="Disabled")
    single = gym.make(env_id)
    task = single.unwrapped.sample_tasks(1, seed=0)[0]
    vec.set_attr("task", [task] * NUM_ENVS)
    single.unwrapped.set_task(task)
    obs, _ = vec.reset(seed=[5, 6, 7])
    single.reset(seed=7)
    action = single.action_space.sample()
    stepped = vec.step_some([2], [action])
    expected = single.step(action)
    assert same_bits(stepped[0][0], expected[0]) and stepped[1][0] == expected[1]
    assert stepped[0].shape == (1, *single.observation_space.shape)
    assert stepped[4]["task"][0] == task
    # the others did not move: a full step now equals their first step
    after, *_ = vec.step(np.stack([action] * NUM_ENVS))
    twin = gym.make(env_id)
    twin.unwrapped.set_task(task)
    twin.reset(seed=5)
    assert same_bits(after[0], twin.step(action)[0])
    with pytest.raises(ValueError, match="one action per index"):
        vec.step_some([0, 1], [action])
    with pytest.raises(ValueError, match="distinct indices"):
        vec.step_some([0, 0], [action, action])
    with pytest.raises(ValueError, match="distinct indices"):
        vec.step_some([NUM_ENVS], [action])
    vec.close()


def test_disabled_mode_refuses_to_step_an_ended_episode():
    vec = MetaVectorEnv("MetaBandit-v0", 2, autoreset_mode=AutoresetMode.DISABLED)
    vec.reset(seed=0)
    vec.step(np.array([0, 1]))  # a bandit episode is one pull
    with pytest.raises(ValueError, match=r"sub-envs \[0, 1\] have ended"):
        vec.step(np.array([0, 1]))
    vec.reset(options={"reset_mask": np.array([True, False])})
    with pytest.raises(ValueError, match=r"sub-envs \[1\] have ended"):
        vec.step(np.array([0, 1]))
    vec.step_some([0], [1])


def test_task_attributes_and_call():
    vec = gym.make_vec("MetaHalfCheetahVel-v0", num_envs=2)
    env = vec.envs[0].unwrapped
    tasks = env.sample_tasks(2, seed=3)
    vec.set_attr("task", tasks)
    assert vec.get_attr("task") == tuple(tasks)
    assert vec.call("get_task") == tuple(tasks)
    assert vec.call("sample_tasks", 1, seed=0) == (env.sample_tasks(1, seed=0),) * 2
    vec.set_attr("task", {"velocity": 1.5})  # one value for every sub-env
    assert [t.velocity for t in vec.get_attr("task")] == [1.5, 1.5]
    with pytest.raises(ValueError, match="expected 2 values"):
        vec.set_attr("task", tasks[:1])
    with pytest.raises(InvalidTaskError):
        vec.set_attr("task", [tasks[0], {"velocity": float("nan")}])
    vec.close()


def test_registration_and_modes():
    spec = gym.spec("MetaHumanoidDir-v0")
    assert spec.vector_entry_point == "metabench.vector:MetaHumanoidDir-v0"
    assert isinstance(gym.make_vec("MetaBandit-v0", 2, vectorization_mode="sync"), SyncVectorEnv)
    vec = gym.make_vec("MetaBandit-v0", 2, autoreset_mode=AutoresetMode.SAME_STEP)
    assert vec.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    assert vec.spec.id == "MetaBandit-v0"
    with pytest.raises(AttributeError):
        metabench.vector.NotAFamily  # noqa: B018


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_envs": 0}, "positive integer num_envs"),
        ({"num_envs": 2, "num_threads": 0}, "positive integer num_threads"),
        ({"num_envs": 2, "autoreset_mode": "sometimes"}, "autoreset_mode"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MetaVectorEnv("MetaBandit-v0", **kwargs)


def test_bad_reset_arguments():
    vec = MetaVectorEnv("MetaBandit-v0", 2)
    with pytest.raises(ValueError, match="expected 2 seeds"):
        vec.reset(seed=[1, 2, 3])
    with pytest.raises(ValueError, match="reset_mask"):
        vec.reset(options={"reset_mask": [True, False]})


def test_errors_in_worker_threads_reach_the_caller():
    vec = MetaVectorEnv("MetaHalfCheetahVel-v0", 4, num_threads=2)
    vec.reset(seed=0)
    with pytest.raises(ValueError):
        vec.step(np.zeros((4, 5)))  # the cheetah has 6 actuators
    vec.close()


def test_close_stops_the_threads():
    before = threading.active_count()
    vec = MetaVectorEnv("MetaHalfCheetahVel-v0", 4, num_threads=2)
    assert threading.active_count() == before + 1
    vec.close()
    assert threading.active_count() == before


# -- the default users: the evaluation harness and the baselines' sampler -----------------------


@pytest.mark.parametrize("env_id", ["MetaNavigation2D-v0", "MetaHopperParams-v0", "MetaAntDir-v0"])
def test_harness_vector_and_plain_rounds_give_the_same_result(env_id):
    """A parallel agent's rounds on the vector env (the default) equal the plain envs'."""
    import harness_agents

    from metabench.evaluation import evaluate
    from metabench.protocol import Protocol

    agent = harness_agents.noisy_straight if env_id == "MetaNavigation2D-v0" else _parallel_random
    protocol = Protocol(rounds=2, episodes_per_round=3, scored_rounds=(1,))
    kwargs = dict(seeds=[0, 1], task_indices=[0, 1], protocol=protocol)
    if env_id != "MetaNavigation2D-v0":
        kwargs["env_kwargs"] = {"max_episode_steps": 30}
    vector = evaluate(agent, env_id, **kwargs)
    plain = evaluate(agent, env_id, vector_env=False, **kwargs)
    assert vector.units == plain.units
    lengths = {n for u in plain.units for round_lengths in u.lengths for n in round_lengths}
    assert len(lengths) > 1, "episodes should end at different steps"


class _ParallelRandom:
    """Uniform random actions, drawn from the harness's per-episode generators, in batches."""

    name = "parallel-random"
    parallel_episodes = True

    def __init__(self, info) -> None:
        self.low, self.high = info.action_space.low, info.action_space.high

    def act(self, obs, rng):
        return rng.uniform(self.low, self.high)

    def act_batch(self, observations, rngs):
        return [self.act(obs, rng) for obs, rng in zip(observations, rngs)]


def _parallel_random(info):
    return _ParallelRandom(info)


def random_actor(space: gym.Space):
    """A batched random policy with its own torch stream (the same calls give the same actions)."""
    import torch

    generator = torch.Generator().manual_seed(0)

    def act(obs):
        if isinstance(space, gym.spaces.Discrete):
            return torch.randint(int(space.n), (obs.shape[0],), generator=generator)
        return torch.rand(obs.shape[0], space.shape[0], generator=generator) * 2 - 1

    return act


@pytest.mark.parametrize(
    ("env_id", "wrapper", "kwargs", "num_procs"),
    [
        ("MetaHopperParams-v0", None, {"max_episode_steps": 30}, 1),
        ("MetaAntDir-v0", None, {"max_episode_steps": 30}, 1),
        ("MetaTabularMDP-v0", metabench.TrialHistory, {}, 1),
        ("MetaHalfCheetahVel-v0", metabench.TrialHistory, {"max_episode_steps": 30}, 2),
    ],
)
def test_sampler_vector_and_plain_paths_give_the_same_episodes(env_id, wrapper, kwargs, num_procs):
    import torch

    from metabench.baselines.common.sampler import TaskBatchSampler

    episodes = []
    for vector_env in (True, False):
        sampler = TaskBatchSampler(
            env_id, 4, kwargs, wrapper=wrapper, vector_env=vector_env, num_procs=num_procs
        )
        assert (sampler.vector is not None) == vector_env
        tasks = sampler.envs[0].unwrapped.sample_tasks(3, seed=0)
        act = random_actor(sampler.action_space)
        # two calls: the second reuses the envs, with fewer columns than the pool
        episodes.append([sampler.sample(tasks, act, seeds=[1, 2, 3], episodes_per_task=3)])
        episodes[-1].append(sampler.sample(tasks[:2], act, seeds=[4, 5], episodes_per_task=2))
        sampler.close()
    for a, b in zip(*episodes):
        for name in ("obs", "actions", "rewards", "mask", "episode_ends"):
            assert torch.equal(getattr(a, name), getattr(b, name)), name
    ends = episodes[0][0].episode_ends.sum(0)
    assert (ends == 3).all()
    lengths = episodes[0][0].mask.sum(0)
    if env_id not in ("MetaTabularMDP-v0", "MetaHalfCheetahVel-v0"):  # the cheetah never falls
        assert len(set(lengths.tolist())) > 1, "columns should end at different steps"


def test_infos_can_be_switched_off():
    quiet = MetaVectorEnv("MetaNavigation2D-v0", 2, infos=False)
    loud = MetaVectorEnv("MetaNavigation2D-v0", 2)
    actions = np.full((2, 2), 0.05, dtype=np.float32)
    results = []
    for vec in (quiet, loud):
        vec.reset(seed=0)
        results.append(vec.step(actions))
    assert results[0][4] == {} and "task" in results[1][4]
    for a, b in zip(results[0][:4], results[1][:4]):
        assert same_bits(a, b)


#: The reward-varied MuJoCo families, whose steps the vector env batches (the equality tests
#: above then check the batched arithmetic against single envs).
BATCHED = {
    "MetaHalfCheetahVel-v0",
    "MetaHalfCheetahDir-v0",
    "MetaAntDir-v0",
    "MetaAntDir2D-v0",
    "MetaAntGoal-v0",
    "MetaHumanoidDir-v0",
    "MetaHumanoidFwdBack-v0",
}


def test_batched_step_where_it_applies():
    assert {env_id for env_id in IDS if MetaVectorEnv(env_id, 2).batched} == BATCHED
    assert not MetaVectorEnv("MetaHalfCheetahParams-v0", 2).batched  # gymnasium's own step
    assert not MetaVectorEnv("MetaHalfCheetahVel-v0", 2, wrappers=[metabench.TrialHistory]).batched
    assert not MetaVectorEnv("MetaHalfCheetahVel-v0", 2, autoreset_mode="SameStep").batched


@pytest.mark.parametrize("env_id", ["MetaHalfCheetahVel-v0", "MetaAntGoal-v0", "MetaHumanoidDir-v0"])
def test_staggered_episode_ends_match_gymnasium(env_id):
    """Sub-envs whose episodes end at different steps (a partial reset staggers their clocks):
    steps that reset some sub-envs and step the others, against SyncVectorEnv."""
    ours = MetaVectorEnv(env_id, NUM_ENVS, max_episode_steps=7)
    theirs = SyncVectorEnv([lambda: gym.make(env_id, max_episode_steps=7)] * NUM_ENVS)
    tasks = ours.envs[0].unwrapped.sample_tasks(NUM_ENVS, seed=1)
    for vec in (ours, theirs):
        vec.set_attr("task", tasks)
        vec.reset(seed=8)
    mixed = 0
    for t, actions in enumerate(actions_for(ours.single_action_space, 30, seed=3)):
        if t in (3, 5):
            mask = np.array([t == 3, t == 5, False])
            results = [vec.reset(options={"reset_mask": mask}) for vec in (ours, theirs)]
        else:
            results = [vec.step(np.stack(actions)) for vec in (ours, theirs)]
        (a, *rest_a, infos_a), (b, *rest_b, infos_b) = results
        assert same_bits(a, b)
        for x, y in zip(rest_a, rest_b):
            assert same_bits(x, y)
        assert_same_infos(infos_a, infos_b)
        if len(rest_a) == 3 and infos_a.get("_reward_ctrl") is not None:  # a step
            mixed += 0 < infos_a["_reward_ctrl"].sum() < NUM_ENVS
    assert mixed > 0, "some steps should reset some sub-envs and step the others"


@pytest.mark.parametrize("env_id", ["MetaHalfCheetahVel-v0", "MetaHopperParams-v0", "MetaNavigation2D-v0"])
def test_step_before_reset_is_refused(env_id):
    vec = MetaVectorEnv(env_id, 2)
    with pytest.raises(gym.error.ResetNeeded):
        vec.step(vec.action_space.sample())


class _TaskFrame(gym.Wrapper):
    """A stand-in renderer (no OpenGL here): the sub-env's task is its frame."""

    def render(self):
        return self.env.unwrapped.get_task()


def test_render_gives_each_sub_envs_frame():
    vec = MetaVectorEnv("MetaNavigation2D-v0", 2, wrappers=[_TaskFrame])
    tasks = vec.envs[0].unwrapped.sample_tasks(2, seed=0)
    vec.set_attr("task", tasks)
    assert vec.render() == tuple(tasks)


def test_a_family_that_changes_a_reproduced_term_is_not_batched():
    """The batch reproduces gymnasium's terms; a family overriding one steps on its own."""
    from metabench.envs.ant_goal import AntGoal

    class HeavyContacts(AntGoal):
        @property
        def contact_cost(self):
            return 2 * super().contact_cost

    env = gym.wrappers.TimeLimit(gym.wrappers.OrderEnforcing(HeavyContacts()), 10)
    assert metabench.vector._BatchStep.for_env(env) is None
    plain = gym.wrappers.TimeLimit(gym.wrappers.OrderEnforcing(AntGoal()), 10)
    assert metabench.vector._BatchStep.for_env(plain) is not None


# -- the process split (num_procs > 1) ----------------------------------------------------------


def child_pids() -> set[int]:
    pid = os.getpid()
    with open(f"/proc/{pid}/task/{pid}/children") as file:
        return {int(p) for p in file.read().split()}


@pytest.mark.skipif(not os.path.exists(f"/proc/{os.getpid()}/task"), reason="reads /proc")
def test_process_split_routes_every_call_to_its_sub_env():
    """4 sub-envs over 2 processes (0-1 here, 2-3 in the worker): step_some across the split,
    set_attr/get_attr/call per sub-env, DISABLED errors, worker errors, and close ends the worker."""
    env_id = "MetaAntGoal-v0"
    before = child_pids()
    vec = MetaVectorEnv(env_id, 4, num_procs=2, autoreset_mode="Disabled", max_episode_steps=5)
    worker = child_pids() - before
    assert len(worker) == 1 and len(vec.envs) == 2  # the caller's block
    singles = [gym.make(env_id, max_episode_steps=5) for _ in range(4)]
    tasks = singles[0].unwrapped.sample_tasks(4, seed=9)
    vec.set_attr("task", tasks)
    assert vec.get_attr("task") == tuple(tasks) and vec.call("get_task") == tuple(tasks)
    assert vec.call("sample_tasks", 1, seed=0) == (singles[0].unwrapped.sample_tasks(1, seed=0),) * 4
    vec.reset(seed=[20, 21, 22, 23])
    for env, task, seed in zip(singles, tasks, [20, 21, 22, 23]):
        env.unwrapped.set_task(task)
        env.reset(seed=seed)
    rng = np.random.default_rng(0)
    for indices in ([3, 0], [1, 2, 3], [2], [0, 1, 2, 3], [3, 1], [3, 0]):  # rows in the order asked
        actions = [rng.uniform(-1, 1, 8) for _ in indices]
        obs, rewards, terminated, truncated, infos = vec.step_some(indices, actions)
        for k, (i, action) in enumerate(zip(indices, actions)):
            single_obs, reward, term, trunc, info = singles[i].step(action)
            assert same_bits(obs[k], single_obs) and same_bits(rewards[k], np.float64(reward))
            assert (terminated[k], truncated[k]) == (term, trunc)
            assert_info_row(infos, k, info)
    # sub-env 3 has now stepped 5 times: its episode ended (truncated)
    assert truncated[0] and not truncated[1]
    with pytest.raises(ValueError, match=r"sub-envs \[3\] have ended"):
        vec.step_some([3], [np.zeros(8)])
    # an error in the worker reaches the caller, naming the worker's sub-envs
    with pytest.raises(InvalidTaskError) as raised:
        vec.set_attr("task", [tasks[0], tasks[1], tasks[2], {"goal": [float("nan"), 0.0]}])
    assert "sub-envs [2, 3]" in "".join(raised.value.__notes__)
    with pytest.raises(ValueError, match="Action dimension mismatch"):
        vec.step_some([2], [np.zeros(3)])
    vec.step_some([0, 2], [np.zeros(8)] * 2)  # the split still answers after errors
    vec.close()
    assert not child_pids() & worker


@pytest.mark.skipif(not os.path.exists(f"/proc/{os.getpid()}/task"), reason="reads /proc")
def test_process_split_ends_its_worker_when_collected():
    import gc

    before = child_pids()
    vec = MetaVectorEnv("MetaHopperParams-v0", 2, num_procs=2)
    worker = child_pids() - before
    assert len(worker) == 1
    del vec
    gc.collect()
    assert not child_pids() & worker


def test_process_split_arguments():
    assert MetaVectorEnv("MetaBandit-v0", 1, num_procs=2).num_procs == 1  # never more than sub-envs
    with pytest.raises(ValueError, match="positive integer num_procs"):
        MetaVectorEnv("MetaBandit-v0", 2, num_procs=0)
    before = child_pids() if os.path.exists("/proc/self/task") else set()
    with pytest.raises(TypeError, match="no_such_kwarg"):  # fails before any worker starts
        MetaVectorEnv("MetaHopperParams-v0", 2, num_procs=2, no_such_kwarg=1)
    with pytest.raises(Exception, match="Can't pickle|Can't get local object"):  # a lambda wrapper
        MetaVectorEnv("MetaHopperParams-v0", 2, num_procs=2, wrappers=[lambda env: env])
    if before:
        assert child_pids() <= before


def test_waiting_side_spins_for_a_bounded_time_then_blocks():
    """``_receive`` polls for ``spin`` seconds, then blocks: a message that comes later still
    arrives, and the wait costs about ``spin`` of CPU time, not the whole wait."""
    from metabench._vector_procs import _pipe, _receive

    inbox, outbox = _pipe()
    outbox.send("at once")
    assert _receive(inbox, 0.1) == "at once"
    for spin, delay in ((0.1, 0.3), (0.0, 0.1)):
        timer = threading.Timer(delay, outbox.send, args=("late",))
        timer.start()
        start = time.thread_time()
        assert _receive(inbox, spin) == "late"
        cpu = time.thread_time() - start
        timer.join()
        assert cpu < spin + 0.08  # bounded: the rest of the wait slept in the kernel
        if spin:
            assert cpu > 0.01  # it did poll (CPU time even if this thread shares its core)
    inbox.close()
    outbox.close()


def test_process_split_spins_only_where_each_process_has_a_core(monkeypatch):
    from metabench import _vector_procs

    monkeypatch.setattr(_vector_procs, "SPIN_SECONDS", 0.004)
    for cores, expected in ((2, 0.004), (1, 0.0)):
        monkeypatch.setattr(_vector_procs, "_usable_cores", lambda cores=cores: cores)
        vec = MetaVectorEnv("MetaHalfCheetahVel-v0", 2, num_procs=2)
        assert vec._procs.spin == vec._procs.workers[0].spin == expected
        vec.reset(seed=0)
        vec.step(vec.action_space.sample())  # the worker got its budget with what to build
        vec.close()


def test_default_splits_only_large_quiet_humanoid_vectors_over_processes(monkeypatch):
    """The measured rule: 2 processes for >= PROCS_MIN_ENVS unwrapped sub-envs of a reward-varied
    Humanoid family with infos=False on >= 2 cores; threads for every other body, size,
    wrapper, infos or core count."""
    from metabench import TrialHistory, vector

    n = vector.PROCS_MIN_ENVS
    monkeypatch.setattr(vector.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    for env_id in ("MetaHumanoidDir-v0", "MetaHumanoidFwdBack-v0"):
        assert vector._default_procs(env_id, n, (), None, False) == 2
        assert vector._default_procs(env_id, n + 5, (), True, False) == 2
        assert vector._default_procs(env_id, n - 1, (), None, False) == 1
        assert vector._default_procs(env_id, n, (), None, True) == 1
        assert vector._default_procs(env_id, n, (TrialHistory,), None, False) == 1
        assert vector._default_procs(env_id, n, (), False, False) == 1
    for env_id in (
        "MetaAntDir-v0",
        "MetaAntGoal-v0",
        "MetaHalfCheetahVel-v0",
        "MetaAntCrippled-v0",
        "MetaBandit-v0",
    ):
        assert vector._default_procs(env_id, n, (), None, False) == 1
    monkeypatch.setattr(vector.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert vector._default_procs("MetaHumanoidDir-v0", n, (), None, False) == 1
    # the constructor applies it (threshold lowered so that the test builds two sub-envs)
    monkeypatch.setattr(vector.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(vector, "PROCS_MIN_ENVS", 2)
    vec = gym.make_vec("MetaHumanoidDir-v0", num_envs=2, infos=False)
    assert vec.num_procs == 2 and len(vec.envs) == 1
    vec.close()
    assert MetaVectorEnv("MetaHumanoidDir-v0", 2, infos=True).num_procs == 1
    assert MetaVectorEnv("MetaHumanoidDir-v0", 2, infos=False, num_procs=1).num_procs == 1  # opting out
