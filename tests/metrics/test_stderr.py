"""MCC stderr: lm-eval's bootstrap reproduces the reference, and lm-eval-ja's numpy replica gives the same value."""

from __future__ import annotations

import math
import random
from collections import Counter

import lm_eval.api.metrics as lm_metrics
import pytest
from lm_eval.api.metrics import matthews_corrcoef

from lm_eval_ja.metrics.stderr import mcc_bootstrap_stderr
from tests.conftest import needs_shared
from tests.metrics.helpers import load_case, metric_items


def _sklearn_mcc_replica(items):
    """sklearn's matthews_corrcoef, bit for bit while all counts are small integers (exact in float64)."""
    pairs = Counter(items)
    golds, preds = Counter(), Counter()
    n_correct = 0
    for (gold, pred), count in pairs.items():
        golds[gold] += count
        preds[pred] += count
        if gold == pred:
            n_correct += count
    n = sum(pairs.values())
    labels = set(golds) | set(preds)
    cov_ytyp = n_correct * n - sum(golds[k] * preds[k] for k in labels)
    cov_ypyp = n * n - sum(preds[k] ** 2 for k in labels)
    cov_ytyt = n * n - sum(golds[k] ** 2 for k in labels)
    product = float(cov_ypyp) * float(cov_ytyt)
    return 0.0 if product == 0 else float(cov_ytyp) / math.sqrt(product)


_MCC_STDERR_CASES = ["jnli-1.3-0.3__3", "marc_ja-1.1-0.3__3", "jnli-1.1-0.3__3", "marc_ja-1.1-0.3__0"]


@needs_shared
@pytest.mark.parametrize("case", _MCC_STDERR_CASES)
def test_mcc_bootstrap_stderr_matches_reference(case, monkeypatch):
    """lm-eval's bootstrap (seeds 0..iters/1000-1, rnd.choices, sample std) reproduces mcc_stderr exactly.

    The reference used the bootstrap_iters of its config (100000 for most 3-shot cases), so the real
    100k-resample run (minutes with sklearn) is the slow test below; here the statistic is a bit-exact
    replica of sklearn's MCC, checked against sklearn on resamples first.
    """
    records, reference, config = load_case(case)
    items = metric_items(records, "mcc")
    rng = random.Random(1)
    for _ in range(20):
        sample = rng.choices(items, k=len(items))
        assert _sklearn_mcc_replica(sample) == matthews_corrcoef(sample)
    monkeypatch.setenv("DISABLE_MULTIPROC", "1")
    stderr = lm_metrics.bootstrap_stderr(_sklearn_mcc_replica, items, iters=config["bootstrap_iters"])
    assert stderr == reference["mcc_stderr"]


@needs_shared
def test_mcc_bootstrap_stderr_real_sklearn_1000_iters(monkeypatch):
    records, reference, config = load_case("jnli-1.1-0.3__3")
    assert config["bootstrap_iters"] == 1000
    monkeypatch.setenv("DISABLE_MULTIPROC", "1")
    stderr = lm_metrics.stderr_for_metric(matthews_corrcoef, 1000)(metric_items(records, "mcc"))
    assert stderr == reference["mcc_stderr"]


@pytest.mark.slow
@needs_shared
@pytest.mark.parametrize("case", ["jnli-1.3-0.3__3", "marc_ja-1.1-0.3__3"])
def test_mcc_bootstrap_stderr_real_sklearn_100k_iters(case):
    records, reference, config = load_case(case)
    assert config["bootstrap_iters"] == 100000
    stderr = lm_metrics.bootstrap_stderr(matthews_corrcoef, metric_items(records, "mcc"), iters=100000)
    assert stderr == reference["mcc_stderr"]


@needs_shared
@pytest.mark.parametrize("case", _MCC_STDERR_CASES)
def test_numpy_replica_equals_the_reference(case):
    records, reference, config = load_case(case)
    assert mcc_bootstrap_stderr(metric_items(records, "mcc"), config["bootstrap_iters"]) == reference["mcc_stderr"]


def test_numpy_replica_equals_lm_evals_bootstrap_on_random_items(monkeypatch):
    monkeypatch.setenv("DISABLE_MULTIPROC", "1")
    rng = random.Random(7)
    items = [(rng.randrange(3), rng.randrange(3)) for _ in range(57)]
    assert mcc_bootstrap_stderr(items, 2000) == lm_metrics.bootstrap_stderr(_sklearn_mcc_replica, items, iters=2000)


def test_lm_eval_is_not_patched_by_importing_lm_eval_ja():
    import lm_eval_ja.task  # noqa: F401  (imports every family and the metric modules)
    from lm_eval_ja.benchmarks import registry

    assert registry.families()  # imports every family module
    assert lm_metrics.bootstrap_stderr.__module__ == "lm_eval.api.metrics"
    assert lm_metrics.stderr_for_metric.__module__ == "lm_eval.api.metrics"
