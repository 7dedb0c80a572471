"""PEARL: the posterior's math on fixed inputs, posterior sampling under the harness, sparse
rewards, devices, configs, resume, and learning on 2-D navigation with the ``ci`` config."""

from __future__ import annotations

import dataclasses
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from rich.console import Console

import metabench  # noqa: F401
from metabench.baselines import pearl
from metabench.baselines.common.checkpoint import load_checkpoint
from metabench.baselines.train import train
from metabench.cli import main
from metabench.evaluation import evaluate
from metabench.evaluation.agent import EnvInfo, Transition
from metabench.evaluation.harness import unit_seeds

QUIET = Console(quiet=True)

TINY = dataclasses.replace(
    pearl.CONFIGS[("*", "ci")],
    num_train_tasks=4,
    latent_size=2,
    hidden=(8, 8),
    encoder_hidden=(8,),
    meta_batch=3,
    batch_size=16,
    embedding_batch_size=8,
    num_initial_steps=30,
    num_tasks_sample=2,
    num_steps_prior=20,
    num_steps_posterior=10,
    num_extra_rl_steps_posterior=20,
    num_train_steps_per_itr=3,
    max_path_length=10,
    num_iterations=4,
    checkpoint_every=2,
    replay_size=1000,
)


# -- exact math ----------------------------------------------------------------------------------


def test_product_of_gaussians_matches_the_closed_form():
    # Two 1-D factors N(1, 1) and N(3, 4): precision 1 + 1/4, variance 0.8, mean 0.8 (1 + 3/4).
    mean, var = pearl.product_of_gaussians(torch.tensor([[1.0], [3.0]]), torch.tensor([[1.0], [4.0]]))
    assert mean.item() == pytest.approx(1.4)
    assert var.item() == pytest.approx(0.8)
    # Batched, 3 factors in 2-D: per dimension, the normalised product of the densities is the
    # Gaussian returned (its log differs from the sum of the factors' logs by a constant in x).
    gen = torch.Generator().manual_seed(0)
    means = torch.randn(2, 3, 2, generator=gen, dtype=torch.float64)
    variances = torch.rand(2, 3, 2, generator=gen, dtype=torch.float64) + 0.1
    mean, var = pearl.product_of_gaussians(means, variances)
    xs = torch.linspace(-3, 3, 7, dtype=torch.float64)[:, None, None]
    factors = torch.distributions.Normal(means[None], variances[None].sqrt()).log_prob(xs[..., None, :])
    product = torch.distributions.Normal(mean, var.sqrt()).log_prob(xs)
    gap = factors.sum(-2) - product  # (x, batch, d): constant along x
    torch.testing.assert_close(gap, gap[:1].expand_as(gap))
    # And a hand value for batch 0, dimension 1.
    p = (1 / variances[0, :, 1]).sum()
    assert var[0, 1].item() == pytest.approx(1 / p.item())
    assert mean[0, 1].item() == pytest.approx(((means[0, :, 1] / variances[0, :, 1]).sum() / p).item())


def test_kl_to_the_unit_gaussian_matches_the_closed_form():
    # KL(N(1, 1) ‖ N(0, 1)) = ½; KL(N(0, e) ‖ N(0, 1)) = ½ (e − 1 − 1).
    kl = pearl.kl_to_unit_gaussian(torch.tensor([1.0, 0.0]), torch.tensor([1.0, math.e]))
    assert kl.item() == pytest.approx(0.5 + 0.5 * (math.e - 2.0))
    gen = torch.Generator().manual_seed(1)
    mean = torch.randn(4, 5, generator=gen, dtype=torch.float64)
    var = torch.rand(4, 5, generator=gen, dtype=torch.float64) + 0.05
    expected = torch.distributions.kl_divergence(
        torch.distributions.Normal(mean, var.sqrt()), torch.distributions.Normal(0.0, 1.0)
    ).sum(-1)
    torch.testing.assert_close(pearl.kl_to_unit_gaussian(mean, var), expected)
    assert pearl.kl_to_unit_gaussian(torch.zeros(3), torch.ones(3)).item() == 0.0


