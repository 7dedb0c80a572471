"""``metabench train ALGORITHM``: the training driver the baselines share.

It prints the full config, runs the algorithm's iterations with a progress bar, logs every
iteration (CSV + TensorBoard), checkpoints atomically, and resumes a killed run exactly. An
algorithm module provides ``CONFIGS`` (``{(env_id, name): config}``; ``ci`` configs may be
keyed by ``"*"`` for any env), a trainer class ``TRAINER`` built from a config with
``train_iteration() -> record``, ``state_dict()``, ``load_state_dict()``, ``iteration`` and
``env_steps``, and ``AGENT_FACTORY`` (``"module:function"``) for the checkpoint manifest.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from metabench.baselines.common.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from metabench.baselines.common.logger import Logger

ALGORITHMS = {
    "maml-trpo": "metabench.baselines.maml_trpo",
    "rl2": "metabench.baselines.rl2",
    "pearl": "metabench.baselines.pearl",
}


def algorithm_module(name: str) -> ModuleType:
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}: expected one of {sorted(ALGORITHMS)}")
    return importlib.import_module(ALGORITHMS[name])


def resolve_config(module: ModuleType, env_id: str, name: str, seed: int | None, overrides: dict[str, Any]):
    """The named config for ``env_id`` (``ci`` configs may be generic), with the seed and
    overrides applied and ``env_id`` set."""
    configs = module.CONFIGS
    config = configs.get((env_id, name)) or configs.get(("*", name))
    if config is None:
        available = sorted({n for e, n in configs if e in (env_id, "*")})
        raise ValueError(f"no {name!r} config for {env_id}: available {available or 'none'}")
    changes = {"env_id": env_id, **overrides}
    if seed is not None:
        changes["seed"] = seed
    return dataclasses.replace(config, **changes)


def train(
    algorithm: str,
    env_id: str,
    config_name: str,
    out: Path,
    *,
    seed: int | None = None,
    resume: bool = False,
    overrides: dict[str, Any] | None = None,
    console: Console | None = None,
    tensorboard: bool = True,
    stop_after: int | None = None,
):
    """Train (or resume) a run in ``out``; returns the trainer.

    Args:
        overrides: config fields to change. On resume only ``num_iterations`` applies (to
            extend a finished run); everything else comes from the checkpoint.
        stop_after: stop after this many iterations of this call (for tests of resume).
    """
    console = console or Console()
    module = algorithm_module(algorithm)
    out = Path(out)
    state = None
    if resume:
        state = load_checkpoint(out)
        config = module.config_from_dict(state["config"])
        if overrides and "num_iterations" in overrides:
            config = dataclasses.replace(config, num_iterations=overrides["num_iterations"])
    else:
        if (out / "checkpoint.pt").exists():
            raise FileExistsError(
                f"{str(out)!r} already holds a run: pass --resume to continue it, or another --out"
            )
        config = resolve_config(module, env_id, config_name, seed, overrides or {})
    torch.set_num_threads(1)  # one sampler process per core is the better split (DEPENDENCIES.md)
    trainer = module.TRAINER(config)
    if state is not None:
        trainer.load_state_dict(state["algorithm"])
        set_rng_state(state["rng"])
    console.print(f"[bold]{algorithm}[/] on {config.env_id} ({config_name} config), run directory {out}")
    for key, value in dataclasses.asdict(config).items():
        console.print(f"  {key} = {value!r}")
    logger = Logger(out, resume_iteration=trainer.iteration, tensorboard=tensorboard)
    manifest = {
        "factory": module.AGENT_FACTORY,
        "algorithm": algorithm,
        "env": config.env_id,
        "env_kwargs": dict(config.env_kwargs),
    }
    todo = config.num_iterations - trainer.iteration
    if stop_after is not None:
        todo = min(todo, stop_after)
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task(
            "iterations", total=config.num_iterations, completed=trainer.iteration, status=""
        )
        for _ in range(todo):
            record = trainer.train_iteration()
            logger.log(record)
            seconds = record.get("time/sampling_s", 0) + record.get("time/learning_s", 0)
            steps = record.get("time/iteration_env_steps", 0)
            status = f"return {record.get('train/return', float('nan')):8.2f}  {steps / max(seconds, 1e-9):7.0f} steps/s"
            progress.update(bar, advance=1, status=status)
            if trainer.iteration % config.checkpoint_every == 0:
                save_checkpoint(out, _checkpoint_state(config, trainer), manifest)
    save_checkpoint(out, _checkpoint_state(config, trainer), manifest)
    logger.close()
    return trainer


def _checkpoint_state(config, trainer) -> dict[str, Any]:
    return {"config": dataclasses.asdict(config), "algorithm": trainer.state_dict(), "rng": rng_state()}
