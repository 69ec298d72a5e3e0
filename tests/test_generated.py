"""Generated files are current, and lm-eval indexes every name of the registry from them."""

from __future__ import annotations

import subprocess
import sys

from lm_eval_ja.benchmarks import registry
from lm_eval_ja.builtin_tasks import task_manager
from tests.conftest import REPO


def test_generated_task_files_are_current():
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "generate_tasks.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_lm_eval_indexes_every_name():
    # Broken YAML is skipped silently by lm-eval: make sure every file is indexed, as a task or a group.
    manager = task_manager()
    runnable = [n for n in registry.all_names() if registry.runs_in_lm_eval(n)]
    assert {n for n in registry.task_names() if n in runnable} <= set(manager.all_tasks)
    assert {n for n in [*registry.groups(), *registry.suites()] if n in runnable} <= set(manager.all_groups)
    # chat tasks judged by an LLM run through lm-eval-ja only: lm-eval is not offered them
    assert "ja_mt_bench" not in runnable and not {"ja_mt_bench", "elyza_tasks_100"} & set(manager.all_tasks)
