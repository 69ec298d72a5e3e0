"""XWinograd-ja: no prompt, each sentence scored after EOS, ties wrong, 0-shot only."""

from __future__ import annotations

import pytest

from lm_eval_ja.benchmarks.xwinograd import score
from lm_eval_ja.errors import UserError
from tests.conftest import DATA, make_task, needs_shared, run_tasks


def test_xwinograd_ties_are_wrong():
    assert score(None, {"label": 1}, [(-5.0, False), (-3.0, False)]) == {"acc": 1.0}
    assert score(None, {"label": 0}, [(-5.0, False), (-3.0, False)]) == {"acc": 0.0}
    assert score(None, {"label": 0}, [(-3.0, False), (-3.0, False)]) == {"acc": 0.0}


@needs_shared
def test_xwinograd_scores_each_sentence_after_eos(conformance_lm):
    result, samples = run_tasks(conformance_lm, ["xwinograd_ja"], [0], 3, DATA)
    assert set(result["results"]["xwinograd_ja"]) == {"acc", "acc_stderr"}
    assert result["versions"]["xwinograd_ja"] == 1.0
    lm = conformance_lm
    for row in samples["xwinograd_ja"]:
        assert [a[0] for a in row["arguments"]] == ["", ""]
        assert [a[1] for a in row["arguments"]] == [row["doc"]["sentence1"], row["doc"]["sentence2"]]
        # the wrapper scores the sentence given [EOS] only
        for (ctx, cont), resp in zip(row["arguments"], row["resps"]):
            (ll, _), = lm._loglikelihood_tokens([([lm.eot_token_id], lm.tok_encode(cont))])
            assert resp[0][0] == pytest.approx(ll, rel=1e-6)  # batched vs alone: float noise
    task = make_task("xwinograd_ja", DATA)
    with pytest.raises(UserError, match="0-shot only"):
        task.fewshot_context(task.eval_docs[0], 1)
