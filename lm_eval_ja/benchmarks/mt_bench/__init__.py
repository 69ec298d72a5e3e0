"""Japanese MT-Bench (Stability-AI's FastChat fork, Apache-2.0): 80 two-turn questions judged by an LLM on 1–10.

Tasks ``ja_mt_bench_<category>-<protocol>`` for the 8 categories (10 questions each) and the groups
``ja_mt_bench-<protocol>``; the plain names (``ja_mt_bench``, ``ja_mt_bench_writing``) stand for the ``fastchat``
protocol. The protocol is the task version: it fixes questions, references, judge prompts and rules. The model
answers as a chat model (:mod:`lm_eval_ja.chat`): turn 2 is asked with its own turn-1 answer in the conversation,
at FastChat's temperature for the category (greedy below 1e-4), 1024 new tokens per turn unless overridden.

``fastchat`` judges exactly as FastChat (``fastchat/llm_judge/common.py``): turn 1 with ``single-v1``
(``single-math-v1`` with the reference answer for math, reasoning and coding), turn 2 with the ``-multi-turn`` forms
(the whole conversation, both reference turns); the judge at temperature 0, at most 2048 tokens; the rating is the
first ``[[n]]``, else the first ``[n]``, else the judgment failed — left out of every mean and counted in
``n_judge_failed``; references are GPT-4's (``reference_answer/gpt-4.jsonl``).

``score`` is the mean of all valid judgments (turns × samples × judgments), ``score_turn1`` / ``score_turn2`` per
turn, ``score_stderr`` over questions; the group pools its categories' judgments the same way.
"""

from __future__ import annotations

import re
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
from lm_eval_ja.errors import UserError
from lm_eval_ja.metrics.ratings import document_stderr, pooled_mean, total

CATEGORIES = ("writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities")
#: FastChat's answer sampling temperature per category (gen_model_answer.py: temperature_config)
TEMPERATURE = {"writing": 0.7, "roleplay": 0.7, "extraction": 0.0, "math": 0.0, "coding": 0.0, "reasoning": 0.0,
               "stem": 0.1, "humanities": 0.1}
#: categories judged against a reference answer (common.py: NEED_REF_CATS)
NEED_REF = ("math", "reasoning", "coding")
SCALE = (1, 10)

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

_RATING = re.compile(r"\[\[(\d+\.?\d*)\]\]")
_RATING_BACKUP = re.compile(r"\[(\d+\.?\d*)\]")


def parse_rating(judgment: str) -> float | None:
    """FastChat's single-answer rating: the first ``[[n]]``, else the first ``[n]``; None (a failed judgment)."""
    match = _RATING.search(judgment) or _RATING_BACKUP.search(judgment)
    return float(match.group(1)) if match else None


def parse_verdict(judgment: str) -> str | None:
    """FastChat's pairwise verdict: ``[[A]]``, ``[[B]]``, ``[[C]]`` (a tie), checked in that order; None if none."""
    for mark, verdict in (("[[A]]", "A"), ("[[B]]", "B"), ("[[C]]", "tie")):
        if mark in judgment:
            return verdict
    return None


def converter(category: str):
    def convert(row: dict[str, Any]) -> dict[str, Any] | None:
        if row["category"] != category:
            return None  # another category's question: a task of its own
        return {"id": int(row["question_id"]), "category": row["category"], "turns": list(row["turns"]),
                "temperature": TEMPERATURE[category]}

    return convert


# ----------------------------------------------------------------------------------------------- judge prompts


def references(extra: dict[str, list[dict]]) -> dict[int, list[str]]:
    """The task version's reference answers by question id."""
    return {int(r["question_id"]): list(r["choices"][0]["turns"]) for r in extra["reference"]}


def single_messages(doc: dict[str, Any], answers: list[str], turn: int, refs: dict[int, list[str]],
                    prompts: dict[str, dict]) -> list[dict[str, str]]:
    """The judge's chat for one answer (turn 0 or 1) of one conversation (FastChat's single-answer grading)."""
    ref = refs.get(doc["id"]) if doc["category"] in NEED_REF else None
    if doc["category"] in NEED_REF and ref is None:
        raise UserError(f"The reference answers have no answer to MT-Bench question {doc['id']}.")
    q = doc["turns"]
    name = ("single-math-v1" if ref else "single-v1") + ("-multi-turn" if turn == 1 else "")
    prompt = prompts[name]
    refs_kw = {"ref_answer_1": ref[0], **({"ref_answer_2": ref[1]} if turn == 1 else {})} if ref else {}
    if turn == 1:
        user = prompt["prompt_template"].format(question_1=q[0], question_2=q[1], answer_1=answers[0],
                                                answer_2=answers[1], **refs_kw)
    else:
        user = prompt["prompt_template"].format(question=q[0], answer=answers[0], **refs_kw)
    return [{"role": "system", "content": prompt["system_prompt"]}, {"role": "user", "content": user}]


