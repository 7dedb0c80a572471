"""Tier 2 for the dynamics-varied MuJoCo families: PEARL's random parameters and crippled limbs.

Expected values are recomputed here from fresh gymnasium models, from this file's own statement
of the laws, and from models that MuJoCo compiles from an edited spec (the oracle for "the
in-place model is the model the task describes, derived constants included").
"""

from __future__ import annotations

import math
import pickle

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.envs.mujoco.mujoco_env import expand_model_path

import metabench  # noqa: F401 - registers the families
from metabench import InvalidTaskError

# id -> the gymnasium env it is built on.
PARAMS_IDS = {
    "MetaWalker2dParams-v0": "Walker2d-v5",
    "MetaHopperParams-v0": "Hopper-v5",
    "MetaHalfCheetahParams-v0": "HalfCheetah-v5",
}
CRIPPLED_IDS = {"MetaAntCrippled-v0": "Ant-v5", "MetaHalfCheetahCrippled-v0": "HalfCheetah-v5"}
ALL_IDS = {**PARAMS_IDS, **CRIPPLED_IDS}

# PEARL's law, restated: model field -> (task field, base); exponents ~ U(-3, 3).
LAW = {
    "body_mass": ("body_mass_exponent", 1.5),
    "body_inertia": ("body_inertia_exponent", 1.5),
    "dof_damping": ("dof_damping_exponent", 1.3),
    "geom_friction": ("geom_friction_exponent", 1.5),
}
# Nagabandi et al.'s limbs, restated by joint: id -> (joints of each limb, limbs in training).
LIMBS = {
    "MetaAntCrippled-v0": (
        [("hip_1", "ankle_1"), ("hip_2", "ankle_2"), ("hip_3", "ankle_3"), ("hip_4", "ankle_4")],
        {0, 1, 2},
    ),
    "MetaHalfCheetahCrippled-v0": (
        [("bthigh",), ("bshin",), ("bfoot",), ("fthigh",), ("fshin",), ("ffoot",)],
        {1, 2, 3, 4, 5},
    ),
}

needs_spec = pytest.mark.skipif(not hasattr(mujoco, "MjSpec"), reason="mujoco.MjSpec needs mujoco>=3.2")


# -- helpers ------------------------------------------------------------------------------------


def nominal_model(env_id: str) -> mujoco.MjModel:
    """A fresh model of the gymnasium env the family is built on."""
    return gym.make(ALL_IDS[env_id]).unwrapped.model


def model_arrays(model: mujoco.MjModel) -> dict[str, np.ndarray]:
    """Every numeric array of the model, plus ``stat`` and ``opt`` (copies)."""
    out = {}
    for owner, prefix in ((model, ""), (model.stat, "stat."), (model.opt, "opt.")):
        for name in dir(owner):
            if name.startswith("_"):
                continue
            value = getattr(owner, name)
            if isinstance(value, (np.ndarray, float, int)) and not isinstance(value, bool):
                out[prefix + name] = np.array(value)
    return out


def assert_same_model(actual: mujoco.MjModel, expected: mujoco.MjModel, ignore=()) -> None:
    a, b = model_arrays(actual), model_arrays(expected)
    assert a.keys() == b.keys()
    different = [name for name in a if name not in ignore and not np.array_equal(a[name], b[name])]
    assert not different, f"model arrays differ: {different}"


def applied(env_id: str, task, seed: int = 0) -> gym.Env:
    env = gym.make(env_id)
    env.unwrapped.set_task(task)
    env.reset(seed=seed)
    return env


def trajectory(env: gym.Env, seed: int, actions: np.ndarray) -> np.ndarray:
    """Observations and rewards of a fixed action sequence from ``reset(seed)``, NaN-padded after
    the episode ends."""
    obs, _ = env.reset(seed=seed)
    rows = [np.append(obs, 0.0)]
    for action in actions:
        obs, reward, terminated, truncated, _ = env.step(action)
        rows.append(np.append(obs, reward))
        if terminated or truncated:
            break
    out = np.full((len(actions) + 1, rows[0].size), np.nan)
    out[: len(rows)] = rows
    return out


def seeded_actions(env: gym.Env, steps: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (steps, *env.action_space.shape))


