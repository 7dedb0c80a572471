"""Seed the leaderboard with the reference agents, each under its family's default protocol.

    nice -n 19 .venv/bin/python scripts/seed_leaderboard.py [--store leaderboard] [--mujoco]

For each cheap family it evaluates the reference agents (random, the oracle, Bayes-optimal and
the other bandit and tabular references) on every held-out task with 5 seeds, writes the
normalisation references (``references.json``: per task, the random agent's and the oracle's
expected headline score; exact for bandits and tabular MDPs, the mean over the 5 seeds of the
evaluated random and oracle agents elsewhere), submits each result through the store's
validation, and renders the board. ``--mujoco`` adds the random agent on
MetaHalfCheetahVel-v0. Results are kept in ``runs/leaderboard-seed/`` and resumed from there;
methods already on the board are skipped, so the script can be rerun after a baseline lands.
Trained baselines are added the same way: ``metabench evaluate RUN_DIR``, then
``metabench leaderboard prepare`` and ``metabench leaderboard submit``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

CHEAP = {
    "MetaBandit-v0": ["random", "oracle", "bayes-optimal", "thompson", "ucb1", "greedy"],
    "MetaTabularMDP-v0": ["random", "oracle", "psrl", "greedy"],
    "MetaNavigation2D-v0": ["random", "oracle"],
    "MetaNavigation2DSparse-v0": ["random", "oracle"],
    "MetaGridNavi-v0": ["random", "oracle"],
}
MUJOCO = {"MetaHalfCheetahVel-v0": ["random"]}
CODE = "https://github.com/metabench/metabench"
DESCRIPTIONS = {
    "random": "Uniformly random actions: the normalisation's zero.",
    "oracle": "Given the task (privileged, not a meta-learner): the normalisation's one.",
    "bayes-optimal": "Exact Bayes-optimal policy by dynamic programming over Beta posteriors.",
    "thompson": "Thompson sampling, Beta(1, 1) prior.",
    "ucb1": "UCB1 (Auer et al. 2002), c = sqrt(2).",
    "greedy": "Greedy on the posterior mean.",
    "psrl": "Posterior sampling for RL (Osband et al. 2013).",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", default="leaderboard")
    parser.add_argument("--work", default="runs/leaderboard-seed", help="where result files are kept")
    parser.add_argument(
        "--mujoco", action="store_true", help="also the random agent on MetaHalfCheetahVel-v0"
    )
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    import metabench  # noqa: F401 - registers the families
    from metabench.evaluation.harness import evaluate
    from metabench.evaluation.report import reference_bounds
    from metabench.evaluation.results import atomic_write_text
    from metabench.leaderboard.render import render
    from metabench.leaderboard.schema import Submission
    from metabench.leaderboard.store import Store
    from metabench.leaderboard.validate import recomputed_summary

    store = Store(args.store, reps=args.reps)
    work = Path(args.work)
    plan = {**CHEAP, **(MUJOCO if args.mujoco else {})}
    references = json.loads(store.references_path.read_text()) if store.references_path.exists() else {}
    on_board = {(e.submission.result.env.id, e.submission.method.name) for e in store.entries()}
    for env_id, agents in plan.items():
        results = {}
        for agent in agents:
            out = work / f"{env_id}-{agent}.json"
            print(f"{env_id}: {agent}", flush=True)
            results[agent] = evaluate(
                agent, env_id, seeds=5, out=out, backend="process", workers=args.workers
            )
        if "oracle" in results:
            exact = reference_bounds(results["random"])
            if exact is not None:
                low, high, how = *exact, "exact expected scores of random and the oracle"
            else:
                low, high = (results[a].headline_scores().mean(axis=0) for a in ("random", "oracle"))
                how = "random and oracle agents through the harness, mean over 5 seeds"
            order = np.argsort(results["random"].task_indices)
            protocol = results["random"].to_protocol()
            references[env_id] = {
                "tasks_digest": results["random"].env.tasks_digest,
                "protocol": protocol.to_dict(),
                "random": [float(v) for v in np.asarray(low)[order]],
                "optimum": [float(v) for v in np.asarray(high)[order]],
                "how": how,
            }
            atomic_write_text(store.references_path, json.dumps(references, indent=1, sort_keys=True) + "\n")
        for agent, result in results.items():
            if (env_id, agent) in on_board:
                print(f"  {agent} is already on the board")
                continue
            submission = Submission.model_validate(
                {
                    "method": {
                        "name": agent,
                        "authors": ["metabench reference agents"],
                        "contact": f"{CODE}/issues",
                        "code": f"{CODE}/blob/main/metabench/evaluation/references.py",
                        "meta_train_steps": result.agent.meta_train_steps,
                        "description": DESCRIPTIONS.get(agent, ""),
                    },
                    "result": json.loads(result.to_json()),
                    "summary": recomputed_summary(result),
                }
            )
            entry = store.submit(submission.to_json(), where=f"{env_id}/{agent}", rebuild=False)
            on_board.add((env_id, agent))
            print(f"  accepted as {entry.path}")
    html, markdown = render(store)
    print(f"wrote {html} and {markdown}")


if __name__ == "__main__":
    main()
