"""The result file's schema: valid files load, malformed ones are rejected clearly."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from metabench.evaluation import EvaluationResult, ResultFileError, evaluate
from metabench.evaluation.results import SCHEMA_VERSION


@pytest.fixture(scope="module")
def document() -> dict:
    result = evaluate("thompson", "MetaBandit-v0", seeds=2, task_indices=range(3))
    return json.loads(result.to_json())


def test_a_result_round_trips_and_holds_what_the_issue_asks(document, tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(document))
    result = EvaluationResult.load(path)
    assert result.schema_version == SCHEMA_VERSION and result.status == "complete"
    assert (result.env.id, result.env.version, result.env.num_tasks) == ("MetaBandit-v0", 0, 100)
    assert result.env.family == "metabench.envs.bandit:Bandit"
    assert result.protocol.headline == "cumulative_return" and result.protocol.rounds == 10
    assert result.agent.name == "thompson" and result.agent.meta_train_steps == 0
    assert {"numpy", "gymnasium", "metabench"} <= set(result.provenance.packages)
    assert result.provenance.machine["cpu_count"] >= 1 and result.provenance.created_at
    # every episode's return by seed, task, round and episode
    returns = result.returns()
    assert returns.shape == (2, 3, 10, 1)
    unit = result.units[4]
    assert returns[1, 1, :, 0].tolist() == [r[0] for r in unit.returns] and (unit.seed, unit.task_index) == (
        1,
        1,
    )
    np.testing.assert_array_equal(result.headline_scores(), returns.sum(axis=(2, 3)))
    np.testing.assert_array_equal(result.round_scores(), returns[..., 0])


def test_atomic_save_leaves_no_temporary_files(document, tmp_path):
    result = EvaluationResult.model_validate(document)
    for _ in range(3):
        result.save(tmp_path / "r.json")
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    assert EvaluationResult.load(tmp_path / "r.json") == result


def _broken(document: dict, change) -> str:
    data = copy.deepcopy(document)
    change(data)
    return json.dumps(data)


CASES = {
    "nan return": (
        lambda d: d["units"][0]["returns"][0].__setitem__(0, float("nan")),
        r"units\.0\.returns\.0\.0",
    ),
    "string return": (
        lambda d: d["units"][0]["returns"][0].__setitem__(0, "big"),
        r"units\.0\.returns\.0\.0",
    ),
    "missing round": (
        lambda d: d["units"][1]["returns"].pop(),
        r"units\[1\].*expected 10 rounds of 1 episodes",
    ),
    "missing unit in a complete file": (lambda d: d["units"].pop(), "2 × 3|5 of 6"),
    "duplicate unit": (lambda d: d["units"].__setitem__(1, d["units"][0]), "duplicate unit"),
    "unknown seed": (lambda d: d["units"][0].__setitem__("seed", 9), "not among the evaluation's seeds"),
    "missing field": (lambda d: d["agent"].pop("name"), r"agent\.name: Field required"),
    "extra field": (lambda d: d.__setitem__("score", 11.0), r"score: Extra inputs are not permitted"),
    "bad scored round": (
        lambda d: d["protocol"].__setitem__("scored_rounds", [10]),
        r"scored_rounds.*\[0, 10\)",
    ),
    "bad headline": (lambda d: d["protocol"].__setitem__("headline", "max"), r"protocol\.headline"),
    "negative steps": (lambda d: d["agent"].__setitem__("meta_train_steps", -1), r"agent\.meta_train_steps"),
    "bad digest": (lambda d: d["env"].__setitem__("tasks_digest", "abc"), r"env\.tasks_digest"),
    "too long episode": (lambda d: d["units"][0]["lengths"][0].__setitem__(0, 2), r"lengths in \[1, 1\]"),
    "task out of split": (lambda d: d.__setitem__("task_indices", [0, 1, 100]), r"task_indices.*\[0, 100\)"),
}


@pytest.mark.parametrize("case", CASES)
def test_malformed_results_are_rejected_with_the_place_and_the_reason(document, case):
    change, message = CASES[case]
    with pytest.raises(ResultFileError, match="not a valid metabench result") as raised:
        EvaluationResult.from_json(_broken(document, change), "submission.json")
    assert raised.match(message), str(raised.value)


def test_unreadable_files_are_rejected_clearly(tmp_path, document):
    with pytest.raises(ResultFileError, match="no such result file"):
        EvaluationResult.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"schema_version": 1, ')
    with pytest.raises(ResultFileError, match="bad.json: not valid JSON"):
        EvaluationResult.load(tmp_path / "bad.json")
    with pytest.raises(ResultFileError, match="schema_version 2 is not supported"):
        EvaluationResult.from_json(_broken(document, lambda d: d.__setitem__("schema_version", 2)))
    with pytest.raises(ResultFileError, match="not a valid metabench result"):
        EvaluationResult.from_json("[1, 2, 3]")


def test_partial_results_are_valid_and_say_so(document):
    data = copy.deepcopy(document)
    data["status"], data["units"] = "partial", data["units"][:2]
    result = EvaluationResult.model_validate(data)
    assert np.isnan(result.returns()).sum() == 4 * 10
