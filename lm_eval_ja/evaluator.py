"""The run loop: evaluate the selected tasks one by one on a built model.

Each task is built from its spec with the model's facts (:class:`~lm_eval_ja.models.facts.ModelFacts`), evaluated
on its own (its own few-shot count and limit) by one of two peer paths — lm-eval's ``evaluate`` (requests, the
model, then the task's scoring stage) or the chat path (:mod:`lm_eval_ja.chat`: conversations, then the task's
judge) — each giving its per-document items and sample rows (:class:`~lm_eval_ja.results.TaskOutcome`), which
:class:`~lm_eval_ja.results.RunRecord` aggregates through the metrics' declarations. ``on_task_done`` gets the
result.json so far after every task, so a failure later on loses nothing already computed.
"""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

from lm_eval_ja.benchmarks import registry
from lm_eval_ja.builtin_tasks import task_manager
from lm_eval_ja.manifest import build_manifest, now
from lm_eval_ja.models.facts import ModelFacts
from lm_eval_ja.results import RunRecord, TaskOutcome, declared_metrics
from lm_eval_ja.selection import Selection
from lm_eval_ja.store import model_fingerprint

log = logging.getLogger("lm_eval_ja")

GLOBAL_SEED = 1234  # the reference seeds random and numpy with this before anything else


@dataclass
class RunConfig:
    model: str
    model_args: str
    selection: Selection
    batch_size: Any = None
    device: str | None = None
    no_cache: bool = True
    bootstrap_iters: int = 100000
    description_dict: dict[str, str] | None = None
    seed: int = 42
    data_dir: str | None = None
    log_samples: bool = False
    apply_chat_template: bool | str = False
    system_instruction: str | None = None
    fewshot_as_multiturn: bool = False
    verbose: bool = False
    include_builtin: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    #: the command line (recorded in the manifest, secrets redacted)
    argv: list[str] | None = None
    #: what produced the responses (lm_eval_ja.store.model_fingerprint); computed from the model if not given
    fingerprint: dict[str, Any] | None = None
    #: conversation tasks: answers per question and new tokens per turn (None: the task's protocol decides, see
    #: lm_eval_ja.chat.max_gen_toks_rule), thinking tags removed before judging
    num_samples: int | None = None
    max_gen_toks: int | None = None
    think_tags: tuple[str, str] = ("<think>", "</think>")
    #: the judge of judged tasks (model, redacted args, judgments per answer): part of the run's identity
    judge: dict[str, Any] | None = None
    #: chat tasks are selected (judged or not): max_gen_toks and think_tags are part of the run's identity
    chat: bool = False
    #: run model-written code without an isolating sandbox (lm-eval's --confirm_run_unsafe_code)
    confirm_run_unsafe_code: bool = False
    #: the SYSTEM_PROMPT environment variable (the 0.6 prompt's system prompt, as in the reference), if set
    system_prompt_env: str | None = field(default_factory=lambda: os.environ.get("SYSTEM_PROMPT"))


def seed_everything(seed: int = GLOBAL_SEED) -> None:
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:
        pass


def load_task(name: str, cfg: RunConfig, facts: ModelFacts, documents=None, judging=None):
    """Our task ``name`` built from its spec (with its ``documents`` if already read), or (with
    ``include_builtin``) one of lm-eval's own tasks."""
    metadata = {"fewshot_seed": cfg.seed, **({"data_dir": cfg.data_dir} if cfg.data_dir else {})}
    if registry.resolve(name) is not None:
        from lm_eval_ja.task import JaTask

        description = (cfg.description_dict or {}).get(name)
        return JaTask({"task": name, "metadata": metadata}, facts=facts, description_override=description,
                      documents=documents, judging=judging, run_options=run_options(cfg))
    loaded = task_manager(cfg.include_builtin, metadata).load([name])
    return loaded["tasks"][name] if name in loaded["tasks"] else next(iter(loaded["tasks"].values()))


