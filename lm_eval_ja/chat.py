"""The chat path, a peer of lm-eval's: conversations answered turn by turn, then judged, then sample rows.

:func:`evaluate_conversation` runs a conversation task: the evaluated model answers every document (its share of
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
    """One sample's answers to a document's turns: as generated, and with the thinking removed."""

    raw: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)


def accepts_request_seed(lm) -> bool:
    """Whether a generation request may carry its own ``seed``: a model that says so (``accepts_request_seed``
    on its class: hf-causal) or an OpenAI-compatible API model."""
    from lm_eval.models.api_models import TemplateAPI

    inner = unwrap(lm)
    return bool(getattr(inner, "accepts_request_seed", False)) or isinstance(inner, TemplateAPI)


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


def converse(lm, task_name: str, docs: list[dict[str, Any]], *, num_samples: int, seed: int, max_gen_toks: int,
             system_instruction: str | None = None, think_tags: tuple[str, str] = DEFAULT_THINK_TAGS,
             doc_key: str = "id", positions: list[int] | None = None) -> list[list[Answer]]:
    """Every document's answers: ``[document][sample]`` → :class:`Answer` with one entry per turn.

    ``positions`` are the documents' indices in the task (default 0, 1, ...; a data-parallel rank answers a share):
    a document without ``doc_key`` is seeded by its position.
    """
    positions = list(range(len(docs))) if positions is None else positions
    answers = [[Answer() for _ in range(num_samples)] for _ in docs]
    with_seed = accepts_request_seed(lm)
    n_turns = max(len(d["turns"]) for d in docs) if docs else 0
    for turn in range(n_turns):
        requests, owners = [], []
        for i, doc in enumerate(docs):
            if turn >= len(doc["turns"]):
                continue
            temperature = float(doc.get("temperature") or 0.0)
            for k in range(num_samples):
                messages = [{"role": "system", "content": system_instruction}] if system_instruction else []
                for t in range(turn):
                    messages += [{"role": "user", "content": doc["turns"][t]},
                                 {"role": "assistant", "content": answers[i][k].text[t]}]
                messages.append({"role": "user", "content": doc["turns"][turn]})
                gen_kwargs: dict[str, Any] = {"until": [], "max_gen_toks": max_gen_toks,
                                              "do_sample": temperature >= GREEDY_BELOW, "temperature": temperature}
                if with_seed and temperature >= GREEDY_BELOW:
                    gen_kwargs["seed"] = request_seed(seed, task_name, doc.get(doc_key, positions[i]), k, turn)
                context = lm.apply_chat_template(messages, add_generation_prompt=True)
                requests.append(Instance("generate_until", doc, (context, gen_kwargs), turn,
                                         metadata=(task_name, positions[i], num_samples)))
                owners.append((i, k))
        print(f"    turn {turn + 1}: {len(requests)} answers", flush=True)
        for (i, k), raw in zip(owners, lm.generate_until(requests)):
            answers[i][k].raw.append(raw)
            answers[i][k].text.append(strip_thinking(raw, think_tags))
    return answers


@dataclass(frozen=True)
class ChatOptions:
    """How the run asks chat tasks: answers per question, the seed, new tokens per turn, system message, tags."""

    num_samples: int = 1
    seed: int = 42
    max_gen_toks: int = 1024
    system_instruction: str | None = None
    think_tags: tuple[str, str] = DEFAULT_THINK_TAGS


def evaluate_conversation(lm, task, options: ChatOptions, n_docs: int) -> TaskOutcome | None:
    """A conversation task's items and sample rows (see the module docstring); None on a data-parallel rank other
    than 0, whose answers went to rank 0."""
    mine = shard(n_docs, lm.rank, lm.world_size)
    answered = converse(lm, task.config.task, [task.eval_docs[i] for i in mine], positions=mine,
                        num_samples=options.num_samples, seed=options.seed, max_gen_toks=options.max_gen_toks,
                        system_instruction=options.system_instruction, think_tags=options.think_tags)
    gathered = lm.gather_object(list(zip(mine, answered)), 0)
    if gathered is None:
        return None
    by_position = dict(pair for part in gathered for pair in part)
    docs = [task.eval_docs[i] for i in range(n_docs)]
    answers = [by_position[i] for i in range(n_docs)]
    scored = task.spec.scorer(task).score(docs, answers)
    names = [m.name for m in task.spec.metrics if scored and m.name in scored[0]]
    items = {m: [s[m] for s in scored] for m in names}
    rows = [conversation_row(i, doc, doc_answers, s, names) for i, (doc, doc_answers, s)
            in enumerate(zip(docs, answers, scored))]
    return TaskOutcome(items, rows)


def conversation_row(doc_id: int, doc: dict[str, Any], answers: list[Answer], scored: dict[str, Any],
                     metric_names: list[str]) -> dict[str, Any]:
    """One document's sample-log row: every sample's turns (question, answer, raw answer, the judge's judgments)
    and the document's metric items."""
    samples = [{"sample": k, "turns": [{"question": doc["turns"][t], "answer": a.text[t], "raw_answer": a.raw[t],
                                        "judgments": scored["_log"][k][t]} for t in range(len(a.text))]}
               for k, a in enumerate(answers)]
    return {"doc_id": doc_id, "doc": doc, "samples": samples, **{m: scored[m] for m in metric_names}}
