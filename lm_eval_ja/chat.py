"""The chat path, a peer of lm-eval's: conversations answered turn by turn, then judged, then sample rows.

:func:`evaluate_conversations` runs conversation tasks: the evaluated model answers every document (its share of
them on a data-parallel rank), rank 0 gathers the answers, the task's scorer (an LLM judge) scores them all at once,
and the per-document items and sample-log rows go back to the run loop, which aggregates them through the task's
metric declarations like any other task's.

The evaluated model answers a document's user turns as a chat model, one turn at a time.

A conversation task's documents carry ``turns`` (the user messages) and may carry ``temperature`` (the benchmark's
sampling temperature for that document; greedy below 1e-4). For every document and sample, turn *t* is asked with
the model's own earlier answers in the conversation, rendered by the model's chat template
(``lm.apply_chat_template``: a Hugging Face template for ``hf-causal`` / ``hf``, the server's for API chat models).
Requests go through the model's ``generate_until`` (so a run store keeps and resumes them); sampled answers carry
a seed derived from ``--seed``, the task, the document, the sample and the turn, so a run is reproducible.

Reasoning models: text inside ``<think>…</think>`` (tags configurable) is removed from an answer before it is
judged or put back into the conversation; an unclosed block counts up to the end, and a lone closing tag (a
template that opens the block itself) hides everything before it. The raw answer is kept in the sample log.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from typing import Any

from lm_eval.api.instance import Instance

from lm_eval_ja.distributed import shard
from lm_eval_ja.errors import UserError
from lm_eval_ja.results import TaskOutcome
from lm_eval_ja.store import unwrap

#: FastChat: temperatures below this are greedy decoding.
GREEDY_BELOW = 1e-4
DEFAULT_THINK_TAGS = ("<think>", "</think>")


def strip_thinking(text: str, tags: tuple[str, str] = DEFAULT_THINK_TAGS) -> str:
    """``text`` without its thinking blocks (see the module docstring)."""
    open_tag, close_tag = tags
    out = text
    if close_tag in out and (open_tag not in out or out.index(close_tag) < out.index(open_tag)):
        out = out.split(close_tag, 1)[1]
    while open_tag in out:
        before, _, after = out.partition(open_tag)
        _, closed, rest = after.partition(close_tag)
        out = before + (rest if closed else "")
    return out.strip()


@dataclass
class Answer:
    """One sample's answers to a document's turns: as generated, with the thinking removed, and what each was
    generated from (the prompt as the model saw it, the request parameters)."""

    raw: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    params: list[dict[str, Any]] = field(default_factory=list)


#: lm-eval models that pass a request's ``seed`` to their engine: vLLM builds one ``SamplingParams`` per request
#: from its generation kwargs (seed, temperature, top_p, repetition_penalty included)
SEEDED_MODULES = ("lm_eval.models.vllm_causallms",)


def accepts_request_seed(lm) -> bool:
    """Whether a generation request may carry its own ``seed``: a model that says so (``accepts_request_seed``
    on its class: hf-causal), lm-eval's vLLM model, or an OpenAI-compatible API model."""
    from lm_eval.models.api_models import TemplateAPI

    inner = unwrap(lm)
    return (bool(getattr(inner, "accepts_request_seed", False)) or isinstance(inner, TemplateAPI)
            or type(inner).__module__ in SEEDED_MODULES)


def check_chat_model(lm, name: str = "The evaluated model") -> None:
    """A Hugging Face model needs a chat template to answer as a chat model; say so before anything is generated."""
    tokenizer = getattr(unwrap(lm), "tokenizer", None)
    if tokenizer is not None and hasattr(tokenizer, "chat_template") and not getattr(tokenizer, "chat_template", None):
        where = getattr(tokenizer, "name_or_path", "its tokenizer")
        raise UserError(f"{name} ({where}) has no chat template, and chat tasks are asked as a chat; use an "
                        "instruction-tuned model with a chat template (or set one on its tokenizer).")


def request_seed(seed: int, task: str, doc_key: Any, sample: int, turn: int) -> int:
    text = f"{seed}:{task}:{doc_key}:{sample}:{turn}"
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big")


