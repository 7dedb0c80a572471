"""Reference agents: what a meta-learner's score is read against.

* ``random``: uniform actions, on any family.
* ``oracle``: given the task (privileged: the harness appends it to the observation with
  :class:`metabench.TaskInObservation`). Not a meta-learner: an upper reference that no agent
  which must infer the task can reach. Bandits: the best arm; tabular MDPs: the optimal
  policy of the known MDP (finite-horizon value iteration); navigation and grid navigation:
  the straight-to-goal controller (also named ``straight-to-goal``).
* Bandits (RL²'s Table 1): ``thompson`` (Beta(1, 1) prior), ``ucb1`` (c = √2, each arm once
  first), ``greedy`` (highest posterior mean, ties at random) and ``bayes-optimal``: the exact
  Bayes-optimal policy for the trial's known length, by dynamic programming over the Beta
  posteriors. It is the true ceiling of any meta-learner on the family's task law (arms
  i.i.d. U(0, 1) = Beta(1, 1)).
* Tabular MDPs (RL²'s Table 2): ``psrl`` (posterior sampling, Osband et al. 2013: an MDP drawn
  from the posterior at each episode's start, solved, followed) and ``greedy`` (the same with
  the posterior-mean MDP), with the family's own prior: mean rewards N(1, 1), unit reward
  noise, Dirichlet(1) transitions.

Every agent draws its randomness from the generators the harness hands it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
from gymnasium import spaces

from metabench.envs.bandit import Bandit
from metabench.envs.grid_navi import MOVES, GridNavi
from metabench.envs.navigation import Navigation2D
from metabench.envs.tabular_mdp import TabularMDP
from metabench.evaluation.agent import Agent, AgentLoadError, EnvInfo, Transition
from metabench.protocol import Protocol

__all__ = [
    "REFERENCE_AGENTS",
    "BayesOptimalBandit",
    "GreedyBandit",
    "OracleBandit",
    "OracleGridNavi",
    "OracleTabularMDP",
    "RandomAgent",
    "StraightToGoal",
    "TabularMDPPosteriorAgent",
    "ThompsonBandit",
    "UCB1Bandit",
    "analytic_bounds",
    "bayes_optimal_bandit_value",
    "bayes_optimal_state_count",
    "space_sampler",
]


# -- random -------------------------------------------------------------------------------------


def space_sampler(space: spaces.Space) -> Callable[[np.random.Generator], Any]:
    """A function drawing a uniform element of ``space`` from a given generator.

    Bounded ``Box`` dimensions are uniform; unbounded ones standard normal, half-bounded ones
    shifted exponentials (as gymnasium's ``Box.sample``).
    """
    if isinstance(space, spaces.Discrete):
        n, start = int(space.n), int(space.start)
        return lambda rng: start + int(rng.integers(n))
    if isinstance(space, spaces.Box):
        low, high = space.low.astype(np.float64), space.high.astype(np.float64)
        if space.is_bounded("both"):
            if np.issubdtype(space.dtype, np.integer):
                return lambda rng: rng.integers(low, high + 1).astype(space.dtype)
            span, shape = high - low, space.shape
            return lambda rng: low + span * rng.random(shape)  # 4× faster than rng.uniform(low, high)
        lower, upper = np.isfinite(low), np.isfinite(high)

        def sample(rng: np.random.Generator) -> np.ndarray:
            out = rng.standard_normal(space.shape)
            both = lower & upper
            out[both] = rng.uniform(low[both], high[both])
            out[lower & ~upper] = low[lower & ~upper] + rng.exponential(size=int((lower & ~upper).sum()))
            out[~lower & upper] = high[~lower & upper] - rng.exponential(size=int((~lower & upper).sum()))
            return out

        return sample
    if isinstance(space, spaces.MultiDiscrete):
        nvec, start = space.nvec, space.start
        return lambda rng: (start + rng.integers(nvec)).astype(space.dtype)
    if isinstance(space, spaces.MultiBinary):
        return lambda rng: rng.integers(2, size=space.shape).astype(space.dtype)
    raise AgentLoadError(f"random agent: cannot sample actions from {space}")


class RandomAgent(Agent):
    """Uniformly random actions."""

    name = "random"

    def __init__(self, action_space: spaces.Space) -> None:
        self._sample = space_sampler(action_space)

    def act(self, obs: Any, rng: np.random.Generator) -> Any:
        return self._sample(rng)


# -- bandits ------------------------------------------------------------------------------------


class _BanditAgent(Agent):
    """Keeps per-arm success and failure counts over the trial."""

    def __init__(self, info: EnvInfo) -> None:
        self.num_arms = int(info.action_space.n)
        self.successes = np.zeros(self.num_arms, dtype=np.int64)
        self.failures = np.zeros(self.num_arms, dtype=np.int64)

    def reset(self, rng: np.random.Generator) -> None:
        self.successes[:] = 0
        self.failures[:] = 0

    def observe(self, transition: Transition) -> None:
        if transition.reward > 0:
            self.successes[transition.action] += 1
        else:
            self.failures[transition.action] += 1


def _argmax_random_tie(values: np.ndarray, rng: np.random.Generator) -> int:
    best = np.flatnonzero(values == values.max())
    return int(best[0] if best.size == 1 else best[rng.integers(best.size)])


class ThompsonBandit(_BanditAgent):
    """Thompson sampling with a Beta(1, 1) prior on each arm (Thompson 1933)."""

    name = "thompson"

    def act(self, obs: Any, rng: np.random.Generator) -> int:
        return int(np.argmax(rng.beta(self.successes + 1.0, self.failures + 1.0)))


class UCB1Bandit(_BanditAgent):
    """UCB1 (Auer et al. 2002): each arm once, then ``argmax mean + c √(ln t / n_i)``, c = √2."""

    name = "ucb1"
    c = math.sqrt(2.0)

    def act(self, obs: Any, rng: np.random.Generator) -> int:
        pulls = self.successes + self.failures
        untried = np.flatnonzero(pulls == 0)
        if untried.size:
            return int(untried[0])
        bonus = self.c * np.sqrt(math.log(pulls.sum()) / pulls)
        return int(np.argmax(self.successes / pulls + bonus))


class GreedyBandit(_BanditAgent):
    """Pull the arm of highest posterior mean (Beta(1, 1) prior); ties broken at random."""

    name = "greedy"

    def act(self, obs: Any, rng: np.random.Generator) -> int:
        means = (self.successes + 1.0) / (self.successes + self.failures + 2.0)
        return _argmax_random_tie(means, rng)


#: Largest number of posterior states the exact Bayes-optimal bandit may tabulate (about 10 s
#: and 200 MB of Python dictionary).
BAYES_OPTIMAL_MAX_STATES = 1_000_000


def bayes_optimal_state_count(num_arms: int, horizon: int) -> int:
    """How many posterior states (multisets of ``num_arms`` (successes, failures) pairs with
    at most ``horizon`` pulls in all) the dynamic programme visits."""
    # counts[j][t]: multisets of j pairs with t pulls in all; each pair (s, f) may repeat.
    counts = [[0] * (horizon + 1) for _ in range(num_arms + 1)]
    counts[0][0] = 1
    for pulls in range(horizon + 1):
        for _ in range(pulls + 1):  # the pairs (s, f) with s + f = pulls
            for j in range(1, num_arms + 1):
                row, previous = counts[j], counts[j - 1]
                for t in range(pulls, horizon + 1):
                    row[t] += previous[t - pulls]
    return sum(counts[num_arms])


@lru_cache(maxsize=8)
def _bayes_optimal_table(num_arms: int, horizon: int) -> dict[tuple, float]:
    """Expected future reward of every posterior state under the Bayes-optimal policy.

    A state is the sorted multiset of per-arm (successes, failures): arms are exchangeable
    under the i.i.d. Beta(1, 1) prior, so the value depends on nothing else, and sorting
    shrinks the table by up to ``num_arms!``.
    """
    states = bayes_optimal_state_count(num_arms, horizon)
    if states > BAYES_OPTIMAL_MAX_STATES:
        raise AgentLoadError(
            f"bayes-optimal: {num_arms} arms × {horizon} pulls has {states:,} posterior states, "
            f"more than the {BAYES_OPTIMAL_MAX_STATES:,} it tabulates; use a shorter trial"
        )
    values: dict[tuple, float] = {}

    def value(state: tuple) -> float:
        found = values.get(state)
        if found is not None:
            return found
        if sum(s + f for s, f in state) == horizon:
            values[state] = 0.0
            return 0.0
        best = 0.0
        for i, (s, f) in enumerate(state):
            if i and state[i - 1] == (s, f):
                continue  # an identical arm: the same value
            p = (s + 1.0) / (s + f + 2.0)
            rest = state[:i] + state[i + 1 :]
            win = tuple(sorted(rest + ((s + 1, f),)))
            loss = tuple(sorted(rest + ((s, f + 1),)))
            best = max(best, p * (1.0 + value(win)) + (1.0 - p) * value(loss))
        values[state] = best
        return best

    value(((0, 0),) * num_arms)
    return values


def bayes_optimal_bandit_value(num_arms: int, horizon: int) -> float:
    """The exact expected total reward of the Bayes-optimal agent over ``horizon`` pulls of a
    ``num_arms``-armed bandit with arms i.i.d. U(0, 1)."""
    return _bayes_optimal_table(num_arms, horizon)[((0, 0),) * num_arms]


class BayesOptimalBandit(_BanditAgent):
    """The Bayes-optimal agent for a trial of known length (the protocol's episode count)."""

    name = "bayes-optimal"

    def __init__(self, info: EnvInfo) -> None:
        super().__init__(info)
        self.horizon = info.protocol.episodes
        self._values = _bayes_optimal_table(self.num_arms, self.horizon)

    def act(self, obs: Any, rng: np.random.Generator) -> int:
        pairs = list(zip(self.successes.tolist(), self.failures.tolist()))
        q = np.empty(self.num_arms)
        for arm, (s, f) in enumerate(pairs):
            p = (s + 1.0) / (s + f + 2.0)
            rest = pairs[:arm] + pairs[arm + 1 :]
            win = self._values[tuple(sorted(rest + [(s + 1, f)]))]
            loss = self._values[tuple(sorted(rest + [(s, f + 1)]))]
            q[arm] = p * (1.0 + win) + (1.0 - p) * loss
        # Exchangeable arms give exactly equal values; tiny float noise must not break ties.
        best = np.flatnonzero(q >= q.max() - 1e-12)
        return int(best[0] if best.size == 1 else best[rng.integers(best.size)])


class OracleBandit(Agent):
    """Given the arm probabilities (privileged): always pull the best arm."""

    name = "oracle"

    def __init__(self, info: EnvInfo) -> None:
        self.num_arms = int(info.action_space.n)

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> int:
        return int(np.argmax(obs[-self.num_arms :]))


# -- tabular MDPs -------------------------------------------------------------------------------


def plan_finite_horizon(
    means: np.ndarray, transitions: np.ndarray, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """Backward induction on a known MDP.

    Args:
        means: mean rewards ``(S, A)``; transitions: ``(S, A, S)``.

    Returns:
        The optimal time-dependent policy ``(horizon, S)`` and the optimal values ``(S,)`` at
        the first step.
    """
    value = np.zeros(means.shape[0])
    policy = np.empty((horizon, means.shape[0]), dtype=np.int64)
    for t in range(horizon - 1, -1, -1):
        q = means + transitions @ value
        policy[t] = np.argmax(q, axis=1)
        value = q.max(axis=1)
    return policy, value


def evaluate_policy(
    means: np.ndarray, transitions: np.ndarray, horizon: int, policy: np.ndarray | None = None
) -> np.ndarray:
    """Expected return from each start state over ``horizon`` steps; ``policy`` ``(H, S)``, or
    ``None`` for uniformly random actions."""
    value = np.zeros(means.shape[0])
    states = np.arange(means.shape[0])
    for t in range(horizon - 1, -1, -1):
        q = means + transitions @ value
        value = q.mean(axis=1) if policy is None else q[states, policy[t]]
    return value


class _TabularAgent(Agent):
    """Counts what it saw; plans at every episode's start; follows the plan.

    The prior: Dirichlet(1) transitions (the family's law), mean rewards N(0, 1) with known
    unit reward noise: the conventional PSRL prior (Osband et al. 2013), with which the
    simulated references of REFERENCE.md were computed. The family's own law has mean
    rewards N(1, 1); PSRL with that prior explores more and scores less at n = 10 (about 135
    against 139).
    """

    prior_mean, prior_precision, noise_precision = 0.0, 1.0, 1.0

    def __init__(self, info: EnvInfo) -> None:
        self.num_states = int(info.observation_space.n)
        self.num_actions = int(info.action_space.n)
        self.horizon = int(info.max_episode_steps)
        self.counts = np.zeros((self.num_states, self.num_actions, self.num_states))
        self.reward_sums = np.zeros((self.num_states, self.num_actions))
        self._policy: np.ndarray | None = None
        self._t = 0

    def reset(self, rng: np.random.Generator) -> None:
        self.counts[:] = 0.0
        self.reward_sums[:] = 0.0
        self._policy = None
        self._t = 0

    def observe(self, transition: Transition) -> None:
        s, a = transition.obs, transition.action
        self.counts[s, a, transition.next_obs] += 1.0
        self.reward_sums[s, a] += transition.reward
        self._t += 1
        if transition.done:
            self._policy, self._t = None, 0

    def _posterior(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Posterior over mean rewards (mean, precision) and Dirichlet parameters."""
        visits = self.counts.sum(axis=-1)
        precision = self.prior_precision + self.noise_precision * visits
        mean = (self.prior_precision * self.prior_mean + self.noise_precision * self.reward_sums) / precision
        return mean, precision, 1.0 + self.counts

    def _model(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def act(self, obs: Any, rng: np.random.Generator) -> int:
        if self._policy is None:
            means, transitions = self._model(rng)
            self._policy, _ = plan_finite_horizon(means, transitions, self.horizon)
        return int(self._policy[min(self._t, self.horizon - 1), obs])


class TabularMDPPosteriorAgent(_TabularAgent):
    """PSRL: at each episode's start, an MDP drawn from the posterior, solved and followed."""

    name = "psrl"

    def _model(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        mean, precision, alpha = self._posterior()
        means = mean + rng.standard_normal(mean.shape) / np.sqrt(precision)
        gammas = rng.standard_gamma(alpha)
        return means, gammas / gammas.sum(axis=-1, keepdims=True)


class TabularMDPGreedy(_TabularAgent):
    """Greedy (certainty equivalence): the posterior-mean MDP, solved again after every step
    and followed; no exploration beyond what the prior's optimism gives."""

    name = "greedy"

    def observe(self, transition: Transition) -> None:
        super().observe(transition)
        self._policy = None

    def _model(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        mean, _, alpha = self._posterior()
        return mean, alpha / alpha.sum(axis=-1, keepdims=True)


class OracleTabularMDP(Agent):
    """Given the MDP (privileged): its optimal finite-horizon policy."""

    name = "oracle"

    def __init__(self, info: EnvInfo) -> None:
        self.num_states = int(info.base_observation_space.n)
        self.num_actions = int(info.action_space.n)
        self.horizon = int(info.max_episode_steps)
        self._policy: np.ndarray | None = None
        self._t = 0

    def reset(self, rng: np.random.Generator) -> None:
        self._policy, self._t = None, 0

    def observe(self, transition: Transition) -> None:
        self._t = 0 if transition.done else self._t + 1

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> int:
        # The observation is [one-hot state (S), mean rewards (S·A), transitions (S·A·S)].
        S, A = self.num_states, self.num_actions
        if self._policy is None:
            task = np.asarray(obs[S:], dtype=np.float64)
            means = task[: S * A].reshape(S, A)
            transitions = task[S * A :].reshape(S, A, S)
            self._policy, _ = plan_finite_horizon(means, transitions, self.horizon)
        return int(self._policy[self._t, int(np.argmax(obs[:S]))])


# -- navigation ---------------------------------------------------------------------------------


class StraightToGoal(Agent):
    """Given the goal (privileged): move straight at it at full speed, then stay."""

    name = "oracle"

    def __init__(self, info: EnvInfo) -> None:
        self.max_step = np.asarray(info.action_space.high, dtype=np.float64)

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        return np.clip(obs[2:4] - obs[0:2], -self.max_step, self.max_step)


class OracleGridNavi(Agent):
    """Given the goal cell (privileged): walk to it along x, then y, then stay."""

    name = "oracle"

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> int:
        dx, dy = np.sign(np.asarray(obs[2:4]) - np.asarray(obs[0:2])).astype(int)
        move = (int(dx), 0) if dx else (0, int(dy))
        return int(np.flatnonzero((move == MOVES).all(axis=1))[0])


# -- the registry -------------------------------------------------------------------------------


def _for_families(name: str, table: dict[type, Callable[[EnvInfo], Agent]], privileged: bool = False):
    """A factory that picks the implementation for the evaluated family (most derived first)."""

    def factory(info: EnvInfo) -> Agent:
        for family, make in table.items():
            if issubclass(info.family, family):
                agent = make(info)
                agent.name = name
                return agent
        supported = ", ".join(f.__name__ for f in table)
        raise AgentLoadError(
            f"reference agent {name!r} supports the families {supported}; {info.env_id} is a "
            f"{info.family.__name__}"
        )

    factory.__name__ = factory.__qualname__ = name.replace("-", "_")
    factory.privileged = privileged  # type: ignore[attr-defined]
    factory.families = tuple(table)  # type: ignore[attr-defined]
    return factory


def random_agent(info: EnvInfo) -> Agent:
    """The uniformly random agent, on any family."""
    return RandomAgent(info.action_space)


_STRAIGHT = {Navigation2D: StraightToGoal, GridNavi: lambda info: OracleGridNavi()}

#: Reference agents by name: ``name -> factory(EnvInfo)``.
REFERENCE_AGENTS: dict[str, Callable[[EnvInfo], Agent]] = {
    "random": random_agent,
    "oracle": _for_families(
        "oracle", {Bandit: OracleBandit, TabularMDP: OracleTabularMDP, **_STRAIGHT}, privileged=True
    ),
    "straight-to-goal": _for_families("straight-to-goal", _STRAIGHT, privileged=True),
    "thompson": _for_families("thompson", {Bandit: ThompsonBandit}),
    "ucb1": _for_families("ucb1", {Bandit: UCB1Bandit}),
    "greedy": _for_families("greedy", {Bandit: GreedyBandit, TabularMDP: TabularMDPGreedy}),
    "bayes-optimal": _for_families("bayes-optimal", {Bandit: BayesOptimalBandit}),
    "psrl": _for_families("psrl", {TabularMDP: TabularMDPPosteriorAgent}),
}


# -- exact reference values ---------------------------------------------------------------------


def analytic_bounds(family: type, task: Any, protocol: Protocol, horizon: int) -> tuple[float, float] | None:
    """Expected headline score of the random agent and of the oracle on ``task``, exactly,
    where the family allows it (bandits, tabular MDPs); ``None`` elsewhere."""
    if issubclass(family, Bandit):
        probs = np.asarray(task.probs)
        per_episode = (float(probs.mean()), float(probs.max()))
    elif issubclass(family, TabularMDP):
        means, transitions = np.asarray(task.mean_rewards), np.asarray(task.transitions)
        _, best = plan_finite_horizon(means, transitions, horizon)
        per_episode = (float(evaluate_policy(means, transitions, horizon)[0]), float(best[0]))
    else:
        return None
    scale = len(protocol.scored_rounds) * protocol.episodes_per_round
    if protocol.headline == "mean_return":
        scale = 1
    return per_episode[0] * scale, per_episode[1] * scale
