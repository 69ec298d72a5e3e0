"""JMMLU: subject categories, the head-of-file shot pool, and the groups' micro / macro averages."""

from __future__ import annotations

import pytest

from lm_eval_ja.benchmarks import jmmlu, registry
from tests.conftest import DATA, make_task, needs_shared


def test_category_mapping():
    subjects = set(jmmlu.SUBJECTS)
    assert len(subjects) == 53
    assert set(jmmlu.UNMAPPED_CATEGORY) == subjects - set(jmmlu.MMLU_CATEGORY)
    assert set(jmmlu.UNMAPPED_CATEGORY) == {"japanese_history", "world_history"}
    mmlu = pytest.importorskip("lm_eval.tasks.mmlu._generate_configs").SUBJECTS
    assert {s: mmlu[s] for s in jmmlu.MMLU_CATEGORY} == jmmlu.MMLU_CATEGORY
    if (DATA / "jmmlu" / "JMMLU").is_dir():
        assert {p.stem for p in (DATA / "jmmlu" / "JMMLU").glob("*.csv")} == subjects
    groups = registry.groups()
    assert len(registry.group_leaves(jmmlu.group_name())) == 53
    assert sum(len(groups[jmmlu.group_name(c)].members) for c in jmmlu.CATEGORIES) == 53


@needs_shared
def test_shot_pool_is_the_head_of_the_file():
    name = jmmlu.task_name("anatomy")
    task = make_task(name, DATA)
    rows = registry.readers()["jmmlu_csv"](DATA / "jmmlu" / "JMMLU" / "anatomy.csv")
    assert len(task.eval_docs) == len(rows) - 5 == 127
    assert list(task.fewshot_docs()["question"]) == [r["question"] for r in rows[:5]]  # file order
    assert task.eval_docs[0]["question"] == rows[5]["question"]  # shots are never scored
    assert task.eval_docs[0]["id"] == "anatomy/5"
    ctx = task.fewshot_context(task.eval_docs[0], 5)
    assert "「解剖学」" in ctx and ctx.endswith("D. " + rows[5]["D"] + "\n\n### 応答:\n")
    assert task.doc_to_choice(task.eval_docs[0]) == ["A", "B", "C", "D"]


@needs_shared
def test_groups_micro_and_macro_in_plain_lm_eval(conformance_lm):
    from lm_eval.evaluator import evaluate

    from lm_eval_ja.evaluator import task_manager

    loaded = task_manager(metadata={"data_dir": str(DATA)}).load([jmmlu.group_name()])
    assert len(loaded["tasks"]) == 53
    for task in loaded["tasks"].values():
        task.set_config(key="num_fewshot", value=0)  # short prompts keep the tiny-model run fast
    res = evaluate(conformance_lm, loaded, limit=0.015, bootstrap_iters=0)["results"]
    subjects = {s: jmmlu.task_name(s) for s in jmmlu.SUBJECTS}
    sizes = {s: res[t]["sample_len"] for s, t in subjects.items()}
    accs = {s: res[t]["acc,none"] for s, t in subjects.items()}
    assert len(set(sizes.values())) > 1  # unequal sizes, so micro and macro differ in general
    for cat in (None,) + jmmlu.CATEGORIES:
        members = [s for s in subjects if cat is None or jmmlu.category(s) == cat]
        group = res[jmmlu.group_name(cat)]
        micro = sum(accs[s] * sizes[s] for s in members) / sum(sizes[s] for s in members)
        macro = sum(accs[s] for s in members) / len(members)
        assert group["acc,none"] == pytest.approx(micro), cat
        assert group["acc_macro,none"] == pytest.approx(macro), cat
        assert group["sample_len"] == sum(sizes[s] for s in members)
