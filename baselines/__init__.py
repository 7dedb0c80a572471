"""Reference meta-RL baselines (MAML-TRPO, RL², PEARL), installed as ``metabench.baselines``.

They are written against the evaluation harness's agent protocol; each algorithm lives in one
file that reads top to bottom (see STYLE.md).
"""
