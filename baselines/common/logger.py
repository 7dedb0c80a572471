"""Training logs: namespaced keys (``train/…``, ``loss/…``, ``meta_test/…``, ``time/…``) to a
CSV file and to TensorBoard, one row per iteration.

On resume the CSV is cut back to the checkpoint's iteration first, so a resumed run's log
equals an unbroken one's (no duplicated or orphaned rows).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from pathlib import Path

PROGRESS_FILE = "progress.csv"


class Logger:
    """Appends one record per iteration to ``run_dir/progress.csv`` and TensorBoard."""

    def __init__(self, run_dir: Path, resume_iteration: int = 0, tensorboard: bool = True) -> None:
        self.path = Path(run_dir) / PROGRESS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.rows: list[dict[str, object]] = []  # kept as read back, so a resumed file is unchanged
        if resume_iteration and self.path.exists():
            with self.path.open(newline="") as f:
                self.rows = [
                    row for row in csv.DictReader(f) if float(row["train/iteration"]) <= resume_iteration
                ]
        self._rewrite()
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(
                str(self.path.parent / "tensorboard"), purge_step=resume_iteration + 1
            )

    def log(self, record: Mapping[str, float]) -> None:
        """Log one iteration's record (must contain ``train/iteration``)."""
        for key, value in record.items():
            if "/" not in key:
                raise ValueError(f"log key {key!r}: expected a namespaced key such as 'train/{key}'")
            if not math.isfinite(value):
                raise ValueError(f"log key {key!r}: expected a finite number, got {value!r}")
        self.rows.append(dict(record))
        self._rewrite()
        if self.writer is not None:
            step = int(record["train/iteration"])
            for key, value in record.items():
                self.writer.add_scalar(key, value, step)
            self.writer.flush()

    def _rewrite(self) -> None:
        keys = list(dict.fromkeys(k for row in self.rows for k in row))
        tmp = self.path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(self.rows)
        tmp.replace(self.path)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
