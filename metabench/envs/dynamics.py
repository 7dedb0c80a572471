"""What the dynamics-varied MuJoCo families share: their task types and how a task is written
into the compiled model in place.

Two kinds of task:

* :class:`ParamsTask`, PEARL's random physical parameters (``rand_param_envs.RandomEnv``): every
  element of ``body_mass``, ``body_inertia``, ``dof_damping`` and ``geom_friction`` is its
  nominal value times ``base ** e``, with one exponent ``e ~ U(-3, 3)`` per element;
* :class:`CrippledLimbTask`, Nagabandi et al.'s crippled limb: the actuators of one limb are
  disabled (their gear is 0).

Neither rebuilds the model from XML. The nominal arrays are saved once, at construction, and
every task is written as ``nominal × multiplier`` (or ``nominal`` / 0), so tasks never compound
and the default task restores the compiled model exactly, derived constants included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import mujoco
import numpy as np
from gymnasium import utils

from metabench.core import InvalidTaskError, Task, check_array, check_scalar
from metabench.envs.mujoco_meta import MujocoMetaEnv

__all__ = [
    "LOG_SCALE_LIMIT",
    "PARAM_BASES",
    "CrippledLimbEnv",
    "CrippledLimbTask",
    "ParamsTask",
    "RandParamsEnv",
]

#: PEARL's law (``rand_param_envs/base.py``, ``RandomEnv.sample_tasks``): MuJoCo model field ->
#: base of its multiplier. The multiplier of each element is ``base ** e``.
PARAM_BASES: dict[str, float] = {
    "body_mass": 1.5,
    "body_inertia": 1.5,
    "dof_damping": 1.3,
    "geom_friction": 1.5,
}
#: ``log_scale_limit`` of ``rand_param_envs`` (3.0 for its Walker2D and Hopper): ``e ~ U(-3, 3)``.
LOG_SCALE_LIMIT = 3.0

# (model field, task field, shape of the task field: None is "one entry per model element").
_PARAM_FIELDS = (
    ("body_mass", "body_mass_exponent", (None,)),
    ("body_inertia", "body_inertia_exponent", (None, 3)),
    ("dof_damping", "dof_damping_exponent", (None,)),
    ("geom_friction", "geom_friction_exponent", (None, 3)),
)


class _MujocoMetaEnv(MujocoMetaEnv):
    """Gymnasium's own v5 ``step``, with the task in its info (the reward does not change)."""

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = super().step(action)
        info["task"] = self._active_task
        return obs, reward, terminated, truncated, info


# -- random physical parameters (PEARL) ----------------------------------------------------------


@dataclass(frozen=True)
class ParamsTask(Task):
    """The exponents ``e`` of PEARL's multipliers, one per element of the model's arrays.

    Each model array becomes ``nominal * base ** e`` (bases in :data:`PARAM_BASES`); all
    exponents lie in ``[-3, 3]``. Shapes follow the model: ``body_*`` has one row per body (the
    world body included, as in ``rand_param_envs``), ``dof_damping`` one entry per degree of
    freedom, ``geom_friction`` one row per geom, with MuJoCo's three components (sliding,
    torsional, rolling).
    """

    body_mass_exponent: tuple[float, ...]
    body_inertia_exponent: tuple[tuple[float, float, float], ...]
    dof_damping_exponent: tuple[float, ...]
    geom_friction_exponent: tuple[tuple[float, float, float], ...]

    def __post_init__(self) -> None:
        multipliers = []
        for name, field_name, shape in _PARAM_FIELDS:
            exponents = check_array(self, field_name, shape, -LOG_SCALE_LIMIT, LOG_SCALE_LIMIT)
            multiplier = PARAM_BASES[name] ** exponents
            multiplier.flags.writeable = False
            multipliers.append(multiplier)
        if len(multipliers[0]) != len(multipliers[1]):
            raise InvalidTaskError(
                f"ParamsTask: expected one body_inertia_exponent row per body_mass_exponent "
                f"entry, got {len(multipliers[1])} rows for {len(multipliers[0])} bodies"
            )
        # Computed once here, so that applying the task is a multiply per array. Not a field:
        # equality, hashing and JSON see only the exponents.
        object.__setattr__(self, "_multipliers", tuple(multipliers))

    def multipliers(self) -> dict[str, np.ndarray]:
        """The multiplier of every element, keyed by MuJoCo model field (read-only arrays)."""
        return dict(zip(PARAM_BASES, self._multipliers))