def pair_messages(doc: dict[str, Any], answers_a: list[str], answers_b: list[str], turn: int,
                  extra: dict[str, list[dict]]) -> list[dict[str, str]]:
    """The judge's chat comparing two conversations at one turn (``pair-v2`` / ``pair-math-v1`` and -multi-turn)."""
    refs = references(extra)
    prompts = {row["name"]: row for row in extra["judge_prompts"]}
    ref = refs.get(doc["id"]) if doc["category"] in NEED_REF else None
    name = ("pair-math-v1" if ref else "pair-v2") + ("-multi-turn" if turn == 1 else "")
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


class MTBenchScorer:
    """Judges every turn of every sample ``num_judgments`` times, in one batch for the whole task."""

    identity = None  # the judge's requests are kept in the run store under the judge's own fingerprint

    def __init__(self, task):
        if task.judging is None:
            raise UserError(f"{task.config.task} is judged by an LLM: give --judge_model / --judge_model_args.")
        self.judging = task.judging
        self.refs = references(task.extra_data)
        self.prompts = {row["name"]: row for row in task.extra_data["judge_prompts"]}

    def score(self, docs, answers):
        plan, prompts, indices = [], [], []
        for i, doc in enumerate(docs):
            for k, answer in enumerate(answers[i]):
                for turn in range(len(answer.text)):
                    messages = single_messages(doc, answer.text, turn, self.refs, self.prompts)
                    for j in range(self.judging.num_judgments):
                        plan.append((i, k, turn, j, messages))
                        prompts.append(messages)
                        indices.append(j)
        outputs = self.judging.judge.ask(prompts, indices)
        logs = [[[[] for _ in a.text] for a in answers[i]] for i in range(len(docs))]
        for (i, k, turn, j, messages), output in zip(plan, outputs):
            logs[i][k][turn].append({"judgment": j, "prompt": messages, "output": output,
                                     "rating": parse_rating(output)})
        return [document_items(log) for log in logs]


def document_items(log: list[list[list[dict]]]) -> dict[str, Any]:
    """One question's items from its judgments (``log[sample][turn]``): the valid ratings, per turn and together."""
    turn_ratings = [[r["rating"] for k in log if len(k) > t for r in k[t] if r["rating"] is not None] for t in (0, 1)]
    failed = sum(r["rating"] is None for k in log for t in k for r in t)
    return {"score": turn_ratings[0] + turn_ratings[1], "score_turn1": turn_ratings[0],
            "score_turn2": turn_ratings[1], "n_judge_failed": failed, "_log": log}


METRICS = (Metric("score", pooled_mean, stderr=document_stderr), Metric("score_turn1", pooled_mean),
           Metric("score_turn2", pooled_mean), Metric("n_judge_failed", total, False))
HEADLINE = Headline("score", 1.0, "MT-Bench score", scale="1–10")
PROTOCOLS = ("fastchat",)
DEFAULT_PROTOCOL = "fastchat"


def _category(category: str) -> Benchmark:
    return Benchmark(
        name=f"ja_mt_bench_{category}", display_name=category,
        title=f"Japanese MT-Bench, {category} (10 two-turn questions, judged 1–10)",
        output_type="generate_until", convert=converter(category), sources=SOURCES, eval_split="test",
        train_split=None, sampler="first_n", scorer=MTBenchScorer, metrics=METRICS, headline=HEADLINE,
        versions=tuple(TaskVersion(None, None, number=1.0, protocol=p) for p in PROTOCOLS),
        alias=(None, DEFAULT_PROTOCOL), conversation=True, judged=True,
        pairwise=PairwiseJudging(pair_messages, parse_verdict),
    )


def _groups() -> tuple[Group, ...]:
    out = []
    for protocol in PROTOCOLS:
        members = tuple(f"ja_mt_bench_{c}-{protocol}" for c in CATEGORIES)
        about = f"Japanese MT-Bench, all 8 categories (80 questions), {protocol} protocol"
        names = [f"ja_mt_bench-{protocol}"] + (["ja_mt_bench"] if protocol == DEFAULT_PROTOCOL else [])
        out += [Group(name, name, members, (), about, headline=HEADLINE, pooled=True) for name in names]
    return tuple(out)


FAMILY = Family(name="mt_bench", order=80, benchmarks=tuple(_category(c) for c in CATEGORIES), groups=_groups())