def with_exponent(task, field: str, index, value: float):
    data = task.to_dict()
    array = np.array(data[field])
    array[index] = value
    data[field] = array.tolist()
    return type(task).from_dict(data)


def expected_params(task, nominal: mujoco.MjModel) -> dict[str, np.ndarray]:
    return {
        name: getattr(nominal, name) * base ** np.asarray(getattr(task, field))
        for name, (field, base) in LAW.items()
    }


def compiled_params_model(env_id: str, values: dict[str, np.ndarray]) -> mujoco.MjModel:
    """The model MuJoCo compiles from the gymnasium XML with these masses, inertias, damping and
    friction written into the spec (inertia from the values, not from the geoms)."""
    nominal = nominal_model(env_id)
    spec = mujoco.MjSpec.from_file(expand_model_path(default_xml(env_id)))
    spec.compiler.inertiafromgeom = mujoco.mjtInertiaFromGeom.mjINERTIAFROMGEOM_FALSE
    spec.compiler.settotalmass = -1  # half_cheetah.xml asks for a total mass; keep ours
    for body in spec.bodies[1:]:
        i = nominal.body(body.name).id
        body.explicitinertial = True
        body.mass = values["body_mass"][i]
        body.inertia = values["body_inertia"][i]
        body.ipos, body.iquat = nominal.body_ipos[i], nominal.body_iquat[i]
    for joint in spec.joints:
        damping = values["dof_damping"][nominal.jnt_dofadr[nominal.joint(joint.name).id]]
        if np.ndim(joint.damping):  # mujoco 4 makes it (linear, polynomial terms...)
            damping = np.concatenate([[damping], np.asarray(joint.damping)[1:]])
        joint.damping = damping
    for geom in spec.geoms:
        geom.friction = values["geom_friction"][nominal.geom(geom.name).id]
    return spec.compile()


def default_xml(env_id: str) -> str:
    return {
        "Walker2d-v5": "walker2d_v5.xml",
        "Hopper-v5": "hopper.xml",
        "HalfCheetah-v5": "half_cheetah.xml",
        "Ant-v5": "ant.xml",
    }[ALL_IDS[env_id]]


def sample(env_id: str, n: int, seed: int):
    return gym.make(env_id).unwrapped.sample_tasks(n, seed=seed)


# -- random parameters: the task lands in the model -----------------------------------------------


@pytest.mark.parametrize("env_id", PARAMS_IDS)
def test_parameters_land_and_the_default_task_restores_the_nominal_model(env_id):
    nominal = nominal_model(env_id)
    env = gym.make(env_id)
    for task in sample(env_id, 3, seed=1):
        env.unwrapped.set_task(task)
        env.reset(seed=0)
        for name, value in expected_params(task, nominal).items():
            np.testing.assert_allclose(getattr(env.unwrapped.model, name), value, rtol=1e-14, atol=0)
    env.unwrapped.set_task(env.unwrapped.default_task())
    env.reset(seed=0)
    assert_same_model(env.unwrapped.model, nominal)  # exactly, derived constants included


@needs_spec
@pytest.mark.parametrize("env_id", PARAMS_IDS)
def test_the_model_is_the_one_mujoco_compiles_from_the_scaled_values(env_id):
    """Derived constants (subtree masses, inverse weights, mean inertia...) are consistent: the
    in-place model equals, array for array, a model compiled with the scaled values, and so do
    its trajectories. Inertia is scaled alike on each body's three axes here, because MuJoCo's
    compiler rejects the per-axis law's moments (see test_per_axis_inertias_...). The two
    statistics mj_setConst stopped refreshing in mujoco 4 are left out; they do not enter these
    simulations, as the trajectories show."""
    task = sample(env_id, 1, seed=2)[0]
    inertia = np.array(task.body_inertia_exponent)
    task = with_exponent(task, "body_inertia_exponent", slice(None), np.repeat(inertia[:, :1], 3, 1))
    env = applied(env_id, task)
    oracle = compiled_params_model(env_id, expected_params(task, nominal_model(env_id)))
    assert_same_model(env.unwrapped.model, oracle, ignore=("stat.meanmass", "stat.meaninertia"))

    twin = gym.make(ALL_IDS[env_id])  # the gymnasium env, running on the compiled model
    twin.unwrapped.model, twin.unwrapped.data = oracle, mujoco.MjData(oracle)
    actions = seeded_actions(env, 150)
    np.testing.assert_array_equal(trajectory(env, 3, actions), trajectory(twin, 3, actions))


