"""The one task class: built from its spec alone, the same through lm-eval's YAML route, shots checked."""

from __future__ import annotations

import pytest

from lm_eval_ja.benchmarks import registry
from lm_eval_ja.errors import UserError
from lm_eval_ja.builtin_tasks import task_manager
from tests.benchmarks.test_registry import JGLUE_NAMES
from tests.conftest import CONFORMANCE_DATA_DIR, make_task, needs_shared

# one task of every benchmark whose data is in ../shared, besides the JGLUE names
OTHERS = ["jcola-0.2-0.3", "xwinograd_ja", "mgsm-1.0-0.4", "jaqket_v2_closedbook-1.0-0.5", "jsts-1.1-llmjp-1.0",
          "janli-llmjp-1.0", "jmmlu_virology-llmjp-1.0"]


@needs_shared
@pytest.mark.parametrize("name", sorted(JGLUE_NAMES) + OTHERS)
def test_every_task_loads(name):
    task = make_task(name)
    doc = task.eval_docs[0]
    shots = 0 if registry.resolve(name).benchmark.zero_shot_only else 1
    ctx = task.fewshot_context(doc, shots)
    assert ctx.endswith(task.doc_to_text(doc))
    assert task.VERSION == registry.resolve(name).version.result_version


@needs_shared
@pytest.mark.parametrize("name", ["jnli-1.3-0.4", "jsquad-1.2-0.3", "niilc-llmjp-1.0", "jmmlu_anatomy-llmjp-1.0",
                                  "jnli"])
def test_lm_eval_yaml_route_builds_the_same_task(name):
    via_yaml = task_manager(metadata={"data_dir": CONFORMANCE_DATA_DIR}).load([name])["tasks"][name]
    direct = make_task(name)
    assert type(via_yaml) is type(direct)
    assert via_yaml.config.output_type == direct.config.output_type
    assert via_yaml.config.metric_list == direct.config.metric_list
    assert via_yaml.config.generation_kwargs == direct.config.generation_kwargs
    for i in range(3):
        assert via_yaml.fewshot_context(via_yaml.eval_docs[i], 2) == direct.fewshot_context(direct.eval_docs[i], 2)


@needs_shared
def test_shot_counts_are_checked_against_the_pool():
    task = make_task("mgsm-1.0-0.0")
    with pytest.raises(UserError) as err:
        task.fewshot_context(task.eval_docs[0], 9)
    assert str(err.value) == "mgsm-1.0-0.0: --num_fewshot 9 is more than the 8 examples of its shot pool."
    mawps = make_task("mawps_ja-llmjp-1.0")
    with pytest.raises(UserError, match="more than the 8 examples of its shot pool"):
        mawps.fewshot_context(mawps.eval_docs[0], 9)


@needs_shared
def test_process_results_without_the_scoring_stage_scores_the_document_alone():
    task = make_task("jcommonsenseqa-1.1-0.3")
    doc = task.eval_docs[0]
    lls = [(-1.0, False)] * 5
    lls[doc["label"]] = (-0.5, True)
    assert task.process_results(doc, lls) == {"acc": 1.0, "acc_norm": 1.0}


def test_unknown_task():
    from lm_eval_ja.task import JaTask

    with pytest.raises(UserError, match="Unknown task 'nope-1.0-0.1'"):
        JaTask({"task": "nope-1.0-0.1"})
