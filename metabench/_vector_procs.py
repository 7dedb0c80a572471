"""The process split of :class:`metabench.vector.MetaVectorEnv`: its sub-envs spread over the
calling process and ``num_procs - 1`` worker processes, each stepping its own block of sub-envs
serially in a plain one-thread ``MetaVectorEnv``.

Why: with threads, every sub-env step holds the GIL for its Python (13 µs for the HalfCheetah,
30-60 µs for the Ant and the Humanoid, ``docs/vector-env.md``), so two threads cannot overlap
it. Each process has its own GIL, so each core runs its block's Python and physics alone. A
vector step costs one hand-over per worker, not a pickle round trip per sub-env as in
gymnasium's ``AsyncVectorEnv``: one small message over a pipe carries the block's rows and
actions (pickled as given, so their dtype reaches the env unchanged) and wakes the worker; the
observations, rewards and flags come back through shared memory, and one small message says it
is done (the caller steps its own block meanwhile). Infos travel pickled, only when asked for
(``infos=True``).

Waiting: each side polls its pipe for up to :data:`SPIN_SECONDS` before it blocks in the kernel
(:func:`_receive`). On this 2-vCPU VM a process that blocks lets its vCPU halt, and waking it
costs 100-800 µs per hand-over, more than the messages (``docs/vector-env.md``); a short wait
ends within the spin, a long one (the caller's training, an idle vector env) costs at most
``SPIN_SECONDS`` of a core before the waiter sleeps. No spinning when there are more processes
than cores (a spinner would take the core the process it waits for needs). The workers run the
families' own code, so every sub-env's trajectory is a single env's, bit for bit, by
construction.

Workers are fresh interpreters (see :class:`_Worker`): nothing of the caller's torch threads or
Ray state. They end with ``close()`` (or when the vector env is collected, or at exit), and on
their own when the caller's end of the pipe closes (the caller died).
"""

from __future__ import annotations

import mmap
import os
import select
import signal
import subprocess
import sys
import time
import traceback
import weakref
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

#: Seconds a waiting side polls its pipe before it blocks (0: block at once). Read when a split
#: is built; set by measurement (``docs/vector-env.md``).
SPIN_SECONDS = 1e-3

#: Spaces whose batches are plain arrays (one dtype, one shape), which shared memory can hold.
ARRAY_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiBinary, spaces.MultiDiscrete)


class _Shared:
    """One worker's outputs in a shared, anonymous memory file: observations, rewards and
    termination/truncation flags, ``size`` rows each."""

    def __init__(self, observation_space: gym.Space, size: int, fd: int | None = None) -> None:
        self.size = size
        sizes = [size * _row_bytes(observation_space), 8 * size, 2 * size]
        if fd is None:  # the caller creates the file; the worker maps the descriptor it inherits
            fd = os.memfd_create("metabench-vector") if hasattr(os, "memfd_create") else _temporary_fd()
            os.ftruncate(fd, max(1, sum(sizes)))
        self.fd = fd
        self.buffer = mmap.mmap(fd, max(1, sum(sizes)))
        offsets = np.cumsum([0, *sizes]).tolist()
        self.obs = _view(self.buffer, observation_space, size, offsets[0])
        self.rewards = np.frombuffer(self.buffer, dtype=np.float64, count=size, offset=offsets[1])
        self.terminations = np.frombuffer(self.buffer, dtype=np.bool_, count=size, offset=offsets[2])
        self.truncations = np.frombuffer(self.buffer, dtype=np.bool_, count=size, offset=offsets[2] + size)


def _temporary_fd() -> int:
    import tempfile

    with tempfile.TemporaryFile() as file:
        return os.dup(file.fileno())


def _row_bytes(space: gym.Space) -> int:
    return int(np.prod(space.shape, dtype=np.int64)) * np.dtype(space.dtype).itemsize


def _view(buffer: Any, space: gym.Space, size: int, offset: int) -> np.ndarray:
    count = size * int(np.prod(space.shape, dtype=np.int64))
    return np.frombuffer(buffer, dtype=space.dtype, count=count, offset=offset).reshape(size, *space.shape)


def _portable(error: BaseException) -> BaseException:
    """``error`` if it survives pickling, else a RuntimeError carrying its traceback."""
    import pickle

    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - any pickling failure
        text = "".join(traceback.format_exception(error))
        return RuntimeError(f"{type(error).__name__}: {error}\n{text}")


