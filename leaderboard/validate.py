"""Validation of a submission: the rules that decide what may reach the board.

A submission is accepted only when every rule holds:

1. it parses (UTF-8 JSON, at most :data:`MAX_BYTES`) and follows the schema
   (:class:`~metabench.leaderboard.schema.Submission`);
2. its family id and version exist, with the registered entry point, horizon and default
   arguments;
3. its protocol is the family's default and its held-out split is the registered one (same
   size, same task digest);
4. it is complete: every held-out task, each with at least :data:`MIN_SEEDS` seeds;
5. every return is finite and within the family's achievable bounds
   (:func:`episode_return_bounds`);
6. every summary number it includes equals the one recomputed from the raw returns;
7. it is not a duplicate of an accepted submission (same :func:`content_hash`), and its
   method has no other entry on that family;
8. its provenance is present: package versions and creation time, authors, a contact, a paper
   or code link, and meta-training steps that agree with the result's.

A rejection is a :class:`SubmissionError` listing every problem found. Nothing else escapes.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import gymnasium as gym
import numpy as np
from pydantic import ValidationError

from metabench.evaluation.results import EvaluationResult, tasks_digest
from metabench.evaluation.stats import iqm
from metabench.leaderboard.schema import SUBMISSION_VERSION, Submission, content_hash

__all__ = [
    "MAX_BYTES",
    "MIN_SEEDS",
    "Accepted",
    "SubmissionError",
    "episode_return_bounds",
    "parse_submission",
    "recomputed_summary",
    "validate_submission",
]

#: Largest submission accepted (a MuJoCo result of 5 seeds is well under 1 MB).
MAX_BYTES = 32 * 2**20
#: Fewest seeds per held-out task.
MIN_SEEDS = 5
#: Relative and absolute tolerance when a claimed number is compared with the recomputed one.
TOLERANCE = 1e-9
#: Bound on the size of one step's reward in the MuJoCo families (no analytic bound exists:
#: their forward-velocity terms are physically, not formally, limited). Published scores on
#: these bodies stay below about 20 per step; 1,000 rejects only absurd numbers.
MUJOCO_STEP_REWARD_BOUND = 1000.0
#: How many standard deviations of the tabular MDP's unit Gaussian reward noise a return may
#: lie beyond its extreme means (beyond 10: probability below 1e-23, treated as impossible).
NOISE_SIGMAS = 10.0


class SubmissionError(ValueError):
    """A submission was rejected; ``problems`` lists every reason."""

    def __init__(self, where: str, problems: Iterable[str]) -> None:
        self.where = where
        self.problems = list(problems)
        listed = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{where}: rejected:\n{listed}")


@dataclass(frozen=True)
class Accepted:
    """A submission that passed every rule."""

    submission: Submission
    hash: str


def parse_submission(data: bytes | str, where: str = "submission") -> Submission:
    """Parse and schema-check a submission document.

    Raises:
        SubmissionError: too large, not UTF-8, not JSON, or not following the schema.
    """
    if isinstance(data, str):
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError:
            raise SubmissionError(where, ["not valid UTF-8 text"]) from None
    if len(data) > MAX_BYTES:
        raise SubmissionError(where, [f"{len(data):,} bytes; the limit is {MAX_BYTES:,}"])
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise SubmissionError(where, [f"not valid UTF-8 ({error.reason} at byte {error.start})"]) from None
    except RecursionError:
        raise SubmissionError(where, ["JSON nested too deeply"]) from None
    except ValueError as error:
        raise SubmissionError(where, [f"not valid JSON ({error})"]) from None
    if not isinstance(document, dict):
        raise SubmissionError(where, [f"expected a JSON object, got {type(document).__name__}"])
    version = document.get("submission_version")
    if version is None and "schema_version" in document and "units" in document:
        raise SubmissionError(
            where,
            [
                "this is a harness result file, not a submission: wrap it with "
                "'metabench leaderboard prepare RESULT --method NAME --author NAME --contact ADDRESS "
                "--code URL --out SUBMISSION'"
            ],
        )
    if version != SUBMISSION_VERSION or isinstance(version, bool):
        raise SubmissionError(
            where, [f"submission_version: expected {SUBMISSION_VERSION}, got {_short(version)}"]
        )
    try:
        return Submission.model_validate(document)
    except ValidationError as error:
        raise SubmissionError(where, _schema_problems(error)) from None
    except (RecursionError, ValueError, TypeError) as error:  # defensive: a validator's own error
        raise SubmissionError(where, [f"does not follow the schema ({_short(str(error))})"]) from None


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _schema_problems(error: ValidationError, limit: int = 20) -> list[str]:
    problems = []
    for item in error.errors()[:limit]:
        location = ".".join(str(part) for part in item["loc"]) or "(document)"
        problems.append(f"{location}: {item['msg']}")
    if error.error_count() > limit:
        problems.append(f"... and {error.error_count() - limit} more schema errors")
    return problems


@lru_cache(maxsize=64)
def _family_env(env_id: str) -> gym.Env:
    import metabench  # noqa: F401 - registers the families

    return gym.make(env_id).unwrapped


@lru_cache(maxsize=64)
def _split(env_id: str, split: str) -> tuple[list[Any], str]:
    tasks = _family_env(env_id).test_tasks(split)
    return tasks, tasks_digest(tasks)


def episode_return_bounds(env: gym.Env, task: Any, length: Any) -> tuple[Any, Any]:
    """The smallest and largest return an episode of ``length`` steps can have on ``task``
    (``length`` may be an array of lengths; the bounds are then arrays).

    * Bandit: each pull pays 0 or 1.
    * Sparse navigation: each step pays ``1 − d`` within the goal radius, else 0: in [0, 1].
    * Dense navigation: each step pays ``−‖s_t − g‖``; starting at the origin and moving at
      most ``max_step`` per axis, ``‖s_t‖ ≤ √2 · max_step · t``, so the return is at least
      ``−Σ_t (√2 · max_step · t + ‖g‖)`` and at most 0.
    * Grid navigation: each step pays +1 (at the goal) or −0.1.
    * Tabular MDP: each step pays its mean reward plus N(0, 1) noise: between ``length`` times
      the task's extreme means, widened by :data:`NOISE_SIGMAS` standard deviations of the
      summed noise (``√length``).
    * MuJoCo families: ``±`` :data:`MUJOCO_STEP_REWARD_BOUND` per step (a loose bound).
    """
    from metabench.envs.bandit import Bandit
    from metabench.envs.grid_navi import GridNavi
    from metabench.envs.navigation import Navigation2D
    from metabench.envs.navigation_sparse import Navigation2DSparse
    from metabench.envs.tabular_mdp import TabularMDP

    length = np.asarray(length, dtype=np.float64)
    if isinstance(env, Bandit | Navigation2DSparse):
        return 0.0 * length, length
    if isinstance(env, Navigation2D):
        goal = float(np.linalg.norm(task.goal))
        worst = math.sqrt(2.0) * env.max_step * length * (length + 1) / 2 + length * goal
        return -worst, 0.0 * length
    if isinstance(env, GridNavi):
        return -0.1 * length, length
    if isinstance(env, TabularMDP):
        means = np.asarray(task.mean_rewards, dtype=np.float64)
        spread = NOISE_SIGMAS * np.sqrt(length)
        return length * means.min() - spread, length * means.max() + spread
    return -MUJOCO_STEP_REWARD_BOUND * length, MUJOCO_STEP_REWARD_BOUND * length


def recomputed_summary(result: EvaluationResult) -> dict[str, Any]:
    """The point estimates a submission may claim, recomputed from the raw returns (as
    :func:`metabench.evaluation.stats.summarise` computes them, without the intervals)."""
    headline = result.headline_scores()
    rounds = result.round_scores()
    return {
        "headline_iqm": float(iqm(headline)),
        "headline_mean": float(headline.mean()),
        "round_iqm": [float(v) for v in iqm(rounds.reshape(-1, rounds.shape[-1]), axis=0)],
        "round_mean": [float(v) for v in rounds.mean(axis=(0, 1))],
    }


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE)


def _family_problems(result: EvaluationResult) -> list[str]:
    """Rules 2 and 3. Returns problems; an empty list means the family's checks passed."""
    from metabench.registration import FAMILIES

    env = result.env
    family = next((f for f in FAMILIES if f.id == env.id), None)
    if family is None:
        known = ", ".join(f.id for f in FAMILIES)
        return [f"result.env.id: {_short(env.id)} is not a metabench family (known: {known})"]
    version = int(re.search(r"-v(\d+)$", family.id).group(1))
    problems = []
    if env.version != version:
        problems.append(f"result.env.version: {family.id} is version {version}, got {env.version}")
    if env.family != family.entry_point:
        problems.append(f"result.env.family: expected {family.entry_point!r}, got {_short(env.family)}")
    if env.max_episode_steps != family.max_episode_steps:
        problems.append(
            f"result.env.max_episode_steps: {family.id} has {family.max_episode_steps}, got {env.max_episode_steps}"
        )
    if env.kwargs:
        problems.append(
            f"result.env.kwargs: the board ranks {family.id} with its default arguments, got {_short(env.kwargs)}"
        )
    default = _family_env(family.id).default_protocol.to_dict()
    claimed = result.protocol.model_dump()
    for key in ("rounds", "episodes_per_round", "scored_rounds", "headline", "split"):
        if claimed[key] != default[key]:
            problems.append(
                f"result.protocol.{key}: the board ranks {family.id}'s default protocol "
                f"({key} = {default[key]!r}), got {_short(claimed[key])}"
            )
    if problems:
        return problems
    tasks, digest = _split(family.id, default["split"])
    if env.num_tasks != len(tasks):
        problems.append(
            f"result.env.num_tasks: the held-out split has {len(tasks)} tasks, got {env.num_tasks}"
        )
    if env.tasks_digest != digest:
        problems.append(
            "result.env.tasks_digest: does not match the held-out tasks of this metabench "
            f"({digest[:12]}…, got {env.tasks_digest[:12]}…)"
        )
    return problems


