"""TaskName: every accepted name splits into benchmark, task version and prompt version and joins back."""

from __future__ import annotations

import pytest

from lm_eval_ja.names import TaskName


@pytest.mark.parametrize("name, parts", [
    ("jnli-1.1-0.3", ("jnli", "1.1", "0.3")),
    ("jcommonsenseqa-1.1-0.2.1", ("jcommonsenseqa", "1.1", "0.2.1")),
    ("niilc-llmjp-1.0", ("niilc", None, "llmjp-1.0")),
    ("jsts-1.1-llmjp-1.0", ("jsts", "1.1", "llmjp-1.0")),
    ("jmmlu_anatomy-llmjp-1.0", ("jmmlu_anatomy", None, "llmjp-1.0")),
    ("jmmlu-llmjp-1.0", ("jmmlu", None, "llmjp-1.0")),
    ("jnli", ("jnli", None, None)),
    ("xwinograd_ja", ("xwinograd_ja", None, None)),
    # another shape (an lm-eval built-in): the whole name is the benchmark
    ("gsm8k_cot-self-consistency", ("gsm8k_cot-self-consistency", None, None)),
])
def test_parse_and_format(name, parts):
    parsed = TaskName.parse(name)
    assert (parsed.benchmark, parsed.task_version, parsed.prompt_version) == parts
    assert str(parsed) == name


def test_plain_and_versioned_family():
    assert TaskName.parse("jnli").is_plain and not TaskName.parse("jnli-1.1-0.3").is_plain
    assert TaskName.parse("jnli-1.1-0.3").versioned_family == "jnli-1.1"
    assert TaskName.parse("niilc-llmjp-1.0").versioned_family == "niilc"
