"""Task-batched stepping: metabench's vector env against gymnasium's sync and async vector envs,
a single env, and MuJoCo's native ``rollout`` on two threads (the limit of physics on both
cores, with no Python at all), all in one run, round by round, so that machine load hits all
alike. ``docs/vector-env.md`` holds the table and how to read it.

    .venv/bin/python -m pytest benchmarks/test_vector_env.py -s --benchmark-disable-gc

Every candidate simulates the same thing: ``NUM_ENVS`` sub-envs, each reset with its own seed
and then stepped ``steps`` times with the same pre-drawn random actions; only the steps are
timed. The native rollout cannot reset, so no candidate may: Ant and Humanoid run with
``terminate_when_unhealthy=False`` and only 15 steps per round, before a random-action
humanoid falls (about step 17-21 from gymnasium's reset; a fallen one costs twice as much per
step, and a meta-RL episode ends when it falls). The HalfCheetah never terminates.
"""

from __future__ import annotations

import os
import statistics
import threading
import time

import gymnasium as gym
import mujoco
import mujoco.rollout
import numpy as np
import pytest

import metabench  # noqa: F401 - registers the families
from metabench import _vector_procs
from metabench.vector import MetaVectorEnv

#: body -> (id, kwargs, steps per sub-env and round)
BODIES = {
    "HalfCheetah": ("MetaHalfCheetahVel-v0", {}, 100),
    "Ant": ("MetaAntDir-v0", {"terminate_when_unhealthy": False}, 15),
    "Humanoid": ("MetaHumanoidDir-v0", {"terminate_when_unhealthy": False}, 15),
}
NUM_ENVS = int(os.environ.get("METABENCH_BENCH_ENVS", 8))
ROUNDS = int(os.environ.get("METABENCH_BENCH_ROUNDS", 15))
SEEDS = list(range(NUM_ENVS))
LIMIT = "native rollout, 2 threads"
PROCS = "metabench vector, 2 processes"
PROCS_QUIET = "metabench vector, 2 processes, infos=False"
BLOCKING = "metabench vector, 2 processes, infos=False, no spin"


def blocking_split(env_id: str, **kwargs) -> MetaVectorEnv:
    """A process split whose waiting sides block at once (``SPIN_SECONDS = 0``): as before the
    bounded spin, to show what it buys."""
    spin, _vector_procs.SPIN_SECONDS = _vector_procs.SPIN_SECONDS, 0.0
    try:
        return MetaVectorEnv(env_id, NUM_ENVS, num_procs=2, infos=False, **kwargs)
    finally:
        _vector_procs.SPIN_SECONDS = spin


def vector_round(vec, actions: np.ndarray) -> float:
    """Seconds to step a vector env through ``actions`` from its seeded reset."""
    vec.reset(seed=SEEDS)
    start = time.perf_counter()
    for step_actions in actions:
        vec.step(step_actions)
    return time.perf_counter() - start


def single_round(env: gym.Env, actions: np.ndarray) -> float:
    """The same trajectories, one sub-env after the other, on one env."""
    seconds = 0.0
    for i, seed in enumerate(SEEDS):
        env.reset(seed=seed)
        start = time.perf_counter()
        for step_actions in actions:
            env.step(step_actions[i])
        seconds += time.perf_counter() - start
    return seconds


class NativeRollout:
    """``mujoco.rollout`` over the sub-envs' own models, from their reset states, with each
    action held for ``frame_skip`` physics steps: the physics of a round, nothing else."""

    def __init__(self, env_id: str, kwargs: dict, actions: np.ndarray, nthread: int) -> None:
        envs = [gym.make(env_id, **kwargs).unwrapped for _ in SEEDS]
        spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        states = []
        for env, seed in zip(envs, SEEDS):
            env.reset(seed=seed)
            state = np.empty(mujoco.mj_stateSize(env.model, spec))
            mujoco.mj_getState(env.model, env.data, state, spec)
            states.append(state)
        self.models = [env.model for env in envs]
        self.datas = [mujoco.MjData(self.models[0]) for _ in range(max(nthread, 1))]
        self.states = np.stack(states)
        frame_skip = envs[0].frame_skip
        # (sub-env, physics step, actuator): each env step's action, frame_skip times
        self.control = np.repeat(actions.transpose(1, 0, 2).astype(np.float64), frame_skip, axis=1)
        self.runner = mujoco.rollout.Rollout(nthread=nthread)

    def __call__(self) -> float:
        start = time.perf_counter()
        self.runner.rollout(self.models, self.datas, self.states, self.control)
        return time.perf_counter() - start


