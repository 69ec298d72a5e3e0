"""JGLUE classification by log-likelihood: JCommonsenseQA, JNLI, MARC-ja and JCoLA (jp-stable tasks).

Every choice (or label string) is scored as the continuation of the prompt, without a leading space, in choice
order; the prediction is the most likely one (ties go to the first). ``acc_norm`` divides each log-likelihood
by the choice's length in characters. JNLI and MARC-ja also report the reference's balanced accuracy, MCC
(bootstrap stderr) and macro-F1; JCoLA reports only those, with the CoLA rule.

Task versions: JNLI 1.1 (English labels, plain shots: the version of every published JNLI number) and 1.3
(含意/矛盾/中立, stratified shots); plain names point where the reference's registry points.
"""

from __future__ import annotations

from typing import Any

from lm_eval_ja.benchmarks.spec import Benchmark, Family, Headline, Metric, Source, TaskVersion
from lm_eval_ja.metrics.classification import balanced_mean, macro_f1
from lm_eval_ja.requests import loglikelihood_per_choice
from lm_eval_ja.scorers import per_document

JGLUE = "https://raw.githubusercontent.com/yahoojapan/JGLUE/28cfe195676a8b9c3e991a5f2aac05c6f87e2b3f/datasets"
JGLUE_PARQUET = "hf://datasets/shunk031/JGLUE@refs%2Fconvert%2Fparquet"
JCOLA = "https://raw.githubusercontent.com/osekilab/JCoLA/736d9eef3af04bb17e4cf59adf01325973234ff9/data/jcola-v1.0"

JNLI_LABELS = ("entailment", "contradiction", "neutral")
JNLI_LABELS_JA = ("含意", "矛盾", "中立")
MARC_LABELS = ("positive", "negative")
MARC_LABELS_JA = ("ポジティブ", "ネガティブ")
#: continuations with the leading space, in the reference's request order: acceptable first
JCOLA_LABELS = (" はい", " いいえ")


def _jglue(name: str, split: str) -> Source:
    return Source(local=f"jglue/datasets/{name}-v1.1/{split}-v1.1.json", online=f"{JGLUE}/{name}-v1.1/{split}-v1.1.json")


def _label_index(value: Any, names: tuple[str, ...]) -> int:
    if isinstance(value, str):
        if value not in names:
            raise ValueError(f"label {value!r} is not one of {', '.join(names)}")
        return names.index(value)
    return int(value)


# ----------------------------------------------------------------------------------------------- converters


def convert_jcommonsenseqa(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "choices": [row[f"choice{i}"] for i in range(5)], "label": int(row["label"])}


def convert_jnli(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "label": _label_index(row["label"], JNLI_LABELS)}


def convert_marc_ja(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "label": _label_index(row["label"], MARC_LABELS)}


def convert_jcola(row: dict[str, Any]) -> dict[str, Any]:
    # label becomes the index of the continuation (0 = " はい"); the 0/1 judgement stays as `acceptable`.
    acceptable = int(row["label"])
    return {**row, "acceptable": acceptable, "label": 0 if acceptable == 1 else 1}


# ----------------------------------------------------------------------------------------------- scoring


def score_choice(task, doc, results) -> dict[str, Any]:
    """acc, acc_norm (log-likelihood per character) and the balanced-metric items; ties go to the first choice."""
    import numpy as np

    choices = task.doc_to_choice(doc)
    lls = np.array([r[0] for r in results], dtype=float)
    gold = int(doc["label"])
    pred = int(np.argmax(lls))
    pred_norm = int(np.argmax(lls / np.array([float(len(c)) for c in choices])))
    acc = 1.0 if pred == gold else 0.0
    return {
        "acc": acc,
        "acc_norm": 1.0 if pred_norm == gold else 0.0,
        "balanced_acc": (acc, gold),
        "mcc": (gold, pred),
        "macro_f1": (gold, pred),
    }


def score_cola(task, doc, results) -> dict[str, Any]:
    """JCoLA (CoLA): acceptable iff ll(" はい") > ll(" いいえ") (ties: unacceptable); gold = 1 acceptable."""
    ll_yes, ll_no = results[0][0], results[1][0]
    pred = 1 if ll_yes > ll_no else 0
    gold = int(doc["acceptable"])
    return {"balanced_acc": (1.0 if pred == gold else 0.0, gold), "mcc": (gold, pred), "macro_f1": (gold, pred)}


# ----------------------------------------------------------------------------------------------- specs

