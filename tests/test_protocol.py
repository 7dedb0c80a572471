"""The protocol value and the defaults the families declare."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import metabench
from metabench.protocol import LOCOMOTION, Protocol

IDS = [family.id for family in metabench.FAMILIES]


@pytest.mark.parametrize("env_id", IDS)
def test_every_family_declares_a_valid_cited_default(env_id):
    family = gym.make(env_id).unwrapped
    protocol = family.default_protocol
    assert isinstance(protocol, Protocol) and protocol.source
    assert protocol.split in family.test_splits


def test_cheap_families_use_rl2_trials_and_locomotion_is_the_default():
    for env_id in ("MetaBandit-v0", "MetaTabularMDP-v0"):
        protocol = gym.make(env_id).unwrapped.default_protocol
        assert protocol.headline == "cumulative_return" and protocol.episodes == 10
        assert protocol.scored_rounds == tuple(range(10))
    assert metabench.MetaEnv.default_protocol is LOCOMOTION
    assert (LOCOMOTION.rounds, LOCOMOTION.episodes_per_round, LOCOMOTION.scored_rounds) == (2, 10, (1,))


def test_score_is_the_mean_or_the_total_of_the_scored_rounds():
    returns = np.array([[1.0, 2.0], [3.0, 5.0], [7.0, 11.0]])
    final = Protocol(rounds=3, episodes_per_round=2, scored_rounds=(2,))
    assert final.score(returns) == 9.0
    total = Protocol(rounds=3, episodes_per_round=2, scored_rounds=(0, 2), headline="cumulative_return")
    assert total.score(returns) == 21.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rounds": 0}, "rounds"),
        ({"rounds": 2.5}, "rounds"),
        ({"episodes_per_round": True}, "episodes_per_round"),
        ({"scored_rounds": (3,)}, r"scored_rounds.*\[0, 3\)"),
        ({"scored_rounds": ()}, "at least one"),
        ({"scored_rounds": (1, 1)}, "distinct"),
        ({"scored_rounds": 1}, "sequence"),
        ({"headline": "max_return"}, "headline"),
        ({"split": ""}, "split"),
    ],
)
def test_invalid_protocols_are_rejected(kwargs, message):
    fields = {"rounds": 3, "episodes_per_round": 2, "scored_rounds": (2,), **kwargs}
    with pytest.raises(ValueError, match=message):
        Protocol(**fields)


def test_replace_keeps_the_meaning_of_scored_rounds():
    bandit = gym.make("MetaBandit-v0").unwrapped.default_protocol
    longer = bandit.replace(rounds=100)
    assert longer.scored_rounds == tuple(range(100)) and longer.headline == "cumulative_return"
    assert LOCOMOTION.replace(rounds=4).scored_rounds == (3,)
    assert LOCOMOTION.replace(episodes_per_round=3).scored_rounds == (1,)
    assert Protocol(rounds=2, episodes_per_round=1, scored_rounds=[1, 0]).scored_rounds == (0, 1)
    assert LOCOMOTION.describe() == "2 rounds × 10 episodes, scored: round 2, mean return"


def test_families_do_not_import_the_harness():
    import subprocess
    import sys

    code = "import metabench, sys; [__import__('gymnasium').make(f.id) for f in metabench.FAMILIES]; print(any(m.startswith('metabench.evaluation') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