def run_options(cfg: RunConfig) -> dict[str, Any]:
    """What a task's requests and scorer may read of the run (``task.run_options``): samples per document, the seed,
    whether code may run without a sandbox."""
    return {"num_samples": cfg.num_samples, "seed": cfg.seed, "confirm_run_unsafe_code": cfg.confirm_run_unsafe_code,
            "model_id": model_id(cfg.model_args)}


def model_id(model_args: str) -> str | None:
    """A short name of the evaluated model: the last part of its ``pretrained=`` or ``model=`` (ku-nlp's ids)."""
    from pathlib import PurePath

    from lm_eval_ja.modelargs import parse_model_args

    args = parse_model_args(model_args) if isinstance(model_args, str) else {}
    name = args.get("pretrained") or args.get("model")
    return PurePath(str(name).rstrip("/")).name if isinstance(name, str) and name else None


def evaluate_tasks(lm, cfg: RunConfig, *, on_task_done=None, documents=None, judging=None) -> tuple[dict, dict]:
    """Evaluate every selected task on ``lm``; returns (result.json dict, per-task sample logs).

    ``on_task_done(result_json, samples)`` is called after each task with everything so far; ``documents`` are the
    tasks' documents read by the preflight (:func:`lm_eval_ja.preflight.check_data`), by task name; ``judging`` the
    judge of judged tasks (:class:`lm_eval_ja.scorers.judge.JudgeSettings`). Consecutive chat tasks are answered one
    after the other and judged together (the judge sees all their requests at once).
    """
    seed_everything()
    facts = ModelFacts.from_lm(lm)
    fingerprint = cfg.fingerprint or model_fingerprint(cfg.model, cfg.model_args, cfg.batch_size, cfg.device, lm)
    record, timing = RunRecord(cfg), {"started": now(), "tasks": {}}
    result: dict[str, Any] = {}
    total = len(cfg.selection.tasks)
    for batch in task_batches(cfg.selection.tasks):
        started, start = now(), time.perf_counter()
        loaded = []
        for position, selected in batch:
            task = load_task(selected.name, cfg, facts, (documents or {}).get(selected.name), judging)
            loaded.append((selected, task, *announce(task, selected, position, total)))
        outcomes = evaluate_batch(lm, loaded, cfg)
        if outcomes is None:  # a data-parallel rank other than 0: its results went to rank 0
            continue
        seconds = time.perf_counter() - start
        for (selected, task, _, n_docs), outcome in zip(loaded, outcomes):
            record.add(selected.name, task, outcome, n_docs)
            timing["tasks"][selected.name] = {"started": started, "seconds": round(seconds, 3),
                                              **({"together_with": [s.name for s, *_ in loaded if s is not selected]}
                                                 if len(loaded) > 1 else {})}
            print(f"    {selected.name} done in {seconds:.1f} s", flush=True)
            timing["finished"] = now()
            result = record.result_json(judging.describe() if judging is not None else None)
            result["manifest"] = build_manifest(cfg, lm, fingerprint, record.data_files)
            result["timing"] = timing
            if on_task_done:
                on_task_done(result, record.samples)
    return result, record.samples


def is_chat(name: str) -> bool:
    resolved = registry.resolve(name)
    return resolved is not None and resolved.benchmark.conversation


def task_batches(selected: tuple) -> list[list[tuple[int, Any]]]:
    """The selected tasks in order, consecutive chat tasks together (``(position, selected task)`` each)."""
    batches: list[list[tuple[int, Any]]] = []
    for position, task in enumerate(selected):
        if batches and is_chat(task.name) and is_chat(batches[-1][-1][1].name):
            batches[-1].append((position, task))
        else:
            batches.append([(position, task)])
    return batches