@pytest.mark.parametrize("env_id", PARAMS_IDS)
def test_per_axis_inertias_break_the_triangle_inequality_but_only_the_hinge_axis_acts(env_id):
    """What the docstrings claim about PEARL's per-axis inertia law on these planar bodies, and
    the other elements that are scaled but inert (world body, root damping, torsional and
    rolling friction): changing them leaves a trajectory bit-identical; the moment about y does
    not."""
    nominal = nominal_model(env_id)
    tasks = sample(env_id, 50, seed=3)
    moments = np.sort([expected_params(t, nominal)["body_inertia"][1:] for t in tasks], axis=-1)
    broken = (moments[..., 0] + moments[..., 1] < moments[..., 2]).any(axis=-1)
    assert broken.mean() > 0.9

    rotation = np.zeros(9)
    y_axis = []
    for i in range(nominal.nbody):
        mujoco.mju_quat2Mat(rotation, nominal.body_iquat[i])
        y_axis.append(int(np.argmax(np.abs(rotation.reshape(3, 3)[1]))))
    task = tasks[0]
    inert = task.to_dict()
    inertia = np.array(inert["body_inertia_exponent"])
    for i, k in enumerate(y_axis):
        inertia[i, [axis for axis in range(3) if axis != k]] *= -1
    inertia[0] *= -1
    inert["body_inertia_exponent"] = inertia.tolist()
    inert["body_mass_exponent"][0] = -inert["body_mass_exponent"][0]
    damping = np.array(inert["dof_damping_exponent"])
    damping[:3] = -damping[:3]
    inert["dof_damping_exponent"] = damping.tolist()
    friction = np.array(inert["geom_friction_exponent"])
    friction[:, 1:] = -friction[:, 1:]
    inert["geom_friction_exponent"] = friction.tolist()
    hinge = with_exponent(task, "body_inertia_exponent", (1, y_axis[1]), 3.0)

    env = gym.make(env_id)
    actions = seeded_actions(env, 150)
    runs = {}
    for name, t in (("task", task), ("inert", inert), ("hinge", hinge)):
        env.unwrapped.set_task(t)
        runs[name] = trajectory(env, 4, actions)
    np.testing.assert_array_equal(runs["task"], runs["inert"])
    assert not np.allclose(runs["task"], runs["hinge"], equal_nan=True)


@pytest.mark.parametrize("env_id", PARAMS_IDS)
def test_law_holds_for_the_multipliers_that_land_in_the_model(env_id):
    """Over many tasks applied to the model, every multiplier lies in [base^-3, base^3] and its
    log (base ``base``) is U(-3, 3) (a KS test), independently per element."""
    n = 300
    nominal = nominal_model(env_id)
    env = gym.make(env_id)
    model = env.unwrapped.model
    exponents = {name: [] for name in LAW}
    for task in env.unwrapped.sample_tasks(n, seed=5):
        env.unwrapped.set_task(task)
        env.reset(seed=0)
        for name, (_, base) in LAW.items():
            scaled = getattr(nominal, name) != 0  # zeros stay zero whatever the multiplier
            ratio = getattr(model, name)[scaled] / getattr(nominal, name)[scaled]
            exponents[name].append(np.log(ratio) / np.log(base))
    for name, values in exponents.items():
        values = np.array(values)  # (tasks, elements)
        assert values.min() >= -3 - 1e-9 and values.max() <= 3 + 1e-9, name
        pooled = np.sort(values.ravel())
        cdf = (pooled + 3) / 6
        k = np.arange(1, pooled.size + 1)
        ks = max(np.max(k / pooled.size - cdf), np.max(cdf - (k - 1) / pooled.size))
        assert ks < 1.95 / math.sqrt(pooled.size), f"{name}: KS distance {ks:.4f}"
        correlation = np.corrcoef(values.T)
        off_diagonal = correlation[~np.eye(len(correlation), dtype=bool)]
        assert np.abs(off_diagonal).max() < 4.5 / math.sqrt(n), f"{name}: elements not independent"


