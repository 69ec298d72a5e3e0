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

from lm_eval_ja.errors import UserError
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


#: How a metric's standard error is computed from its per-document items: ``"mean"`` (the sample standard error
#: of a mean), ``"bootstrap"`` (the aggregation over ``--bootstrap_iters`` resamples of the documents, as lm-eval
#: bootstraps), a function of the items, or None (no standard error is reported).
StdErr = Literal["mean", "bootstrap"] | Callable[[list], "float | None"] | None
_DEFAULT_STDERR: Any = object()


@dataclass(frozen=True)
class Metric:
    """A reported metric and the one declaration of how it aggregates (:mod:`lm_eval_ja.aggregation`).

    The scorer gives one item per document; ``aggregation`` turns a list of items into the metric — a mean, or a
    corpus-level function such as BLEU over all (hypothesis, reference) pairs — and ``stderr`` says how its
    standard error is computed (default: ``"mean"`` for a mean, none otherwise). The same declaration scores a
    task, a data-parallel run (items gathered in document order), a chat task, and a pooled group (its members'
    items together); plain ``lm_eval`` runs get it through the task class.
    """

    name: str
    #: lm-eval's aggregation name (``"mean"``, ``"matthews_corrcoef"``) or a function of the per-document items
    aggregation: str | Callable[[list], Any] = "mean"
    higher_is_better: bool = True
    stderr: StdErr = _DEFAULT_STDERR

    def __post_init__(self):
        if self.stderr is _DEFAULT_STDERR:
            object.__setattr__(self, "stderr", "mean" if self.aggregation == "mean" else None)


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
    #: a protocol the version reproduces (``fastchat``, ``swallow``): it is the name's last part, in place of a
    #: prompt version (``ja_mt_bench_writing-fastchat``), and the family reads it to choose prompts and rules
    protocol: str | None = None
    #: this version's own sources (split name -> Source), replacing the benchmark's
    sources: Mapping[str, Source] | None = None
    #: this version's own metrics (a protocol with its own aggregation), replacing the benchmark's
    metrics: tuple[Metric, ...] | None = None
    #: this version's own headline (a protocol on another scale), replacing the benchmark's
    headline: Headline | None = None

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

    #: ``(doc, answers_a, answers_b, turn, extra_data) -> chat messages`` for the judge (extra_data: the task
    #: version's other sources, e.g. its reference answers and judge prompts)
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
    #: other names a published harness gave one of its versions (``wmt20-en-ja``: jp-stable's name of the jp-stable
    #: protocol) -> that ``(task version, prompt version)``
    other_names: Mapping[str, tuple[str | None, str]] = field(default_factory=dict)
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
    #: ``task -> plan``: how the chat path asks this task's conversations (system prompt, turns, request parameters,
    #: post-processing; see :class:`lm_eval_ja.chat.DefaultPlan`); None: the default plan
    conversation_plan: Callable[[Any], Any] | None = None
    #: the scorer asks an LLM judge (``--judge_model``, handed to the task as ``task.judging``)
    judged: bool = False
    #: two runs' answers can be compared by a judge (``lm-eval-ja pairwise``)
    pairwise: PairwiseJudging | None = None
    #: ``run_options -> None``: what the task needs from the machine, checked before the model loads (a sandbox to
    #: run code in); raises a UserError saying what is missing and how to proceed
    requirements: Callable[[dict[str, Any]], None] | None = None
    #: ``(task name, resolved task, documents) -> None``: checks across a task's files that no single row shows (every
    #: question has its reference answer, every judge prompt the protocol uses is there), run by the preflight
    #: before the model loads; raises a UserError naming the file and what is missing
    check_documents: Callable[..., None] | None = None

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
    #: the leaderboard column the group's headline goes to (default: its name's benchmark part); groups that are
    #: one protocol under two names share a column, two protocols never do
    column: str | None = None


@dataclass(frozen=True)
class Suite:
    """A named list of tasks with their own few-shot counts (``ja8``)."""

    name: str
    members: tuple[tuple[str, int], ...]
    about: str


@dataclass(frozen=True)
class Family:
    """One family module's declarations (``FAMILY`` in ``lm_eval_ja/benchmarks/<family>/__init__.py``, or what a
    plug-in package's ``lm_eval_ja.benchmarks`` entry point names)."""

    name: str
    benchmarks: tuple[Benchmark, ...]
    #: readers of file formats only this family uses (``format`` names in its sources)
    readers: Mapping[str, Reader] = field(default_factory=dict)
    #: the folder of this family's prompt files (``<version>.yaml`` with ``tasks:`` entries for its template keys);
    #: None: ``prompts/`` beside the family's module
    prompt_templates: str | None = None
    groups: tuple[Group, ...] = ()
    suites: tuple[Suite, ...] = ()
    #: leaderboard column order among families (lower first; ties by name); plug-ins come after the built-ins
    order: int = 1000


# ---------------------------------------------------------------------------------------------- validation

_STDERR_RULES = ("mean", "bootstrap")


