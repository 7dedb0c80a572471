"""Property-based fuzzing of the validator: malformed and adversarial submissions.

Every generated document must be rejected with a :class:`SubmissionError` (no other exception,
no internal "could not be checked" error, and never accepted). The base is a real, valid
submission that is already on the board, so a mutation that leaves the scored returns as they
were is rejected as a duplicate, and one that changes them contradicts the included summary:
no single mutation can make an acceptable submission.
"""

from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("rliable", reason="the stats extra is not installed")
hypothesis = pytest.importorskip("hypothesis", reason="the dev extra is not installed")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from leaderboard_helpers import submission  # noqa: E402

from metabench.leaderboard.validate import SubmissionError, validate_submission  # noqa: E402

ENV = "MetaNavigation2DSparse-v0"  # 20 held-out tasks: a small but complete submission
EXAMPLES = 1100

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, -0.0]),
    st.text(max_size=30),
    st.sampled_from(["<script>alert(1)</script>", "javascript:alert(1)", "\x00", "MetaBandit-v0", "../../x"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(node, prefix=()):
    """Every path (tuple of keys and indices) into the document, sampling long lists."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        indices = range(len(node)) if len(node) <= 6 else [0, 1, len(node) // 2, len(node) - 1]
        for i in indices:
            yield from _paths(node[i], (*prefix, i))


@pytest.fixture(scope="module")
def base():
    document = submission("random", ENV)
    accepted = validate_submission(json.dumps(document))
    return document, list(_paths(document))[1:], accepted.hash


def _replace(document, path, value):
    node = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _delete(document, path):
    node = document
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]


mutations = st.one_of(
    st.tuples(st.just("replace"), st.integers(min_value=0), json_values),
    st.tuples(st.just("delete"), st.integers(min_value=0), st.none()),
    st.tuples(st.just("extra"), st.integers(min_value=0), json_values),
    st.tuples(st.just("document"), st.just(0), json_values),
    st.tuples(st.just("bytes"), st.just(0), st.binary(max_size=200)),
    st.tuples(st.just("truncate"), st.integers(min_value=0), st.none()),
    st.tuples(st.just("nest"), st.integers(min_value=1, max_value=200_000), st.none()),
)


def _generate(base, mutation) -> bytes | str:
    document, paths, _ = base
    kind, index, value = mutation
    if kind == "document":
        return json.dumps(value)
    if kind == "bytes":
        return value
    if kind == "nest":
        return "[" * index + "]" * index
    text = json.dumps(document)
    if kind == "truncate":
        return text[: index % len(text)]
    copy = json.loads(text)
    path = paths[index % len(paths)]
    if kind == "replace":
        _replace(copy, path, value)
    elif kind == "delete":
        _delete(copy, path)
    else:  # an unknown key in the nearest object
        while True:
            node = copy
            for key in path:
                node = node[key]
            if isinstance(node, dict):
                break
            path = path[:-1]
        node["unexpected field"] = value
    return json.dumps(copy)


def test_fuzzed_submissions_are_all_rejected_cleanly(base):
    counts = {"examples": 0, "rejected": 0, "only as a duplicate": 0}

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(mutation=mutations)
    def check(mutation):
        counts["examples"] += 1
        data = _generate(base, mutation)
        with pytest.raises(SubmissionError) as caught:
            validate_submission(data, accepted_hashes=[base[2]])
        message = str(caught.value)
        assert "could not be checked" not in message, message  # an internal error, i.e. a crash
        assert caught.value.problems and all(p.strip() for p in caught.value.problems)
        counts["rejected"] += 1
        counts["only as a duplicate"] += all(p.startswith("duplicate") for p in caught.value.problems)

    check()
    print(f"fuzzing: {counts}")
    assert counts["examples"] >= 1000 and counts["rejected"] == counts["examples"]