class RandParamsEnv(_MujocoMetaEnv):
    """PEARL's random-parameter law over a gymnasium v5 MuJoCo env (a mixin, first in the bases).

    Constructor kwargs are the gymnasium env's, passed through unchanged.

    ``set_task`` writes ``nominal * multiplier`` into the model's four arrays, then calls
    ``mujoco.mj_setConst``, which recomputes what the compiler derives from them:
    ``body_subtreemass``, ``body_invweight0``, ``dof_invweight0``, ``dof_M0``,
    ``actuator_acc0`` (and, in mujoco 3.x only, ``stat.meanmass`` and ``stat.meaninertia``).
    The call is needed: the constraint solver sets the softness of contacts and joint limits
    from the inverse weights, and with all derived values left nominal (as in PEARL's code,
    which assigned the arrays with ``setattr`` and recomputed nothing) a 400-step random-action
    rollout ended 0.03 to 5.4 m away (final x) from that of the model the task describes, over
    9 sampled tasks (3 per body). Of the derived values, only the inverse weights changed these
    simulations under mujoco 3.3.0 (under 4.0, ``body_subtreemass`` too). With the call, the model
    equals array for array the one MuJoCo compiles from an XML holding the scaled values, and
    its trajectories are bit-identical (tested against an ``MjSpec`` compile). ``mj_setConst``
    only reads ``qpos0``, and on a compiled model it changes nothing, so the default task
    restores the nominal model exactly. It uses ``self.data`` as scratch space, which is safe
    because the task is applied inside ``reset``, just before ``mj_resetData`` clears the state.
    """

    task_type = ParamsTask

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Unpickling (EzPickle) rebuilds this class with these kwargs; the task is restored by
        # MetaEnv.__setstate__.
        utils.EzPickle.__init__(self, **kwargs)
        self._nominal = tuple(getattr(self.model, name).copy() for name in PARAM_BASES)
        self._init_tasks()

    def default_task(self) -> ParamsTask:
        """All exponents 0: the nominal gymnasium model."""
        return ParamsTask(*(np.zeros(nominal.shape) for nominal in self._nominal))

    def _sample_tasks(self, rng: np.random.Generator, n: int, split: str = "train") -> list[Task]:
        draws = [
            rng.uniform(-LOG_SCALE_LIMIT, LOG_SCALE_LIMIT, size=(n, *nominal.shape))
            for nominal in self._nominal
        ]
        return [ParamsTask(*(d[i] for d in draws)) for i in range(n)]

    def _check_support(self, task: Task) -> None:
        for (name, field_name, _), nominal, multiplier in zip(
            _PARAM_FIELDS, self._nominal, task._multipliers
        ):
            if multiplier.shape != nominal.shape:
                raise InvalidTaskError(
                    f"{type(self).__name__}.set_task: {field_name} must have shape "
                    f"{nominal.shape} (the shape of model.{name}), got {multiplier.shape}"
                )

    def _apply_task(self, task: Task) -> None:
        model = self.model
        for name, nominal, multiplier in zip(PARAM_BASES, self._nominal, task._multipliers):
            np.multiply(nominal, multiplier, out=getattr(model, name))
        mujoco.mj_setConst(model, self.data)


# -- crippled limbs (Nagabandi et al. 2019) -------------------------------------------------------


@dataclass(frozen=True)
class CrippledLimbTask(Task):
    """The index of the crippled limb in the family's ``limbs``; ``-1`` for none (intact)."""

    limb: int

    def __post_init__(self) -> None:
        check_scalar(self, "limb", -1, math.inf, integer=True)


class CrippledLimbEnv(_MujocoMetaEnv):
    """One limb's actuators disabled, over a gymnasium v5 MuJoCo env (a mixin, first in the bases).

    Families set ``limbs`` (the joints of each limb), ``limb_names`` and
    ``train_limbs`` (the limbs training tasks cripple). Held-out splits: ``"test"`` cripples
    every limb once, ``"unseen"`` only the limbs training never cripples.

    ``set_task`` restores the nominal ``actuator_gear`` and zeroes the rows of the actuators that
    drive the crippled limb's joints, so a command on those actuators produces no force. The only derived constant that depends on the
    gear is ``actuator_acc0`` (the acceleration a unit actuator force gives at ``qpos0``, which
    is linear in the gear); it is zeroed with the gear rather than recomputed with
    ``mj_setConst``, which gives the same arrays as compiling the XML with gear 0 (tested).
    """

    task_type = CrippledLimbTask
    #: The joints of each limb, whose actuators a task disables; ``limb`` indexes this tuple.
    limbs: ClassVar[tuple[tuple[str, ...], ...]]
    #: A readable name for each limb (same order as ``limbs``).
    limb_names: ClassVar[tuple[str, ...]]
    #: The limbs that training tasks cripple, uniformly.
    train_limbs: ClassVar[tuple[int, ...]]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        utils.EzPickle.__init__(self, **kwargs)
        model = self.model
        driven = model.actuator_trnid[:, 0]  # the joint each actuator drives (all have joint
        # transmissions here; ant.xml leaves its motors unnamed, so go through the joints)
        self._limb_actuators = tuple(
            np.flatnonzero(np.isin(driven, [model.joint(name).id for name in joints]))
            for joints in self.limbs
        )
        self._nominal_gear = self.model.actuator_gear.copy()
        self._nominal_acc0 = self.model.actuator_acc0.copy()
        self._init_tasks()

    def default_task(self) -> CrippledLimbTask:
        """No limb crippled: the nominal gymnasium model."""
        return CrippledLimbTask(-1)

    def _sample_tasks(self, rng: np.random.Generator, n: int, split: str = "train") -> list[Task]:
        if split == "test":
            return [CrippledLimbTask(limb) for limb in range(len(self.limbs))]
        if split == "unseen":
            return [CrippledLimbTask(limb) for limb in self.unseen_limbs()]
        picks = rng.integers(len(self.train_limbs), size=n)
        return [CrippledLimbTask(self.train_limbs[i]) for i in picks]

    @classmethod
    def unseen_limbs(cls) -> tuple[int, ...]:
        """The limbs no training task cripples."""
        return tuple(limb for limb in range(len(cls.limbs)) if limb not in cls.train_limbs)

    def _check_support(self, task: Task) -> None:
        if task.limb >= len(self.limbs):
            raise InvalidTaskError(
                f"{type(self).__name__}.set_task: limb must be -1 (intact) or a limb index in "
                f"[0, {len(self.limbs) - 1}], got {task.limb}"
            )

    def _apply_task(self, task: Task) -> None:
        gear, acc0 = self.model.actuator_gear, self.model.actuator_acc0
        gear[:] = self._nominal_gear
        acc0[:] = self._nominal_acc0
        if task.limb >= 0:
            actuators = self._limb_actuators[task.limb]
            gear[actuators] = 0.0
            acc0[actuators] = 0.0
