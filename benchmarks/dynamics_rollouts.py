"""How much a dynamics task changes a rollout: one fixed action sequence, several tasks.

For each family, the same ``reset(seed=0)`` and the same actions (uniform random torques from a
fixed seed, and for the parameter families also no torque at all) are played under the nominal model and under a few tasks; the table
gives the steps until the episode ended (200 = the horizon), the return and the final torso x.

Run: ``.venv/bin/python benchmarks/dynamics_rollouts.py``
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import metabench  # noqa: F401 - registers the families

HORIZON = 200


def play(env: gym.Env, task, actions: np.ndarray) -> tuple[int, float, float]:
    env.unwrapped.set_task(task)
    env.reset(seed=0)
    total, steps = 0.0, 0
    for action in actions:
        _, reward, terminated, truncated, _ = env.step(action)
        total += reward
        steps += 1
        if terminated or truncated:
            break
    return steps, total, float(env.unwrapped.data.qpos[0])


def torso_mass(env: gym.Env, exponent: float):
    data = env.unwrapped.default_task().to_dict()
    data["body_mass_exponent"][1] = exponent  # body 1 is the torso in all three models
    return data


def main() -> None:
    families = [
        "MetaWalker2dParams-v0",
        "MetaHopperParams-v0",
        "MetaHalfCheetahParams-v0",
        "MetaAntCrippled-v0",
        "MetaHalfCheetahCrippled-v0",
    ]
    print(f"{'family':28s} {'task':34s} {'actions':7s} {'steps':>5s} {'return':>9s} {'final x':>8s}")
    for env_id in families:
        env = gym.make(env_id)
        shape = env.action_space.shape
        sequences = {"random": np.random.default_rng(0).uniform(-1, 1, (HORIZON, *shape))}
        if "Params" in env_id:
            sequences["zero"] = np.zeros((HORIZON, *shape))  # a crippled motor makes no torque anyway
            tasks = {
                "nominal (default task)": env.unwrapped.default_task(),
                "torso mass × 1.5^3 = 3.375": torso_mass(env, 3.0),
                "torso mass × 1.5^-3 = 0.296": torso_mass(env, -3.0),
                "test_tasks()[0]": env.unwrapped.test_tasks()[0],
            }
        else:
            names = env.unwrapped.limb_names
            tasks = {"intact (default task)": {"limb": -1}}
            tasks.update({f"limb {i} ({name}) crippled": {"limb": i} for i, name in enumerate(names)})
        for label, task in tasks.items():
            for kind, actions in sequences.items():
                steps, total, x = play(env, task, actions)
                print(f"{env_id:28s} {label:34s} {kind:7s} {steps:5d} {total:9.2f} {x:8.3f}")


if __name__ == "__main__":
    main()