class DefaultPlan:
    """How a conversation task is asked unless its family says otherwise: the document's ``turns``, the run's system
    message, greedy unless the document's ``temperature`` (FastChat: sampled from 1e-4), no other parameter."""

    def __init__(self, task=None, options: "ChatOptions | None" = None):
        self.options = options or ChatOptions()

    def turns(self, doc: dict[str, Any]) -> int:
        return len(doc["turns"])

    def messages(self, doc: dict[str, Any], previous: list[str]) -> list[dict[str, str]]:
        system = self.options.system_instruction
        messages = [{"role": "system", "content": system}] if system else []
        for t, answer in enumerate(previous):
            messages += [{"role": "user", "content": doc["turns"][t]}, {"role": "assistant", "content": answer}]
        return messages + [{"role": "user", "content": doc["turns"][len(previous)]}]

    def params(self, doc: dict[str, Any]) -> dict[str, Any]:
        temperature = float(doc.get("temperature") or 0.0)
        return {"do_sample": temperature >= GREEDY_BELOW, "temperature": temperature}

    def history(self, sample: int) -> int:
        return sample

    def postprocess(self, raw: str) -> str:
        return strip_thinking(raw, self.options.think_tags)

    def num_samples(self) -> int:
        return self.options.num_samples or 1


def plan_of(task, options: "ChatOptions"):
    """The task's conversation plan (its family's, else :class:`DefaultPlan`)."""
    make = getattr(task.spec, "conversation_plan", None)
    return make(task, options) if make is not None else DefaultPlan(task, options)


def turn_request(lm, plan, doc: dict[str, Any], previous: list[str], max_gen_toks: int, seed: int | None,
                 metadata: tuple) -> Instance:
    """One answer request: the plan's messages through the model's chat template, the plan's parameters (sent as
    generation keyword arguments, so an OpenAI-compatible server gets them in the request body)."""
    params = dict(plan.params(doc))
    params.pop("max_new_tokens", None)
    gen_kwargs: dict[str, Any] = {"until": [], "max_gen_toks": max_gen_toks, **params}
    if seed is not None and gen_kwargs.get("do_sample"):
        gen_kwargs["seed"] = seed
    context = lm.apply_chat_template(plan.messages(doc, previous), add_generation_prompt=True)
    return Instance("generate_until", doc, (context, gen_kwargs), len(previous), metadata=metadata)


def converse(lm, task_name: str, docs: list[dict[str, Any]], plan, *, seed: int, max_gen_toks,
             doc_key: str = "id", positions: list[int] | None = None) -> list[list[Answer]]:
    """Every document's answers: ``[document][sample]`` → :class:`Answer` with one entry per turn.

    ``positions`` are the documents' indices in the task (default 0, 1, ...; a data-parallel rank answers a share):
    a document without ``doc_key`` is seeded by its position. Identical requests (the greedy answers of several
    samples, any exact repeat) are generated once and given to each sample.
    """
    positions = list(range(len(docs))) if positions is None else positions
    n_samples = plan.num_samples()
    answers = [[Answer() for _ in range(n_samples)] for _ in docs]
    with_seed = accepts_request_seed(lm)
    for turn in range(max((plan.turns(d) for d in docs), default=0)):
        unique: dict[str, Instance] = {}
        owners: dict[str, list[tuple[int, int]]] = {}
        for i, doc in enumerate(docs):
            if turn >= plan.turns(doc):
                continue
            for k in range(n_samples):
                previous = answers[i][plan.history(k)].text[:turn]
                sample_seed = request_seed(seed, task_name, doc.get(doc_key, positions[i]), k, turn) if with_seed \
                    else None
                request = turn_request(lm, plan, doc, previous, max_gen_toks(doc), sample_seed,
                                       (task_name, positions[i], n_samples))
                key = json.dumps(request.args, ensure_ascii=False, sort_keys=True, default=str)
                if request.args[1].get("do_sample") and "seed" not in request.args[1]:
                    key += f"#{k}"  # an unseeded draw is each sample's own
                unique.setdefault(key, request)
                owners.setdefault(key, []).append((i, k))
        n_answers = sum(len(o) for o in owners.values())
        print(f"    turn {turn + 1}: {n_answers} answers ({len(unique)} distinct requests)", flush=True)
        outputs = lm.generate_until(list(unique.values())) if unique else []
        for (key, request), raw in zip(unique.items(), outputs):
            for i, k in owners[key]:
                answer = answers[i][k]
                answer.raw.append(raw)
                answer.text.append(plan.postprocess(raw))
                answer.prompts.append(request.args[0])
                answer.params.append(dict(request.args[1]))
    return answers


