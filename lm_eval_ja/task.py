"""``JaTask``: the one lm-eval task class of lm-eval-ja; everything benchmark-specific comes from its spec.

A task is built from its name alone: :func:`lm_eval_ja.benchmarks.registry.resolve` gives the benchmark spec, the
task version and the prompt version, and :func:`task_config` turns them into the lm-eval config (the generated
task YAML under ``lm_eval_ja/tasks/`` holds only ``class`` and ``task``, so plain ``lm_eval --include_path`` runs
build exactly the same task). What the class adds to a stock lm-eval ConfigurableTask:

* **data** through :func:`lm_eval_ja.data.load_splits` from the spec's sources, converted by its converter and
  split by its split policy;
* **shots** by the spec's sampler: ``reference`` — one ``random.Random(seed)`` shuffles the evaluated documents
  (so ``--limit N`` means the first N of the reference order) and draws each document's shots in that order,
  re-drawing with one shot fewer while a prompt exceeds the spec's budget; ``first_n`` — every document gets the
  first n of the pool (shuffled once for ``first_n_shuffled``);
* **prompt** from the versioned template; ``reference`` assembly is ``description + shots (text + target +
  fewshot_sep) + query`` with lm-eval-ja's chat turns, ``lm-eval`` assembly is lm-eval's own;
* **requests** from the spec's builder (generation caps, stop strings, prompt truncation), using the
  :class:`~lm_eval_ja.models.facts.ModelFacts` handed to the task;
* **scoring** as a stage after responses: :meth:`apply_filters` runs the spec's batched scorer over every document
  once all responses are in, and :meth:`process_results` hands lm-eval the items to aggregate.
"""

from __future__ import annotations

import json
import logging
import random
from typing import Any, Callable

import datasets
from lm_eval.api.task import ConfigurableTask

from lm_eval_ja.benchmarks import registry
from lm_eval_ja.documents import Documents, check_num_fewshot, load_documents
from lm_eval_ja.errors import UserError
from lm_eval_ja.models.facts import ModelFacts
from lm_eval_ja.sampling import REFERENCE_SEED, ReferenceSampler
from lm_eval_ja.templates import PromptTemplate, load_template

log = logging.getLogger("lm_eval_ja")

_POS = "_eval_pos"  # position of a document in the reference's shuffled evaluation order


def task_config(name: str) -> dict[str, Any]:
    """The lm-eval config of task ``name`` (built from its spec), or a UserError for an unknown name."""
    resolved = registry.resolve(name)
    if resolved is None:
        raise UserError(f"Unknown task {name!r}; run with --list_tasks to see every task name.")
    bench, version = resolved.benchmark, resolved.version
    config: dict[str, Any] = {
        "task": name,
        "output_type": bench.output_type,
        "test_split" if bench.eval_split == "test" else "validation_split": bench.eval_split,
        "target_delimiter": "",
        "metric_list": [{"metric": m.name, "aggregation": m.aggregation, "higher_is_better": m.higher_is_better}
                        for m in resolved.metrics],
        "metadata": {"version": version.result_version},
    }
    if bench.train_split:
        config.update(training_split=bench.train_split, fewshot_split=bench.train_split)
    if bench.generation_kwargs is not None:
        config["generation_kwargs"] = dict(bench.generation_kwargs)
    elif bench.conversation:  # the chat path sends its own; this keeps lm-eval from announcing a default
        config["generation_kwargs"] = {"until": [], "do_sample": False}
    if bench.num_fewshot is not None:
        config["num_fewshot"] = bench.num_fewshot
    return config