def validate(family: Family, prompt_versions: Callable[[Benchmark, TaskVersion], list]) -> None:
    """Check a family's declarations when it is registered; the first problem is one UserError line naming the
    family, the benchmark or group, and what is wrong. ``prompt_versions(bench, version)`` lists the prompt
    versions a task version is offered in (from the family's prompt files)."""
    from lm_eval_ja.names import TaskName

    def fail(what: str) -> None:
        raise UserError(f"Benchmark family {family.name or '?'}: {what}.")

    if not family.name:
        fail("it has no name")
    names = [b.name for b in family.benchmarks]
    if len(set(names)) != len(names):
        fail(f"benchmark {next(n for n in names if names.count(n) > 1)!r} is declared twice")
    tasks: set[str] = set()
    for bench in family.benchmarks:
        if TaskName.parse(bench.name).benchmark != bench.name or "-" in bench.name:
            fail(f"benchmark name {bench.name!r} is not a plain name (letters, digits, underscores)")
        problem = benchmark_problem(bench)
        if problem:
            fail(f"benchmark {bench.name}: {problem}")
        tasks |= _version_names(bench, prompt_versions, fail)
    _check_groups_and_suites(family, tasks, fail)


def benchmark_problem(bench: Benchmark) -> str | None:
    """What is wrong with one benchmark's declaration, or None."""
    for version in bench.versions:
        if version.metrics is not None:
            problem = benchmark_problem(_with_version_metrics(bench, version))
            if problem:
                return f"task version {version.protocol or version.version}: {problem}"
    metrics = [m.name for m in bench.metrics]
    if not metrics:
        return "it declares no metric"
    if len(set(metrics)) != len(metrics):
        return f"metric {next(m for m in metrics if metrics.count(m) > 1)!r} is declared twice"
    if bench.headline.metric not in metrics:
        return f"its headline metric {bench.headline.metric!r} is not one of its metrics ({', '.join(metrics)})"
    for metric in bench.metrics:
        problem = _metric_problem(metric)
        if problem:
            return f"metric {metric.name}: {problem}"
    if bench.split.kind == "files" and bench.eval_split not in bench.sources \
            and not any(v.sources and bench.eval_split in v.sources for v in bench.versions):
        return f"its evaluated split {bench.eval_split!r} has no source (sources: {', '.join(bench.sources)})"
    if not bench.versions:
        return "it declares no task version"
    if bench.output_type not in ("multiple_choice", "generate_until"):
        return f"output_type {bench.output_type!r} is not multiple_choice or generate_until"
    if not callable(bench.scorer) or not callable(bench.convert):
        return "its scorer and converter must be callables"
    return None


def _with_version_metrics(bench: Benchmark, version: TaskVersion) -> Benchmark:
    from dataclasses import replace

    return replace(bench, metrics=version.metrics, headline=version.headline or bench.headline,
                   versions=tuple(replace(v, metrics=None) for v in bench.versions))


def _metric_problem(metric: Metric) -> str | None:
    if isinstance(metric.aggregation, str):
        import lm_eval.api.metrics  # noqa: F401  (registers lm-eval's aggregations)
        from lm_eval.api.registry import AGGREGATION_REGISTRY

        if metric.aggregation not in AGGREGATION_REGISTRY:
            return (f"aggregation {metric.aggregation!r} is not one of lm-eval's ({', '.join(sorted(AGGREGATION_REGISTRY))})"
                    "; give a function of the per-document items")
    elif not callable(metric.aggregation):
        return "its aggregation is neither an lm-eval aggregation name nor a function"
    if metric.stderr is not None and not callable(metric.stderr) and metric.stderr not in _STDERR_RULES:
        return f"stderr {metric.stderr!r} is not 'mean', 'bootstrap', a function or None"
    return None


def _version_names(bench: Benchmark, prompt_versions, fail) -> set[str]:
    from lm_eval_ja.names import TaskName

    names: set[str] = set()
    pairs = set()
    for version in bench.versions:
        offered = prompt_versions(bench, version)
        if not offered:
            fail(f"benchmark {bench.name}: task version {version.version} (template {version.template!r}) is in no "
                 "prompt file of the family")
        pairs |= {(version.version, p) for p in offered}
        names |= {str(TaskName(bench.name, version.version, p)) for p in offered}
    if bench.alias is not None and tuple(bench.alias) not in pairs:
        fail(f"benchmark {bench.name}: its alias {bench.alias} is not one of its task versions")
    for other, target in bench.other_names.items():
        if tuple(target) not in pairs:
            fail(f"benchmark {bench.name}: its name {other!r} points at {target}, not one of its task versions")
    return names | ({bench.name} if bench.alias is not None else set()) | set(bench.other_names)


def _check_groups_and_suites(family: Family, tasks: set[str], fail) -> None:
    known = tasks | {g.name for g in family.groups}
    for group in family.groups:
        missing = [m for m in group.members if m not in known]
        if missing or not group.members:
            fail(f"group {group.name}: member {missing[0] if missing else '(none)'!r} is not a task or group of "
                 "the family")
        if not group.pooled and not group.aggregates:
            fail(f"group {group.name} is neither pooled nor declares the metrics it averages")
    for suite in family.suites:
        if not suite.members:
            fail(f"suite {suite.name} has no member")
