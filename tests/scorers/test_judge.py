"""The judge: flexeval's prompts exactly as the jsonnet files give them, endpoint checks against real servers."""

from __future__ import annotations

import re

import pytest

from lm_eval_ja.errors import UserError
from lm_eval_ja.benchmarks.elyza import JUDGE_PROMPT
from lm_eval_ja.scorers.judge import check_judge_args, load_prompts
from tests.conftest import SHARED

JUDGE_REFERENCE = SHARED / "reference" / "judge"


def _jsonnet_text_block(path) -> str:
    """The ``|||`` text block of a flexeval jsonnet file, as jsonnet gives it, then std.stripChars(…, '\\n')."""
    source = path.read_text(encoding="utf-8")
    block = re.search(r"\|\|\|\n(.*?)\n\s*\|\|\|", source, re.S).group(1) + "\n"
    lines = block.split("\n")
    indent = len(lines[0]) - len(lines[0].lstrip(" "))
    return "\n".join(line[indent:] for line in lines).strip("\n")


@pytest.mark.skipif(not JUDGE_REFERENCE.is_dir(), reason="shared reference not present")
def test_the_elyza_judge_prompt_is_the_jsonnet_string():
    assert load_prompts(JUDGE_PROMPT)["elyza"]["template"] == _jsonnet_text_block(
        JUDGE_REFERENCE / "elyza_tasks_100_eval.jsonnet")


def test_judge_arguments():
    with pytest.raises(UserError, match="Judged tasks need a judge"):
        check_judge_args(None, None)
    with pytest.raises(UserError, match="--judge_model_args gives auth_token=...; API keys come only from the"):
        check_judge_args("openai-chat-completions", "model=gpt-4o,auth_token=x")
    check_judge_args("openai-chat-completions", "model=gpt-4o-2024-08-06")


