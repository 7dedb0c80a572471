"""The task API that every metabench family honours (see DESIGN.md, "The contract").

A *task* is a frozen dataclass (a subclass of :class:`Task`) that fully determines one MDP of a
family. It validates itself on construction and round-trips through JSON. A *family* is a
gymnasium env that also derives from :class:`MetaEnv`, which supplies the task machinery:

* ``sample_tasks(n, *, seed=None)`` draws training tasks from the family's own random stream;
* ``set_task(task)`` validates and stores a task; it takes effect at the next ``reset()``;
* ``get_task()`` and the settable ``task`` property (for ``VectorEnv.set_attr("task", ...)``);
* ``test_tasks(split="test")``: the fixed, versioned held-out set, drawn from a pinned seed
  stream that ``sample_tasks`` never uses.

A family supplies ``task_type``, ``default_task()``, ``_sample_tasks(rng, n)`` and, when the
task must be pushed into the simulator, ``_apply_task(task)``.
"""

from __future__ import annotations

import functools
import json
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

import numpy as np

from metabench.protocol import LOCOMOTION, Protocol

__all__ = [
    "InvalidTaskError",
    "MetaEnv",
    "Task",
    "TEST_SPLIT_SPAWN_KEY",
    "check_array",
    "check_scalar",
]

TaskT = TypeVar("TaskT", bound="Task")

#: Mixed into the seed of every held-out split, so that no integer seed given to
#: ``sample_tasks`` can reproduce a test set (a SeedSequence with a spawn key is a different
#: stream from any SeedSequence without one).
TEST_SPLIT_SPAWN_KEY = 0x7E57


class InvalidTaskError(ValueError):
    """A task (or a mapping meant to become one) is not a valid MDP of the family."""


@dataclass(frozen=True)
class Task:
    """Base class of every family's task: a frozen dataclass of numbers and (nested) tuples.

    Subclasses validate and normalise their fields in ``__post_init__`` with
    :func:`check_scalar` and :func:`check_array`, so an invalid task cannot be constructed.
    """

    def to_dict(self) -> dict[str, Any]:
        """The task as a JSON-ready mapping (tuples become lists)."""
        return {name: _jsonable(getattr(self, name)) for name in _field_names(type(self))}

    @classmethod
    def from_dict(cls: type[TaskT], data: Mapping[str, Any]) -> TaskT:
        """Build a task from a mapping with exactly the task's fields.

        Raises:
            InvalidTaskError: ``data`` is not a mapping, lacks a field, has an unknown one, or
                holds a value the task rejects.
        """
        names = _field_names(cls)
        if not isinstance(data, Mapping):
            raise InvalidTaskError(
                f"{cls.__name__}: expected a mapping with fields {names}, got {type(data).__name__}"
            )
        if len(data) != len(names) or any(n not in data for n in names):
            missing = [n for n in names if n not in data]
            unknown = sorted(set(data) - set(names), key=str)
            raise InvalidTaskError(
                f"{cls.__name__}: expected fields {names}; missing {missing}, unknown {unknown}"
            )
        return cls(**data)

    def to_json(self) -> str:
        """The task as a JSON string."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls: type[TaskT], text: str) -> TaskT:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    def to_vector(self) -> np.ndarray:
        """The task's numbers as one flat float64 vector (what an oracle is shown)."""
        parts = [np.ravel(np.asarray(getattr(self, f.name), dtype=np.float64)) for f in fields(self)]
        return np.concatenate(parts) if parts else np.zeros(0)


