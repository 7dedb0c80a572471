"""PEARL: off-policy meta-RL with a probabilistic context encoder (Rakelly et al. 2019,
"Efficient Off-Policy Meta-Reinforcement Learning via Probabilistic Context Variables").

Reads top to bottom: the config; the encoder, whose posterior over the latent task variable
``z`` is a product of one Gaussian factor per context transition; the SAC networks conditioned
on ``z``; per-task replay buffers (one for the RL batch, one for the encoder's context); data
collection with ``z`` from the prior or the posterior; the losses (KL to the unit Gaussian
prior weighted by ``kl_lambda``, the critic's Bellman error, which trains the encoder too,
the value and policy losses of SAC with a value network, as in the paper); and the loop.

Sparse rewards (``MetaNavigation2DSparse-v0``). The encoder always sees the reward the env
returns, so the context is sparse in meta-training as at meta-test time, where the harness gives
the agent nothing else. What the SAC critic learns from is the config's choice:
``dense_rewards_for_rl=True`` (the ``paper`` config) reads the dense reward from
``info["reward_dense"]`` during meta-training, which is what PEARL's sparse point robot does
(oyster's env returns the dense reward and the sampler sparsifies only the context);
``dense_rewards_for_rl=False`` trains on the sparse reward alone (VariBAD's harder setting).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from metabench.baselines.common.checkpoint import load_checkpoint
from metabench.baselines.common.policies import mlp
from metabench.evaluation.agent import Agent, EnvInfo, Transition


@dataclass(frozen=True)
class PEARLConfig:
    """PEARL hyperparameters; defaults are PEARL's ``configs/default.py``."""

    env_id: str = "MetaHalfCheetahVel-v0"
    """The family to meta-train on."""
    num_train_tasks: int = 100
    """Training tasks, drawn once from ``sample_tasks`` (PEARL trains on a fixed set)."""
    num_eval_tasks: int = 2
    """PEARL's number of held-out tasks (``n_eval_tasks``), kept to document the paper's setting:
    ``metabench evaluate`` scores the family's own fixed test split (``test_splits``) instead."""
    latent_size: int = 5
    """Dimension of z."""
    hidden: tuple[int, ...] = (300, 300, 300)
    """Hidden sizes of every network (PEARL: net_size 300, three layers)."""
    encoder_hidden: tuple[int, ...] = (200, 200, 200)
    """Hidden sizes of the context encoder."""
    kl_lambda: float = 0.1
    """Weight of KL(q(z|c) ‖ N(0, I)) in the encoder's loss."""
    meta_batch: int = 16
    """Tasks per gradient step."""
    batch_size: int = 256
    """RL transitions per task per gradient step."""
    embedding_batch_size: int = 64
    """Context transitions per task per gradient step."""
    num_initial_steps: int = 2000
    """Transitions collected per training task with z from the prior before training."""
    num_tasks_sample: int = 5
    """Tasks that collect new data each iteration."""
    num_steps_prior: int = 400
    """Transitions per sampled task with z from the prior (into both buffers)."""
    num_steps_posterior: int = 0
    """Transitions per sampled task with z from the posterior (into both buffers)."""
    num_extra_rl_steps_posterior: int = 400
    """Transitions per sampled task with z from the posterior, for the RL buffer only."""
    num_train_steps_per_itr: int = 2000
    """Gradient steps per iteration."""
    max_path_length: int | None = None
    """Episode cap while collecting (default: the registered horizon)."""
    discount: float = 0.99
    """γ."""
    soft_target_tau: float = 0.005
    """Polyak rate of the target value network."""
    learning_rate: float = 3e-4
    """Adam step size of every network (PEARL uses 3e-4 for all)."""
    reward_scale: float = 5.0
    """Rewards are multiplied by this in the Bellman target (sets the entropy's weight)."""
    use_next_obs_in_context: bool = False
    """Context transitions hold (s, a, r, s') instead of (s, a, r)."""
    dense_rewards_for_rl: bool = False
    """Train the critic on ``info["reward_dense"]`` (sparse families); context keeps the reward."""
    replay_size: int = 1_000_000
    """Capacity of each task's RL buffer (its encoder buffer holds the latest collection only)."""
    num_iterations: int = 500
    """Iterations."""
    seed: int = 0
    """Seed of every random draw."""
    device: str = "cpu"
    """Torch device ("cpu", "cuda", "cuda:0", ...)."""
    checkpoint_every: int = 10
    """Iterations between checkpoints (one is also written at the end)."""
    env_kwargs: Mapping[str, object] = field(default_factory=dict)
    """Constructor kwargs of the family."""


