"""Plot a MAML-TRPO run: the meta-training returns before and after the inner step per
iteration (``progress.csv``, up to the checkpoint), with the harness's held-out scores of the
checkpoint (rounds 0 and 1 of the result file) at its iteration.

    .venv/bin/python docs/reproductions/maml_plot.py RUN_DIR RESULT.json OUT.png [TITLE]
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from metabench.baselines.common.checkpoint import load_checkpoint  # noqa: E402
from metabench.evaluation.results import EvaluationResult  # noqa: E402


def main(run: Path, result_path: Path, out: Path, title: str = "") -> None:
    with (run / "progress.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    scored = load_checkpoint(run)["algorithm"]["iteration"]  # the log may run past the checkpoint
    rows = [r for r in rows if int(float(r["train/iteration"])) <= scored]
    iterations = np.array([int(float(r["train/iteration"])) for r in rows])
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for key, label, color in (
        ("train/return_pre_adaptation", "meta-training tasks, before adaptation", "tab:gray"),
        ("train/return_post_adaptation", "meta-training tasks, after one inner step", "tab:blue"),
    ):
        ax.plot(iterations, [float(r[key]) for r in rows], label=label, color=color)
    result = EvaluationResult.load(result_path)
    scores = result.round_scores()  # (seeds, tasks, rounds)
    last = iterations[-1]
    for round_, color in ((0, "tab:gray"), (1, "tab:blue")):
        mean = scores[:, :, round_].mean()
        se = scores[:, :, round_].std(ddof=1) / np.sqrt(scores[:, :, round_].size)
        ax.errorbar([last], [mean], yerr=[3 * se], fmt="s", color=color, capsize=4)
        ax.annotate(f"held-out round {round_}: {mean:.1f} (±3 s.e.)", (last, mean), textcoords="offset points",
                    xytext=(-150, 6 if round_ else -14), color=color, fontsize=8)  # fmt: skip
    ax.set_xlabel("meta-iteration")
    ax.set_ylabel("mean episode return")
    ax.set_title(title or f"MAML-TRPO on {result.env.id}", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), *sys.argv[4:5])
