"""Tables and plots of results (``metabench report`` and ``metabench compare``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import gymnasium as gym
import numpy as np
from rich.table import Table

from metabench.evaluation.results import EvaluationResult, atomic_write_bytes
from metabench.evaluation.stats import Estimate, Summary

__all__ = ["comparison_table", "plot_curves", "reference_bounds", "summary_tables"]


def _family(result: EvaluationResult) -> gym.Env:
    import metabench  # noqa: F401 - registers the families

    return gym.make(result.env.id, **result.env.kwargs).unwrapped


def reference_bounds(
    result: EvaluationResult, *, simulate: bool = False
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-task headline scores of the random agent and of the reference optimum (the
    oracle), for normalising: exact where the family allows (bandits, tabular MDPs); with
    ``simulate``, otherwise estimated by running both through the harness with the result's
    seeds, protocol and tasks; ``None`` where there is no oracle (MuJoCo families)."""
    from metabench.evaluation.harness import evaluate
    from metabench.evaluation.references import REFERENCE_AGENTS, analytic_bounds

    family = _family(result)
    protocol = result.to_protocol()
    tasks = family.test_tasks(protocol.split)
    exact = [
        analytic_bounds(type(family), tasks[t], protocol, result.env.max_episode_steps)
        for t in result.task_indices
    ]
    if all(b is not None for b in exact):
        return np.array([b[0] for b in exact]), np.array([b[1] for b in exact])
    oracle_families = REFERENCE_AGENTS["oracle"].families  # type: ignore[attr-defined]
    if not simulate or not issubclass(type(family), oracle_families):
        return None
    runs = [
        evaluate(
            name,
            result.env.id,
            seeds=result.seeds,
            protocol=protocol,
            env_kwargs=result.env.kwargs,
            task_indices=result.task_indices,
            backend="process",
        )
        for name in ("random", "oracle")
    ]
    low, high = (run.headline_scores().mean(axis=0) for run in runs)
    return low, high


def _ci(estimate: Estimate) -> str:
    return f"{estimate.point:.3f} [{estimate.low:.3f}, {estimate.high:.3f}]"


def summary_tables(result: EvaluationResult, summary: Summary) -> list[Table]:
    """The headline table and the per-round table."""
    protocol = result.to_protocol()
    agent = result.agent
    privileged = " (privileged: given the task)" if agent.privileged else ""
    title = (
        f"{agent.name}{privileged} on {result.env.id}: {protocol.describe()}; "
        f"{summary.runs} seeds × {summary.tasks} held-out tasks"
    )
    caption = "95% stratified-bootstrap confidence intervals (rliable)"
    if summary.normalised is not None:
        caption += "; normalised per task: 0 = random, 1 = oracle"
    headline = Table(title=title, caption=caption)
    for column in ("score", "IQM [95% CI]", "mean [95% CI]"):
        headline.add_column(column, justify="left" if column == "score" else "right")
    headline.add_row(
        protocol.headline.replace("_", " "), _ci(summary.headline["iqm"]), _ci(summary.headline["mean"])
    )
    if summary.normalised is not None:
        headline.add_row("normalised", _ci(summary.normalised["iqm"]), _ci(summary.normalised["mean"]))
    rounds = Table(title="Adaptation curve: mean episode return per round")
    for column in ("round", "scored", "IQM [95% CI]", "mean [95% CI]"):
        rounds.add_column(column, justify="right")
    shown = range(len(summary.rounds["iqm"]))
    if len(shown) > 30:  # long RL²-style trials: every few rounds and the last
        step = int(np.ceil(len(shown) / 20))
        shown = sorted(set(range(0, len(shown), step)) | {len(shown) - 1})
    for r in shown:
        rounds.add_row(
            str(r + 1),
            "✓" if r in protocol.scored_rounds else "",
            _ci(summary.rounds["iqm"][r]),
            _ci(summary.rounds["mean"][r]),
        )
    return [headline, rounds]


def comparison_table(
    a: EvaluationResult, b: EvaluationResult, summary_a: Summary, summary_b: Summary, improvement: Estimate
) -> Table:
    """Both headline scores and P(a > b)."""
    protocol = a.to_protocol()
    table = Table(
        title=f"{a.env.id}: {protocol.describe()}",
        caption=(
            f"P({a.agent.name} > {b.agent.name}) on a random held-out task = {_ci(improvement)} "
            "(rliable's probability of improvement, 95% CI)"
        ),
    )
    for column in ("agent", "seeds", "IQM [95% CI]", "mean [95% CI]"):
        table.add_column(column, justify="left" if column == "agent" else "right")
    for result, summary in ((a, summary_a), (b, summary_b)):
        table.add_row(
            result.agent.name, str(summary.runs), _ci(summary.headline["iqm"]), _ci(summary.headline["mean"])
        )
    return table


def plot_curves(
    curves: Sequence[tuple[str, Summary]], protocol_rounds: Sequence[int], title: str, path: Path
) -> Path:
    """The adaptation curve (IQM per round with its CI band; mean dashed) of each summary."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for i, (label, summary) in enumerate(curves):
        color = f"C{i}"
        iqm = summary.rounds["iqm"]
        x = np.arange(1, len(iqm) + 1)
        ax.plot(
            x,
            [e.point for e in iqm],
            color=color,
            marker="o" if len(x) <= 30 else None,
            label=f"{label} (IQM)",
        )
        ax.fill_between(x, [e.low for e in iqm], [e.high for e in iqm], color=color, alpha=0.2, linewidth=0)
        ax.plot(
            x,
            [e.point for e in summary.rounds["mean"]],
            color=color,
            linestyle="--",
            linewidth=1,
            label=f"{label} (mean)",
        )
    for r in protocol_rounds:
        ax.axvspan(r + 0.5, r + 1.5, color="0.9", zorder=0)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("round (shaded: scored)")
    ax.set_ylabel("mean episode return")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path