def test_posterior_narrows_as_context_grows_and_is_the_prior_without_context():
    torch.manual_seed(0)
    encoder = pearl.ContextEncoder(transition_size=5, latent_size=3, hidden=(16, 16))
    context = torch.randn(1, 12, 5)
    mean, var = encoder.posterior(context[:, :0])
    assert torch.equal(mean, torch.zeros(1, 3)) and torch.equal(var, torch.ones(1, 3))
    variances = torch.stack([encoder.posterior(context[:, :n])[1][0] for n in range(1, 13)])
    assert (variances[1:] < variances[:-1]).all()  # every dimension, every added transition
    # The encoder's factors are the network's outputs, softplus for the variance.
    with torch.no_grad():
        out = encoder.net(context[0, :4])
    expected = pearl.product_of_gaussians(out[:, :3], torch.nn.functional.softplus(out[:, 3:]))
    torch.testing.assert_close(encoder.posterior(context[:, :4]), (expected[0][None], expected[1][None]))


# -- posterior sampling at meta-test time --------------------------------------------------------


class SpyAgent(pearl.PEARLAgent):
    """Records, at every step, whether z was drawn there, the z acted on, and the transitions."""

    def reset(self, rng) -> None:
        super().reset(rng)
        self.log: list[tuple[bool, torch.Tensor]] = []
        self.transitions: list[Transition] = []

    def act(self, obs, rng):
        drawing = self.z is None
        action = super().act(obs, rng)
        self.log.append((drawing, self.z.clone()))
        return action

    def observe(self, transition: Transition) -> None:
        self.transitions.append(transition)
        super().observe(transition)


def _random_agent(env_id: str, agent_class=pearl.PEARLAgent, **changes) -> pearl.PEARLAgent:
    env = gym.make(env_id)
    config = dataclasses.replace(TINY, env_id=env_id, **changes)
    obs_dim, act_dim = gym.spaces.flatdim(env.observation_space), gym.spaces.flatdim(env.action_space)
    torch.manual_seed(3)
    nets = pearl.PEARLNetworks(obs_dim, act_dim, config)
    info = EnvInfo(
        env_id,
        {},
        type(env.unwrapped),
        env.observation_space,
        env.action_space,
        env.spec.max_episode_steps,
        env.unwrapped.default_protocol,
    )
    return agent_class(nets, config, info, meta_train_steps=0)


def test_agent_holds_z_for_an_episode_and_updates_the_posterior_after_it():
    spies: list[SpyAgent] = []

    def factory(info: EnvInfo) -> SpyAgent:
        spies.append(_random_agent("MetaNavigation2D-v0", SpyAgent))
        return spies[-1]

    protocol = gym.make("MetaNavigation2D-v0").unwrapped.default_protocol.replace(
        rounds=2, episodes_per_round=2
    )
    evaluate(factory, "MetaNavigation2D-v0", seeds=1, protocol=protocol, task_indices=[1])
    spy = spies[-1]
    assert len(spy.transitions) == len(spy.log) > 4
    ends = [i for i, t in enumerate(spy.transitions) if t.done]
    starts = [0] + [i + 1 for i in ends[:-1]]
    assert len(starts) == 4  # 2 rounds × 2 episodes, within one trial
    for start, end in zip(starts, ends):
        drawing, z = spy.log[start]
        assert drawing  # a new z at the episode's start ...
        for step in range(start + 1, end + 1):  # ... held fixed for the whole episode
            assert not spy.log[step][0] and torch.equal(spy.log[step][1], z)
    # The z of each episode is mean + σ ε from the posterior given every earlier transition of
    # the trial (recomputed here from the transitions), ε the agent's draw from the episode rng.
    zs, posteriors = [], []
    for episode, start in enumerate(starts):
        rows = [
            np.concatenate([t.obs, (np.asarray(t.action) + 0.1) / 0.1 - 1.0, [t.reward], t.next_obs])
            for t in spy.transitions[:start]
        ]  # [s, a in [-1, 1], r, s'] (the ci config puts s' in the context)
        assert spy.config.use_next_obs_in_context
        context = torch.as_tensor(np.array(rows, np.float32).reshape(1, start, 7))
        with torch.no_grad():
            mean, var = spy.nets.encoder.posterior(context)
        if episode == 0:
            assert torch.equal(mean, torch.zeros(1, 2)) and torch.equal(var, torch.ones(1, 2))
        else:
            assert (var < 1.0).all() and not torch.equal(mean, torch.zeros(1, 2))  # updated
        zs.append(spy.log[start][1])
        posteriors.append((mean[0], var[0]))
    # Replay the agent's noise: episode e's rng is the harness's; the same ε turns each
    # recomputed posterior into the z the agent acted on.
    for episode, z in enumerate(zs):
        r, e = divmod(episode, 2)
        _, rng = unit_seeds(0, 1, r, e)
        eps = torch.as_tensor(rng.standard_normal(2), dtype=torch.float32)
        mean, var = posteriors[episode]
        torch.testing.assert_close(z, mean + var.sqrt() * eps)


