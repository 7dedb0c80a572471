"""MAML-TRPO: model-agnostic meta-learning with a TRPO meta-update (Finn et al. 2017).

Reads top to bottom: the config, the inner step (vanilla policy gradient with the linear
feature baseline), the outer step (TRPO through the inner update: conjugate gradient on the
Fisher-vector product of the KL, a step scaled to ``max_kl``, a backtracking line search), and
the training loop. The first-order variant (``first_order=True``) drops the second derivatives
of the inner update.

References: Finn, Abbeel and Levine 2017, "Model-Agnostic Meta-Learning for Fast Adaptation of
Deep Networks", section 5.3 and appendix; the authors' code ``cbfinn/maml_rl``; Schulman et al.
2015, "Trust Region Policy Optimization".
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch.distributions import kl_divergence
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from metabench.baselines.common.checkpoint import load_checkpoint
from metabench.baselines.common.linear_baseline import LinearFeatureBaseline
from metabench.baselines.common.math import backtracking_line_search, conjugate_gradient, discounted_cumsum
from metabench.baselines.common.policies import CategoricalMLPPolicy, Policy, make_policy, sample_with
from metabench.baselines.common.ray_sampler import make_sampler
from metabench.baselines.common.sampler import Episodes
from metabench.evaluation.agent import Agent, EnvInfo, Transition

Params = dict[str, torch.Tensor]


@dataclass(frozen=True)
class MAMLConfig:
    """MAML-TRPO hyperparameters. ``paper`` configs cite their source in ``CONFIGS``."""

    env_id: str = "MetaNavigation2D-v0"
    """The family to meta-train on."""
    meta_batch_size: int = 40
    """Tasks per meta-iteration."""
    fast_batch_size: int = 20
    """Episodes per task for each inner step (and for the post-adaptation batch)."""
    num_inner_steps: int = 1
    """Gradient steps of adaptation."""
    fast_lr: float = 0.1
    """Inner-loop step size α."""
    first_order: bool = False
    """Drop the second derivatives of the inner update (FOMAML)."""
    gamma: float = 0.99
    """Discount of the returns that weight the policy gradients."""
    hidden: tuple[int, ...] = (100, 100)
    """Policy MLP hidden sizes."""
    activation: str = "relu"
    """Policy MLP nonlinearity."""
    max_kl: float = 0.01
    """TRPO trust-region size (mean KL)."""
    cg_iterations: int = 10
    """Conjugate-gradient iterations for the TRPO direction."""
    cg_damping: float = 1e-5
    """Damping added to the Fisher-vector product."""
    line_search_steps: int = 15
    """Backtracking steps before the update is rejected."""
    line_search_ratio: float = 0.8
    """Shrink factor per backtracking step."""
    num_iterations: int = 500
    """Meta-iterations."""
    seed: int = 0
    """Seed of every random draw (tasks, env resets, action noise)."""
    checkpoint_every: int = 10
    """Iterations between checkpoints (one is also written at the end)."""
    meta_test_every: int = 0
    """Every this many iterations, log ``meta_test/`` returns before and after adaptation on the
    family's held-out tasks (at most ``meta_batch_size`` of them); 0: never. A quick curve
    during training; the harness scores the checkpoints."""
    ray_workers: int = 0
    """Sample on this many Ray actors (0: in this process; the episodes are the same)."""
    env_kwargs: Mapping[str, object] = field(default_factory=dict)
    """Constructor kwargs of the family."""


# -- The inner step: vanilla policy gradient with the linear baseline ---------------------------


def advantages(episodes: Episodes, gamma: float) -> torch.Tensor:
    """Discounted returns-to-go minus the linear baseline fitted on these same episodes,
    normalised over the real steps (MAML's code centres its advantages). ``(T, N)``."""
    returns = discounted_cumsum(episodes.rewards, gamma, episodes.mask)
    lengths = episodes.mask.sum(0).long().tolist()
    obs = [episodes.obs[:length, i] for i, length in enumerate(lengths)]
    baseline = LinearFeatureBaseline()
    baseline.fit(obs, [returns[:length, i] for i, length in enumerate(lengths)])
    values = torch.zeros_like(returns)
    for i, length in enumerate(lengths):
        values[:length, i] = baseline.predict(obs[i])
    adv = (returns - values) * episodes.mask
    mean = adv.sum() / episodes.mask.sum()
    std = (((adv - mean) ** 2) * episodes.mask).sum() / episodes.mask.sum()
    return ((adv - mean) / (std.sqrt() + 1e-8)) * episodes.mask


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum()


def inner_loss(policy: Policy, params: Params, episodes: Episodes, adv: torch.Tensor) -> torch.Tensor:
    """The REINFORCE loss ``−E[log π(a|s) · A]`` over the real steps."""
    log_probs = policy(episodes.obs, params=params).log_prob(episodes.actions)
    return -masked_mean(log_probs * adv, episodes.mask)


def inner_step(
    policy: Policy, params: Params, episodes: Episodes, config: MAMLConfig, create_graph: bool
) -> Params:
    """One step ``θ ← θ − α ∇θ L_inner(θ)`` on ``episodes`` (sampled with ``θ``).

    With ``create_graph`` the result stays differentiable in ``params`` through the gradient
    (full MAML); without it the gradient is a constant and ``dθ'/dθ = I`` (first order).
    """
    loss = inner_loss(policy, params, episodes, advantages(episodes, config.gamma))
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=create_graph)
    return {
        name: p - config.fast_lr * (g if create_graph else g.detach())
        for (name, p), g in zip(params.items(), grads)
    }


