"""A task-batched vector env that steps its sub-envs on threads, for every metabench family.

``gym.make_vec(id, num_envs=n)`` gives a :class:`MetaVectorEnv` (each family registers it as
its ``vector_entry_point``; ``vectorization_mode="sync"`` or ``"async"`` still give
gymnasium's own). Each sub-env is the env ``gym.make(id)`` gives, with its own task, its own
``MjModel`` (dynamics families write per-task parameters into it), its own random stream and
its own episode clock, so a sub-env's trajectory is, bit for bit, that of a single env with the
same task, seed and actions.

Why threads: the MuJoCo bindings release the GIL while ``mj_step`` runs, so two threads that
step different sub-envs use two cores, and the Python part of one sub-env's step (reward,
observation, info) overlaps the physics of another's. The reward-varied MuJoCo families also
have a batched step (:class:`_BatchStep`): controls for all sub-envs, physics for all on the
threads, then rewards and observations in numpy over the batch. When other processes keep the
cores busy, threads lose (each step hands work over twice, and each hand-over waits for the
scheduler), so by default the env times each way of stepping and keeps to the fastest
(:class:`StepChoice`); the results do not depend on it. Processes (gymnasium's
``AsyncVectorEnv``) pay a pickle round trip per step, which on this 2-core machine made them
slower than a single env; ``mujoco.rollout`` steps several models on C++ threads, but it steps
scratch ``MjData`` (one per thread, not one per sub-env), so every env step would need a state
copy in and out and the physics quantities the rewards read (``xpos`` and ``cfrc_ext`` as
``mj_step`` leaves them) recomputed. ``docs/vector-env.md`` has the measurements.

Autoreset: gymnasium's :class:`~gymnasium.vector.AutoresetMode`, chosen with
``autoreset_mode=`` (``gym.make_vec(id, n, autoreset_mode=...)``):

* ``NEXT_STEP`` (the default, as in gymnasium): the step after a sub-env's episode ends resets
  it; that step ignores the sub-env's action and returns the reset observation, reward 0 and
  ``terminated = truncated = False``, and the reset info.
* ``SAME_STEP``: the step that ends an episode resets the sub-env at once and returns the reset
  observation; the last observation and info are in ``info["final_obs"]`` and
  ``info["final_info"]``.
* ``DISABLED``: never resets; stepping a sub-env whose episode ended raises ``ValueError``. Reset
  some sub-envs with ``reset(options={"reset_mask": mask})``.

Every reset after the first continues the sub-env's own random stream, as ``env.reset()``
without a seed does. ``num_procs=n`` splits the sub-envs over ``n`` processes instead of threads
(``metabench/_vector_procs.py``), with the same results. Beyond gymnasium's API,
:meth:`MetaVectorEnv.step_some` steps only some sub-envs (meta-RL samplers run episodes of
different lengths to their end, not forever).
"""

from __future__ import annotations

import functools
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from copy import deepcopy
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array, iterate

__all__ = ["MetaVectorEnv", "StepChoice", "make_vector_env"]