def test_agent_restarts_from_the_prior_on_a_new_trial():
    agent = _random_agent("MetaNavigation2D-v0")
    rng = np.random.default_rng(0)
    agent.reset(rng)
    obs = np.zeros(2, np.float32)
    agent.act(obs, rng)
    agent.observe(Transition(obs, np.zeros(2, np.float32), -1.0, obs, False, True, 0, 0))
    assert agent.z is None and len(agent.context) == 1
    agent.reset(rng)
    assert agent.z is None and agent.context == []


# -- sparse rewards --------------------------------------------------------------------------------


@pytest.mark.parametrize("dense_for_rl", [True, False])
def test_sparse_navigation_context_holds_the_env_reward_and_the_critic_what_the_config_says(dense_for_rl):
    config = dataclasses.replace(TINY, env_id="MetaNavigation2DSparse-v0", dense_rewards_for_rl=dense_for_rl)
    trainer = pearl.PEARL(config)
    trainer.collect(0, 40, use_posterior=False, to_encoder=True, rng=np.random.default_rng(0))
    goal = np.array(trainer.tasks[0].goal)
    for buffer in (trainer.rl_buffers[0], trainer.encoder_buffers[0]):
        data = {k: v[: buffer.size] for k, v in buffer.data.items()}
        distance = np.linalg.norm(data["next_obs"].astype(np.float64) - goal, axis=1)
        sparse = np.where(distance <= 0.2, 1.0 - distance, 0.0)
        np.testing.assert_allclose(data["rewards"], sparse, atol=1e-6)  # what the encoder sees
        np.testing.assert_allclose(data["rl_rewards"], -distance if dense_for_rl else sparse, atol=1e-6)


def test_sparse_paper_config_follows_pearls_sparse_point_robot():
    config = pearl.CONFIGS[("MetaNavigation2DSparse-v0", "paper")]
    assert config.dense_rewards_for_rl  # the critic learns from the dense reward, as in oyster
    assert (config.num_train_tasks, config.kl_lambda, config.reward_scale, config.discount) == (
        80,
        1.0,
        100.0,
        0.9,
    )
    assert (config.embedding_batch_size, config.num_steps_posterior, config.num_steps_prior) == (
        1024,
        900,
        100,
    )
    assert pearl.PEARL(dataclasses.replace(config, num_train_tasks=1)).max_path_length == 20


# -- configs ---------------------------------------------------------------------------------------

# Typed from ``katerakelly/oyster`` ``configs/*.json`` over ``configs/default.py``:
# (n_train_tasks, n_eval_tasks, meta_batch, embedding_batch_size, num_train_steps_per_itr,
#  num_steps_prior, num_extra_rl_steps_posterior, use_next_obs_in_context)
OYSTER = {
    "MetaHalfCheetahVel-v0": (100, 30, 16, 100, 2000, 400, 600, False),
    "MetaHalfCheetahDir-v0": (2, 2, 4, 256, 2000, 1000, 1000, False),
    "MetaAntDir2D-v0": (2, 2, 4, 256, 4000, 400, 600, False),
    "MetaHumanoidDir-v0": (100, 30, 16, 256, 4000, 400, 600, False),
    "MetaWalker2dParams-v0": (40, 10, 10, 100, 4000, 400, 600, True),
}


@pytest.mark.parametrize("env_id", sorted(OYSTER))
def test_paper_configs_are_pearls(env_id):
    config = pearl.CONFIGS[(env_id, "paper")]
    got = (
        config.num_train_tasks,
        config.num_eval_tasks,
        config.meta_batch,
        config.embedding_batch_size,
        config.num_train_steps_per_itr,
        config.num_steps_prior,
        config.num_extra_rl_steps_posterior,
        config.use_next_obs_in_context,
    )
    assert got == OYSTER[env_id]
    # default.py: latent 5, KL weight 0.1, RL batch 256, 2000 initial steps, 3 × 300 networks.
    assert (config.latent_size, config.kl_lambda, config.batch_size, config.num_initial_steps) == (
        5,
        0.1,
        256,
        2000,
    )
    assert (config.hidden, config.reward_scale, config.discount, config.num_iterations) == (
        (300,) * 3,
        5.0,
        0.99,
        500,
    )
    assert config.env_id == env_id
    gym.make(env_id)  # registered


