"""Standard errors as the reference computes them, with a fast exact MCC bootstrap.

The reference (and lm-eval) bootstraps MCC with ``iters // 1000`` chunks; chunk ``i`` draws
``random.Random(i).choices(items, k=n)`` 1000 times and scikit-learn's MCC is computed on each
resample — 100,000 resamples take minutes. Python's ``random()`` and numpy's legacy ``RandomState`` are the
same Mersenne Twister with the same 53-bit doubles: a ``RandomState`` given the state of ``random.Random(i)``
draws the very same resamples, all at once, and their confusion matrices are counted at once. The MCC of each
resample uses scikit-learn's integer formula, so the values are bit-identical.

lm-eval-ja's runs compute every stderr here, once, from the per-document items (lm-eval is asked for none).
Plain ``lm_eval`` runs of the same tasks get the same numbers from lm-eval's own bootstrap, only slower.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
from lm_eval.api import metrics as lm_metrics

CHUNK = 1000


def _resample_indices(seed: int, n: int, draws: int) -> np.ndarray:
    """Indices that ``random.Random(seed).choices(range(n), k=n)`` would pick, ``draws`` times in a row."""
    import random

    state = random.Random(seed).getstate()[1]  # 624 Mersenne Twister words + position
    rs = np.random.RandomState()
    rs.set_state(("MT19937", np.array(state[:624], dtype=np.uint32), state[624]))
    u = rs.random_sample(draws * n)
    return np.floor(u * n).astype(np.int64).reshape(draws, n)


def _mcc_from_counts(counts: np.ndarray, k: int) -> np.ndarray:
    """scikit-learn's matthews_corrcoef from (R, k*k) confusion counts (rows gold, columns predicted)."""
    c = counts.reshape(-1, k, k)
    t_sum = c.sum(axis=2)
    p_sum = c.sum(axis=1)
    n_correct = np.trace(c, axis1=1, axis2=2)
    n = p_sum.sum(axis=1)
    cov_ytyp = n_correct * n - (t_sum * p_sum).sum(axis=1)
    cov_ypyp = n * n - (p_sum * p_sum).sum(axis=1)
    cov_ytyt = n * n - (t_sum * t_sum).sum(axis=1)
    denom = cov_ytyt * cov_ypyp
    out = np.zeros(len(c), dtype=np.float64)
    ok = denom != 0
    out[ok] = cov_ytyp[ok] / np.sqrt(denom[ok].astype(np.float64))
    return out


def mcc_bootstrap_stderr(items: Sequence[tuple[Any, Any]], iters: int) -> float:
    """lm-eval's ``bootstrap_stderr(matthews_corrcoef, items, iters)``, computed in numpy."""
    golds = [g for g, _ in items]
    preds = [p for _, p in items]
    labels = sorted(set(golds) | set(preds))
    index = {lab: i for i, lab in enumerate(labels)}
    k = len(labels)
    pair = np.array([index[g] * k + index[p] for g, p in zip(golds, preds)], dtype=np.int64)
    n = len(pair)
    chunk = min(CHUNK, iters)
    values = []
    for i in range(iters // chunk):
        idx = _resample_indices(i, n, chunk)
        ids = pair[idx] + (np.arange(chunk, dtype=np.int64) * k * k)[:, None]
        counts = np.bincount(ids.ravel(), minlength=chunk * k * k).reshape(chunk, k * k)
        values.append(_mcc_from_counts(counts, k))
    return lm_metrics.sample_stddev(np.concatenate(values).tolist())


def stderr_function(aggregation: Callable, iters: int) -> Callable[[list], float] | None:
    """The stderr the reference reports for an aggregation, or None where it reports none."""
    if aggregation is lm_metrics.matthews_corrcoef:
        return lambda items: mcc_bootstrap_stderr(items, iters) if iters > 0 else None
    return lm_metrics.stderr_for_metric(aggregation, iters) if iters > 0 or aggregation is lm_metrics.mean else None


def task_stderrs(task, per_doc: dict[str, list], iters: int) -> dict[str, float]:
    """``<metric>_stderr`` for every metric of ``task`` given its per-document values."""
    out = {}
    for metric, items in per_doc.items():
        agg = task.aggregation().get(metric)
        fn = stderr_function(agg, iters) if agg is not None else None
        if fn is not None and len(items) > 1:
            value = fn(items)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                out[f"{metric}_stderr"] = value
    return out
