"""Japanese MT-Bench (Stability-AI's FastChat fork, Apache-2.0): 80 two-turn questions judged by an LLM, under
every published protocol by name.

"Japanese MT-Bench" is not one protocol: published numbers differ in judge prompts, references, answer sampling,
turns judged, parser and aggregation (``../shared/data/japanese_mt_bench/protocols/README.md``). Each protocol is a
task version here, the jp-stable way — the name fixes it: tasks ``ja_mt_bench_<category>-<protocol>`` for the 8
categories and the pooled groups ``ja_mt_bench-<protocol>`` for ``fastchat``, ``stability-fd01e11``,
``stability-57d3a1a``, ``swallow``, ``swallow_fastchat``, ``nejumi3``, ``llmjp_judge``, ``flexeval``,
``sarashina`` (:mod:`lm_eval_ja.benchmarks.mt_bench.protocols` holds every fact with its upstream file and line).
Plain names: ``ja_mt_bench`` / ``ja_mt_bench_<category>`` = ``fastchat``, ``ja_mt_bench-stability`` =
``stability-fd01e11``.

A protocol fixes the questions, references and judge prompts it reads, the answering model's system prompt, the
turns generated and judged, the answer request parameters per category (temperature, top_p, repetition_penalty,
max new tokens — sent with every request, so an OpenAI-compatible server gets them), samples × judgments
defaults, the judge's temperature and token limit, the rating parser and the aggregation and scale. The judge
model stays the user's choice; result.json records the protocol's judge model and marks a run judged by another
one as not comparable with the published numbers (``config.lm_eval_ja.protocols``).

A document's items are its judgment records; ``score`` (with a standard error over questions), ``score_turn1`` and
``score_turn2`` (null where the protocol does not judge that turn) and ``n_judge_failed`` are the protocol's
aggregation over the records of the documents in question — a category, or the group's pooled 80 questions.
"""

from __future__ import annotations

from typing import Any

from lm_eval_ja.benchmarks.spec import (
    Benchmark,
    Family,
    Group,
    Headline,
    Metric,
    PairwiseJudging,
    Source,
    TaskVersion,
)
from lm_eval_ja.benchmarks.mt_bench import protocols as P
from lm_eval_ja.errors import UserError
from lm_eval_ja.metrics.ratings import document_stderr
from lm_eval_ja.modelargs import parse_model_args

CATEGORIES = ("writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities")

FORK = "https://raw.githubusercontent.com/Stability-AI/FastChat"
QUESTIONS_AT = "a07fec95abc6e8015427c12a0e17c800aa799fa9"  # question_full.jsonl as flexeval packages it; gpt-4 refs
GPT4O_AT = "0fb1e9a6c670cafc3999b6735260bc6119956d84"
DATA = "fastchat/llm_judge/data"

SOURCES = {
    "test": Source(local="japanese_mt_bench/question.jsonl",
                   online=f"{FORK}/{QUESTIONS_AT}/{DATA}/japanese_mt_bench/question_full.jsonl"),
    "reference": Source(local="japanese_mt_bench/reference_answer/gpt-4.jsonl",
                        online=f"{FORK}/{QUESTIONS_AT}/{DATA}/japanese_mt_bench/reference_answer/gpt-4.jsonl"),
    "judge_prompts": Source(local="japanese_mt_bench/judge_prompts.jsonl", online=f"{FORK}/{GPT4O_AT}/{DATA}/judge_prompts.jsonl"),
}

def parse_verdict(judgment: str) -> str | None:
    """FastChat's pairwise verdict: ``[[A]]``, ``[[B]]``, ``[[C]]`` (a tie), checked in that order; None if none."""
    for mark, verdict in (("[[A]]", "A"), ("[[B]]", "B"), ("[[C]]", "tie")):
        if mark in judgment:
            return verdict
    return None


def converter(category: str):
    def convert(row: dict[str, Any]) -> dict[str, Any] | None:
        # every row is checked, whichever category's task reads the file
        if row["category"] not in CATEGORIES:
            raise ValueError(f"category {row['category']!r} is not an MT-Bench category ({', '.join(CATEGORIES)})")
        turns = row["turns"]
        if not isinstance(turns, list) or not turns or not all(isinstance(x, str) for x in turns):
            raise ValueError("turns is not a list of strings")
        qid = int(row["question_id"])
        if row["category"] != category:
            return None  # another category's question: a task of its own
        return {"id": qid, "question_id": qid, "category": row["category"], "turns": list(turns)}

    return convert


