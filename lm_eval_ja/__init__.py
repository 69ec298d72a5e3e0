"""lm-eval-ja: Japanese evaluation tasks, prompt templates, metrics and models for EleutherAI lm-eval 0.4."""

from pathlib import Path

__version__ = "0.1.0"

_PACKAGE = Path(__file__).resolve().parent
#: Folder of the generated task YAML files, usable as ``lm_eval --include_path``.
TASKS_DIR = _PACKAGE / "tasks"
#: Folder of versioned prompt templates (one file per prompt version).
TEMPLATES_DIR = _PACKAGE / "prompt_templates"


def list_tasks() -> list[str]:
    """Every task, group and suite name lm-eval-ja defines."""
    from lm_eval_ja.benchmarks import registry

    return registry.all_names()


def simple_evaluate(model, model_args: str = "", tasks=(), num_fewshot=None, limit=None, *, batch_size=None,
                    device=None, data_dir=None, bootstrap_iters: int = 100000, seed: int = 42,
                    log_samples: bool = False, **options):
    """Evaluate like ``main.py`` from Python; returns ``(result_json, samples)``.

    ``model`` is a registry name (``"hf-causal"``, ``"hf"``, ...) or an lm-eval ``LM`` instance;
    ``tasks`` names, patterns or suites (``"ja8"``); ``num_fewshot`` / ``limit`` one value for all tasks
    or one per task. ``options`` are the remaining :class:`lm_eval_ja.evaluator.RunConfig` fields.
    """
    from lm_eval_ja import evaluator, selection

    chosen = selection.select(tasks, num_fewshot, limit)
    cfg = evaluator.RunConfig(model=model if isinstance(model, str) else type(model).__name__, model_args=model_args,
                              selection=chosen, batch_size=batch_size, device=device, bootstrap_iters=bootstrap_iters,
                              seed=seed, data_dir=data_dir, log_samples=log_samples, **options)
    lm = evaluator.build_model(model, model_args, batch_size=batch_size, device=device) if isinstance(model, str) \
        else model
    return evaluator.evaluate_tasks(lm, cfg)
