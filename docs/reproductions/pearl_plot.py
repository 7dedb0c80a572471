"""Plot a PEARL run: training returns against environment steps (from ``progress.csv``), with
the harness's evaluation of the final checkpoint and Random on the same protocol.

    .venv/bin/python docs/reproductions/pearl_plot.py PROGRESS.csv RESULT.json RANDOM.json OUT.png TITLE
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from metabench.evaluation.results import EvaluationResult  # noqa: E402


def main(progress: Path, result_path: Path, random_path: Path, out: Path, title: str) -> None:
    with progress.open(newline="") as f:
        rows = list(csv.DictReader(f))
    steps = np.array([float(r["train/env_steps"]) for r in rows])
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for key, label in (("train/return_prior_z", "training episodes, z ~ prior"),
                       ("train/return", "training episodes, z ~ posterior")):  # fmt: skip
        values = np.array([float(r[key]) if r.get(key) else np.nan for r in rows])
        ax.plot(steps, values, marker="o", label=label)
    for path, name in ((result_path, "PEARL (harness)"), (random_path, "Random (harness)")):
        result = EvaluationResult.load(path)
        rounds = result.round_scores().reshape(-1, result.protocol.rounds)
        means = rounds.mean(0)
        se = rounds.std(0, ddof=1) / np.sqrt(len(rounds))
        x = steps[-1] if name.startswith("PEARL") else steps[-1] * 1.02
        for r, (m, s) in enumerate(zip(means, se)):
            ax.errorbar(x, m, yerr=s, fmt="s" if r else "^", capsize=3,
                        label=f"{name}, held-out round {r + 1}")  # fmt: skip
        if name.startswith("PEARL"):
            first = result.returns()[:, :, 0, 0].ravel()  # z from the prior: no context yet
            ax.errorbar(x, first.mean(), yerr=first.std(ddof=1) / np.sqrt(len(first)), fmt="v", capsize=3,
                        label=f"{name}, held-out episode 1")  # fmt: skip
    ax.set_xlabel("environment steps (meta-training)")
    ax.set_ylabel("episode return")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:5]), sys.argv[5])
