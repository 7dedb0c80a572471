"""Policies shared by the baselines: a Gaussian MLP for continuous actions and a categorical
MLP for discrete ones. Both can run with an explicit parameter dict (``params=``), which is
how MAML evaluates adapted parameters without touching the module's own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, Normal
from torch.func import functional_call

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


def mlp(sizes: Sequence[int], activation: str) -> nn.Sequential:
    """Linear layers of ``sizes`` with ``activation`` between them (none after the last)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"expected activation in {sorted(ACTIVATIONS)}, got {activation!r}")
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class Policy(nn.Module):
    """A stochastic policy ``obs ↦ π(·|obs)``."""

    def distribution(self, obs: torch.Tensor) -> Distribution:
        raise NotImplementedError

    def forward(self, obs: torch.Tensor, params: Mapping[str, torch.Tensor] | None = None) -> Distribution:
        if params is None:
            return self.distribution(obs)
        return functional_call(self, dict(params), (obs,), kwargs={"params": None})


class GaussianMLPPolicy(Policy):
    """Diagonal Gaussian with an MLP mean and a state-independent log standard deviation."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden: Sequence[int] = (100, 100),
        activation: str = "relu",
        init_std: float = 1.0,
    ) -> None:
        super().__init__()
        self.mean = mlp([obs_dim, *hidden, act_dim], activation)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(torch.log(torch.tensor(init_std)))))

    def distribution(self, obs: torch.Tensor) -> Distribution:
        return Independent(Normal(self.mean(obs), self.log_std.exp()), 1)


class CategoricalMLPPolicy(Policy):
    """Categorical over ``num_actions`` with MLP logits."""

    def __init__(
        self, obs_dim: int, num_actions: int, hidden: Sequence[int] = (100, 100), activation: str = "relu"
    ) -> None:
        super().__init__()
        self.logits = mlp([obs_dim, *hidden, num_actions], activation)

    def distribution(self, obs: torch.Tensor) -> Distribution:
        return Categorical(logits=self.logits(obs))


def make_policy(
    observation_space: gym.Space, action_space: gym.Space, hidden: Sequence[int], activation: str
) -> Policy:
    """The policy for these spaces: Gaussian for a ``Box`` action space, categorical for a
    ``Discrete`` one. Observations are fed flattened (one-hot when discrete)."""
    obs_dim = gym.spaces.flatdim(observation_space)
    if isinstance(action_space, gym.spaces.Box):
        return GaussianMLPPolicy(obs_dim, gym.spaces.flatdim(action_space), hidden, activation)
    if isinstance(action_space, gym.spaces.Discrete):
        return CategoricalMLPPolicy(obs_dim, int(action_space.n), hidden, activation)
    raise ValueError(f"expected a Box or Discrete action space, got {action_space}")


def sample_with(dist: Distribution, rng: np.random.Generator) -> np.ndarray:
    """One draw from a single-observation ``dist`` using the numpy generator ``rng`` (the
    evaluation harness hands every agent the episode's own generator): a categorical by
    inverting its CDF with one uniform draw, a diagonal Gaussian as mean + std · N(0, 1)."""
    if isinstance(dist, Categorical):
        cdf = np.cumsum(dist.probs.detach().reshape(-1).double().numpy())
        return np.int64(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), len(cdf) - 1))
    if isinstance(dist, Independent) and isinstance(dist.base_dist, Normal):
        mean = dist.base_dist.loc.detach().reshape(-1).numpy()
        std = dist.base_dist.scale.detach().reshape(-1).numpy()
        return (mean + std * rng.standard_normal(mean.shape)).astype(np.float32)
    raise ValueError(f"expected a Categorical or diagonal Normal distribution, got {type(dist).__name__}")
