"""lm-eval's own task index (``--include_builtin``), over lm-eval-ja's generated task folder."""

from __future__ import annotations

from typing import Any

from lm_eval_ja.constants import TASKS_DIR


def task_manager(include_builtin: bool = False, metadata: dict[str, Any] | None = None):
    """lm-eval's TaskManager over our task folder (plus lm-eval's built-in tasks if asked)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(TASKS_DIR), include_defaults=include_builtin, metadata=metadata)
