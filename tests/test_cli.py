"""``metabench evaluate``, ``report`` and ``compare`` as a user runs them."""

from __future__ import annotations

import json

import pytest

from metabench.cli import main

pytest.importorskip("rliable", reason="the stats extra is not installed")
pytest.importorskip("matplotlib", reason="the plots extra is not installed")

QUICK = ["--seeds", "2", "--max-tasks", "10", "--backend", "local", "--no-progress", "--reps", "200"]


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, " ".join((captured.out + captured.err).split())  # rich wraps lines


def test_evaluate_report_compare(tmp_path, capsys):
    a, b = tmp_path / "thompson.json", tmp_path / "random.json"
    code, out = run(capsys, "evaluate", "thompson", "--env", "MetaBandit-v0", "--out", str(a), *QUICK)
    assert code == 0 and "wrote" in out and "IQM [95% CI]" in out and "cumulative return" in out
    assert json.loads(a.read_text())["status"] == "complete"
    code, _ = run(
        capsys, "evaluate", "random", "--env", "MetaBandit-v0", "--out", str(b), "--no-summary", *QUICK
    )
    assert code == 0

    code, out = run(capsys, "report", str(a), "--reps", "200")
    assert code == 0 and "normalised per task: 0 = random, 1 = oracle" in out and "Adaptation curve" in out
    png = a.with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000

    code, out = run(capsys, "compare", str(a), str(b), "--png", str(tmp_path / "both.png"), "--reps", "200")
    assert code == 0 and "P(thompson > random)" in out and (tmp_path / "both.png").exists()


def test_protocol_options_and_env_kwargs_reach_the_result(tmp_path, capsys):
    out = tmp_path / "r.json"
    code, _ = run(
        capsys, "evaluate", "greedy", "--env", "MetaBandit-v0", "--env-kwarg", "num_arms=10",
        "--rounds", "20", "--out", str(out), "--no-summary", *QUICK,
    )  # fmt: skip
    assert code == 0
    data = json.loads(out.read_text())
    assert data["env"]["kwargs"] == {"num_arms": 10} and data["protocol"]["rounds"] == 20
    assert data["protocol"]["scored_rounds"] == list(range(20))


def test_errors_are_one_clear_line_and_partial_results_are_kept(tmp_path, capsys, monkeypatch):
    code, out = run(
        capsys, "evaluate", "random", "--env", "MetaNope-v0", "--out", str(tmp_path / "x.json"), *QUICK
    )
    assert code == 1 and "error: unknown env 'MetaNope-v0'" in out and "Traceback" not in out
    code, out = run(capsys, "evaluate", str(tmp_path / "runs" / "missing"), "--env", "MetaBandit-v0", *QUICK)
    assert code == 1 and "checkpoint not found" in out

    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parent))
    partial = tmp_path / "nan.json"
    code, out = run(
        capsys, "evaluate", "harness_agents:nan_action_factory", "--env", "MetaNavigation2D-v0",
        "--out", str(partial), *QUICK,
    )  # fmt: skip
    assert code == 1 and "invalid action" in out and "got array([nan, 0.])" in out
    assert "3/20 trials are saved" in out and "run the same command again to resume" in out

    (tmp_path / "bad.json").write_text(json.dumps({"schema_version": 1, "status": "complete"}))
    code, out = run(capsys, "report", str(tmp_path / "bad.json"))
    assert code == 1 and "not a valid metabench result" in out and "env: Field required" in out
    code, out = run(capsys, "report", str(partial))
    assert code == 1 and "partial result" in out


def test_compare_refuses_different_evaluations(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    run(capsys, "evaluate", "random", "--env", "MetaBandit-v0", "--out", str(a), "--no-summary", *QUICK)
    run(capsys, "evaluate", "random", "--env", "MetaGridNavi-v0", "--out", str(b), "--no-summary", *QUICK)
    code, out = run(capsys, "compare", str(a), str(b))
    assert code == 1 and "not comparable" in out and "env id" in out
