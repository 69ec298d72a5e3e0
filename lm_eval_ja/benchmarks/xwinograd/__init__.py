"""XWinograd-ja (959 Winograd schemas, Apache-2.0 via yandex-research/crosslingual_winograd): 0-shot only.

No prompt: each of the two filled-in sentences is scored on its own after EOS (the context is empty and the
model wrapper puts the EOS token there); ``acc`` = the gold sentence is strictly more likely (ties count as wrong).
"""

from __future__ import annotations

from typing import Any

from lm_eval_ja.benchmarks.spec import Benchmark, Family, Headline, Metric, Source, TaskVersion
from lm_eval_ja.requests import loglikelihood_per_choice
from lm_eval_ja.scorers import per_document


def convert(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "choices": [row["sentence1"], row["sentence2"]], "label": int(row["answer"]) - 1}


def score(task, doc, results) -> dict[str, Any]:
    """Correct iff the gold sentence is strictly more likely (ties count as wrong)."""
    gold = int(doc["label"])
    return {"acc": 1.0 if results[gold][0] > results[1 - gold][0] else 0.0}


FAMILY = Family(
    order=40,
    name="xwinograd",
    benchmarks=(
        Benchmark(
            name="xwinograd_ja", display_name="XWinograd (ja)",
            title="XWinograd-ja (959 schemas, Apache-2.0): each filled-in sentence scored alone after EOS; 0-shot",
            output_type="multiple_choice", convert=convert,
            sources={"test": Source(
                local="xwinograd_ja/xwinograd_jp.jsonl", online_format="parquet",
                online="hf://datasets/polm-stability/xwinograd-ja@refs%2Fconvert%2Fparquet/default/test/0000.parquet")},
            eval_split="test", train_split=None, requests=loglikelihood_per_choice, zero_shot_only=True,
            scorer=per_document(score), metrics=(Metric("acc"),), headline=Headline("acc", 100.0, "acc×100"),
            versions=(TaskVersion(None, None, number=1.0),),
        ),
    ),
)