@pytest.mark.parametrize("env_id", PARAMS_IDS)
def test_set_task_never_compounds(env_id):
    a, b = sample(env_id, 2, seed=6)
    env = gym.make(env_id)
    for task in (a, b, a, b):
        env.unwrapped.set_task(task)
        env.reset(seed=0)
    fresh = applied(env_id, b)
    assert_same_model(env.unwrapped.model, fresh.unwrapped.model)
    actions = seeded_actions(env, 60)
    np.testing.assert_array_equal(trajectory(env, 1, actions), trajectory(fresh, 1, actions))


@pytest.mark.parametrize("env_id", PARAMS_IDS)
def test_different_tasks_give_different_trajectories_and_the_same_task_the_same(env_id):
    a, b = sample(env_id, 2, seed=7)
    actions = seeded_actions(gym.make(env_id), 100)
    run_a = trajectory(applied(env_id, a), 2, actions)
    np.testing.assert_array_equal(run_a, trajectory(applied(env_id, a), 2, actions))
    assert not np.allclose(run_a, trajectory(applied(env_id, b), 2, actions), equal_nan=True)
    nominal_run = trajectory(gym.make(ALL_IDS[env_id]), 2, actions)
    np.testing.assert_array_equal(trajectory(gym.make(env_id), 2, actions), nominal_run)


@pytest.mark.parametrize("env_id", PARAMS_IDS)
def test_a_heavier_torso_falls_sooner(env_id):
    """With no torque, the walker and hopper topple: sooner with a torso 1.5³ times heavier,
    later with one 1.5³ times lighter. The cheetah never terminates; its heavier torso sags
    lower."""
    env = gym.make(env_id)
    default = env.unwrapped.default_task()
    outcome = []
    for exponent in (-3.0, 0.0, 3.0):
        env.unwrapped.set_task(with_exponent(default, "body_mass_exponent", 1, exponent))
        env.reset(seed=0)
        steps, lowest = 0, math.inf
        while True:
            *_, terminated, truncated, _ = env.step(np.zeros(env.action_space.shape))
            steps += 1
            lowest = min(lowest, env.unwrapped.data.qpos[1])
            if terminated or truncated:
                break
        outcome.append(lowest if env_id == "MetaHalfCheetahParams-v0" else steps)
    light, nominal, heavy = outcome
    assert light > nominal > heavy


@pytest.mark.parametrize("env_id", PARAMS_IDS)
def test_reset_and_pickling_keep_the_parameters(env_id):
    task = sample(env_id, 1, seed=8)[0]
    expected = expected_params(task, nominal_model(env_id))
    env = applied(env_id, task)
    for _ in range(3):
        env.step(env.action_space.sample())
        env.reset()
    clone = pickle.loads(pickle.dumps(env))
    clone.reset(seed=0)
    for candidate in (env, clone):
        for name, value in expected.items():
            np.testing.assert_allclose(getattr(candidate.unwrapped.model, name), value, rtol=1e-14)
    assert_same_model(clone.unwrapped.model, env.unwrapped.model)


@pytest.mark.parametrize(
    ("env_id", "frame_skip", "dt"), [("MetaWalker2dParams-v0", 10, 0.02), ("MetaHopperParams-v0", 8, 0.016)]
)
def test_frame_skip_gives_pearls_time_step_and_survives_pickling(env_id, frame_skip, dt):
    env = gym.make(env_id, frame_skip=frame_skip)
    task = sample(env_id, 1, seed=11)[0]
    env.unwrapped.set_task(task)
    clone = pickle.loads(pickle.dumps(env))
    for candidate in (env, clone):
        assert candidate.unwrapped.dt == pytest.approx(dt) and candidate.unwrapped.get_task() == task
        candidate.reset(seed=0)
        x = candidate.unwrapped.data.qpos[0]
        *_, info = candidate.step(np.zeros(candidate.action_space.shape))
        assert info["reward_forward"] == pytest.approx((candidate.unwrapped.data.qpos[0] - x) / dt)


