"""The leaderboard (submission schema, validation, store, ranking), installed as
``metabench.leaderboard``. It reads result files through the evaluation harness's schema."""
