"""RL²: a recurrent policy trained across trials, so that learning happens in its hidden state
(Duan et al. 2016, "RL²: Fast Reinforcement Learning via Slow Reinforcement Learning").

Reads top to bottom: the config, the GRU actor-critic, trial sampling (a trial is ``n``
consecutive episodes on one task; the hidden state is carried across them and reset only when
a new task begins), clipped PPO over whole trials with GAE, and the training loop. The policy
sees ``(o_t, a_{t−1}, r_{t−1}, d_{t−1})`` as built by :class:`metabench.TrialHistory`.

The trial's return is the objective: episode boundaries inside a trial neither cut the
discounting nor the bootstrapping; the trial's end is terminal. The value function, used only
in training, has a GRU of its own by default and also sees the trial's progress: with a
critic sharing the policy's GRU, RL² did not learn on trials of 100 pulls here (its value loss
is ten times that of 10-pull trials and swamped the policy's gradient under the norm clip).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, Normal

from metabench.baselines.common.checkpoint import load_checkpoint
from metabench.baselines.common.math import gae
from metabench.baselines.common.policies import sample_with
from metabench.baselines.common.ray_sampler import make_sampler
from metabench.baselines.common.sampler import Episodes
from metabench.evaluation.agent import Agent, EnvInfo, Transition
from metabench.wrappers import TrialHistory


@dataclass(frozen=True)
class RL2Config:
    """RL² hyperparameters. ``paper`` configs cite their source in ``CONFIGS``."""

    env_id: str = "MetaBandit-v0"
    """The family to meta-train on."""
    episodes_per_trial: int = 10
    """n: consecutive episodes on one task (RL²'s trial)."""
    trials_per_batch: int = 256
    """Trials sampled per iteration, each on a fresh training task."""
    hidden_size: int = 256
    """GRU units (the paper: 256)."""
    separate_critic: bool = True
    """Give the value function a GRU of its own instead of sharing the policy's. Measured on
    bandits k=5, n=100 (64 trials per batch, 200 iterations): shared, the trial return stayed
    at Random's (≈ 50); separate, it rose to 63 (docs/reproductions/rl2/README.md)."""
    gamma: float = 0.99
    """Discount over the whole trial (the paper: 0.99)."""
    gae_lambda: float = 0.3
    """GAE λ (the paper: 0.3)."""
    clip: float = 0.2
    """PPO ratio clip."""
    epochs: int = 4
    """PPO passes over each batch."""
    minibatches: int = 4
    """Minibatches per epoch (split by trials, so sequences stay whole)."""
    learning_rate: float = 1e-3
    """Adam step size."""
    value_coef: float = 0.5
    """Weight of the value loss."""
    entropy_coef: float = 0.0
    """Weight of the entropy bonus."""
    max_grad_norm: float = 1.0
    """Gradient-norm clip."""
    num_iterations: int = 500
    """Iterations (batches)."""
    seed: int = 0
    """Seed of every random draw."""
    checkpoint_every: int = 25
    """Iterations between checkpoints (one is also written at the end)."""
    meta_test_every: int = 0
    """Every this many iterations, log the mean ``meta_test/trial_return`` on the family's
    held-out tasks (at most ``trials_per_batch``); 0: never. The harness scores checkpoints."""
    ray_workers: int = 0
    """Sample on this many Ray actors (0: in this process; the episodes are the same)."""
    env_kwargs: Mapping[str, object] = field(default_factory=dict)
    """Constructor kwargs of the family."""


# -- The recurrent actor-critic -----------------------------------------------------------------


class RecurrentActorCritic(nn.Module):
    """A GRU over the trial-history input with a policy head, and a value head.

    The critic is only used in training, so it may see what the policy may not: the trial's
    progress ``t / T`` (the remaining return depends on the steps left, which a GRU would
    otherwise have to count). With ``separate_critic`` it has a GRU of its own, so its loss
    does not shape the policy's features."""

    def __init__(
        self, input_size: int, action_space: gym.Space, hidden_size: int, separate_critic: bool = True
    ) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.gru = nn.GRU(input_size, hidden_size)
        self.critic_gru = nn.GRU(input_size, hidden_size) if separate_critic else None
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        if not self.discrete and not isinstance(action_space, gym.spaces.Box):
            raise ValueError(f"RL²: expected a Box or Discrete action space, got {action_space}")
        out = int(action_space.n) if self.discrete else gym.spaces.flatdim(action_space)
        self.policy_head = nn.Linear(hidden_size, out)
        self.value_head = nn.Linear(hidden_size + 1, 1)
        if not self.discrete:
            self.log_std = nn.Parameter(torch.zeros(out))

    def initial_state(self, batch: int) -> torch.Tensor:
        return torch.zeros(1, batch, self.hidden_size)

    def _policy(self, features: torch.Tensor) -> Distribution:
        head = self.policy_head(features)
        if self.discrete:
            return Categorical(logits=head)
        return Independent(Normal(head, self.log_std.exp()), 1)

    def forward(self, inputs: torch.Tensor, state: torch.Tensor) -> tuple[Distribution, torch.Tensor]:
        """``inputs (T, B, d)`` from ``state (1, B, H)`` ↦ (π per step, last state)."""
        features, state = self.gru(inputs, state)
        return self._policy(features), state

    def evaluate(self, inputs: torch.Tensor) -> tuple[Distribution, torch.Tensor]:
        """Whole trials ``(T, B, d)`` from the initial state ↦ (π per step, V per step)."""
        length, batch = inputs.shape[:2]
        start = self.initial_state(batch)
        features, _ = self.gru(inputs, start)
        critic = features if self.critic_gru is None else self.critic_gru(inputs, start)[0]
        progress = (torch.arange(length, dtype=inputs.dtype) / length).view(length, 1, 1).expand(-1, batch, 1)
        values = self.value_head(torch.cat([critic, progress], -1)).squeeze(-1)
        return self._policy(features), values


def trial_advantages(
    episodes: Episodes, values: torch.Tensor, config: RL2Config
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE over each trial as one sequence; returns (advantages, value targets), ``(T, N)``.

    Step ``t`` continues to ``t + 1`` iff ``t + 1`` is still inside the trial; the trial's end
    is terminal (nothing is bootstrapped past it)."""
    continues = torch.cat([episodes.mask[1:], torch.zeros_like(episodes.mask[:1])])
    next_values = torch.cat([values[1:], torch.zeros_like(values[:1])]) * continues
    adv = gae(
        episodes.rewards, values * episodes.mask, next_values, continues, config.gamma, config.gae_lambda
    )
    return adv * episodes.mask, (adv + values) * episodes.mask


def ppo_loss(
    model: RecurrentActorCritic,
    episodes: Episodes,
    old_log_probs: torch.Tensor,
    adv: torch.Tensor,
    targets: torch.Tensor,
    config: RL2Config,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The clipped PPO objective over whole trials (Schulman et al. 2017), as a loss."""
    dist, values = model.evaluate(episodes.obs)
    log_probs = dist.log_prob(episodes.actions)
    ratio = torch.exp(log_probs - old_log_probs)
    mask, n = episodes.mask, episodes.mask.sum()
    surrogate = torch.min(ratio * adv, ratio.clamp(1 - config.clip, 1 + config.clip) * adv)
    policy_loss = -(surrogate * mask).sum() / n
    value_loss = (((values - targets) ** 2) * mask).sum() / n
    entropy = (dist.entropy() * mask).sum() / n
    loss = policy_loss + config.value_coef * value_loss - config.entropy_coef * entropy
    return loss, {
        "loss/policy": policy_loss.item(),
        "loss/value": value_loss.item(),
        "loss/entropy": entropy.item(),
    }


# -- Training -----------------------------------------------------------------------------------


class RL2:
    """The training loop: sample trials on fresh tasks, then PPO epochs over them."""

    def __init__(self, config: RL2Config) -> None:
        self.config = config
        self.task_source = gym.make(config.env_id, **dict(config.env_kwargs)).unwrapped
        self.sampler = make_sampler(
            config.env_id,
            config.trials_per_batch,
            dict(config.env_kwargs),
            wrapper=TrialHistory,
            ray_workers=config.ray_workers,
        )
        torch.manual_seed(config.seed)
        input_size = gym.spaces.flatdim(self.sampler.observation_space)
        self.model = RecurrentActorCritic(
            input_size, self.sampler.action_space, config.hidden_size, config.separate_critic
        )
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.learning_rate)
        self.iteration = 0
        self.env_steps = 0

    def sample_trials(self, tasks, seeds) -> Episodes:
        state = self.model.initial_state(len(tasks))

        def act(obs: torch.Tensor) -> torch.Tensor:
            nonlocal state
            dist, state = self.model(obs.unsqueeze(0), state)
            return dist.sample()[0]

        return self.sampler.sample(tasks, act, seeds, episodes_per_task=self.config.episodes_per_trial)

    def train_iteration(self) -> dict[str, float]:
        config, it = self.config, self.iteration
        start = time.perf_counter()
        seeds = np.random.SeedSequence([config.seed, it])
        torch_seed, task_seed, env_seed = seeds.spawn(3)
        torch.manual_seed(int(torch_seed.generate_state(1)[0]))
        tasks = self.task_source.sample_tasks(config.trials_per_batch, seed=task_seed)
        episodes = self.sample_trials(tasks, env_seed.generate_state(len(tasks)).tolist())
        self.env_steps += episodes.num_steps
        sampled = time.perf_counter()
        with torch.no_grad():
            dist, values = self.model.evaluate(episodes.obs)
            old_log_probs = dist.log_prob(episodes.actions)
            adv, targets = trial_advantages(episodes, values, config)
            real = adv[episodes.mask.bool()]
            adv = (adv - real.mean()) / (real.std() + 1e-8) * episodes.mask
        order = torch.Generator().manual_seed(int(torch_seed.generate_state(2)[1]))
        stats: dict[str, float] = {}
        for _ in range(config.epochs):
            for columns in torch.randperm(len(tasks), generator=order).chunk(config.minibatches):
                batch = episodes.select(columns)
                loss, stats = ppo_loss(
                    self.model, batch, old_log_probs[:, columns], adv[:, columns], targets[:, columns], config
                )
                self.optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.model.parameters(), config.max_grad_norm)
                self.optimizer.step()
        self.iteration += 1
        trial_return = episodes.returns.mean().item()
        if config.meta_test_every and self.iteration % config.meta_test_every == 0:
            stats.update(self.meta_test())
        return {
            **stats,
            "train/iteration": self.iteration,
            "train/return": trial_return,
            "train/env_steps": self.env_steps,
            "time/iteration_env_steps": episodes.num_steps,
            "time/sampling_s": sampled - start,
            "time/learning_s": time.perf_counter() - sampled,
        }

    def meta_test(self) -> dict[str, float]:
        """The mean trial return on held-out tasks, each one trial, from seeds of its own."""
        tasks = self.task_source.test_tasks()[: self.config.trials_per_batch]
        seeds = np.random.SeedSequence([self.config.seed, self.iteration, 1])
        torch.manual_seed(int(seeds.generate_state(1)[0]))
        with torch.no_grad():
            episodes = self.sample_trials(tasks, seeds.generate_state(len(tasks) + 1)[1:].tolist())
        return {"meta_test/trial_return": episodes.returns.mean().item()}

    def state_dict(self) -> dict:
        return {
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
        }

    def load_state_dict(self, state: Mapping) -> None:
        self.iteration = int(state["iteration"])
        self.env_steps = int(state["env_steps"])
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])


