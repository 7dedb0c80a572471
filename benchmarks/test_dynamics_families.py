"""Cost of the dynamics families against the gymnasium env of the same body, in the same run.

Three measures per family, each next to its gymnasium reference:

* ``step``: ``env.step`` of the family (default task, and a sampled task) vs gymnasium's env;
* ``reset``: ``set_task`` (alternating two tasks, so that each reset applies one) + ``reset``
  vs gymnasium's ``reset``;
* ``set_task``: ``set_task`` + the write into the model that the next ``reset`` performs
  (``_apply_task``), alone; the goal is at most 20 µs.

Run with ``.venv/bin/python -m pytest benchmarks/test_dynamics_families.py --benchmark-only``;
the ratios to the references (of medians, and of minimums, which contention on a shared
machine disturbs least) are printed at the end and stored in each benchmark's ``extra_info``.
"""

from __future__ import annotations

import itertools

import gymnasium as gym
import numpy as np
import pytest

import metabench  # noqa: F401 - registers the families

BODIES = {
    "MetaWalker2dParams-v0": "Walker2d-v5",
    "MetaHopperParams-v0": "Hopper-v5",
    "MetaHalfCheetahParams-v0": "HalfCheetah-v5",
    "MetaAntCrippled-v0": "Ant-v5",
    "MetaHalfCheetahCrippled-v0": "HalfCheetah-v5",
}
_TIMES: dict[tuple[str, str, str], tuple[float, float]] = {}  # -> (median, min) in seconds


@pytest.fixture(scope="module", autouse=True)
def ratio_table(request):
    yield
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if reporter is None or not _TIMES:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("\nfamily vs its gymnasium reference, same run (median; min in brackets):")
        for (env_id, measure, variant), (median, fastest) in sorted(_TIMES.items()):
            if variant == "gymnasium":
                continue
            line = f"  {env_id:28s} {measure:8s} {variant:15s} {median * 1e6:7.2f} µs"
            reference = _TIMES.get((env_id, measure, "gymnasium"))
            if reference:
                line += (
                    f"  ratio {median / reference[0]:4.2f} [{fastest / reference[1]:4.2f}]"
                    f"  (gymnasium {reference[0] * 1e6:.2f} µs)"
                )
            reporter.write_line(line)


def _record(benchmark, env_id: str, measure: str, variant: str) -> None:
    if benchmark.stats is None:  # --benchmark-disable
        return
    stats = benchmark.stats.stats
    _TIMES[(env_id, measure, variant)] = (stats.median, stats.min)
    reference = _TIMES.get((env_id, measure, "gymnasium"))
    if variant != "gymnasium" and reference:
        benchmark.extra_info["median_ratio_to_gymnasium"] = stats.median / reference[0]
        benchmark.extra_info["min_ratio_to_gymnasium"] = stats.min / reference[1]


def _env(env_id: str, variant: str):
    """The unwrapped env: gymnasium's, the family's on its default task, or on a sampled task."""
    if variant == "gymnasium":
        return gym.make(BODIES[env_id]).unwrapped
    env = gym.make(env_id).unwrapped
    if variant == "sampled task":
        env.set_task(env.sample_tasks(1, seed=0)[0])
    return env


# The reference runs first in each family, so that the family's ratio can be stored with it.
@pytest.mark.parametrize("variant", ["gymnasium", "default task", "sampled task"])
@pytest.mark.parametrize("env_id", BODIES)
def test_step(benchmark, env_id, variant):
    benchmark.group = f"step {env_id}"
    env = _env(env_id, variant)
    env.reset(seed=0)
    # Small fixed torques: the body keeps moving without blowing up over many thousand steps.
    action = np.random.default_rng(0).uniform(-0.3, 0.3, env.action_space.shape)
    benchmark(env.step, action)
    _record(benchmark, env_id, "step", variant)


@pytest.mark.parametrize("variant", ["gymnasium", "set_task+reset"])
@pytest.mark.parametrize("env_id", BODIES)
def test_reset(benchmark, env_id, variant):
    benchmark.group = f"reset {env_id}"
    env = _env(env_id, "gymnasium" if variant == "gymnasium" else "default task")
    if variant == "gymnasium":
        benchmark(env.reset)
    else:
        tasks = itertools.cycle(env.sample_tasks(2, seed=1))

        def switch_and_reset():
            env.set_task(next(tasks))
            env.reset()

        benchmark(switch_and_reset)
    _record(benchmark, env_id, "reset", variant)


@pytest.mark.parametrize("env_id", BODIES)
def test_set_task(benchmark, env_id):
    benchmark.group = f"set_task {env_id}"
    env = _env(env_id, "default task")
    env.reset(seed=0)
    tasks = itertools.cycle(env.sample_tasks(2, seed=1))

    def set_and_apply():
        task = next(tasks)
        env.set_task(task)
        env._apply_task(task)  # what the next reset does with it

    benchmark(set_and_apply)
    _record(benchmark, env_id, "set_task", "set_task+apply")
