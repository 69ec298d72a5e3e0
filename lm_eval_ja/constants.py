"""Facts every layer may read and none computes: lm-eval-ja's version and where its package files live.

A leaf module: it imports nothing of lm-eval-ja, so anything may import it without a cycle.
"""

from pathlib import Path

__version__ = "0.1.0"

PACKAGE_DIR = Path(__file__).resolve().parent
#: Folder of the generated task YAML files, usable as ``lm_eval --include_path``.
TASKS_DIR = PACKAGE_DIR / "tasks"
#: Folder of the prompt styles (one file per prompt version; the families' prompt files fill them).
TEMPLATES_DIR = PACKAGE_DIR / "prompt_templates"