# -- device --------------------------------------------------------------------------------------


def test_device_cpu_is_honoured_and_an_unavailable_device_is_a_clear_error():
    trainer = pearl.PEARL(dataclasses.replace(TINY, device="cpu"))
    assert {p.device.type for p in trainer.nets.parameters()} == {"cpu"}
    with pytest.raises(ValueError, match="expected 'cpu', 'cuda'"):
        pearl.resolve_device("tpu-please")
    if torch.cuda.is_available():
        trainer = pearl.PEARL(dataclasses.replace(TINY, device="cuda"))
        assert {p.device.type for p in trainer.nets.parameters()} == {"cuda"}
        trainer.train_iteration()
    else:
        with pytest.raises(ValueError, match="CUDA is not available"):
            pearl.PEARL(dataclasses.replace(TINY, device="cuda"))


def test_cli_reports_an_unavailable_device(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    code = main(["train", "pearl", "--env", "MetaNavigation2D-v0", "--config", "ci", "--out", str(tmp_path / "r"),
                 "--device", "cuda"])  # fmt: skip
    assert code == 1
    assert "CUDA is not available" in capsys.readouterr().out
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


# -- resume ----------------------------------------------------------------------------------------


def _tiny(tmp_path, name, **kw):
    overrides = {k: v for k, v in dataclasses.asdict(TINY).items() if k not in ("env_id", "seed")}
    return train("pearl", "MetaNavigation2D-v0", "ci", tmp_path / name, overrides=overrides,
                 console=QUIET, tensorboard=False, **kw)  # fmt: skip


def test_resumed_run_equals_an_unbroken_one(tmp_path):
    whole = _tiny(tmp_path, "whole")
    _tiny(tmp_path, "split", stop_after=2)
    assert load_checkpoint(tmp_path / "split")["algorithm"]["iteration"] == 2
    resumed = _tiny(tmp_path, "split", resume=True)
    assert resumed.iteration == whole.iteration == 4 and resumed.env_steps == whole.env_steps
    for (key, a), b in zip(whole.nets.state_dict().items(), resumed.nets.state_dict().values()):
        assert torch.equal(a, b), key
    for a, b in zip(whole.rl_buffers + whole.encoder_buffers, resumed.rl_buffers + resumed.encoder_buffers):
        assert a.size == b.size and a.next == b.next
        for key in a.data:
            np.testing.assert_array_equal(a.data[key][: a.size], b.data[key][: b.size])
    rows = [(tmp_path / d / "progress.csv").read_text().splitlines() for d in ("whole", "split")]
    strip = lambda lines: [",".join(x for x in line.split(",")[:-3]) for line in lines]  # noqa: E731 - times
    assert strip(rows[0]) == strip(rows[1]) and len(rows[0]) == 5


# -- learning --------------------------------------------------------------------------------------


def test_ci_config_learns_to_adapt_on_held_out_navigation_tasks(tmp_path):
    """``metabench train pearl --config ci`` then the harness, on the 40 held-out goals: the
    episodes after the context episodes beat the first one (z from the prior), paired over tasks,
    and beat Random by more than 3 standard errors. Measured with training seeds 1-3 (this test
    uses 0): the gain over the first episode is 3.0-4.0 paired standard errors, the margin over
    Random 5.9-7.8 standard errors (docs/reproductions/pearl.md)."""
    env_id = "MetaNavigation2D-v0"
    train("pearl", env_id, "ci", tmp_path / "run", console=QUIET, tensorboard=False)
    protocol = gym.make(env_id).unwrapped.default_protocol.replace(rounds=2, episodes_per_round=3)
    result = evaluate(str(tmp_path / "run"), seeds=1, protocol=protocol)
    random = evaluate("random", env_id, seeds=1, protocol=protocol)
    returns = result.returns()[0]  # (tasks, rounds, episodes)
    scored, first = result.headline_scores()[0], returns[:, 0, 0]
    baseline = random.headline_scores()[0]
    assert len(scored) == 40
    se = lambda x: x.std(ddof=1) / math.sqrt(len(x))  # noqa: E731
    gain = scored - first
    assert gain.mean() > 2 * se(gain), (first.mean(), scored.mean())  # clearly, not by chance
    assert scored.mean() - baseline.mean() > 3 * math.hypot(se(scored), se(baseline)), (
        scored.mean(),
        baseline.mean(),
    )
