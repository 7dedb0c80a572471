"""The project's own files: citation metadata, README's family table, install layout."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import gymnasium as gym
import yaml

import metabench

ROOT = Path(__file__).resolve().parents[1]


def test_citation_cff_is_valid_cff_1_2_0():
    data = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert data["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors"):  # the keys CFF 1.2.0 requires
        assert data[key], key
    assert all(isinstance(a, dict) and ("name" in a or "family-names" in a) for a in data["authors"])
    assert data["version"] == metabench.__version__


def test_readme_family_table_matches_the_registry():
    text = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `(Meta\w+-v\d+)` \| (\d+) \|", text, flags=re.MULTILINE)
    registered = {
        spec.id: spec.max_episode_steps for spec in gym.registry.values() if spec.id.startswith("Meta")
    }
    assert {env_id: int(h) for env_id, h in rows} == registered
    assert [env_id for env_id, _ in rows] == [family.id for family in metabench.FAMILIES]


def test_baselines_and_leaderboard_install_under_metabench():
    import metabench.baselines
    import metabench.leaderboard

    assert Path(metabench.baselines.__file__).parent == ROOT / "baselines"
    assert Path(metabench.leaderboard.__file__).parent == ROOT / "leaderboard"
    assert importlib.metadata.version("metabench") == metabench.__version__


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in readme and "bash scripts/test.sh" in ci


def test_readme_python_example_runs_unchanged(capsys):
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"```python\n(.*?)```", readme, flags=re.DOTALL).group(1)
    exec(compile(example, "README.md", "exec"), {})
    assert "held-out tasks" in capsys.readouterr().out


def test_readme_user_agent_example_is_examples_user_agent_py():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    code = (ROOT / "examples" / "user_agent.py").read_text().split('"""', 2)[2].lstrip("\n")
    assert code in blocks
    assert len([line for line in code.splitlines() if line.strip()]) < 40  # issue: "under 40 lines"
