"""metabench: Gymnasium-compatible task distributions for meta-reinforcement learning.

``import metabench`` registers every family with gymnasium (see :mod:`metabench.registration`).
"""

from metabench.core import InvalidTaskError, MetaEnv, Task
from metabench.registration import FAMILIES, register_all
from metabench.wrappers import TaskInObservation, TrialHistory

__version__ = "0.1.0"

register_all()

__all__ = [
    "FAMILIES",
    "InvalidTaskError",
    "MetaEnv",
    "Task",
    "TaskInObservation",
    "TrialHistory",
    "__version__",
]
