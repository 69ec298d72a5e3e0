"""The run loop: build the model, then evaluate the selected tasks one by one through lm-eval.

Each task is built from its spec with the model's facts (:class:`~lm_eval_ja.models.facts.ModelFacts`), evaluated
on its own (its own few-shot count and limit) by lm-eval's ``evaluate`` — requests, the model, then the task's
scoring stage — and its result handed to :mod:`lm_eval_ja.results`; ``on_task_done`` gets the result.json so far
after every task, so a failure later on loses nothing already computed.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any

from lm_eval_ja import TASKS_DIR
from lm_eval_ja.benchmarks import registry
from lm_eval_ja.errors import UserError
from lm_eval_ja.manifest import build_manifest, now
from lm_eval_ja.modelargs import parse_model_args
from lm_eval_ja.models.facts import ModelFacts
from lm_eval_ja.results import result_json, task_result, version_number
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
    #: conversation tasks: answers per question, new tokens per turn, thinking tags removed before judging
    num_samples: int = 1
    max_gen_toks: int = 1024
    think_tags: tuple[str, str] = ("<think>", "</think>")
    #: the judge of judged tasks (model, redacted args, prompt and reference set): part of the run's identity
    judge: dict[str, Any] | None = None


def seed_everything(seed: int = GLOBAL_SEED) -> None:
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:
        pass


def task_manager(include_builtin: bool = False, metadata: dict[str, Any] | None = None):
    """lm-eval's TaskManager over our task folder (plus lm-eval's built-in tasks if asked)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(TASKS_DIR), include_defaults=include_builtin, metadata=metadata)


def _model_class(name: str):
    import lm_eval.api.registry as lm_registry

    import lm_eval_ja.models  # noqa: F401  (registers hf-causal)

    try:
        return lm_registry.get_model(name)
    except (ValueError, KeyError):
        known = sorted(lm_registry.MODEL_REGISTRY)
        close = get_close_matches(name, known, n=3)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise UserError(f"Unknown --model {name!r}.{hint} Known models: {', '.join(known)}.") from None


def _model_arguments(model_args: str, batch_size, device) -> tuple[dict[str, Any], dict[str, Any]]:
    args = parse_model_args(model_args)
    extra = {k: v for k, v in {"batch_size": batch_size, "device": device}.items() if v is not None}
    for key in extra:
        if key in args:
            raise UserError(f"{key} is given both in --model_args and as --{key}; give it once.")
    return args, extra


def check_model(name: str, model_args: str, batch_size=None, device=None) -> None:
    """Everything about the model that can be checked without loading it: its name, and its model_args where the
    model class can check them (``hf-causal``: unknown keys, values, 8-bit without CUDA, a folder with no model)."""
    cls = _model_class(name)
    args, extra = _model_arguments(model_args, batch_size, device)
    if hasattr(cls, "check_args"):
        cls.check_args({**args, **extra})


def build_model(name: str, model_args: str, batch_size=None, device=None):
    """Instantiate an lm-eval model by registry name (ours are registered by importing lm_eval_ja.models)."""
    cls = _model_class(name)
    args, extra = _model_arguments(model_args, batch_size, device)
    try:
        return cls.create_from_arg_obj(args, extra)
    except ModuleNotFoundError as exc:  # lm-eval's API models check for aiohttp / tenacity when they are built
        if "API model" in str(exc):
            raise UserError(f"--model {name} is an API model and needs lm-eval's API packages (aiohttp, tenacity): "
                            "pip install 'lm-eval-ja[api]'.") from None
        raise UserError(f"--model {name} needs {exc.name or 'a package'}, which is not installed: "
                        f"pip install {exc.name or '...'}.") from None
    except OSError as exc:  # a tokenizer or weights that cannot be found (lm-eval's models load them when built)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"--model {name} could not be built ({first}); check the paths and hub ids in "
                        "--model_args.") from None