ACC = (Metric("acc"), Metric("acc_norm"))
BALANCED = (Metric("balanced_acc", balanced_mean), Metric("mcc", "matthews_corrcoef", stderr="bootstrap"), Metric("macro_f1", macro_f1))
ACC_HEADLINE = Headline("acc", 100.0, "acc×100")
_CHOICE = dict(output_type="multiple_choice", requests=loglikelihood_per_choice, default_target="{gold_choice}")

FAMILY = Family(
    order=10,
    name="jglue_choice",
    benchmarks=(
        Benchmark(
            name="jcommonsenseqa", display_name="JCommonsenseQA",
            title="JCommonsenseQA (JGLUE v1.1, CC BY-SA 4.0): five-way commonsense multiple choice, scored by the "
                  "log-likelihood of each choice text",
            convert=convert_jcommonsenseqa,
            sources={"validation": _jglue("jcommonsenseqa", "valid"), "train": _jglue("jcommonsenseqa", "train")},
            scorer=per_document(score_choice), metrics=ACC, headline=ACC_HEADLINE,
            versions=(TaskVersion("1.1", "jcommonsenseqa"),), alias=("1.1", "0.1"), **_CHOICE,
        ),
        Benchmark(
            name="jnli", display_name="JNLI",
            title="JNLI (JGLUE v1.1, CC BY-SA 4.0): natural language inference, three labels scored by "
                  "log-likelihood; offline the shots come from the 823 genuine train pairs of JNLI-Neg",
            convert=convert_jnli,
            sources={
                "validation": _jglue("jnli", "valid"),
                "train": Source(
                    local="jglue/datasets/jnli-v1.1/train-v1.1.json", online=f"{JGLUE}/jnli-v1.1/train-v1.1.json",
                    fallback="jnli_train_partial/jnli_train-v1.1_subset_from_JNLI-Neg.jsonl",
                    fallback_note="JNLI train-v1.1.json is missing; few-shot examples come from the 823 JNLI train "
                                  "pairs in jnli_train_partial/ (JNLI-Neg subset), so shots differ from a run with the "
                                  "full train split"),
            },
            scorer=per_document(score_choice), metrics=ACC + BALANCED, headline=ACC_HEADLINE,
            versions=(TaskVersion("1.1", "jnli", labels=JNLI_LABELS),
                      TaskVersion("1.3", "jnli", labels=JNLI_LABELS_JA, stratified=True)),
            alias=("1.3", "0.2"), **_CHOICE,
        ),
        Benchmark(
            name="marc_ja", display_name="MARC-ja",
            title="MARC-ja (JGLUE v1.1; Amazon review sentiment, not redistributable): positive / negative by "
                  "log-likelihood; offline put JGLUE's preprocessed files under jglue/datasets/marc_ja-v1.1/",
            convert=convert_marc_ja,
            sources={
                "validation": Source(local="jglue/datasets/marc_ja-v1.1/valid-v1.1.json",
                                     online=f"{JGLUE_PARQUET}/MARC-ja/jglue-validation.parquet", online_format="parquet"),
                "train": Source(local="jglue/datasets/marc_ja-v1.1/train-v1.1.json",
                                online=f"{JGLUE_PARQUET}/MARC-ja/jglue-train.parquet", online_format="parquet"),
            },
            scorer=per_document(score_choice), metrics=ACC + BALANCED, headline=ACC_HEADLINE,
            versions=(TaskVersion("1.1", "marc_ja", labels=MARC_LABELS_JA),), alias=("1.1", "0.2"), **_CHOICE,
        ),
        Benchmark(
            name="jcola", display_name="JCoLA",
            title="JCoLA v1.0 (osekilab/JCoLA, CC BY-SA 4.0): acceptability, ll(' はい') vs ll(' いいえ') (ties: "
                  "unacceptable); in-domain validation (865), stratified shots from in-domain train",
            convert=convert_jcola,
            sources={
                "validation": Source(local="jcola/data/jcola-v1.0/in_domain_valid-v1.0.json",
                                     online=f"{JCOLA}/in_domain_valid-v1.0.json"),
                "train": Source(local="jcola/data/jcola-v1.0/in_domain_train-v1.0.json",
                                online=f"{JCOLA}/in_domain_train-v1.0.json"),
            },
            scorer=per_document(score_cola), metrics=BALANCED,
            headline=Headline("balanced_acc", 100.0, "balanced_acc×100 (JCoLA reports no acc)"),
            versions=(TaskVersion("0.2", "jcola", labels=JCOLA_LABELS, stratified=True),), alias=("0.2", "0.0"),
            plain_name_prompt="0.0", **_CHOICE,
        ),
    ),
)
