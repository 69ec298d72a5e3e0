"""Results: one aggregation path for tasks and groups (averaged micro / macro, or pooled), the reference's metric keys
and table."""

from __future__ import annotations

import math

from lm_eval_ja.aggregation import group_results, metric_results
from lm_eval_ja.benchmarks import registry
from lm_eval_ja.benchmarks.spec import Group, Metric
from lm_eval_ja.metrics.ratings import document_stderr, pooled_mean
from lm_eval_ja.results import make_table, version_number


def test_group_aggregates_micro_and_macro():
    leaves = registry.group_leaves("jmmlu-stem-llmjp-1.0")
    assert len(leaves) > 2 and all(t.startswith("jmmlu_") for t in leaves)
    results = {t: {"acc": 1.0 if i == 0 else 0.0, "acc_macro": 1.0 if i == 0 else 0.0} for i, t in enumerate(leaves)}
    n_docs = {t: (30 if i == 0 else 10) for i, t in enumerate(leaves)}
    group = registry.groups()["jmmlu-stem-llmjp-1.0"]
    metrics = registry.resolve(leaves[0]).benchmark.metrics
    stem = group_results(group, leaves, metrics, results, {}, n_docs, 0)
    assert stem["acc"] == 30 / (30 + 10 * (len(leaves) - 1))  # every question weighs the same
    assert stem["acc_macro"] == 1 / len(leaves)  # every subject weighs the same


def test_a_pooled_group_aggregates_its_members_items_through_the_metric_declaration():
    corpus = Metric("ratio", lambda items: sum(a for a, _ in items) / sum(b for _, b in items))  # corpus-level
    rated = Metric("score", pooled_mean, stderr=document_stderr)
    group = Group("g", "g", ("t1", "t2"), (), "two tasks pooled", pooled=True)
    items = {"t1": {"ratio": [(1, 2), (1, 2)], "score": [[1, 2], [3]]}, "t2": {"ratio": [(3, 4)], "score": [[5]]}}
    out = group_results(group, ["t1", "t2"], (corpus, rated), {}, items, {"t1": 2, "t2": 1}, 1000)
    assert out["ratio"] == 5 / 8  # not the mean of the members' ratios (1/2 and 3/4)
    assert out["score"] == 11 / 4  # every rating of every document
    assert math.isclose(out["score_stderr"], document_stderr([[1, 2], [3], [5]]))
    assert "ratio_stderr" not in out  # a corpus function declares none by default


def test_standard_errors_follow_the_declaration():
    items = [1.0, 0.0, 1.0, 1.0]
    assert metric_results((Metric("acc"),), {"acc": items}, 1000)["acc_stderr"] == math.sqrt(0.1875 / 3)
    assert "acc_stderr" not in metric_results((Metric("acc"),), {"acc": items}, 0)  # --bootstrap_iters 0
    assert "x_stderr" not in metric_results((Metric("x", max),), {"x": items}, 1000)
    custom = metric_results((Metric("x", max, stderr=lambda xs: 0.5),), {"x": items}, 0)
    assert custom == {"x": 1.0, "x_stderr": 0.5}


def test_version_numbers_and_table():
    assert version_number(1.1) == 1.1 and version_number(1.0) == 1.0 and version_number(2) == 2
    table = make_table({"results": {"jnli-1.1-0.3": {"acc": 0.5, "acc_stderr": 0.1, "mcc": 0.0}},
                        "versions": {"jnli-1.1-0.3": 1.1}})
    assert table.splitlines()[2:] == ["|jnli-1.1-0.3|1.1|acc|0.5000|±|0.1000|", "|||mcc|0.0000|||"]
