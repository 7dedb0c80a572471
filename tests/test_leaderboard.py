"""The leaderboard: each validation rule, the store, ranking, rendering and the CLI."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

pytest.importorskip("rliable", reason="the stats extra is not installed")
pytest.importorskip("jinja2", reason="the leaderboard needs jinja2")

from leaderboard_helpers import result, submission, text  # noqa: E402

from metabench.cli import main  # noqa: E402
from metabench.evaluation.stats import Estimate, aggregate_estimates, iqm, normalise  # noqa: E402
from metabench.leaderboard.ranking import family_matrix, interval_ranks, tied  # noqa: E402
from metabench.leaderboard.render import markdown_escape, plot_label  # noqa: E402
from metabench.leaderboard.schema import content_hash  # noqa: E402
from metabench.leaderboard.store import Store, StoreError  # noqa: E402
from metabench.leaderboard.validate import (  # noqa: E402
    SubmissionError,
    episode_return_bounds,
    parse_submission,
    recomputed_summary,
    validate_submission,
)

REPS = 100  # bootstrap replications in these tests (the board uses 2000)


def rejected(document_or_text, **kwargs) -> str:
    data = document_or_text if isinstance(document_or_text, str | bytes) else text(document_or_text)
    with pytest.raises(SubmissionError) as caught:
        validate_submission(data, **kwargs)
    message = str(caught.value)
    assert "could not be checked" not in message  # an internal error is a crash, not a rejection
    return message


def test_a_real_result_is_accepted_and_its_summary_is_recomputed():
    document = submission()
    accepted = validate_submission(text(document))
    evaluated = result()
    assert accepted.hash == content_hash(evaluated)
    scores = evaluated.headline_scores()  # (seeds, tasks): total reward of 10 pulls
    raw = np.array([[sum(sum(r) for r in u.returns)] for u in evaluated.units]).ravel()
    assert math.isclose(scores.mean(), raw.mean())
    pooled = np.sort(scores.ravel())
    cut = len(pooled) // 4
    summary = recomputed_summary(evaluated)
    assert math.isclose(summary["headline_iqm"], pooled[cut : len(pooled) - cut].mean())
    assert math.isclose(summary["round_mean"][0], np.mean([u.returns[0][0] for u in evaluated.units]))


def _set(path: str, value):
    def mutate(document):
        *parents, last = path.split(".")
        node = document
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _drop_task(document):
    result = document["result"]
    result["task_indices"].remove(7)
    result["units"] = [u for u in result["units"] if u["task_index"] != 7]


def _partial(document):
    document["result"]["status"] = "partial"
    document["result"]["units"].pop()


def _tamper_returns(document):  # every pull of five trials a success: the summary no longer matches
    for unit in document["result"]["units"][:5]:
        unit["returns"] = [[1.0]] * len(unit["returns"])


def _no_links(document):
    del document["method"]["code"]


RULES = {
    "unknown family": (_set("result.env.id", "MetaNope-v0"), "is not a metabench family"),
    "wrong version": (_set("result.env.version", 3), "MetaBandit-v0 is version 0"),
    "wrong entry point": (_set("result.env.family", "evil:Env"), "result.env.family: expected"),
    "non-default kwargs": (_set("result.env.kwargs", {"num_arms": 10}), "default arguments"),
    "non-default protocol": (_set("result.protocol.scored_rounds", [9]), "default protocol"),
    "other held-out tasks": (_set("result.env.tasks_digest", "0" * 64), "tasks_digest"),
    "missing task": (_drop_task, "1 missing (7)"),
    "partial": (_partial, "expected 'complete'"),
    "NaN return": (_set("result.units.0.returns.0.0", math.nan), "finite number"),
    "infinite return": (_set("result.units.0.returns.0.0", math.inf), "finite number"),
    "out-of-bounds return": (_set("result.units.2.returns.4.0", 2.0), "outside the achievable range [0, 1]"),
    "negative return": (_set("result.units.2.returns.4.0", -1e-3), "outside the achievable range"),
    "tampered summary": (_set("summary.headline_iqm", 9.0), "summary.headline_iqm: claims 9.0"),
    "tampered round": (_set("summary.round_mean.3", 0.123), "summary.round_mean[3]"),
    "tampered returns": (_tamper_returns, "summary.headline_mean: claims"),
    "no paper or code": (_no_links, "give a paper or a code link"),
    "steps disagree": (_set("method.meta_train_steps", 10**6), "disagrees with the result's"),
    "no provenance time": (_set("result.provenance.created_at", "yesterday"), "ISO 8601"),
    "no metabench version": (_set("result.provenance.packages", {}), "metabench version is not recorded"),
    "no provenance": (_set("result.provenance", None), "result.provenance"),
    "no authors": (_set("method.authors", []), "method.authors"),
    "javascript link": (
        _set("method.paper", "javascript:alert(1)"),
        "URL scheme should be 'http' or 'https'",
    ),
    "control character": (_set("method.name", "a\nb"), "method.name"),
    "unknown field": (_set("method.extra", 1), "Extra inputs are not permitted"),
    "wrong version of the format": (_set("submission_version", 2), "submission_version: expected 1"),
    "lengths out of range": (_set("result.units.0.lengths.0.0", 2), "expected lengths in [1, 1]"),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_each_rule_rejects_with_a_clear_message(rule):
    mutate, expected = RULES[rule]
    document = submission()
    mutate(document)
    message = rejected(document)
    assert expected in message, message


def test_fewer_than_five_seeds_are_rejected():
    assert "at least 5 seeds per task, got 4" in rejected(submission(seeds=4))


def test_duplicates_and_second_entries_of_a_method_are_rejected():
    document = submission()
    accepted = validate_submission(text(document))
    renamed = submission(name="Renamed")
    message = rejected(renamed, accepted_hashes=[accepted.hash])
    assert f"content hash {accepted.hash[:16]}" in message
    other = submission("random", name="THOMPSON")  # method names compare case-insensitively
    message = rejected(other, accepted_methods=[("MetaBandit-v0", "thompson")])
    assert "already has an entry on MetaBandit-v0" in message


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xff\xfe{", "not valid UTF-8"),
        ("{", "not valid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("{}", "submission_version: expected 1, got None"),
    ],
)
def test_unparsable_documents_are_rejected(data, expected):
    assert expected in rejected(data)


def test_a_bare_result_file_is_pointed_to_prepare():
    assert "wrap it with 'metabench leaderboard prepare" in rejected(result().to_json())


def test_size_limit(monkeypatch):
    import metabench.leaderboard.validate as validate

    monkeypatch.setattr(validate, "MAX_BYTES", 1000)
    assert "the limit is 1,000" in rejected(text(submission()))


def test_return_bounds_are_the_families_own():
    import gymnasium as gym

    import metabench  # noqa: F401

    navigation = gym.make("MetaNavigation2D-v0").unwrapped
    task = navigation.default_task().__class__((0.3, 0.4))  # |g| = 0.5
    low, high = episode_return_bounds(navigation, task, 2)
    # two steps: |s_1| <= 0.1·√2, |s_2| <= 0.2·√2; each reward >= -(|s_t| + |g|)
    assert math.isclose(low, -(0.3 * math.sqrt(2) + 1.0)) and high == 0
    grid = gym.make("MetaGridNavi-v0").unwrapped
    assert tuple(map(float, episode_return_bounds(grid, grid.default_task(), 15))) == (-1.5, 15.0)
    mdp = gym.make("MetaTabularMDP-v0").unwrapped
    mdp_task = mdp.test_tasks()[0]
    means = np.asarray(mdp_task.mean_rewards)
    low, high = episode_return_bounds(mdp, mdp_task, 10)
    assert math.isclose(low, 10 * means.min() - 10 * math.sqrt(10))
    assert math.isclose(high, 10 * means.max() + 10 * math.sqrt(10))
    # every return of real random and oracle runs lies inside (they validate)
    for agent in ("random", "oracle"):
        validate_submission(text(submission(agent, "MetaNavigation2DSparse-v0")))


# -- ranking ------------------------------------------------------------------------------------


def test_interval_ranks_and_ties():
    a, b, c, d = Estimate(10, 9, 11), Estimate(8.5, 7, 9.5), Estimate(8, 6, 8.9), Estimate(1, 0, 2)
    # b overlaps a ([7, 9.5] vs [9, 11]) so shares rank 1; c's interval lies wholly below a's only
    assert interval_ranks([a, b, c, d]) == [1, 1, 2, 4]
    assert tied([a, b, c, d]) == [True, True, True, False]
    assert interval_ranks([Estimate(1, 0, 2)]) == [1] and tied([Estimate(1, 0, 2)]) == [False]


def test_family_matrix_averages_tasks_per_seed_and_truncates_seeds():
    x = np.arange(6.0).reshape(3, 2)  # 3 seeds, 2 tasks
    y = np.ones((5, 4))
    matrix = family_matrix([x, y])
    assert matrix.shape == (3, 2)
    assert matrix[:, 0].tolist() == [0.5, 2.5, 4.5] and matrix[:, 1].tolist() == [1.0, 1.0, 1.0]


# -- the store ----------------------------------------------------------------------------------


def _references(store: Store, env_id: str = "MetaBandit-v0") -> tuple[np.ndarray, np.ndarray]:
    """Exact per-task random and oracle scores of the bandit's held-out tasks."""
    from metabench.evaluation.report import reference_bounds

    evaluated = result("random", env_id)
    low, high = reference_bounds(evaluated)
    store.references_path.parent.mkdir(parents=True, exist_ok=True)
    store.references_path.write_text(
        json.dumps(
            {
                env_id: {
                    "tasks_digest": evaluated.env.tasks_digest,
                    "protocol": evaluated.to_protocol().to_dict(),
                    "random": low.tolist(),
                    "optimum": high.tolist(),
                    "how": "exact",
                }
            }
        )
    )
    return low, high


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """A store with four bandit entries and exact references, built and rendered."""
    from metabench.leaderboard.render import render

    store = Store(tmp_path_factory.mktemp("board"), reps=REPS)
    _references(store)
    for agent in ("thompson", "random", "oracle"):
        store.submit(text(submission(agent)), rebuild=False)
    hostile = submission("greedy", name="<script>alert(1)</script>")
    hostile["method"]["authors"] = ['"><img src=x onerror=alert(2)>', "a | b *c* [d](e)"]
    store.submit(text(hostile))
    render(store)
    return store


