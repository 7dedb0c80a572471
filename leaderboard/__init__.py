"""The metabench leaderboard: validated submissions, a store, ranking, a rendered board.

* :mod:`~metabench.leaderboard.schema` — the submission format (a harness result + metadata).
* :mod:`~metabench.leaderboard.validate` — the rules a submission must pass.
* :mod:`~metabench.leaderboard.store` — accepted files under ``submissions/``, a SQLite index.
* :mod:`~metabench.leaderboard.ranking` — interval-based ranks, the cross-family aggregate.
* :mod:`~metabench.leaderboard.render` — the HTML page and the Markdown table.
* :mod:`~metabench.leaderboard.serve` — an optional HTTP service over a store.

It reads results through :class:`metabench.evaluation.EvaluationResult` and computes every
statistic with :mod:`metabench.evaluation.stats`; it never imports a baseline.
"""
