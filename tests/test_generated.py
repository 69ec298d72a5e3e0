"""Generated files are current, and lm-eval indexes every name of the registry from them."""

from __future__ import annotations

import subprocess
import sys

from lm_eval_ja.benchmarks import registry
from lm_eval_ja.evaluator import task_manager
from tests.conftest import REPO


def test_generated_task_files_are_current():
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "generate_tasks.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_lm_eval_indexes_every_name():
    # Broken YAML is skipped silently by lm-eval: make sure every file is indexed, as a task or a group.
    manager = task_manager()
    assert set(registry.task_names()) <= set(manager.all_tasks)
    assert set(registry.groups()) | set(registry.suites()) <= set(manager.all_groups)