def test_the_index_holds_what_the_statistics_give(board):
    import sqlite3

    from metabench.evaluation.stats import summarise

    db = sqlite3.connect(board.db_path)
    rows = {
        r[0]: r[1:] for r in db.execute("SELECT method, iqm, iqm_low, iqm_high, norm_iqm, rank FROM entries")
    }
    assert set(rows) == {"thompson", "random", "oracle", "<script>alert(1)</script>"}
    thompson = summarise(result("thompson"), reps=REPS, seed=0).headline["iqm"]
    assert rows["thompson"][:3] == (thompson.point, thompson.low, thompson.high)
    assert rows["oracle"][3] is not None and rows["oracle"][4] is None  # privileged: unranked
    # the normalised IQM of random is near 0 and recomputes from the references
    ref = json.loads(board.references_path.read_text())["MetaBandit-v0"]
    norm = normalise(result("random").headline_scores(), np.array(ref["random"]), np.array(ref["optimum"]))
    assert math.isclose(rows["random"][3], float(iqm(norm)))
    overall = dict(db.execute("SELECT method, iqm FROM overall"))
    assert "oracle" not in overall
    expected = aggregate_estimates(family_matrix([norm]), reps=REPS, seed=0)["iqm"].point
    assert math.isclose(overall["random"], expected)


