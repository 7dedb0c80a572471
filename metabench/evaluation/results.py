"""The result file: one JSON document per evaluation, with a versioned schema.

It holds every episode's return (by seed, task, round and episode), what was evaluated (the
family id and version, its keyword arguments, the held-out split and a digest of its tasks),
how (the protocol), who (the agent's name, where it came from, its meta-training steps) and
provenance (package versions, git commit, machine). It is written atomically (a temporary
file, then a rename), and while an evaluation runs it is rewritten with ``status: "partial"``
so that a killed run resumes from it.

The leaderboard reads submissions through :class:`EvaluationResult`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from metabench.protocol import Protocol

__all__ = [
    "SCHEMA_VERSION",
    "AgentRecord",
    "EnvRecord",
    "EvaluationResult",
    "ProtocolRecord",
    "Provenance",
    "ResultFileError",
    "UnitRecord",
    "collect_provenance",
    "tasks_digest",
]

#: Bump on any change that an old reader could misread.
SCHEMA_VERSION = 1

#: Packages whose versions are recorded in provenance (those that can change a number).
PROVENANCE_PACKAGES = (
    "metabench",
    "gymnasium",
    "mujoco",
    "numpy",
    "scipy",
    "torch",
    "rliable",
    "ray",
    "pydantic",
)


class ResultFileError(ValueError):
    """A result file is missing, not JSON, or does not follow the schema."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class EnvRecord(_Model):
    """What was evaluated."""

    id: str = Field(min_length=1, description="gymnasium id, e.g. MetaBandit-v0")
    version: int = Field(ge=0, description="the id's version number")
    family: str = Field(min_length=1, description="the env class, module:Class")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="gym.make keyword arguments")
    max_episode_steps: int = Field(ge=1)
    num_tasks: int = Field(ge=1, description="tasks in the held-out split")
    tasks_digest: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the split's tasks as JSON")


class ProtocolRecord(_Model):
    """The protocol (see :class:`metabench.protocol.Protocol`)."""

    rounds: int = Field(ge=1)
    episodes_per_round: int = Field(ge=1)
    scored_rounds: list[int] = Field(min_length=1)
    headline: Literal["mean_return", "cumulative_return"]
    split: str = Field(min_length=1)
    source: str = ""

    def to_protocol(self) -> Protocol:
        """The protocol object (validates the scored rounds against ``rounds``)."""
        return Protocol(**self.model_dump())

    @model_validator(mode="after")
    def _valid_protocol(self) -> ProtocolRecord:
        self.to_protocol()
        return self


class AgentRecord(_Model):
    """Who was evaluated."""

    name: str = Field(min_length=1)
    source: str = Field(min_length=1, description="reference:NAME, checkpoint:PATH or module:function")
    meta_train_steps: int = Field(ge=0, description="environment steps used in meta-training")
    privileged: bool = Field(description="given the task (an oracle): not a meta-learner")
    parallel_episodes: bool = False


class UnitRecord(_Model):
    """One trial: one seed on one held-out task."""

    seed: int = Field(ge=0)
    task_index: int = Field(ge=0)
    returns: list[list[float]] = Field(description="episode returns, [round][episode]")
    lengths: list[list[int]] = Field(description="episode lengths in steps, [round][episode]")


class Provenance(_Model):
    """Where and with what the numbers were produced."""

    metabench_version: str
    python: str
    packages: dict[str, str]
    git_commit: str | None = None
    git_dirty: bool | None = None
    machine: dict[str, Any]
    created_at: str
    wall_seconds: float = Field(ge=0)
    env_steps: int = Field(ge=0, description="environment steps this evaluation took")


