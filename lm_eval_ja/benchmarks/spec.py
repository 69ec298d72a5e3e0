"""What a benchmark family declares: the spec types read by the task class, the generator, selection and reports.

A family module (``lm_eval_ja/benchmarks/<family>.py``) builds one :class:`Family` holding one or more
:class:`Benchmark` specs. A benchmark is everything specific to one task-name prefix (``jnli``): where its data
comes from and how rows become documents, which prompt template key and labels it uses, its task versions and
alias, how documents are split and shots drawn, how requests are built, how a document is scored and aggregated,
and its headline metric with the scale it is reported on. Generic code (:mod:`lm_eval_ja.task`,
:mod:`lm_eval_ja.selection`, :mod:`lm_eval_ja.report`, ``scripts/generate_tasks.py``) reads these values and
never names a benchmark.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from lm_eval_ja.splits import SplitPolicy, files

#: Reads one local or downloaded file into rows (dicts); raises UserError on a bad file.
Reader = Callable[..., list[dict[str, Any]]]


@dataclass(frozen=True)
class Source:
    """Where one split's rows come from: a path under ``--data_dir``, an online address at a pinned revision.

    ``format`` names the reader (default: the benchmark's); the online or fallback copy may be in another
    format. ``fallback`` is a local file used when ``local`` is missing, printed with ``fallback_note`` and
    recorded in result.json.
    """

    local: str
    online: str | None = None
    format: str | None = None
    online_format: str | None = None
    fallback: str | None = None
    fallback_format: str | None = None
    fallback_note: str | None = None


@dataclass(frozen=True)
class Metric:
    """A reported metric: per-document items from the scorer, aggregated by ``aggregation``."""

    name: str
    #: lm-eval's aggregation name (``"mean"``, ``"matthews_corrcoef"``) or a function of the per-document items
    aggregation: str | Callable[[list], float] = "mean"
    higher_is_better: bool = True


@dataclass(frozen=True)
class Headline:
    """The one number a leaderboard shows for a benchmark: ``metric × factor`` on ``scale``.

    Headlines on the ``"0–100"`` scale are averaged together; any other scale (an LLM judge's 1–10) gets its own
    labelled column and is never averaged with them.
    """

    metric: str
    factor: float
    label: str
    scale: str = "0–100"
    higher_is_better: bool = True


@dataclass(frozen=True)
class TaskVersion:
    """One task version of a benchmark: the names ``<benchmark>[-<version>]-<prompt version>`` it gives."""

    #: the task version in the name (``"1.1"``); None where names carry none (``niilc-llmjp-1.0``)
    version: str | None
    #: prompt template key in ``prompt_templates/`` (None: no prompt at all, the model scores bare text)
    template: str | None
    #: the number result.json reports under ``versions`` (default: ``version`` as a number)
    number: float | int | None = None
    #: label strings shown to the model and scored as continuations (default: the document's choices)
    labels: tuple[str, ...] | None = None
    #: draw shots per gold target in proportion to its frequency (reference sampler only)
    stratified: bool = False
    #: extra fields for the template's description (JMMLU's subject name)
    template_fields: Mapping[str, str] = field(default_factory=dict)

    @property
    def result_version(self) -> float | int | None:
        if self.number is not None:
            return self.number
        return None if self.version is None else float(self.version)


#: How the prompt is assembled. ``reference``: jp-stable's rule (description always prepended, each shot
#: ``text + target + fewshot_sep``; chat turns built by lm-eval-ja). ``lm-eval``: a stock lm-eval
#: ConfigurableTask (description, shots and chat turns by lm-eval; requests from ``generation_kwargs``).
PromptStyle = Literal["reference", "lm-eval"]

#: How shots are drawn. ``reference``: one ``random.Random(seed)`` shuffles the evaluated documents and then
#: draws each document's shots in that order (jp-stable). ``first_n``: documents in file order, every document
#: gets the first n of the shot pool; ``first_n_shuffled``: the same after the pool is shuffled once with
#: ``random.Random(seed)`` (llm-jp-eval style).
SamplerKind = Literal["reference", "first_n", "first_n_shuffled"]


@dataclass(frozen=True)
class PairwiseJudging:
    """How a judge compares two runs' answers to a conversation (``lm-eval-ja pairwise``)."""

    #: ``(doc, answers_a, answers_b, turn, extra_data, reference_set) -> chat messages`` for the judge
    messages: Callable[..., list[dict[str, str]]]
    #: the judge's output -> ``"A"``, ``"B"``, ``"tie"`` or None (no verdict)
    verdict: Callable[[str], str | None]


@dataclass(frozen=True)
class Benchmark:
    """Everything specific to one benchmark (a task-name prefix such as ``jnli``)."""

    name: str
    #: one line: what it is, its source and licence (task YAML headers, docs)
    title: str
    output_type: Literal["multiple_choice", "generate_until"]
    #: raw row -> document the templates see (None: the row is not an item of the task; counted)
    convert: Callable[[dict[str, Any]], dict[str, Any] | None]
    #: split name -> source; the evaluated split is ``eval_split``, shots come from ``train_split``
    sources: Mapping[str, Source]
    #: ``task -> Scorer`` (:mod:`lm_eval_ja.scorers`), usually ``per_document(fn)`` with
    #: ``fn(task, doc, responses) -> {metric: item}``; responses are the document's filtered responses in request
    #: order (``(loglikelihood, is_greedy)`` pairs or generated strings)
    scorer: Callable[[Any], Any]
    metrics: tuple[Metric, ...]
    headline: Headline
    versions: tuple[TaskVersion, ...]
    #: the plain name (``jnli``) stands for this ``(task version, prompt version)``, as in the reference registry
    alias: tuple[str | None, str] | None = None
    #: default reader of ``sources``
    format: str = "jsonl"
    eval_split: str = "validation"
    train_split: str | None = "train"
    #: how the evaluated documents and the shot pool are made from the sources
    split: SplitPolicy = field(default_factory=files)
    sampler: SamplerKind = "reference"
    prompt_style: PromptStyle = "reference"
    #: ``(task, doc, ctx, instance_kwargs) -> Instance | [Instance]``; None: lm-eval's own (``prompt_style`` lm-eval)
    requests: Callable[..., Any] | None = None
    #: shot target format string over the document, unless the template overrides it
    default_target: str = ""
    #: lm-eval ``generation_kwargs`` (stop strings, token cap); request builders may replace parts per request
    generation_kwargs: Mapping[str, Any] | None = None
    #: ``(task, doc) -> max prompt tokens | None``: longer few-shot prompts are re-drawn with one shot fewer
    shot_budget: Callable[..., int | None] | None = None
    #: the reference asserts an empty context: any shot count but 0 is an error
    zero_shot_only: bool = False
    #: few-shot count lm-eval uses when none is given (plain ``lm_eval`` runs)
    num_fewshot: int | None = None
    #: the plain name had only ever one prompt (reports read published plain names as this prompt version)
    plain_name_prompt: str | None = None
    #: name for charts and docs (default: ``name``)
    display_name: str | None = None
    #: the documents are conversations (``turns``: the user messages, ``temperature``: how to sample the answers):
    #: the model answers as a chat model, turn by turn (:mod:`lm_eval_ja.chat`), and the scorer gets every sample's
    #: answers (``score(docs, answers)``); run by lm-eval-ja's run loop, not by plain lm-eval
    conversation: bool = False
    #: the scorer asks an LLM judge (``--judge_model``, handed to the task as ``task.judging``)
    judged: bool = False
    #: two runs' answers can be compared by a judge (``lm-eval-ja pairwise``)
    pairwise: PairwiseJudging | None = None

    @property
    def label(self) -> str:
        return self.display_name or self.name


@dataclass(frozen=True)
class Group:
    """An lm-eval group (JMMLU categories): members evaluated as tasks, their scores averaged once."""

    name: str
    alias: str
    members: tuple[str, ...]
    #: ``(metric, weight_by_size)``: averaged over the leaf tasks by documents (True) or plainly (False)
    aggregates: tuple[tuple[str, bool], ...]
    about: str
    #: what a leaderboard shows for the group (its members are then not shown on their own)
    headline: Headline | None = None
    version: float | int = 1.0
    #: the group's metrics are its members' metrics over all their documents pooled (e.g. the mean of every judge
    #: rating), instead of ``aggregates`` of the members' scores
    pooled: bool = False


@dataclass(frozen=True)
class Suite:
    """A named list of tasks with their own few-shot counts (``ja8``)."""

    name: str
    members: tuple[tuple[str, int], ...]
    about: str


@dataclass(frozen=True)
class Family:
    """One family module's declarations."""

    name: str
    benchmarks: tuple[Benchmark, ...]
    #: readers of file formats only this family uses (``format`` names in its sources)
    readers: Mapping[str, Reader] = field(default_factory=dict)
    #: a folder of prompt-version files for this family's template keys (a plug-in family ships its own);
    #: None: the package's ``prompt_templates/``
    prompt_templates: str | None = None
    groups: tuple[Group, ...] = ()
    suites: tuple[Suite, ...] = ()
