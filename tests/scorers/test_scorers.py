"""The scoring stage: per-document functions become batched scorers; the task hands lm-eval their items."""

from __future__ import annotations

from lm_eval_ja.scorers import PerDocument, per_document


def test_per_document_scorer_scores_every_document_with_its_responses():
    seen = []

    def fn(task, doc, responses):
        seen.append((task, doc["i"], list(responses)))
        return {"m": float(responses[0] == doc["gold"])}

    scorer = per_document(fn)("TASK")
    assert isinstance(scorer, PerDocument) and scorer.identity is None
    assert scorer.score([{"i": 0, "gold": "a"}, {"i": 1, "gold": "b"}], [["a"], ["c"]]) == [{"m": 1.0}, {"m": 0.0}]
    assert seen == [("TASK", 0, ["a"]), ("TASK", 1, ["c"])]