class _Workers:
    """``num_threads - 1`` daemon helper threads that, with the calling thread, run ``fn(k)`` for
    ``k`` in ``range(count)``. Items are handed out one at a time from a shared iterator, so a
    thread that finishes early takes the next item (sub-envs that reset cost more)."""

    def __init__(self, num_threads: int) -> None:
        self._job: tuple[Callable[[int], None], Any] | None = None
        self._errors: list[BaseException] = []
        self._go: list[threading.Lock] = []
        self._done: list[threading.Lock] = []
        self._stopped = False
        for _ in range(num_threads - 1):
            go, done = threading.Lock(), threading.Lock()
            go.acquire()
            done.acquire()
            self._go.append(go)
            self._done.append(done)
            threading.Thread(target=self._helper, args=(go, done), daemon=True).start()

    def _helper(self, go: threading.Lock, done: threading.Lock) -> None:
        while True:
            go.acquire()  # a plain lock released by the caller: the cheapest wake-up there is
            job = self._job
            if job is None:
                done.release()
                return
            fn, items = job
            try:
                for k in items:
                    fn(k)
            except BaseException as error:  # noqa: BLE001 - re-raised in the calling thread
                self._errors.append(error)
            done.release()

    def run(self, fn: Callable[[int], None], count: int, threads: int | None = None) -> None:
        """Run ``fn(k)`` for every ``k < count`` on at most ``threads`` threads (default: all);
        re-raise the first error any thread met."""
        helpers = min(len(self._go), count - 1, (threads or count) - 1)
        if helpers <= 0:
            for k in range(count):
                fn(k)
            return
        items = iter(range(count))  # range iterators are safe to share: next() holds the GIL
        self._job = (fn, items)
        for go in self._go[:helpers]:
            go.release()
        try:
            for k in items:
                fn(k)
        except BaseException as error:  # noqa: BLE001 - raised below, after the helpers stop
            self._errors.append(error)
        for done in self._done[:helpers]:
            done.acquire()
        self._job = None
        if self._errors:
            error, self._errors = self._errors[0], []
            raise error

    def stop(self) -> None:
        """End the helper threads (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self._job = None
        for go, done in zip(self._go, self._done):
            go.release()
            done.acquire(timeout=1.0)  # at interpreter exit a daemon thread may be gone already


class StepChoice:
    """Chooses, call by call, how to step: on how many threads, and (for the families that have
    one) through the batched step or each sub-env's own ``step``, by the wall time per sub-env
    step each way took recently.

    Every way gives the same results (sub-envs share nothing), so the choice is only about
    speed. Threads win when the cores are free; when other processes keep them busy, each step's
    hand-overs between threads wait for the scheduler, and one thread was faster
    (``docs/vector-env.md``). The batched step runs less Python but none of it beside the
    physics; a sub-env's own step on a thread overlaps its Python with another's physics. Each
    cycle of ``period`` calls spends ``probe`` calls on every option out of favour, so that a
    change of load is noticed.

    Args:
        options: ``(threads, batched)`` pairs.
    """

    def __init__(
        self,
        options: Sequence[tuple[int, bool]],
        period: int = 100,
        probe: int = 2,
        smoothing: float = 0.25,
    ) -> None:
        self.options = tuple(options)
        self.period, self.probe, self.smoothing = period, probe, smoothing
        #: Recent seconds per sub-env step of each option (None: not measured yet).
        self.cost: list[float | None] = [None] * len(self.options)
        self.calls = 0
        self.best = 0

    def choose(self) -> int:
        """The index into ``options`` of the next call."""
        for index, cost in enumerate(self.cost):
            if cost is None:
                return index
        others = [i for i in range(len(self.options)) if i != self.best]
        phase = self.calls % self.period
        return others[phase // self.probe] if phase < self.probe * len(others) else self.best

    def record(self, index: int, seconds: float, count: int) -> None:
        """Option ``index`` stepped ``count`` sub-envs in ``seconds``."""
        per_step = seconds / count
        old = self.cost[index]
        self.cost[index] = per_step if old is None else old + self.smoothing * (per_step - old)
        self.calls += 1
        if all(cost is not None for cost in self.cost):
            self.best = min(range(len(self.cost)), key=lambda i: self.cost[i])


class _BatchStep:
    """The step of a reward-varied MuJoCo family (``metabench.envs.locomotion``'s
    ``TaskReward*`` bases) over a batch of sub-envs, in three phases: every sub-env's control is
    set; the physics runs on the threads with nothing but ``mj_step`` and
    ``mj_rnePostConstraint`` between GIL releases (no hand-over per sub-env); then velocities,
    rewards, observations and infos are computed in numpy over the batch.

    The arithmetic is the family's, term by term and in the same order: elementwise operations
    run over the batch, while every reduction (``ctrl @ ctrl``, the contact-force sums, the
    humanoid's mass centre) and the task term (the family's own ``_task_reward``) stay per env,
    so every number is bit-identical to a single env's (tests/test_vector.py). A body subclass
    supplies ``before`` (what the step reads before the physics) and ``after``.
    """

    @classmethod
    def for_env(cls, env: gym.Env) -> type[_BatchStep] | None:
        """The batch stepper class for ``env`` if it is exactly what ``gym.make`` builds for a
        reward-varied family (so that the batch reproduces every layer), else ``None``."""
        from gymnasium.envs.mujoco import MujocoEnv
        from gymnasium.wrappers import OrderEnforcing, TimeLimit

        if not (isinstance(env, TimeLimit) and isinstance(env.env, OrderEnforcing)):
            return None
        unit = env.env.env
        kind = type(unit)
        for body in (_HalfCheetahBatch, _AntBatch, _HumanoidBatch):
            gymnasium_env = body.gymnasium_env_class()
            if (
                isinstance(unit, body.base())
                and kind.step is body.base().step
                # every method or property the batch reproduces is the one it was written from
                and all(getattr(kind, name) is getattr(gymnasium_env, name) for name in body.reproduces)
                and kind.do_simulation is MujocoEnv.do_simulation
                and kind._step_mujoco_simulation is MujocoEnv._step_mujoco_simulation
                and unit.render_mode is None
            ):
                return body
        return None

    def __init__(self, envs: list[gym.Env]) -> None:
        import mujoco  # here, so that importing this module (the harness does) loads no MuJoCo

        self._mj_step, self._mj_rne_post = mujoco.mj_step, mujoco.mj_rnePostConstraint
        self.time_limits = envs
        self.orders = [env.env for env in envs]
        self.units = [env.unwrapped for env in envs]
        self._stepping: list[Any] = []

    def _physics(self, k: int) -> None:
        unit = self._stepping[k]
        self._mj_step(unit.model, unit.data, nstep=unit.frame_skip)
        self._mj_rne_post(unit.model, unit.data)

    def step(self, rows: list[int], actions: list[Any], run: Callable[..., None]) -> tuple[Any, ...]:
        """Step sub-envs ``rows`` with ``actions``; ``run(fn, count)`` runs the physics.

        Returns:
            ``(obs, rewards, terminations, truncations, infos)`` over ``rows``, infos batched.
        """
        units = [self.units[i] for i in rows]
        for i, action in zip(rows, actions):  # every check before anything moves
            if not self.orders[i]._has_reset:
                raise gym.error.ResetNeeded("Cannot call env.step() before calling env.reset()")
            shape = np.shape(action)
            if shape != (self.units[i].model.nu,):
                raise ValueError(
                    f"Action dimension mismatch. Expected {(self.units[i].model.nu,)}, found {shape}"
                )
        before = self.before(units)
        for unit, action in zip(units, actions):
            unit.data.ctrl[:] = action
        self._stepping = units
        try:
            run(self._physics, len(units))
        finally:
            self._stepping = []
        datas = [unit.data for unit in units]
        dt = np.array([unit.dt for unit in units])
        obs, rewards, terminations, infos = self.after(units, datas, before, dt)
        truncations = np.zeros(len(rows), dtype=np.bool_)
        for k, i in enumerate(rows):  # gymnasium's TimeLimit
            limit = self.time_limits[i]
            limit._elapsed_steps += 1
            truncations[k] = limit._elapsed_steps >= limit._max_episode_steps
        tasks = np.full(len(rows), fill_value=None, dtype=object)
        for k, unit in enumerate(units):
            tasks[k] = unit._active_task
        infos["task"] = tasks
        for key in list(infos):
            infos[f"_{key}"] = np.ones(len(rows), dtype=np.bool_)
        return obs, rewards, terminations, truncations, infos

    @staticmethod
    def ctrl_costs(units: list[Any], datas: list[Any]) -> np.ndarray:
        """``-w * (ctrl @ ctrl)`` per env (a reduction: per env, as the family computes it)."""
        return np.array([-unit._ctrl_cost_weight * float(d.ctrl @ d.ctrl) for unit, d in zip(units, datas)])

    @staticmethod
    def qpos_qvel(datas: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        return np.stack([d.qpos for d in datas]), np.stack([d.qvel for d in datas])


class _HalfCheetahBatch(_BatchStep):
    """``TaskRewardHalfCheetah.step``: the forward term from the root's x velocity."""

    reproduces = ("_get_obs", "dt")

    @staticmethod
    def base() -> type:
        from metabench.envs.locomotion import TaskRewardHalfCheetah

        return TaskRewardHalfCheetah

    @staticmethod
    def gymnasium_env_class() -> type:
        from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv

        return HalfCheetahEnv

    def before(self, units: list[Any]) -> np.ndarray:
        return np.array([unit.data.qpos[0] for unit in units])

    def after(self, units, datas, x_before, dt):
        qpos, qvel = self.qpos_qvel(datas)
        x_after = qpos[:, 0].copy()
        x_velocity = (x_after - x_before) / dt
        reward_forward = np.array(
            [unit._task_reward(v) for unit, v in zip(units, x_velocity.tolist())], dtype=np.float64
        )
        reward_ctrl = self.ctrl_costs(units, datas)
        rewards = reward_forward + reward_ctrl
        position = qpos[:, 1:] if units[0]._exclude_current_positions_from_observation else qpos
        obs = np.concatenate((position, qvel), axis=1)
        infos = {
            "x_position": x_after,
            "x_velocity": x_velocity,
            "reward_forward": reward_forward,
            "reward_ctrl": reward_ctrl,
        }
        return obs, rewards, np.zeros(len(units), dtype=np.bool_), infos