@dataclass(frozen=True)
class ChatOptions:
    """How the run asks chat tasks: answers per question (None: the task's own default), the seed, new tokens per
    turn as given on the command line / in model_args (None: not given), system message, thinking tags."""

    num_samples: int | None = None
    seed: int = 42
    max_gen_toks: int | None = None
    model_max_gen_toks: int | None = None
    system_instruction: str | None = None
    think_tags: tuple[str, str] = DEFAULT_THINK_TAGS


#: New tokens per answer turn when neither the task's protocol, nor --max_gen_toks, nor model_args give a number.
DEFAULT_MAX_GEN_TOKS = 1024


def max_gen_toks_rule(plan, options: ChatOptions, task_name: str, say=print):
    """New tokens per answer turn, one rule: ``--max_gen_toks`` when given, else the task's protocol's value (a fact
    of the protocol), else ``max_gen_toks`` in model_args, else 1024. A given value that differs from the
    protocol's is said once (the run then answers differently from the published protocol). Returns
    ``(doc -> tokens, record)``; the record (value and where it came from, per protocol value met) goes into
    result.json."""
    record: dict[str, Any] = {}

    def for_doc(doc: dict[str, Any]) -> int:
        fixed = plan.params(doc).get("max_new_tokens")
        if options.max_gen_toks is not None:
            value, source = options.max_gen_toks, "--max_gen_toks"
            if fixed is not None and fixed != value and "overrides" not in record:
                record["overrides"] = fixed
                say(f"WARNING: {task_name}: --max_gen_toks {value} replaces its protocol's {fixed} new tokens per "
                    "turn; its answers are not those of the published protocol.", flush=True)
        elif fixed is not None:
            value, source = int(fixed), "protocol"
            given = options.model_max_gen_toks
            if given is not None and given != fixed and "ignored" not in record:
                record["ignored"] = given
                say(f"WARNING: {task_name} answers with {fixed} new tokens per turn, as its protocol does; "
                    f"max_gen_toks={given} in --model_args is not used for it (--max_gen_toks overrides it).",
                    flush=True)
        elif options.model_max_gen_toks is not None:
            value, source = options.model_max_gen_toks, "model_args"
        else:
            value, source = DEFAULT_MAX_GEN_TOKS, "default"
        record.setdefault("max_gen_toks", value)
        record.setdefault("from", source)
        return value

    return for_doc, record


@dataclass
class Answered:
    """A conversation task's documents and every sample's answers (rank 0, after the gather), with its plan's facts."""

    task: Any
    docs: list[dict[str, Any]]
    answers: list[list[Answer]]
    facts: dict[str, Any]


def answer_task(lm, task, options: ChatOptions, n_docs: int) -> Answered | None:
    """The evaluated model answers the task's documents (a rank its share); rank 0 gathers them (others: None)."""
    mine = shard(n_docs, lm.rank, lm.world_size)
    plan = plan_of(task, options)
    tokens, tokens_record = max_gen_toks_rule(plan, options, task.config.task)
    answered = converse(lm, task.config.task, [task.eval_docs[i] for i in mine], plan, positions=mine,
                        seed=options.seed, max_gen_toks=tokens)
    gathered = lm.gather_object(list(zip(mine, answered)), 0)
    if gathered is None:
        return None
    by_position = dict(pair for part in gathered for pair in part)
    return Answered(task, [task.eval_docs[i] for i in range(n_docs)], [by_position[i] for i in range(n_docs)],
                    {"answer_tokens": tokens_record, "num_samples": plan.num_samples()})


