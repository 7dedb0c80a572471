"""The linear feature baseline of the MAML paper (Finn et al. 2017, after Duan et al. 2016's
rllab): a ridge regression of the return on time-polynomial and squared-observation features,
refitted on every batch."""

from __future__ import annotations

import torch


def features(obs: torch.Tensor) -> torch.Tensor:
    """Features of one episode's ``(T, d)`` observations: ``[o, o², t, t², t³, 1]`` with
    ``o`` clipped to [−10, 10] and ``t = step / 100``."""
    o = obs.clamp(-10.0, 10.0)
    t = torch.arange(obs.shape[0], dtype=obs.dtype).unsqueeze(1) / 100.0
    return torch.cat([o, o**2, t, t**2, t**3, torch.ones_like(t)], dim=1)


class LinearFeatureBaseline:
    """``V(s_t) ≈ w · features(s)_t``, fitted by least squares with ridge ``reg_coeff``
    (raised ×10 until the solve is finite, as rllab does)."""

    def __init__(self, reg_coeff: float = 1e-5) -> None:
        self.reg_coeff = reg_coeff
        self.weights: torch.Tensor | None = None

    def fit(self, episodes_obs: list[torch.Tensor], episodes_returns: list[torch.Tensor]) -> None:
        """Fit to each episode's ``(T, d)`` observations and ``(T,)`` returns."""
        x = torch.cat([features(o) for o in episodes_obs]).double()
        y = torch.cat(episodes_returns).double()
        gram, rhs = x.T @ x, x.T @ y
        identity = torch.eye(x.shape[1], dtype=torch.float64)
        reg = self.reg_coeff
        for _ in range(5):
            weights = torch.linalg.solve(gram + reg * identity, rhs)
            if torch.isfinite(weights).all():
                break
            reg *= 10
        self.weights = weights

    def predict(self, obs: torch.Tensor) -> torch.Tensor:
        """Values of one episode's ``(T, d)`` observations (zeros before the first fit)."""
        if self.weights is None:
            return torch.zeros(obs.shape[0], dtype=obs.dtype)
        return (features(obs).double() @ self.weights).to(obs.dtype)
