"""Exact tests of the baselines' shared math: CG, GAE, line search, linear baseline, policies."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from metabench.baselines.common.linear_baseline import LinearFeatureBaseline, features
from metabench.baselines.common.math import (
    backtracking_line_search,
    conjugate_gradient,
    discounted_cumsum,
    gae,
)
from metabench.baselines.common.policies import CategoricalMLPPolicy, GaussianMLPPolicy, make_policy


def test_conjugate_gradient_solves_a_known_spd_system():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(8, 8))
    a = torch.tensor(m @ m.T + 8 * np.eye(8))
    b = torch.tensor(rng.normal(size=8))
    x = conjugate_gradient(lambda v: a @ v, b, iterations=8, residual_tol=1e-24)
    np.testing.assert_allclose(x.numpy(), np.linalg.solve(a.numpy(), b.numpy()), rtol=1e-8, atol=1e-10)


def test_discounted_cumsum_respects_episode_ends():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    mask = torch.tensor([1.0, 0.0, 1.0, 1.0])  # an episode ends at t=1
    expected = [1 + 0.5 * 2, 2.0, 3 + 0.5 * 4, 4.0]
    assert discounted_cumsum(x, 0.5, mask).tolist() == expected


def test_gae_matches_a_hand_computation():
    rewards = torch.tensor([1.0, 0.0, 2.0, 1.0])
    values = torch.tensor([0.5, 0.2, 0.4, 0.3])
    next_values = torch.tensor([0.2, 0.4, 0.3, 9.0])
    continues = torch.tensor([1.0, 1.0, 1.0, 0.0])  # truncated at the end: bootstrap V = 9
    bootstrap = torch.ones(4)
    gamma, lam = 0.9, 0.8
    d = [1 + 0.9 * 0.2 - 0.5, 0 + 0.9 * 0.4 - 0.2, 2 + 0.9 * 0.3 - 0.4, 1 + 0.9 * 9.0 - 0.3]
    a3 = d[3]
    a2 = d[2] + 0.72 * a3
    a1 = d[1] + 0.72 * a2
    a0 = d[0] + 0.72 * a1
    out = gae(rewards, values, next_values, continues, gamma, lam, bootstrap)
    np.testing.assert_allclose(out.numpy(), [a0, a1, a2, a3], rtol=1e-6)
    # A true termination does not bootstrap.
    out = gae(rewards, values, next_values, continues, gamma, lam)
    np.testing.assert_allclose(out[3].item(), 1 - 0.3, rtol=1e-6)


def test_line_search_takes_the_largest_acceptable_fraction():
    tried = []

    def evaluate(fraction):
        tried.append(fraction)
        return (1.0, fraction * 0.04)  # KL grows with the step

    assert backtracking_line_search(evaluate, max_kl=0.01) == 0.25
    assert tried == [1.0, 0.5, 0.25]
    assert backtracking_line_search(lambda f: (-1.0, 0.0), max_kl=0.01, max_steps=3) is None


def test_linear_baseline_matches_the_closed_form_ridge_fit():
    rng = np.random.default_rng(1)
    episodes = [torch.tensor(rng.normal(size=(t, 3))) for t in (20, 35)]
    returns = [torch.tensor(rng.normal(size=len(o))) for o in episodes]
    baseline = LinearFeatureBaseline(reg_coeff=1e-5)
    baseline.fit(episodes, returns)
    x = np.concatenate(
        [
            np.hstack([np.clip(o, -10, 10), np.clip(o, -10, 10) ** 2, t, t**2, t**3, np.ones_like(t)])
            for o in (e.numpy() for e in episodes)
            for t in [np.arange(len(o))[:, None] / 100.0]
        ]
    )
    y = np.concatenate([r.numpy() for r in returns])
    w = np.linalg.solve(x.T @ x + 1e-5 * np.eye(x.shape[1]), x.T @ y)
    np.testing.assert_allclose(baseline.weights.numpy(), w, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(baseline.predict(episodes[0]).numpy(), x[:20] @ w, rtol=1e-6, atol=1e-9)
    assert features(episodes[0]).shape == (20, 3 + 3 + 4)


def test_policies_pick_the_distribution_for_the_action_space_and_accept_params():
    box = gym.spaces.Box(-1, 1, (2,))
    gaussian = make_policy(gym.spaces.Box(-1, 1, (3,)), box, (16,), "tanh")
    categorical = make_policy(gym.spaces.Discrete(4), gym.spaces.Discrete(5), (16,), "relu")
    assert isinstance(gaussian, GaussianMLPPolicy) and isinstance(categorical, CategoricalMLPPolicy)
    obs = torch.zeros(7, 3)
    assert gaussian(obs).sample().shape == (7, 2)
    assert categorical(torch.zeros(7, 4)).sample().shape == (7,)
    params = {name: p + 1.0 for name, p in gaussian.named_parameters()}
    shifted = gaussian(obs, params=params)
    assert torch.allclose(shifted.base_dist.scale, gaussian.log_std.exp() * np.e)
    assert not torch.allclose(shifted.mean, gaussian(obs).mean)
    with pytest.raises(ValueError, match="Box or Discrete"):
        make_policy(box, gym.spaces.MultiBinary(3), (4,), "relu")


def test_ray_sampler_returns_the_local_samplers_episodes():
    """Same tasks, acting function and seeds: the same episodes on Ray actors (uneven shards,
    trials of several episodes, a wrapper, discrete actions) as in this process; and a MAML
    iteration sampled on Ray (continuous actions) equals a local one."""
    ray = pytest.importorskip("ray")
    import dataclasses

    from metabench.baselines import maml_trpo
    from metabench.baselines.common.ray_sampler import RayTaskBatchSampler
    from metabench.baselines.common.sampler import TaskBatchSampler
    from metabench.wrappers import TrialHistory

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        # Each Ray sampler starts its actors (seconds each): one family here, one in MAML below.
        for env_id, wrapper, per_task in (("MetaBandit-v0", TrialHistory, 4),):
            local = TaskBatchSampler(env_id, 5, wrapper=wrapper)
            remote = RayTaskBatchSampler(env_id, 5, wrapper=wrapper, num_workers=2)
            tasks = local.envs[0].unwrapped.sample_tasks(5, seed=1)

            def act(obs, space=local.action_space):
                if isinstance(space, gym.spaces.Discrete):
                    return torch.randint(space.n, (obs.shape[0],))
                return torch.randn(obs.shape[0], 2) * 0.05 + 0.01 * obs

            episodes = []
            for sampler in (local, remote):
                torch.manual_seed(0)
                episodes.append(sampler.sample(tasks, act, seeds=[3, 1, 4, 1, 5], episodes_per_task=per_task))
            remote.close()
            for name in ("obs", "actions", "rewards", "mask", "episode_ends"):
                assert torch.equal(getattr(episodes[0], name), getattr(episodes[1], name)), (env_id, name)
            assert episodes[0].episode_ends.sum() == 5 * per_task
        tiny = dataclasses.replace(
            maml_trpo.CONFIGS[("*", "ci")], meta_batch_size=3, fast_batch_size=2, hidden=(8,)
        )
        records = [
            maml_trpo.MAMLTRPO(dataclasses.replace(tiny, ray_workers=workers)).train_iteration()
            for workers in (0, 2)
        ]
        for key, value in records[0].items():
            assert key.startswith("time/") or records[1][key] == value, key
    finally:
        ray.shutdown()
