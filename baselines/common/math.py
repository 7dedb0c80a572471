"""Small numerical utilities shared by the baselines: returns, GAE, conjugate gradient and a
backtracking line search."""

from __future__ import annotations

from collections.abc import Callable

import torch


def discounted_cumsum(x: torch.Tensor, discount: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``y_t = x_t + discount * mask_t * y_{t+1}`` along the first (time) axis.

    Args:
        x: ``(T, ...)`` values.
        discount: the factor γ (or γλ for GAE).
        mask: ``(T, ...)``; 0 where the episode ends at step t (nothing flows back over it).
            Defaults to all ones: the series ends only at ``T``.
    """
    out = torch.empty_like(x)
    running = torch.zeros_like(x[0])
    for t in range(x.shape[0] - 1, -1, -1):
        carry = running if mask is None else running * mask[t]
        running = x[t] + discount * carry
        out[t] = running
    return out


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    episode_continues: torch.Tensor,
    gamma: float,
    lam: float,
    bootstrap: torch.Tensor | None = None,
) -> torch.Tensor:
    """Generalised advantage estimation (Schulman et al. 2016).

    ``δ_t = r_t + γ·b_t·V(s_{t+1}) − V(s_t)`` and ``A_t = δ_t + γλ·c_t·A_{t+1}``, where
    ``c_t`` (``episode_continues``) is 0 where the episode ends at step t and ``b_t``
    (``bootstrap``, default ``c_t``) is 0 where the next state's value must not be counted
    (a true termination); at a truncation ``b_t`` is 1 and ``c_t`` is 0.

    All tensors are ``(T, ...)``; ``next_values[t]`` is ``V(s_{t+1})``.
    """
    bootstrap = episode_continues if bootstrap is None else bootstrap
    deltas = rewards + gamma * bootstrap * next_values - values
    return discounted_cumsum(deltas, gamma * lam, episode_continues)


def conjugate_gradient(
    matrix_vector_product: Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    iterations: int = 10,
    residual_tol: float = 1e-10,
) -> torch.Tensor:
    """Approximately solve ``A x = b`` for symmetric positive-definite ``A`` given only
    ``x ↦ A x`` (Hestenes and Stiefel 1952)."""
    x = torch.zeros_like(b)
    residual = b.clone()
    direction = b.clone()
    residual_norm = residual @ residual
    for _ in range(iterations):
        if residual_norm < residual_tol:
            break
        a_direction = matrix_vector_product(direction)
        step = residual_norm / (direction @ a_direction)
        x = x + step * direction
        residual = residual - step * a_direction
        new_norm = residual @ residual
        direction = residual + (new_norm / residual_norm) * direction
        residual_norm = new_norm
    return x


def backtracking_line_search(
    evaluate: Callable[[float], tuple[float, float]],
    max_kl: float,
    ratio: float = 0.5,
    max_steps: int = 15,
) -> float | None:
    """Find the largest step fraction ``ratio**i`` that improves the surrogate and keeps the KL
    within ``max_kl`` (the TRPO acceptance rule, Schulman et al. 2015).

    Args:
        evaluate: step fraction ↦ (improvement of the surrogate loss, mean KL) at that step;
            an improvement is positive when the loss went down.

    Returns:
        The accepted fraction, or ``None`` when no fraction passed (the caller keeps the old
        parameters).
    """
    fraction = 1.0
    for _ in range(max_steps):
        improvement, kl = evaluate(fraction)
        if improvement > 0 and kl <= max_kl:
            return fraction
        fraction *= ratio
    return None
