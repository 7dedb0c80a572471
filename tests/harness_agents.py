"""Agents used by the harness tests, importable by worker processes (spawned workers import
them by name, so they live in a module, not in a test function)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from metabench.evaluation import Agent, EnvInfo, Transition
from metabench.evaluation.references import space_sampler


class LinearGaussian(Agent):
    """Continuous actions from a fixed linear map plus noise, with a per-round 'adaptation'
    that shifts the mean by the round's mean reward: results depend on every call the harness
    makes, in the order it makes them within an episode."""

    name = "linear-gaussian"
    meta_train_steps = 1234

    def __init__(self, info: EnvInfo, parallel: bool = False) -> None:
        self.size = info.action_space.shape[0]
        self.high = info.action_space.high.astype(np.float64)
        self.parallel_episodes = parallel
        self.shift = 0.0
        self.rewards: list[float] = []

    def reset(self, rng: np.random.Generator) -> None:
        self.shift = float(rng.normal())  # trial-level draw
        self.rewards = []

    def act(self, obs, rng):
        # elementwise only, so that a batched call is bit-identical to single calls
        mean = self.shift * 0.05 + 0.5 * np.asarray(obs, dtype=np.float64)[: self.size]
        return np.clip(mean + 0.05 * rng.standard_normal(self.size), -self.high, self.high)

    def observe(self, transition: Transition) -> None:
        self.rewards.append(transition.reward)

    def adapt(self) -> None:
        if self.rewards:
            self.shift += float(np.mean(self.rewards))
        self.rewards = []


def linear_gaussian(info: EnvInfo) -> Agent:
    return LinearGaussian(info)


def linear_gaussian_parallel(info: EnvInfo) -> Agent:
    return LinearGaussian(info, parallel=True)


class Spy(Agent):
    """Records what it is shown (to check the agent never sees the task)."""

    name = "spy"

    def __init__(self, info: EnvInfo) -> None:
        self.info = info
        self.seen: list = []
        self.calls: list[str] = []

    def reset(self, rng):
        self.calls.append("reset")

    def act(self, obs, rng):
        self.seen.append(np.asarray(obs).copy())
        self.calls.append("act")
        return np.zeros(self.info.action_space.shape)

    def observe(self, transition):
        self.calls.append("observe-done" if transition.done else "observe")

    def adapt(self):
        self.calls.append("adapt")


class BadAction(Agent):
    """Valid actions until the trial of task index 3, then ``BAD_ACTION``."""

    name = "bad-action"
    bad: object = None

    def __init__(self, info: EnvInfo) -> None:
        self.info, self.trials = info, 0

    def reset(self, rng):
        self.trials += 1

    def act(self, obs, rng):
        if self.trials > 3:
            return self.bad
        return 0 if self.info.action_space.shape == () else np.zeros(self.info.action_space.shape)


def bad_action(value: object):
    """A factory of agents that turn bad (return ``value``) at their fourth trial."""

    def factory(info: EnvInfo) -> Agent:
        agent = BadAction(info)
        agent.bad = value
        return agent

    return factory


class SlowRandom(Agent):
    """A random agent that takes its time per trial (so a test can kill it mid-run)."""

    name = "slow-random"

    def __init__(self, info: EnvInfo) -> None:
        self.sample = space_sampler(info.action_space)

    def reset(self, rng):
        time.sleep(float(os.environ.get("METABENCH_TEST_SLEEP", "0")))

    def act(self, obs, rng):
        return self.sample(rng)


def slow_random(info: EnvInfo) -> Agent:
    return SlowRandom(info)


def load_checkpoint(info: EnvInfo, checkpoint: Path) -> Agent:
    """The checkpoint hook: what ``metabench evaluate DIR`` calls through the manifest."""
    agent = LinearGaussian(info)
    saved = json.loads((checkpoint / "weights.json").read_text())
    agent.name, agent.meta_train_steps = saved["name"], saved["steps"]
    return agent


class NoisyStraightToGoal(Agent):
    """Privileged, parallel: heads for the goal with noise, so episodes end at different steps."""

    name = "noisy-straight"
    parallel_episodes = True

    def act(self, obs, rng):
        obs = np.asarray(obs, dtype=np.float64)
        return np.clip(obs[2:4] - obs[0:2] + 0.05 * rng.standard_normal(2), -0.1, 0.1)

    def act_batch(self, observations, rngs):
        obs = np.asarray(observations, dtype=np.float64)
        noise = np.stack([rng.standard_normal(2) for rng in rngs])
        return list(np.clip(obs[:, 2:4] - obs[:, 0:2] + 0.05 * noise, -0.1, 0.1))


def noisy_straight(info: EnvInfo) -> Agent:
    return NoisyStraightToGoal()


noisy_straight.privileged = True


def noisy_straight_serial(info: EnvInfo) -> Agent:
    agent = NoisyStraightToGoal()
    agent.parallel_episodes = False
    return agent


noisy_straight_serial.privileged = True

#: Trials to allow before ``interrupting_random`` raises KeyboardInterrupt (None: never).
INTERRUPT_AFTER: list = [None]


class InterruptingRandom(SlowRandom):
    name = "interrupting-random"

    def __init__(self, info: EnvInfo) -> None:
        super().__init__(info)
        self.trials = 0

    def reset(self, rng):
        self.trials += 1
        if INTERRUPT_AFTER[0] is not None and self.trials > INTERRUPT_AFTER[0]:
            raise KeyboardInterrupt


def interrupting_random(info: EnvInfo) -> Agent:
    return InterruptingRandom(info)


def nan_action_factory(info: EnvInfo) -> Agent:
    """A picklable bad-action factory (for worker processes)."""
    return bad_action(np.array([np.nan, 0.0]))(info)
