"""English MT-Bench (FastChat) and Japanese Vicuna QA (ku-nlp, pairwise against text-davinci-003, and single)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from lm_eval_ja.aggregation import metric_results
from lm_eval_ja.benchmarks import ja_vicuna_qa, mt_bench_en, registry
from lm_eval_ja.chat import Answer
from lm_eval_ja.documents import load_documents
from lm_eval_ja.scorers.judge import JudgeSettings
from tests.benchmarks.test_mt_bench import _FakeJudge
from tests.conftest import DATA, needs_shared


def _task(name, judge, model_id="my-model"):
    resolved = registry.resolve(name)
    documents = load_documents(name, resolved.benchmark, str(DATA))
    task = SimpleNamespace(extra_data=documents.extra, judging=JudgeSettings(judge), config=SimpleNamespace(task=name),
                           task_version=resolved.version, metrics=resolved.metrics, run_options={"model_id": model_id})
    return task, documents.evaluated


@needs_shared
def test_english_mt_bench_judges_the_english_questions_with_fastchat_prompts():
    judge = _FakeJudge(["[[7]]", "[[5]]"])
    task, docs = _task("mt_bench_en_writing", judge)
    assert registry.group_leaves("mt_bench_en")[0] == "mt_bench_en_writing-fastchat"
    scored = mt_bench_en.EnglishScorer(task).score(docs[:1], [[Answer(["a", "b"], ["A1", "A2"])]])
    (system, user), _ = judge.asked[0]
    assert system["content"] == "You are a helpful assistant." and docs[0]["turns"][0] in user["content"]
    results = metric_results(task.metrics, {m: [s[m] for s in scored] for m in ("score", "score_turn1",
                                                                             "score_turn2", "n_judge_failed")}, 0)
    assert (results["score"], results["score_turn1"], results["score_turn2"]) == (6.0, 7.0, 5.0)


@needs_shared
@pytest.mark.parametrize("model_id, first_is_ours", [("my-model", True), ("zz-model", False)])
def test_vicuna_pairwise_both_orders_and_ku_nlp_rates(model_id, first_is_ours):
    # per question (g1, g2): ku-nlp counts a win only when both orders agree
    verdicts = ["[[A]]", "[[B]]",   # g1 model_1, g2 model_1 -> model_1 wins
                "[[A]]", "[[A]]",   # g1 model_1, g2 model_2 -> tie (orders differ)
                "[[C]]", "[[B]]",   # a tie in one order -> tie
                "no verdict", "x"]  # both errors -> model_2 (the upstream quirk)
    judge = _FakeJudge(verdicts)
    task, docs = _task("ja_vicuna_qa", judge, model_id)
    scorer = ja_vicuna_qa.VicunaPairScorer(task)
    assert scorer.model_is_1 is first_is_ours
    scored = scorer.score(docs[:4], [[Answer(["ours"], ["ours"])]] * 4)
    g1_user = judge.asked[0][0][1]["content"]
    baseline = {int(r["question_id"]): r["choices"][0]["turns"][0] for r in
                map(json.loads, (DATA / "ja_vicuna_qa/baseline_answer/text-davinci-003.jsonl").open(encoding="utf-8"))}
    first, second = ("ours", baseline[docs[0]["question_id"]]) if first_is_ours else (baseline[docs[0]["question_id"]], "ours")
    assert g1_user.index(first) < g1_user.index(second)  # g1 shows model_1 as assistant A
    results = metric_results(task.metrics, {m: [s[m] for s in scored] for m in ja_vicuna_qa.PAIR_METRIC_NAMES}, 0)
    wins_model_1, wins_model_2 = 1, 1
    ours, theirs = (wins_model_1, wins_model_2) if first_is_ours else (wins_model_2, wins_model_1)
    assert results["win_rate"] == ours / 4 * 100 and results["loss_rate"] == theirs / 4 * 100
    assert results["tie_rate"] == 50.0 and results["adjusted_win_rate"] == (ours + 0.5 * 2) / 4 * 100


@needs_shared
def test_vicuna_single_averages_a_failed_judgment_in_as_minus_one():
    judge = _FakeJudge(["[[8]]", "[[rating: 6]]", "no rating"])
    task, docs = _task("ja_vicuna_qa-single", judge)
    scored = ja_vicuna_qa.VicunaSingleScorer(task).score(docs[:3], [[Answer(["a"], ["a"])]] * 3)
    results = metric_results(task.metrics, {m: [s[m] for s in scored] for m in ("score", "n_judge_failed")}, 0)
    assert results["score"] == pytest.approx((8 + 6 - 1) / 3) and results["n_judge_failed"] == 1
