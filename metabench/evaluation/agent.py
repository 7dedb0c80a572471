"""The agent protocol: the one interface every method implements to be scored.

The harness owns the protocol (:class:`metabench.protocol.Protocol`); an agent only answers
four calls, so the harness never needs to know which method it runs:

* ``reset(rng)``: a new trial on a new task begins; forget all adaptation.
* ``act(obs, rng)``: the action for ``obs``.
* ``observe(transition)``: what happened after the action (reward, next observation, ends).
* ``adapt()``: the round ended; adapt before the next one.

How methods map onto it:

* **MAML**: ``observe`` stores the round's episodes; ``adapt`` takes the inner gradient step
  on them; ``act`` samples from the adapted policy. Its episodes within a round are
  independent, so it may set ``parallel_episodes`` and implement ``act_batch``.
* **RL²**: ``act`` advances the GRU; its hidden state lives across episodes and rounds and is
  cleared only by ``reset``; ``adapt`` does nothing.
* **PEARL**: ``observe`` adds each transition to the context; at an episode's end
  (``transition.done``) it updates the posterior and samples the z held for the next episode;
  ``reset`` returns to the prior.

The agent never sees the task: the harness passes no ``info`` (it carries the task) and no
task. A *privileged* reference (an oracle) is given the task explicitly, appended to the
observation by :class:`metabench.TaskInObservation`, and is marked so in the results.

Randomness: draw every random number from the generators the harness hands over (``rng`` of
``reset`` for trial-level draws, ``rng`` of ``act`` for the step's draws: it is the
episode's own stream). Never use global ``np.random``, ``random`` or torch's global generator.
That is what makes an evaluation reproducible bit for bit, whatever the backend, the number of
workers or the point at which a killed run was resumed.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np

from metabench.protocol import Protocol

__all__ = [
    "CHECKPOINT_MANIFEST",
    "Agent",
    "AgentFactory",
    "AgentLoadError",
    "EnvInfo",
    "Transition",
    "load_checkpoint_manifest",
    "resolve_agent_factory",
]

#: The file a checkpoint directory holds so that ``metabench evaluate DIR`` can load it.
CHECKPOINT_MANIFEST = "metabench-agent.json"


class AgentLoadError(ValueError):
    """An agent could not be found or built (unknown name, missing checkpoint, bad factory)."""


@dataclass(frozen=True)
class EnvInfo:
    """What an agent factory is told about the evaluation (never the task).

    Attributes:
        env_id: the gymnasium id.
        env_kwargs: keyword arguments given to ``gym.make``.
        family: the family's env class (``type(env.unwrapped)``).
        observation_space: the space of the observations the agent receives (for a
            privileged agent, with the task appended).
        action_space: the space its actions must belong to.
        max_episode_steps: the horizon.
        protocol: the protocol it is evaluated under.
        base_observation_space: the env's own observation space; for a privileged agent the
            observation is that one, flattened, followed by ``Task.to_vector()``.
    """

    env_id: str
    env_kwargs: Mapping[str, Any]
    family: type
    observation_space: gym.Space
    action_space: gym.Space
    max_episode_steps: int
    protocol: Protocol
    base_observation_space: gym.Space | None = None


class Transition(NamedTuple):
    """One step, as the harness reports it to ``Agent.observe``.

    ``round`` and ``episode`` locate it in the trial (0-based); ``episode`` counts within the
    round. ``done`` is ``terminated or truncated``: the episode ended with this step.
    """

    obs: Any
    action: Any
    reward: float
    next_obs: Any
    terminated: bool
    truncated: bool
    round: int
    episode: int

    @property
    def done(self) -> bool:
        """Whether the episode ended with this step."""
        return self.terminated or self.truncated


class Agent:
    """Base class of agents; subclass it and override ``act`` (and what else you need).

    Attributes:
        name: how the agent appears in results and reports.
        meta_train_steps: environment steps used in meta-training (recorded with the result).
        parallel_episodes: set it when the episodes of one round do not depend on each other
            (nothing learned within a round before ``adapt``): the harness may then run them at
            once and call ``act_batch``. The result must not change; see ``act_batch``.
    """

    name: str = "agent"
    meta_train_steps: int = 0
    parallel_episodes: bool = False

    def reset(self, rng: np.random.Generator) -> None:  # noqa: B027 - optional hook
        """A new trial begins on a task the agent has not seen: forget all adaptation.

        Args:
            rng: the trial's generator, for trial-level random draws.
        """

    def act(self, obs: Any, rng: np.random.Generator) -> Any:
        """The action to take in ``obs``.

        Args:
            obs: the observation.
            rng: the current episode's generator: draw the action's randomness from it.
        """
        raise NotImplementedError

    def observe(self, transition: Transition) -> None:  # noqa: B027 - optional hook
        """Learn from the step just taken (the harness calls it after every step)."""

    def adapt(self) -> None:  # noqa: B027 - optional hook
        """The round ended: adapt before the next round (e.g. a gradient step)."""

    def act_batch(self, observations: Sequence[Any], rngs: Sequence[np.random.Generator]) -> Sequence[Any]:
        """Actions for several episodes of one round at once (``parallel_episodes`` only).

        Row ``i`` must be what ``act(observations[i], rngs[i])`` would return, so that a
        batched run equals a serial one exactly. Override it to batch a network's forward
        pass; beware that a batched matrix product may round differently from a one-row one.
        """
        return [self.act(obs, rng) for obs, rng in zip(observations, rngs)]


#: A factory builds an agent for an evaluation. It may carry ``privileged = True`` (it needs
#: the task in the observation: oracles only).
AgentFactory = Callable[[EnvInfo], Agent]


@dataclass(frozen=True)
class CheckpointFactory:
    """Builds an agent from a checkpoint directory through its manifest's factory."""

    path: str
    factory: str
    manifest: dict[str, Any] = field(default_factory=dict, compare=False)

    def __call__(self, info: EnvInfo) -> Agent:
        return _import_factory(self.factory)(info, checkpoint=Path(self.path))


