"""The evaluation harness: runs a protocol for an agent on a family's held-out tasks.

The unit of work is a trial: one seed on one held-out task. Its randomness derives only from
``(seed, task index, round, episode)``: each episode resets the env with its own seed and
hands the agent its own generator. So a trial's numbers do not depend on which process ran
it, in what order, or whether the evaluation was interrupted and resumed, and the backends

* ``local``: in this process, one trial after another;
* ``process``: a pool of worker processes over the trials (the default of the CLI);
* ``ray``: Ray actors over the trials, on a local instance or a cluster (``ray_address``);

give identical result files (up to provenance: timing, machine).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from metabench.core import MetaEnv
from metabench.evaluation.agent import (
    Agent,
    AgentFactory,
    AgentLoadError,
    EnvInfo,
    Transition,
    resolve_agent_factory,
)
from metabench.evaluation.results import (
    SCHEMA_VERSION,
    AgentRecord,
    EnvRecord,
    EvaluationResult,
    ProtocolRecord,
    UnitRecord,
    collect_provenance,
    tasks_digest,
)
from metabench.protocol import Protocol
from metabench.vector import MetaVectorEnv
from metabench.wrappers import TaskInObservation

__all__ = [
    "BACKENDS",
    "AgentActionError",
    "EvaluationError",
    "ResultMismatchError",
    "UnknownEnvError",
    "evaluate",
    "make_eval_env",
    "unit_seeds",
]

BACKENDS = ("local", "process", "ray")

#: Mixed into every seed the harness derives, so that its streams are unlike any other use of
#: the same integer seed (training, ``sample_tasks``).
EVAL_SPAWN_KEY = 0xE7A1


class EvaluationError(RuntimeError):
    """An evaluation stopped. What was finished is in the result file (``status: partial``)."""


class AgentActionError(EvaluationError):
    """The agent returned an action of the wrong type or shape, or a NaN/infinite one."""


class UnknownEnvError(EvaluationError, ValueError):
    """The env id is not registered, or the env is not a metabench family."""


class ResultMismatchError(EvaluationError, ValueError):
    """The output file holds another evaluation's results: refusing to mix them."""


# -- seeds --------------------------------------------------------------------------------------


def unit_seeds(seed: int, task_index: int, round_index: int, episode: int) -> tuple[int, np.random.Generator]:
    """The env's reset seed and the agent's generator for one episode of one trial.

    Both come from one ``SeedSequence`` keyed by the episode's place: the generator is seeded
    with its first four words (what ``default_rng`` takes), the env with the fifth (which
    gymnasium hashes again into its own stream). One sequence, not spawned children, because
    this runs once per episode and a bandit's episodes are a single step.
    """
    sequence = np.random.SeedSequence(seed, spawn_key=(EVAL_SPAWN_KEY, task_index, round_index, episode))
    env_seed = int(sequence.generate_state(5, np.uint64)[4])
    return env_seed, np.random.default_rng(sequence)