def adapt(
    policy: Policy,
    params: Params,
    episodes_per_step: Sequence[Episodes],
    config: MAMLConfig,
    create_graph: bool,
) -> Params:
    """The adaptation chain: step ``k`` uses the episodes sampled with the parameters after
    step ``k − 1`` (MAML samples afresh before every inner step)."""
    for episodes in episodes_per_step:
        params = inner_step(policy, params, episodes, config, create_graph)
    return params


# -- The outer step: TRPO through the inner update ----------------------------------------------


@dataclass
class TaskBatch:
    """What one task contributes to a meta-update."""

    train: list[Episodes]  # one batch per inner step, each sampled before that step
    valid: Episodes  # sampled with the adapted θ', scored by the meta-objective
    valid_adv: torch.Tensor
    old_log_probs: torch.Tensor
    old_dist: torch.distributions.Distribution


def meta_objective(
    policy: Policy, batches: list[TaskBatch], config: MAMLConfig, create_graph: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """The TRPO surrogate loss and the mean KL to the pre-update adapted policies, averaged
    over tasks, both as functions of the policy's current parameters."""
    params = dict(policy.named_parameters())
    losses, kls = [], []
    for batch in batches:
        adapted = adapt(policy, params, batch.train, config, create_graph)
        dist = policy(batch.valid.obs, params=adapted)
        ratio = torch.exp(dist.log_prob(batch.valid.actions) - batch.old_log_probs)
        losses.append(-masked_mean(ratio * batch.valid_adv, batch.valid.mask))
        kls.append(masked_mean(kl_divergence(batch.old_dist, dist), batch.valid.mask))
    return torch.stack(losses).mean(), torch.stack(kls).mean()


def trpo_step(policy: Policy, batches: list[TaskBatch], config: MAMLConfig) -> dict[str, float]:
    """One TRPO update of the meta-parameters; returns the loss and KL figures to log."""
    parameters = list(policy.parameters())
    loss, kl = meta_objective(policy, batches, config, create_graph=not config.first_order)
    grad = parameters_to_vector(torch.autograd.grad(loss, parameters, retain_graph=True))
    kl_grad = parameters_to_vector(torch.autograd.grad(kl, parameters, create_graph=True))

    def fisher_vector_product(vector: torch.Tensor) -> torch.Tensor:
        hvp = torch.autograd.grad(kl_grad @ vector, parameters, retain_graph=True)
        return parameters_to_vector(hvp) + config.cg_damping * vector

    direction = conjugate_gradient(fisher_vector_product, grad.detach(), config.cg_iterations)
    shs = 0.5 * direction @ fisher_vector_product(direction)
    step = (direction * torch.sqrt(config.max_kl / shs.clamp_min(1e-12))).detach()
    old = parameters_to_vector(parameters).detach().clone()
    old_loss = loss.item()
    tried: dict[float, tuple[float, float]] = {}

    def evaluate(fraction: float) -> tuple[float, float]:
        with torch.no_grad():
            vector_to_parameters(old - fraction * step, parameters)
        new_loss, new_kl = meta_objective(policy, batches, config, create_graph=False)
        tried[fraction] = (new_loss.item(), new_kl.item())
        return old_loss - new_loss.item(), new_kl.item()

    fraction = backtracking_line_search(
        evaluate, config.max_kl, config.line_search_ratio, config.line_search_steps
    )
    if fraction is None:
        with torch.no_grad():
            vector_to_parameters(old, parameters)
    new_loss, new_kl = tried[fraction] if fraction is not None else (old_loss, 0.0)
    return {
        "loss/surrogate_before": old_loss,
        "loss/surrogate_after": new_loss,
        "loss/kl": new_kl,
        "loss/step_fraction": fraction or 0.0,
    }


# -- Sampling with a set of parameters per task -------------------------------------------------


def act_with(policy: Policy, params_per_column: list[Params]):
    """An acting function for the sampler: column ``i`` of the batch acts with
    ``params_per_column[i]`` (columns sharing a parameter dict share one forward pass)."""
    groups: dict[int, list[int]] = {}
    for column, params in enumerate(params_per_column):
        groups.setdefault(id(params), []).append(column)

    def act(obs: torch.Tensor) -> torch.Tensor:
        out = None
        for columns in groups.values():
            sample = policy(obs[columns], params=params_per_column[columns[0]]).sample()
            if out is None:
                out = torch.empty((obs.shape[0], *sample.shape[1:]), dtype=sample.dtype)
            out[columns] = sample
        return out

    return act


def iteration_seed(config: MAMLConfig, iteration: int, phase: int) -> np.random.SeedSequence:
    """All randomness of an iteration derives from (seed, iteration, phase), so a resumed run
    replays exactly what an unbroken one would have drawn."""
    return np.random.SeedSequence([config.seed, iteration, phase])


class MAMLTRPO:
    """The training loop: sample tasks, adapt on each, meta-update with TRPO."""

    def __init__(self, config: MAMLConfig) -> None:
        self.config = config
        self.task_source = gym.make(config.env_id, **dict(config.env_kwargs)).unwrapped
        self.sampler = make_sampler(
            config.env_id,
            config.meta_batch_size * config.fast_batch_size,
            dict(config.env_kwargs),
            ray_workers=config.ray_workers,
        )
        torch.manual_seed(config.seed)
        self.policy = make_policy(
            self.sampler.observation_space, self.sampler.action_space, config.hidden, config.activation
        )
        self.iteration = 0
        self.env_steps = 0

    def _sample(self, tasks, params_per_task: list[Params], seed: np.random.SeedSequence) -> list[Episodes]:
        k = self.config.fast_batch_size
        columns = [t for t in tasks for _ in range(k)]
        params = [p for p in params_per_task for _ in range(k)]
        seeds = seed.generate_state(len(columns)).tolist()
        episodes = self.sampler.sample(columns, act_with(self.policy, params), seeds)
        self.env_steps += episodes.num_steps
        return [episodes.select(slice(i * k, (i + 1) * k)) for i in range(len(tasks))]

    def train_iteration(self) -> dict[str, float]:
        """One meta-iteration; returns its log record."""
        config, it = self.config, self.iteration
        start = time.perf_counter()
        torch.manual_seed(int(iteration_seed(config, it, 0).generate_state(1)[0]))
        tasks = self.task_source.sample_tasks(config.meta_batch_size, seed=iteration_seed(config, it, 1))
        shared = dict(self.policy.named_parameters())
        params: list[Params] = [shared] * len(tasks)
        train: list[list[Episodes]] = [[] for _ in tasks]  # per task, one batch per inner step
        for step in range(config.num_inner_steps):
            for per_task, episodes in zip(
                train, self._sample(tasks, params, iteration_seed(config, it, 2 + step))
            ):
                per_task.append(episodes)
            params = [
                {
                    k: v.detach().requires_grad_()
                    for k, v in inner_step(self.policy, p, eps[-1], config, False).items()
                }
                for p, eps in zip(params, train)
            ]
        valid = self._sample(tasks, params, iteration_seed(config, it, 1000))
        sampled = time.perf_counter()
        batches = []
        for train_eps, valid_eps, params_i in zip(train, valid, params):
            with torch.no_grad():
                old_dist = self.policy(valid_eps.obs, params=params_i)
                old_log_probs = old_dist.log_prob(valid_eps.actions)
            batches.append(
                TaskBatch(train_eps, valid_eps, advantages(valid_eps, config.gamma), old_log_probs, old_dist)
            )
        record = trpo_step(self.policy, batches, config)
        self.iteration += 1
        if config.meta_test_every and self.iteration % config.meta_test_every == 0:
            record.update(self.meta_test())
        post = torch.cat([e.returns for e in valid]).mean().item()
        record.update(
            {
                "train/iteration": self.iteration,
                "train/return": post,
                "train/return_pre_adaptation": torch.cat([eps[0].returns for eps in train]).mean().item(),
                "train/return_post_adaptation": post,
                "train/env_steps": self.env_steps,
                "time/iteration_env_steps": sum(e.num_steps for eps in train for e in eps)
                + sum(e.num_steps for e in valid),
                "time/sampling_s": sampled - start,
                "time/learning_s": time.perf_counter() - sampled,
            }
        )
        return record

    def meta_test(self) -> dict[str, float]:
        """Mean episode returns on held-out tasks before adaptation and after each inner step,
        sampled as in training (``fast_batch_size`` episodes per task and step). Its steps are
        not counted as meta-training steps, and it draws from its own seeds."""
        config, steps = self.config, self.env_steps
        tasks = self.task_source.test_tasks()[: config.meta_batch_size]
        torch.manual_seed(int(iteration_seed(config, self.iteration, 3000).generate_state(1)[0]))
        params: list[Params] = [dict(self.policy.named_parameters())] * len(tasks)
        record = {}
        for step in range(config.num_inner_steps + 1):
            episodes = self._sample(tasks, params, iteration_seed(config, self.iteration, 3001 + step))
            key = "meta_test/return_pre_adaptation" if step == 0 else f"meta_test/return_after_{step}_steps"
            record[key] = torch.cat([e.returns for e in episodes]).mean().item()
            if step < config.num_inner_steps:
                params = [
                    {
                        k: v.detach().requires_grad_()
                        for k, v in inner_step(self.policy, p, e, config, False).items()
                    }
                    for p, e in zip(params, episodes)
                ]
        self.env_steps = steps
        return record

    def state_dict(self) -> dict:
        return {
            "config": dataclasses.asdict(self.config),
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "policy": self.policy.state_dict(),
        }

    def load_state_dict(self, state: Mapping) -> None:
        self.iteration = int(state["iteration"])
        self.env_steps = int(state["env_steps"])
        self.policy.load_state_dict(state["policy"])


def config_from_dict(data: Mapping) -> MAMLConfig:
    """Inverse of ``dataclasses.asdict`` (as stored in checkpoints)."""
    data = dict(data)
    data["hidden"] = tuple(data["hidden"])
    return MAMLConfig(**data)


TRAINER = MAMLTRPO
AGENT_FACTORY = "metabench.baselines.maml_trpo:load_agent"

#: Named configs: ``(env_id, name) -> config``; ``("*", "ci")`` serves any env.
CONFIGS: dict[tuple[str, str], MAMLConfig] = {
    # MAML paper section 5.3 / cbfinn/maml_rl maml_examples (REFERENCE.md): 2-D navigation with
    # alpha 0.5, 20 episodes per inner step, 40 tasks per meta-batch, 100 meta-iterations.
    ("MetaNavigation2D-v0", "paper"): MAMLConfig(
        env_id="MetaNavigation2D-v0", fast_lr=0.5, num_iterations=100, meta_test_every=10
    ),
    # Locomotion (MAML appendix, cbfinn/maml_rl): 40 tasks per meta-batch, 20 episodes per inner
    # step, alpha 0.1, (100, 100) ReLU policy, TRPO max KL 0.01, horizon 200 (the registered
    # one), 800-1000 meta-iterations.
    **{
        (env_id, "paper"): MAMLConfig(
            env_id=env_id, fast_lr=0.1, num_iterations=1000, checkpoint_every=25, meta_test_every=25
        )
        for env_id in (
            "MetaHalfCheetahVel-v0",
            "MetaHalfCheetahDir-v0",
            "MetaAntDir-v0",
            "MetaAntDir2D-v0",
            "MetaAntGoal-v0",
        )
    },
    # Tiny: learns on the navigation family within a CI budget (about 30 s on an unloaded core);
    # a smoke test elsewhere. 25 iterations, not 15: at 15, one training seed in five adapted
    # only 3.1 standard errors above its pre-adaptation return on 20 held-out trials.
    ("*", "ci"): MAMLConfig(
        meta_batch_size=10,
        fast_batch_size=10,
        fast_lr=0.5,
        hidden=(32, 32),
        num_iterations=25,
        checkpoint_every=5,
    ),
}


# -- The trained agent, for the evaluation harness ----------------------------------------------


class MAMLAgent(Agent):
    """Acts with the meta-learned policy; after each round, one inner step on that round's
    episodes (so round ``k`` is scored after ``k`` gradient steps of adaptation)."""

    name = "maml-trpo"

    def __init__(self, policy: Policy, config: MAMLConfig, info: EnvInfo, meta_train_steps: int) -> None:
        self.policy, self.config, self.info = policy, config, info
        self.meta_train_steps = meta_train_steps
        self.params: Params = {}
        self.round: list[list[tuple[np.ndarray, Any, float]]] = []
        # A module holding the current parameters: calling it directly is about twice as fast
        # per step as ``policy(obs, params=...)`` (torch.func.functional_call's overhead).
        self.acting = copy.deepcopy(policy).requires_grad_(False)

    def _use(self, params: Params) -> None:
        self.params = {k: v.detach() for k, v in params.items()}
        self.acting.load_state_dict(self.params)

    def reset(self, rng: np.random.Generator) -> None:
        self._use(dict(self.policy.named_parameters()))
        self.round = [[]]

    def _flat(self, obs: Any) -> torch.Tensor:
        return torch.as_tensor(gym.spaces.flatten(self.info.observation_space, obs), dtype=torch.float32)

    def act(self, obs: Any, rng: np.random.Generator) -> Any:
        with torch.no_grad():
            return sample_with(self.acting(self._flat(obs)[None]), rng)

    def observe(self, transition: Transition) -> None:
        self.round[-1].append((self._flat(transition.obs), transition.action, transition.reward))
        if transition.done:
            self.round.append([])

    def adapt(self) -> None:
        episodes = [e for e in self.round if e]
        self.round = [[]]
        if not episodes:
            return
        params = {k: v.clone().requires_grad_() for k, v in self.params.items()}
        self._use(
            inner_step(
                self.policy, params, pad_episodes(episodes, self.policy), self.config, create_graph=False
            )
        )


def pad_episodes(episodes: list[list[tuple[torch.Tensor, Any, float]]], policy: Policy) -> Episodes:
    """Lists of (flat obs, action, reward) per episode as padded ``(T, N)`` tensors."""
    length, n = max(len(e) for e in episodes), len(episodes)
    obs = torch.zeros(length, n, episodes[0][0][0].shape[0])
    discrete = isinstance(policy, CategoricalMLPPolicy)
    act_shape = () if discrete else np.shape(episodes[0][0][1])
    actions = torch.zeros(length, n, *act_shape, dtype=torch.int64 if discrete else torch.float32)
    rewards, mask, ends = torch.zeros(length, n), torch.zeros(length, n), torch.zeros(length, n)
    for i, episode in enumerate(episodes):
        for t, (o, a, r) in enumerate(episode):
            obs[t, i] = o
            actions[t, i] = torch.as_tensor(a)
            rewards[t, i] = r
            mask[t, i] = 1.0
        ends[len(episode) - 1, i] = 1.0
    return Episodes(obs, actions, rewards, mask, ends)


def load_agent(info: EnvInfo, checkpoint: Path) -> MAMLAgent:
    """The harness's factory for a ``metabench train maml-trpo`` run directory."""
    state = load_checkpoint(checkpoint)
    config = config_from_dict(state["config"])
    policy = make_policy(info.observation_space, info.action_space, config.hidden, config.activation)
    policy.load_state_dict(state["algorithm"]["policy"])
    return MAMLAgent(policy, config, info, int(state["algorithm"]["env_steps"]))