def _completeness_problems(result: EvaluationResult) -> list[str]:
    """Rule 4."""
    problems = []
    if result.status != "complete":
        problems.append(f"result.status: expected 'complete', got {result.status!r}")
    missing = sorted(set(range(result.env.num_tasks)) - set(result.task_indices))
    if missing:
        shown = ", ".join(str(t) for t in missing[:10]) + (" …" if len(missing) > 10 else "")
        problems.append(
            f"result.task_indices: every held-out task must be evaluated; {len(missing)} missing ({shown})"
        )
    if len(result.seeds) < MIN_SEEDS:
        problems.append(
            f"result.seeds: expected at least {MIN_SEEDS} seeds per task, got {len(result.seeds)}"
        )
    present = {(u.seed, u.task_index) for u in result.units}
    absent = len(result.seeds) * len(result.task_indices) - len(present)
    if absent:
        problems.append(f"result.units: {absent} (seed, task) trials are missing")
    return problems


def _return_problems(result: EvaluationResult, limit: int = 10) -> list[str]:
    """Rule 5."""
    env = _family_env(result.env.id)
    tasks, _ = _split(result.env.id, result.protocol.split)
    returns = np.array([u.returns for u in result.units], dtype=np.float64)  # (units, rounds, episodes)
    lengths = np.array([u.lengths for u in result.units], dtype=np.float64)
    task_of = np.array([u.task_index for u in result.units])
    low, high = np.empty_like(returns), np.empty_like(returns)
    for task in np.unique(task_of):
        mine = task_of == task
        low[mine], high[mine] = episode_return_bounds(env, tasks[task], lengths[mine])
    slack = TOLERANCE * (1.0 + np.maximum(np.abs(low), np.abs(high)))
    finite = np.isfinite(returns)
    with np.errstate(invalid="ignore"):
        bad = ~finite | (returns < low - slack) | (returns > high + slack)
    problems = []
    for i, r, e in zip(*np.nonzero(bad)):
        unit = result.units[i]
        where = f"result.units[{i}].returns[{r}][{e}] (seed {unit.seed}, task {unit.task_index})"
        value = float(returns[i, r, e])
        if not finite[i, r, e]:
            problems.append(f"{where}: not finite ({value})")
        else:
            problems.append(
                f"{where}: {value!r} is outside the achievable range [{low[i, r, e]:.6g}, "
                f"{high[i, r, e]:.6g}] of a {int(lengths[i, r, e])}-step episode"
            )
        if len(problems) >= limit:
            problems.append("... (further returns not checked)")
            break
    return problems


