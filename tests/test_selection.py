"""Selection: names, patterns, groups and suites in order; one few-shot count and limit per task; bad values."""

from __future__ import annotations

import pytest

from lm_eval_ja.errors import UserError
from lm_eval_ja.selection import (
    available_names,
    expand,
    parse_limit,
    parse_num_fewshot,
    per_task,
    select,
)


def test_task_patterns_keep_order():
    names = [n for n, _ in expand("jsquad-1.2-*,jnli-1.1-0.3", available_names())[0]]
    assert names == ["jsquad-1.2-0.2", "jsquad-1.2-0.3", "jsquad-1.2-0.4", "jsquad-1.2-0.5", "jsquad-1.2-0.6",
                     "jnli-1.1-0.3"]


def test_a_group_is_its_member_tasks_and_a_task_is_selected_once():
    chosen = select("jmmlu-stem-llmjp-1.0,jmmlu_anatomy-llmjp-1.0,jmmlu-stem-llmjp-1.0")
    assert chosen.names[0].startswith("jmmlu_") and len(chosen.names) == len(set(chosen.names))
    assert "jmmlu_anatomy-llmjp-1.0" in chosen.names and chosen.num_fewshot == [0] * len(chosen.names)


def test_one_value_applies_to_every_task():
    assert per_task("3", 3, "num_fewshot", parse_num_fewshot) == [3, 3, 3]
    assert per_task("3,2", 2, "num_fewshot", parse_num_fewshot) == [3, 2]
    assert select("jnli-1.1-0.3,jsquad-1.1-0.2", "3", "0.5").limits == [0.5, 0.5]


@pytest.mark.parametrize("value, expected", [("1", 1), ("40", 40), ("0.25", 0.25), (".5", 0.5), ("all", None)])
def test_limit_values(value, expected):
    assert parse_limit(value) == expected


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "1e2", "nan", "1.0", "abc", "0.0"])
def test_bad_limits_are_refused(value):
    with pytest.raises(UserError) as err:
        parse_limit(value)
    assert str(err.value) == (f"--limit {value!r} is not an integer ≥ 1 (the first N documents), a fraction "
                              "between 0 and 1 (e.g. 0.1) or 'all'; give one value, or one per task.")


@pytest.mark.parametrize("value", ["-1", "1.5", "x"])
def test_bad_num_fewshot_is_refused(value):
    with pytest.raises(UserError, match=rf"--num_fewshot {value!r} is not an integer ≥ 0"):
        parse_num_fewshot(value)


def test_unknown_names():
    with pytest.raises(UserError) as err:
        select("jnli-1.1-0.9")
    assert str(err.value) == ("Task 'jnli-1.1-0.9': prompt version '0.9' is not available for jnli-1.1; "
                              "supported versions: 0.2, 0.3, 0.4, 0.5, 0.6.")
    with pytest.raises(UserError) as err:
        select("niilc-llmjp-9.9")
    assert str(err.value) == ("Task 'niilc-llmjp-9.9': prompt version 'llmjp-9.9' is not available for niilc; "
                              "supported versions: llmjp-1.0.")
    with pytest.raises(UserError) as err:
        select("jcommonsensqa-1.1-0.3")
    assert str(err.value).startswith("Unknown task 'jcommonsensqa-1.1-0.3'. Did you mean 'jcommonsenseqa-1.1-0.3'")