def score_together(scorers: list, answered: list[Answered]) -> list[list[dict]]:
    """Every task's items. Scorers that give their judge requests (``judge_requests`` / ``complete``) are asked in
    one call per judge and parameters, all tasks together (the judge keeps ``num_concurrent`` requests in flight
    across categories, not within one); the others score on their own."""
    scored: list[list[dict] | None] = [None] * len(scorers)
    batches: dict[tuple, list[tuple[int, list, list]]] = {}
    for i, (scorer, a) in enumerate(zip(scorers, answered)):
        if not hasattr(scorer, "judge_requests"):
            scored[i] = scorer.score(a.docs, a.answers)
            continue
        prompts, indices, params = scorer.judge_requests(a.docs, a.answers)
        key = (id(scorer.judging.judge), json.dumps(params, sort_keys=True))
        batches.setdefault(key, []).append((i, prompts, indices))
    for key, parts in batches.items():
        judge, params = scorers[parts[0][0]].judging.judge, json.loads(key[1])
        outputs = judge.ask([m for _, p, _ in parts for m in p], [j for _, _, ix in parts for j in ix], params)
        start = 0
        for i, prompts, _ in parts:
            scored[i] = scorers[i].complete(answered[i].docs, answered[i].answers, outputs[start:start + len(prompts)])
            start += len(prompts)
    return scored  # type: ignore[return-value]


def evaluate_conversations(lm, tasks: list[tuple[Any, int]], options: ChatOptions) -> list[TaskOutcome] | None:
    """Conversation tasks (``(task, documents)``) answered one after the other, then judged together; their items
    and sample rows. None on a data-parallel rank other than 0, whose answers went to rank 0."""
    answered = [answer_task(lm, task, options, n_docs) for task, n_docs in tasks]  # every rank takes part in each
    if any(a is None for a in answered):
        return None
    scorers = [a.task.spec.scorer(a.task) for a in answered]
    return [outcome(a, scorer, scored) for a, scorer, scored in zip(answered, scorers, score_together(scorers, answered))]


def outcome(answered: Answered, scorer, scored: list[dict]) -> TaskOutcome:
    task = answered.task
    names = [m.name for m in task.metrics if scored and m.name in scored[0]]
    items = {m: [s[m] for s in scored] for m in names}
    rows = [conversation_row(i, doc, doc_answers, s, names) for i, (doc, doc_answers, s)
            in enumerate(zip(answered.docs, answered.answers, scored))]
    facts = {**(getattr(scorer, "protocol_facts", None) or {}), **answered.facts}
    return TaskOutcome(items, rows, facts, judging_warnings(task.config.task, rows))


def judging_warnings(task_name: str, rows: list[dict[str, Any]]) -> list[str]:
    """A task whose every judgment failed has no score: said on stderr and recorded in result.json."""
    judgments = [j for row in rows for s in row["samples"] for t in s["turns"] for j in t["judgments"]]
    ratings = [j for j in judgments if j.get("rating") is not None or j.get("winner") not in (None, "error")]
    if not judgments or ratings:
        return []
    ratings = judgments
    warning = (f"{task_name}: every one of its {len(ratings)} judgments failed (the judge never wrote a rating the "
               "protocol's parser reads), so it has no score; look at the judgments in its sample log (--log_samples).")
    print(f"WARNING: {warning}", file=sys.stderr, flush=True)
    return [warning]


def conversation_row(doc_id: int, doc: dict[str, Any], answers: list[Answer], scored: dict[str, Any],
                     metric_names: list[str]) -> dict[str, Any]:
    """One document's sample-log row: every sample's turns (question, answer, raw answer, the judge's judgments)
    and the document's metric items."""
    samples = [{"sample": k, "turns": [{"question": doc["turns"][t], "answer": a.text[t], "raw_answer": a.raw[t],
                                        "prompt": a.prompts[t], "request": a.params[t],
                                        "judgments": scored["_log"][k][t] if t < len(scored["_log"][k]) else []}
                                       for t in range(len(a.text))]}
               for k, a in enumerate(answers)]
    return {"doc_id": doc_id, "doc": doc, "samples": samples, **{m: scored[m] for m in metric_names}}