def trial_rng(seed: int, task_index: int) -> np.random.Generator:
    """The generator handed to ``Agent.reset`` for one trial."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(EVAL_SPAWN_KEY, task_index)))


# -- envs and agents ----------------------------------------------------------------------------


def make_eval_env(
    env_id: str, env_kwargs: Mapping[str, Any] | None = None, privileged: bool = False
) -> gym.Env:
    """The env the harness evaluates on (with the task appended to observations for a
    privileged agent).

    Raises:
        UnknownEnvError: the id is not registered or is not a metabench family.
    """
    import metabench  # noqa: F401 - registers the families

    try:
        env = gym.make(env_id, **dict(env_kwargs or {}))
    except gym.error.Error as error:
        known = ", ".join(sorted(i for i in gym.registry if i.startswith("Meta")))
        raise UnknownEnvError(f"unknown env {env_id!r} ({error}); metabench ids: {known}") from None
    if not isinstance(env.unwrapped, MetaEnv):
        raise UnknownEnvError(f"{env_id!r} is not a metabench family (its env is not a MetaEnv)")
    if env.spec is None or not env.spec.max_episode_steps:
        raise UnknownEnvError(f"{env_id!r} has no max_episode_steps: an episode could last forever")
    return TaskInObservation(env) if privileged else env


def _env_info(
    env: gym.Env, env_id: str, env_kwargs: Mapping[str, Any], protocol: Protocol, privileged: bool
) -> EnvInfo:
    return EnvInfo(
        env_id=env_id,
        env_kwargs=dict(env_kwargs),
        family=type(env.unwrapped),
        observation_space=env.observation_space,
        action_space=env.action_space,
        max_episode_steps=int(env.spec.max_episode_steps),
        protocol=protocol,
        base_observation_space=env.unwrapped.observation_space,
    )


def _build_agent(factory: AgentFactory, info: EnvInfo) -> Agent:
    agent = factory(info)
    if not callable(getattr(agent, "act", None)):
        raise AgentLoadError(
            f"the agent factory returned {type(agent).__name__!r}, which has no act() method"
        )
    name = getattr(agent, "name", None)
    steps = getattr(agent, "meta_train_steps", 0)
    if not isinstance(name, str) or not name:
        raise AgentLoadError(f"agent {type(agent).__name__}: expected a non-empty string name, got {name!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise AgentLoadError(
            f"agent {name!r}: expected meta_train_steps to be an integer >= 0, got {steps!r}"
        )
    return agent


def _action_check(space: spaces.Space) -> tuple[Callable[[Any], Any], str]:
    """A function that returns a valid action as the env takes it or raises ``ValueError``,
    and a description of what is expected."""
    if isinstance(space, spaces.Discrete):
        low, high = int(space.start), int(space.start + space.n)
        expected = f"an integer in [{low}, {high})"

        def check_discrete(action: Any) -> int:
            if isinstance(action, np.ndarray) and action.shape == () and action.dtype.kind in "iu":
                action = action.item()
            if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)):
                raise ValueError
            if not low <= action < high:
                raise ValueError
            return int(action)

        return check_discrete, expected
    if isinstance(space, spaces.Box):
        shape = space.shape
        expected = f"finite numbers of shape {shape}"
        isfinite = np.isfinite

        def check_box(action: Any) -> np.ndarray:
            array = action if type(action) is np.ndarray else np.asarray(action)
            if array.shape != shape or array.dtype.kind not in "fiu":
                raise ValueError
            # One reduction: the sum is finite unless an element is not (or it overflowed,
            # which the exact check then clears).
            if array.dtype.kind == "f" and not math.isfinite(array.sum()) and not isfinite(array).all():
                raise ValueError
            return array

        return check_box, expected
    expected = f"an element of {space}"

    def check_other(action: Any) -> Any:
        if not space.contains(action):
            raise ValueError
        return action

    return check_other, expected


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


# -- the worker ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSpec:
    """Everything a worker needs to run trials (picklable)."""

    agent: str | AgentFactory
    env_id: str
    env_kwargs: Mapping[str, Any]
    protocol: Protocol
    #: Tasks to run instead of the protocol's held-out split (for simulations of references on
    #: the training law; never for scored evaluations).
    tasks: tuple[Any, ...] | None = None
    #: Run a parallel agent's round on a :class:`metabench.vector.MetaVectorEnv` (sub-envs on
    #: threads); ``False`` steps one plain env per episode. The results are the same.
    vector_env: bool = True


@dataclass
class UnitOutcome:
    """A finished trial, as a worker returns it."""

    seed: int
    task_index: int
    returns: list[list[float]]
    lengths: list[list[int]]
    steps: int = field(default=0)

    def record(self) -> UnitRecord:
        return UnitRecord(
            seed=self.seed, task_index=self.task_index, returns=self.returns, lengths=self.lengths
        )


class TrialRunner:
    """Runs trials of one agent on one family; one per process (or Ray actor)."""

    def __init__(self, spec: RunSpec) -> None:
        factory, self.source, _ = resolve_agent_factory(spec.agent)
        self.privileged = bool(getattr(factory, "privileged", False))
        self.protocol = spec.protocol
        self.env_id, self.env_kwargs = spec.env_id, dict(spec.env_kwargs)
        self.env = make_eval_env(spec.env_id, spec.env_kwargs, self.privileged)
        self.tasks = (
            list(spec.tasks) if spec.tasks is not None else self.env.unwrapped.test_tasks(spec.protocol.split)
        )
        self.info = _env_info(self.env, spec.env_id, spec.env_kwargs, spec.protocol, self.privileged)
        self.agent = _build_agent(factory, self.info)
        self._check, self._expected = _action_check(self.env.action_space)
        self._reset = getattr(self.agent, "reset", None)
        self._adapt = getattr(self.agent, "adapt", None)
        # Skip building a Transition per step for agents that do not override observe.
        observe = getattr(self.agent, "observe", None)
        inherited = isinstance(self.agent, Agent) and type(self.agent).observe is Agent.observe
        self._observe = observe if callable(observe) and not inherited else None
        self._round_envs: list[gym.Env] | None = None
        self.vector_env = spec.vector_env
        self._round_vector: MetaVectorEnv | None = None
        if "torch" in sys.modules:  # one thread per worker: workers, not threads, share the cores
            sys.modules["torch"].set_num_threads(1)

    def _fail(self, seed: int, task: int, r: int, e: int, step: int, action: Any) -> AgentActionError:
        return AgentActionError(
            f"agent {self.agent.name!r} returned an invalid action on {self.env_id} (seed {seed}, "
            f"task {task}, round {r}, episode {e}, step {step}): expected {self._expected}, "
            f"got {_shown(action)}"
        )

    def run(self, seed: int, task_index: int) -> UnitOutcome:
        """Run one trial: reset the agent, then every round and episode of the protocol."""
        protocol, agent = self.protocol, self.agent
        task = self.tasks[task_index]
        self.env.unwrapped.set_task(task)
        if callable(self._reset):
            self._reset(trial_rng(seed, task_index))
        parallel = bool(getattr(agent, "parallel_episodes", False)) and protocol.episodes_per_round > 1
        returns, lengths, steps = [], [], 0
        for r in range(protocol.rounds):
            if parallel and self.vector_env:
                round_returns, round_lengths = self._vector_round(seed, task_index, r, task)
            elif parallel:
                round_returns, round_lengths = self._parallel_round(seed, task_index, r, task)
            else:
                round_returns, round_lengths = [], []
                for e in range(protocol.episodes_per_round):
                    total, length = self._episode(seed, task_index, r, e)
                    round_returns.append(total)
                    round_lengths.append(length)
            returns.append(round_returns)
            lengths.append(round_lengths)
            steps += sum(round_lengths)
            if callable(self._adapt):
                self._adapt()
        return UnitOutcome(seed, task_index, returns, lengths, steps)

    def _episode(self, seed: int, task_index: int, r: int, e: int) -> tuple[float, int]:
        env_seed, rng = unit_seeds(seed, task_index, r, e)
        obs, _ = self.env.reset(seed=env_seed)
        act, check, step, observe = self.agent.act, self._check, self.env.step, self._observe
        total, length = 0.0, 0
        while True:
            action = act(obs, rng)
            try:
                action = check(action)
            except (ValueError, TypeError):
                raise self._fail(seed, task_index, r, e, length, action) from None
            next_obs, reward, terminated, truncated, _ = step(action)
            reward = float(reward)
            total += reward
            length += 1
            if observe is not None:
                observe(Transition(obs, action, reward, next_obs, terminated, truncated, r, e))
            if terminated or truncated:
                return total, length
            obs = next_obs

    def _act_batch(
        self,
        seed: int,
        task_index: int,
        r: int,
        active: list[int],
        observations: list,
        rngs: Sequence,
        lengths: list[int],
    ) -> list[Any]:
        """The agent's checked actions for the ``active`` episodes of a parallel round."""
        actions = self.agent.act_batch([observations[e] for e in active], [rngs[e] for e in active])
        if len(actions) != len(active):
            raise AgentActionError(
                f"agent {self.agent.name!r}: act_batch returned {len(actions)} actions for "
                f"{len(active)} observations"
            )
        checked = []
        for e, action in zip(active, actions):
            try:
                checked.append(self._check(action))
            except (ValueError, TypeError):
                raise self._fail(seed, task_index, r, e, lengths[e], action) from None
        return checked

    def _vector_round(self, seed: int, task_index: int, r: int, task: Any) -> tuple[list[float], list[int]]:
        """:meth:`_parallel_round` on one vector env, whose sub-envs step on threads."""
        n = self.protocol.episodes_per_round
        if self._round_vector is None:
            self._round_vector = MetaVectorEnv(
                self.env_id,
                n,
                autoreset_mode=AutoresetMode.DISABLED,
                wrappers=(TaskInObservation,) if self.privileged else (),
                infos=False,
                **self.env_kwargs,
            )
        vec = self._round_vector
        vec.set_attr("task", [task] * n)
        env_seeds, rngs = zip(*(unit_seeds(seed, task_index, r, e) for e in range(n)))
        first, _ = vec.reset(seed=list(env_seeds))
        discrete = isinstance(vec.single_observation_space, spaces.Discrete)
        observations = [int(o) for o in first] if discrete else list(first)
        totals, lengths = [0.0] * n, [0] * n
        active = list(range(n))
        while active:
            checked = self._act_batch(seed, task_index, r, active, observations, rngs, lengths)
            next_obs, rewards, terminations, truncations, _ = vec.step_some(active, checked)
            still = []
            for k, e in enumerate(active):
                reward, terminated, truncated = float(rewards[k]), bool(terminations[k]), bool(truncations[k])
                obs = int(next_obs[k]) if discrete else next_obs[k]
                totals[e] += reward
                lengths[e] += 1
                if self._observe is not None:
                    self._observe(
                        Transition(observations[e], checked[k], reward, obs, terminated, truncated, r, e)
                    )
                if not (terminated or truncated):
                    observations[e] = obs
                    still.append(e)
            active = still
        return totals, lengths

    def _parallel_round(self, seed: int, task_index: int, r: int, task: Any) -> tuple[list[float], list[int]]:
        """The round's episodes at once, one env each; equal to running them one by one."""
        n = self.protocol.episodes_per_round
        if self._round_envs is None:
            self._round_envs = [self.env] + [
                make_eval_env(self.env_id, self.env_kwargs, self.privileged) for _ in range(n - 1)
            ]
        envs, observations, rngs = self._round_envs, [], []
        for e, env in enumerate(envs):
            env.unwrapped.set_task(task)
            env_seed, rng = unit_seeds(seed, task_index, r, e)
            observations.append(env.reset(seed=env_seed)[0])
            rngs.append(rng)
        totals, lengths = [0.0] * n, [0] * n
        active = list(range(n))
        while active:
            actions = self._act_batch(seed, task_index, r, active, observations, rngs, lengths)
            still = []
            for e, action in zip(active, actions):
                next_obs, reward, terminated, truncated, _ = envs[e].step(action)
                reward = float(reward)
                totals[e] += reward
                lengths[e] += 1
                if self._observe is not None:
                    self._observe(
                        Transition(observations[e], action, reward, next_obs, terminated, truncated, r, e)
                    )
                if not (terminated or truncated):
                    observations[e] = next_obs
                    still.append(e)
            active = still
        return totals, lengths


