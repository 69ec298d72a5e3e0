"""Models behind an OpenAI-compatible server — the evaluated model or a judge — through lm-eval's API models.

lm-eval's ``local-completions`` (``…/v1/completions``) scores log-likelihood tasks from the prompt's token
log-probabilities (``echo`` with ``logprobs``) and generates for generation tasks; ``local-chat-completions``
(``…/v1/chat/completions``) only generates. Servers differ in what they answer — vLLM's server returns prompt
log-probabilities; ``transformers serve`` does not, takes only text prompts (``tokenized_requests=False``) and
refuses an empty stop list — so before any task runs :func:`check_served_model` sends one request of every kind
the selected tasks will send, as lm-eval sends it, and turns a refusal into one line saying what to change.
"""

from __future__ import annotations

import io
import logging
import math
from contextlib import contextmanager, redirect_stderr
from typing import Any

from lm_eval_ja.errors import UserError
from lm_eval_ja.store import unwrap

#: The probe request: a context and a continuation (generation asks for one token after the context).
PROBE = ("日本の首都は", "東京です。")


def api_model(lm):
    """lm-eval's API model under any wrappers, or None for a model that runs in this process."""
    from lm_eval.models.api_models import TemplateAPI

    inner = unwrap(lm)
    return inner if isinstance(inner, TemplateAPI) else None


def models_url(base_url: str) -> str:
    """``…/v1/chat/completions`` or ``…/v1/completions`` → ``…/v1/models``."""
    url = base_url.rstrip("/")
    for suffix in ("/chat/completions", "/completions"):
        if url.endswith(suffix):
            return url[: -len(suffix)] + "/models"
    return url + "/models"


def check_endpoint(lm, who: str = "model") -> None:
    """For an OpenAI-compatible model: its server answers and accepts the key (GET …/models), else a UserError."""
    import requests

    inner = api_model(lm)
    if inner is None or not getattr(inner, "base_url", None):
        return
    url = models_url(inner.base_url)
    try:
        headers = inner.header
    except ValueError as exc:  # lm-eval: "API key not found"
        raise UserError(f"The {who} endpoint {inner.base_url} needs an API key: {exc}") from None
    try:
        response = requests.get(url, headers=headers, timeout=30)
    except requests.RequestException as exc:
        raise UserError(f"The {who} endpoint {inner.base_url} cannot be reached ({type(exc).__name__}); start the "
                        "server, or fix base_url= in its model_args.") from None
    if response.status_code in (401, 403):
        raise UserError(f"The {who} endpoint {inner.base_url} refuses the API key (HTTP {response.status_code}); "
                        "set a valid key in OPENAI_API_KEY.")
    if response.status_code >= 400 and response.status_code != 404:  # some servers have no /models
        raise UserError(f"The {who} endpoint {inner.base_url} answers HTTP {response.status_code} to {url}; check "
                        "base_url= in its model_args.")


def request_kinds(task_names: list[str]) -> dict[str, list[str]]:
    """The kinds of request the selected tasks send (``loglikelihood``, ``generate_until``, ``chat``), with the
    tasks sending each; lm-eval's own tasks (not in our registry) are not known here."""
    from lm_eval_ja.benchmarks import registry

    kinds: dict[str, list[str]] = {}
    for name in task_names:
        resolved = registry.resolve(name)
        if resolved is None:
            continue
        bench = resolved.benchmark
        kind = "chat" if bench.conversation else (
            "loglikelihood" if bench.output_type == "multiple_choice" else "generate_until")
        kinds.setdefault(kind, []).append(name)
    return kinds


def check_served_model(lm, model: str, task_names: list[str]) -> None:
    """Before any task runs: the evaluated model's server answers, and answers every kind of request the tasks
    send (see the module docstring); nothing for a model that runs in this process."""
    from lm_eval.models.openai_completions import LocalChatCompletion

    inner = api_model(lm)
    if inner is None:
        return
    check_endpoint(lm, "evaluated model")
    kinds = request_kinds(task_names)
    scored = kinds.get("loglikelihood")
    if scored and isinstance(inner, LocalChatCompletion):
        raise UserError(f"{_scored_by_loglikelihood(scored)}, which --model {model} (a chat-completions API) cannot "
                        "give; use --model local-completions with base_url=…/v1/completions of a server that returns "
                        "prompt log-probabilities (vLLM), or select generation tasks only.")
    for kind, tasks in kinds.items():
        reason = probe_reason(inner, kind)
        if reason is None:
            continue
        where = f"the evaluated model's server ({inner.base_url})"
        if kind == "loglikelihood":
            raise UserError(f"{_scored_by_loglikelihood(tasks)}, and {where} gives no prompt log-probabilities "
                            f"({reason}); serve the model with vLLM (its /v1/completions returns them), or select "
                            "generation tasks only.")
        hint = ""
        if kind != "chat" and inner.tokenized_requests:
            hint = ("; a server that takes only text prompts (transformers serve) needs tokenized_requests=False in "
                    "--model_args")
        elif kind == "chat":
            hint = eos_string_hint(inner, "--model_args")
        raise UserError(f"The evaluated model's server ({inner.base_url}) refuses a generation request of "
                        f"{_listed(tasks)} as lm-eval sends it ({reason}){hint}.")