def load_task(name: str, cfg: RunConfig, facts: ModelFacts, documents=None, judging=None):
    """Our task ``name`` built from its spec (with its ``documents`` if already read), or (with
    ``include_builtin``) one of lm-eval's own tasks."""
    metadata = {"fewshot_seed": cfg.seed, **({"data_dir": cfg.data_dir} if cfg.data_dir else {})}
    if registry.resolve(name) is not None:
        from lm_eval_ja.task import JaTask

        description = (cfg.description_dict or {}).get(name)
        return JaTask({"task": name, "metadata": metadata}, facts=facts, description_override=description,
                      documents=documents, judging=judging)
    loaded = task_manager(cfg.include_builtin, metadata).load([name])
    return loaded["tasks"][name] if name in loaded["tasks"] else next(iter(loaded["tasks"].values()))


def evaluate_tasks(lm, cfg: RunConfig, *, on_task_done=None, documents=None, judging=None) -> tuple[dict, dict]:
    """Evaluate every selected task on ``lm``; returns (result.json dict, per-task sample logs).

    ``on_task_done(result_json, samples)`` is called after each task with everything so far; ``documents`` are the
    tasks' documents read by the preflight (:func:`lm_eval_ja.preflight.check_data`), by task name; ``judging`` the
    judge of judged tasks (:class:`lm_eval_ja.scorers.judge.JudgeSettings`).
    """
    from lm_eval.evaluator import evaluate

    seed_everything()
    facts = ModelFacts.from_lm(lm)
    fingerprint = cfg.fingerprint or model_fingerprint(cfg.model, cfg.model_args, cfg.batch_size, cfg.device, lm)
    results: dict[str, dict[str, Any]] = {}
    output_types: dict[str, str] = {}
    versions: dict[str, Any] = {}
    data_sources: dict[str, Any] = {}
    data_files: list[str] = []
    items: dict[str, dict[str, list]] = {}  # per-document metric items of conversation tasks (pooled groups)
    samples: dict[str, list[dict[str, Any]]] = {}
    n_evaluated: dict[str, int] = {}
    timing: dict[str, Any] = {"started": now(), "tasks": {}}
    result: dict[str, Any] = {}
    n = len(cfg.selection.tasks)
    for i, selected in enumerate(cfg.selection.tasks):
        name, shots, limit = selected.name, selected.num_fewshot, selected.limit
        started, start = now(), time.perf_counter()
        task = load_task(name, cfg, facts, (documents or {}).get(name), judging)
        task.set_config(key="num_fewshot", value=shots)
        n_docs = len(task.eval_docs)
        n_limit = None if limit is None else (int(limit * n_docs) if isinstance(limit, float) else int(limit))
        n_evaluated[name] = min(n_docs, n_limit or n_docs)
        print(f"[{i + 1}/{n}] {name}: {n_evaluated[name]} of {n_docs} documents, {shots}-shot", flush=True)
        for split, src in getattr(task, "data_sources", {}).items():
            if src.get("fallback"):
                print(f"    note: {split} split fallback: {src['fallback']}", flush=True)
        if getattr(task, "spec", None) is not None and task.spec.conversation:
            scored = run_conversation_task(lm, task, cfg, n_evaluated[name])
            if scored is None:  # a data-parallel rank other than 0: its answers went to rank 0
                continue
            results[name], task_samples, items[name] = scored
        else:
            res = evaluate(
                lm,
                {"tasks": {name: task}, "groups": {}, "group_map": {}},
                limit=n_limit,
                bootstrap_iters=0,  # stderrs are computed once, in lm_eval_ja.results
                log_samples=True,
                system_instruction=cfg.system_instruction,
                apply_chat_template=cfg.apply_chat_template,
                fewshot_as_multiturn=cfg.fewshot_as_multiturn,
            )
            if res is None:  # a data-parallel rank other than 0: lm-eval gathered its results on rank 0
                continue
            metrics, task_samples = res["results"][name], res.get("samples", {}).get(name, [])
            if lm.world_size > 1:
                metrics, task_samples = in_document_order(task, metrics, task_samples)
            results[name] = task_result(task, metrics, task_samples, cfg.bootstrap_iters)
        output_types[name] = task.OUTPUT_TYPE
        versions[name] = version_number(getattr(task, "VERSION", None))
        if getattr(task, "data_sources", None):
            data_sources[name] = task.data_sources
        data_files += getattr(task, "data_files", [])
        if cfg.log_samples:
            samples[name] = task_samples
        seconds = time.perf_counter() - start
        timing["tasks"][name] = {"started": started, "seconds": round(seconds, 3)}
        print(f"    {name} done in {seconds:.1f} s", flush=True)
        timing["finished"] = now()
        result = result_json(cfg, results, output_types, versions, data_sources, n_evaluated, items,
                             judging.describe() if judging is not None else None)
        result["manifest"] = build_manifest(cfg, lm, fingerprint, data_files)
        result["timing"] = timing
        if on_task_done:
            on_task_done(result, samples)
    return result, samples


