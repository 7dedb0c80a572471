"""The store: accepted submissions as files, indexed in SQLite.

Layout of a store directory (the repository's ``leaderboard/`` by default)::

    submissions/<env id>/<hash>.json   accepted submissions: the reviewable source of truth
    references.json                    per-task random and optimum scores, for normalising
    leaderboard.sqlite                 the index, rebuilt from the files by ``build``
    BOARD.md, site/                    the rendered board (``metabench.leaderboard.render``)

``build`` re-validates every file (a pull request may have edited one), recomputes every
statistic from the raw returns, and writes the database through a temporary file and a
rename, inserting rows in a fixed order: the same files always give the same bytes.
``submit`` holds an exclusive file lock from validation to rebuild, so concurrent submits
record each accepted submission exactly once; a submission whose rebuild fails is removed
again (nothing is half-accepted).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from metabench.evaluation.results import atomic_write_text
from metabench.evaluation.stats import (
    DEFAULT_REPS,
    Estimate,
    aggregate_estimates,
    normalise,
    probability_of_improvement,
    summarise,
)
from metabench.leaderboard.ranking import family_matrix, interval_ranks, tied
from metabench.leaderboard.schema import Submission
from metabench.leaderboard.validate import Accepted, SubmissionError, _family_env, _split, validate_submission

__all__ = ["DB_SCHEMA_VERSION", "Entry", "Store", "StoreError"]

#: Bump when the tables change.
DB_SCHEMA_VERSION = 1

_TABLES = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE families (
    env_id TEXT PRIMARY KEY, protocol TEXT NOT NULL, headline TEXT NOT NULL, num_tasks INTEGER NOT NULL,
    normaliser TEXT);
CREATE TABLE entries (
    id TEXT PRIMARY KEY, env_id TEXT NOT NULL, path TEXT NOT NULL, method TEXT NOT NULL,
    authors TEXT NOT NULL, contact TEXT NOT NULL, paper TEXT, code TEXT, description TEXT NOT NULL,
    meta_train_steps INTEGER NOT NULL, agent_name TEXT NOT NULL, agent_source TEXT NOT NULL,
    privileged INTEGER NOT NULL, seeds INTEGER NOT NULL, tasks INTEGER NOT NULL,
    iqm REAL NOT NULL, iqm_low REAL NOT NULL, iqm_high REAL NOT NULL,
    mean REAL NOT NULL, mean_low REAL NOT NULL, mean_high REAL NOT NULL,
    norm_iqm REAL, norm_low REAL, norm_high REAL,
    rank INTEGER, tied INTEGER NOT NULL);
CREATE TABLE rounds (
    entry_id TEXT NOT NULL, round INTEGER NOT NULL, scored INTEGER NOT NULL,
    iqm REAL NOT NULL, iqm_low REAL NOT NULL, iqm_high REAL NOT NULL,
    mean REAL NOT NULL, mean_low REAL NOT NULL, mean_high REAL NOT NULL,
    PRIMARY KEY (entry_id, round));
CREATE TABLE scores (
    entry_id TEXT NOT NULL, seed INTEGER NOT NULL, task_index INTEGER NOT NULL, score REAL NOT NULL,
    normalised REAL, PRIMARY KEY (entry_id, seed, task_index));
CREATE TABLE overall (
    method TEXT PRIMARY KEY, families TEXT NOT NULL, complete INTEGER NOT NULL, runs INTEGER NOT NULL,
    iqm REAL NOT NULL, iqm_low REAL NOT NULL, iqm_high REAL NOT NULL, rank INTEGER, tied INTEGER NOT NULL);
"""


class StoreError(ValueError):
    """The store's files are inconsistent (an invalid or duplicate submission file, stale
    references) or the index is missing."""


@dataclass(frozen=True)
class Entry:
    """An accepted submission file."""

    path: Path
    submission: Submission
    hash: str

    @property
    def id(self) -> str:
        """The entry's short id: the first 16 hex digits of its content hash."""
        return self.hash[:16]


