"""Results: group averages once (micro / macro), the reference's metric keys and table."""

from __future__ import annotations

from lm_eval_ja.benchmarks import registry
from lm_eval_ja.results import group_results, make_table, version_number


def test_group_aggregates_micro_and_macro():
    leaves = registry.group_leaves("jmmlu-stem-llmjp-1.0")
    assert len(leaves) > 2 and all(t.startswith("jmmlu_") for t in leaves)
    results = {t: {"acc": 1.0 if i == 0 else 0.0, "acc_macro": 1.0 if i == 0 else 0.0} for i, t in enumerate(leaves)}
    n_docs = {t: (30 if i == 0 else 10) for i, t in enumerate(leaves)}
    stem = group_results(results, n_docs)["jmmlu-stem-llmjp-1.0"]
    assert stem["acc"] == 30 / (30 + 10 * (len(leaves) - 1))  # every question weighs the same
    assert stem["acc_macro"] == 1 / len(leaves)  # every subject weighs the same
    assert "jmmlu-llmjp-1.0" not in group_results(results, n_docs)  # other categories did not run


def test_version_numbers_and_table():
    assert version_number(1.1) == 1.1 and version_number(1.0) == 1.0 and version_number(2) == 2
    table = make_table({"results": {"jnli-1.1-0.3": {"acc": 0.5, "acc_stderr": 0.1, "mcc": 0.0}},
                        "versions": {"jnli-1.1-0.3": 1.1}})
    assert table.splitlines()[2:] == ["|jnli-1.1-0.3|1.1|acc|0.5000|±|0.1000|", "|||mcc|0.0000|||"]