class _AntBatch(_BatchStep):
    """``TaskRewardAnt.step``: the task term from the torso's position and velocity, with
    gymnasium's clipped contact cost, health check and observation."""

    reproduces = ("_get_obs", "dt", "contact_forces", "contact_cost", "is_healthy", "state_vector")

    @staticmethod
    def base() -> type:
        from metabench.envs.locomotion import TaskRewardAnt

        return TaskRewardAnt

    @staticmethod
    def gymnasium_env_class() -> type:
        from gymnasium.envs.mujoco.ant_v5 import AntEnv

        return AntEnv

    def before(self, units: list[Any]) -> np.ndarray:
        return np.array([unit.data.xpos[unit._main_body_id, :2] for unit in units])

    def after(self, units, datas, xy_before, dt):
        first = units[0]
        xy_after = np.array([unit.data.xpos[unit._main_body_id, :2] for unit in units])
        x_velocity = (xy_after[:, 0] - xy_before[:, 0]) / dt
        y_velocity = (xy_after[:, 1] - xy_before[:, 1]) / dt
        reward_task = np.array(
            [
                unit._task_reward(x, y, vx, vy)
                for unit, x, y, vx, vy in zip(
                    units,
                    xy_after[:, 0].tolist(),
                    xy_after[:, 1].tolist(),
                    x_velocity.tolist(),
                    y_velocity.tolist(),
                )
            ],
            dtype=np.float64,
        )
        reward_ctrl = self.ctrl_costs(units, datas)
        low, high = first._contact_force_range
        contact_forces = np.clip(np.stack([d.cfrc_ext for d in datas]), low, high)
        squares = np.square(contact_forces)
        reward_contact = np.array(
            [-float(unit._contact_cost_weight * np.sum(sq)) for unit, sq in zip(units, squares)]
        )
        qpos, qvel = self.qpos_qvel(datas)
        min_z, max_z = first._healthy_z_range
        healthy = np.isfinite(qpos).all(axis=1) & np.isfinite(qvel).all(axis=1)
        healthy &= (min_z <= qpos[:, 2]) & (qpos[:, 2] <= max_z)
        reward_survive = np.where(healthy, first._healthy_reward, 0.0)
        rewards = reward_task + reward_ctrl + reward_contact + reward_survive
        terminations = ~healthy if first._terminate_when_unhealthy else np.zeros(len(units), dtype=np.bool_)
        position = qpos[:, 2:] if first._exclude_current_positions_from_observation else qpos
        parts = [position, qvel]
        if first._include_cfrc_ext_in_observation:
            parts.append(contact_forces[:, 1:].reshape(len(units), -1))
        x, y = qpos[:, 0].copy(), qpos[:, 1].copy()
        infos = {
            "x_position": x,
            "y_position": y,
            "distance_from_origin": np.array([math.hypot(a, b) for a, b in zip(x.tolist(), y.tolist())]),
            "x_velocity": x_velocity,
            "y_velocity": y_velocity,
            first.task_reward_key: reward_task,
            "reward_ctrl": reward_ctrl,
            "reward_contact": reward_contact,
            "reward_survive": reward_survive,
        }
        return np.concatenate(parts, axis=1), rewards, terminations, infos


