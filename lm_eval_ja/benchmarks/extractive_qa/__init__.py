"""Question answering by greedy generation, scored with jasquad EM/F1: JSQuAD, JaQuAD, JAQKET v2 (+ closed book).

Generation stops at the template's SEP and is capped at the longest gold answer's token count under the
evaluated model's tokenizer, as the reference's ``hf-causal`` did (it leaks the answer length; kept for
comparability). JAQKET v2 shows the top-5 DPR-retrieved passages (as ``kumapo/JAQKET`` v2.0 builds them) and
re-draws a prompt longer than ``max_length`` minus that cap with one shot fewer. Metrics: jasquad exact match
and F1 on the 0–100 scale (:mod:`lm_eval_ja.metrics.jasquad`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lm_eval_ja.benchmarks.spec import Benchmark, Family, Headline, Metric, Source, TaskVersion
from lm_eval_ja.data import read_jsonl
from lm_eval_ja.errors import UserError
from lm_eval_ja.metrics.jasquad import exact_match_agg, f1_agg, jasquad_scores
from lm_eval_ja.requests import generation
from lm_eval_ja.scorers import per_document

JGLUE = "https://raw.githubusercontent.com/yahoojapan/JGLUE/28cfe195676a8b9c3e991a5f2aac05c6f87e2b3f/datasets"
JAQUAD = "hf://datasets/SkelterLabsInc/JaQuAD@refs%2Fconvert%2Fparquet/default"
JAQKET = "https://huggingface.co/datasets/kumapo/JAQKET/resolve/main"
AIO = "https://raw.githubusercontent.com/cl-tohoku/quiz-datasets/aabe06f84bb173fff2ac395a52dc59870cb224e1/data/aio"

#: Retrieved passages kept per JAQKET v2 question (kumapo/JAQKET ``num_contexts``, as the reference loads it).
JAQKET_NUM_CONTEXTS = 5


# ----------------------------------------------------------------------------------------------- data


def read_jaqket_dpr(path: Path) -> list[dict[str, Any]]:
    """JAQKET v2 with retrieved passages, as kumapo/JAQKET v2.0 builds it from the AIO2 DPR files.

    Input: the DPR retrieval JSON (an array, or JSON Lines) of ``{qid, question, answers: [str], ctxs: [{id,
    title, text, score, has_answer}]}``. Only the first 5 passages are kept and questions without an
    answer-bearing passage among them are dropped. Output rows use the Hugging Face layout: ``answers``
    ``{text[], answer_start[]}`` (start -1) and ``ctxs`` ``{id[], title[], text[], score[], has_answer[]}``.
    Rows already in that layout are filtered the same way.
    """
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"Data file {path} is corrupt ({exc.msg}); replace it with the original file.") from None
    else:
        data = read_jsonl(path)
    rows = []
    try:
        for item in data:
            ctxs = item["ctxs"]
            if isinstance(ctxs, dict):  # already column-wise (Hugging Face layout)
                ctxs = [dict(zip(ctxs, values)) for values in zip(*ctxs.values())]
            ctxs = ctxs[:JAQKET_NUM_CONTEXTS]
            if not any(c["has_answer"] for c in ctxs):
                continue
            answers = item["answers"]
            texts = list(answers["text"]) if isinstance(answers, dict) else list(answers)
            rows.append({
                "qid": item["qid"],
                "question": item["question"],
                "answers": {"text": texts, "answer_start": [-1] * len(texts)},
                "ctxs": {key: [float(c[key]) if key == "score" else c[key] for c in ctxs]
                         for key in ("id", "title", "text", "score", "has_answer")},
            })
    except (KeyError, TypeError) as exc:
        raise UserError(f"Data file {path} is not JAQKET v2 retrieval data (missing {exc}); replace it with the "
                        f"original file.") from None
    return rows


def convert_jsquad(row: dict[str, Any]) -> dict[str, Any]:
    # The reference shows only the paragraph: JGLUE contexts start with "title [SEP] "; JaQuAD contexts have no
    # "[SEP]", so the same rule yields the whole stripped context (as the reference).
    return {**row, "context": row["context"].split("[SEP]")[-1].strip(), "answer": row["answers"]["text"][0]}


def convert_jaqket_v2(row: dict[str, Any]) -> dict[str, Any]:
    ctxs = row["ctxs"]
    titles, texts = list(ctxs["title"]), list(ctxs["text"])
    out = {**row, "answer": row["answers"]["text"][0]}
    for i in range(JAQKET_NUM_CONTEXTS):
        out[f"title{i}"] = titles[i] if i < len(titles) else ""
        out[f"text{i}"] = texts[i] if i < len(texts) else ""
    return out


def convert_aio(row: dict[str, Any]) -> dict[str, Any]:
    # AI王 TSV rows: the gold is original_answer (original_additional_info is free text, not an answer list).
    answer = row["original_answer"]
    return {"qid": row["qid"], "question": row["original_question"], "answer": answer,
            "answers": {"text": [answer]}, "additional_info": row.get("original_additional_info") or ""}


# ----------------------------------------------------------------------------------------------- requests


def gold_answer_tokens(task, doc) -> int | None:
    """Token count of the longest gold answer (the reference hf-causal generation cap); None without a tokenizer."""
    if task.facts.tokenizer is None:
        return None
    return max(len(task.facts.encode(a)) for a in doc["answers"]["text"])


def gold_answer_capped(task, doc, ctx, kwargs):
    """Stop at the template's SEP, at most the longest gold answer's token count (reference ``hf-causal``)."""
    return generation(task, doc, ctx, kwargs, [task.template.sep], gold_answer_tokens(task, doc))


def budget_minus_gold_answer(task, doc) -> int | None:
    """JAQKET v2: ``max_length - longest gold answer tokens``."""
    cap = gold_answer_tokens(task, doc)
    return None if cap is None else task.facts.max_length - cap


def score_jasquad(task, doc, results) -> dict[str, Any]:
    return jasquad_scores(results[0], doc["answers"]["text"])


# ----------------------------------------------------------------------------------------------- specs

_QA = dict(
    output_type="generate_until", convert=convert_jsquad, requests=gold_answer_capped, default_target="{answer}",
    generation_kwargs={"until": ["\n"], "do_sample": False},  # "until" is replaced per request by the SEP
    scorer=per_document(score_jasquad),
    metrics=(Metric("exact_match", exact_match_agg), Metric("f1", f1_agg)),
    headline=Headline("exact_match", 1.0, "exact_match"),  # jasquad EM is already 0–100
)

FAMILY = Family(
    order=20,
    name="extractive_qa",
    readers={"jaqket_dpr": read_jaqket_dpr},
    benchmarks=(
        Benchmark(
            name="jsquad", display_name="JSQuAD",
            title="JSQuAD (JGLUE v1.1, CC BY-SA 4.0): extractive reading comprehension; offline the shots come "
                  "from jsquad-v1.3/test-v1.3.json (no article shared with valid-v1.1)",
            format="squad",
            sources={
                "validation": Source(local="jglue/datasets/jsquad-v1.1/valid-v1.1.json",
                                     online=f"{JGLUE}/jsquad-v1.1/valid-v1.1.json"),
                "train": Source(
                    local="jglue/datasets/jsquad-v1.1/train-v1.1.json", online=f"{JGLUE}/jsquad-v1.1/train-v1.1.json",
                    fallback="jglue/datasets/jsquad-v1.3/test-v1.3.json",
                    fallback_note="JSQuAD train-v1.1.json is missing; few-shot examples come from "
                                  "jsquad-v1.3/test-v1.3.json (shares no article with valid-v1.1), so shots differ "
                                  "from a run with the full train split"),
            },
            # Task version 1.2 adds the article title to the prompt.
            versions=(TaskVersion("1.1", "jsquad"), TaskVersion("1.2", "jsquad_title")), alias=("1.1", "0.1"),
            **_QA,
        ),
        Benchmark(
            name="jaquad", display_name="JaQuAD",
            title="JaQuAD (Skelter Labs, CC BY-SA 3.0): extractive QA on Wikipedia with JSQuAD's prompts; online "
                  "only (put the parquet files under <data_dir>/jaquad/ to run offline)",
            format="parquet",
            sources={"validation": Source(local="jaquad/validation.parquet", online=f"{JAQUAD}/validation/0000.parquet"),
                     "train": Source(local="jaquad/train.parquet", online=f"{JAQUAD}/train/0000.parquet")},
            versions=(TaskVersion("0.1", "jsquad"),), alias=("0.1", "0.1"), **_QA,
        ),
        Benchmark(
            name="jaqket_v2", display_name="JAQKET v2",
            title="JAQKET v2 (AI王 2nd; questions CC BY-SA 4.0, passages CC BY-SA 3.0): quiz QA over the top-5 "
                  "DPR passages (1,164 validation questions); online only (<data_dir>/jaqket_v2_dpr/ offline)",
            format="jaqket_dpr",
            sources={"validation": Source(local="jaqket_v2_dpr/dev_jaqket_59.350.json",
                                          online=f"{JAQKET}/dev_jaqket_59.350.json"),
                     "train": Source(local="jaqket_v2_dpr/train_jaqket_59.350.json",
                                     online=f"{JAQKET}/train_jaqket_59.350.json")},
            versions=(TaskVersion("0.2", "jaqket_v2"),), alias=("0.2", "0.1"),
            shot_budget=budget_minus_gold_answer, **{**_QA, "convert": convert_jaqket_v2},
        ),
        Benchmark(
            name="jaqket_v2_closedbook", display_name="JAQKET closed-book",
            title="JAQKET v2 closed-book (lm-eval-ja's own task): the 1,000 AI王 2nd-round dev questions "
                  "(cl-tohoku/quiz-datasets, CC BY-SA 4.0) without passages; shots from aio_01_dev1",
            format="tsv",
            sources={"validation": Source(local="jaqket_v2/data/aio/aio_02_dev.txt", online=f"{AIO}/aio_02_dev.txt"),
                     "train": Source(local="jaqket_v2/data/aio/aio_01_dev1.txt", online=f"{AIO}/aio_01_dev1.txt")},
            versions=(TaskVersion("1.0", "jaqket_v2_closedbook"),), alias=("1.0", "0.0"),
            **{**_QA, "convert": convert_aio},
        ),
    ),
)