def eos_string_hint(inner, flag: str) -> str:
    """What to add for a server that refuses a chat request without stop strings (transformers serve does)."""
    if getattr(inner, "eos_string", None):
        return ""
    return (f"; if the server refuses an empty stop list (transformers serve does), give eos_string=<the model's "
            f"end-of-text token> in {flag}")


def _listed(tasks: list[str]) -> str:
    return tasks[0] if len(tasks) == 1 else f"{', '.join(tasks[:2])}{' and others' if len(tasks) > 2 else ''}"


def _scored_by_loglikelihood(tasks: list[str]) -> str:
    return f"{_listed(tasks)} {'is' if len(tasks) == 1 else 'are'} scored by log-likelihood"


@contextmanager
def _quietly(inner):
    """One attempt, no retry back-off, no lm-eval warnings and no progress bar (lm-eval's generate_until ignores
    disable_tqdm): the probe's failure is reported as one line."""
    retries, api_logger = inner.max_retries, logging.getLogger("lm_eval.models.api_models")
    level, concurrent = api_logger.level, getattr(inner, "_concurrent", 1)
    inner.max_retries = 1
    inner._concurrent = 1  # lm-eval's sequential path: the server's error text comes back with its status
    api_logger.setLevel(logging.CRITICAL)
    try:
        with redirect_stderr(io.StringIO()):
            yield
    finally:
        inner.max_retries, inner._concurrent = retries, concurrent
        api_logger.setLevel(level)


def probe_reason(inner, kind: str) -> str | None:
    """Send one request of ``kind`` as lm-eval sends it; None if the answer is usable, else why not."""
    from lm_eval.api.instance import Instance

    context, continuation = PROBE
    if kind == "loglikelihood":
        request = Instance("loglikelihood", {}, (context, continuation), 0)
    else:
        if kind == "chat":
            context = inner.apply_chat_template([{"role": "user", "content": context}], add_generation_prompt=True)
        until = [] if kind == "chat" else ["\n"]  # chat answers run to the end of the turn
        request = Instance("generate_until", {}, (context, {"until": until, "max_gen_toks": 1}), 0)
    try:
        with _quietly(inner):
            out = getattr(inner, request.request_type)([request], disable_tqdm=True)
    except Exception as exc:  # noqa: BLE001 - whatever the server or lm-eval's parser raised is the reason
        return _reason(exc)
    if kind == "loglikelihood":
        value = out[0][0] if out and isinstance(out[0], (tuple, list)) else None
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value > 0:
            return f"the log-likelihood came back as {out!r}"
    elif not out or not isinstance(out[0], str):
        return f"the generation came back as {out!r}"
    return None


def _reason(exc: BaseException) -> str:
    exc = _last_attempt(exc)
    response: Any = getattr(exc, "response", None)
    if response is not None and getattr(response, "status_code", None):
        text = " ".join(str(getattr(response, "text", "")).split())[:200]
        return f"HTTP {response.status_code}: {text}" if text else f"HTTP {response.status_code}"
    status = getattr(exc, "status", None)  # aiohttp (lm-eval's concurrent requests)
    if isinstance(status, int):
        return f"HTTP {status}: {getattr(exc, 'message', '')}".rstrip(": ")
    if isinstance(exc, KeyError):
        return f"its answer has no {exc} field"
    text = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _last_attempt(exc: BaseException) -> BaseException:
    """The error of tenacity's last attempt (lm-eval retries through tenacity), else the error itself."""
    attempt = getattr(exc, "last_attempt", None)
    inner = attempt.exception() if attempt is not None and hasattr(attempt, "exception") else None
    return inner or exc


# ---------------------------------------------------------------------------------------------- failures mid-run

#: What an API model gets unless its model_args say otherwise: requests in flight at once, and seconds before a
#: request is given up (lm-eval then retries it ``max_retries`` times, 3 by default).
API_DEFAULTS = {"num_concurrent": 8, "timeout": 120}


class EndpointFailure(UserError):
    """A server failed mid-run (after lm-eval's retries): one line naming the endpoint and what it answered."""


class EndpointGuard:
    """An API model whose failures become one :class:`EndpointFailure` line: the endpoint, what it answered, and
    whether rerunning the same command resumes (it does when the run keeps a response store)."""

    def __init__(self, lm, who: str, resumable: bool):
        self.lm, self.who, self.resumable = lm, who, resumable

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self.lm, attr)
        if attr not in ("loglikelihood", "loglikelihood_rolling", "generate_until"):
            return value

        def guarded(requests, **kwargs):
            try:
                return value(requests, **kwargs)
            except UserError:
                raise
            except Exception as exc:  # noqa: BLE001 - whatever the server or lm-eval's parser raised is the reason
                raise EndpointFailure(self.message(exc)) from None

        return guarded

    def message(self, exc: BaseException) -> str:
        inner = api_model(self.lm)
        where = getattr(inner, "base_url", None) or "its server"
        after = ("answers finished before it are kept: rerun the same command to resume" if self.resumable else
                 "give --output_path so that finished answers are kept and a rerun resumes")
        return (f"The {self.who} endpoint {where} failed after lm-eval's retries ({_reason(exc)}); {after}. If the "
                "server is slow rather than down, raise timeout= in its model_args (default "
                f"{API_DEFAULTS['timeout']} s).")


def guard(lm, who: str, resumable: bool):
    """``lm`` itself for a model that runs in this process, else wrapped in an :class:`EndpointGuard`."""
    return EndpointGuard(lm, who, resumable) if api_model(lm) is not None else lm
