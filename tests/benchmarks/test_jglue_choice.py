"""JGLUE classification family: scoring rules by hand, JNLI's offline shot pool, JCoLA end to end."""

from __future__ import annotations

import pytest

from lm_eval_ja.benchmarks.jglue_choice import score_choice, score_cola
from tests.conftest import DATA, make_task, needs_shared, run_tasks


class _Task:
    """Enough of a task for the per-document scorers."""

    def __init__(self, choices):
        self._choices = choices

    def doc_to_choice(self, doc):
        return self._choices


def test_choice_argmax_ties_and_length_normalisation():
    task = _Task(["あ", "いいいい"])  # 1 and 4 characters
    # raw argmax 1 (-3 > -4); per character -4/1 < -3/4: also 1
    assert score_choice(task, {"label": 1}, [(-4.0, False), (-3.0, False)]) == {
        "acc": 1.0, "acc_norm": 1.0, "balanced_acc": (1.0, 1), "mcc": (1, 1), "macro_f1": (1, 1)}
    # raw argmax 0 (-1 > -2); per character -1/1 < -2/4: acc_norm picks 1
    out = score_choice(task, {"label": 1}, [(-1.0, False), (-2.0, False)])
    assert (out["acc"], out["acc_norm"], out["mcc"]) == (0.0, 1.0, (1, 0))
    assert score_choice(task, {"label": 0}, [(-1.0, False), (-1.0, False)])["acc"] == 1.0  # tie: the first


def test_jcola_cola_rule_ties_are_unacceptable():
    assert score_cola(None, {"acceptable": 1}, [(-1.0, False), (-2.0, False)]) == {
        "balanced_acc": (1.0, 1), "mcc": (1, 1), "macro_f1": (1, 1)}
    assert score_cola(None, {"acceptable": 1}, [(-2.0, False), (-2.0, False)])["mcc"] == (1, 0)
    assert score_cola(None, {"acceptable": 0}, [(-2.0, False), (-2.0, False)])["balanced_acc"] == (1.0, 0)


@needs_shared
def test_jnli_fallback_train_split_is_recorded(capsys):
    task = make_task("jnli-1.1-0.3", DATA)
    assert "jnli_train_partial" in task.data_sources["train"]["path"]
    assert "823" in task.data_sources["train"]["fallback"]
    assert "JNLI train-v1.1.json is missing" in capsys.readouterr().out
    assert len(task.fewshot_docs()) == 823


@needs_shared
def test_jcola_end_to_end(conformance_lm):
    result, samples = run_tasks(conformance_lm, ["jcola-0.2-0.4"], [2], 3, DATA)
    assert set(result["results"]["jcola-0.2-0.4"]) == {"balanced_acc", "mcc", "mcc_stderr", "macro_f1"}
    assert result["versions"]["jcola-0.2-0.4"] == 0.2
    for row in samples["jcola-0.2-0.4"]:
        assert [a[1] for a in row["arguments"]] == [" はい", " いいえ"]
        assert row["arguments"][0][0].count("<NL>システム:  ") == 2  # shots: target " はい"/" いいえ" after "システム: "


@needs_shared
@pytest.mark.parametrize("name", ["jcommonsenseqa-1.1-0.3", "jnli-1.3-0.4", "marc_ja-1.1-0.2"])
def test_every_choice_is_a_request_without_leading_space(name):
    task = make_task(name)
    doc = task.eval_docs[0]
    ctx = task.fewshot_context(doc, 1)
    requests = task.construct_requests(doc, ctx, metadata=(name, 0, 1))
    assert [r.arguments for r in requests] == [(ctx, c) for c in task.doc_to_choice(doc)]
