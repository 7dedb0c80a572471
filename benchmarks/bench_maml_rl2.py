"""Throughput of the MAML-TRPO and RL² baselines (issues 6 and 7), printed as a table.

MAML-TRPO on MetaHalfCheetahVel-v0: bare env stepping (one env, random actions) against the
task-batch sampler acting with MAML's per-task policies, and the share of an iteration spent
sampling vs learning (the TRPO meta-update). RL² on MetaBandit-v0 (k = 5, n = 10): training
steps/s, and the training wall-clock until the harness scores the agent at Thompson
sampling's level (5.9, REFERENCE.md) on the 100 held-out tasks × 5 seeds; evaluation time
is excluded.

Run with the background jobs paused (the machine has two cores):

    benchmarks/run_paused.sh .venv/bin/python benchmarks/bench_maml_rl2.py [--meta-batch 10]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import time

import gymnasium as gym
import numpy as np
import torch

import metabench  # noqa: F401
from metabench.baselines import maml_trpo, rl2
from metabench.evaluation.harness import evaluate


def bare_steps_per_second(env_id: str, steps: int = 20_000) -> float:
    env = gym.make(env_id)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(1000)]
    env.reset(seed=0)
    start = time.perf_counter()
    for t in range(steps):
        _, _, terminated, truncated, _ = env.step(actions[t % 1000])
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def maml(env_id: str, meta_batch: int, iterations: int) -> None:
    config = dataclasses.replace(
        maml_trpo.CONFIGS[(env_id, "paper")], meta_batch_size=meta_batch, num_iterations=iterations
    )
    bare = bare_steps_per_second(env_id)
    algo = maml_trpo.MAMLTRPO(config)
    records = [algo.train_iteration() for _ in range(iterations)]
    sampling = sum(r["time/sampling_s"] for r in records)
    learning = sum(r["time/learning_s"] for r in records)
    steps = sum(r["time/iteration_env_steps"] for r in records)
    print(
        f"MAML-TRPO on {env_id} (paper config, meta-batch {meta_batch} x {config.fast_batch_size} episodes)"
    )
    print(f"  bare env stepping           {bare:9.0f} steps/s")
    print(
        f"  sampler (MAML policies)     {steps / sampling:9.0f} steps/s  ({steps / sampling / bare:.2f}x bare)"
    )
    total = sampling + learning
    print(
        f"  iteration                   {total / iterations:9.1f} s: sampling {sampling / total:.0%}, "
        f"learning {learning / total:.0%} (mean of {iterations})"
    )


def rl2_to_thompson(seed: int, every: int, most: int, target: float = 5.9) -> None:
    config = dataclasses.replace(rl2.CONFIGS[("*", "ci")], seed=seed)
    algo = rl2.RL2(config)
    trained = 0.0
    steps = 0
    while algo.iteration < most:
        for _ in range(every):
            record = algo.train_iteration()
            trained += record["time/sampling_s"] + record["time/learning_s"]
            steps += record["time/iteration_env_steps"]
        model = copy.deepcopy(algo.model)
        result = evaluate(
            lambda info, m=model: rl2.RL2Agent(m, info, algo.env_steps), "MetaBandit-v0", seeds=5
        )
        score = result.headline_scores()
        se = score.std(ddof=1) / np.sqrt(score.size)
        print(
            f"  RL² seed {seed} iteration {algo.iteration:4d}: {trained:6.1f} s of training, "
            f"{steps / trained:7.0f} steps/s, harness score {score.mean():.2f} ± {se:.2f}"
        )
        if score.mean() >= target:
            print(
                f"  -> Thompson level ({target}) after {trained:.1f} s of training, {algo.iteration} iterations"
            )
            return
    print(f"  -> Thompson level not reached in {most} iterations")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meta-batch", type=int, default=10, help="MAML tasks per meta-batch (paper: 40)")
    parser.add_argument("--iterations", type=int, default=2, help="MAML iterations timed")
    parser.add_argument("--rl2-seeds", type=int, nargs="*", default=[0, 1, 2])
    args = parser.parse_args()
    torch.set_num_threads(1)
    maml("MetaHalfCheetahVel-v0", args.meta_batch, args.iterations)
    print("RL² on MetaBandit-v0 k=5 n=10 (ci config): training wall-clock to Thompson's level")
    for seed in args.rl2_seeds:
        rl2_to_thompson(seed, every=10, most=150)


if __name__ == "__main__":
    main()