class JaTask(ConfigurableTask):
    """A Japanese task following its benchmark spec (see the module docstring)."""

    def __init__(self, config: dict[str, Any] | None = None, facts: ModelFacts | None = None,
                 description_override: str | None = None, documents: Documents | None = None, judging=None,
                 run_options: dict[str, Any] | None = None, **kwargs):
        given = dict(config or {})
        given.pop("class", None)
        name = given["task"]
        resolved = registry.resolve(name)
        if resolved is None:
            raise UserError(f"Unknown task {name!r}; run with --list_tasks to see every task name.")
        self.spec, self.task_version = resolved.benchmark, resolved.version
        #: the metric declarations of this task (its version's, else its benchmark's)
        self.metrics = resolved.metrics
        # The spec gives the config; a YAML or caller may add metadata (lm-eval passes model_args there).
        config = task_config(name)
        config["metadata"] = {**(given.get("metadata") or {}), **config["metadata"]}
        meta = config["metadata"]
        self.data_dir = meta.get("data_dir")
        self.seed = int(meta.get("fewshot_seed", REFERENCE_SEED))
        self.facts = facts if facts is not None else ModelFacts.from_model_args(meta)
        self.template = self._template(resolved.prompt_version)
        self.description_override = description_override
        self.data_sources: dict[str, Any] = {}
        self.data_files: list[str] = []
        self._documents = documents  # already read and checked (the preflight), else read in download()
        self.judging = judging  # the judge and its settings, for judged tasks (lm_eval_ja.scorers.judge.JudgeSettings)
        #: what the run says to requests and scorers (lm_eval_ja.evaluator.run_options): num_samples, seed, ...
        self.run_options = dict(run_options or {})
        self.extra_data: dict[str, list[dict[str, Any]]] = {}
        self._scored: dict[str, dict[str, Any]] = {}
        if self.spec.prompt_style == "lm-eval":
            config.update(
                description=self.description(),
                fewshot_delimiter=self.template.fewshot_sep,
                fewshot_config={"sampler": "first_n"},
            )
        if self.spec.output_type == "multiple_choice":
            config["doc_to_choice"] = list(self.template.labels) if self.spec.prompt_style == "lm-eval" else "choices"
        # Scoring is process_results below; naming it here stops lm-eval from looking the metric names up in its
        # registry and in HF evaluate.
        config["process_results"] = self.process_results
        super().__init__(config=config, **kwargs)
        self.VERSION = meta["version"]

    def _template(self, prompt_version: str | None) -> PromptTemplate:
        labels = self.task_version.labels
        if self.task_version.template is None:  # no prompt (XWinograd scores bare sentences; chat tasks)
            return PromptTemplate(task_key=self.spec.name, prompt_version="", name="", description="", text="",
                                  target=self.spec.default_target, sep="\n", fewshot_sep="\n\n",
                                  labels=tuple(labels) if labels else None)
        return load_template(self.task_version.template, prompt_version, default_target=self.spec.default_target,
                             labels=labels, templates_dir=registry.family_of(self.spec).prompt_templates)

    # ------------------------------------------------------------------ data

    def download(self, dataset_kwargs: dict[str, Any] | None = None, **kwargs) -> None:
        spec = self.spec
        documents = self._documents or load_documents(self.config.task, spec, self.data_dir)
        evaluated, pool, notes = list(documents.evaluated), list(documents.pool), dict(documents.notes)
        sources = documents.sources
        self.data_files = documents.files
        self.extra_data = documents.extra
        self._pool = pool
        if spec.sampler == "reference":
            targets = [self.template.doc_to_target(d) for d in pool] if self.task_version.stratified else None
            self._sampler = ReferenceSampler(len(evaluated), len(pool), stratified=self.task_version.stratified,
                                             train_targets=targets, seed=self.seed)
            evaluated = [{**evaluated[i], _POS: pos} for pos, i in enumerate(self._sampler.order)]
            self.data_sources = sources
        else:
            if spec.sampler == "first_n_shuffled":
                random.Random(self.seed).shuffle(pool)
                notes["shots"] = f"shot pool shuffled with random.Random({self.seed}); shots are its first n"
            else:
                notes["shots"] = "shots are the first n of the shot pool, in file order"
            self.data_sources = {**sources, "derived": {"test_docs": len(evaluated), "shot_pool": len(pool), **notes}}
        self._evaluated = evaluated
        eval_split, train_split = spec.eval_split, spec.train_split or "train"
        self.dataset = datasets.DatasetDict({
            eval_split: datasets.Dataset.from_list(evaluated),
            **({train_split: datasets.Dataset.from_list(pool)} if pool else {}),
        })

    def fewshot_docs(self):
        if not self._pool:
            return None
        return self._pool if self.spec.sampler == "reference" else self.dataset[self.spec.train_split or "train"]

    # ------------------------------------------------------------------ prompt

    def doc_to_text(self, doc, doc_to_text=None):
        return self.template.doc_to_text(doc)

    def doc_to_target(self, doc, doc_to_target=None):
        if self.spec.prompt_style == "lm-eval" and self.spec.output_type == "multiple_choice":
            return int(doc["label"])  # lm-eval's convention: the gold index into doc_to_choice
        return self.template.doc_to_target(doc)

    def doc_to_choice(self, doc, doc_to_choice=None):
        return self.template.doc_to_choice(doc)

    def description(self) -> str:
        """The description: a user one (--description_dict_path) plus the few-shot separator, else the template's."""
        if self.description_override:
            return self.description_override + self.template.fewshot_sep
        return self.template.render_description(self.task_version.template_fields)

    def shots(self, doc: dict[str, Any], num_fewshot: int) -> list[dict[str, Any]]:
        """The reference's few-shot examples for ``doc`` (sampled in the shuffled evaluation order).

        For benchmarks with a prompt budget (MGSM, JAQKET v2) a prompt that is too long for the model is
        re-drawn with one shot fewer, from the same generator, as the reference does.
        """
        self._check_shots(num_fewshot)
        if num_fewshot == 0:
            return []
        fits = self._fits if self.spec.shot_budget is not None and self.facts.tokenizer is not None else None
        return [self._pool[i] for i in self._sampler.shots(doc[_POS], num_fewshot, fits)]

    def _check_shots(self, num_fewshot: int) -> None:
        check_num_fewshot(self.config.task, self.spec, len(self._pool), num_fewshot)

    def _fits(self, position: int, indices: list[int]) -> bool:
        """Whether the reference prompt of the document at ``position`` with these shots fits its budget."""
        doc = self._evaluated[position]
        budget = self.spec.shot_budget(self, doc)
        if budget is None:
            return True
        n_tokens = len(self.facts.encode(self.plain_context(doc, [self._pool[i] for i in indices])))
        if n_tokens <= budget:
            return True
        if not indices:
            log.warning("%s: the 0-shot prompt of document %d has %d tokens, more than the %d available; the model "
                        "keeps its last tokens (the reference failed here).", self.config.task, position, n_tokens,
                        budget)
        return False

    def plain_context(self, doc: dict[str, Any], shot_docs: list[dict[str, Any]]) -> str:
        """The reference prompt: description, then each shot's text + target + few-shot separator, then the query."""
        sep = self.template.fewshot_sep
        examples = "".join(self.doc_to_text(ex) + self.doc_to_target(ex) + sep for ex in shot_docs)
        return self.description() + examples + self.doc_to_text(doc)

    def fewshot_context(self, doc, num_fewshot, system_instruction=None, apply_chat_template=False,
                        fewshot_as_multiturn=False, chat_template: Callable[..., str] | None = None,
                        gen_prefix=None, **kwargs) -> str:
        if self.spec.prompt_style == "lm-eval":
            self._check_shots(num_fewshot)
            return super().fewshot_context(doc, num_fewshot, system_instruction=system_instruction,
                                           apply_chat_template=apply_chat_template,
                                           fewshot_as_multiturn=fewshot_as_multiturn, chat_template=chat_template,
                                           gen_prefix=gen_prefix, **kwargs)
        sep = self.template.fewshot_sep
        examples = [(self.doc_to_text(ex), self.doc_to_target(ex)) for ex in self.shots(doc, num_fewshot)]
        query = self.doc_to_text(doc)
        description = self.description()
        if apply_chat_template and chat_template is not None:
            system = sep.join(s for s in (system_instruction, description.rstrip()) if s)
            messages = [{"role": "system", "content": system}] if system else []
            if fewshot_as_multiturn:
                for q, a in examples:
                    messages += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
                messages.append({"role": "user", "content": query})
            else:
                shots = "".join(q + a + sep for q, a in examples)
                messages.append({"role": "user", "content": shots + query})
            return chat_template(messages, add_generation_prompt=True)
        prefix = system_instruction + sep if system_instruction else ""
        return prefix + description + "".join(q + a + sep for q, a in examples) + query

    # ------------------------------------------------------------------ requests

    def construct_requests(self, doc, ctx, **kwargs):
        if self.spec.requests is None:
            return super().construct_requests(doc, ctx, **kwargs)
        kwargs.pop("apply_chat_template", None)
        kwargs.pop("chat_template", None)
        return self.spec.requests(self, doc, ctx, kwargs)

    # ------------------------------------------------------------------ scoring

    def metric_names(self):
        return self._aggregation_list

    def apply_filters(self):
        """lm-eval's filters, then the scoring stage: the spec's scorer over every document at once."""
        out = super().apply_filters()
        by_doc: dict[int, list] = {}
        for instance in self.instances:
            by_doc.setdefault(instance.doc_id, []).append(instance)
        docs, responses = [], []
        for instances in by_doc.values():
            instances.sort(key=lambda x: x.idx)
            docs.append(instances[0].doc)
            responses.append([inst.filtered_resps[next(iter(inst.filtered_resps))] for inst in instances])
        scorer = self.spec.scorer(self)
        self._scored = {_doc_key(doc): metrics for doc, metrics in zip(docs, scorer.score(docs, responses))}
        return out

    def process_results(self, doc, results):
        metrics = self._scored.get(_doc_key(doc))
        if metrics is None:  # called outside lm-eval's evaluate (no scoring stage ran): score this document alone
            metrics = self.spec.scorer(self).score([doc], [results])[0]
        return {k: v for k, v in metrics.items() if k in self._aggregation_list}


def _doc_key(doc: dict[str, Any]) -> str:
    # lm-eval hands process_results a fresh copy of the document, so documents are matched by content.
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, default=str)
