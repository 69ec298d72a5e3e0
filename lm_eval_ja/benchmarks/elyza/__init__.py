"""ELYZA-tasks-100 (ELYZA, CC BY-SA 4.0): 100 single-turn instructions judged by an LLM on 1–5, under two published
protocols (task versions, as MT-Bench's: :mod:`lm_eval_ja.benchmarks.mt_bench.protocols`).

``elyza_tasks_100`` (= ``elyza_tasks_100-flexeval``): flexeval 0.18.3's ``elyza_tasks_100_eval`` — the answer greedy
with 1024 new tokens, judged once with flexeval's prompt (the question, the example answer, the task's own grading
aspect ``eval_aspect`` and the answer); the rating is the last integer of the judge's output if it is between 1
and 5, else the judgment failed (left out of the mean, counted in ``n_judge_failed``). ``elyza_tasks_100-sarashina``:
Sarashina2.2's setup — sampled at temperature 0.7, top_p 0.9, repetition_penalty 1.05, 3 answers × 3 judgments,
its own judge prompt (「あなたは言語モデルの採点者です。」), the mean of the 9 runs' means. Online only (the
Hugging Face hub, split ``test``); offline put the rows (``input``, ``output``, ``eval_aspect``) in
``elyza_tasks_100/test.jsonl`` under ``--data_dir``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from lm_eval_ja.benchmarks.mt_bench import MTBenchScorer, ProtocolPlan, protocol_metrics
from lm_eval_ja.benchmarks.mt_bench import protocols as P
from lm_eval_ja.benchmarks.spec import Benchmark, Family, Headline, Source, TaskVersion

#: task version name -> protocol
PRESETS = {"flexeval": P.ELYZA_PROTOCOLS["elyza_flexeval"], "sarashina": P.ELYZA_PROTOCOLS["elyza_sarashina"]}


def parse_rating(judgment: str) -> float | None:
    """flexeval's ``parse_score_from_evaluator_output``: the last integer, if it lies in 1–5; else None."""
    return P.parse_rating(PRESETS["flexeval"], judgment)


def convert(row: dict[str, Any]) -> dict[str, Any]:
    key = hashlib.sha256(row["input"].encode("utf-8")).hexdigest()[:12]
    return {"question_id": key, "category": "elyza", "input": row["input"], "output": row["output"],
            "eval_aspect": row["eval_aspect"], "turns": [row["input"]], "references": [row["output"]]}


class ElyzaPlan(ProtocolPlan):
    presets = PRESETS


class ElyzaScorer(MTBenchScorer):
    """Judges every sample's answer ``num_judgments`` times with the protocol's prompt, in one batch for the task."""

    presets = PRESETS


def headline(protocol: P.Protocol) -> Headline:
    return Headline("score", 1.0, f"ELYZA score ({protocol.name})", scale=protocol.scale_label)


FAMILY = Family(
    order=90,
    name="elyza",
    benchmarks=(Benchmark(
        name="elyza_tasks_100", display_name="ELYZA-tasks-100",
        title="ELYZA-tasks-100 (ELYZA, CC BY-SA 4.0): 100 instructions judged 1–5 (flexeval's or Sarashina2.2's "
              "protocol); online only",
        output_type="generate_until", convert=convert,
        sources={"test": Source(local="elyza_tasks_100/test.jsonl", online_format="parquet",
                                online="hf://datasets/elyza/ELYZA-tasks-100@refs%2Fconvert%2Fparquet/default/test/0000.parquet")},
        eval_split="test", train_split=None, sampler="first_n", scorer=ElyzaScorer,
        metrics=protocol_metrics(PRESETS["flexeval"]), headline=headline(PRESETS["flexeval"]),
        versions=tuple(TaskVersion(None, None, number=1.0, protocol=name, metrics=protocol_metrics(p),
                                   headline=headline(p)) for name, p in PRESETS.items()),
        alias=(None, "flexeval"), conversation=True, conversation_plan=ElyzaPlan, judged=True,
    ),),
)