def test_building_twice_gives_the_same_database_and_page(board, tmp_path):
    from metabench.leaderboard.render import render

    copy = Store(tmp_path / "copy", reps=REPS)
    shutil.copytree(board.submissions, copy.submissions)
    shutil.copy(board.references_path, copy.references_path)
    render(copy)
    assert copy.db_path.read_bytes() == board.db_path.read_bytes()
    for name in ("site/index.html", "BOARD.md", "site/MetaBandit-v0-ci.png", "site/MetaBandit-v0-curves.png"):
        assert (copy.root / name).read_bytes() == (board.root / name).read_bytes(), name
    before = copy.db_path.read_bytes()
    copy.build()
    assert copy.db_path.read_bytes() == before


def test_submission_strings_are_escaped(board):
    page = (board.root / "site" / "index.html").read_text()
    assert "<script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    assert "script-src" not in page and "default-src 'none'" in page  # no script is allowed at all
    table = (board.root / "BOARD.md").read_text()
    assert "<script>" not in table and "&lt;script&gt;alert\\(1\\)&lt;/script&gt;" in table
    assert "a \\| b \\*c\\* \\[d\\]\\(e\\)" in table  # no cell break, emphasis or link


def test_markdown_and_plot_escapes():
    assert markdown_escape("<b>|x|</b>") == "&lt;b&gt;\\|x\\|&lt;/b&gt;"
    assert plot_label("$x$") == "\\$x\\$" and plot_label("_hidden") == " _hidden"


