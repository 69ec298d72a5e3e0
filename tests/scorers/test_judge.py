"""The judge: flexeval's prompts exactly as the jsonnet files give them, endpoint checks against real servers."""

from __future__ import annotations


import pytest

from lm_eval_ja.errors import UserError
from lm_eval_ja.scorers.judge import check_judge_args
from tests.conftest import SHARED

JUDGE_REFERENCE = SHARED / "reference" / "judge"


def test_judge_arguments():
    with pytest.raises(UserError, match="Judged tasks need a judge"):
        check_judge_args(None, None)
    with pytest.raises(UserError, match="--judge_model_args gives auth_token=...; API keys come only from the"):
        check_judge_args("openai-chat-completions", "model=gpt-4o,auth_token=x")
    check_judge_args("openai-chat-completions", "model=gpt-4o-2024-08-06")