def _usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _receive(inbox: Connection, spin: float) -> Any:
    """``inbox.recv()``, after polling for up to ``spin`` seconds: a message that comes within
    the spin is read without the waiting process going to sleep (and its core halting)."""
    if spin > 0:
        poller = select.poll()
        poller.register(inbox.fileno(), select.POLLIN)
        deadline = time.perf_counter() + spin
        while not poller.poll(0) and time.perf_counter() < deadline:
            pass
    return inbox.recv()


def _serve(inbox: Connection, outbox: Connection, memory_fd: int) -> None:
    """A worker process: a one-thread ``MetaVectorEnv`` of a block of sub-envs, driven by the
    messages in ``inbox`` (the first says what to build), answering each in ``outbox``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to handle
    from metabench.vector import MetaVectorEnv

    try:
        env_id, size, kwargs, spin = inbox.recv()
    except (EOFError, OSError):  # the caller could not send what to build (it raised)
        return
    try:
        vec = MetaVectorEnv(env_id, size, num_procs=1, num_threads=1, copy=False, **kwargs)
        shared = _Shared(vec.single_observation_space, size, memory_fd)
    except BaseException as error:  # noqa: BLE001 - reported to the caller
        outbox.send(("error", _portable(error)))
        return
    outbox.send(("ok", None))
    while True:
        try:
            command, args, kwargs = _receive(inbox, spin)
        except (EOFError, OSError):  # the caller is gone
            break
        if command == "close":
            vec.close()
            outbox.send(("ok", None))
            break
        try:
            if command == "step":
                rows, actions = args
                count = len(rows)
                obs, rewards, terminations, truncations, infos = vec.step_some(rows, list(actions))
                shared.obs[:count] = obs
                shared.rewards[:count] = rewards
                shared.terminations[:count] = terminations
                shared.truncations[:count] = truncations
                result: Any = infos
            elif command == "reset":
                obs, result = vec.reset(seed=args[0], options=args[1])
                shared.obs[:] = obs
            else:  # "call", "get_attr", "set_attr", "render"
                result = getattr(vec, command)(*args, **kwargs)
            outbox.send(("ok", result))
        except BaseException as error:  # noqa: BLE001 - reported to the caller
            outbox.send(("error", _portable(error)))


class _Worker:
    """The caller's handle on one worker process and its block ``[start, start + size)``.

    The worker is a fresh interpreter (``python -c``, not multiprocessing's spawn or forkserver,
    which re-run the caller's main script: a script without an ``if __name__ == "__main__"``
    guard would start workers recursively). It inherits one end of each of two pipes and the
    shared memory's descriptor, and nothing else of the caller (no torch threads, no Ray state).
    """

    def __init__(
        self, env_id: str, start: int, size: int, kwargs: dict[str, Any], template: Any, spin: float
    ) -> None:
        self.start, self.size, self.spin = start, size, spin
        self.shared = _Shared(template.single_observation_space, size)
        # Two pipes, not a socket pair: in hand timings on this 2-vCPU VM a pipe round trip took
        # 10-100 us where a socket pair's took 200-900 us.
        inbox, self.outbox = _pipe()
        self.inbox, outbox = _pipe()
        fds = (inbox.fileno(), outbox.fileno(), self.shared.fd)
        code = f"import metabench._vector_procs as m; m._main{fds}"
        path = os.pathsep.join(p for p in sys.path if p)
        self.process = subprocess.Popen(
            [sys.executable, "-c", code],
            pass_fds=fds,
            env={**os.environ, "PYTHONPATH": path},
        )
        inbox.close()
        outbox.close()
        try:
            self.outbox.send((env_id, size, kwargs, spin))
        except BaseException:  # e.g. a wrapper that does not pickle
            self.stop()
            raise

    @property
    def indices(self) -> list[int]:
        return list(range(self.start, self.start + self.size))

    def send(self, command: str, *args: Any, **kwargs: Any) -> None:
        try:
            self.outbox.send((command, args, kwargs))
        except OSError:
            raise self._died() from None

    def _died(self) -> RuntimeError:
        return RuntimeError(
            f"MetaVectorEnv: the worker process hosting sub-envs {self.indices} ended "
            f"(exit code {self.process.poll()})"
        )

    def receive(self) -> Any:
        """The worker's answer to the last message; its error is raised here, naming the block."""
        try:
            status, payload = _receive(self.inbox, self.spin)
        except (EOFError, OSError):
            raise self._died() from None
        if status == "error":
            payload.add_note(f"(raised in the worker process hosting sub-envs {self.indices})")
            raise payload
        return payload

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.outbox.send(("close", (), {}))
                self.inbox.poll(5.0)
            except OSError:
                pass
        try:
            self.process.wait(5.0)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.inbox.close()
        self.outbox.close()
        os.close(self.shared.fd)


