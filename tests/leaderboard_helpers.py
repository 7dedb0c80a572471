"""Real harness results and submissions for the leaderboard's tests (cached per session)."""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

from metabench.evaluation.results import EvaluationResult

CODE = "https://github.com/metabench/metabench"


@cache
def _result_json(agent: str, env_id: str, seeds: int, first_seed: int) -> str:
    from metabench.evaluation.harness import evaluate

    seed_list = range(first_seed, first_seed + seeds)
    return evaluate(agent, env_id, seeds=seed_list, backend="local").to_json()


def result(
    agent: str = "thompson", env_id: str = "MetaBandit-v0", seeds: int = 5, first_seed: int = 0
) -> EvaluationResult:
    """A complete result of a reference agent under the family's default protocol."""
    return EvaluationResult.from_json(_result_json(agent, env_id, seeds, first_seed))


def submission(
    agent: str = "thompson",
    env_id: str = "MetaBandit-v0",
    *,
    name: str | None = None,
    seeds: int = 5,
    first_seed: int = 0,
) -> dict[str, Any]:
    """A valid submission document (with its recomputed summary) as a JSON-ready dict."""
    from metabench.leaderboard.validate import recomputed_summary

    evaluated = result(agent, env_id, seeds, first_seed)
    return copy.deepcopy(
        {
            "submission_version": 1,
            "method": {
                "name": name or agent,
                "authors": ["A. Author", "B. Author"],
                "contact": "someone@example.org",
                "code": CODE,
                "meta_train_steps": evaluated.agent.meta_train_steps,
            },
            "result": json.loads(evaluated.to_json()),
            "summary": recomputed_summary(evaluated),
        }
    )


def text(document: dict[str, Any]) -> str:
    """The document as JSON (NaN and infinities written as JavaScript does)."""
    return json.dumps(document)
