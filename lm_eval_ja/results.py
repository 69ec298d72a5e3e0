"""From per-task lm-eval results to the reference's result.json: stderrs once, group averages once, the file.

* :func:`task_result` — lm-eval's ``"acc,none"`` keys to the reference's ``acc``, each followed by its stderr
  computed here from the per-document items (:mod:`lm_eval_ja.metrics.stderr`: lm-eval is asked for none);
* :func:`group_results` — the averages of every group whose tasks all ran (JMMLU categories);
* :func:`result_json` — ``results`` / ``versions`` / ``config`` in the reference's schema, lm-eval-ja's run facts
  under ``config.lm_eval_ja`` (the evaluator adds ``manifest`` and ``timing``: :mod:`lm_eval_ja.manifest`);
* :func:`write_json_atomic`, :func:`write_samples`, :func:`make_table` — the files and the markdown table.
"""

from __future__ import annotations

import json
import os
from typing import Any

from lm_eval_ja import __version__
from lm_eval_ja.benchmarks import registry
from lm_eval_ja.metrics.stderr import task_stderrs
from lm_eval_ja.modelargs import redact_model_args
from lm_eval_ja.outputs import write_atomic


def task_result(task, lm_eval_metrics: dict[str, Any], samples: list[dict[str, Any]], bootstrap_iters: int) -> dict:
    """The reference's metrics of one task: lm-eval's aggregates, each followed by its stderr if it has one."""
    per_doc = {m: [row[m] for row in samples] for m in task.aggregation() if samples and m in samples[0]}
    stderrs = task_stderrs(task, per_doc, bootstrap_iters)
    out = {}
    for key, value in lm_eval_metrics.items():
        metric, _, filt = key.partition(",")
        if not filt or metric == "alias" or metric.endswith("_stderr") or value == "N/A" or value is None:
            continue
        out[metric] = value
        if f"{metric}_stderr" in stderrs:
            out[f"{metric}_stderr"] = stderrs[f"{metric}_stderr"]
    return out


def version_number(v):
    """A task's VERSION as the reference writes it (``1.1``; integers given without a point stay integers)."""
    try:
        f = float(v)
        return int(f) if f.is_integer() and "." not in str(v) else f
    except (TypeError, ValueError):
        return v


def group_results(results: dict[str, dict[str, Any]], n_docs: dict[str, int],
                  items: dict[str, dict[str, list]] | None = None) -> dict[str, dict[str, Any]]:
    """Aggregates of every group whose tasks all ran: weighted by documents or a plain mean over tasks, or (a pooled
    group) its members' metrics over all their documents' ``items``."""
    out = {}
    for group in registry.groups().values():
        leaves = registry.group_leaves(group.name)
        if not leaves or not all(t in results for t in leaves):
            continue
        if group.pooled:
            metrics = registry.resolve(leaves[0]).benchmark.metrics
            out[group.name] = {m.name: m.aggregation([x for t in leaves for x in (items or {})[t][m.name]])
                               for m in metrics}
            continue
        agg = {}
        for metric, by_size in group.aggregates:
            vals = [(results[t][metric], n_docs[t]) for t in leaves if metric in results[t]]
            if vals:
                weights = [n if by_size else 1 for _, n in vals]
                agg[metric] = sum(v * w for (v, _), w in zip(vals, weights)) / sum(weights)
        out[group.name] = agg
    return out


def result_json(cfg, results: dict[str, dict], output_types: dict[str, str], versions: dict[str, Any],
                data_sources: dict[str, Any], n_docs: dict[str, int], items: dict | None = None,
                judge: dict | None = None) -> dict[str, Any]:
    """The reference's result.json (results / versions / config) plus lm-eval-ja's run facts.

    Log-likelihood tasks come first, then generation tasks (the reference's order); groups whose tasks all ran
    follow the tasks, with their averages.
    """
    names = cfg.selection.names
    order = sorted(results, key=lambda t: (output_types[t] == "generate_until", names.index(t)))
    grouped = group_results(results, n_docs, items)
    done = [t for t in cfg.selection.tasks if t.name in results]
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
        **({"judge": judge, "num_samples": cfg.num_samples, "max_gen_toks": cfg.max_gen_toks,
            "think_tags": list(cfg.think_tags)} if judge is not None else {}),
        **cfg.extra,
    }
    group_specs = registry.groups()
    return {
        "results": {**{t: results[t] for t in order}, **grouped},
        "versions": {**{t.name: versions[t.name] for t in done}, **{g: group_specs[g].version for g in grouped}},
        "config": config,
    }


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
