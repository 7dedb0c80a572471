"""The evaluation harness: one protocol for every method (DESIGN.md, "The evaluation protocol").

* :mod:`~metabench.evaluation.agent`: the agent protocol (reset / act / observe / adapt);
* :mod:`~metabench.evaluation.references`: reference agents (random, oracle, Thompson, UCB1,
  greedy, Bayes-optimal, PSRL, straight-to-goal);
* :mod:`~metabench.evaluation.harness`: :func:`evaluate` and its backends;
* :mod:`~metabench.evaluation.results`: the result file's schema;
* :mod:`~metabench.evaluation.stats`: interval estimates with rliable (the ``stats`` extra).

Families never import this package; it imports them.
"""

from metabench.evaluation.agent import (
    CHECKPOINT_MANIFEST,
    Agent,
    AgentLoadError,
    EnvInfo,
    Transition,
)
from metabench.evaluation.harness import (
    AgentActionError,
    EvaluationError,
    ResultMismatchError,
    UnknownEnvError,
    evaluate,
)
from metabench.evaluation.references import REFERENCE_AGENTS
from metabench.evaluation.results import EvaluationResult, ResultFileError
from metabench.protocol import Protocol

__all__ = [
    "CHECKPOINT_MANIFEST",
    "REFERENCE_AGENTS",
    "Agent",
    "AgentActionError",
    "AgentLoadError",
    "EnvInfo",
    "EvaluationError",
    "EvaluationResult",
    "Protocol",
    "ResultFileError",
    "ResultMismatchError",
    "Transition",
    "UnknownEnvError",
    "evaluate",
]