def _pipe() -> tuple[Connection, Connection]:
    """A one-way pipe: (read end, write end)."""
    read, write = os.pipe()
    return Connection(read, writable=False), Connection(write, readable=False)


def _main(inbox_fd: int, outbox_fd: int, memory_fd: int) -> None:
    """The worker's entry (``python -c``)."""
    inbox, outbox = Connection(inbox_fd, writable=False), Connection(outbox_fd, readable=False)
    try:
        _serve(inbox, outbox, memory_fd)
    finally:
        inbox.close()
        outbox.close()


def _stop_all(workers: list[_Worker]) -> None:
    for worker in workers:
        worker.stop()


class ProcessSplit:
    """The sub-envs of a :class:`~metabench.vector.MetaVectorEnv` over processes.

    The caller's process steps block 0 (``local``, whose ``envs`` are the vector env's
    ``envs``); each worker steps one of the others. Blocks are contiguous and as even as
    possible, the caller's the smallest (it also merges the results).

    Args:
        kwargs: the ``MetaVectorEnv`` arguments each block is built with (wrappers and env
            kwargs included: they must pickle).
        spin: seconds each side polls before it blocks (default :data:`SPIN_SECONDS`; 0 when
            there are more processes than usable cores).
    """

    def __init__(
        self, env_id: str, num_envs: int, num_procs: int, kwargs: dict[str, Any], spin: float | None = None
    ) -> None:
        from metabench.vector import MetaVectorEnv

        if spin is None:
            spin = SPIN_SECONDS if num_procs <= _usable_cores() else 0.0
        #: Seconds each side polls its pipe before it blocks.
        self.spin = float(spin)
        sizes = [num_envs // num_procs + (k >= num_procs - num_envs % num_procs) for k in range(num_procs)]
        starts = np.cumsum([0, *sizes[:-1]]).tolist()
        self.local = MetaVectorEnv(env_id, sizes[0], num_procs=1, num_threads=1, copy=False, **kwargs)
        self.workers: list[_Worker] = []
        self._finalizer = weakref.finalize(self, _stop_all, self.workers)
        try:
            for start, size in zip(starts[1:], sizes[1:]):
                self.workers.append(_Worker(env_id, start, size, kwargs, self.local, self.spin))
            for worker in self.workers:
                worker.receive()  # built, or its error (e.g. a wrapper that cannot import there)
        except BaseException:
            self.close()
            raise
        #: Block of every sub-env (0: the caller's) and its row in the block.
        self.owner = np.repeat(np.arange(num_procs), sizes)
        self.row = np.concatenate([np.arange(size) for size in sizes])
        self.starts, self.sizes = starts, sizes

    def _split(self, indices: Sequence[int]) -> list[tuple[list[int], list[int]]]:
        """Per block: the positions in ``indices`` that it owns and their rows in the block."""
        parts: list[tuple[list[int], list[int]]] = [([], []) for _ in self.sizes]
        for k, i in enumerate(indices):
            positions, rows = parts[self.owner[i]]
            positions.append(k)
            rows.append(int(self.row[i]))
        return parts

    def step(self, indices: Sequence[int], actions: Sequence[Any], out_obs: np.ndarray, infos: bool):
        """Step sub-envs ``indices`` (row ``k``: ``indices[k]`` with ``actions[k]``) into ``out_obs``.

        Returns:
            ``(rewards, terminations, truncations, infos)`` over ``indices``.
        """
        count = len(indices)
        parts = self._split(indices)
        rewards = np.zeros(count, dtype=np.float64)
        terminations = np.zeros(count, dtype=np.bool_)
        truncations = np.zeros(count, dtype=np.bool_)
        busy = []
        for worker, (positions, rows) in zip(self.workers, parts[1:]):
            if rows:
                worker.send("step", rows, _packed([actions[k] for k in positions]))
                busy.append((worker, positions, rows))
        merged: dict[str, Any] = {}
        errors: list[BaseException] = []
        positions, rows = parts[0]
        try:
            if rows:
                obs, r, term, trunc, info = self.local.step_some(rows, [actions[k] for k in positions])
                out_obs[positions], rewards[positions] = obs, r
                terminations[positions], truncations[positions] = term, trunc
                _place_infos(merged, info, positions, count)
        except BaseException as error:  # noqa: BLE001 - raised once every worker has answered
            errors.append(error)
        for worker, positions, rows in busy:
            try:
                info = worker.receive()
            except BaseException as error:  # noqa: BLE001 - as above
                errors.append(error)
                continue
            shared, n = worker.shared, len(rows)
            out_obs[positions], rewards[positions] = shared.obs[:n], shared.rewards[:n]
            terminations[positions], truncations[positions] = shared.terminations[:n], shared.truncations[:n]
            _place_infos(merged, info, positions, count)
        if errors:
            raise errors[0]
        return rewards, terminations, truncations, merged if infos else {}

    def reset(
        self, seeds: Sequence[int | None], options: dict[str, Any] | None, indices: Sequence[int], out_obs
    ):
        """Reset sub-envs ``indices`` (``seeds`` per sub-env, all ``num_envs`` of them) and write
        every block that reset any into ``out_obs``; the infos span ``num_envs`` rows."""
        num_envs = len(seeds)
        chosen = np.zeros(num_envs, dtype=np.bool_)
        chosen[list(indices)] = True
        blocks = []
        for b, (start, size) in enumerate(zip(self.starts, self.sizes)):
            mask = chosen[start : start + size]
            if mask.any():
                block_options = dict(options or {})
                if not mask.all():
                    block_options["reset_mask"] = mask.copy()
                blocks.append((b, list(seeds[start : start + size]), block_options or None))
        for b, block_seeds, block_options in blocks:
            if b > 0:
                self.workers[b - 1].send("reset", block_seeds, block_options)
        merged: dict[str, Any] = {}
        errors: list[BaseException] = []
        for b, block_seeds, block_options in blocks:
            start, size = self.starts[b], self.sizes[b]
            try:
                if b == 0:
                    obs, info = self.local.reset(seed=block_seeds, options=block_options)
                else:
                    info = self.workers[b - 1].receive()
                    obs = self.workers[b - 1].shared.obs
            except BaseException as error:  # noqa: BLE001 - raised once every worker has answered
                errors.append(error)
                continue
            out_obs[start : start + size] = obs
            _place_infos(merged, info, list(range(start, start + size)), num_envs)
        if errors:
            raise errors[0]
        return merged

    def _everywhere(self, send: Any, local: Any) -> list[Any]:
        """``send(worker)`` to every worker, ``local()`` meanwhile, then every worker's answer:
        ``[local's, worker 1's, ...]``. The first error is raised once every worker has answered
        (so no answer is left in a pipe)."""
        for worker in self.workers:
            send(worker)
        answers: list[Any] = []
        errors: list[BaseException] = []
        for answer in (local, *(worker.receive for worker in self.workers)):
            try:
                answers.append(answer())
            except BaseException as error:  # noqa: BLE001 - raised below
                errors.append(error)
        if errors:
            raise errors[0]
        return answers

    def gather(self, command: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Every sub-env's answer to ``command`` (``call``, ``get_attr``, ``render``) in order."""
        answers = self._everywhere(
            lambda worker: worker.send(command, *args, **kwargs),
            lambda: getattr(self.local, command)(*args, **kwargs),
        )
        return tuple(item for answer in answers for item in answer or ())

    def set_attr(self, name: str, values: Sequence[Any]) -> None:
        """``values[i]`` on sub-env ``i`` (all ``num_envs`` values)."""
        self._everywhere(
            lambda worker: worker.send(
                "set_attr", name, list(values[worker.start : worker.start + worker.size])
            ),
            lambda: self.local.set_attr(name, list(values[: self.sizes[0]])),
        )

    def close(self) -> None:
        """End the workers (idempotent) and close the caller's sub-envs."""
        self._finalizer()
        self.local.close()


def _packed(actions: list[Any]) -> Any:
    """One array of the rows when they are arrays of one dtype and shape (a single pickle, a
    fifth of the time of one per row; its rows are the same numbers, same dtype), else the list."""
    first = actions[0]
    if isinstance(first, np.ndarray) and all(
        isinstance(a, np.ndarray) and a.dtype == first.dtype and a.shape == first.shape for a in actions
    ):
        return np.stack(actions)
    return actions


def _place_infos(
    out: dict[str, Any], part: dict[str, Any], positions: Sequence[int], count: int
) -> dict[str, Any]:
    """Put a block's batched infos (rows in block order) at ``positions`` of ``count``-row infos."""
    for key, value in part.items():
        if isinstance(value, dict):
            out[key] = _place_infos(out.get(key, {}), value, positions, count)
            continue
        array = out.get(key)
        if array is None:
            if value.dtype == object:
                array = np.full(count, None, dtype=object)
            else:
                array = np.zeros((count, *value.shape[1:]), dtype=value.dtype)
            out[key] = array
        if value.dtype == object:
            for k, item in zip(positions, value):
                array[k] = item
        else:
            array[positions] = value
    return out
