"""From per-task outcomes to the reference's result.json: one aggregation path, groups once, the file.

:class:`RunRecord` collects what each evaluated task gave (:class:`TaskOutcome`: its per-document items and its
sample-log rows, from lm-eval or from the chat path) and builds result.json: every task's metrics and standard
errors through its metrics' declarations (:mod:`lm_eval_ja.aggregation`), the groups the selection named
(pooled, or averaged over their members), ``versions`` and ``config`` in the reference's schema, lm-eval-ja's run
facts under ``config.lm_eval_ja`` (the evaluator adds ``manifest`` and ``timing``: :mod:`lm_eval_ja.manifest`).
:func:`write_json_atomic`, :func:`write_samples`, :func:`make_table` — the files and the markdown table.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from lm_eval_ja.aggregation import group_results, lm_eval_metrics, metric_results
from lm_eval_ja.benchmarks import registry
from lm_eval_ja.constants import __version__
from lm_eval_ja.modelargs import redact_model_args
from lm_eval_ja.outputs import write_atomic


@dataclass
class TaskOutcome:
    """What one task gave: per-document items by metric (document order) and its sample-log rows."""

    items: dict[str, list[Any]]
    rows: list[dict[str, Any]]
    #: a chat task's facts: its protocol (name, the protocol's judge, whether this run's judge is that one), the new
    #: tokens per answer turn and where that number came from, answers per question
    facts: dict[str, Any] | None = None
    #: what the user must know about these numbers (recorded in result.json, printed when the task ends)
    warnings: list[str] = field(default_factory=list)


def declared_metrics(task) -> tuple:
    """The task's metric declarations: its spec's, or (one of lm-eval's own tasks) lm-eval's aggregations."""
    metrics = getattr(task, "metrics", None)
    return metrics if isinstance(metrics, tuple) else lm_eval_metrics(task.aggregation())


def version_number(v):
    """A task's VERSION as the reference writes it (``1.1``; integers given without a point stay integers)."""
    try:
        f = float(v)
        return int(f) if f.is_integer() and "." not in str(v) else f
    except (TypeError, ValueError):
        return v


@dataclass
class RunRecord:
    """Everything the evaluated tasks gave so far, and the result.json it makes (see the module docstring)."""

    cfg: Any
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[str, dict[str, list]] = field(default_factory=dict)
    metrics: dict[str, tuple] = field(default_factory=dict)
    output_types: dict[str, str] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    data_sources: dict[str, Any] = field(default_factory=dict)
    data_files: list[str] = field(default_factory=list)
    n_docs: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: per chat task: the protocol it reproduces, whether this run can be compared with its published numbers, the
    #: answer tokens
    chat_tasks: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def add(self, name: str, task, outcome: TaskOutcome, n_docs: int) -> None:
        """Record one evaluated task: its numbers through its metrics' declarations, its facts, its sample log."""
        metrics = declared_metrics(task)
        self.metrics[name], self.items[name], self.n_docs[name] = metrics, outcome.items, n_docs
        self.results[name] = metric_results(metrics, outcome.items, self.cfg.bootstrap_iters)
        self.output_types[name] = task.OUTPUT_TYPE
        self.versions[name] = version_number(getattr(task, "VERSION", None))
        if getattr(task, "data_sources", None):
            self.data_sources[name] = task.data_sources
        self.data_files += getattr(task, "data_files", [])
        if self.cfg.log_samples:
            self.samples[name] = outcome.rows
        if outcome.facts is not None:
            self.chat_tasks[name] = outcome.facts
        self.warnings += outcome.warnings

    def groups(self) -> dict[str, dict[str, Any]]:
        """The numbers of every group the selection named whose tasks all ran, in registry order."""
        out = {}
        for name, group in registry.groups().items():
            if name not in self.cfg.selection.groups:
                continue
            leaves = registry.group_leaves(name)
            if leaves and all(t in self.results for t in leaves):
                out[name] = group_results(group, leaves, self.metrics[leaves[0]], self.results, self.items,
                                          self.n_docs, self.cfg.bootstrap_iters)
        return out

    def result_json(self, judge: dict | None = None) -> dict[str, Any]:
        """The reference's result.json (results / versions / config) plus lm-eval-ja's run facts.

        Log-likelihood tasks come first, then generation tasks (the reference's order); the groups follow.
        """
        names = self.cfg.selection.names
        order = sorted(self.results, key=lambda t: (self.output_types[t] == "generate_until", names.index(t)))
        grouped = self.groups()
        done = [t for t in self.cfg.selection.tasks if t.name in self.results]
        group_specs = registry.groups()
        return {
            "results": {**{t: self.results[t] for t in order}, **grouped},
            "versions": {**{t.name: self.versions[t.name] for t in done}, **{g: group_specs[g].version for g in grouped}},
            "config": run_config(self.cfg, done, self.data_sources, judge, self.chat_tasks, self.warnings),
        }


def run_config(cfg, done: list, data_sources: dict[str, Any], judge: dict | None,
               chat_tasks: dict[str, Any] | None = None, warnings: list[str] | None = None) -> dict[str, Any]:
    """result.json's ``config``: the reference's keys, then lm-eval-ja's run facts under ``lm_eval_ja``."""
    config = {
        "model": cfg.model,
        "model_args": redact_model_args(cfg.model_args),
        "num_fewshot": [t.num_fewshot for t in done],
        "batch_size": cfg.batch_size,
        "device": cfg.device,
        "no_cache": cfg.no_cache,
        "limit": None if all(t.limit is None for t in done) else [t.limit for t in done],
        "bootstrap_iters": cfg.bootstrap_iters,
        "description_dict": cfg.description_dict,
    }
    config["lm_eval_ja"] = {
        "version": __version__,
        "seed": cfg.seed,
        "data_sources": data_sources,
        "apply_chat_template": cfg.apply_chat_template,
        "system_instruction": cfg.system_instruction,
        "fewshot_as_multiturn": cfg.fewshot_as_multiturn,
        **({**({"judge": judge} if judge is not None else {}), "num_samples": cfg.num_samples,
            "max_gen_toks": cfg.max_gen_toks, "think_tags": list(cfg.think_tags),
            **({"chat_tasks": chat_tasks} if chat_tasks else {})}
           if judge is not None or chat_tasks else {}),
        **({"SYSTEM_PROMPT": cfg.system_prompt_env} if cfg.system_prompt_env is not None else {}),
        **({"warnings": list(warnings)} if warnings else {}),
        **({"confirm_run_unsafe_code": True} if getattr(cfg, "confirm_run_unsafe_code", False) else {}),
        **({"num_samples": cfg.num_samples} if judge is None and not chat_tasks and getattr(cfg, "num_samples", None)
           else {}),
        **cfg.extra,
    }
    return config


# ----------------------------------------------------------------------------- files


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Write JSON atomically (a bare file name needs no folder), readable by everyone (0644 under the usual umask)."""

    def write(fh):
        json.dump(data, fh, indent=2, ensure_ascii=False, default=_jsonable)
        fh.write("\n")

    write_atomic(path, write)


def write_samples(path: str | os.PathLike, rows: list[dict[str, Any]]) -> None:
    """lm-eval's samples JSONL (doc, arguments with the full prompt, resps, filtered_resps, metrics)."""
    write_atomic(path, lambda fh: fh.writelines(json.dumps(row, ensure_ascii=False, default=_jsonable) + "\n"
                                                for row in rows))


def _jsonable(o):
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
    except ImportError:
        pass
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)


def make_table(result: dict[str, Any]) -> str:
    """The reference's markdown table: Task | Version | Metric | Value | | Stderr."""
    lines = ["|Task|Version|Metric|Value|   |Stderr|", "|----|-------|------|-----:|---|-----:|"]
    for task, metrics in result["results"].items():
        version = result["versions"].get(task, "")
        first = True
        for metric, value in metrics.items():
            if metric.endswith("_stderr") or metric == "details":
                continue
            stderr = metrics.get(f"{metric}_stderr")
            value_s = f"{value:.4f}" if isinstance(value, (int, float)) else str(value)
            err = f"{stderr:.4f}" if isinstance(stderr, (int, float)) else ""
            lines.append(f"|{task if first else ''}|{version if first else ''}|{metric}|{value_s}|"
                         f"{'±' if err else ''}|{err}|")
            first = False
    return "\n".join(lines)
