"""llm-jp-style generation tasks: scorers by hand, splits and prompts on the shared data, end to end."""

from __future__ import annotations

import re

import pytest

from lm_eval_ja.benchmarks import llmjp, registry
from lm_eval_ja.metrics.llmjp import UNPARSED_SIMILARITY, pearson_agg
from tests.conftest import DATA, make_task, needs_shared, run_tasks

# task name -> (evaluated documents, shot pool) with the shared data
GENERATION_TASKS = {
    "jsts-1.1-llmjp-1.0": (1457, 12451),
    "jemhopqa-1.0-llmjp-1.0": (120, 1059),
    "niilc-llmjp-1.0": (200, 800),
    "janli-llmjp-1.0": (720, 13680),
    "jamp-llmjp-1.0": (348, 9950),
    "jsick-llmjp-1.0": (4927, 5000),
    "jsem-1.0-llmjp-1.0": (1560, 14274),
    "mawps_ja-llmjp-1.0": (1000, 8),
}


def test_scorers_by_hand():
    assert llmjp.score_label(None, {"output": "entailment"}, ["Entailment。\n理由は…"]) == {"exact_match": 1.0}
    assert llmjp.score_label(None, {"output": "entailment"}, ["neutral"]) == {"exact_match": 0.0}
    assert llmjp.score_number(None, {"output": "43"}, ["答えは４３個です"]) == {"exact_match": 1.0}
    assert llmjp.score_number(None, {"output": "43"}, ["42"]) == {"exact_match": 0.0}
    assert llmjp.score_similarity(None, {"score": 3.4}, ["類似度は3.2です"]) == {"pearson": (3.2, 3.4),
                                                                            "spearman": (3.2, 3.4)}
    assert llmjp.score_similarity(None, {"score": 1.0}, ["わかりません"])["pearson"] == (UNPARSED_SIMILARITY, 1.0)
    doc = {"output": "姫路城、八代城", "golds": ["姫路城", "八代城", "姫路城、八代城"]}
    qa = llmjp.score_qa(None, doc, ["姫路城\n"])
    assert qa["exact_match"] == 1.0 and qa["char_f1"] == 1.0
    # fuzzy ratio against all answers: "姫路城" vs "八代城 姫路城" (sorted tokens): 2 * 3 / (3 + 7)
    assert qa["fuzzy_ratio"] == 0.6


@needs_shared
@pytest.mark.parametrize("name", sorted(GENERATION_TASKS))
def test_split_sizes_and_prompt(name):
    task = make_task(name, DATA)
    n_test, n_pool = GENERATION_TASKS[name]
    assert (len(task.eval_docs), len(task.fewshot_docs())) == (n_test, n_pool)
    doc = task.eval_docs[0]
    ctx = task.fewshot_context(doc, 3)
    shots = list(task.fewshot_docs())[:3]  # first_n: the same shots for every document
    expected = (task.description() + "".join(
        task.doc_to_text(s) + task.doc_to_target(s) + "\n\n" for s in shots) + task.doc_to_text(doc))
    assert ctx == expected
    assert ctx.count("### 指示:") == 1 and ctx.endswith("### 応答:\n")
    assert task.fewshot_context(task.eval_docs[1], 3).count(task.doc_to_target(shots[0])) >= 1
    assert task.data_sources["derived"]["test_docs"] == n_test
    _online_matches_source(task.spec.sources)
    # An oracle that answers every gold (the shot target) scores full marks: extraction fits every gold.
    scorer = task.spec.scorer(task)
    items = scorer.score(list(task.eval_docs), [[task.doc_to_target(d)] for d in task.eval_docs])
    if name.startswith("jsts"):
        assert pearson_agg(i["pearson"] for i in items) == pytest.approx(1.0)
    else:
        assert all(v == 1.0 for i in items for v in i.values())


@needs_shared
def test_jsem_labels_and_split():
    jsem = make_task("jsem-1.0-llmjp-1.0", DATA)
    assert {"yes", "no", "unknown"} <= set(jsem.eval_docs["output"]) <= {"yes", "no", "unknown", "undef"}
    assert not set(jsem.eval_docs["id"]) & set(jsem.fewshot_docs()["id"])
    assert jsem.data_sources["derived"]["split"].startswith("no official split: documents whose sha256(id)")


def _online_matches_source(sources) -> None:
    """Each ``online`` address is the pinned raw GitHub file of the ``local`` copy (repo and commit of SOURCE.md)."""
    for where in sources.values():
        folder, _, rest = where.local.partition("/")
        source = (DATA / folder / "SOURCE.md").read_text(encoding="utf-8")
        repo = re.search(r"source repo: https://github.com/(\S+)", source).group(1)
        commit = re.search(r"/([0-9a-f]{40})/", where.online).group(1)
        assert where.online == f"https://raw.githubusercontent.com/{repo}/{commit}/{rest}", where
        assert commit in source.split("commit:")[1].split("\n")[0], where


@needs_shared
def test_description_override():
    task = make_task("mawps_ja-llmjp-1.0", DATA, description_override="数値で答えよ。")  # --description_dict_path
    ctx = task.fewshot_context(task.eval_docs[0], 1)
    assert ctx.startswith("数値で答えよ。\n\n### 入力:\n") and "### 指示:" not in ctx


@needs_shared
def test_generation_tasks_end_to_end(conformance_lm):
    names = sorted(GENERATION_TASKS)
    result, samples = run_tasks(conformance_lm, names, [1] * len(names), 2, DATA, bootstrap_iters=0)
    for name in names:
        task_metrics = {m.name for m in registry.resolve(name).benchmark.metrics}
        metrics = result["results"][name]
        assert task_metrics <= set(metrics), (name, metrics)
        for m in task_metrics:
            assert -1.0 <= metrics[m] <= 1.0
        assert len(samples[name]) == 2
        score = registry.resolve(name).benchmark.scorer(None)
        for row in samples[name]:  # the per-document items are recomputed from the generation
            expected = score.score([row["doc"]], [row["filtered_resps"]])[0]
            assert {k: row[k] for k in task_metrics} == {k: expected[k] for k in task_metrics}
        assert result["config"]["lm_eval_ja"]["data_sources"][name]["derived"]["test_docs"] == GENERATION_TASKS[name][0]
