"""Checkpoints: one directory per run, written atomically, loadable by ``metabench evaluate``.

A run directory holds ``checkpoint.pt`` (the algorithm's state: model, optimiser, RNG states,
iteration, config), ``metabench-agent.json`` (the manifest naming the agent factory the
evaluation harness calls) and the logs. Files are written to a temporary name and renamed,
so a run killed mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_FILE = "checkpoint.pt"
MANIFEST_FILE = "metabench-agent.json"  # the harness's CHECKPOINT_MANIFEST


def atomic_write(path: Path, write) -> None:
    """Call ``write(file_object)`` on a temporary file beside ``path``, then rename it over
    ``path`` (atomic on POSIX)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(run_dir: Path, state: Mapping[str, Any], manifest: Mapping[str, Any]) -> None:
    """Write the algorithm's ``state`` and the agent ``manifest`` into ``run_dir``."""
    run_dir = Path(run_dir)
    atomic_write(run_dir / CHECKPOINT_FILE, lambda f: torch.save(dict(state), f))
    atomic_write(run_dir / MANIFEST_FILE, lambda f: f.write(json.dumps(dict(manifest), indent=2).encode()))


def load_checkpoint(run_dir: Path) -> dict[str, Any]:
    """The state saved in ``run_dir``.

    Raises:
        FileNotFoundError: with the path, when there is no checkpoint there.
    """
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {str(path)!r}: expected a run directory written by 'metabench train'"
        )
    return torch.load(path, map_location="cpu", weights_only=False)


def rng_state() -> dict[str, Any]:
    """The global torch RNG state (the one thing outside an algorithm's own generators)."""
    return {"torch": torch.get_rng_state()}


def set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