def references(extra: dict[str, list[dict]]) -> dict[int, list[str]]:
    """The task version's reference answers by question id."""
    return {P.question_id(r["question_id"]): list(r["choices"][0]["turns"]) for r in extra.get("reference", [])}


def pair_messages(doc: dict[str, Any], answers_a: list[str], answers_b: list[str], turn: int,
                  extra: dict[str, list[dict]]) -> list[dict[str, str]]:
    """The judge's chat comparing two conversations at one turn (``pair-v2`` / ``pair-math-v1`` and -multi-turn)."""
    refs = references(extra)
    prompts = {row["name"]: row for row in extra.get("judge_prompts", [])}
    ref = refs.get(doc["id"]) if doc["category"] in P.NEED_REF else None
    name = ("pair-math-v1" if ref else "pair-v2") + ("-multi-turn" if turn == 1 else "")
    if name not in prompts:
        raise UserError(f"The judge prompts of this MT-Bench protocol have no pairwise prompt {name!r}; compare runs "
                        "of a protocol with FastChat's pairwise prompts (e.g. fastchat).")
    prompt = prompts[name]
    refs_kw = {"ref_answer_1": ref[0], **({"ref_answer_2": ref[1]} if turn == 1 else {})} if ref else {}
    q = doc["turns"]
    if turn == 1:
        user = prompt["prompt_template"].format(question_1=q[0], question_2=q[1], answer_a_1=answers_a[0],
                                                answer_a_2=answers_a[1], answer_b_1=answers_b[0],
                                                answer_b_2=answers_b[1], **refs_kw)
    else:
        user = prompt["prompt_template"].format(question=q[0], answer_a=answers_a[0], answer_b=answers_b[0],
                                                **refs_kw)
    return [{"role": "system", "content": prompt["system_prompt"]}, {"role": "user", "content": user}]


def protocol_of(task, presets: dict[str, P.Protocol] | None = None) -> P.Protocol:
    """The protocol a task version names (``presets``: version name -> protocol, default MT-Bench's)."""
    return (presets or P.PROTOCOLS)[task.task_version.protocol]


class ProtocolPlan:
    """How a protocol asks the answers (:mod:`lm_eval_ja.chat`'s plan): its system prompt (``--system_instruction``
    replaces it), the turns it generates, its request parameters per category, its sample rules and its answer
    post-processing (Swallow's ``<think>`` rule and 8192-character cut; else the run's ``--think_tags``)."""

    #: the task versions' protocols (a family judging another benchmark under protocols gives its own)
    presets: dict[str, P.Protocol] | None = None

    def __init__(self, task, options):
        self.protocol, self.options = protocol_of(task, self.presets), options

    def turns(self, doc: dict[str, Any]) -> int:
        return min(len(doc["turns"]), self.protocol.turns_generated)

    def messages(self, doc: dict[str, Any], previous: list[str]) -> list[dict[str, str]]:
        messages = P.answer_messages(self.protocol, doc, previous)
        if self.options.system_instruction:
            messages = [{"role": "system", "content": self.options.system_instruction}] + \
                [m for m in messages if m["role"] != "system"]
        return messages

    def params(self, doc: dict[str, Any]) -> dict[str, Any]:
        return P.answer_params(self.protocol, doc["category"])

    def history(self, sample: int) -> int:
        return P.history_sample(self.protocol, sample)

    def postprocess(self, raw: str) -> str:
        from lm_eval_ja.chat import strip_thinking

        text = raw if self.protocol.strip_think else strip_thinking(raw, self.options.think_tags)
        return P.postprocess_answer(self.protocol, text)

    def num_samples(self) -> int:
        return self.options.num_samples or self.protocol.num_samples


