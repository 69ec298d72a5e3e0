"""Per-document items to reported numbers, through each metric's one declaration (:class:`~lm_eval_ja.benchmarks.spec.Metric`).

Every path of a run ends here: a task evaluated by lm-eval (its per-document items are read back from lm-eval's
sample rows, so a data-parallel run aggregates the items gathered in document order), a chat task (items from
its scorer), a pooled group (its members' items together), and plain ``lm_eval`` through
:meth:`lm_eval_ja.task.JaTask.aggregation`, which hands lm-eval the same functions. A group that is not pooled
averages its members' values (by documents, or plainly).

Standard errors follow the declaration: ``"mean"`` is the sample standard error of the mean (lm-eval's),
``"bootstrap"`` resamples the documents ``--bootstrap_iters`` times as lm-eval does (exactly, and fast, for MCC:
:mod:`lm_eval_ja.metrics.stderr`), a function is called on the items; none below two documents, and with
``--bootstrap_iters 0`` only a metric's own function gives one (as lm-eval and the reference).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lm_eval.api import metrics as lm_metrics

from lm_eval_ja.benchmarks.spec import Group, Metric
from lm_eval_ja.metrics.stderr import mcc_bootstrap_stderr


def aggregation_function(aggregation: str | Callable) -> Callable[[list], Any]:
    """A metric's aggregation as a function (lm-eval's registered ones by name: ``mean``, ``matthews_corrcoef``)."""
    if callable(aggregation):
        return aggregation
    from lm_eval.api.registry import get_aggregation

    return get_aggregation(aggregation)


def stderr_value(metric: Metric, items: Sequence[Any], bootstrap_iters: int) -> float | None:
    """The standard error ``metric`` declares, over these items (None where it declares none, or cannot say)."""
    rule = metric.stderr
    if rule is None or len(items) < 2 or (rule in ("mean", "bootstrap") and bootstrap_iters <= 0):
        return None  # --bootstrap_iters 0: no standard errors but a metric's own function (lm-eval's rule)
    if rule == "mean":
        value = lm_metrics.mean_stderr(list(items))
    elif rule == "bootstrap":
        function = aggregation_function(metric.aggregation)
        value = (mcc_bootstrap_stderr(items, bootstrap_iters) if function is lm_metrics.matthews_corrcoef
                 else lm_metrics.bootstrap_stderr(function, list(items), bootstrap_iters))
    else:
        value = rule(list(items))
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def metric_results(metrics: Sequence[Metric], items: Mapping[str, Sequence[Any]], bootstrap_iters: int
                   ) -> dict[str, Any]:
    """``{metric: value, metric_stderr: value, ...}`` in declaration order, for the metrics that have items."""
    out: dict[str, Any] = {}
    for metric in metrics:
        if metric.name not in items:
            continue
        values = list(items[metric.name])
        out[metric.name] = aggregation_function(metric.aggregation)(values) if values else None
        stderr = stderr_value(metric, values, bootstrap_iters)
        if stderr is not None:
            out[f"{metric.name}_stderr"] = stderr
    return out


def group_results(group: Group, leaves: Sequence[str], metrics: Sequence[Metric],
                  results: Mapping[str, Mapping[str, Any]], items: Mapping[str, Mapping[str, Sequence[Any]]],
                  n_docs: Mapping[str, int], bootstrap_iters: int) -> dict[str, Any]:
    """A group's numbers: its members' items pooled through their metrics' declarations, or (not pooled) the
    average of its members' values over the leaf tasks, weighted by documents or plain, as the group declares."""
    if group.pooled:
        pooled = {m.name: [x for leaf in leaves for x in items[leaf].get(m.name, ())] for m in metrics}
        return metric_results(metrics, pooled, bootstrap_iters)
    out: dict[str, Any] = {}
    for metric, by_size in group.aggregates:
        values = [(results[t][metric], n_docs[t]) for t in leaves if metric in results[t]]
        if values:
            weights = [n if by_size else 1 for _, n in values]
            out[metric] = sum(v * w for (v, _), w in zip(values, weights)) / sum(weights)
    return out


def lm_eval_metrics(aggregations: Mapping[str, Callable]) -> tuple[Metric, ...]:
    """Declarations for a task that has no spec (one of lm-eval's own): its aggregations, with the standard error
    lm-eval would report for each (a mean's; a bootstrap for the ones lm-eval bootstraps; else none)."""
    out = []
    for name, function in aggregations.items():
        if function is lm_metrics.mean:
            stderr: Any = "mean"
        elif lm_metrics.stderr_for_metric(function, 1) is not None:
            stderr = "bootstrap"
        else:
            stderr = None
        out.append(Metric(name, function, stderr=stderr))
    return tuple(out)
