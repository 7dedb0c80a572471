"""Concurrent submits through the command line record each accepted submission exactly once."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

pytest.importorskip("rliable", reason="the stats extra is not installed")

from leaderboard_helpers import submission, text  # noqa: E402

DISTINCT, COPIES = 5, 4  # 20 concurrent submits


def test_concurrent_submits_record_each_submission_once(tmp_path):
    files = []
    for k in range(DISTINCT):  # real evaluations on disjoint seeds: distinct returns
        document = submission("random", first_seed=5 * k, name=f"random seeds {5 * k}-{5 * k + 4}")
        for c in range(COPIES):
            path = tmp_path / f"submission-{k}-{c}.json"
            path.write_text(text(document))
            files.append(path)
    store = tmp_path / "store"
    command = [
        sys.executable,
        "-m",
        "metabench.cli",
        "leaderboard",
        "submit",
        "--store",
        str(store),
        "--reps",
        "20",
    ]
    processes = [
        subprocess.Popen([*command, str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for path in files
    ]
    outputs = [(p.wait(timeout=300), " ".join(p.stdout.read().split())) for p in processes]
    for p in processes:
        p.stdout.close()
    accepted = [out for code, out in outputs if code == 0]
    refused = [out for code, out in outputs if code != 0]
    assert len(accepted) == DISTINCT, outputs
    assert len(refused) == DISTINCT * (COPIES - 1)
    assert all("rejected" in out and "duplicate" in out and "Traceback" not in out for out in refused), (
        refused
    )
    stored = sorted((store / "submissions").glob("*/*.json"))
    assert len(stored) == DISTINCT
    names = sorted(json.loads(p.read_text())["method"]["name"] for p in stored)
    assert names == sorted(f"random seeds {5 * k}-{5 * k + 4}" for k in range(DISTINCT))
    db = sqlite3.connect(store / "leaderboard.sqlite")
    assert sorted(r[0] for r in db.execute("SELECT method FROM entries")) == names
    assert not list(store.glob(".*.sqlite")) and not list((store / "submissions").rglob(".*.tmp"))