class MTBenchScorer:
    """Judges every judged turn of every sample ``num_judgments`` times with the protocol's prompts and rules, in
    one batch for the whole task; a document's items are its judgment records (:func:`protocols.aggregate`'s)."""

    identity = None  # the judge's requests are kept in the run store under the judge's own fingerprint
    presets: dict[str, P.Protocol] | None = None

    def __init__(self, task):
        if task.judging is None:
            raise UserError(f"{task.config.task} is judged by an LLM: give --judge_model / --judge_model_args.")
        self.judging, self.protocol = task.judging, protocol_of(task, self.presets)
        self.refs = references(task.extra_data)
        self.prompts = (P.load_judge_prompts(self.protocol) if self.protocol.prompt_format == "jinja"
                        else {row["name"]: row for row in task.extra_data["judge_prompts"]})
        self.num_judgments = self.judging.num_judgments or self.protocol.num_judgments
        self.protocol_facts = protocol_facts(self.protocol, self.judging, self.num_judgments)

    def plan(self, docs, answers) -> list[tuple]:
        """(document, sample, turn, judgment, messages) of every judge request."""
        out = []
        for i, doc in enumerate(docs):
            for k, answer in enumerate(answers[i]):
                for turn in [t for t in self.protocol.turns_judged if t < len(answer.text)]:
                    references = self.refs.get(doc["question_id"]) or doc.get("references")
                    messages = P.judge_messages(self.protocol, self.prompts, doc, answer.text, turn, references)
                    out += [(i, k, turn, j, messages) for j in range(self.num_judgments)]
        return out

    def judge_requests(self, docs, answers) -> tuple[list, list, dict]:
        """Every judge request of the task: (chat messages, judgment indices, the protocol's judge parameters); the
        run may send several tasks' requests to the judge at once, then hand each its outputs (:meth:`complete`)."""
        self._plan = self.plan(docs, answers)
        return [m for *_, m in self._plan], [j for _, _, _, j, _ in self._plan], P.judge_params(self.protocol)

    def complete(self, docs, answers, outputs) -> list[dict]:
        """The documents' items (judgment records) and judgment logs from the judge's outputs, in request order."""
        logs = [[[[] for _ in a.text] for a in answers[i]] for i in range(len(docs))]
        records: list[list[dict]] = [[] for _ in docs]
        for (i, k, turn, j, messages), output in zip(self._plan, outputs):
            rating = P.parse_rating(self.protocol, output)
            logs[i][k][turn].append({"judgment": j, "prompt": messages, "output": output, "rating": rating})
            records[i].append({"question_id": docs[i]["question_id"], "category": docs[i]["category"], "turn": turn,
                               "sample": k, "judgment": j, "rating": rating})
        return [{**{m: r for m in RECORD_METRICS}, "_log": log} for r, log in zip(records, logs)]

    def score(self, docs, answers):
        prompts, indices, params = self.judge_requests(docs, answers)
        return self.complete(docs, answers, self.judging.judge.ask(prompts, indices, params))


def protocol_facts(protocol: P.Protocol, judging, num_judgments: int) -> dict[str, Any]:
    """What result.json records of a protocol run: the protocol, its judge, and whether this run's judge is it."""
    judge = judging.judge.describe()
    used = parse_model_args(judge.get("model_args") or "").get("model")
    comparable = used == protocol.judge_model
    return {"protocol": protocol.name, "about": protocol.about, "protocol_judge": protocol.judge_model,
            "judge": used, "num_judgments": num_judgments, "comparable": comparable,
            **({} if comparable else {"not_comparable_because": f"judged by {used!r}, the protocol by "
                                                                f"{protocol.judge_model!r}"})}


RECORD_METRICS = ("score", "score_turn1", "score_turn2", "n_judge_failed")


def protocol_metrics(protocol: P.Protocol) -> tuple[Metric, ...]:
    """The protocol's aggregation over the judgment records of any set of questions (a category, the whole
    benchmark pooled)."""

    def part(key: str):
        def aggregate(items: list[list[dict]]) -> Any:
            return P.aggregate(protocol, [r for records in items for r in records])[key]

        aggregate.__name__ = f"{protocol.name}_{key}"
        return aggregate

    def question_stderr(items: list[list[dict]]) -> float | None:
        return document_stderr([[s] for s in (P.aggregate(protocol, records)["score"] for records in items)
                                if s is not None])

    return (Metric("score", part("score"), stderr=question_stderr), Metric("score_turn1", part("score_turn1")),
            Metric("score_turn2", part("score_turn2")), Metric("n_judge_failed", part("n_judge_failed"), False))


