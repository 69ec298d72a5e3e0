"""lm-eval-ja: Japanese evaluation tasks, prompt templates, metrics and models for EleutherAI lm-eval 0.4.

The public API: :func:`simple_evaluate` (a run from Python, as ``main.py``), :func:`list_tasks`, :data:`TASKS_DIR`
(for ``lm_eval --include_path``) and :data:`TEMPLATES_DIR`. Nothing inside the package imports this module.
"""

from lm_eval_ja.constants import TASKS_DIR, TEMPLATES_DIR, __version__

__all__ = ["TASKS_DIR", "TEMPLATES_DIR", "__version__", "list_tasks", "simple_evaluate"]


def list_tasks() -> list[str]:
    """Every task, group and suite name lm-eval-ja defines (plug-in families included)."""
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
    from lm_eval_ja.evaluator import RunConfig, evaluate_tasks
    from lm_eval_ja.models.build import build_model
    from lm_eval_ja.selection import select

    chosen = select(tasks, num_fewshot, limit)
    cfg = RunConfig(model=model if isinstance(model, str) else type(model).__name__, model_args=model_args,
                    selection=chosen, batch_size=batch_size, device=device, bootstrap_iters=bootstrap_iters,
                    seed=seed, data_dir=data_dir, log_samples=log_samples, **options)
    lm = build_model(model, model_args, batch_size=batch_size, device=device) if isinstance(model, str) else model
    return evaluate_tasks(lm, cfg)
