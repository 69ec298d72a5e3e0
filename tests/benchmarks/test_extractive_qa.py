"""Extractive QA family: the JAQKET v2 reader, gold-length caps, shot shrinking, JaQuAD / JAQKET end to end."""

from __future__ import annotations

import json
import os
import random

from lm_eval_ja.benchmarks import registry
from lm_eval_ja.models.facts import ModelFacts
from tests.benchmarks.conftest import dpr_questions
from tests.conftest import DATA, make_task, needs_shared, run_tasks


def test_jaqket_dpr_reader_keeps_five_passages_and_drops_unanswerable(tmp_path):
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(dpr_questions(3, unanswerable={1})), encoding="utf-8")
    rows = registry.readers()["jaqket_dpr"](path)
    assert [r["qid"] for r in rows] == ["QA-0", "QA-2"]
    assert rows[0]["answers"] == {"text": ["答え0", "こたえ0"], "answer_start": [-1, -1]}
    assert len(rows[0]["ctxs"]["title"]) == 5 and rows[0]["ctxs"]["has_answer"][:2] == [False, True]


@needs_shared
def test_end_to_end_gold_length_caps_and_passages(conformance_lm, synthetic_dir):
    tasks = ["jaqket_v2_closedbook-1.0-0.3", "jaquad-0.1-0.4", "jaqket_v2-0.2-0.6"]
    result, samples = run_tasks(conformance_lm, tasks, [1, 1, 1], 3, os.pathsep.join([str(synthetic_dir), str(DATA)]))
    for name in tasks:
        assert set(result["results"][name]) == {"exact_match", "f1"}
    tok = conformance_lm.tokenizer
    for row in samples["jaquad-0.1-0.4"]:  # rinna-sft: stop at the literal <NL>, gold-length cap
        assert row["arguments"][0][1]["until"] == ["<NL>"] and row["arguments"][0][1]["max_gen_toks"] == len(
            tok.encode("東京", add_special_tokens=False))
    jaqket = samples["jaqket_v2-0.2-0.6"]
    assert [r["doc"]["qid"] for r in jaqket] and all(r["doc"]["qid"] != "QA-2" for r in jaqket)  # filtered
    assert "題名" not in jaqket[0]["arguments"][0][0] and "0番目の質問の4番目の文章" in "".join(
        r["arguments"][0][0] for r in jaqket)


@needs_shared
def test_jaqket_shot_shrinking_replicates_the_reference(conformance_lm, synthetic_dir):
    name = "jaqket_v2-0.2-0.3"
    tok = conformance_lm.tokenizer
    probe = make_task(name, synthetic_dir, facts=ModelFacts(tok))
    train = probe.fewshot_docs()
    docs = [probe.eval_docs[i] for i in range(len(probe.eval_docs))]
    cap = {d["qid"]: max(len(tok.encode(a, add_special_tokens=False)) for a in d["answers"]["text"]) for d in docs}
    sizes = sorted(len(tok.encode(probe.plain_context(docs[0], [t]), add_special_tokens=False)) for t in train)
    max_length = sizes[len(sizes) // 2] + cap[docs[0]["qid"]]  # about half of the 2-shot prompts fit
    task = make_task(name, synthetic_dir, facts=ModelFacts(tok, max_length=max_length))
    # The reference loop: budget = max_length - longest gold answer tokens; retry with one shot fewer.
    rnd = random.Random(42)
    rnd.shuffle(list(range(len(docs))))
    expected = []
    for doc in docs:
        k = 2
        draw = rnd.sample(range(len(train)), k)
        while k > 0 and len(tok.encode(task.plain_context(doc, [train[i] for i in draw]), add_special_tokens=False)) > (
                max_length - cap[doc["qid"]]):
            k -= 1
            draw = rnd.sample(range(len(train)), k)
        expected.append([train[i]["qid"] for i in draw])
    assert [[s["qid"] for s in task.shots(doc, 2)] for doc in docs] == expected
    assert len({len(e) for e in expected}) > 1  # some shrunk, some not
