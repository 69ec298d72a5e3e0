"""The reference's classification aggregations: balanced accuracy, macro-F1 (legacy float formula), MCC."""

from __future__ import annotations

import math
import random

import lm_eval.api.metrics as lm_metrics
import pytest
from lm_eval.api.metrics import matthews_corrcoef

from lm_eval_ja.metrics.classification import balanced_mean, macro_f1
from tests.conftest import needs_shared
from tests.metrics.helpers import case_names, load_case, metric_items


def test_balanced_mean():
    items = [(1.0, 2), (0.0, 0), (1.0, 0), (1.0, 0), (0.0, 2), (1.0, 1)]
    # class 2: 1/2, class 0: 2/3, class 1: 1 -> mean in order of first appearance (2, 0, 1)
    assert balanced_mean(items) == (0.5 + 2 / 3 + 1.0) / 3
    assert balanced_mean([(True, "a"), (False, "a")]) == 0.5


def test_macro_f1_agrees_with_sklearn():
    from sklearn.metrics import f1_score as sk_f1

    rng = random.Random(0)
    for n_labels in (2, 3):
        for _ in range(15):
            items = [(rng.randrange(n_labels), rng.randrange(n_labels)) for _ in range(rng.randint(1, 60))]
            golds, preds = zip(*items)
            expected = sk_f1(golds, preds, average="macro", zero_division=0)
            assert macro_f1(items) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_macro_f1_uses_the_reference_float_formula():
    # 24 x gold 0, 10 x gold 1, 6 x gold 2, all predicted 0: P=0.6, R=1 -> 2PR/(P+R) = 0.7499999999999999
    items = [(0, 0)] * 24 + [(1, 0)] * 10 + [(2, 0)] * 6
    assert macro_f1(items) == 0.24999999999999997


def test_mcc_is_lm_evals_object():
    assert lm_metrics.stderr_for_metric(matthews_corrcoef, 1000) is not None  # bootstrap stderr
    assert lm_metrics.stderr_for_metric(balanced_mean, 1000) is None
    assert lm_metrics.stderr_for_metric(macro_f1, 1000) is None
    assert matthews_corrcoef([(0, 0), (1, 1), (0, 1), (1, 1)]) == pytest.approx(1 / math.sqrt(3))



@needs_shared
@pytest.mark.parametrize("case", case_names("jnli") + case_names("marc_ja"))
def test_classification_aggregations_match_reference(case):
    records, reference, _ = load_case(case)
    assert len(records) == 40
    for metric, agg in (("balanced_acc", balanced_mean), ("mcc", matthews_corrcoef), ("macro_f1", macro_f1)):
        ours = agg(metric_items(records, metric))
        assert math.isclose(ours, reference[metric], rel_tol=0, abs_tol=1e-12), f"{case} {metric}: {ours} != {reference[metric]}"