# -- backends -----------------------------------------------------------------------------------

_WORKER: TrialRunner | None = None


def _init_process_worker(spec: RunSpec) -> None:
    global _WORKER
    _WORKER = TrialRunner(spec)


def _run_in_process_worker(seed: int, task_index: int) -> UnitOutcome:
    assert _WORKER is not None
    return _WORKER.run(seed, task_index)


def _run_local(runner: TrialRunner, units: Sequence[tuple[int, int]]) -> Iterator[UnitOutcome]:
    for seed, task_index in units:
        yield runner.run(seed, task_index)


def _run_process(spec: RunSpec, units: Sequence[tuple[int, int]], workers: int) -> Iterator[UnitOutcome]:
    # spawn, not fork: the parent may hold threads (progress bar, torch) that fork would copy
    # mid-state; the agent is rebuilt in each worker from its picklable description.
    with ProcessPoolExecutor(workers, get_context("spawn"), _init_process_worker, (spec,)) as pool:
        pending = {pool.submit(_run_in_process_worker, s, t) for s, t in units}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
        finally:
            for future in pending:
                future.cancel()


def _run_ray(
    spec: RunSpec, units: Sequence[tuple[int, int]], workers: int | None, address: str | None
) -> Iterator[UnitOutcome]:
    try:
        import ray
        from ray.util import ActorPool
    except ImportError:
        raise EvaluationError(
            "backend 'ray' needs Ray: pip install 'metabench[ray]' (or choose --backend process)"
        ) from None
    started = not ray.is_initialized()
    if started:
        ray.init(
            address=address,
            num_cpus=workers if address is None else None,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    try:
        if workers is None:
            workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        remote_runner = ray.remote(num_cpus=1)(TrialRunner)
        actors = [remote_runner.remote(spec) for _ in range(max(1, min(workers, len(units))))]
        pool = ActorPool(actors)
        try:
            yield from pool.map_unordered(lambda actor, unit: actor.run.remote(*unit), list(units))
        except ray.exceptions.RayTaskError as error:
            cause = getattr(error, "cause", None)
            raise (cause if isinstance(cause, Exception) else error) from None
        finally:
            for actor in actors:
                ray.kill(actor)
    finally:
        if started:
            ray.shutdown()


# -- progress -----------------------------------------------------------------------------------


class _Progress:
    """A progress bar of trials (tasks × seeds) done, with environment steps per second."""

    def __init__(self, enabled: bool, total: int, done: int, label: str, console: Any = None) -> None:
        self.enabled = enabled and total > 0
        self._steps, self._start = 0, time.perf_counter()
        if not self.enabled:
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            TextColumn("{task.completed}/{task.total} tasks×seeds"),
            TextColumn("{task.fields[rate]} steps/s"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task = self._bar.add_task(label, total=total, completed=done, rate="-")
        self._bar.start()

    def advance(self, steps: int) -> None:
        self._steps += steps
        if self.enabled:
            rate = self._steps / max(time.perf_counter() - self._start, 1e-9)
            self._bar.update(self._task, advance=1, rate=f"{rate:,.0f}")

    def stop(self) -> None:
        if self.enabled:
            self._bar.stop()


# -- the entry point ----------------------------------------------------------------------------


def _seed_list(seeds: int | Iterable[int]) -> list[int]:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(f"seeds: expected a positive number of seeds, got {seeds}")
        return list(range(int(seeds)))
    values = list(seeds)  # type: ignore[arg-type]
    if not values or any(
        isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in values
    ):
        raise ValueError(f"seeds: expected non-negative integers, got {values!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"seeds: expected distinct seeds, got {values!r}")
    return [int(s) for s in values]


def _env_version(env_id: str) -> int:
    _, _, version = env_id.rpartition("-v")
    return int(version) if version.isdigit() else 0


def evaluate(
    agent: str | AgentFactory,
    env_id: str | None = None,
    *,
    seeds: int | Iterable[int] = 5,
    protocol: Protocol | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    task_indices: Sequence[int] | None = None,
    out: str | Path | None = None,
    resume: bool = True,
    backend: str = "local",
    workers: int | None = None,
    ray_address: str | None = None,
    save_every: float = 2.0,
    progress: bool = False,
    console: Any = None,
    vector_env: bool = True,
) -> EvaluationResult:
    """Evaluate an agent on a family's held-out tasks under a protocol.

    Args:
        agent: a reference agent's name, a checkpoint path, ``"module:function"``, or a factory
            ``EnvInfo -> Agent`` (for the process and Ray backends it must be picklable: a
            module-level function).
        env_id: the family; defaults to the checkpoint manifest's ``"env"``.
        seeds: a number of seeds (``0 .. n-1``) or the seeds themselves.
        protocol: defaults to the family's ``default_protocol``.
        env_kwargs: keyword arguments for ``gym.make``; default to the manifest's.
        task_indices: a subset of the held-out split (default: all of it).
        out: the result file. Rewritten atomically as trials finish; if it holds a partial
            run of the same evaluation, that run resumes (unless ``resume=False``, which starts
            afresh).
        backend: ``"local"``, ``"process"`` or ``"ray"``.
        workers: processes or Ray actors (default: the CPU count).
        ray_address: a Ray cluster to join (default: start a local instance).
        save_every: at most this many seconds of finished trials are unsaved at any time.
        progress: show a progress bar.
        vector_env: run a parallel agent's episodes on a :class:`metabench.vector.MetaVectorEnv`
            (sub-envs stepped on threads); ``False`` keeps one plain env per episode. The
            returns are the same either way.

    Returns:
        The result (also written to ``out``).

    Raises:
        AgentLoadError, UnknownEnvError, ResultMismatchError: before any work.
        AgentActionError, EvaluationError: during it; finished trials are saved first.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise ValueError(f"workers: expected a positive integer, got {workers!r}")
    seed_list = _seed_list(seeds)
    factory, source, manifest = resolve_agent_factory(agent)
    if env_id is None:
        env_id = manifest.get("env")
        if env_id is None:
            raise UnknownEnvError("no env given (--env), and the agent's checkpoint names none")
        if env_kwargs is None:
            env_kwargs = manifest.get("env_kwargs") or {}
    env_kwargs = dict(env_kwargs or {})
    privileged = bool(getattr(factory, "privileged", False))
    env = make_eval_env(env_id, env_kwargs, privileged)
    family = env.unwrapped
    protocol = protocol if protocol is not None else family.default_protocol
    if protocol.split not in family.test_splits:
        raise ValueError(
            f"protocol.split: {env_id} has no split {protocol.split!r}; expected one of {sorted(family.test_splits)}"
        )
    tasks = family.test_tasks(protocol.split)
    indices = list(range(len(tasks))) if task_indices is None else [int(t) for t in task_indices]
    if not indices or len(set(indices)) != len(indices) or any(not 0 <= t < len(tasks) for t in indices):
        raise ValueError(
            f"task_indices: expected distinct indices in [0, {len(tasks)}), got {task_indices!r}"
        )

    spec = RunSpec(
        agent=agent, env_id=env_id, env_kwargs=env_kwargs, protocol=protocol, vector_env=vector_env
    )
    local_runner = TrialRunner(spec)  # builds the agent here too: its name, steps, and early errors
    the_agent = local_runner.agent
    env_record = EnvRecord(
        id=env_id,
        version=_env_version(env_id),
        family=f"{type(family).__module__}:{type(family).__qualname__}",
        kwargs=env_kwargs,
        max_episode_steps=int(env.spec.max_episode_steps),
        num_tasks=len(tasks),
        tasks_digest=tasks_digest(tasks),
    )
    agent_record = AgentRecord(
        name=the_agent.name,
        source=source,
        meta_train_steps=int(getattr(the_agent, "meta_train_steps", 0)),
        privileged=privileged,
        parallel_episodes=bool(getattr(the_agent, "parallel_episodes", False)),
    )
    protocol_record = ProtocolRecord(**protocol.to_dict())

    done: dict[tuple[int, int], UnitRecord] = {}
    wall_before, steps_before = 0.0, 0
    out_path = Path(out) if out is not None else None
    if out_path is not None and out_path.exists() and resume:
        previous = EvaluationResult.load(out_path)
        differences = [
            f"{label}: file has {theirs!r}, this run has {mine!r}"
            for label, theirs, mine in (
                ("env", previous.env.model_dump(), env_record.model_dump()),
                ("protocol", previous.protocol.model_dump(), protocol_record.model_dump()),
                ("agent", previous.agent.model_dump(), agent_record.model_dump()),
                ("seeds", previous.seeds, seed_list),
                ("task indices", previous.task_indices, indices),
            )
            if theirs != mine
        ]
        if differences:
            raise ResultMismatchError(
                f"{out_path} holds another evaluation; refusing to mix results (choose another "
                "--out, or --overwrite to start afresh):\n  " + "\n  ".join(differences)
            )
        done = {(u.seed, u.task_index): u for u in previous.units}
        wall_before, steps_before = previous.provenance.wall_seconds, previous.provenance.env_steps

    all_units = [(s, t) for s in seed_list for t in indices]
    todo = [u for u in all_units if u not in done]
    order = {u: i for i, u in enumerate(all_units)}
    start, steps = time.perf_counter(), 0
    provenance = collect_provenance(0.0, 0)

    def result(status: str) -> EvaluationResult:
        units = sorted(done.values(), key=lambda u: order[(u.seed, u.task_index)])
        return EvaluationResult(
            schema_version=SCHEMA_VERSION,
            status=status,
            env=env_record,
            protocol=protocol_record,
            agent=agent_record,
            seeds=seed_list,
            task_indices=indices,
            units=units,
            provenance=provenance.model_copy(
                update={
                    "wall_seconds": round(wall_before + time.perf_counter() - start, 3),
                    "env_steps": steps_before + steps,
                }
            ),
        )

    if not todo:
        final = result("complete")
        if out_path is not None:
            final.save(out_path)
        return final

    if backend == "local":
        outcomes = _run_local(local_runner, todo)
    elif backend == "process":
        count = min(workers or os.cpu_count() or 1, len(todo))
        outcomes = _run_local(local_runner, todo) if count == 1 else _run_process(spec, todo, count)
    else:
        outcomes = _run_ray(spec, todo, workers, ray_address)

    bar = _Progress(progress, len(all_units), len(done), f"{agent_record.name} on {env_id}", console)
    last_save, complete = time.perf_counter(), False
    try:
        for outcome in outcomes:
            done[(outcome.seed, outcome.task_index)] = outcome.record()
            steps += outcome.steps
            bar.advance(outcome.steps)
            if out_path is not None and time.perf_counter() - last_save >= save_every:
                result("partial").save(out_path)
                last_save = time.perf_counter()
        complete = True
    except (EvaluationError, AgentLoadError):
        raise
    except Exception as error:  # a worker died, the agent raised: keep what was finished
        raise EvaluationError(f"evaluation of {agent_record.name!r} on {env_id} failed: {error!r}") from error
    finally:
        bar.stop()
        if hasattr(outcomes, "close"):
            outcomes.close()
        if out_path is not None and not complete:
            result("partial").save(out_path)
    final = result("complete")
    if out_path is not None:
        final.save(out_path)
    return final