def test_an_edited_file_is_caught_by_build(board, tmp_path):
    copy = Store(tmp_path / "copy", reps=REPS)
    shutil.copytree(board.submissions, copy.submissions)
    path = copy.files()[0]
    document = json.loads(path.read_text())
    document["summary"]["headline_mean"] += 1
    path.write_text(json.dumps(document))
    with pytest.raises(StoreError, match="invalid submission file"):
        copy.build()
    path.rename(path.with_name("0" * 16 + ".json"))
    document["summary"]["headline_mean"] -= 1
    path.with_name("0" * 16 + ".json").write_text(json.dumps(document))
    with pytest.raises(StoreError, match="expected at submissions/MetaBandit-v0/"):
        copy.build()


# -- the command line ---------------------------------------------------------------------------


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, " ".join((captured.out + captured.err).split())


def test_cli_accepts_a_real_result_and_rejects_a_tampered_one(tmp_path, capsys):
    store = str(tmp_path / "store")
    raw = tmp_path / "result.json"
    raw.write_text(result("thompson").to_json())
    sub = tmp_path / "submission.json"
    code, out = run(
        capsys, "leaderboard", "prepare", str(raw), "--method", "Thompson", "--author", "A. Author",
        "--contact", "a@example.org", "--code", "https://example.org/code", "--out", str(sub),
    )  # fmt: skip
    assert code == 0 and sub.exists()
    assert run(capsys, "leaderboard", "validate", str(sub), "--store", store)[0] == 0
    tampered = json.loads(sub.read_text())
    tampered["summary"]["headline_iqm"] += 0.5
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(tampered))
    code, out = run(capsys, "leaderboard", "submit", str(bad), "--store", store, "--reps", str(REPS))
    assert code == 1 and "rejected" in out and "summary.headline_iqm" in out and "Traceback" not in out
    assert not (tmp_path / "store" / "submissions").exists() or not list((tmp_path / "store").rglob("*.json"))
    code, out = run(capsys, "leaderboard", "submit", str(sub), "--store", store, "--reps", str(REPS))
    assert code == 0 and "accepted" in out
    code, out = run(capsys, "leaderboard", "submit", str(sub), "--store", store, "--reps", str(REPS))
    assert code == 1 and "duplicate" in out
    code, out = run(capsys, "leaderboard", "validate", str(tmp_path / "missing.json"), "--store", store)
    assert code == 1 and "cannot read" in out


def test_cli_compare_gives_rliables_probability_of_improvement(board, capsys):
    from metabench.evaluation.stats import probability_of_improvement

    code, out = run(
        capsys, "leaderboard", "compare", "MetaBandit-v0", "thompson", "random", "--store", str(board.root)
    )
    expected = probability_of_improvement(
        result("thompson").headline_scores(), result("random").headline_scores(), reps=REPS, seed=0
    )
    assert code == 0 and "P(thompson > random)" in out and str(expected) in out
    code, out = run(
        capsys, "leaderboard", "compare", "MetaBandit-v0", "thompson", "nobody", "--store", str(board.root)
    )
    assert code == 1 and "no entry of MetaBandit-v0 matches 'nobody'" in out


def test_parse_submission_keeps_the_result_schema():
    parsed = parse_submission(text(submission()))
    assert parsed.result.env.id == "MetaBandit-v0" and parsed.method.authors == ["A. Author", "B. Author"]


def test_the_stored_form_round_trips_and_keeps_a_trial_on_one_line():
    parsed = parse_submission(text(submission()))
    stored = parsed.to_json()
    assert parse_submission(stored) == parsed
    first = parsed.result.units[0]
    assert f'"returns": {json.dumps(first.returns, separators=(",", ":"))}' in stored
    assert '"name": "thompson"' in stored  # metadata stays indented and readable
