"""PEARL training throughput on CPU: environment steps/s while collecting (one policy forward
per step, z from the prior or the posterior) and gradient steps/s (one meta-batch update of
the encoder, both critics, the value network and the policy), per named config: per wall
second (the machine as it is) and per CPU second of this process (what an unloaded core gives).

    .venv/bin/python benchmarks/bench_pearl.py [--pause-pids /tmp/metabench-repro.pids]

``--pause-pids`` stops (SIGSTOP) the listed background jobs while measuring and always resumes
them (SIGCONT) afterwards. One torch thread, as ``metabench train`` uses.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import platform
import signal
import time
from pathlib import Path

import numpy as np
import torch

import metabench  # noqa: F401 - registers the families
from metabench.baselines import pearl

CASES = [("MetaHalfCheetahVel-v0", "paper"), ("MetaNavigation2D-v0", "ci")]


def measure(env_id: str, name: str, steps: int, gradient_steps: int, repeats: int) -> dict[str, float]:
    config = pearl.CONFIGS.get((env_id, name)) or pearl.CONFIGS[("*", name)]
    tasks = min(config.num_train_tasks, config.meta_batch)
    config = dataclasses.replace(config, env_id=env_id, num_train_tasks=tasks, replay_size=steps * 2 + 1)
    trainer = pearl.PEARL(config)
    rng = np.random.default_rng(0)
    best: dict[str, float] = {}

    def timed(key: str, count: int, work) -> None:
        start, cpu = time.perf_counter(), time.process_time()
        work()
        best[key] = max(best.get(key, 0.0), count / (time.perf_counter() - start))
        # Per CPU-second of this process: what an unloaded core gives when others compete.
        cpu_key = f"{key} (per CPU s)"
        best[cpu_key] = max(best.get(cpu_key, 0.0), count / max(time.process_time() - cpu, 1e-9))

    for _ in range(repeats):
        for i in range(tasks):
            trainer.encoder_buffers[i].clear()
        timed("env_steps_per_s_prior_z", steps, lambda: trainer.collect(0, steps, False, True, rng))
        for i in range(1, tasks):
            trainer.collect(i, config.embedding_batch_size, False, True, rng)
        timed("env_steps_per_s_posterior_z", steps, lambda: trainer.collect(1, steps, True, False, rng))

        def updates() -> None:
            for _ in range(gradient_steps):
                trainer.gradient_step(rng.choice(tasks, size=config.meta_batch, replace=False), rng)

        timed("gradient_steps_per_s", gradient_steps, updates)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pause-pids", type=Path, help="file of PIDs (one a line) to SIGSTOP while measuring"
    )
    parser.add_argument("--repeats", type=int, default=3, help="best of this many repeats")
    args = parser.parse_args()
    torch.set_num_threads(1)
    pids = []
    if args.pause_pids and args.pause_pids.exists():
        pids = [int(line) for line in args.pause_pids.read_text().split() if line.strip()]
    paused = []
    try:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGSTOP)
                paused.append(pid)
            except ProcessLookupError:
                pass
        print(
            f"{platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread; paused {paused}"
        )
        for env_id, name in CASES:
            grad = 10 if name == "paper" else 200
            result = measure(env_id, name, steps=2000, gradient_steps=grad, repeats=args.repeats)
            shown = ", ".join(f"{k} {v:,.1f}" for k, v in result.items())
            print(f"{env_id} ({name}): {shown}", flush=True)
    finally:
        for pid in paused:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


if __name__ == "__main__":
    main()