def load_checkpoint_manifest(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """Read a checkpoint's manifest.

    A checkpoint is a directory holding :data:`CHECKPOINT_MANIFEST` (or the path of that file
    itself), a JSON object with at least ``"factory": "module:function"``; optional keys:
    ``"env"`` (the id it was trained on, the default of ``--env``), ``"env_kwargs"``. The
    harness calls ``function(env_info, checkpoint=directory)``, which returns the agent.

    Returns:
        The checkpoint directory and the manifest.

    Raises:
        AgentLoadError: no such path, no manifest, or a malformed one.
    """
    path = Path(path)
    if not path.exists():
        raise AgentLoadError(f"checkpoint not found: {str(path)!r} does not exist")
    manifest_path = path / CHECKPOINT_MANIFEST if path.is_dir() else path
    directory = path if path.is_dir() else path.parent
    if not manifest_path.is_file():
        raise AgentLoadError(
            f"checkpoint {str(path)!r} has no {CHECKPOINT_MANIFEST}: expected a JSON file naming "
            'the agent factory, e.g. {"factory": "mypackage.agents:load"}'
        )
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as error:
        raise AgentLoadError(
            f"checkpoint manifest {str(manifest_path)!r} is not valid JSON: {error}"
        ) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("factory"), str):
        raise AgentLoadError(
            f"checkpoint manifest {str(manifest_path)!r}: expected a JSON object with a "
            f'"factory": "module:function" entry, got {manifest!r:.200}'
        )
    return directory, manifest


def _import_factory(spec: str) -> Callable[..., Agent]:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise AgentLoadError(f"agent factory {spec!r}: expected 'module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise AgentLoadError(f"agent factory {spec!r}: cannot import {module_name!r} ({error})") from None
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise AgentLoadError(f"agent factory {spec!r}: {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise AgentLoadError(f"agent factory {spec!r} is not callable")
    return target


def resolve_agent_factory(agent: str | AgentFactory) -> tuple[AgentFactory, str, dict[str, Any]]:
    """Turn what a user names into a factory.

    ``agent`` is, in the order tried: a callable factory; the name of a reference agent
    (:data:`metabench.evaluation.references.REFERENCE_AGENTS`); a checkpoint directory or
    manifest path; ``"module:function"``.

    Returns:
        The factory, a string saying where the agent came from (recorded in results), and the
        checkpoint manifest (empty unless it is a checkpoint).

    Raises:
        AgentLoadError: with a message that lists what was tried.
    """
    from metabench.evaluation.references import REFERENCE_AGENTS

    if callable(agent):
        module = getattr(agent, "__module__", "?")
        return agent, f"{module}:{getattr(agent, '__qualname__', type(agent).__name__)}", {}
    if not isinstance(agent, str) or not agent:
        raise AgentLoadError(f"expected an agent name, checkpoint path or 'module:function', got {agent!r}")
    if agent in REFERENCE_AGENTS:
        return REFERENCE_AGENTS[agent], f"reference:{agent}", {}
    path = Path(agent)
    if path.exists():
        directory, manifest = load_checkpoint_manifest(path)
        factory = CheckpointFactory(str(directory), manifest["factory"], manifest)
        return factory, f"checkpoint:{directory}", manifest
    looks_like_path = "/" in agent or agent.endswith((".json", ".pt", ".pkl")) or agent.startswith(".")
    if ":" in agent and not looks_like_path:
        return _import_factory(agent), agent, {}
    if looks_like_path:
        raise AgentLoadError(f"checkpoint not found: {agent!r} does not exist")
    raise AgentLoadError(
        f"unknown agent {agent!r}: not a reference agent ({', '.join(sorted(REFERENCE_AGENTS))}), "
        "not an existing checkpoint path, and not 'module:function'"
    )