class EvaluationResult(_Model):
    """One evaluation (schema version 1)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    status: Literal["complete", "partial"]
    env: EnvRecord
    protocol: ProtocolRecord
    agent: AgentRecord
    seeds: list[int] = Field(min_length=1)
    task_indices: list[int] = Field(min_length=1)
    units: list[UnitRecord]
    provenance: Provenance

    @model_validator(mode="after")
    def _consistent(self) -> EvaluationResult:
        protocol = self.protocol
        if len(set(self.seeds)) != len(self.seeds) or any(s < 0 for s in self.seeds):
            raise ValueError(f"seeds: expected distinct non-negative integers, got {self.seeds}")
        if len(set(self.task_indices)) != len(self.task_indices) or any(
            not 0 <= t < self.env.num_tasks for t in self.task_indices
        ):
            raise ValueError(
                f"task_indices: expected distinct indices in [0, {self.env.num_tasks}), "
                f"got {self.task_indices}"
            )
        seeds, tasks, seen = set(self.seeds), set(self.task_indices), set()
        for i, unit in enumerate(self.units):
            where = f"units[{i}] (seed {unit.seed}, task {unit.task_index})"
            if unit.seed not in seeds or unit.task_index not in tasks:
                raise ValueError(f"{where}: seed or task index not among the evaluation's seeds/tasks")
            if (unit.seed, unit.task_index) in seen:
                raise ValueError(f"{where}: duplicate unit")
            seen.add((unit.seed, unit.task_index))
            for name in ("returns", "lengths"):
                table = getattr(unit, name)
                if len(table) != protocol.rounds or any(len(r) != protocol.episodes_per_round for r in table):
                    raise ValueError(
                        f"{where}.{name}: expected {protocol.rounds} rounds of "
                        f"{protocol.episodes_per_round} episodes, got shape "
                        f"{[len(r) for r in table]}"
                    )
            if any(not 1 <= n <= self.env.max_episode_steps for r in unit.lengths for n in r):
                raise ValueError(f"{where}.lengths: expected lengths in [1, {self.env.max_episode_steps}]")
        if self.status == "complete" and len(seen) != len(self.seeds) * len(self.task_indices):
            raise ValueError(
                f"status is 'complete' but {len(seen)} of {len(self.seeds) * len(self.task_indices)} "
                "(seed, task) units are present"
            )
        return self

    # -- reading --------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> EvaluationResult:
        """Read and validate a result file.

        Raises:
            ResultFileError: naming the file and each problem (with its location in the JSON).
        """
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise ResultFileError(f"{path}: no such result file") from None
        except OSError as error:
            raise ResultFileError(f"{path}: cannot read ({error})") from None
        return cls.from_json(text, str(path))

    @classmethod
    def from_json(cls, text: str, where: str = "result") -> EvaluationResult:
        """Parse and validate a result document (see :meth:`load`)."""
        try:
            data = json.loads(text)
        except ValueError as error:
            raise ResultFileError(f"{where}: not valid JSON ({error})") from None
        if isinstance(data, dict) and data.get("schema_version") not in (None, SCHEMA_VERSION):
            raise ResultFileError(
                f"{where}: schema_version {data.get('schema_version')!r} is not supported by this "
                f"metabench (it reads version {SCHEMA_VERSION})"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise ResultFileError(f"{where}: not a valid metabench result:\n{_explain(error)}") from None

    def to_json(self) -> str:
        """The document, as written to disk."""
        return self.model_dump_json(indent=1)

    def save(self, path: str | Path) -> None:
        """Write atomically: a reader sees the old file or the new one, never half of one."""
        atomic_write_text(Path(path), self.to_json())

    # -- views ----------------------------------------------------------------------------------

    def to_protocol(self) -> Protocol:
        """The protocol as a :class:`Protocol`."""
        return self.protocol.to_protocol()

    def returns(self) -> np.ndarray:
        """Episode returns, shape ``(seeds, tasks, rounds, episodes)`` in the order of ``seeds``
        and ``task_indices``; NaN where a partial result lacks a unit."""
        p = self.protocol
        out = np.full((len(self.seeds), len(self.task_indices), p.rounds, p.episodes_per_round), np.nan)
        seed_at = {s: i for i, s in enumerate(self.seeds)}
        task_at = {t: i for i, t in enumerate(self.task_indices)}
        for unit in self.units:
            out[seed_at[unit.seed], task_at[unit.task_index]] = unit.returns
        return out

    def headline_scores(self) -> np.ndarray:
        """The headline score of every trial, shape ``(seeds, tasks)``."""
        protocol = self.to_protocol()
        returns = self.returns()
        scored = returns[:, :, list(protocol.scored_rounds)]
        total = scored.sum(axis=(2, 3))
        return (
            total if protocol.headline == "cumulative_return" else total / (scored.shape[2] * scored.shape[3])
        )

    def round_scores(self) -> np.ndarray:
        """The mean episode return of every round of every trial, ``(seeds, tasks, rounds)``:
        the adaptation curve."""
        return self.returns().mean(axis=3)

    def comparable_with(self, other: EvaluationResult) -> list[str]:
        """What differs between the settings of two evaluations (empty when they can be
        compared or merged: same family, version, kwargs, tasks and protocol)."""
        problems = []
        for label, mine, theirs in (
            ("env id", self.env.id, other.env.id),
            ("env kwargs", self.env.kwargs, other.env.kwargs),
            ("held-out tasks", self.env.tasks_digest, other.env.tasks_digest),
            (
                "protocol",
                self.protocol.model_dump(exclude={"source"}),
                other.protocol.model_dump(exclude={"source"}),
            ),
            ("task indices", self.task_indices, other.task_indices),
        ):
            if mine != theirs:
                problems.append(f"{label}: {mine!r} vs {theirs!r}")
        return problems


def _explain(error: ValidationError, limit: int = 20) -> str:
    lines = []
    for item in error.errors()[:limit]:
        location = ".".join(str(part) for part in item["loc"]) or "(document)"
        lines.append(f"  {location}: {item['msg']}")
    if error.error_count() > limit:
        lines.append(f"  ... and {error.error_count() - limit} more")
    return "\n".join(lines)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory and a rename."""
    atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def tasks_digest(tasks: Iterable[Any]) -> str:
    """sha256 of the tasks' canonical JSON: identifies a held-out set exactly."""
    text = json.dumps([task.to_dict() for task in tasks], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _git_state() -> tuple[str | None, bool | None]:
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        return commit.stdout.strip(), bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None, None


def collect_provenance(
    wall_seconds: float, env_steps: int, packages: Sequence[str] = PROVENANCE_PACKAGES
) -> Provenance:
    """Package versions, git commit (of the metabench checkout, when it is one), machine."""
    versions = {}
    for name in packages:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    import metabench

    commit, dirty = _git_state()
    return Provenance(
        metabench_version=metabench.__version__,
        python=sys.version.split()[0],
        packages=versions,
        git_commit=commit,
        git_dirty=dirty,
        machine={
            "hostname": platform.node(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
        },
        created_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        wall_seconds=round(wall_seconds, 3),
        env_steps=env_steps,
    )