@pytest.mark.parametrize("env_id", PARAMS_IDS)
def test_vector_sub_envs_own_their_models(env_id):
    tasks = sample(env_id, 3, seed=9)
    nominal = nominal_model(env_id)
    vec = gym.make_vec(env_id, num_envs=3, vectorization_mode="sync")
    vec.set_attr("task", tasks)
    vec.reset(seed=0)
    models = [sub.unwrapped.model for sub in vec.envs]
    for model, task in zip(models, tasks):
        for name, value in expected_params(task, nominal).items():
            np.testing.assert_allclose(getattr(model, name), value, rtol=1e-14)
    for i in range(3):
        for j in range(i + 1, 3):
            assert models[i] is not models[j]
            assert not np.shares_memory(models[i].body_mass, models[j].body_mass)
    # The same actions move the sub-envs differently.
    vec.reset(seed=0)
    obs = vec.step(np.repeat(seeded_actions(vec.envs[0], 1), 3, axis=0))[0]
    for _ in range(20):
        obs = vec.step(np.repeat(seeded_actions(vec.envs[0], 1), 3, axis=0))[0]
    assert not np.allclose(obs[0], obs[1]) and not np.allclose(obs[1], obs[2])
    vec.close()


@pytest.mark.parametrize("env_id", PARAMS_IDS)
def test_params_set_task_rejects_other_shapes_and_exponents_out_of_range(env_id):
    env = gym.make(env_id).unwrapped
    data = env.default_task().to_dict()
    with pytest.raises(InvalidTaskError, match=r"dof_damping_exponent must have shape"):
        env.set_task({**data, "dof_damping_exponent": data["dof_damping_exponent"] + [0.0]})
    other = "MetaHopperParams-v0" if env_id != "MetaHopperParams-v0" else "MetaWalker2dParams-v0"
    with pytest.raises(InvalidTaskError, match="must have shape"):
        env.set_task(gym.make(other).unwrapped.default_task())
    with pytest.raises(InvalidTaskError, match="one body_inertia_exponent row per"):
        env.set_task({**data, "body_inertia_exponent": data["body_inertia_exponent"][1:]})
    for bad in (3.0001, -3.5):
        with pytest.raises(InvalidTaskError, match=r"geom_friction_exponent: expected .*\[-3.0, 3.0\]"):
            env.set_task(with_exponent(env.default_task(), "geom_friction_exponent", (0, 0), bad))
    assert env.get_task() == env.default_task()


# -- crippled limbs -------------------------------------------------------------------------------


def limb_actuators(model: mujoco.MjModel, joints) -> list[int]:
    ids = {model.joint(name).id for name in joints}
    return [i for i in range(model.nu) if model.actuator_trnid[i, 0] in ids]


@pytest.mark.parametrize("env_id", CRIPPLED_IDS)
def test_crippling_zeroes_the_limbs_gears_and_the_default_task_restores_them(env_id):
    nominal = nominal_model(env_id)
    limbs, _ = LIMBS[env_id]
    env = gym.make(env_id)
    for limb, joints in enumerate(limbs):
        env.unwrapped.set_task({"limb": limb})
        env.reset(seed=0)
        expected = nominal.actuator_gear.copy()
        expected[limb_actuators(nominal, joints)] = 0.0
        np.testing.assert_array_equal(env.unwrapped.model.actuator_gear, expected)
    env.unwrapped.set_task(env.unwrapped.default_task())
    env.reset(seed=0)
    assert_same_model(env.unwrapped.model, nominal)


@needs_spec
@pytest.mark.filterwarnings("ignore:compiler attribute 'settotalmass' is deprecated")  # mujoco 4
@pytest.mark.parametrize("env_id", CRIPPLED_IDS)
def test_crippled_model_is_the_one_mujoco_compiles_with_gear_zero(env_id):
    limbs, _ = LIMBS[env_id]
    nominal = nominal_model(env_id)
    for limb in (0, len(limbs) - 1):
        spec = mujoco.MjSpec.from_file(expand_model_path(default_xml(env_id)))
        for i in limb_actuators(nominal, limbs[limb]):
            spec.actuators[i].gear = np.zeros(6)
        env = applied(env_id, {"limb": limb})
        assert_same_model(env.unwrapped.model, spec.compile())