PRESETS = tuple(p for p in P.PROTOCOLS.values() if p.benchmark == "mt_bench")
DEFAULT_PROTOCOL = "fastchat"
#: group names that stand for a protocol (the reference's way: a plain name points at one version)
GROUP_ALIASES = {"ja_mt_bench": "fastchat", "ja_mt_bench-stability": "stability-fd01e11"}


def headline(protocol: P.Protocol) -> Headline:
    return Headline("score", 1.0, f"MT-Bench score ({protocol.name})", scale=protocol.scale_label)


def sources(protocol: P.Protocol) -> dict[str, Source]:
    """The files the protocol reads (relative to --data_dir); the default protocol's also online."""
    if protocol.name == DEFAULT_PROTOCOL:
        return dict(SOURCES)
    out = {"test": Source(local=protocol.questions), "reference": Source(local=protocol.references)}
    if protocol.prompt_format != "jinja":
        out["judge_prompts"] = Source(local=protocol.judge_prompts,
                                      format="judge_prompts_yaml" if protocol.prompt_format == "llmjp_yaml" else None)
    return out


def read_judge_prompts_yaml(path) -> list[dict[str, Any]]:
    """llm-jp-judge's judge-prompt YAML (name -> entry) as rows with their ``name``."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise UserError(f"Data file {path} is not a YAML mapping of judge prompts; replace it with the original file.")
    return [{"name": name, **entry} for name, entry in data.items()]


def check_documents(name: str, resolved, documents) -> None:
    """Across files, before the model loads: every question judged with a reference has one in the protocol's
    reference file, and the judge-prompt file has every prompt the protocol will use."""
    protocol = P.PROTOCOLS[resolved.version.protocol]
    files = {split: src.get("path") for split, src in documents.sources.items()}
    refs = references(documents.extra)
    for doc in documents.evaluated:
        if P.needs_reference(protocol, doc["category"]) and doc["question_id"] not in refs:
            raise UserError(f"Data file {files.get('reference')} has no reference answer to question "
                            f"{doc['question_id']} ({doc['category']}), which {name} judges with one; replace the file "
                            "with the original one.")
    if "judge_prompts" not in documents.extra:
        return
    have = {row.get("name") for row in documents.extra["judge_prompts"]}
    needed = {n + ("-multi-turn" if t == 1 else "") for n in protocol.prompt_names for t in protocol.turns_judged}
    missing = sorted(needed - have)
    if missing:
        raise UserError(f"Data file {files.get('judge_prompts')} has no judge prompt {missing[0]!r}, which {name} "
                        "uses; replace the file with the original one.")


def _version(protocol: P.Protocol) -> TaskVersion:
    return TaskVersion(None, None, number=1.0, protocol=protocol.name, sources=sources(protocol),
                       metrics=protocol_metrics(protocol), headline=headline(protocol))


def _category(category: str) -> Benchmark:
    return Benchmark(
        name=f"ja_mt_bench_{category}", display_name=category,
        title=f"Japanese MT-Bench, {category} (10 two-turn questions, judged by an LLM under a published protocol)",
        output_type="generate_until", convert=converter(category), sources=SOURCES, eval_split="test",
        train_split=None, sampler="first_n", scorer=MTBenchScorer, metrics=protocol_metrics(P.PROTOCOLS["fastchat"]),
        headline=headline(P.PROTOCOLS["fastchat"]), versions=tuple(_version(p) for p in PRESETS),
        alias=(None, DEFAULT_PROTOCOL), conversation=True, conversation_plan=ProtocolPlan, judged=True,
        pairwise=PairwiseJudging(pair_messages, parse_verdict), check_documents=check_documents,
    )


def _groups() -> tuple[Group, ...]:
    out = []
    for protocol in PRESETS:
        members = tuple(f"ja_mt_bench_{c}-{protocol.name}" for c in CATEGORIES)
        about = f"Japanese MT-Bench, all 8 categories (80 questions), {protocol.name}: {protocol.about}"
        names = [f"ja_mt_bench-{protocol.name}"] + [a for a, p in GROUP_ALIASES.items() if p == protocol.name]
        out += [Group(name, name, members, (), about, headline=headline(protocol), pooled=True,
                      column=f"ja_mt_bench-{protocol.name}") for name in names]
    return tuple(out)


FAMILY = Family(name="mt_bench", order=80, benchmarks=tuple(_category(c) for c in CATEGORIES), groups=_groups(),
                readers={"judge_prompts_yaml": read_judge_prompts_yaml})