class _HumanoidBatch(_BatchStep):
    """``TaskRewardHumanoid.step``: the task term from the centre of mass's velocity, with
    gymnasium's capped contact cost, health check and observation."""

    reproduces = ("_get_obs", "dt", "contact_cost", "is_healthy")

    @staticmethod
    def base() -> type:
        from metabench.envs.locomotion import TaskRewardHumanoid

        return TaskRewardHumanoid

    @staticmethod
    def gymnasium_env_class() -> type:
        from gymnasium.envs.mujoco.humanoid_v5 import HumanoidEnv

        return HumanoidEnv

    def before(self, units: list[Any]) -> list[np.ndarray]:
        return [unit._mass_center_xy() for unit in units]

    def after(self, units, datas, xy_before, dt):
        first = units[0]
        xy_after = [unit._mass_center_xy() for unit in units]
        # the family: float(after - before) / dt, each a numpy subtraction, then a division
        x_velocity = np.array([float(a[0] - b[0]) for a, b in zip(xy_after, xy_before)]) / dt
        y_velocity = np.array([float(a[1] - b[1]) for a, b in zip(xy_after, xy_before)]) / dt
        reward_forward = np.array(
            [
                unit._task_reward(vx, vy)
                for unit, vx, vy in zip(units, x_velocity.tolist(), y_velocity.tolist())
            ],
            dtype=np.float64,
        )
        reward_ctrl = self.ctrl_costs(units, datas)
        cfrc_ext = np.stack([d.cfrc_ext for d in datas])
        squares = np.square(cfrc_ext)
        low, high = first._contact_cost_range
        reward_contact = np.array(
            [
                -float(np.clip(unit._contact_cost_weight * np.sum(sq), low, high))
                for unit, sq in zip(units, squares)
            ]
        )
        qpos, qvel = self.qpos_qvel(datas)
        min_z, max_z = first._healthy_z_range
        healthy = (min_z < qpos[:, 2]) & (qpos[:, 2] < max_z)
        reward_survive = np.where(healthy, first._healthy_reward, 0.0)
        rewards = reward_forward + reward_ctrl + reward_contact + reward_survive
        terminations = ~healthy if first._terminate_when_unhealthy else np.zeros(len(units), dtype=np.bool_)
        n = len(units)
        parts = [qpos[:, 2:] if first._exclude_current_positions_from_observation else qpos, qvel]
        if first._include_cinert_in_observation is True:
            parts.append(np.stack([d.cinert[1:] for d in datas]).reshape(n, -1))
        if first._include_cvel_in_observation is True:
            parts.append(np.stack([d.cvel[1:] for d in datas]).reshape(n, -1))
        if first._include_qfrc_actuator_in_observation is True:
            parts.append(np.stack([d.qfrc_actuator[6:] for d in datas]))
        if first._include_cfrc_ext_in_observation is True:
            parts.append(cfrc_ext[:, 1:].reshape(n, -1))
        x, y = qpos[:, 0].copy(), qpos[:, 1].copy()
        infos = {
            "x_position": x,
            "y_position": y,
            "tendon_length": np.stack([d.ten_length for d in datas]),
            "tendon_velocity": np.stack([d.ten_velocity for d in datas]),
            "distance_from_origin": np.array([math.hypot(a, b) for a, b in zip(x.tolist(), y.tolist())]),
            "x_velocity": x_velocity,
            "y_velocity": y_velocity,
            "reward_forward": reward_forward,
            "reward_ctrl": reward_ctrl,
            "reward_contact": reward_contact,
            "reward_survive": reward_survive,
        }
        return np.concatenate(parts, axis=1), rewards, terminations, infos


def _default_threads(env: gym.Env, num_envs: int) -> int:
    """All the cores the process may use for MuJoCo families (their physics runs without the
    GIL); one thread for the pure-Python families, whose steps would only queue for the GIL."""
    from gymnasium.envs.mujoco import MujocoEnv

    if not isinstance(env.unwrapped, MujocoEnv):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, num_envs))


#: Sub-envs from which the default splits a Humanoid family that returns no step infos over
#: two processes: ahead of threads there in 4 of 5 runs (-3 to +20 %, +8 % on average); level
#: for the Ant (3 of 5, +3 %), behind or level at 8 and 16 sub-envs (``docs/vector-env.md``).
PROCS_MIN_ENVS = 32


def _default_procs(
    env_id: str, num_envs: int, wrappers: Sequence[Any], batched: bool | None, infos: bool
) -> int:
    """2 for at least :data:`PROCS_MIN_ENVS` unwrapped sub-envs of a reward-varied Humanoid
    family with ``infos=False`` (as the harness and the sampler step them) when this process
    may use 2 cores or more; 1 (threads) otherwise, where threads measured as fast."""
    from gymnasium.envs.registration import load_env_creator

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if infos or wrappers or batched is False or num_envs < PROCS_MIN_ENVS or cores < 2:
        return 1
    entry = gym.spec(env_id).entry_point
    family = load_env_creator(entry) if isinstance(entry, str) else entry
    return 2 if isinstance(family, type) and issubclass(family, _HumanoidBatch.base()) else 1


