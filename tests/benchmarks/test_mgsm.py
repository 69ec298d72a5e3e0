"""MGSM-ja: the reference's answer extractor, acc_normalized, and shot shrinking as the reference does it."""

from __future__ import annotations

import json
import random

import pytest

from lm_eval_ja.benchmarks.mgsm import INVALID_ANSWER, extract_answer, mgsm_scores
from lm_eval_ja.models.facts import ModelFacts
from tests.conftest import DATA, make_task, needs_shared


@pytest.mark.parametrize(
    "completion, expected",
    [
        # executed examples of the protocol (§4.10)
        ("答えは18です。", 18),
        ("合計は1,234円。答えは1,234です。", 1234),
        ("3.5個", INVALID_ANSWER),
        ("12.0", 12),
        ("答えは１８です。", INVALID_ANSWER),
        ("1.2.3", INVALID_ANSWER),
        ("答えは18.", 18),
        # more
        ("", INVALID_ANSWER),
        ("答えはありません", INVALID_ANSWER),
        ("りんごは3個、みかんは-5個", -5),
        ("最初は12個、最後は7個", 7),
        ("...", INVALID_ANSWER),
        ("1,000.50ドル", INVALID_ANSWER),
        ("答えは.42.", 42),
        ("-", INVALID_ANSWER),
    ],
)
def test_extract_answer(completion, expected):
    got = extract_answer(completion)
    assert got == expected
    assert type(got) is type(expected)


def test_acc_and_acc_normalized():
    assert extract_answer("答えは１２です。") == INVALID_ANSWER  # reference: full-width digits are no number
    assert mgsm_scores("答えは１２です。", 12) == {"acc": 0.0, "acc_normalized": 1.0}
    assert mgsm_scores("答えは12です。", 12) == {"acc": 1.0, "acc_normalized": 1.0}
    assert mgsm_scores("合計は1万2000円です。", 12000) == {"acc": 0.0, "acc_normalized": 1.0}
    assert mgsm_scores("答えは13です。", 12) == {"acc": 0.0, "acc_normalized": 0.0}


@needs_shared
def test_shot_shrinking_replicates_the_reference(conformance_lm):
    tok = conformance_lm.tokenizer
    budget = 610
    task = make_task("mgsm-1.0-0.0", DATA, facts=ModelFacts(tok, max_length=256 + budget, max_gen_toks=256))
    train = [json.loads(line) for line in (DATA / "mgsm_ja/mgsm/mgsm_ja_train_exemplars.jsonl").open(encoding="utf-8")]
    test = [json.loads(line) for line in (DATA / "mgsm_ja/mgsm/mgsm_ja_test.jsonl").open(encoding="utf-8")]

    def prompt(doc, shots):  # mgsm-1.0-0.0 written out
        def one(d):
            return "問題：" + d["question"].replace("問題：", "") + "\nステップごとの答え："
        return "".join(one(s) + s["answer"].replace("ステップごとの答え：", "") + "\n\n" for s in shots) + one(doc)

    rnd = random.Random(42)
    order = list(range(len(test)))
    rnd.shuffle(order)
    expected = []
    for pos in range(12):
        doc, k = test[order[pos]], 5
        draw = rnd.sample(range(len(train)), k)
        while k > 0 and len(tok.encode(prompt(doc, [train[i] for i in draw]), add_special_tokens=False)) > budget:
            k -= 1
            draw = rnd.sample(range(len(train)), k)
        expected.append([train[i]["question"] for i in draw])
    got = [[s["question"] for s in task.shots(task.eval_docs[pos], 5)] for pos in range(12)]
    assert got == [[q.replace("問題：", "") for q in e] for e in expected]
    assert any(len(e) < 5 for e in expected) and any(len(e) == 5 for e in expected)  # some were shrunk
    ctx = task.fewshot_context(task.eval_docs[0], 5)
    request = task.construct_requests(task.eval_docs[0], ctx, metadata=("mgsm", 0, 1))
    assert request.arguments[1]["until"] == [tok.eos_token, "\n"] and request.arguments[1]["max_gen_toks"] == 256
