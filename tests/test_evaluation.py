"""The harness: determinism across backends, resume, parallel episodes, errors, loading."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import harness_agents
import numpy as np
import pytest

from metabench.evaluation import (
    CHECKPOINT_MANIFEST,
    AgentActionError,
    AgentLoadError,
    EvaluationResult,
    ResultMismatchError,
    UnknownEnvError,
    evaluate,
)
from metabench.evaluation.harness import unit_seeds

NAV = "MetaNavigation2D-v0"
GRID = "MetaGridNavi-v0"
TESTS = Path(__file__).parent
METABENCH = Path(sys.executable).with_name("metabench")


def numbers(result: EvaluationResult) -> dict:
    """Everything but provenance (timing, machine)."""
    return result.model_dump(exclude={"provenance"})


def test_process_pool_gives_the_serial_result_file(tmp_path):
    kwargs = dict(seeds=[0, 3], task_indices=range(4), protocol=None)
    serial = evaluate(harness_agents.linear_gaussian, NAV, backend="local", out=tmp_path / "a.json", **kwargs)
    pooled = evaluate(
        harness_agents.linear_gaussian, NAV, backend="process", workers=2, out=tmp_path / "b.json", **kwargs
    )
    assert numbers(serial) == numbers(pooled)
    assert numbers(EvaluationResult.load(tmp_path / "a.json")) == numbers(
        EvaluationResult.load(tmp_path / "b.json")
    )
    assert serial.agent.meta_train_steps == 1234 and serial.status == "complete"
    assert len(serial.units) == 8
    assert serial.provenance.env_steps == sum(n for u in serial.units for r in u.lengths for n in r)


def test_ray_backend_gives_the_serial_result(tmp_path):
    pytest.importorskip("ray")
    kwargs = dict(seeds=[1, 2], task_indices=range(4))
    serial = evaluate("random", NAV, backend="local", **kwargs)
    distributed = evaluate("random", NAV, backend="ray", workers=2, **kwargs)
    assert numbers(serial) == numbers(distributed)


def test_a_trial_does_not_depend_on_the_other_trials():
    both = evaluate(harness_agents.linear_gaussian, NAV, seeds=[0, 1], task_indices=[2, 5])
    alone = evaluate(harness_agents.linear_gaussian, NAV, seeds=[1], task_indices=[5])
    assert both.units[-1] == alone.units[0]
    # and seeds really differ
    assert both.units[0].returns != both.units[2].returns


def test_parallel_episodes_equal_serial_episodes():
    kwargs = dict(seeds=[0, 1], task_indices=range(5))
    parallel = evaluate(harness_agents.noisy_straight, NAV, **kwargs)
    serial = evaluate(harness_agents.noisy_straight_serial, NAV, **kwargs)
    assert parallel.units == serial.units
    assert parallel.agent.parallel_episodes and not serial.agent.parallel_episodes
    lengths = np.array([u.lengths for u in serial.units])
    assert len(np.unique(lengths)) > 3, "episodes should end at different steps"


def test_episode_streams_are_distinct_and_reproducible():
    seeds = {
        unit_seeds(s, t, r, e)[0] for s in range(3) for t in range(3) for r in range(2) for e in range(3)
    }
    assert len(seeds) == 54
    a, b = unit_seeds(4, 2, 1, 0), unit_seeds(4, 2, 1, 0)
    assert a[0] == b[0] and a[1].random() == b[1].random()


def test_agent_sees_observations_not_the_task_and_calls_come_in_protocol_order():
    from metabench.evaluation.harness import RunSpec, TrialRunner
    from metabench.protocol import Protocol

    protocol = Protocol(rounds=2, episodes_per_round=3, scored_rounds=(1,))
    runner = TrialRunner(RunSpec(harness_agents.Spy, NAV, {}, protocol))
    outcome = runner.run(0, 7)
    spy = runner.agent
    assert all(obs.shape == (2,) for obs in spy.seen), "the goal must not be in the observation"
    goal = np.array(runner.tasks[7].goal, dtype=np.float32)
    assert not any(np.array_equal(obs, goal) for obs in spy.seen)
    assert not hasattr(spy.info, "task")
    episode = ["act", "observe"] * 99 + ["act", "observe-done"]
    assert spy.calls == ["reset"] + (episode * 3 + ["adapt"]) * 2
    assert outcome.lengths == [[100] * 3] * 2


def test_privileged_reference_sees_the_task_and_is_marked():
    result = evaluate("oracle", NAV, seeds=1, task_indices=range(3))
    assert result.agent.privileged and result.agent.source == "reference:oracle"
    assert np.all(result.headline_scores() > -1.5), "straight to the goal costs little"


@pytest.mark.parametrize(
    ("env_id", "bad", "expected"),
    [
        (NAV, np.array([np.nan, 0.0]), "finite numbers of shape (2,)"),
        (NAV, np.zeros(3), "finite numbers of shape (2,)"),
        (NAV, [np.inf, 1.0], "finite numbers of shape (2,)"),
        ("MetaBandit-v0", 7, r"an integer in [0, 5)"),
        ("MetaBandit-v0", 1.5, r"an integer in [0, 5)"),
        ("MetaBandit-v0", "arm", r"an integer in [0, 5)"),
    ],
)
def test_invalid_actions_stop_with_a_clear_error_and_keep_finished_trials(tmp_path, env_id, bad, expected):
    out = tmp_path / "r.json"
    with pytest.raises(AgentActionError) as raised:
        evaluate(harness_agents.bad_action(bad), env_id, seeds=1, task_indices=range(6), out=out)
    message = str(raised.value)
    assert "seed 0, task 3, round 0, episode 0, step 0" in message and expected in message
    partial = EvaluationResult.load(out)
    assert partial.status == "partial" and [u.task_index for u in partial.units] == [0, 1, 2]


def test_invalid_action_in_a_worker_process_is_reported_too(tmp_path):
    out = tmp_path / "r.json"
    with pytest.raises(AgentActionError, match="expected finite numbers"):
        evaluate(
            harness_agents.nan_action_factory,
            NAV,
            seeds=[0, 1],
            task_indices=range(8),
            out=out,
            backend="process",
            workers=2,
        )
    assert EvaluationResult.load(out).status == "partial"


def test_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path):
    kwargs = dict(seeds=[0, 2], task_indices=range(5), save_every=3600.0)
    whole = evaluate(harness_agents.interrupting_random, GRID, **kwargs)
    out = tmp_path / "r.json"
    harness_agents.INTERRUPT_AFTER[0] = 4
    try:
        with pytest.raises(KeyboardInterrupt):
            evaluate(harness_agents.interrupting_random, GRID, out=out, **kwargs)
    finally:
        harness_agents.INTERRUPT_AFTER[0] = None
    partial = EvaluationResult.load(out)
    assert partial.status == "partial" and len(partial.units) == 4  # saved although save_every is long
    resumed = evaluate(harness_agents.interrupting_random, GRID, out=out, **kwargs)
    assert numbers(resumed) == numbers(whole)
    assert numbers(EvaluationResult.load(out)) == numbers(whole)


def _cli(out: Path, **env: str) -> subprocess.Popen:
    command = [str(METABENCH), "evaluate", "harness_agents:slow_random", "--env", GRID, "--seeds", "2"]
    command += ["--out", str(out), "--backend", "local", "--save-every", "0", "--no-summary", "--no-progress"]
    environment = {**os.environ, "PYTHONPATH": str(TESTS), **env}
    return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_killed_cli_run_resumes_to_the_uninterrupted_result(tmp_path):
    killed = tmp_path / "killed.json"
    process = _cli(killed, METABENCH_TEST_SLEEP="0.1")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if len(EvaluationResult.load(killed).units) >= 3:
                break
        except Exception:  # not written yet
            pass
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = EvaluationResult.load(killed)
    assert partial.status == "partial" and 3 <= len(partial.units) < 42
    assert _cli(killed).wait() == 0
    whole = tmp_path / "whole.json"
    assert _cli(whole).wait() == 0
    assert numbers(EvaluationResult.load(killed)) == numbers(EvaluationResult.load(whole))


def test_resume_refuses_to_mix_evaluations(tmp_path):
    out = tmp_path / "r.json"
    evaluate("random", "MetaBandit-v0", seeds=2, task_indices=range(3), out=out)
    with pytest.raises(ResultMismatchError, match="agent"):
        evaluate("thompson", "MetaBandit-v0", seeds=2, task_indices=range(3), out=out)
    with pytest.raises(ResultMismatchError, match="seeds"):
        evaluate("random", "MetaBandit-v0", seeds=3, task_indices=range(3), out=out)
    fresh = evaluate("thompson", "MetaBandit-v0", seeds=2, task_indices=range(3), out=out, resume=False)
    assert EvaluationResult.load(out).agent.name == "thompson" == fresh.agent.name


def test_unknown_env_and_agents_are_clear_errors(tmp_path):
    with pytest.raises(UnknownEnvError, match="unknown env 'MetaNope-v0'.*MetaBandit-v0"):
        evaluate("random", "MetaNope-v0")
    with pytest.raises(UnknownEnvError, match="not a metabench family"):
        evaluate("random", "CartPole-v1")
    with pytest.raises(AgentLoadError, match="unknown agent 'thomson'.*thompson"):
        evaluate("thomson", "MetaBandit-v0")
    with pytest.raises(AgentLoadError, match="checkpoint not found"):
        evaluate(str(tmp_path / "no-such-run"), "MetaBandit-v0")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AgentLoadError, match=CHECKPOINT_MANIFEST):
        evaluate(str(tmp_path / "empty"), "MetaBandit-v0")
    with pytest.raises(AgentLoadError, match="supports the families Bandit"):
        evaluate("thompson", NAV)
    with pytest.raises(AgentLoadError, match="cannot import"):
        evaluate("no_such_module:factory", NAV)


def test_checkpoint_manifest_loads_the_agent_and_names_the_env(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "weights.json").write_text(json.dumps({"name": "my-maml", "steps": 10**6}))
    (run / CHECKPOINT_MANIFEST).write_text(
        json.dumps({"factory": "harness_agents:load_checkpoint", "env": NAV})
    )
    result = evaluate(str(run), seeds=1, task_indices=range(2))
    assert result.env.id == NAV
    assert (result.agent.name, result.agent.meta_train_steps) == ("my-maml", 10**6)
    assert result.agent.source == f"checkpoint:{run}"


def test_a_complete_result_is_returned_without_rerunning(tmp_path):
    out = tmp_path / "r.json"
    kwargs = dict(seeds=2, task_indices=range(3), out=out)
    first = evaluate(harness_agents.interrupting_random, NAV, **kwargs)
    harness_agents.INTERRUPT_AFTER[0] = 0  # any trial run now would raise
    try:
        second = evaluate(harness_agents.interrupting_random, NAV, **kwargs)
    finally:
        harness_agents.INTERRUPT_AFTER[0] = None
    assert numbers(first) == numbers(second)


def test_user_example_agent_runs(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("user_agent", TESTS.parent / "examples" / "user_agent.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = evaluate(module.make_agent, "MetaBandit-v0", seeds=3)
    assert result.agent.name == "epsilon-greedy"
    random = evaluate("random", "MetaBandit-v0", seeds=3)
    assert result.headline_scores().mean() > random.headline_scores().mean()