def _summary_problems(submission: Submission) -> list[str]:
    """Rule 6."""
    claimed = submission.summary
    if claimed is None:
        return []
    actual = recomputed_summary(submission.result)
    problems = []
    for key in ("headline_iqm", "headline_mean"):
        value = getattr(claimed, key)
        if value is not None and not _close(value, actual[key]):
            problems.append(f"summary.{key}: claims {value!r}, the raw returns give {actual[key]!r}")
    for key in ("round_iqm", "round_mean"):
        values = getattr(claimed, key)
        if values is None:
            continue
        if len(values) != len(actual[key]):
            problems.append(f"summary.{key}: {len(values)} rounds claimed, the result has {len(actual[key])}")
            continue
        bad = [r for r, (a, b) in enumerate(zip(values, actual[key])) if not _close(a, b)]
        if bad:
            r = bad[0]
            problems.append(
                f"summary.{key}[{r}]: claims {values[r]!r}, the raw returns give {actual[key][r]!r}"
                + (f" ({len(bad)} rounds differ)" if len(bad) > 1 else "")
            )
    return problems


def _provenance_problems(submission: Submission) -> list[str]:
    """Rule 8."""
    method, result = submission.method, submission.result
    provenance = result.provenance
    problems = []
    if method.paper is None and method.code is None:
        problems.append("method: give a paper or a code link (method.paper or method.code)")
    if method.meta_train_steps != result.agent.meta_train_steps:
        problems.append(
            f"method.meta_train_steps: {method.meta_train_steps} disagrees with the result's "
            f"agent.meta_train_steps ({result.agent.meta_train_steps})"
        )
    if not provenance.metabench_version.strip():
        problems.append("result.provenance.metabench_version: empty")
    if not provenance.python.strip():
        problems.append("result.provenance.python: empty")
    if "metabench" not in provenance.packages:
        problems.append("result.provenance.packages: the metabench version is not recorded")
    try:
        _dt.datetime.fromisoformat(provenance.created_at)
    except ValueError:
        problems.append(
            f"result.provenance.created_at: expected an ISO 8601 time, got {_short(provenance.created_at)}"
        )
    return problems