class Store:
    """A leaderboard store rooted at ``root`` (see the module docstring).

    Args:
        root: the store directory.
        reps: bootstrap replications of every interval (recorded in the database).
    """

    def __init__(self, root: str | Path, *, reps: int = DEFAULT_REPS) -> None:
        if reps < 1:
            raise ValueError(f"Store: expected reps >= 1, got {reps}")
        self.root = Path(root)
        self.reps = int(reps)
        self.submissions = self.root / "submissions"
        self.db_path = self.root / "leaderboard.sqlite"
        self.references_path = self.root / "references.json"

    # -- files ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """An exclusive lock on the store (``flock`` on ``.lock``), for writers."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def files(self) -> list[Path]:
        """The accepted submission files, in a fixed order."""
        if not self.submissions.is_dir():
            return []
        return sorted(self.submissions.glob("*/*.json"), key=lambda p: p.relative_to(self.root).as_posix())

    def entries(self) -> list[Entry]:
        """Every accepted file, each re-validated against the ones before it.

        Raises:
            StoreError: a file fails validation, or is not named after its content hash.
        """
        entries: list[Entry] = []
        for path in self.files():
            where = path.relative_to(self.root).as_posix()
            try:
                accepted = validate_submission(
                    path.read_bytes(),
                    accepted_hashes=[e.hash for e in entries],
                    accepted_methods=[
                        (e.submission.result.env.id, e.submission.method.name) for e in entries
                    ],
                    where=where,
                )
            except SubmissionError as error:
                raise StoreError(f"the store holds an invalid submission file:\n{error}") from None
            expected = self._path_for(accepted)
            if path != expected:
                raise StoreError(f"{where}: expected at {expected.relative_to(self.root).as_posix()}")
            entries.append(Entry(path, accepted.submission, accepted.hash))
        return entries

    def _path_for(self, accepted: Accepted) -> Path:
        return self.submissions / accepted.submission.result.env.id / f"{accepted.hash[:16]}.json"

    def validate(self, data: bytes | str, where: str = "submission") -> Accepted:
        """Validate a submission against this store's accepted ones (see
        :func:`~metabench.leaderboard.validate.validate_submission`)."""
        entries = self.entries()
        return validate_submission(
            data,
            accepted_hashes=[e.hash for e in entries],
            accepted_methods=[(e.submission.result.env.id, e.submission.method.name) for e in entries],
            where=where,
        )

    def submit(self, data: bytes | str, where: str = "submission", *, rebuild: bool = True) -> Entry:
        """Validate, add and (with ``rebuild``) rebuild the index, under the store's lock.

        Raises:
            SubmissionError: the submission was rejected (nothing was written).
        """
        with self.lock():
            accepted = self.validate(data, where)
            path = self._path_for(accepted)
            atomic_write_text(path, accepted.submission.to_json() + "\n")
            try:
                if rebuild:
                    self.build(locked=True)
            except BaseException:
                path.unlink(missing_ok=True)
                raise
            return Entry(path, accepted.submission, accepted.hash)

    # -- references ----------------------------------------------------------------------------

    def references(self) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
        """Per family: per-task (random, optimum) headline scores and how they were obtained.

        Raises:
            StoreError: the file is malformed or was made for other held-out tasks or another
                protocol than the family's current ones.
        """
        if not self.references_path.exists():
            return {}
        try:
            document = json.loads(self.references_path.read_text())
            out = {}
            for env_id, item in sorted(document.items()):
                env = _family_env(env_id)
                protocol = env.default_protocol
                _, digest = _split(env_id, protocol.split)
                if item["tasks_digest"] != digest or item["protocol"] != protocol.to_dict():
                    raise StoreError(
                        f"{self.references_path}: the references of {env_id} were made for other "
                        "held-out tasks or another protocol; regenerate them (scripts/seed_leaderboard.py)"
                    )
                low, high = np.asarray(item["random"], dtype=float), np.asarray(item["optimum"], dtype=float)
                if low.shape != high.shape or low.shape != (len(env.test_tasks(protocol.split)),):
                    raise StoreError(
                        f"{self.references_path}: {env_id}: expected one value per held-out task"
                    )
                out[env_id] = (low, high, str(item["how"]))
            return out
        except (KeyError, TypeError, ValueError, gym.error.Error) as error:
            if isinstance(error, StoreError):
                raise
            raise StoreError(f"{self.references_path}: malformed ({type(error).__name__}: {error})") from None

    # -- the index -----------------------------------------------------------------------------

    def build(self, *, locked: bool = False) -> Path:
        """Rebuild the SQLite index from the files, deterministically."""
        if not locked:
            with self.lock():
                return self.build(locked=True)
        entries = self.entries()
        references = self.references()
        inputs = hashlib.sha256()
        for entry in entries:
            inputs.update(
                entry.path.relative_to(self.root).as_posix().encode() + b"\0" + entry.path.read_bytes()
            )
        if self.references_path.exists():
            inputs.update(self.references_path.read_bytes())
        self.root.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".leaderboard.", suffix=".sqlite", dir=self.root)
        os.close(handle)
        try:
            db = sqlite3.connect(temporary)
            try:
                db.executescript(_TABLES)
                self._fill(db, entries, references, inputs.hexdigest())
                db.commit()
            finally:
                db.close()
            os.replace(temporary, self.db_path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return self.db_path

    def _fill(
        self,
        db: sqlite3.Connection,
        entries: list[Entry],
        references: dict[str, tuple[np.ndarray, np.ndarray, str]],
        inputs_digest: str,
    ) -> None:
        meta = {
            "db_schema_version": str(DB_SCHEMA_VERSION),
            "inputs_sha256": inputs_digest,
            "reps": str(self.reps),
            "confidence": "0.95",
            "bootstrap_seed": "0",
        }
        db.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
        by_family: dict[str, list[Entry]] = {}
        for entry in entries:
            by_family.setdefault(entry.submission.result.env.id, []).append(entry)
        normalised_by_method: dict[str, dict[str, np.ndarray]] = {}
        for env_id in sorted(set(by_family) | set(references)):
            protocol = _family_env(env_id).default_protocol
            low_high_how = references.get(env_id)
            db.execute(
                "INSERT INTO families VALUES (?, ?, ?, ?, ?)",
                (
                    env_id,
                    protocol.describe(),
                    protocol.headline,
                    len(_split(env_id, protocol.split)[0]),
                    low_high_how[2] if low_high_how else None,
                ),
            )
            rows = []
            for entry in by_family.get(env_id, []):
                result = entry.submission.result
                bounds = None
                if low_high_how is not None:
                    order = result.task_indices
                    bounds = (low_high_how[0][order], low_high_how[1][order])
                summary = summarise(result, bounds=bounds, reps=self.reps, seed=0)
                headline = result.headline_scores()
                normalised = normalise(headline, *bounds) if bounds is not None else None
                if normalised is not None and not result.agent.privileged:
                    normalised_by_method.setdefault(entry.submission.method.name, {})[env_id] = normalised[
                        np.argsort(result.seeds)
                    ][:, np.argsort(result.task_indices)]
                rows.append((entry, summary, headline, normalised))
            ranked = [i for i, (entry, *_) in enumerate(rows) if not entry.submission.result.agent.privileged]
            estimates = [rows[i][1].headline["iqm"] for i in ranked]
            ranks = dict(zip(ranked, interval_ranks(estimates)))
            ties = dict(zip(ranked, tied(estimates)))
            for i, (entry, summary, headline, normalised) in enumerate(rows):
                self._insert_entry(db, entry, summary, headline, normalised, ranks.get(i), ties.get(i, False))
        self._fill_overall(db, normalised_by_method, sorted(references))

    @staticmethod
    def _insert_entry(db, entry: Entry, summary, headline, normalised, rank, is_tied) -> None:
        submission = entry.submission
        method, result = submission.method, submission.result
        h, m = summary.headline["iqm"], summary.headline["mean"]
        n = summary.normalised["iqm"] if summary.normalised is not None else None
        db.execute(
            "INSERT INTO entries VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                entry.id,
                result.env.id,
                entry.path.relative_to(entry.path.parents[2]).as_posix(),
                method.name,
                json.dumps(method.authors, ensure_ascii=False),
                method.contact,
                str(method.paper) if method.paper else None,
                str(method.code) if method.code else None,
                method.description,
                method.meta_train_steps,
                result.agent.name,
                result.agent.source,
                int(result.agent.privileged),
                len(result.seeds),
                len(result.task_indices),
                h.point,
                h.low,
                h.high,
                m.point,
                m.low,
                m.high,
                n.point if n else None,
                n.low if n else None,
                n.high if n else None,
                rank,
                int(is_tied),
            ),
        )
        scored = set(result.protocol.scored_rounds)
        db.executemany(
            "INSERT INTO rounds VALUES (?,?,?,?,?,?,?,?,?)",
            [
                (entry.id, r, int(r in scored), i.point, i.low, i.high, mm.point, mm.low, mm.high)
                for r, (i, mm) in enumerate(zip(summary.rounds["iqm"], summary.rounds["mean"]))
            ],
        )
        db.executemany(
            "INSERT INTO scores VALUES (?,?,?,?,?)",
            sorted(
                (
                    entry.id,
                    seed,
                    task,
                    float(headline[s, t]),
                    float(normalised[s, t]) if normalised is not None else None,
                )
                for s, seed in enumerate(result.seeds)
                for t, task in enumerate(result.task_indices)
            ),
        )

    def _fill_overall(
        self, db: sqlite3.Connection, by_method: dict[str, dict[str, np.ndarray]], normalisable: list[str]
    ) -> None:
        methods = sorted(by_method)
        rows = []
        for name in methods:
            families = sorted(by_method[name])
            matrix = family_matrix([by_method[name][f] for f in families])
            estimate = aggregate_estimates(matrix, reps=self.reps, seed=0)["iqm"]
            rows.append((name, families, families == normalisable, matrix.shape[0], estimate))
        complete = [i for i, row in enumerate(rows) if row[2]]
        estimates = [rows[i][4] for i in complete]
        ranks = dict(zip(complete, interval_ranks(estimates)))
        ties = dict(zip(complete, tied(estimates)))
        for i, (name, families, is_complete, runs, e) in enumerate(rows):
            db.execute(
                "INSERT INTO overall VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    name,
                    json.dumps(families),
                    int(is_complete),
                    runs,
                    e.point,
                    e.low,
                    e.high,
                    ranks.get(i),
                    int(ties.get(i, False)),
                ),
            )

    # -- reading the index ---------------------------------------------------------------------

    def connect(self) -> sqlite3.Connection:
        """A read-only connection to the index.

        Raises:
            StoreError: there is no index (run ``metabench leaderboard build``).
        """
        if not self.db_path.exists():
            raise StoreError(f"{self.db_path}: no index; run 'metabench leaderboard build'")
        db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
        db.row_factory = sqlite3.Row
        return db

    def find(self, db: sqlite3.Connection, env_id: str, key: str) -> sqlite3.Row:
        """The entry of ``env_id`` whose id starts with ``key`` or whose method is ``key``."""
        rows = db.execute(
            "SELECT * FROM entries WHERE env_id = ? AND (id LIKE ? OR lower(method) = lower(?)) ORDER BY id",
            (env_id, key.replace("%", "").replace("_", "") + "%", key),
        ).fetchall()
        if len(rows) != 1:
            known = [
                f"{r['method']} ({r['id']})"
                for r in db.execute(
                    "SELECT method, id FROM entries WHERE env_id = ? ORDER BY method", (env_id,)
                )
            ]
            what = "no entry" if not rows else "several entries"
            raise StoreError(f"{what} of {env_id} matches {key!r}; entries: {', '.join(known) or 'none'}")
        return rows[0]

    def improvement(self, env_id: str, a: str, b: str) -> tuple[Any, Any, Estimate]:
        """rliable's probability that entry ``a`` beats entry ``b`` on a random held-out task
        of ``env_id``, with its CI, from the indexed per-trial headline scores."""
        with contextlib.closing(self.connect()) as db:
            row_a, row_b = self.find(db, env_id, a), self.find(db, env_id, b)
            scores = []
            for row in (row_a, row_b):
                values = db.execute(
                    "SELECT seed, task_index, score FROM scores WHERE entry_id = ? ORDER BY seed, task_index",
                    (row["id"],),
                ).fetchall()
                seeds = sorted({v["seed"] for v in values})
                scores.append(np.array([v["score"] for v in values]).reshape(len(seeds), -1))
            reps = int(db.execute("SELECT value FROM meta WHERE key = 'reps'").fetchone()[0])
        return row_a, row_b, probability_of_improvement(scores[0], scores[1], reps=reps, seed=0)