@pytest.mark.parametrize("body", list(BODIES))
def test_vector_env_against_gymnasium_and_the_native_limit(benchmark, body):
    env_id, kwargs, steps_per_env = BODIES[body]
    single = gym.make(env_id, **kwargs)
    rng = np.random.default_rng(0)
    space = single.action_space
    actions = rng.uniform(space.low, space.high, (steps_per_env, NUM_ENVS, *space.shape)).astype(space.dtype)
    ours = MetaVectorEnv(env_id, NUM_ENVS, **kwargs)
    # the default may split a large Humanoid vector over processes; these stay on threads
    ours_2 = MetaVectorEnv(env_id, NUM_ENVS, num_threads=2, num_procs=1, **kwargs)
    ours_own = MetaVectorEnv(env_id, NUM_ENVS, num_threads=2, batched=False, num_procs=1, **kwargs)
    ours_1 = MetaVectorEnv(env_id, NUM_ENVS, num_threads=1, num_procs=1, **kwargs)
    ours_quiet = MetaVectorEnv(env_id, NUM_ENVS, infos=False, num_procs=1, **kwargs)  # as the harness
    ours_procs = MetaVectorEnv(env_id, NUM_ENVS, num_procs=2, **kwargs)
    ours_procs_quiet = MetaVectorEnv(env_id, NUM_ENVS, num_procs=2, infos=False, **kwargs)
    ours_blocking = blocking_split(env_id, **kwargs)
    sync = gym.make_vec(env_id, NUM_ENVS, vectorization_mode="sync", **kwargs)
    asynchronous = gym.make_vec(env_id, NUM_ENVS, vectorization_mode="async", **kwargs)
    candidates = {
        "metabench vector": lambda: vector_round(ours, actions),
        "metabench vector, 2 threads": lambda: vector_round(ours_2, actions),
        "metabench vector, own steps, 2 threads": lambda: vector_round(ours_own, actions),
        "metabench vector, 1 thread": lambda: vector_round(ours_1, actions),
        "metabench vector, infos=False": lambda: vector_round(ours_quiet, actions),
        PROCS: lambda: vector_round(ours_procs, actions),
        PROCS_QUIET: lambda: vector_round(ours_procs_quiet, actions),
        BLOCKING: lambda: vector_round(ours_blocking, actions),
        "gymnasium sync": lambda: vector_round(sync, actions),
        "gymnasium async": lambda: vector_round(asynchronous, actions),
        "single env": lambda: single_round(single, actions),
        LIMIT: NativeRollout(env_id, kwargs, actions, nthread=2),
        "native rollout, 1 thread": NativeRollout(env_id, kwargs, actions, nthread=0),
    }
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for run in candidates.values():  # warm-up: first steps, process start-up, thread start-up
        run()
    for _ in range(ROUNDS):
        for name, run in candidates.items():
            times[name].append(run())
    choice = ours.step_choice
    for vec in (
        ours,
        ours_2,
        ours_own,
        ours_1,
        ours_quiet,
        ours_procs,
        ours_procs_quiet,
        ours_blocking,
        sync,
        asynchronous,
    ):
        vec.close()

    steps = NUM_ENVS * steps_per_env
    best = {name: min(t) for name, t in times.items()}
    median = {name: statistics.median(t) for name, t in times.items()}
    limit, ours_best = best[LIMIT], best["metabench vector"]
    procs_best = min(best[PROCS], best[PROCS_QUIET])  # the faster of the two spinning splits
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\n{body} ({env_id}), {NUM_ENVS} sub-envs x {steps_per_env} steps, best of {ROUNDS} rounds, "
        f"default num_procs={ours.num_procs} (load average after: {load}):"
    )
    for name in candidates:
        print(
            f"  {name:52s} {steps / best[name]:>9,.0f} steps/s (median {steps / median[name]:>9,.0f}); "
            f"x{limit / best[name]:.2f} of the limit"
        )
    if choice is not None:
        costs = ", ".join(
            f"{n} thread(s){', batched' if batched else ', own steps'}: {c * 1e6:.1f} us"
            for (n, batched), c in zip(choice.options, choice.cost)
        )
        print(f"  default's choice at the end: {choice.options[choice.best]} ({costs} per sub-env step)")
    columns = ["metabench vector", "metabench vector, 2 threads", "metabench vector, own steps, 2 threads"]
    columns += ["metabench vector, 1 thread"]
    columns += ["metabench vector, infos=False", PROCS, PROCS_QUIET, BLOCKING]
    columns += ["gymnasium sync", "gymnasium async", "single env", LIMIT]
    print(
        "| body | "
        + " | ".join(columns)
        + " | default / limit | default / async | processes / limit | processes / async |"
    )
    print(
        f"| {body} | "
        + " | ".join(f"{steps / best[name]:,.0f}" for name in columns)
        + f" | **{limit / ours_best:.2f}** | **{best['gymnasium async'] / ours_best:.1f}**"
        + f" | **{limit / procs_best:.2f}** | **{best['gymnasium async'] / procs_best:.1f}** |"
    )
    benchmark.extra_info.update(
        {
            "env_steps_per_round": steps,
            **{f"steps/s {name}": round(steps / t) for name, t in best.items()},
            "reference": {"name": LIMIT, "median": median[LIMIT], "min": limit},
        }
    )
    rerun = MetaVectorEnv(env_id, NUM_ENVS, **kwargs)
    benchmark.pedantic(lambda: vector_round(rerun, actions), rounds=3, iterations=1)
    rerun.close()


