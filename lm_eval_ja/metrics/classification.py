"""Reference (jp-stable) aggregations for the classification tasks.

Per-document items are the ones the reference passes to its aggregations:

* ``balanced_acc``: ``(acc, gold_label)`` -> :func:`balanced_mean`
* ``mcc``:          ``(gold, pred)``      -> lm-eval's ``matthews_corrcoef`` (aggregation name ``matthews_corrcoef``)
* ``macro_f1``:     ``(gold, pred)``      -> :func:`macro_f1` (scikit-learn's macro F1, legacy float formula)

MCC keeps lm-eval's own aggregation object, so the reference's bootstrap ``mcc_stderr`` is reported
(:mod:`lm_eval_ja.metrics.stderr` computes the same value fast). ``balanced_mean`` and ``macro_f1`` get no
stderr, which matches the reference.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def balanced_mean(items: Iterable[tuple[float, Any]]) -> float:
    """Mean over gold classes of the per-class mean accuracy; items are ``(acc, gold_label)``.

    Classes are visited in order of first appearance (this fixes the float summation order).
    """
    by_class: dict[Any, list[float]] = {}
    for acc, label in items:
        by_class.setdefault(label, []).append(acc)
    class_means = [sum(accs) / len(accs) for accs in by_class.values()]
    return sum(class_means) / len(class_means)


def macro_f1(items: Iterable[tuple[Any, Any]]) -> float:
    """Macro-averaged F1 over the sorted labels seen in golds or preds; items are ``(gold, pred)``.

    This is ``sklearn.metrics.f1_score(golds, preds, average="macro")`` as the reference's scikit-learn
    computed it: per label ``P = tp/(tp+fp)``, ``R = tp/(tp+fn)`` (0 when undefined),
    ``F = 2*P*R/(P+R)`` (0 when ``P+R == 0``), then ``numpy.mean``. Current scikit-learn computes
    ``2tp/(2tp+fp+fn)`` instead, which can differ in the last bit (e.g. 0.25 vs 0.24999999999999997).
    """
    import numpy as np

    golds, preds = zip(*items)
    f_scores = []
    for label in sorted(set(golds) | set(preds)):
        tp = fp = fn = 0
        for gold, pred in zip(golds, preds):
            if pred == label:
                if gold == label:
                    tp += 1
                else:
                    fp += 1
            elif gold == label:
                fn += 1
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        denom = precision + recall
        f_scores.append(2 * precision * recall / denom if denom else 0.0)
    return float(np.mean(np.asarray(f_scores, dtype=np.float64)))