def validate_submission(
    data: bytes | str | Submission,
    *,
    accepted_hashes: Iterable[str] = (),
    accepted_methods: Iterable[tuple[str, str]] = (),
    where: str = "submission",
) -> Accepted:
    """Apply every rule to a submission.

    Args:
        data: the document (bytes or text) or an already parsed submission.
        accepted_hashes: content hashes of the accepted submissions (rule 7).
        accepted_methods: ``(env id, method name)`` of the accepted submissions; names compare
            case-insensitively.
        where: how messages name the submission (a path).

    Raises:
        SubmissionError: listing every problem found.
    """
    submission = data if isinstance(data, Submission) else parse_submission(data, where)
    result = submission.result
    try:
        problems = _family_problems(result)
        if problems:  # the later rules need the family's held-out tasks
            raise SubmissionError(where, problems + _provenance_problems(submission))
        problems += _completeness_problems(result)
        problems += _return_problems(result)
        if not problems:
            problems += _summary_problems(submission)
        problems += _provenance_problems(submission)
        digest = content_hash(result)
        if digest in set(accepted_hashes):
            problems.append(f"duplicate: these returns were already accepted (content hash {digest[:16]})")
        taken = {(env, name.casefold()) for env, name in accepted_methods}
        if (result.env.id, submission.method.name.casefold()) in taken:
            problems.append(
                f"method.name: {submission.method.name!r} already has an entry on {result.env.id}; "
                "a method has one entry per family (replace the old file in a pull request)"
            )
    except SubmissionError:
        raise
    except Exception as error:  # noqa: BLE001 - untrusted input must never crash the validator
        raise SubmissionError(
            where, [f"could not be checked ({type(error).__name__}: {_short(str(error))})"]
        ) from None
    if problems:
        raise SubmissionError(where, problems)
    return Accepted(submission, digest)