@pytest.mark.parametrize("body", list(BODIES))
def test_what_bounds_threads(benchmark, body):
    """CPU time per env step of one sub-env: the physics (``mj_step`` over ``frame_skip`` and
    ``mj_rnePostConstraint``, which run without the GIL) and the rest of the family's step
    (Python, with the GIL), and what the vector env adds per sub-env step on one thread. With
    two threads, a step of ``N`` sub-envs takes at least ``N * max((physics + python) / 2,
    python)`` when each thread runs whole family steps (the Python of one overlaps the physics
    of another), and ``N * (python + physics / 2)`` through a batched step (the HalfCheetah's:
    its Python runs before and after the physics): the bound printed, against the limit
    ``N * physics / 2``."""
    env_id, kwargs, steps_per_env = BODIES[body]
    envs = [gym.make(env_id, **kwargs).unwrapped for _ in SEEDS]
    vec = MetaVectorEnv(env_id, NUM_ENVS, num_threads=1, infos=False, num_procs=1, **kwargs)
    rng = np.random.default_rng(0)
    space = envs[0].action_space
    actions = rng.uniform(space.low, space.high, (steps_per_env, NUM_ENVS, *space.shape)).astype(space.dtype)

    def family_steps() -> float:
        for env, seed in zip(envs, SEEDS):
            env.reset(seed=seed)
        start = time.process_time()
        for step_actions in actions:
            for env, action in zip(envs, step_actions):
                env.step(action)
        return time.process_time() - start

    def physics_only() -> float:
        for env, seed in zip(envs, SEEDS):
            env.reset(seed=seed)
        start = time.process_time()
        for step_actions in actions:
            for env, action in zip(envs, step_actions):
                env.data.ctrl[:] = action
                mujoco.mj_step(env.model, env.data, nstep=env.frame_skip)
                mujoco.mj_rnePostConstraint(env.model, env.data)
        return time.process_time() - start

    def vector_steps() -> float:
        vec.reset(seed=SEEDS)
        start = time.process_time()
        for step_actions in actions:
            vec.step(step_actions)
        return time.process_time() - start

    runs = {"family step": family_steps, "physics": physics_only, "vector, 1 thread": vector_steps}
    best = {name: float("inf") for name in runs}
    for _ in range(ROUNDS):
        for name, run in runs.items():
            best[name] = min(best[name], run())
    steps = NUM_ENVS * steps_per_env
    us = {name: 1e6 * t / steps for name, t in best.items()}
    physics = us["physics"]
    python_family = us["family step"] - physics
    python_vector = us["vector, 1 thread"] - physics
    if vec.batched:
        design, bound = "batched", python_vector + physics / 2
    else:
        design, bound = "per sub-env", max((physics + python_vector) / 2, python_vector)
    print(
        f"\n| {body} | {design} | {physics:.1f} | {python_family:.1f} | {python_vector:.1f} | "
        f"{1e6 / bound:,.0f} | {2e6 / physics:,.0f} | {physics / 2 / bound:.2f} |"
    )
    benchmark.extra_info.update({f"us per step: {k}": round(v, 2) for k, v in us.items()})
    benchmark.pedantic(vector_steps, rounds=3, iterations=1)
    vec.close()


def test_thread_hand_over_latency(benchmark):
    """One lock released by one thread and acquired by the other, and back: the cost the vector
    env pays twice per threaded step, whatever the number of sub-envs."""
    ping, pong = threading.Lock(), threading.Lock()
    ping.acquire()
    pong.acquire()
    trips = 2000

    def other() -> None:
        for _ in range(trips):
            ping.acquire()
            pong.release()

    def round_trips() -> None:
        helper = threading.Thread(target=other)
        helper.start()
        for _ in range(trips):
            ping.release()
            pong.acquire()
        helper.join()

    start = time.perf_counter()
    round_trips()
    print(f"\nthread hand-over round trip: {(time.perf_counter() - start) / trips * 1e6:.1f} us")
    benchmark.pedantic(round_trips, rounds=3, iterations=1)