def in_document_order(task, metrics: dict[str, Any], samples: list[dict]) -> tuple[dict[str, Any], list[dict]]:
    """lm-eval gathers a data-parallel run's documents rank after rank; put the sample rows back in document order
    and aggregate again, so every number (the bootstrap stderrs too) and the sample log equal a one-process run's."""
    filters = list(dict.fromkeys(row["filter"] for row in samples))  # lm-eval logs filter by filter
    samples = sorted(samples, key=lambda row: (filters.index(row["filter"]), row["doc_id"]))
    # lm-eval pads a rank with fewer requests by repeating its last one (for DDP's even batches); those copies land
    # in that request's "resps": keep the task's own number of responses per request.
    repeats = min((len(r) for row in samples for r in row["resps"]), default=0)
    samples = [{**row, "resps": [r[:repeats] for r in row["resps"]]} for row in samples]
    aggregation = task.aggregation()
    out = dict(metrics)
    for key in metrics:
        metric, _, filt = key.partition(",")
        if filt and metric in aggregation:
            out[key] = aggregation[metric]([row[metric] for row in samples if row["filter"] == filt])
    return out, samples


def run_conversation_task(lm, task, cfg: RunConfig, n_docs: int) -> tuple[dict, list, dict] | None:
    """A conversation task: the model answers every turn (:mod:`lm_eval_ja.chat`), the task's scorer (a judge)
    scores all answers in one batch; returns (metrics, sample log rows, per-document metric items).

    Data-parallel: each rank answers every ``world_size``-th document, rank 0 gathers the answers and judges them
    (the other ranks return None).
    """
    from lm_eval_ja.chat import converse
    from lm_eval_ja.distributed import shard

    mine = shard(n_docs, lm.rank, lm.world_size)
    answered = converse(lm, task.config.task, [task.eval_docs[i] for i in mine], positions=mine,
                        num_samples=cfg.num_samples, seed=cfg.seed, max_gen_toks=cfg.max_gen_toks,
                        system_instruction=cfg.system_instruction, think_tags=tuple(cfg.think_tags))
    gathered = lm.gather_object(list(zip(mine, answered)), 0)
    if gathered is None:
        return None
    by_position = dict(pair for part in gathered for pair in part)
    docs = [task.eval_docs[i] for i in range(n_docs)]
    answers = [by_position[i] for i in range(n_docs)]
    scored = task.spec.scorer(task).score(docs, answers)
    metric_names = [m.name for m in task.spec.metrics]
    items = {m: [s[m] for s in scored] for m in metric_names}
    metrics = {m.name: m.aggregation(items[m.name]) for m in task.spec.metrics}
    rows = []
    for i, (doc, doc_answers, s) in enumerate(zip(docs, answers, scored)):
        samples = [{"sample": k, "turns": [{"question": doc["turns"][t], "answer": a.text[t], "raw_answer": a.raw[t],
                                            "judgments": s["_log"][k][t]} for t in range(len(a.text))]}
                   for k, a in enumerate(doc_answers)]
        rows.append({"doc_id": i, "doc": doc, "samples": samples, **{m: s[m] for m in metric_names}})
    return metrics, rows, items
