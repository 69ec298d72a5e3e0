"""MGSM-ja (Google url-nlp, CC BY 4.0): 250 grade-school maths problems with chain-of-thought shots.

Greedy generation until EOS or ``"\\n"`` (``hf-causal`` stops on EOS, then cuts at ``"\\n"``), at most the model's
``max_gen_toks`` (256). A prompt longer than ``max_length - max_gen_toks`` tokens is re-drawn with one shot fewer
from the same generator (reference behaviour). ``acc``: the reference extractor (last ASCII integer);
``acc_normalized``: the same after full-width digits and 万/億 numbers are rewritten (lm-eval-ja's, not
comparable with published numbers).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lm_eval_ja.benchmarks.spec import Benchmark, Family, Headline, Metric, Source, TaskVersion
from lm_eval_ja.errors import UserError
from lm_eval_ja.normalize import normalize_numbers
from lm_eval_ja.requests import generation
from lm_eval_ja.scorers import per_document

URL_NLP = "https://raw.githubusercontent.com/google-research/url-nlp/452a21ad3dae5668c06ceeac21ff073e1e40f9be/mgsm"

#: What :func:`extract_answer` returns when no integer answer can be read.
INVALID_ANSWER = "[invalid]"

_NUMBER_RE = re.compile(r"(\-?[0-9\.\,]+)")


def extract_answer(completion: str) -> int | str:
    """The reference MGSM answer: the last ASCII number in ``completion``, as an int.

    Last match of ``(\\-?[0-9\\.\\,]+)``; strip ``.`` at both ends, then delete ``,``; parse as a
    float; an integral value gives ``int``, anything else (no match, parse error, non-integer) gives
    ``"[invalid]"``. Full-width digits are not numbers here (``"１８"`` -> invalid).
    """
    matches = _NUMBER_RE.findall(completion)
    if not matches:
        return INVALID_ANSWER
    text = matches[-1].strip(".").replace(",", "")
    try:
        value = float(text)
    except ValueError:
        return INVALID_ANSWER
    if value.is_integer():
        return int(value)
    return INVALID_ANSWER


def mgsm_scores(completion: str, answer_number: Any) -> dict[str, float]:
    """Per-document ``acc`` (reference extractor) and ``acc_normalized`` (after :func:`normalize_numbers`)."""
    gold = int(answer_number)
    return {
        "acc": float(extract_answer(completion) == gold),
        "acc_normalized": float(extract_answer(normalize_numbers(completion)) == gold),
    }


def read_mgsm_tsv(path: Path) -> list[dict[str, Any]]:
    """The MGSM release's ``mgsm_<lang>.tsv`` (no header: question, answer) in the juletxara/mgsm layout."""
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            question, sep, answer = line.rstrip("\n").rpartition("\t")
            try:
                number = int(answer.strip().replace(",", ""))
            except ValueError:
                number = None
            if not sep or number is None:
                raise UserError(f"Data file {path} is not an MGSM TSV (line {lineno}); replace it with the original file.")
            rows.append({"question": question, "answer": None, "answer_number": number,
                         "answer_raw": answer.strip(), "equation_solution": None})
    return rows


def convert(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "question": row["question"].replace("問題：", ""),
        "answer_steps": (row.get("answer") or "").replace("ステップごとの答え：", ""),
        "answer_number": int(row["answer_number"]),
    }


def request(task, doc, ctx, kwargs):
    """Stop strings ``[eos_token, "\\n"]`` (hf-causal stops on EOS only, then cuts at "\\n"); the model's cap."""
    eos = getattr(task.facts.tokenizer, "eos_token", None) if task.facts.tokenizer is not None else None
    return generation(task, doc, ctx, kwargs, ([eos] if eos else []) + ["\n"], task.facts.max_gen_toks)


def budget(task, doc) -> int | None:
    """``max_length - max_gen_toks`` of the evaluated model."""
    return task.facts.max_length - task.facts.max_gen_toks if task.facts.tokenizer is not None else None


def score(task, doc, results) -> dict[str, Any]:
    return mgsm_scores(results[0], doc["answer_number"])


FAMILY = Family(
    order=50,
    name="mgsm",
    readers={"mgsm_tsv": read_mgsm_tsv},
    benchmarks=(
        Benchmark(
            name="mgsm", display_name="MGSM (ja)",
            title="MGSM ja (google-research/url-nlp, CC BY 4.0): 250 maths word problems, chain-of-thought shots "
                  "from the 8 exemplars",
            output_type="generate_until", convert=convert,
            sources={
                "test": Source(local="mgsm_ja/mgsm/mgsm_ja_test.jsonl", online=f"{URL_NLP}/mgsm_ja.tsv",
                               online_format="mgsm_tsv"),
                "train": Source(local="mgsm_ja/mgsm/mgsm_ja_train_exemplars.jsonl",
                                online="hf://datasets/juletxara/mgsm@refs%2Fconvert%2Fparquet/ja/train/0000.parquet",
                                online_format="parquet"),
            },
            eval_split="test", requests=request, shot_budget=budget, default_target="{answer_steps}",
            generation_kwargs={"until": ["\n"], "do_sample": False},  # "until" replaced by [eos_token, "\n"]
            scorer=per_document(score), metrics=(Metric("acc"), Metric("acc_normalized")),
            headline=Headline("acc", 100.0, "acc×100"),
            versions=(TaskVersion("1.0", "mgsm"),), alias=("1.0", "0.0"), plain_name_prompt="0.0",
        ),
    ),
)
