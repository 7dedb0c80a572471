"""The ``metabench`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import gymnasium as gym
import numpy as np
from rich.console import Console
from rich.markup import escape
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


def _seeds(text: str) -> int | list[int]:
    """``5`` (seeds 0..4) or ``0,3,7``."""
    try:
        if "," in text:
            return [int(part) for part in text.split(",") if part.strip()]
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of seeds or a comma-separated list, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least one seed, got {value}")
    return value


def _env_kwarg(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def _protocol_from_args(args: argparse.Namespace, env_id: str | None, env_kwargs: dict):
    """The family's default protocol with the command line's changes (None: the default)."""
    changes = {
        name: getattr(args, name)
        for name in ("rounds", "episodes_per_round", "headline", "split")
        if getattr(args, name) is not None
    }
    if args.scored_rounds is not None:
        changes["scored_rounds"] = tuple(int(r) - 1 for r in args.scored_rounds.split(","))
    if not changes:
        return None
    from metabench.evaluation.agent import load_checkpoint_manifest
    from metabench.evaluation.harness import make_eval_env

    if env_id is None and Path(args.agent).exists():  # a checkpoint names the env it was trained on
        _, manifest = load_checkpoint_manifest(args.agent)
        env_id, env_kwargs = manifest.get("env"), env_kwargs or manifest.get("env_kwargs") or {}
    if env_id is None:
        raise ValueError("--rounds and the other protocol options need --env")
    return make_eval_env(env_id, env_kwargs).unwrapped.default_protocol.replace(**changes)


def _print_summary(result, console: Console, png: Path | None, simulate: bool, reps: int) -> None:
    from metabench.evaluation.report import plot_curves, reference_bounds, summary_tables
    from metabench.evaluation.stats import summarise

    bounds = reference_bounds(result, simulate=simulate)
    summary = summarise(result, bounds=bounds, reps=reps)
    for table in summary_tables(result, summary):
        console.print(table)
    if bounds is None:
        console.print(
            "no normalised score: this family has no exact reference (try --normalise to simulate one)"
            if not simulate
            else "no normalised score: this family has no oracle reference"
        )
    if png is not None:
        title = f"{result.agent.name} on {result.env.id}"
        plot_curves([(result.agent.name, summary)], result.to_protocol().scored_rounds, title, png)
        console.print(f"wrote {png}")


def _evaluate(args: argparse.Namespace, console: Console) -> int:
    from metabench.evaluation.harness import evaluate
    from metabench.evaluation.results import EvaluationResult

    env_kwargs = dict(args.env_kwarg or [])
    out = Path(args.out)
    try:
        protocol = _protocol_from_args(args, args.env, env_kwargs)
        result = evaluate(
            args.agent,
            args.env,
            seeds=args.seeds,
            protocol=protocol,
            env_kwargs=env_kwargs or None,
            task_indices=range(args.max_tasks) if args.max_tasks else None,
            out=out,
            resume=not args.overwrite,
            backend=args.backend,
            workers=args.workers,
            ray_address=args.ray_address,
            save_every=args.save_every,
            progress=not args.no_progress,
            console=console,
        )
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]")
        _report_partial(out, console)
        return 130
    except Exception as error:
        from metabench.evaluation.agent import AgentLoadError
        from metabench.evaluation.harness import EvaluationError
        from metabench.evaluation.results import ResultFileError

        if not isinstance(error, (AgentLoadError, EvaluationError, ResultFileError, ValueError)):
            raise
        console.print(f"[red]error:[/red] {escape(str(error))}", highlight=False)
        _report_partial(out, console)
        return 1
    console.print(f"wrote {out} ({len(result.units)} trials, {result.provenance.env_steps:,} env steps)")
    if not args.no_summary:
        try:
            _print_summary(EvaluationResult.load(out), console, None, False, args.reps)
        except ImportError as error:
            console.print(f"(no summary: {error})")
    return 0


def _train(args: argparse.Namespace, console: Console) -> int:
    # The CLI is the top layer: it may reach the baselines, lazily (the harness never does).
    from metabench.baselines.train import train

    overrides = dict(args.set or [])
    if args.device:
        overrides["device"] = args.device
    try:
        train(args.algorithm, args.env, args.config, Path(args.out), seed=args.seed, resume=args.resume,
              overrides=overrides, console=console)
    except (ValueError, FileExistsError, FileNotFoundError, TypeError) as error:
        console.print(f"[red]error:[/red] {escape(str(error))}", highlight=False)
        return 1
    console.print(f"wrote {args.out}: evaluate it with 'metabench evaluate {args.out}'")
    return 0


def _report_partial(out: Path, console: Console) -> None:
    from metabench.evaluation.results import EvaluationResult, ResultFileError

    try:
        partial = EvaluationResult.load(out)
    except ResultFileError:
        return
    if partial.status == "partial":
        total = len(partial.seeds) * len(partial.task_indices)
        console.print(
            f"{len(partial.units)}/{total} trials are saved in {out}; run the same command again to resume"
        )


def _report(args: argparse.Namespace, console: Console) -> int:
    from metabench.evaluation.results import EvaluationResult, ResultFileError

    try:
        result = EvaluationResult.load(args.results)
        if result.status != "complete":
            raise ResultFileError(
                f"{args.results}: partial result ({len(result.units)} trials); finish it with metabench evaluate"
            )
    except ResultFileError as error:
        console.print(f"[red]error:[/red] {escape(str(error))}", highlight=False)
        return 1
    png = Path(args.png) if args.png else Path(args.results).with_suffix(".png")
    _print_summary(result, console, png, args.normalise, args.reps)
    return 0


def _compare(args: argparse.Namespace, console: Console) -> int:
    from metabench.evaluation.report import comparison_table, plot_curves
    from metabench.evaluation.results import EvaluationResult, ResultFileError
    from metabench.evaluation.stats import probability_of_improvement, summarise

    try:
        a, b = (EvaluationResult.load(path) for path in (args.a, args.b))
        for path, result in ((args.a, a), (args.b, b)):
            if result.status != "complete":
                raise ResultFileError(f"{path}: partial result; finish it with metabench evaluate")
        differences = a.comparable_with(b)
        if differences:
            raise ResultFileError("the two evaluations are not comparable:\n  " + "\n  ".join(differences))
    except ResultFileError as error:
        console.print(f"[red]error:[/red] {escape(str(error))}", highlight=False)
        return 1
    summary_a, summary_b = summarise(a, reps=args.reps), summarise(b, reps=args.reps)
    improvement = probability_of_improvement(a.headline_scores(), b.headline_scores(), reps=args.reps)
    console.print(comparison_table(a, b, summary_a, summary_b, improvement))
    if args.png:
        title = f"{a.agent.name} vs {b.agent.name} on {a.env.id}"
        curves = [(a.agent.name, summary_a), (b.agent.name, summary_b)]
        console.print(f"wrote {plot_curves(curves, a.to_protocol().scored_rounds, title, Path(args.png))}")
    return 0


def _leaderboard(args: argparse.Namespace, console: Console) -> int:
    from metabench.leaderboard.cli import run

    return run(args, console)


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

    evaluate = commands.add_parser(
        "evaluate",
        help="score an agent's few-shot adaptation on a family's held-out tasks",
        description="Run the family's evaluation protocol for an agent on every held-out task and seed, "
        "and write one result file (resumed if it holds a partial run of the same evaluation).",
    )
    evaluate.add_argument(
        "agent",
        help="a reference agent (random, oracle, thompson, ucb1, greedy, bayes-optimal, psrl, "
        "straight-to-goal), a checkpoint directory, or module:function",
    )
    evaluate.add_argument("--env", help="the family's id (default: the checkpoint's)")
    evaluate.add_argument(
        "--seeds", type=_seeds, default=5, help="number of seeds, or a list 0,1,2 (default 5)"
    )
    evaluate.add_argument("--out", default="results.json", help="the result file (default results.json)")
    evaluate.add_argument("--backend", choices=("local", "process", "ray"), default="process")
    evaluate.add_argument("--workers", type=int, help="processes or Ray actors (default: CPU count)")
    evaluate.add_argument("--ray-address", help="a Ray cluster to join (default: a local instance)")
    evaluate.add_argument(
        "--env-kwarg",
        type=_env_kwarg,
        action="append",
        metavar="KEY=VALUE",
        help="gym.make keyword argument (e.g. num_arms=10); repeatable",
    )
    group = evaluate.add_argument_group("protocol (default: the family's; the leaderboard ranks only that)")
    group.add_argument("--rounds", type=int)
    group.add_argument("--episodes-per-round", type=int)
    group.add_argument("--scored-rounds", help="1-based, comma-separated")
    group.add_argument("--headline", choices=("mean_return", "cumulative_return"))
    group.add_argument("--split", help="held-out split (default test)")
    evaluate.add_argument("--max-tasks", type=int, help="only the first N held-out tasks (quick looks)")
    evaluate.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming --out")
    evaluate.add_argument(
        "--save-every",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="save finished trials at least this often (default 2)",
    )
    evaluate.add_argument("--no-progress", action="store_true")
    evaluate.add_argument("--no-summary", action="store_true", help="skip the table of scores at the end")
    evaluate.add_argument("--reps", type=int, default=2000, help="bootstrap replications")

    train = commands.add_parser(
        "train",
        help="meta-train a reference baseline (maml-trpo, rl2, pearl)",
        description="Meta-train a baseline with a named config; the run directory it writes (checkpoint, "
        "progress.csv, TensorBoard logs) loads straight into 'metabench evaluate'.",
    )
    train.add_argument("algorithm", choices=("maml-trpo", "rl2", "pearl"))
    train.add_argument("--env", required=True, help="the family to meta-train on")
    train.add_argument("--config", default="paper", help="named config: paper (the paper's values) or ci (tiny)")
    train.add_argument("--seed", type=int, default=None, help="overrides the config's seed")
    train.add_argument("--out", required=True, help="the run directory")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    train.add_argument("--device", help="torch device, e.g. cuda (PEARL)")
    train.add_argument(
        "--set", type=_env_kwarg, action="append", metavar="FIELD=VALUE", help="override one config field; repeatable"
    )

    report = commands.add_parser("report", help="table with confidence intervals and a PNG adaptation curve")
    report.add_argument("results", help="a result file from metabench evaluate")
    report.add_argument("--png", help="where to write the plot (default: RESULTS with .png)")
    report.add_argument(
        "--normalise",
        action="store_true",
        help="also simulate random and oracle references where no exact one exists",
    )
    report.add_argument("--reps", type=int, default=2000, help="bootstrap replications")

    compare = commands.add_parser("compare", help="probability of improvement between two result files")
    compare.add_argument("a")
    compare.add_argument("b")
    compare.add_argument("--png", help="plot both adaptation curves here")
    compare.add_argument("--reps", type=int, default=2000, help="bootstrap replications")

    from metabench.leaderboard.cli import add_parser as add_leaderboard_parser

    add_leaderboard_parser(commands)

    args = parser.parse_args(argv)
    console = Console()
    handlers = {
        "list": _list,
        "demo": _demo,
        "train": _train,
        "evaluate": _evaluate,
        "report": _report,
        "compare": _compare,
        "leaderboard": _leaderboard,
    }
    return handlers[args.command](args, console)


if __name__ == "__main__":
    sys.exit(main())