def _echo_child(inbox: int, outbox: int, trips: int, work=None, spin: bool = False) -> int:
    """Fork a child that, ``trips`` times, waits for a byte on ``inbox``, runs ``work()`` and
    answers a byte on ``outbox``; it leaves without running any of pytest's exit code."""
    child = os.fork()
    if child == 0:
        for _ in range(trips):
            _wait_byte(inbox, spin)
            if work is not None:
                work()
            os.write(outbox, b"x")
        os._exit(0)
    return child


def _wait_byte(fd: int, spin: bool) -> None:
    """Block in the kernel for a byte on ``fd``, or (``spin``, a diagnostic only) poll for it."""
    if not spin:
        os.read(fd, 1)
        return
    while True:
        try:
            os.read(fd, 1)
            return
        except BlockingIOError:
            pass


def _pipes(spin: bool) -> tuple[int, int, int, int]:
    (down_r, down_w), (up_r, up_w) = os.pipe(), os.pipe()
    for fd in (down_r, up_r):
        os.set_blocking(fd, not spin)
    return down_r, down_w, up_r, up_w


def test_process_hand_over_latency(benchmark):
    """The process split's hand-over, whatever the number of sub-envs: a message to the worker
    and its answer (an attribute read of its one sub-env), and under it the operating system's
    floor, one byte each way over two pipes between two processes."""
    vec = MetaVectorEnv("MetaHalfCheetahVel-v0", 2, num_procs=2)
    worker = vec._procs.workers[0]
    trips = 2000

    def round_trips() -> None:
        for _ in range(trips):
            worker.send("get_attr", "render_mode")
            worker.receive()

    down_r, down_w, up_r, up_w = _pipes(spin=False)
    child = _echo_child(down_r, up_w, trips)
    start = time.perf_counter()
    for _ in range(trips):
        os.write(down_w, b"x")
        os.read(up_r, 1)
    floor = (time.perf_counter() - start) / trips * 1e6
    os.waitpid(child, 0)
    for fd in (down_r, down_w, up_r, up_w):
        os.close(fd)
    start = time.perf_counter()
    round_trips()
    message = (time.perf_counter() - start) / trips * 1e6
    print(f"\nprocess hand-over round trip: {message:.1f} us (two pipes, one byte each way: {floor:.1f} us)")
    benchmark.pedantic(round_trips, rounds=3, iterations=1)
    vec.close()


@pytest.mark.parametrize("body", list(BODIES))
def test_what_bounds_processes(benchmark, body):
    """Two processes, each stepping ``NUM_ENVS / 2`` of the family's envs serially per round,
    one byte each way per round (the process split's pattern, without its bookkeeping): the
    compute per process and round, the round when the waiting side blocks in the kernel (as the
    vector env does) and, as a diagnostic only, when it spins (what the wake-up of an idle core
    costs)."""
    env_id, kwargs, steps_per_env = BODIES[body]
    half = NUM_ENVS // 2
    envs = [gym.make(env_id, **kwargs) for _ in range(2 * half)]
    for env, seed in zip(envs, SEEDS):
        env.reset(seed=seed)
    action = np.zeros(envs[0].action_space.shape)
    trips = max(200, 20000 // (steps_per_env * half))

    def work(block):
        return lambda: [env.step(action) for env in block]

    def serial() -> float:
        start = time.perf_counter()
        for _ in range(trips):
            work(envs[:half])()
        return (time.perf_counter() - start) / trips

    def split(spin: bool) -> float:
        down_r, down_w, up_r, up_w = _pipes(spin)
        child = _echo_child(down_r, up_w, trips, work(envs[half:]), spin)
        mine = work(envs[:half])
        start = time.perf_counter()
        for _ in range(trips):
            os.write(down_w, b"x")
            mine()
            _wait_byte(up_r, spin)
        seconds = (time.perf_counter() - start) / trips
        os.waitpid(child, 0)
        for fd in (down_r, down_w, up_r, up_w):
            os.close(fd)
        return seconds

    compute = min(serial() for _ in range(3))
    blocking = min(split(False) for _ in range(3))
    spinning = min(split(True) for _ in range(3))
    print(
        f"\n| {body} | {half} | {compute * 1e6:,.0f} | {blocking * 1e6:,.0f} | {spinning * 1e6:,.0f} | "
        f"{(blocking - compute) * 1e6:,.0f} | {2 * half / blocking:,.0f} |"
    )
    benchmark.pedantic(serial, rounds=3, iterations=1)