def resolve_device(name: str) -> torch.device:
    """The torch device ``name`` ("cpu", "cuda", "cuda:1", "mps"), checked to exist here.

    Raises:
        ValueError: naming the device and what is available, for a malformed name or a device
            this machine lacks (torch would otherwise fail later, deep inside ``.to``).
    """
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {name!r}: expected 'cpu', 'cuda', 'cuda:N' or 'mps'") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"device {name!r}: CUDA is not available on this machine; use --device cpu")
        if device.index is not None and device.index >= count:
            raise ValueError(f"device {name!r}: only {count} CUDA device(s) here (cuda:0..cuda:{count - 1})")
        return device
    if device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"device {name!r}: MPS is not available on this machine; use --device cpu")
        return device
    raise ValueError(f"device {name!r}: expected 'cpu', 'cuda', 'cuda:N' or 'mps'")


# -- The encoder and its product-of-Gaussians posterior -----------------------------------------


def product_of_gaussians(means: torch.Tensor, variances: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Combine independent Gaussian factors ``N(μ_n, σ²_n)`` over the context axis (-2):
    ``σ² = 1 / Σ 1/σ²_n`` and ``μ = σ² Σ μ_n/σ²_n``. Shapes ``(..., n, d)`` ↦ ``(..., d)``."""
    precision = (1.0 / variances).sum(-2)
    variance = 1.0 / precision
    return variance * (means / variances).sum(-2), variance


def kl_to_unit_gaussian(mean: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σ (σ² + μ² − 1 − log σ²), summed over the last axis."""
    return 0.5 * (variance + mean**2 - 1.0 - variance.log()).sum(-1)


class ContextEncoder(nn.Module):
    """Maps each context transition to a Gaussian factor over z."""

    def __init__(self, transition_size: int, latent_size: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.latent_size = latent_size
        self.net = mlp([transition_size, *hidden, 2 * latent_size], "relu")

    def posterior(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``context (tasks, n, transition_size)`` ↦ posterior mean and variance ``(tasks, d)``.
        An empty context gives the prior N(0, I)."""
        if context.shape[-2] == 0:
            zeros = torch.zeros(*context.shape[:-2], self.latent_size, device=context.device)
            return zeros, torch.ones_like(zeros)
        out = self.net(context)
        means, variances = (
            out[..., : self.latent_size],
            F.softplus(out[..., self.latent_size :]).clamp_min(1e-7),
        )
        return product_of_gaussians(means, variances)


# -- SAC networks conditioned on z ---------------------------------------------------------------

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


class TanhGaussianPolicy(nn.Module):
    """π(a | s, z): a Gaussian squashed by tanh into [−1, 1]."""

    def __init__(self, obs_dim: int, latent_size: int, act_dim: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.net = mlp([obs_dim + latent_size, *hidden, 2 * act_dim], "relu")
        self.act_dim = act_dim

    def forward(
        self,
        obs: torch.Tensor,
        z: torch.Tensor,
        deterministic: bool = False,
        noise: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (action in [−1, 1], its log-probability, the pre-tanh mean and log std)."""
        out = self.net(torch.cat([obs, z], -1))
        mean, log_std = out[..., : self.act_dim], out[..., self.act_dim :].clamp(LOG_STD_MIN, LOG_STD_MAX)
        std = log_std.exp()
        if deterministic:
            pre_tanh = mean
        else:
            pre_tanh = mean + std * (torch.randn_like(mean) if noise is None else noise)
        action = torch.tanh(pre_tanh)
        gaussian = torch.distributions.Normal(mean, std)
        log_prob = (gaussian.log_prob(pre_tanh) - torch.log1p(-action.pow(2) + 1e-6)).sum(-1)
        return action, log_prob, mean, log_std


def critic(in_size: int, hidden: tuple[int, ...]) -> nn.Module:
    return mlp([in_size, *hidden, 1], "relu")


# -- Per-task replay buffers ---------------------------------------------------------------------


class ReplayBuffer:
    """A ring buffer of transitions for one task."""

    def __init__(self, capacity: int, obs_dim: int, act_dim: int) -> None:
        self.capacity, self.size, self.next = capacity, 0, 0
        self.data = {
            "obs": np.zeros((capacity, obs_dim), np.float32),
            "actions": np.zeros((capacity, act_dim), np.float32),
            "rewards": np.zeros(capacity, np.float32),
            "rl_rewards": np.zeros(capacity, np.float32),
            "next_obs": np.zeros((capacity, obs_dim), np.float32),
            "terminals": np.zeros(capacity, np.float32),
        }

    def add(self, **transition: np.ndarray | float) -> None:
        for key, value in transition.items():
            self.data[key][self.next] = value
        self.next = (self.next + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def clear(self) -> None:
        self.size = self.next = 0

    def sample(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        index = rng.integers(self.size, size=n)
        return {key: value[index] for key, value in self.data.items()}

    def state_dict(self) -> dict:
        return {
            "size": self.size,
            "next": self.next,
            "data": {k: v[: self.size].copy() for k, v in self.data.items()},
        }

    def load_state_dict(self, state: Mapping) -> None:
        self.size, self.next = int(state["size"]), int(state["next"])
        for key, value in state["data"].items():
            self.data[key][: len(value)] = value


# -- The agent's networks and the losses ---------------------------------------------------------


class PEARLNetworks(nn.Module):
    """Everything PEARL learns, in one module (so one ``state_dict`` holds it)."""

    def __init__(self, obs_dim: int, act_dim: int, config: PEARLConfig) -> None:
        super().__init__()
        transition = obs_dim + act_dim + 1 + (obs_dim if config.use_next_obs_in_context else 0)
        self.encoder = ContextEncoder(transition, config.latent_size, config.encoder_hidden)
        self.policy = TanhGaussianPolicy(obs_dim, config.latent_size, act_dim, config.hidden)
        self.q1 = critic(obs_dim + act_dim + config.latent_size, config.hidden)
        self.q2 = critic(obs_dim + act_dim + config.latent_size, config.hidden)
        self.value = critic(obs_dim + config.latent_size, config.hidden)
        self.target_value = copy.deepcopy(self.value)
        self.target_value.requires_grad_(False)


def context_tensor(batch: Mapping[str, np.ndarray], use_next_obs: bool) -> np.ndarray:
    """Transitions as context rows ``[s, a, r(, s')]``."""
    parts = [batch["obs"], batch["actions"], batch["rewards"][..., None]]
    if use_next_obs:
        parts.append(batch["next_obs"])
    return np.concatenate(parts, -1).astype(np.float32)


def sample_z(mean: torch.Tensor, variance: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
    """A reparameterised draw from N(mean, variance)."""
    return mean + variance.sqrt() * (torch.randn_like(mean) if noise is None else noise)


class PEARL:
    """The training loop (Rakelly et al. 2019, Algorithm 1)."""

    def __init__(self, config: PEARLConfig) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        self.env = gym.make(config.env_id, **dict(config.env_kwargs))
        if not isinstance(self.env.action_space, gym.spaces.Box):
            raise ValueError(f"PEARL: expected a Box action space, got {self.env.action_space}")
        self.max_path_length = config.max_path_length or self.env.spec.max_episode_steps
        self.obs_dim = gym.spaces.flatdim(self.env.observation_space)
        self.act_dim = gym.spaces.flatdim(self.env.action_space)
        self.tasks = self.env.unwrapped.sample_tasks(
            config.num_train_tasks, seed=np.random.SeedSequence([config.seed, 0])
        )
        torch.manual_seed(config.seed)
        self.nets = PEARLNetworks(self.obs_dim, self.act_dim, config).to(self.device)
        params = lambda *modules: [p for m in modules for p in m.parameters()]  # noqa: E731
        self.optimizers = {
            "encoder": torch.optim.Adam(params(self.nets.encoder), lr=config.learning_rate),
            "q": torch.optim.Adam(params(self.nets.q1, self.nets.q2), lr=config.learning_rate),
            "value": torch.optim.Adam(params(self.nets.value), lr=config.learning_rate),
            "policy": torch.optim.Adam(params(self.nets.policy), lr=config.learning_rate),
        }
        self.rl_buffers = [ReplayBuffer(config.replay_size, self.obs_dim, self.act_dim) for _ in self.tasks]
        encoder_capacity = max(
            config.num_initial_steps, config.num_steps_prior + config.num_steps_posterior, 1
        )
        self.encoder_buffers = [
            ReplayBuffer(encoder_capacity, self.obs_dim, self.act_dim) for _ in self.tasks
        ]
        self.iteration = 0
        self.env_steps = 0
        self.gradient_steps = 0

    # -- collection --

    def _scale_action(self, action: np.ndarray) -> np.ndarray:
        low, high = self.env.action_space.low, self.env.action_space.high
        return low + (action + 1.0) * 0.5 * (high - low)

    def collect(
        self, task_index: int, num_steps: int, use_posterior: bool, to_encoder: bool, rng: np.random.Generator
    ) -> list[float]:
        """Collect ``num_steps`` transitions on a training task, resampling z from the prior
        or (``use_posterior``) the posterior given the task's encoder buffer after every
        episode, as PEARL's sampler does. Returns the returns of the episodes that ended."""
        env = self.env
        env.unwrapped.set_task(self.tasks[task_index])
        collected, returns = 0, []
        while collected < num_steps:
            z = self._draw_z(task_index, use_posterior, rng)
            obs, _ = env.reset(seed=int(rng.integers(2**31)))
            episode_return = 0.0
            for _ in range(self.max_path_length):
                obs_flat = gym.spaces.flatten(env.observation_space, obs).astype(np.float32)
                noise = torch.as_tensor(
                    rng.standard_normal(self.act_dim), dtype=torch.float32, device=self.device
                )
                with torch.no_grad():
                    action = self.nets.policy(torch.as_tensor(obs_flat, device=self.device), z, noise=noise)[
                        0
                    ]
                action = action.cpu().numpy()
                next_obs, reward, terminated, truncated, info = env.step(self._scale_action(action))
                next_flat = gym.spaces.flatten(env.observation_space, next_obs).astype(np.float32)
                rl_reward = info["reward_dense"] if self.config.dense_rewards_for_rl else reward
                transition = dict(
                    obs=obs_flat,
                    actions=action,
                    rewards=reward,
                    rl_rewards=rl_reward,
                    next_obs=next_flat,
                    terminals=float(terminated),
                )
                self.rl_buffers[task_index].add(**transition)
                if to_encoder:
                    self.encoder_buffers[task_index].add(**transition)
                collected += 1
                episode_return += float(reward)
                obs = next_obs
                if terminated or truncated:
                    returns.append(episode_return)
                    break
                if collected >= num_steps:
                    break
        self.env_steps += collected
        return returns

    def _draw_z(self, task_index: int, use_posterior: bool, rng: np.random.Generator) -> torch.Tensor:
        noise = torch.as_tensor(
            rng.standard_normal(self.config.latent_size), dtype=torch.float32, device=self.device
        )
        buffer = self.encoder_buffers[task_index]
        if not use_posterior or buffer.size == 0:
            return noise
        batch = buffer.sample(rng, min(self.config.embedding_batch_size, buffer.size))
        context = torch.as_tensor(
            context_tensor(batch, self.config.use_next_obs_in_context), device=self.device
        )
        with torch.no_grad():
            mean, variance = self.nets.encoder.posterior(context[None])
        return sample_z(mean[0], variance[0], noise)

    # -- one gradient step on a meta-batch of tasks --

    def gradient_step(self, task_indices: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
        config, nets, device = self.config, self.nets, self.device

        def stacked(buffers, n: int) -> dict[str, np.ndarray]:
            batches = [buffers[i].sample(rng, n) for i in task_indices]
            return {k: np.stack([b[k] for b in batches]) for k in batches[0]}

        rl = {
            k: torch.as_tensor(v, device=device)
            for k, v in stacked(self.rl_buffers, config.batch_size).items()
        }
        enc = stacked(self.encoder_buffers, config.embedding_batch_size)  # (tasks, n, ...)
        context = torch.as_tensor(context_tensor(enc, config.use_next_obs_in_context), device=device)
        mean, variance = nets.encoder.posterior(context)
        z = sample_z(mean, variance)  # (tasks, d), differentiable into the encoder
        z_rows = z[:, None].expand(-1, config.batch_size, -1)
        obs, actions, next_obs = rl["obs"], rl["actions"], rl["next_obs"]

        kl = kl_to_unit_gaussian(mean, variance).sum()
        q_in = torch.cat([obs, actions, z_rows], -1)
        with torch.no_grad():
            target_v = nets.target_value(torch.cat([next_obs, z_rows], -1)).squeeze(-1)
            q_target = (
                rl["rl_rewards"] * config.reward_scale + (1.0 - rl["terminals"]) * config.discount * target_v
            )
        q_loss = F.mse_loss(nets.q1(q_in).squeeze(-1), q_target) + F.mse_loss(
            nets.q2(q_in).squeeze(-1), q_target
        )
        self.optimizers["encoder"].zero_grad()
        self.optimizers["q"].zero_grad()
        (config.kl_lambda * kl + q_loss).backward()  # the critic's loss trains the encoder too
        self.optimizers["q"].step()
        self.optimizers["encoder"].step()

        z_fixed = z_rows.detach()
        new_actions, log_pi, pre_tanh_mean, log_std = nets.policy(obs, z_fixed)
        q_new_in = torch.cat([obs, new_actions, z_fixed], -1)
        min_q = torch.min(nets.q1(q_new_in), nets.q2(q_new_in)).squeeze(-1)
        v_pred = nets.value(torch.cat([obs, z_fixed], -1)).squeeze(-1)
        value_loss = F.mse_loss(v_pred, (min_q - log_pi).detach())
        self.optimizers["value"].zero_grad()
        value_loss.backward()
        self.optimizers["value"].step()
        with torch.no_grad():
            for target, source in zip(nets.target_value.parameters(), nets.value.parameters()):
                target.mul_(1 - config.soft_target_tau).add_(config.soft_target_tau * source)

        # PEARL's SAC: KL(π ‖ exp(Q)) up to a constant, plus 1e-3 penalties on the Gaussian's
        # mean and log std (rlkit's policy_mean_reg_weight and policy_std_reg_weight).
        policy_loss = (log_pi - min_q).mean() + 1e-3 * ((pre_tanh_mean**2).mean() + (log_std**2).mean())
        self.optimizers["policy"].zero_grad()
        policy_loss.backward()
        self.optimizers["policy"].step()
        self.gradient_steps += 1
        return {
            "loss/kl": kl.item(),
            "loss/q": q_loss.item(),
            "loss/value": value_loss.item(),
            "loss/policy": policy_loss.item(),
            "train/z_variance": variance.mean().item(),
        }

    # -- the loop --

    def train_iteration(self) -> dict[str, float]:
        config, it = self.config, self.iteration
        start = time.perf_counter()
        seq = np.random.SeedSequence([config.seed, 1, it])
        collect_seed, train_seed, torch_seed = seq.spawn(3)
        torch.manual_seed(int(torch_seed.generate_state(1)[0]))
        rng = np.random.default_rng(collect_seed)
        steps_before = self.env_steps
        if it == 0:
            for i in range(len(self.tasks)):
                self.collect(i, config.num_initial_steps, use_posterior=False, to_encoder=True, rng=rng)
        prior_returns, posterior_returns = [], []
        for i in rng.choice(len(self.tasks), size=config.num_tasks_sample, replace=True):
            self.encoder_buffers[i].clear()
            if config.num_steps_prior:
                prior_returns += self.collect(
                    i, config.num_steps_prior, use_posterior=False, to_encoder=True, rng=rng
                )
            if config.num_steps_posterior:
                posterior_returns += self.collect(
                    i, config.num_steps_posterior, use_posterior=True, to_encoder=True, rng=rng
                )
            if config.num_extra_rl_steps_posterior:
                posterior_returns += self.collect(
                    i, config.num_extra_rl_steps_posterior, use_posterior=True, to_encoder=False, rng=rng
                )
        sampled = time.perf_counter()
        rng = np.random.default_rng(train_seed)
        stats: dict[str, float] = {}
        for _ in range(config.num_train_steps_per_itr):
            tasks = rng.choice(len(self.tasks), size=min(config.meta_batch, len(self.tasks)), replace=False)
            stats = self.gradient_step(tasks, rng)
        self.iteration += 1
        # Returns of this iteration's training episodes (actions sampled, not the mean action).
        returns = {"train/return_prior_z": prior_returns, "train/return": posterior_returns or prior_returns}
        return {
            **{key: float(np.mean(value)) for key, value in returns.items() if value},
            **stats,
            "train/iteration": self.iteration,
            "train/env_steps": self.env_steps,
            "train/gradient_steps": self.gradient_steps,
            "time/iteration_env_steps": self.env_steps - steps_before,
            "time/sampling_s": sampled - start,
            "time/learning_s": time.perf_counter() - sampled,
        }

    def state_dict(self) -> dict:
        return {
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "gradient_steps": self.gradient_steps,
            "nets": self.nets.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "rl_buffers": [b.state_dict() for b in self.rl_buffers],
            "encoder_buffers": [b.state_dict() for b in self.encoder_buffers],
        }

    def load_state_dict(self, state: Mapping) -> None:
        self.iteration, self.env_steps = int(state["iteration"]), int(state["env_steps"])
        self.gradient_steps = int(state["gradient_steps"])
        self.nets.load_state_dict(state["nets"])
        for key, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][key])
        for buffers, saved in (
            (self.rl_buffers, state["rl_buffers"]),
            (self.encoder_buffers, state["encoder_buffers"]),
        ):
            for buffer, buffer_state in zip(buffers, saved):
                buffer.load_state_dict(buffer_state)


def config_from_dict(data: Mapping) -> PEARLConfig:
    """Inverse of ``dataclasses.asdict`` (as stored in checkpoints)."""
    data = dict(data)
    data["hidden"], data["encoder_hidden"] = tuple(data["hidden"]), tuple(data["encoder_hidden"])
    return PEARLConfig(**data)


TRAINER = PEARL
AGENT_FACTORY = "metabench.baselines.pearl:load_agent"

_SPARSE_NAV = dict(
    num_train_tasks=80,
    num_eval_tasks=20,
    num_initial_steps=200,
    num_tasks_sample=10,
    num_steps_prior=100,
    num_steps_posterior=900,
    num_extra_rl_steps_posterior=0,
    num_train_steps_per_itr=1000,
    embedding_batch_size=1024,
    discount=0.90,
    reward_scale=100.0,
    kl_lambda=1.0,
    dense_rewards_for_rl=True,
)
#: Named configs ``(env_id, name) -> config``, from PEARL's released configs
#: (``katerakelly/oyster``, ``configs/default.py`` plus the per-env JSON files; REFERENCE.md).
CONFIGS: dict[tuple[str, str], PEARLConfig] = {
    # cheetah-vel: 100 train / 30 eval tasks (REFERENCE.md); PEARL's defaults otherwise.
    ("MetaHalfCheetahVel-v0", "paper"): PEARLConfig(
        env_id="MetaHalfCheetahVel-v0",
        num_train_tasks=100,
        num_eval_tasks=30,
        embedding_batch_size=100,
        num_extra_rl_steps_posterior=600,
    ),
    # cheetah-dir.json: meta_batch 4, 1000 + 1000 steps per sampled task, context 256.
    ("MetaHalfCheetahDir-v0", "paper"): PEARLConfig(
        env_id="MetaHalfCheetahDir-v0",
        num_train_tasks=2,
        meta_batch=4,
        num_steps_prior=1000,
        num_extra_rl_steps_posterior=1000,
        embedding_batch_size=256,
    ),
    # ant-dir.json (PEARL's ant-dir samples the angle, our AntDir2D): meta_batch 4, 4000 gradient steps.
    ("MetaAntDir2D-v0", "paper"): PEARLConfig(
        env_id="MetaAntDir2D-v0",
        num_train_tasks=2,
        meta_batch=4,
        num_extra_rl_steps_posterior=600,
        num_train_steps_per_itr=4000,
        embedding_batch_size=256,
    ),
    # humanoid-dir.json: 100 train / 30 eval tasks, 4000 gradient steps, context 256.
    ("MetaHumanoidDir-v0", "paper"): PEARLConfig(
        env_id="MetaHumanoidDir-v0",
        num_train_tasks=100,
        num_eval_tasks=30,
        num_extra_rl_steps_posterior=600,
        num_train_steps_per_itr=4000,
        embedding_batch_size=256,
    ),
    # walker_rand_params.json: 40 train / 10 eval tasks, meta_batch 10, s' in the context.
    ("MetaWalker2dParams-v0", "paper"): PEARLConfig(
        env_id="MetaWalker2dParams-v0",
        num_train_tasks=40,
        num_eval_tasks=10,
        meta_batch=10,
        use_next_obs_in_context=True,
        num_extra_rl_steps_posterior=600,
        num_train_steps_per_itr=4000,
        embedding_batch_size=100,
    ),
    # sparse-point-robot.json: 80 train / 20 eval tasks, horizon 20.
    ("MetaNavigation2DSparse-v0", "paper"): PEARLConfig(env_id="MetaNavigation2DSparse-v0", **_SPARSE_NAV),
    # Small, for CI: on dense 2-D navigation (horizon 100) the posterior's episodes beat the
    # prior's first one in about 2 CPU-minutes. Changes from the paper's values, for that budget:
    # (64, 64) networks, a 2-D latent (the goal), 40 tasks, 100 gradient steps per iteration,
    # s' in the context (the reward is −‖s' − g‖), reward scale 10 and γ 0.9 (value targets
    # of order 10², learnt in a few thousand steps; γ 0.99 with scale 100 did not settle).
    ("*", "ci"): PEARLConfig(
        env_id="MetaNavigation2D-v0",
        num_train_tasks=40,
        num_eval_tasks=40,
        latent_size=2,
        hidden=(64, 64),
        encoder_hidden=(64, 64),
        meta_batch=8,
        batch_size=128,
        embedding_batch_size=64,
        num_initial_steps=200,
        num_tasks_sample=5,
        num_steps_prior=100,
        num_extra_rl_steps_posterior=100,
        num_train_steps_per_itr=100,
        reward_scale=10.0,
        discount=0.9,
        use_next_obs_in_context=True,
        replay_size=100_000,
        num_iterations=60,
        checkpoint_every=10,
    ),
}


# -- The trained agent, for the evaluation harness ----------------------------------------------


class PEARLAgent(Agent):
    """Posterior sampling (PEARL section 4.3): z is drawn from the current posterior at the start
    of each episode (the prior before any context) and held for the episode; every transition
    joins the context, and the posterior is updated after the episode. Actions are the policy's
    mean given z, as PEARL evaluates (``eval_deterministic``)."""

    name = "pearl"

    def __init__(
        self, nets: PEARLNetworks, config: PEARLConfig, info: EnvInfo, meta_train_steps: int
    ) -> None:
        self.nets, self.config, self.info = nets, config, info
        self.meta_train_steps = meta_train_steps
        self.context: list[np.ndarray] = []
        self.z: torch.Tensor | None = None

    def reset(self, rng: np.random.Generator) -> None:
        self.context, self.z = [], None

    def act(self, obs: Any, rng: np.random.Generator) -> Any:
        if self.z is None:  # a new episode: sample z from the posterior given the context so far
            rows = np.array(self.context, dtype=np.float32) if self.context else np.zeros((0, 1), np.float32)
            context = torch.as_tensor(rows[None])
            with torch.no_grad():
                mean, variance = self.nets.encoder.posterior(context)
            noise = torch.as_tensor(rng.standard_normal(self.config.latent_size), dtype=torch.float32)
            self.z = sample_z(mean[0], variance[0], noise)
        flat = torch.as_tensor(gym.spaces.flatten(self.info.observation_space, obs), dtype=torch.float32)
        with torch.no_grad():
            action = self.nets.policy(flat, self.z, deterministic=True)[0]
        low, high = self.info.action_space.low, self.info.action_space.high
        return (low + (action.numpy() + 1.0) * 0.5 * (high - low)).astype(self.info.action_space.dtype)

    def observe(self, transition: Transition) -> None:
        space = self.info.observation_space
        low, high = self.info.action_space.low, self.info.action_space.high
        unit_action = 2.0 * (np.asarray(transition.action, dtype=np.float64) - low) / (high - low) - 1.0
        row = {
            "obs": gym.spaces.flatten(space, transition.obs),
            "actions": unit_action,
            "rewards": np.float32(transition.reward),
            "next_obs": gym.spaces.flatten(space, transition.next_obs),
        }
        self.context.append(context_tensor(row, self.config.use_next_obs_in_context))
        if transition.done:
            self.z = None


def load_agent(info: EnvInfo, checkpoint: Path) -> PEARLAgent:
    """The harness's factory for a ``metabench train pearl`` run directory (loads on CPU)."""
    state = load_checkpoint(checkpoint)
    config = config_from_dict({**state["config"], "device": "cpu"})
    nets = PEARLNetworks(
        gym.spaces.flatdim(info.observation_space), gym.spaces.flatdim(info.action_space), config
    )
    nets.load_state_dict(state["algorithm"]["nets"])
    return PEARLAgent(nets, config, info, int(state["algorithm"]["env_steps"]))
