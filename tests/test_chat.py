"""Conversations: thinking removed, turn 2 asked with the model's own turn-1 answer, seeded sampling."""

from __future__ import annotations

import pytest
from lm_eval.api.model import LM

from lm_eval_ja.chat import ChatOptions, DefaultPlan, converse, request_seed, strip_thinking


@pytest.mark.parametrize("text, expected", [
    ("<think>まず考える</think>答えは4です", "答えは4です"),
    ("前置き<think>a</think>本文<think>b</think>結び", "前置き本文結び"),
    ("答え<think>考え中で途切れた", "答え"),            # an unclosed block counts to the end
    ("考えていた内容</think>\n答え", "答え"),             # a template that opened the block itself
    ("考えずに答える", "考えずに答える"),
])
def test_thinking_is_removed(text, expected):
    assert strip_thinking(text) == expected


def test_other_tags():
    assert strip_thinking("[[R]]x[[/R]]y", ("[[R]]", "[[/R]]")) == "y"


class EchoChat(LM):
    """Answers with its context: what the conversation looked like when it was asked."""

    def __init__(self):
        super().__init__()
        self.kwargs = []

    def apply_chat_template(self, messages, add_generation_prompt=True):
        return " | ".join(f"{m['role']}:{m['content']}" for m in messages)

    def generate_until(self, requests, disable_tqdm=False):
        self.kwargs += [r.args[1] for r in requests]
        return [f"<think>t</think>{r.args[0]}" for r in requests]

    def loglikelihood(self, requests, disable_tqdm=False):
        raise NotImplementedError

    def loglikelihood_rolling(self, requests, disable_tqdm=False):
        raise NotImplementedError


def test_turn_two_sees_the_models_own_first_answer_without_its_thinking():
    lm = EchoChat()
    docs = [{"id": 7, "turns": ["質問1", "質問2"], "temperature": 0.7}, {"id": 8, "turns": ["一問"]}]
    plan = DefaultPlan(options=ChatOptions(num_samples=2, system_instruction="SYS"))
    answers = converse(lm, "t", docs, plan, seed=42, max_gen_toks=lambda doc: 16)
    first = answers[0][0]
    assert first.text[0] == "system:SYS | user:質問1" and first.raw[0] == "<think>t</think>system:SYS | user:質問1"
    assert first.text[1] == "system:SYS | user:質問1 | assistant:system:SYS | user:質問1 | user:質問2"
    assert len(answers[1][0].text) == 1
    sampled = [k for k in lm.kwargs if k["do_sample"]]
    assert len(sampled) == 4 and {k["temperature"] for k in sampled} == {0.7}
    # EchoChat is no hf-causal / API model: no per-request seed is sent to it
    assert all("seed" not in k for k in lm.kwargs) and all(k["max_gen_toks"] == 16 for k in lm.kwargs)
    # the two samples' greedy requests are identical: asked once, given to both
    greedy = [k for k in lm.kwargs if not k["do_sample"]]
    assert len(greedy) == 1 and all(k["temperature"] == 0.0 for k in greedy)
    assert answers[1][0].text == answers[1][1].text and answers[1][0].prompts == answers[1][1].prompts


def test_request_seeds_are_stable_and_distinct():
    assert request_seed(42, "t", 7, 0, 1) == request_seed(42, "t", 7, 0, 1)
    assert len({request_seed(42, "t", 7, k, turn) for k in range(3) for turn in range(2)}) == 6


def test_tasks_judged_together_send_all_their_requests_in_one_call_per_judge_and_parameters():
    from types import SimpleNamespace

    from lm_eval_ja.chat import Answered, score_together

    calls = []

    class Judge:
        def ask(self, prompts, indices, params=None):
            calls.append((list(prompts), params))
            return [f"out:{p}" for p in prompts]

    judge = Judge()

    class Scorer:
        def __init__(self, name, params):
            self.name, self.params, self.judging = name, params, SimpleNamespace(judge=judge)

        def judge_requests(self, docs, answers):
            return [f"{self.name}{d}" for d in docs], [0] * len(docs), self.params

        def complete(self, docs, answers, outputs):
            return [{"out": o} for o in outputs]

    scorers = [Scorer("a", {"t": 0}), Scorer("b", {"t": 0}), Scorer("c", {"t": 1})]
    answered = [Answered(None, [1, 2], [[], []], {}), Answered(None, [3], [[]], {}), Answered(None, [4], [[]], {})]
    scored = score_together(scorers, answered)
    assert calls == [(["a1", "a2", "b3"], {"t": 0}), (["c4"], {"t": 1})]  # one call per judge and parameters
    assert scored == [[{"out": "out:a1"}, {"out": "out:a2"}], [{"out": "out:b3"}], [{"out": "out:c4"}]]