class MetaVectorEnv(VectorEnv):
    """``num_envs`` sub-envs of one family, one task each, stepped on threads.

    Args:
        env_id: a registered id (``import metabench`` registers the families).
        num_envs: the number of sub-envs.
        autoreset_mode: see the module docstring; ``NEXT_STEP`` by default.
        num_threads: threads that step sub-envs (the calling thread is one of them). By default
            1 for the pure-Python families and, for MuJoCo families, every core this process
            may use or one, whichever has stepped faster lately (:class:`StepChoice`); an
            int fixes the number.
        wrappers: applied, in order, to every sub-env after ``gym.make``.
        copy: return fresh observation arrays (``True``) or the vector env's own buffer, which
            the next call overwrites.
        infos: batch the sub-envs' step infos (``True``), or return ``{}`` from every step, for
            callers that never read them (batching them is serial work of the main thread).
        batched: ``False`` never uses the family's batched step (``None``: where there is one,
            the default chooses by measurement; ``True`` requires one).
        num_procs: processes that step the sub-envs (at most ``num_envs``). 1: this process,
            on ``num_threads`` threads. ``None`` (the default): 2 for at least
            :data:`PROCS_MIN_ENVS` unwrapped sub-envs of a reward-varied Humanoid family with
            ``infos=False`` on 2 cores or more, else 1 (by measurement,
            ``docs/vector-env.md``). ``n > 1``: this process steps the first
            block of sub-envs and ``n - 1`` worker processes one block each, every block on one
            thread (``num_threads`` is then ignored; see :mod:`metabench._vector_procs`);
            ``envs`` then holds only this process's block, and ``set_attr``, ``get_attr`` and
            ``call`` reach every sub-env. Wrappers and env kwargs must pickle, and both spaces
            must be arrays (Box, Discrete, ...). Threads measured as fast or faster for every
            other body and size on the 2-vCPU machine this was built on.
        **env_kwargs: passed to ``gym.make(env_id, ...)`` (``max_episode_steps`` included).

    Raises:
        ValueError: a bad ``num_envs``, ``num_threads`` or ``autoreset_mode``.
    """

    def __init__(
        self,
        env_id: str,
        num_envs: int,
        *,
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
        num_threads: int | None = None,
        wrappers: Sequence[Callable[[gym.Env], gym.Env]] = (),
        copy: bool = True,
        infos: bool = True,
        batched: bool | None = None,
        num_procs: int | None = None,
        **env_kwargs: Any,
    ) -> None:
        super().__init__()
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"MetaVectorEnv: expected a positive integer num_envs, got {num_envs!r}")
        import metabench  # noqa: F401 - registers the families

        if num_procs is None:
            num_procs = _default_procs(env_id, int(num_envs), wrappers, batched, infos)
        if isinstance(num_procs, bool) or not isinstance(num_procs, (int, np.integer)) or num_procs < 1:
            raise ValueError(f"MetaVectorEnv: expected a positive integer num_procs, got {num_procs!r}")
        try:
            self.autoreset_mode = AutoresetMode(autoreset_mode)
        except ValueError:
            raise ValueError(
                f"MetaVectorEnv: expected autoreset_mode in {[m.value for m in AutoresetMode]}, "
                f"got {autoreset_mode!r}"
            ) from None
        self.env_id = env_id
        self.num_envs = int(num_envs)
        self.copy = copy
        self.infos = infos
        # The checker only inspects the first reset and step (warnings); the outputs are the same.
        env_kwargs.setdefault("disable_env_checker", True)
        #: Processes that step the sub-envs (1: this one, on threads; see ``_vector_procs``).
        self.num_procs = min(int(num_procs), self.num_envs)
        self._procs = None
        if self.num_procs > 1:
            self._init_procs(wrappers, batched, env_kwargs)
            return
        self.envs: list[gym.Env] = []
        for _ in range(self.num_envs):
            env = gym.make(env_id, **env_kwargs)
            for wrapper in wrappers:
                env = wrapper(env)
            self.envs.append(env)
        first = self.envs[0]
        for env in self.envs[1:]:
            if env.observation_space != first.observation_space or env.action_space != first.action_space:
                raise ValueError(f"MetaVectorEnv: the sub-envs of {env_id} have different spaces")
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.metadata = dict(first.metadata)
        self.metadata["autoreset_mode"] = self.autoreset_mode
        self.render_mode = first.render_mode

        adaptive = num_threads is None
        if num_threads is None:
            num_threads = _default_threads(first, self.num_envs)
        if isinstance(num_threads, bool) or not isinstance(num_threads, (int, np.integer)) or num_threads < 1:
            raise ValueError(f"MetaVectorEnv: expected a positive integer num_threads, got {num_threads!r}")
        self.num_threads = int(num_threads)
        self._workers = _Workers(self.num_threads)
        weakref.finalize(self, self._workers.stop)

        bodies = {_BatchStep.for_env(env) for env in self.envs}
        body = bodies.pop() if len(bodies) == 1 else None
        if batched and body is None:
            raise ValueError(f"MetaVectorEnv: {env_id} with these wrappers has no batched step")
        self._batch = body(self.envs) if body is not None and batched is not False else None
        #: Whether steps go through a batched step of the family (the reward-varied MuJoCo
        #: families, without extra wrappers, outside ``SAME_STEP`` mode).
        self.batched = self._batch is not None and self.autoreset_mode is not AutoresetMode.SAME_STEP
        #: How the default steps, chosen by measurement (None: fixed by ``num_threads``, or
        #: one thread and no alternative).
        self.step_choice: StepChoice | None = None
        if adaptive and self.num_threads > 1:
            options = [(self.num_threads, False), (1, False)]
            if self.batched and batched is None:
                options = [(self.num_threads, True), (self.num_threads, False), (1, True)]
            elif self.batched:
                options = [(self.num_threads, True), (1, True)]
            self.step_choice = StepChoice(options)
        self._ended = np.zeros(self.num_envs, dtype=np.bool_)  # episode over, not yet reset
        self._observations = create_empty_array(self.single_observation_space, self.num_envs)
        # Sub-envs never reset (reset_mask) show zeros until they are.
        self._env_obs: list[Any] = [
            deepcopy(row) for row in iterate(self.observation_space, self._observations)
        ]
        # Per-call scratch, filled by the worker threads (each writes only its own slots).
        self._job_indices: Sequence[int] = ()
        self._job_actions: list[Any] = []
        self._job_seeds: list[int | None] = []
        self._job_options: dict[str, Any] | None = None
        self._out: list[tuple[Any, ...]] = []

    def _init_procs(self, wrappers: Sequence[Callable[[gym.Env], gym.Env]], batched: bool | None, env_kwargs):
        """The process split: blocks of sub-envs in ``num_procs`` processes, one thread each."""
        from metabench._vector_procs import ARRAY_SPACES, ProcessSplit

        kwargs = dict(autoreset_mode=self.autoreset_mode, wrappers=tuple(wrappers), infos=self.infos)
        self._procs = ProcessSplit(
            self.env_id, self.num_envs, self.num_procs, {**kwargs, **env_kwargs, "batched": batched}
        )
        local = self._procs.local
        for space in (local.single_observation_space, local.single_action_space):
            if not isinstance(space, ARRAY_SPACES):
                self.close()
                raise ValueError(
                    f"MetaVectorEnv: num_procs > 1 expects array spaces ({ARRAY_SPACES}), got {space}"
                )
        #: The sub-envs of this process (the first block); the others live in the workers.
        self.envs = local.envs
        self.single_observation_space = local.single_observation_space
        self.single_action_space = local.single_action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.metadata = {**local.metadata, "autoreset_mode": self.autoreset_mode}
        self.render_mode = local.render_mode
        self.num_threads, self.step_choice, self.batched = 1, None, local.batched
        self._ended = np.zeros(self.num_envs, dtype=np.bool_)
        self._observations = create_empty_array(self.single_observation_space, self.num_envs)

    # -- reset ----------------------------------------------------------------------------------

    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[Any, dict[str, Any]]:
        """Reset every sub-env, or those in ``options["reset_mask"]`` (a bool array).

        Args:
            seed: ``None``; an int ``s`` (sub-env ``i`` gets ``s + i``, as in gymnasium); or one
                seed (or ``None``) per sub-env.
            options: passed to each sub-env's ``reset``, except ``"reset_mask"``.

        Returns:
            The batch of observations (of all sub-envs: those not reset keep their last one) and
            the batched reset infos.
        """
        n = self.num_envs
        if seed is None:
            seeds: list[int | None] = [None] * n
        elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            seeds = [int(seed) + i for i in range(n)]
        else:
            seeds = list(seed)
            if len(seeds) != n:
                raise ValueError(f"MetaVectorEnv.reset: expected {n} seeds, got {len(seeds)}")
        options = dict(options) if options is not None else None
        mask = options.pop("reset_mask", None) if options is not None else None
        if mask is None:
            indices = list(range(n))
        else:
            if not (isinstance(mask, np.ndarray) and mask.dtype == np.bool_ and mask.shape == (n,)):
                raise ValueError(
                    f"MetaVectorEnv.reset: expected options['reset_mask'] to be a bool array of "
                    f"shape ({n},), got {mask!r}"
                )
            indices = np.flatnonzero(mask).tolist()
        if self._procs is not None:
            infos = self._procs.reset(seeds, options or None, indices, self._observations)
            self._ended[indices] = False
            return (self._observations.copy() if self.copy else self._observations), infos
        self._job_indices, self._job_options = indices, options or None
        self._job_seeds = [seeds[i] for i in indices]
        self._out = [()] * len(indices)
        choice = self.step_choice
        self._workers.run(self._reset_one, len(indices), choice.options[choice.best][0] if choice else None)
        infos: dict[str, Any] = {}
        for k, i in enumerate(indices):
            self._env_obs[i], info = self._out[k]
            self._ended[i] = False
            infos = _add_info(infos, info, i, n)
        self._out = []
        concatenate(self.single_observation_space, self._env_obs, self._observations)
        return (deepcopy(self._observations) if self.copy else self._observations), infos

    def _reset_one(self, k: int) -> None:
        self._out[k] = self.envs[self._job_indices[k]].reset(
            seed=self._job_seeds[k], options=self._job_options
        )

    # -- step -----------------------------------------------------------------------------------

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every sub-env with its action (see the module docstring for autoreset)."""
        obs, rewards, terminations, truncations, infos = self._step(
            range(self.num_envs), list(iterate(self.action_space, actions))
        )
        return obs, rewards, terminations, truncations, infos

    def step_some(
        self, indices: Sequence[int], actions: Sequence[Any]
    ) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step only the sub-envs ``indices``, sub-env ``indices[k]`` with ``actions[k]``.

        The others do not move. Autoreset applies to the stepped sub-envs as in :meth:`step`.

        Returns:
            ``(obs, rewards, terminations, truncations, infos)`` of the stepped sub-envs only,
            in the order of ``indices`` (row ``k`` is sub-env ``indices[k]``; so are the infos).
        """
        indices = [int(i) for i in indices]
        if len(actions) != len(indices):
            raise ValueError(
                f"MetaVectorEnv.step_some: expected one action per index, got {len(actions)} "
                f"actions for {len(indices)} indices"
            )
        if len(set(indices)) != len(indices) or any(not 0 <= i < self.num_envs for i in indices):
            raise ValueError(
                f"MetaVectorEnv.step_some: expected distinct indices in [0, {self.num_envs}), got {indices}"
            )
        return self._step(indices, list(actions), some=True)

    def _step(self, indices: Sequence[int], actions: list[Any], some: bool = False):
        if self.autoreset_mode is AutoresetMode.DISABLED:
            ended = [i for i in indices if self._ended[i]]
            if ended:
                raise ValueError(
                    f"MetaVectorEnv.step: the episodes of sub-envs {ended} have ended and "
                    "autoreset_mode is DISABLED; expected reset(options={'reset_mask': ...}) first"
                )
        if self._procs is not None:
            obs = (
                create_empty_array(self.single_observation_space, len(indices))
                if some
                else self._observations
            )
            rewards, terminations, truncations, infos = self._procs.step(indices, actions, obs, self.infos)
            self._ended[list(indices)] = terminations | truncations
            return (obs.copy() if self.copy and not some else obs), rewards, terminations, truncations, infos
        choice = self.step_choice
        if choice is None or len(indices) < 2:
            return self._step_with(indices, actions, some, self.num_threads, self.batched)
        option = choice.choose()
        threads, batched = choice.options[option]
        start = time.perf_counter()
        result = self._step_with(indices, actions, some, threads, batched)
        choice.record(option, time.perf_counter() - start, len(indices))
        return result

    def _step_with(self, indices: Sequence[int], actions: list[Any], some: bool, threads: int, batched: bool):
        """One step of sub-envs ``indices`` on ``threads`` threads, batched or one by one."""
        if batched:
            return self._batched_step(indices, actions, some, threads)
        count = len(indices)
        self._job_indices, self._job_actions = indices, actions
        self._out = [()] * count
        self._workers.run(self._step_one, count, threads)
        rewards = np.zeros(count, dtype=np.float64)
        terminations = np.zeros(count, dtype=np.bool_)
        truncations = np.zeros(count, dtype=np.bool_)
        observations, info_list = [], []
        for k, i in enumerate(indices):
            obs, rewards[k], terminations[k], truncations[k], info = self._out[k]
            observations.append(obs)
            info_list.append(info)
            self._env_obs[i] = obs
        self._out = []
        infos = _batch_infos(info_list) if self.infos else {}
        if some:
            batch = concatenate(
                self.single_observation_space,
                observations,
                create_empty_array(self.single_observation_space, count),
            )
            return batch, rewards, terminations, truncations, infos
        concatenate(self.single_observation_space, self._env_obs, self._observations)
        obs = deepcopy(self._observations) if self.copy else self._observations
        return obs, rewards, terminations, truncations, infos

    def _batched_step(self, indices: Sequence[int], actions: list[Any], some: bool, threads: int):
        """:meth:`_step` through the family's batch stepper; sub-envs due for a ``NEXT_STEP``
        autoreset are reset instead, one by one."""
        count = len(indices)
        due = [k for k, i in enumerate(indices) if self._ended[i]]
        stepped = [k for k in range(count) if not self._ended[indices[k]]] if due else list(range(count))
        rows = [indices[k] for k in stepped]
        empty = np.zeros(0, dtype=np.bool_)
        obs, rewards, terminations, truncations, infos = (
            self._batch.step(
                rows, [actions[k] for k in stepped], functools.partial(self._workers.run, threads=threads)
            )
            if rows
            else ((), np.zeros(0), empty, empty, {})  # every sub-env resets on this step
        )
        for k, i in enumerate(rows):
            self._env_obs[i] = obs[k]
            self._ended[i] = terminations[k] or truncations[k]
        if due:  # an episode boundary: assemble the rows one by one
            keys = [key for key in infos if not key.startswith("_")]
            info_list: list[dict[str, Any]] = [{}] * count
            all_rewards = np.zeros(count, dtype=np.float64)
            all_terminations = np.zeros(count, dtype=np.bool_)
            all_truncations = np.zeros(count, dtype=np.bool_)
            for j, k in enumerate(stepped):
                all_rewards[k], all_terminations[k], all_truncations[k] = (
                    rewards[j],
                    terminations[j],
                    truncations[j],
                )
                info_list[k] = {key: _unbatched(infos[key][j]) for key in keys}
            for k in due:
                i = indices[k]
                self._env_obs[i], info_list[k] = self.envs[i].reset()
                self._ended[i] = False
            rewards, terminations, truncations = all_rewards, all_terminations, all_truncations
            infos = _batch_infos(info_list) if self.infos else {}
        elif not self.infos:
            infos = {}
        if some:
            rows_obs = [self._env_obs[i] for i in indices]
            batch = concatenate(
                self.single_observation_space,
                rows_obs,
                create_empty_array(self.single_observation_space, count),
            )
            return batch, rewards, terminations, truncations, infos
        concatenate(self.single_observation_space, self._env_obs, self._observations)
        out = deepcopy(self._observations) if self.copy else self._observations
        return out, rewards, terminations, truncations, infos

    def _step_one(self, k: int) -> None:
        i = self._job_indices[k]
        env = self.envs[i]
        mode = self.autoreset_mode
        if mode is AutoresetMode.NEXT_STEP and self._ended[i]:
            obs, info = env.reset()
            self._ended[i] = False
            self._out[k] = (obs, 0.0, False, False, info)
            return
        obs, reward, terminated, truncated, info = env.step(self._job_actions[k])
        if mode is AutoresetMode.SAME_STEP and (terminated or truncated):
            final = {"final_obs": obs, "final_info": info}
            obs, reset_info = env.reset()
            info = {**final, **reset_info}
        else:
            self._ended[i] = terminated or truncated
        self._out[k] = (obs, reward, terminated, truncated, info)

    # -- attributes -----------------------------------------------------------------------------

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call method ``name`` of every sub-env (or read attribute ``name``), as gymnasium's
        ``SyncVectorEnv.call`` does."""
        if self._procs is not None:
            return self._procs.gather("call", name, *args, **kwargs)
        results = []
        for env in self.envs:
            attribute = env.get_wrapper_attr(name)
            results.append(attribute(*args, **kwargs) if callable(attribute) else attribute)
        return tuple(results)

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """Attribute ``name`` of every sub-env."""
        if self._procs is not None:
            return self._procs.gather("get_attr", name)
        return tuple(env.get_wrapper_attr(name) for env in self.envs)

    def set_attr(self, name: str, values: Any) -> None:
        """Set attribute ``name`` of every sub-env: ``values[i]`` on sub-env ``i`` if ``values``
        is a list or tuple, else the same value on all (``set_attr("task", tasks)``).

        Raises:
            ValueError: a list or tuple whose length is not ``num_envs``.
        """
        if not isinstance(values, (list, tuple)):
            values = [values] * self.num_envs
        if len(values) != self.num_envs:
            raise ValueError(
                f"MetaVectorEnv.set_attr: expected {self.num_envs} values (one per sub-env), got {len(values)}"
            )
        if self._procs is not None:
            self._procs.set_attr(name, values)
            return
        for env, value in zip(self.envs, values):
            env.set_wrapper_attr(name, value)

    def render(self) -> tuple[Any, ...] | None:
        """Every sub-env's render, as gymnasium's ``SyncVectorEnv`` returns them."""
        if self._procs is not None:
            return self._procs.gather("render")
        return tuple(env.render() for env in self.envs)

    def close_extras(self, **kwargs: Any) -> None:
        """Stop the helper threads (or the worker processes) and close the sub-envs."""
        if self._procs is not None:
            self._procs.close()
            return
        self._workers.stop()
        for env in self.envs:
            env.close()

    def __repr__(self) -> str:
        return (
            f"MetaVectorEnv({self.env_id!r}, num_envs={self.num_envs}, num_threads={self.num_threads}, "
            f"num_procs={self.num_procs})"
        )


def _batch_infos(info_list: list[dict[str, Any]]) -> dict[str, Any]:
    """The infos of a batch as gymnasium batches them (:func:`_add_info`), one key at a time
    when every info has the same flat keys (the usual case, and 5x faster than entry by entry)."""
    n = len(info_list)
    if n == 0:
        return {}
    first = info_list[0]
    keys = first.keys()
    if any(info.keys() != keys for info in info_list) or any(
        key == "final_obs" or isinstance(value, dict) for key, value in first.items()
    ):
        infos: dict[str, Any] = {}
        for k, info in enumerate(info_list):
            infos = _add_info(infos, info, k, n)
        return infos
    infos = {}
    everyone = np.ones(n, dtype=np.bool_)
    for key, value in first.items():
        values = [info[key] for info in info_list]
        if type(value) in (int, float, bool) or isinstance(value, np.number):
            array = np.array(values, dtype=type(value))
        else:
            if isinstance(value, np.ndarray):
                array = np.zeros((n, *value.shape), dtype=value.dtype)
            else:
                array = np.full(n, fill_value=None, dtype=object)
            for k, item in enumerate(values):
                array[k] = item
        infos[key], infos[f"_{key}"] = array, everyone.copy()
    return infos


def _unbatched(value: Any) -> Any:
    """One row of a batched info, as the family's own info holds it (numbers as Python's)."""
    if isinstance(value, np.generic):
        return value.item()
    return value.copy() if isinstance(value, np.ndarray) else value


def _add_info(infos: dict[str, Any], info: dict[str, Any], k: int, n: int) -> dict[str, Any]:
    """gymnasium's ``VectorEnv._add_info`` for a batch of ``n`` (``step_some`` returns fewer rows
    than ``num_envs``): key ``key`` holds an array of the values, ``_key`` a mask of who has it."""
    for key, value in info.items():
        if key == "final_obs":
            array = infos.get(key)
            if array is None:
                array = np.full(n, fill_value=None, dtype=object)
            array[k] = value
        elif isinstance(value, dict):
            array = _add_info(infos.get(key, {}), value, k, n)
        else:
            array = infos.get(key)
            if array is None:
                if type(value) in (int, float, bool) or isinstance(value, np.number):
                    array = np.zeros(n, dtype=type(value))
                elif isinstance(value, np.ndarray):
                    array = np.zeros((n, *value.shape), dtype=value.dtype)
                else:
                    array = np.full(n, fill_value=None, dtype=object)
            array[k] = value
        mask = infos.get(f"_{key}")
        if mask is None:
            mask = np.zeros(n, dtype=np.bool_)
        mask[k] = True
        infos[key], infos[f"_{key}"] = array, mask
    return infos


def make_vector_env(env_id: str, num_envs: int = 1, **kwargs: Any) -> MetaVectorEnv:
    """``MetaVectorEnv(env_id, num_envs, **kwargs)``: what ``gym.make_vec(env_id, num_envs)``
    builds for a metabench family."""
    return MetaVectorEnv(env_id, num_envs, **kwargs)


def __getattr__(name: str) -> Callable[..., MetaVectorEnv]:
    # Each family's vector_entry_point is the string "metabench.vector:<its id>" (a string, so
    # the spec serialises); gymnasium resolves it with getattr, which lands here.
    from metabench.registration import FAMILIES

    if any(family.id == name for family in FAMILIES):
        return functools.partial(make_vector_env, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
