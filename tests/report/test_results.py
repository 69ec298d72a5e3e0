"""Reading result.json files of every schema age into typed records."""

from __future__ import annotations

import pytest

from lm_eval_ja.errors import UserError
from lm_eval_ja.report import load_result_file
from tests.report.helpers import FIXTURES, write_result


def test_new_schema_pairs_fewshot_with_versions_order():
    f = load_result_file(FIXTURES / "model-a" / "result.json")
    assert f.schema == "jp-stable" and f.model_id == "model-a" and f.pretrained == "org/model-a"
    by_task = {t.task: t for t in f.tasks}
    # versions order is jsquad, jcqa, jnli, jcola with [2, 3, 3, 3]; the results order would give jsquad 3 shots
    assert by_task["jsquad-1.1-0.4"].num_fewshot == 2
    assert by_task["jcommonsenseqa-1.1-0.4"].num_fewshot == 3
    t = by_task["jcommonsenseqa-1.1-0.4"]
    assert (t.family, t.dataset_version, t.prompt_version) == ("jcommonsenseqa", "1.1", "0.4")
    assert t.metrics == {"acc": 0.6, "acc_norm": 0.55}
    assert t.stderr == {"acc": 0.01, "acc_norm": 0.011}


def test_old_schema_int_fewshot_and_details_are_handled():
    f = load_result_file(FIXTURES / "gpt3" / "result.mgsm.json")
    (t,) = f.tasks
    assert (t.task, t.family, t.dataset_version, t.prompt_version) == ("mgsm-1.0-0.0", "mgsm", "1.0", "0.0")
    assert t.num_fewshot == 4
    assert t.metrics == {"acc": 0.268}  # the per-doc "details" list is not a metric
    assert f.pretrained is None


def test_lm_eval_04_schema_strips_filters_and_skips_groups():
    f = load_result_file(FIXTURES / "model-c" / "results_2025-01-01T00-00-00.000001.json")
    assert f.schema == "lm-eval-0.4"
    by_task = {t.task: t for t in f.tasks}
    assert set(by_task) == {"jcommonsenseqa-1.1-0.4", "jsquad-1.1-0.4"}  # "jglue" is an aggregate
    assert by_task["jcommonsenseqa-1.1-0.4"].metrics == {"acc": 0.8}
    assert by_task["jcommonsenseqa-1.1-0.4"].stderr == {"acc": 0.012}
    assert by_task["jsquad-1.1-0.4"].stderr == {}  # "N/A"
    assert by_task["jsquad-1.1-0.4"].num_fewshot == 2 and by_task["jsquad-1.1-0.4"].filter == "none"


def test_plain_task_name_takes_dataset_version_from_versions(tmp_path):
    path = write_result(tmp_path / "m" / "result.json", {"xwinograd_ja": {"acc": 0.7}, "xlsum_ja": {"rouge2": 5.0}},
                         num_fewshot=[0, 1])
    by_task = {t.task: t for t in load_result_file(path).tasks}
    assert (by_task["xwinograd_ja"].dataset_version, by_task["xwinograd_ja"].prompt_version) == ("1.0", None)
    assert (by_task["xlsum_ja"].prompt_version, by_task["xlsum_ja"].num_fewshot) == ("0.0", 1)


@pytest.mark.parametrize(
    "content, fix",
    [(None, "no such file"), ("not json", "not valid JSON"), ('{"model": "x"}', "is not a result.json")],
)
def test_bad_input_is_a_user_error_naming_the_file(tmp_path, content, fix):
    path = tmp_path / "thing.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UserError, match=fix) as exc:
        load_result_file(path)
    assert str(path) in str(exc.value)

