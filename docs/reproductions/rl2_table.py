"""RL² against the harness's reference agents on the RL² paper's bandit and tabular-MDP cells.

Trains RL² on each cell (a small recurrent policy: the ``ci`` config with the cell's n and a
budget that fits a 2-core session, far below the paper's 250k steps per batch), scores it with
the harness on the 100 held-out tasks × 5 seeds under the family's protocol with ``rounds = n``,
scores the reference agents the same way, and writes the harness's result files gzipped to
``rl2/<cell>/<agent>.json.gz`` (``gunzip -k`` one for ``metabench report``), ``rl2/table.md``
and ``rl2/curves.png`` next to this file.

    nice -n 19 .venv/bin/python docs/reproductions/rl2_table.py train   # resumable, per cell
    .venv/bin/python docs/reproductions/rl2_table.py evaluate            # latest checkpoints
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import sys
from pathlib import Path

import numpy as np

import metabench  # noqa: F401
from metabench.baselines import rl2
from metabench.baselines.common.checkpoint import load_checkpoint
from metabench.baselines.train import train
from metabench.evaluation.harness import evaluate

HERE = Path(__file__).parent / "rl2"
RUNS = Path("runs")
RESULTS = RUNS / "rl2-results"  # the harness's files while working; gzipped copies go to HERE
CI = rl2.CONFIGS[("*", "ci")]

#: Longer trials need a smaller step, an entropy bonus and bigger batches. With a value
#: function sharing the policy's GRU and the ``ci`` settings (Adam 3e-3, no entropy bonus) the
#: policy's entropy fell from 1.6 to 0.1-0.3 within 60-90 iterations while the trial return
#: stayed at Random's; with a smaller step and an entropy bonus it stayed random. With a
#: separate critic (now the default) and 64 trials per batch, bandit k=5 n=100 reached 63 after
#: 200 iterations; with 256 trials, 72 after 150 (README.md next to this file). The tabular
#: MDPs did not learn with these (MDP n=10: 99-103 over 218 iterations of 256 trials); with the
#: ``ci`` step (Adam 3e-3) and no or a small entropy bonus they did, a little.
LONG = {"learning_rate": 1e-3, "entropy_coef": 0.01, "trials_per_batch": 256}

#: cell -> (env id, env kwargs, n, RL² overrides of the ``ci`` config, reference agents).
CELLS = {
    "bandit-k5-n10": ("MetaBandit-v0", {"num_arms": 5}, 10, {}, ("random", "greedy", "thompson", "ucb1", "bayes-optimal")),
    "bandit-k10-n10": ("MetaBandit-v0", {"num_arms": 10}, 10, {}, ("random", "greedy", "thompson", "ucb1", "bayes-optimal")),
    "mdp-n10": ("MetaTabularMDP-v0", {}, 10, {"hidden_size": 128, "trials_per_batch": 256, "entropy_coef": 0.005, "num_iterations": 150}, ("random", "greedy", "psrl")),
    "bandit-k5-n100": ("MetaBandit-v0", {"num_arms": 5}, 100, {**LONG, "num_iterations": 250}, ("random", "greedy", "thompson", "ucb1")),
    "mdp-n25": ("MetaTabularMDP-v0", {}, 25, {"hidden_size": 128, "trials_per_batch": 64, "num_iterations": 200}, ("random", "greedy", "psrl")),
    "bandit-k10-n100": ("MetaBandit-v0", {"num_arms": 10}, 100, {**LONG, "num_iterations": 400}, ("random", "greedy", "thompson", "ucb1")),
}  # fmt: skip

#: RL² paper (Duan et al. 2016), Tables 1-2, as given in REFERENCE.md's simulated references.
PUBLISHED_SETTING = "RL² paper: 256-unit GRU, PPO, 250k steps per batch; 1000 trials per cell"


def train_cell(cell: str) -> None:
    env_id, env_kwargs, n, overrides, _ = CELLS[cell]
    out = RUNS / f"rl2-{cell}"
    planned = overrides.get("num_iterations", CI.num_iterations)
    done = load_checkpoint(out)["algorithm"]["iteration"] if (out / "checkpoint.pt").exists() else None
    if done is not None and done >= planned:
        return
    config = {"episodes_per_trial": n, "env_kwargs": env_kwargs, "checkpoint_every": 10, **overrides}
    stop_after = planned - done if done is not None else None  # the budget here, not the checkpoint's
    train(
        "rl2",
        env_id,
        "ci",
        out,
        resume=done is not None,
        overrides=config,
        tensorboard=False,
        stop_after=stop_after,
    )


def evaluate_cell(cell: str, seeds: int) -> list[tuple[str, float, float, int]]:
    env_id, env_kwargs, n, _, references = CELLS[cell]
    protocol = metabench_protocol(env_id, env_kwargs, n)
    rows = []
    for agent in (str(RUNS / f"rl2-{cell}"), *references):
        name = "rl2" if agent.startswith(str(RUNS)) else agent
        result = evaluate(
            agent,
            env_id,
            env_kwargs=env_kwargs,
            protocol=protocol,
            seeds=seeds,
            out=RESULTS / cell / f"{name}.json",
            resume=name != "rl2",  # a reference's finished file is reused; RL²'s checkpoint moves on
        )
        keep = HERE / cell / f"{name}.json.gz"
        keep.parent.mkdir(parents=True, exist_ok=True)
        keep.write_bytes(gzip.compress((RESULTS / cell / f"{name}.json").read_bytes(), mtime=0))
        scores = result.headline_scores()
        steps = result.agent.meta_train_steps if name == "rl2" else 0
        rows.append((name, float(scores.mean()), float(scores.std(ddof=1) / np.sqrt(scores.size)), steps))
        print(f"{cell:16s} {name:14s} {rows[-1][1]:8.2f} ± {rows[-1][2]:.2f}", flush=True)
    return rows


def plot(results: dict[str, list[tuple[str, float, float, int]]], out: Path) -> None:
    """One panel per cell: RL²'s training trial return against environment steps, its held-out
    score, and the reference agents' held-out scores as lines."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(3.4 * len(results), 3.2), squeeze=False)
    for ax, (cell, rows) in zip(axes[0], results.items()):
        with (RUNS / f"rl2-{cell}" / "progress.csv").open(newline="") as f:
            log = list(csv.DictReader(f))
        steps = [float(r["train/env_steps"]) for r in log]
        ax.plot(
            steps,
            [float(r["train/return"]) for r in log],
            color="tab:blue",
            lw=1,
            label="RL² (training trials)",
        )
        for (name, mean, se, _), color in zip(rows, plt.cm.tab10.colors[1:]):
            if name == "rl2":
                ax.errorbar(
                    [steps[-1]],
                    [mean],
                    yerr=[3 * se],
                    fmt="s",
                    color="tab:blue",
                    label="RL² held-out ±3 s.e.",
                )
            else:
                ax.axhline(mean, color=color, ls="--", lw=1, label=name)
        ax.set_title(cell, fontsize=9)
        ax.set_xlabel("environment steps", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    axes[0][0].set_ylabel("total reward per trial", fontsize=8)
    axes[0][0].legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def metabench_protocol(env_id, env_kwargs, n):
    import gymnasium as gym

    return gym.make(env_id, **env_kwargs).unwrapped.default_protocol.replace(rounds=n)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phase", choices=("train", "evaluate"))
    parser.add_argument("--cells", nargs="*", default=list(CELLS))
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    if args.phase == "train":
        for cell in args.cells:
            train_cell(cell)
        return 0
    lines = [
        "| cell | agent | total reward (mean ± s.e.) | RL² iterations / env steps |",
        "|---|---|---|---|",
    ]
    results = {}
    for cell in args.cells:
        if not (RUNS / f"rl2-{cell}" / "checkpoint.pt").exists():
            print(f"{cell}: no checkpoint, skipped", file=sys.stderr)
            continue
        state = load_checkpoint(RUNS / f"rl2-{cell}")
        iterations = state["algorithm"]["iteration"]
        planned = dataclasses.replace(CI, **CELLS[cell][3]).num_iterations
        results[cell] = evaluate_cell(cell, args.seeds)
        for name, mean, se, steps in results[cell]:
            extra = f"{iterations}/{planned} it, {steps:,} steps" if name == "rl2" else ""
            lines.append(f"| {cell} | {name} | {mean:.2f} ± {se:.2f} | {extra} |")
    HERE.mkdir(parents=True, exist_ok=True)
    (HERE / "table.md").write_text("\n".join(lines) + "\n")
    plot(results, HERE / "curves.png")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
