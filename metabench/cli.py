"""The ``metabench`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import gymnasium as gym
import numpy as np
from rich.console import Console
from rich.table import Table

from metabench.registration import FAMILIES


def _list(args: argparse.Namespace, console: Console) -> int:
    table = Table(title="metabench families")
    for column in ("id", "horizon", "what varies", "held-out splits", "source"):
        table.add_column(column)
    for family in FAMILIES:
        env = gym.make(family.id)
        splits = ", ".join(f"{name} ({size})" for name, (size, _) in env.unwrapped.test_splits.items())
        table.add_row(family.id, str(family.max_episode_steps), family.varies, splits, family.source)
        env.close()
    console.print(table)
    return 0


def random_returns(env_id: str, num_tasks: int, seed: int) -> np.ndarray:
    """Returns of a uniformly random policy, one episode on each of the first ``num_tasks``
    held-out tasks of ``env_id``."""
    env = gym.make(env_id)
    env.action_space.seed(seed)
    returns = []
    for i, task in enumerate(env.unwrapped.test_tasks()[:num_tasks]):
        env.unwrapped.set_task(task)
        env.reset(seed=seed + i)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return np.array(returns)


def _demo(args: argparse.Namespace, console: Console) -> int:
    table = Table(title=f"Random policy, one episode on each of {args.tasks} held-out tasks")
    for column in ("family", "mean return", "min", "max"):
        table.add_column(column, justify="right" if column != "family" else "left")
    results = {}
    for family in FAMILIES:
        returns = random_returns(family.id, args.tasks, args.seed)
        results[family.id] = returns
        table.add_row(family.id, f"{returns.mean():.3f}", f"{returns.min():.3f}", f"{returns.max():.3f}")
    console.print(table)
    if args.out is not None:
        path = _plot_returns(results, Path(args.out))
        console.print(f"wrote {path}")
    return 0


def _plot_returns(results: dict[str, np.ndarray], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(results), figsize=(2.2 * len(results), 2.8), squeeze=False)
    for ax, (env_id, returns) in zip(axes[0], results.items()):
        ax.boxplot(returns)
        ax.set_title(env_id.removeprefix("Meta").removesuffix("-v0"), fontsize=8)
        ax.set_xticks([])
    axes[0][0].set_ylabel("random-policy return")
    fig.tight_layout()
    path = out / "demo_returns.png"
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``metabench`` command."""
    import metabench  # noqa: F401 - registers the families

    parser = argparse.ArgumentParser(prog="metabench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the registered families")
    demo = commands.add_parser("demo", help="random rollouts on every family's held-out tasks")
    demo.add_argument("--tasks", type=int, default=5, help="held-out tasks per family")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--out", default=None, help="folder for the plot (needs matplotlib)")
    args = parser.parse_args(argv)
    console = Console()
    return {"list": _list, "demo": _demo}[args.command](args, console)


if __name__ == "__main__":
    sys.exit(main())
