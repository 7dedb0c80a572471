"""Score your own agent with the metabench harness: the whole of it (README example).

python examples/user_agent.py
PYTHONPATH=examples metabench evaluate user_agent:make_agent --env MetaBandit-v0
"""

import numpy as np

from metabench.evaluation import Agent, evaluate


class EpsilonGreedy(Agent):
    """ε-greedy on each arm's running mean reward, for bandits."""

    name = "epsilon-greedy"

    def __init__(self, num_arms: int, epsilon: float = 0.1) -> None:
        self.num_arms, self.epsilon = num_arms, epsilon

    def reset(self, rng):  # a new task: forget everything
        self.pulls, self.totals = np.zeros(self.num_arms), np.zeros(self.num_arms)

    def act(self, obs, rng):  # all randomness from the rng the harness gives
        if not self.pulls.all() or rng.random() < self.epsilon:
            return int(rng.integers(self.num_arms))
        return int(np.argmax(self.totals / self.pulls))

    def observe(self, t):  # t.obs, t.action, t.reward, t.next_obs, t.done, t.round, t.episode
        self.pulls[t.action] += 1
        self.totals[t.action] += t.reward


def make_agent(info):  # info: spaces, horizon, protocol; never the task
    return EpsilonGreedy(info.action_space.n)


if __name__ == "__main__":
    result = evaluate(make_agent, "MetaBandit-v0", seeds=5, out="epsilon-greedy.json")
    print(f"mean total reward over 10 pulls: {result.headline_scores().mean():.2f}")
