"""Harness overhead: the random agent through the harness against bare env stepping of the same
number of steps, measured in the same run (goal: at most 1.3×), and the process pool's speed-up.

    .venv/bin/python -m pytest benchmarks/test_harness_overhead.py -s --benchmark-disable-gc

``MetaHalfCheetahVel-v0`` when it is registered, else HalfCheetah-v5 wrapped minimally
(``bench_envs``); and the cheap families, where the env step costs a few microseconds and the
per-step overhead shows in full.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import metabench  # noqa: F401 - registers the families
from metabench.evaluation import evaluate
from metabench.evaluation.harness import RunSpec, TrialRunner

sys.path.insert(0, str(Path(__file__).parent))
CHEETAH = (
    "MetaHalfCheetahVel-v0" if "MetaHalfCheetahVel-v0" in gym.registry else "bench_envs:MetaCheetahStandIn-v0"
)
ENV_IDS = [CHEETAH, "MetaNavigation2D-v0", "MetaTabularMDP-v0"]
UNITS = [(0, 0), (0, 1), (1, 2)]  # (seed, task) trials timed per repeat
REPEATS = 5


def bare_stepping(env: gym.Env, tasks: list, steps_per_trial: list[int], actions: list | None) -> None:
    """The loop a user writes: set the task, reset with a seed, step random actions (drawn
    here with ``action_space.sample()``, or given, drawn before the clock started)."""
    space = env.action_space
    for trial, steps in enumerate(steps_per_trial):
        env.unwrapped.set_task(tasks[trial])
        env.reset(seed=trial)
        for i in range(steps):
            action = space.sample() if actions is None else actions[trial][i]
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_random_agent_harness_vs_bare_stepping(benchmark, env_id):
    protocol = gym.make(env_id).unwrapped.default_protocol
    runner = TrialRunner(RunSpec("random", env_id, {}, protocol))
    steps = [runner.run(s, t).steps for s, t in UNITS]
    env = gym.make(env_id)
    env.action_space.seed(0)
    tasks = [runner.tasks[t] for _, t in UNITS]
    drawn = [[env.action_space.sample() for _ in range(n)] for n in steps]

    def harness() -> None:
        for seed, task in UNITS:
            runner.run(seed, task)

    candidates = {
        "harness": harness,
        "bare (action_space.sample)": lambda: bare_stepping(env, tasks, steps, None),
        "bare (pre-drawn actions)": lambda: bare_stepping(env, tasks, steps, drawn),
    }
    best = {name: float("inf") for name in candidates}
    for _ in range(REPEATS):  # interleaved, so that machine load hits all alike
        for name, run in candidates.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    total = sum(steps)
    ratios = {name: best["harness"] / t for name, t in best.items() if name != "harness"}
    benchmark.extra_info.update(
        {"env_steps": total, **{f"ratio vs {k}": round(v, 3) for k, v in ratios.items()}}
    )
    print(
        f"\n{env_id}: {total} steps; harness {total / best['harness']:,.0f} steps/s; "
        + "; ".join(f"{k} {total / best[k]:,.0f} steps/s (harness ×{ratios[k]:.2f})" for k in ratios)
    )
    benchmark.pedantic(harness, rounds=3, iterations=1)


def test_process_pool_speed_up_on_two_workers():
    kwargs = dict(seeds=[0, 1, 2], task_indices=range(20))
    timings = {}
    for backend, workers in (("local", None), ("process", 2)):
        start = time.perf_counter()
        result = evaluate("random", CHEETAH, backend=backend, workers=workers, **kwargs)
        timings[backend] = time.perf_counter() - start
    steps = result.provenance.env_steps
    print(
        f"\n{CHEETAH}: {steps} steps; serial {timings['local']:.2f} s, 2 worker processes "
        f"{timings['process']:.2f} s (speed-up ×{timings['local'] / timings['process']:.2f}, "
        "including the workers' start)"
    )
    assert np.isfinite(timings["process"])
