"""The submission format: a harness result file plus who made it (schema version 1).

A submission is untrusted input. Its ``result`` is an :class:`EvaluationResult` exactly as
``metabench evaluate`` writes it (every episode's return); its ``method`` says who made it and
how much meta-training it took; its optional ``summary`` holds the numbers the submitter
claims, which the validator recomputes from the raw returns. The board never shows a claimed
number: it shows only what the suite recomputed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints

from metabench.evaluation.results import EvaluationResult

__all__ = ["SUBMISSION_VERSION", "ClaimedSummary", "Method", "Submission", "content_hash"]

#: Bump on any change that an old reader could misread.
SUBMISSION_VERSION = 1

# One line of printable text: no control characters (they would break tables and logs).
_Line = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Method(_Model):
    """Who made the entry, and how much meta-training it used."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=80, pattern=r"^[^\x00-\x1f\x7f]+$")] = (
        Field(description="the method's name as the board shows it")
    )
    authors: list[_Line] = Field(min_length=1, max_length=50)
    contact: _Line = Field(description="an e-mail address or a URL")
    paper: HttpUrl | None = Field(default=None, description="http(s) link to the paper")
    code: HttpUrl | None = Field(default=None, description="http(s) link to the code")
    meta_train_steps: int = Field(ge=0, description="environment steps used for meta-training")
    description: str = Field(default="", max_length=1000, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$")


class ClaimedSummary(_Model):
    """Numbers the submitter claims; each given one must equal the recomputed value."""

    headline_iqm: float | None = None
    headline_mean: float | None = None
    round_iqm: list[float] | None = None
    round_mean: list[float] | None = None


class Submission(_Model):
    """One submission (version 1)."""

    submission_version: Literal[1] = SUBMISSION_VERSION
    method: Method
    result: EvaluationResult
    summary: ClaimedSummary | None = None

    def to_json(self) -> str:
        """The document as the store keeps it: indented, with each (nested) list of numbers on
        one line (a trial's returns), so that a reviewer can read it and it stays small."""
        return _dump(self.model_dump(mode="json", exclude_none=True), 0)


def _numeric(node: Any) -> bool:
    if isinstance(node, list):
        return all(_numeric(item) for item in node)
    return isinstance(node, int | float) and not isinstance(node, bool)


def _dump(node: Any, depth: int) -> str:
    pad, inner = " " * depth, " " * (depth + 1)
    if isinstance(node, dict) and node:
        items = [
            f"{inner}{json.dumps(k, ensure_ascii=False)}: {_dump(v, depth + 1)}" for k, v in node.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(node, list) and node and not _numeric(node):
        return "[\n" + ",\n".join(inner + _dump(v, depth + 1) for v in node) + "\n" + pad + "]"
    return json.dumps(node, ensure_ascii=False, separators=(",", ":"))


def content_hash(result: EvaluationResult) -> str:
    """sha256 of what is scored: the family, its held-out tasks, the protocol and every
    (seed, task)'s returns, in a canonical order. Two submissions of the same numbers have the
    same hash whatever their names, provenance, episode lengths or unit order."""
    units = sorted([u.seed, u.task_index, u.returns] for u in result.units)
    document = {
        "env": [result.env.id, result.env.kwargs, result.env.tasks_digest],
        "protocol": result.protocol.model_dump(exclude={"source"}),
        "units": units,
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