def config_from_dict(data: Mapping) -> RL2Config:
    """Inverse of ``dataclasses.asdict`` (as stored in checkpoints)."""
    return RL2Config(**dict(data))


TRAINER = RL2
AGENT_FACTORY = "metabench.baselines.rl2:load_agent"


def _paper(env_id: str, n: int, steps_per_trial: int, **kwargs) -> RL2Config:
    # About 250k environment steps per batch, as in the paper.
    return RL2Config(
        env_id=env_id,
        episodes_per_trial=n,
        trials_per_batch=max(250_000 // (n * steps_per_trial), 1),
        **kwargs,
    )


#: Named configs: ``(env_id, name) -> config``; ``("*", "ci")`` serves any env. The RL² paper
#: (Duan et al. 2016, sections 4.1-4.2 and appendix; REFERENCE.md) trains a 256-unit GRU with
#: γ 0.99, λ 0.3 and about 250k environment steps per batch. Bandits: ``paper-k{k}-n{n}`` for
#: k ∈ {5, 10, 50}, n ∈ {10, 100, 500} (Table 1); tabular MDPs: ``paper-n{n}`` for
#: n ∈ {10, 25, 50, 75, 100} (Table 2); ``paper`` is the first cell of each table.
CONFIGS: dict[tuple[str, str], RL2Config] = {
    **{
        ("MetaBandit-v0", f"paper-k{k}-n{n}"): _paper("MetaBandit-v0", n, 1, env_kwargs={"num_arms": k})
        for k in (5, 10, 50)
        for n in (10, 100, 500)
    },
    **{
        ("MetaTabularMDP-v0", f"paper-n{n}"): _paper("MetaTabularMDP-v0", n, 10)
        for n in (10, 25, 50, 75, 100)
    },
    # Locomotion: 2 episodes per trial, as VariBAD's and PEARL's RL² comparisons on the cheetah.
    **{
        (env_id, "paper"): _paper(env_id, 2, 200, num_iterations=1000)
        for env_id in ("MetaHalfCheetahVel-v0", "MetaHalfCheetahDir-v0")
    },
    ("*", "ci"): RL2Config(
        trials_per_batch=128, hidden_size=64, learning_rate=3e-3, num_iterations=150, checkpoint_every=50
    ),
}
CONFIGS[("MetaBandit-v0", "paper")] = CONFIGS[("MetaBandit-v0", "paper-k5-n10")]
CONFIGS[("MetaTabularMDP-v0", "paper")] = CONFIGS[("MetaTabularMDP-v0", "paper-n10")]


# -- The trained agent, for the evaluation harness ----------------------------------------------


class RL2Agent(Agent):
    """Carries the GRU's hidden state across every episode and round of a trial; ``reset``
    (a new task) clears it. Its input is built exactly as :class:`metabench.TrialHistory`
    builds it during training."""

    name = "rl2"

    def __init__(self, model: RecurrentActorCritic, info: EnvInfo, meta_train_steps: int) -> None:
        self.model, self.info, self.meta_train_steps = model, info, meta_train_steps
        self.history = np.zeros(gym.spaces.flatdim(info.action_space) + 1, dtype=np.float32)
        self.flag = 0.0
        self.state = model.initial_state(1)

    def reset(self, rng: np.random.Generator) -> None:
        self.history[:] = 0.0
        self.flag = 0.0
        self.state = self.model.initial_state(1)

    def act(self, obs: Any, rng: np.random.Generator) -> Any:
        flat = gym.spaces.flatten(self.info.observation_space, obs)
        inputs = torch.as_tensor(np.concatenate([flat, self.history, [self.flag]]), dtype=torch.float32)
        with torch.no_grad():
            dist, self.state = self.model(inputs[None, None], self.state)
        return sample_with(dist, rng)

    def observe(self, transition: Transition) -> None:
        self.history[:-1] = gym.spaces.flatten(self.info.action_space, transition.action)
        self.history[-1] = transition.reward
        self.flag = float(transition.done)


def load_agent(info: EnvInfo, checkpoint: Path) -> RL2Agent:
    """The harness's factory for a ``metabench train rl2`` run directory."""
    state = load_checkpoint(checkpoint)
    config = config_from_dict(state["config"])
    input_size = gym.spaces.flatdim(info.observation_space) + gym.spaces.flatdim(info.action_space) + 2
    model = RecurrentActorCritic(input_size, info.action_space, config.hidden_size, config.separate_critic)
    model.load_state_dict(state["algorithm"]["model"])
    return RL2Agent(model, info, int(state["algorithm"]["env_steps"]))