def evaluate_batch(lm, loaded: list[tuple], cfg: RunConfig) -> list[TaskOutcome] | None:
    """A batch's outcomes: one task through lm-eval's ``evaluate``, or chat tasks through the chat path."""
    if not (getattr(loaded[0][1], "spec", None) is not None and loaded[0][1].spec.conversation):
        (_, task, n_limit, _), = loaded
        outcome = evaluate_with_lm_eval(lm, task, cfg, n_limit)
        return None if outcome is None else [outcome]
    from lm_eval_ja.chat import evaluate_conversations

    return evaluate_conversations(lm, [(task, n_docs) for _, task, _, n_docs in loaded], chat_options(cfg))


def chat_options(cfg: RunConfig):
    from lm_eval_ja.chat import ChatOptions
    from lm_eval_ja.modelargs import parse_model_args

    given = parse_model_args(cfg.model_args).get("max_gen_toks")
    return ChatOptions(num_samples=cfg.num_samples, seed=cfg.seed, max_gen_toks=cfg.max_gen_toks,
                       model_max_gen_toks=int(given) if isinstance(given, int) else None,
                       system_instruction=cfg.system_instruction, think_tags=tuple(cfg.think_tags))


def announce(task, selected, position: int, total: int) -> tuple[int | None, int]:
    """Set the task's few-shot count, say what is evaluated; (the limit as a number of documents, documents)."""
    name, limit = selected.name, selected.limit
    task.set_config(key="num_fewshot", value=selected.num_fewshot)
    n_docs = len(task.eval_docs)
    n_limit = None if limit is None else (int(limit * n_docs) if isinstance(limit, float) else int(limit))
    n_evaluated = min(n_docs, n_limit or n_docs)
    print(f"[{position + 1}/{total}] {name}: {n_evaluated} of {n_docs} documents, {selected.num_fewshot}-shot",
          flush=True)
    for split, src in getattr(task, "data_sources", {}).items():
        if src.get("fallback"):
            print(f"    note: {split} split fallback: {src['fallback']}", flush=True)
    return n_limit, n_evaluated


def evaluate_with_lm_eval(lm, task, cfg: RunConfig, n_limit: int | None) -> TaskOutcome | None:
    """lm-eval's ``evaluate`` on one task; its per-document items are read back from lm-eval's sample rows."""
    from lm_eval.evaluator import evaluate

    name = task.config.task
    res = evaluate(
        lm,
        {"tasks": {name: task}, "groups": {}, "group_map": {}},
        limit=n_limit,
        bootstrap_iters=0,  # numbers and stderrs are computed once, from the items (lm_eval_ja.aggregation)
        log_samples=True,
        system_instruction=cfg.system_instruction,
        apply_chat_template=cfg.apply_chat_template,
        fewshot_as_multiturn=cfg.fewshot_as_multiturn,
    )
    if res is None:  # a data-parallel rank other than 0: lm-eval gathered its results on rank 0
        return None
    rows = res.get("samples", {}).get(name, [])
    if lm.world_size > 1:
        rows = in_document_order(rows)
    return TaskOutcome(items_of(rows, declared_metrics(task)), rows)


def items_of(rows: list[dict], metrics) -> dict[str, list]:
    """Per-document items by metric, from lm-eval's sample rows (the last filter's, where a task has several)."""
    last_filter = rows[-1]["filter"] if rows else None
    kept = [row for row in rows if row.get("filter") == last_filter]
    return {m.name: [row[m.name] for row in kept] for m in metrics if kept and m.name in kept[0]}


def in_document_order(rows: list[dict]) -> list[dict]:
    """lm-eval gathers a data-parallel run's documents rank after rank; put the sample rows back in document order,
    so every number (the bootstrap stderrs too) and the sample log equal a one-process run's."""
    filters = list(dict.fromkeys(row["filter"] for row in rows))  # lm-eval logs filter by filter
    rows = sorted(rows, key=lambda row: (filters.index(row["filter"]), row["doc_id"]))
    # lm-eval pads a rank with fewer requests by repeating its last one (for DDP's even batches); those copies land
    # in that request's "resps": keep the task's own number of responses per request.
    repeats = min((len(r) for row in rows for r in row["resps"]), default=0)
    return [{**row, "resps": [r[:repeats] for r in row["resps"]]} for row in rows]
