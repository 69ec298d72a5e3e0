"""ELYZA-tasks-100 (ELYZA, CC BY-SA 4.0): 100 single-turn instructions judged by an LLM on 1–5.

The model answers as a chat model (1024 new tokens, greedy, as flexeval's config). The judge gets flexeval's prompt
(the question, the example answer, the task's own grading aspect ``eval_aspect`` and the answer); as flexeval, the
rating is the last integer of the judge's output if it is between 1 and 5, else the judgment failed — left out of
the mean and counted in ``n_judge_failed``. Online only (the Hugging Face hub, split ``test``); offline put the rows
(``input``, ``output``, ``eval_aspect``) in ``elyza_tasks_100/test.jsonl`` under ``--data_dir``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lm_eval_ja.benchmarks.spec import Benchmark, Family, Headline, Metric, Source, TaskVersion
from lm_eval_ja.errors import UserError
from lm_eval_ja.metrics.ratings import document_stderr, pooled_mean, total
from lm_eval_ja.scorers.judge import load_prompts, render_jinja

JUDGE_PROMPT = str(Path(__file__).resolve().parent / "judge_prompt.yaml")

SCALE = (1, 5)
_INTEGER = re.compile(r"(\d+)")


def parse_rating(judgment: str) -> int | None:
    """flexeval's ``parse_score_from_evaluator_output``: the last integer, if it lies in 1–5; else None."""
    found = _INTEGER.findall(judgment)
    if not found:
        return None
    rating = int(found[-1])
    return rating if SCALE[0] <= rating <= SCALE[1] else None


def convert(row: dict[str, Any]) -> dict[str, Any]:
    return {"input": row["input"], "output": row["output"], "eval_aspect": row["eval_aspect"], "turns": [row["input"]],
            "temperature": 0.0}


def judge_messages(doc: dict[str, Any], answer: str) -> list[dict[str, str]]:
    prompt = load_prompts(JUDGE_PROMPT)["elyza"]
    user = render_jinja(prompt["template"], messages=[{"role": "user", "content": doc["input"]}],
                        references=[doc["output"]], eval_aspect=doc["eval_aspect"], lm_output=answer)
    return ([{"role": "system", "content": prompt["system"]}] if prompt["system"] else []) + \
        [{"role": "user", "content": user}]


class ElyzaScorer:
    """Judges every sample's answer ``num_judgments`` times, in one batch for the task."""

    identity = None  # the judge's requests are kept in the run store under the judge's own fingerprint

    def __init__(self, task):
        if task.judging is None:
            raise UserError(f"{task.config.task} is judged by an LLM: give --judge_model / --judge_model_args.")
        self.judging = task.judging

    def score(self, docs, answers):
        plan, prompts, indices = [], [], []
        for i, doc in enumerate(docs):
            for k, answer in enumerate(answers[i]):
                messages = judge_messages(doc, answer.text[0])
                for j in range(self.judging.num_judgments):
                    plan.append((i, k, j, messages))
                    prompts.append(messages)
                    indices.append(j)
        outputs = self.judging.judge.ask(prompts, indices)
        logs = [[[[]] for _ in answers[i]] for i in range(len(docs))]
        for (i, k, j, messages), output in zip(plan, outputs):
            logs[i][k][0].append({"judgment": j, "prompt": messages, "output": output, "rating": parse_rating(output)})
        out = []
        for i in range(len(docs)):
            ratings = [r["rating"] for k in logs[i] for r in k[0] if r["rating"] is not None]
            failed = sum(r["rating"] is None for k in logs[i] for r in k[0])
            out.append({"score": ratings, "n_judge_failed": failed, "_log": logs[i]})
        return out


FAMILY = Family(
    order=90,
    name="elyza",
    benchmarks=(Benchmark(
        name="elyza_tasks_100", display_name="ELYZA-tasks-100",
        title="ELYZA-tasks-100 (ELYZA, CC BY-SA 4.0): 100 instructions judged 1–5 with flexeval's prompt; online only",
        output_type="generate_until", convert=convert,
        sources={"test": Source(local="elyza_tasks_100/test.jsonl", online_format="parquet",
                                online="hf://datasets/elyza/ELYZA-tasks-100@refs%2Fconvert%2Fparquet/default/test/0000.parquet")},
        eval_split="test", train_split=None, sampler="first_n", scorer=ElyzaScorer,
        metrics=(Metric("score", pooled_mean, stderr=document_stderr), Metric("n_judge_failed", total, False)),
        headline=Headline("score", 1.0, "ELYZA score", scale="1–5"),
        versions=(TaskVersion(None, None, number=1.0),), conversation=True, judged=True,
    ),),
)