@functools.cache
def _field_names(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def _fail(task: Task, name: str, expected: str, value: Any) -> InvalidTaskError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return InvalidTaskError(f"{type(task).__name__}.{name}: expected {expected}, got {shown}")


def check_scalar(
    task: Task,
    name: str,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    integer: bool = False,
) -> float | int:
    """Validate scalar field ``name`` of ``task`` (finite, in ``[low, high]``) and normalise it.

    The field is rewritten as a plain ``float`` (or ``int`` when ``integer``), so that numpy
    scalars and ints compare and serialise like the floats a JSON file gives back.

    Returns:
        The normalised value.
    """
    value = getattr(task, name)
    kind = "an integer" if integer else "a finite number"
    expected = f"{kind} in [{low}, {high}]"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise _fail(task, name, expected, value)
    if integer:
        if isinstance(value, (float, np.floating)) and not float(value).is_integer():
            raise _fail(task, name, expected, value)
        if not math.isfinite(value):
            raise _fail(task, name, expected, value)
        normalised: float | int = int(value)
    else:
        normalised = float(value)
    if not (math.isfinite(normalised) and low <= normalised <= high):
        raise _fail(task, name, expected, value)
    object.__setattr__(task, name, normalised)
    return normalised


def check_array(
    task: Task,
    name: str,
    shape: Sequence[int | None],
    low: float = -math.inf,
    high: float = math.inf,
) -> np.ndarray:
    """Validate array field ``name`` of ``task`` and normalise it to nested tuples of floats.

    Args:
        shape: the expected shape; ``None`` lets that axis have any length ≥ 1.
        low, high: inclusive bounds on every element.

    Returns:
        A read-only float64 copy of the field, for the caller's further checks.
    """
    value = getattr(task, name)

    def failure(detail: str = "") -> InvalidTaskError:
        shape_text = "(" + ", ".join("n" if s is None else str(s) for s in shape) + ")"
        return _fail(task, name, f"finite numbers in [{low}, {high}] of shape {shape_text}{detail}", value)

    if isinstance(value, (str, bytes, Mapping)) or value is None:
        raise failure()
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise failure() from None
    if array.ndim != len(shape) or any(
        (want is None and got < 1) or (want is not None and got != want)
        for want, got in zip(shape, array.shape)
    ):
        raise failure(f" (shape was {array.shape})")
    # min and max propagate NaN, and an infinity shows up in one of them: one pass each.
    smallest, largest = float(array.min()), float(array.max())
    if not (math.isfinite(smallest) and math.isfinite(largest) and low <= smallest and largest <= high):
        raise failure()
    object.__setattr__(task, name, _as_tuples(array))
    array.flags.writeable = False
    return array


def _as_tuples(array: np.ndarray) -> Any:
    if array.ndim == 0:
        return float(array)
    if array.ndim == 1:
        return tuple(array.tolist())
    return tuple(_as_tuples(row) for row in array)


class MetaEnv:
    """Mixin that gives a gymnasium env the metabench task API.

    Put it first among the bases (``class HalfCheetahVel(MetaEnv, HalfCheetahEnv)``) so that its
    ``reset`` runs first and applies a pending task. Subclasses call ``super().__init__`` of the
    gymnasium env as usual and then ``self._init_tasks()``.
    """

    #: The family's task type.
    task_type: ClassVar[type[Task]]
    #: Pinned seed of the held-out splits; changing it (or the split sizes) needs a version bump.
    test_seed: ClassVar[int] = 0
    #: Held-out splits: name -> (number of tasks, one-line description).
    test_splits: ClassVar[dict[str, tuple[int, str]]] = {}
    #: The evaluation protocol the leaderboard ranks this family under (see
    #: :mod:`metabench.protocol`). Locomotion's by default; cheap families override it.
    default_protocol: ClassVar[Protocol] = LOCOMOTION

    # -- hooks for families ---------------------------------------------------------------------

    def default_task(self) -> Task:
        """The deterministic task a freshly made env starts with."""
        raise NotImplementedError

    def _sample_tasks(self, rng: np.random.Generator, n: int, split: str = "train") -> list[Task]:
        """Draw ``n`` tasks of ``split`` (``"train"`` or a name in ``test_splits``) from ``rng``."""
        raise NotImplementedError

    def _check_support(self, task: Task) -> None:  # noqa: B027 - optional hook
        """Raise :class:`InvalidTaskError` if ``task`` is valid in itself but not for this env
        (e.g. a bandit task with a different number of arms)."""

    def _apply_task(self, task: Task) -> None:  # noqa: B027 - optional hook
        """Push ``task`` into the simulator; called by ``reset`` when the task changed."""

    # -- the API --------------------------------------------------------------------------------

    def _init_tasks(self) -> None:
        self._task_rng: np.random.Generator | None = None
        self._active_task: Task | None = None
        self._task: Task = self._coerce_task(self.default_task())

    def sample_tasks(
        self, n: int, *, seed: int | np.random.Generator | np.random.SeedSequence | None = None
    ) -> list[Task]:
        """Draw ``n`` training tasks.

        Args:
            n: how many tasks.
            seed: ``None`` draws from the env's own task stream (independent of
                ``reset(seed=...)`` and of global random state); an int or ``SeedSequence``
                draws from a fresh stream with that seed (the same seed gives the same tasks);
                a ``Generator`` is used as given.
        """
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"sample_tasks: expected a non-negative integer n, got {n!r}")
        if seed is None:
            if self._task_rng is None:
                self._task_rng = np.random.default_rng()
            rng = self._task_rng
        elif isinstance(seed, np.random.Generator):
            rng = seed
        else:
            rng = np.random.default_rng(seed)
        return self._sample_tasks(rng, int(n))

    def test_tasks(self, split: str = "test") -> list[Task]:
        """The family's fixed held-out tasks for ``split`` (see ``test_splits``)."""
        if split not in self.test_splits:
            raise ValueError(
                f"{type(self).__name__}.test_tasks: unknown split {split!r}; "
                f"expected one of {sorted(self.test_splits)}"
            )
        size = self.test_splits[split][0]
        # The split's name, not its position, keys the stream: adding a split moves no other.
        key = (TEST_SPLIT_SPAWN_KEY, zlib.crc32(split.encode()))
        seq = np.random.SeedSequence(self.test_seed, spawn_key=key)
        return self._sample_tasks(np.random.default_rng(seq), size, split)

    def set_task(self, task: Task | Mapping[str, Any]) -> None:
        """Switch to ``task`` (a task or a mapping of its fields) from the next ``reset()`` on.

        Raises:
            InvalidTaskError: (a ``ValueError``) naming what was wrong and what was expected.
        """
        self._task = self._coerce_task(task)

    def get_task(self) -> Task:
        """The task set last (active from the next ``reset()`` if it was set mid-episode)."""
        return self._task

    @property
    def task(self) -> Task:
        """The current task; assigning it calls :meth:`set_task`."""
        return self._task

    @task.setter
    def task(self, task: Task | Mapping[str, Any]) -> None:
        self.set_task(task)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if self._task is not self._active_task:
            self._apply_task(self._task)
            self._active_task = self._task
        return super().reset(seed=seed, options=options)

    def _coerce_task(self, task: Any) -> Task:
        if isinstance(task, Mapping):
            task = self.task_type.from_dict(task)
        elif not isinstance(task, self.task_type):
            names = _field_names(self.task_type)
            raise InvalidTaskError(
                f"{type(self).__name__}.set_task: expected a {self.task_type.__name__} or a "
                f"mapping with fields {names}, got {type(task).__name__}"
            )
        self._check_support(task)
        return task

    # Gymnasium's MuJoCo envs pickle by re-running __init__ (EzPickle), which would forget the
    # task; carry it across explicitly.
    def __getstate__(self) -> dict[str, Any]:
        return {"env_state": super().__getstate__(), "task": self._task}

    def __setstate__(self, state: dict[str, Any]) -> None:
        parent = super()
        if hasattr(parent, "__setstate__"):
            parent.__setstate__(state["env_state"])
        else:
            self.__dict__.update(state["env_state"])
        self.set_task(state["task"])