@pytest.mark.parametrize("env_id", CRIPPLED_IDS)
def test_a_crippled_limbs_commands_have_no_effect(env_id):
    """Actions that differ only on the crippled limb's motors give the same observations; on the
    intact robot they do not."""
    limbs, _ = LIMBS[env_id]
    nominal = nominal_model(env_id)
    limb = 1
    env = gym.make(env_id)
    actions = seeded_actions(env, 60)
    other = actions.copy()
    other[:, limb_actuators(nominal, limbs[limb])] = -other[:, limb_actuators(nominal, limbs[limb])]
    for task, same in (({"limb": limb}, True), ({"limb": -1}, False)):
        env.unwrapped.set_task(task)
        a, b = trajectory(env, 5, actions)[:, :-1], trajectory(env, 5, other)[:, :-1]
        assert np.array_equal(a, b, equal_nan=True) == same, task


@pytest.mark.parametrize("env_id", CRIPPLED_IDS)
def test_crippled_task_law_and_splits(env_id):
    limbs, train = LIMBS[env_id]
    env = gym.make(env_id).unwrapped
    n = 3000
    picks = np.array([t.limb for t in env.sample_tasks(n, seed=0)])
    assert set(picks) == train
    p = 1 / len(train)
    for limb in train:
        assert abs(np.mean(picks == limb) - p) < 4 * math.sqrt(p * (1 - p) / n)
    assert [t.limb for t in env.test_tasks()] == list(range(len(limbs)))
    unseen = [t.limb for t in env.test_tasks("unseen")]
    assert unseen and set(unseen) == set(range(len(limbs))) - train
    for bad in (len(limbs), -2):
        with pytest.raises(InvalidTaskError, match="limb"):
            env.set_task({"limb": bad})
    with pytest.raises(InvalidTaskError, match="limb"):
        env.set_task({"limb": 1.5})


@pytest.mark.parametrize("env_id", CRIPPLED_IDS)
def test_crippling_never_compounds_and_sub_envs_keep_their_own_limb(env_id):
    env = gym.make(env_id)
    for limb in (0, 1, 0, 2):
        env.unwrapped.set_task({"limb": limb})
        env.reset(seed=0)
    assert_same_model(env.unwrapped.model, applied(env_id, {"limb": 2}).unwrapped.model)

    vec = gym.make_vec(env_id, num_envs=3, vectorization_mode="sync")
    vec.set_attr("task", [{"limb": 0}, {"limb": -1}, {"limb": 2}])
    vec.reset(seed=0)
    for sub, limb in zip(vec.envs, (0, -1, 2)):
        assert_same_model(sub.unwrapped.model, applied(env_id, {"limb": limb}).unwrapped.model)
    vec.close()


# -- every family ---------------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_reward_is_recomputed_from_the_physics_and_its_components_add_up(env_id):
    """r = forward Δx/dt + survive − ctrl ‖a‖² − contact, with gymnasium v5's default weights,
    recomputed from the state; the info components add up to it exactly."""
    ctrl_weight = {"Walker2d-v5": 1e-3, "Hopper-v5": 1e-3, "HalfCheetah-v5": 0.1, "Ant-v5": 0.5}
    base = ALL_IDS[env_id]
    env = gym.make(env_id)
    task = env.unwrapped.sample_tasks(1, seed=10)[0]
    env.unwrapped.set_task(task)
    env.reset(seed=0)
    data = env.unwrapped.data
    dt = env.unwrapped.model.opt.timestep * env.unwrapped.frame_skip
    # Ant-v5 differentiates the torso's xpos, which mj_step leaves one substep behind qpos.
    x = (lambda: data.body("torso").xpos[0]) if base == "Ant-v5" else (lambda: data.qpos[0])
    for action in seeded_actions(env, 40, seed=1):
        x_before = x()
        _, reward, terminated, _, info = env.step(action)
        expected = (x() - x_before) / dt - ctrl_weight[base] * np.sum(action**2)
        if base != "HalfCheetah-v5":
            expected += 1.0  # healthy reward (checked on steps that do not terminate)
        if base == "Ant-v5":
            expected -= 5e-4 * np.sum(np.clip(data.cfrc_ext, -1, 1) ** 2)
        assert info["task"] == task
        survive = info.get("reward_survive", 0.0)
        costs = -info["reward_ctrl"] + -info.get("reward_contact", 0.0)
        assert reward == (info["reward_forward"] + survive) - costs
        if terminated:
            break
        assert reward == pytest.approx(expected, rel=1e-9, abs=1e-9)
