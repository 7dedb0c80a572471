"""The evaluation protocol: how many episodes an agent gets on a task, and what is scored.

This module is low in the import graph on purpose: every family declares its default protocol
(``MetaEnv.default_protocol``) with it, and families never import the evaluation harness
(:mod:`metabench.evaluation`), which runs protocols.

A *trial* is what one agent does on one held-out task for one seed: ``rounds`` rounds of
``episodes_per_round`` consecutive episodes on the same task. After each round the agent is
given the chance to adapt (a gradient step for MAML; recurrent and context methods may do
nothing there and adapt within the round). The headline score of a trial aggregates the
returns of its scored rounds.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

__all__ = ["HEADLINES", "LOCOMOTION", "Protocol"]

#: How the headline score aggregates the returns of the scored rounds.
#: ``"mean_return"``: the mean episode return (locomotion: "the final round's mean return");
#: ``"cumulative_return"``: the total return over every scored episode (RL²'s tables).
HEADLINES = ("mean_return", "cumulative_return")


@dataclass(frozen=True)
class Protocol:
    """An evaluation protocol.

    Attributes:
        rounds: rounds per trial (≥ 1). The agent may adapt after each round.
        episodes_per_round: consecutive episodes in each round (≥ 1).
        scored_rounds: the rounds (0-based) whose episodes count towards the headline score.
        headline: ``"mean_return"`` or ``"cumulative_return"`` over the scored episodes.
        split: the held-out split evaluated (a name in the family's ``test_splits``).
        source: where the protocol comes from (papers, code), one line.
    """

    rounds: int
    episodes_per_round: int
    scored_rounds: tuple[int, ...]
    headline: Literal["mean_return", "cumulative_return"] = "mean_return"
    split: str = "test"
    source: str = ""

    def __post_init__(self) -> None:
        for name in ("rounds", "episodes_per_round"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"Protocol.{name}: expected an integer >= 1, got {value!r}")
            object.__setattr__(self, name, int(value))
        scored = self.scored_rounds
        if isinstance(scored, (str, bytes)) or not hasattr(scored, "__iter__"):
            raise ValueError(f"Protocol.scored_rounds: expected a sequence of round indices, got {scored!r}")
        scored = tuple(scored)
        bad = [
            r
            for r in scored
            if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or not 0 <= r < self.rounds
        ]
        if not scored or bad or len(set(scored)) != len(scored):
            raise ValueError(
                f"Protocol.scored_rounds: expected distinct round indices in [0, {self.rounds}), "
                f"at least one, got {self.scored_rounds!r}"
            )
        object.__setattr__(self, "scored_rounds", tuple(sorted(int(r) for r in scored)))
        if self.headline not in HEADLINES:
            raise ValueError(f"Protocol.headline: expected one of {HEADLINES}, got {self.headline!r}")
        if not isinstance(self.split, str) or not self.split:
            raise ValueError(f"Protocol.split: expected a split name, got {self.split!r}")
        if not isinstance(self.source, str):
            raise ValueError(f"Protocol.source: expected a string, got {self.source!r}")

    @property
    def episodes(self) -> int:
        """Episodes per trial."""
        return self.rounds * self.episodes_per_round

    def score(self, returns: Any) -> float:
        """The headline score of one trial.

        Args:
            returns: episode returns of shape ``(rounds, episodes_per_round)``.
        """
        scored = np.asarray(returns, dtype=np.float64)[list(self.scored_rounds)]
        total = math.fsum(scored.ravel().tolist())
        return total if self.headline == "cumulative_return" else total / scored.size

    def replace(self, **changes: Any) -> Protocol:
        """A copy with ``changes``. When ``rounds`` changes and ``scored_rounds`` is not given,
        a protocol that scored every round still scores every round; any other scores the last."""
        fields = {**asdict(self), **changes}
        if "rounds" in changes and "scored_rounds" not in changes:
            every = self.scored_rounds == tuple(range(self.rounds))
            rounds = fields["rounds"]
            fields["scored_rounds"] = tuple(range(rounds)) if every else (rounds - 1,)
        return Protocol(**fields)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        data = asdict(self)
        data["scored_rounds"] = list(self.scored_rounds)
        return data

    def describe(self) -> str:
        """One line, e.g. ``"2 rounds × 10 episodes, scored: round 2, mean return"``."""
        scored = ", ".join(str(r + 1) for r in self.scored_rounds)
        if self.scored_rounds == tuple(range(self.rounds)):
            scored = "all"
        plural = "s" if len(self.scored_rounds) > 1 and scored != "all" else ""
        return (
            f"{self.rounds} round{'s' if self.rounds > 1 else ''} × {self.episodes_per_round} "
            f"episode{'s' if self.episodes_per_round > 1 else ''}, scored: "
            f"{'all rounds' if scored == 'all' else f'round{plural} {scored}'}, "
            f"{self.headline.replace('_', ' ')}"
        )


#: The default of every family that does not declare its own: locomotion.
LOCOMOTION = Protocol(
    rounds=2,
    episodes_per_round=10,
    scored_rounds=(1,),
    headline="mean_return",
    source=(
        "garage's MetaEvaluator and Meta-World's MAML/RL² benchmarks: 10 exploration episodes, "
        "adapt, then 10 test episodes; the headline is the test episodes' mean return"
    ),
)
