"""An LLM judge: any lm-eval model, asked in chat form, its outputs kept in the run store as they arrive.

The judge is built from ``--judge_model`` (any registered lm-eval model; default ``openai-chat-completions``) and
``--judge_model_args`` (``--model_args`` syntax), and wrapped in the run's response store under its own
fingerprint: a rerun (after a crash, or with more judgments) asks the judge only for what is missing, and another
judge model never reuses these judgments; the judge prompt is part of every request, so another prompt set does
not either. lm-eval's API models bring retries and concurrency. Judgments run at temperature 0 with at most
``max_tokens`` tokens; judgment *j* of an answer carries seed ``j`` where the backend takes one.

What a benchmark asks, with which prompts and references, and how it reads a rating are its family's (chosen by the
task version); the judge only asks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lm_eval.api.instance import Instance

from lm_eval_ja.chat import accepts_request_seed, check_chat_model
from lm_eval_ja.errors import UserError
from lm_eval_ja.modelargs import is_secret, parse_model_args, redact_model_args
from lm_eval_ja.models.served import EndpointFailure, check_endpoint, guard

DEFAULT_JUDGE = "openai-chat-completions"
#: FastChat: the judge runs at temperature 0 with at most 2048 new tokens.
JUDGE_MAX_TOKENS = 2048
#: After a failed batch the judge is asked one request at a time; if this many fail in a row from the start, the
#: endpoint is taken to be down (one error line) rather than failing judgment by judgment.
FAILED_FIRST = 3


@dataclass
class Judge:
    """A judge model and how it was built (recorded in result.json, secrets redacted)."""

    lm: Any
    model: str
    model_args: str
    max_tokens: int = JUDGE_MAX_TOKENS
    fingerprint: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"model": self.model, "model_args": redact_model_args(self.model_args), "max_tokens": self.max_tokens,
                "temperature": 0, "fingerprint": self.fingerprint.get("digest")}

    def ask(self, prompts: list[list[dict[str, str]]], judgment_indices: list[int],
            params: dict[str, Any] | None = None) -> list[str]:
        """The judge's outputs for chat prompts (``[system?, user]`` messages), one request each, in order.

        ``params``: the protocol's ``temperature`` and ``max_tokens`` (default 0 and :data:`JUDGE_MAX_TOKENS`; a
        protocol that sends none still gets lm-eval's: its API models always send both)."""
        params = params or {}
        temperature = params.get("temperature")
        with_seed = accepts_request_seed(self.lm)
        requests = []
        for i, (messages, j) in enumerate(zip(prompts, judgment_indices)):
            gen_kwargs: dict[str, Any] = {"until": [], "max_gen_toks": params.get("max_tokens") or self.max_tokens,
                                          "do_sample": bool(temperature), "temperature": temperature or 0}
            if with_seed:
                gen_kwargs["seed"] = j
            context = self.lm.apply_chat_template(messages, add_generation_prompt=True)
            requests.append(Instance("generate_until", {}, (context, gen_kwargs), i))
        if not requests:
            return []
        try:
            return list(self.lm.generate_until(requests))
        except EndpointFailure as failure:
            return self._one_by_one(requests, failure)

    def _one_by_one(self, requests, failure) -> list[str | None]:
        """After a failed batch: each request alone; a request that still fails is a failed judgment (None, counted
        as FastChat counts a -1), unless the first ones all fail — then the endpoint is down: one error line."""
        outputs: list[str | None] = []
        for i, request in enumerate(requests):
            try:
                outputs.append(self.lm.generate_until([request])[0])
            except EndpointFailure:
                if i + 1 >= FAILED_FIRST and all(o is None for o in outputs):
                    raise failure from None
                outputs.append(None)
        return outputs


def check_judge_args(model: str | None, model_args: str | None) -> None:
    """Before anything runs: a judge is named, and no secret is given on the command line."""
    if not model_args:
        raise UserError("Judged tasks need a judge: pass --judge_model_args, e.g. model=gpt-4o-2024-08-06 (the key "
                        "from OPENAI_API_KEY), or --judge_model local-chat-completions --judge_model_args "
                        "model=NAME,base_url=http://127.0.0.1:8000/v1/chat/completions.")
    for key in parse_model_args(model_args):
        if is_secret(key):
            raise UserError(f"--judge_model_args gives {key}=...; API keys come only from the environment "
                            "(OPENAI_API_KEY), so that no key is ever written to a file or log.")


def build_judge(model: str | None, model_args: str, store=None, say=print) -> Judge:
    """The judge model, its endpoint checked (reachable, key accepted) before any answer is generated."""
    from lm_eval_ja.models.build import build_model
    from lm_eval_ja.store import StoredLM, model_fingerprint

    model = model or DEFAULT_JUDGE
    check_judge_args(model, model_args)
    try:
        lm = build_model(model, model_args)
    except (ValueError, KeyError, TypeError) as exc:  # lm-eval's API models raise these for a missing key / args
        raise UserError(f"The judge --judge_model {model} --judge_model_args {redact_model_args(model_args)} cannot "
                        f"be built ({exc}).") from None
    check_endpoint(lm, "judge")
    check_chat_model(lm, "The judge")
    check_judge_request(lm)
    fingerprint = model_fingerprint(model, model_args, lm=lm)
    lm = guard(lm, "judge", resumable=store is not None)
    if store is not None:
        lm = StoredLM(lm, store, fingerprint["digest"], say=say, what="judge requests")
    return Judge(lm, model, model_args, fingerprint=fingerprint)


def check_judge_request(lm) -> None:
    """One real judge request as the run sends it (a chat turn, no stop strings), before any answer is generated:
    a server that refuses it (``transformers serve`` without ``eos_string``) is said now, not after the answers."""
    from lm_eval_ja.models.served import api_model, eos_string_hint, probe_reason

    inner = api_model(lm)
    if inner is None:
        return
    reason = probe_reason(inner, "chat")
    if reason is not None:
        raise UserError(f"The judge endpoint {inner.base_url} refuses a judge request as the run sends it "
                        f"({reason}){eos_string_hint(inner, '--judge_model_args')}.")


@dataclass
class JudgeSettings:
    """What a judged task needs from the run: the judge, and the judgments per answer."""

    judge: Judge
    #: judgments per answer; None: the task's protocol's number
    num_judgments: int | None = None

    def describe(self) -> dict[str, Any]:
        return {**self.judge.describe(), "num_judgments": self.num_judgments}
