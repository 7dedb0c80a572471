"""The task API on gymnasium's v5 MuJoCo envs."""

from __future__ import annotations

from typing import Any

from metabench.core import MetaEnv


class MujocoMetaEnv(MetaEnv):
    """:class:`MetaEnv` for a gymnasium ``MujocoEnv``: the task in force goes into every reset's
    info (gymnasium builds it in ``_get_reset_info``). Families put it into their step info."""

    def _get_reset_info(self) -> dict[str, Any]:
        info = super()._get_reset_info()
        info["task"] = self._active_task
        return info
