"""Simulate the reference agents on RL²'s settings and print them next to REFERENCE.md's table.

    .venv/bin/python scripts/reference_table.py [--trials 1000] [--workers 2]

Tasks are drawn from each family's training law (1000 per cell, as REFERENCE.md), one trial
each, through the harness's trial runner; Bayes-optimal values are exact.
"""

from __future__ import annotations

import argparse
import math
from concurrent.futures import ProcessPoolExecutor

import gymnasium as gym
import numpy as np

BANDITS = {
    (10, 5): {"random": 5.0, "greedy": 6.5, "thompson": 5.9, "ucb1": 5.7},
    (10, 10): {"random": 4.8, "greedy": 6.7, "thompson": 5.6, "ucb1": 5.0},
    (100, 5): {"random": 50.8, "greedy": 75.8, "thompson": 75.1, "ucb1": 65.9},
    (100, 10): {"random": 50.6, "greedy": 79.5, "thompson": 77.6, "ucb1": 63.9},
    (500, 10): {"random": 248.5, "greedy": 409.4, "thompson": 430.3, "ucb1": 369.6},
}
MDPS = {
    10: {"random": 100.1, "greedy": 138.1, "psrl": 139.1},
    25: {"random": 250.7, "greedy": 362.1, "psrl": 409.8},
    50: {"random": 500.1, "greedy": 756.8, "psrl": 901.7},
    100: {"random": 996.9, "greedy": 1530.6, "psrl": 1936.5},
}


def cell(args: tuple) -> tuple:
    import metabench  # noqa: F401
    from metabench.evaluation.harness import RunSpec, TrialRunner

    env_id, kwargs, n, agent, trials = args
    family = gym.make(env_id, **kwargs).unwrapped
    tasks = tuple(family.sample_tasks(trials, seed=2024))
    protocol = family.default_protocol.replace(rounds=n)
    runner = TrialRunner(RunSpec(agent, env_id, kwargs, protocol, tasks))
    scores = np.array([protocol.score(runner.run(0, i).returns) for i in range(trials)])
    return args, float(scores.mean()), float(scores.std(ddof=1) / math.sqrt(trials))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    jobs = [
        ("MetaBandit-v0", {"num_arms": k}, n, a, args.trials) for (n, k), row in BANDITS.items() for a in row
    ]
    jobs += [
        ("MetaBandit-v0", {"num_arms": k}, n, "bayes-optimal", args.trials) for n, k in BANDITS if n == 10
    ]
    jobs += [("MetaTabularMDP-v0", {}, n, a, args.trials) for n, row in MDPS.items() for a in row]
    with ProcessPoolExecutor(args.workers) as pool:
        results = {
            (job[0], job[1].get("num_arms"), job[2], job[3]): (m, se) for job, m, se in pool.map(cell, jobs)
        }
    from metabench.evaluation.references import bayes_optimal_bandit_value

    print("| bandit | agent | metabench (mean ± s.e.) | REFERENCE.md |")
    print("|---|---|---|---|")
    for (n, k), row in BANDITS.items():
        for agent in [*row, "bayes-optimal"]:
            if (("MetaBandit-v0", k, n, agent)) not in results:
                continue
            m, se = results[("MetaBandit-v0", k, n, agent)]
            ref = row.get(agent)
            if agent == "bayes-optimal":
                ref_text = f"exact {bayes_optimal_bandit_value(k, n):.3f} (Gittins ≈ 6.6–6.7)"
            else:
                ref_text = f"{ref}"
            print(f"| n={n}, k={k} | {agent} | {m:.2f} ± {se:.2f} | {ref_text} |")
    print()
    print("| tabular MDP | agent | metabench (mean ± s.e.) | REFERENCE.md |")
    print("|---|---|---|---|")
    for n, row in MDPS.items():
        for agent, ref in row.items():
            m, se = results[("MetaTabularMDP-v0", None, n, agent)]
            print(f"| n={n} | {agent} | {m:.1f} ± {se:.1f} | {ref} |")


if __name__ == "__main__":
    main()
