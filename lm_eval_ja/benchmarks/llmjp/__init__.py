"""llm-jp-eval-style generation tasks: JSTS, JEMHopQA, NIILC, JaNLI, Jamp, JSICK, JSeM, MAWPS-ja.

The instruction prompt (``prompt_templates/llmjp-1.0.yaml``, keys ``llmjp_*``) is assembled by lm-eval (so
``--apply_chat_template`` works as for any lm-eval task); the model writes the answer greedily after
``### 応答:\\n``, stopped at a blank line or the task's ``max_gen_toks``; the answer is the first non-empty line
(:func:`lm_eval_ja.normalize.answer_line`). Shots are the first n of the shot pool, the same for every document
(shuffled once with ``random.Random(seed)``, except MAWPS-ja's exemplars). Every metric is on the 0–1 scale, as
llm-jp-eval reports it; ``fuzzy_ratio`` is what llm-jp-eval calls ``char_f1``. Sources, splits and how the
numbers compare: docs/tasks_llmjp.md.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import lm_eval_ja.splits as splits
from lm_eval_ja.benchmarks.spec import Benchmark, Family, Headline, Metric, Source, TaskVersion
from lm_eval_ja.data import xml_root, xml_text
from lm_eval_ja.metrics.llmjp import UNPARSED_SIMILARITY, char_f1, fuzzy_ratio, pearson_agg, spearman_agg
from lm_eval_ja.normalize import answer_line, first_number, last_number, normalize_chars, normalize_label, numbers_equal
from lm_eval_ja.scorers import per_document

PROMPT = "llmjp-1.0"
JGLUE = "https://raw.githubusercontent.com/yahoojapan/JGLUE/28cfe195676a8b9c3e991a5f2aac05c6f87e2b3f/datasets"
JEMHOPQA = "https://raw.githubusercontent.com/aiishii/JEMHopQA/fed5024f4f39f02727e699cb7ccb67935a779a5a/corpus"
NIILC = "https://raw.githubusercontent.com/mynlp/niilc-qa/b6d47968b2e301a5e953fb1922a08ed56099646b/data"
JANLI = "https://raw.githubusercontent.com/verypluming/JaNLI/2bbb63622570f7b20abc118146141b501efe5183"
JAMP = "https://raw.githubusercontent.com/tomo-ut/temporalNLI_dataset/f578b5daac7bff3855d238c032a60fd047cddd9c/dataset"
JSICK = "https://raw.githubusercontent.com/verypluming/JSICK/b3034994192fae2f41b5937bcf69544e4282fc39/jsick"
JSEM = "https://raw.githubusercontent.com/DaisukeBekki/JSeM/c2cd39168e267007b4690dbf625329bac57a8185/data/v1.0"
MAWPS = ("https://raw.githubusercontent.com/nlp-waseda/chain-of-thought-ja-dataset/"
         "2ad9fcbc597e70424f0b40ee2749570ba3f581bf/dataset/mawps")

JSEM_LABELS = ("yes", "no", "unknown", "undef")
JSEM_FILES = ("Adjectives", "Adverb", "Attitudes", "AuxiliaryVerb", "CaseParticle", "Comparatives",
              "CompoundAdjective", "CompoundVerb", "Conditional", "Conjunction", "Coordination", "Ellipsis",
              "GeneralizedQuantifier", "Modality", "NP", "NewAdjective", "NominalAnaphora", "Plurals", "Question",
              "TemporalReference", "Toritate", "Verbs")


# ----------------------------------------------------------------------------------------------- readers


def read_niilc_xml(path: Path) -> list[dict[str, Any]]:
    """NIILC-ECQA2015: one row per <question> with its id, text and list of answers."""
    return [
        {"id": q.get("id"), "question": xml_text(q.find("text")),
         "answers": [xml_text(a) for a in q.iter("answer") if xml_text(a)]}
        for q in xml_root(path).iter("question")
    ]


def read_jsem_xml(path: Path) -> list[dict[str, Any]]:
    """JSeM: one row per <problem>: its attributes, premises (<p>, in order) and hypothesis (<h>)."""
    rows = []
    for prob in xml_root(path).iter("problem"):
        rows.append({
            "jsem_id": prob.get("jsem_id", ""),
            "answer": prob.get("answer", ""),
            "inference_type": prob.get("inference_type", ""),
            "phenomena": prob.get("phenomena", ""),
            "premises": [xml_text(p.find("script")) for p in prob.findall("p")],
            "hypothesis": xml_text(prob.find("h/script")),
        })
    return rows


# ----------------------------------------------------------------------------------------------- converters
# Each document has ``id``, the fields its template uses, ``output`` (the gold answer string: shown after a shot,
# and the gold of label / number exact match) and, for QA, ``golds`` (every string an answer is scored against).
# Upstream fields that are not flat strings or numbers are dropped (datasets cannot store JEMHopQA's mixed-type
# derivations). ``None`` means the row is not an item of the task (it is counted and skipped).


def convert_jsts(row: dict[str, Any]) -> dict[str, Any]:
    score = float(row["label"])
    return {"id": str(row["sentence_pair_id"]), "sentence1": row["sentence1"], "sentence2": row["sentence2"],
            "score": score, "output": f"{score:.1f}"}


def convert_jemhopqa(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["qid"], "type": row.get("type", ""), "question": row["question"],
            "output": row["answer"], "golds": [row["answer"]]}


def convert_niilc(row: dict[str, Any]) -> dict[str, Any] | None:
    answers = [a for a in row["answers"] if a]
    if not answers:
        return None
    # llm-jp-eval scores against the answers joined by commas (its fuzzy ratio splits on punctuation, so
    # the separator does not matter); char F1 / exact match also accept each single answer.
    joined = "、".join(answers)
    golds = answers + ([joined] if len(answers) > 1 else [])
    return {"id": row["id"], "question": row["question"], "output": joined, "golds": golds}


def convert_janli(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(row[""]), "premise": row["sentence_A_Ja"], "hypothesis": row["sentence_B_Ja"],
            "output": row["entailment_label_Ja"], "heuristics": row["heuristics"], "split": row["split"]}


def convert_jamp(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(row["num"]), "premise": row["premise"], "hypothesis": row["hypothesis"],
            "output": row["gold_label"], "category": row["category"]}


def convert_jsick(row: dict[str, Any]) -> dict[str, Any]:
    # Only the Japanese columns (the English ones are SICK's, CC BY-NC-SA 3.0).
    return {"id": str(row["pair_ID"]), "premise": row["sentence_A_Ja"], "hypothesis": row["sentence_B_Ja"],
            "output": row["entailment_label_Ja"]}


def convert_jsem(row: dict[str, Any]) -> dict[str, Any] | None:
    # Only the NLI problems; acceptability judgements (unacceptable, weakacceptable, ...) and empty answers go.
    if row["answer"] not in JSEM_LABELS or not row["hypothesis"] or not any(row["premises"]):
        return None
    return {"id": f"{row['file']}/{row['jsem_id']}", "premise": "".join(row["premises"]),
            "hypothesis": row["hypothesis"], "output": row["answer"], "phenomena": row["phenomena"]}


def convert_mawps(row: dict[str, Any]) -> dict[str, Any] | None:
    """A test.json item, or a shot_example.json CoT shot (its question and the number after 答えは)."""
    if "shot_example" in row:
        m = re.match(r"問題：(.*?)\n解答：.*答えは\s*([-0-9.,/]+)\s*です", row["shot_example"], re.S)
        if m is None:
            return None
        question, answer = m.group(1), m.group(2)
        return {"id": f"shot-{answer}", "question": question.strip(), "output": answer}
    question = re.sub(r"\n?解答：\s*$", "", row["question"].strip())
    question = re.sub(r"^問題：", "", question)
    float(str(row["answer"]))  # the gold is a number (a unit such as "43個" is refused with its file and line)
    return {"id": str(row["idx"]), "question": question.strip(), "output": str(row["answer"])}


# ----------------------------------------------------------------------------------------------- scoring


def score_label(task, doc, results) -> dict[str, Any]:
    """``exact_match`` of the answer line against ``doc["output"]`` as label strings."""
    return {"exact_match": float(normalize_label(answer_line(results[0])) == normalize_label(doc["output"]))}


def score_qa(task, doc, results) -> dict[str, Any]:
    """``exact_match`` and ``char_f1`` (max over ``doc["golds"]``), ``fuzzy_ratio`` against ``doc["output"]``."""
    answer = answer_line(results[0])
    golds = doc["golds"]
    return {
        "exact_match": float(any(normalize_chars(answer) == normalize_chars(g) for g in golds)),
        "char_f1": max(char_f1(answer, g) for g in golds),
        "fuzzy_ratio": fuzzy_ratio(answer, doc["output"]),
    }


def score_number(task, doc, results) -> dict[str, Any]:
    """``exact_match`` of the answer line's last number and the gold number."""
    return {"exact_match": float(numbers_equal(last_number(answer_line(results[0])), float(doc["output"])))}


def score_similarity(task, doc, results) -> dict[str, Any]:
    """``pearson`` / ``spearman`` items ``(predicted, gold)``; the prediction is the answer line's first number,
    :data:`~lm_eval_ja.metrics.llmjp.UNPARSED_SIMILARITY` if it has none."""
    value = first_number(answer_line(results[0]))
    pred = UNPARSED_SIMILARITY if value is None else value
    gold = float(doc["score"])
    return {"pearson": (pred, gold), "spearman": (pred, gold)}


# ----------------------------------------------------------------------------------------------- specs

EXACT = (Metric("exact_match"),)
QA = (Metric("exact_match"), Metric("char_f1"), Metric("fuzzy_ratio"))
EXACT_HEADLINE = Headline("exact_match", 100.0, "exact_match×100")
QA_HEADLINE = Headline("char_f1", 100.0, "char_f1×100")


def _gen(max_gen_toks: int) -> dict[str, Any]:
    return {"until": ["\n\n"], "max_gen_toks": max_gen_toks, "do_sample": False}


def _task(name: str, title: str, template: str, convert, sources, score, metrics, headline, max_gen_toks: int, *,
          version: str | None = None, **extra) -> Benchmark:
    return Benchmark(
        name=name, title=title, output_type="generate_until", convert=convert, sources=sources,
        scorer=per_document(score), metrics=metrics, headline=headline,
        versions=(TaskVersion(version, f"llmjp_{template}", number=1.0),),
        eval_split="test", prompt_style="lm-eval", sampler=extra.pop("sampler", "first_n_shuffled"), num_fewshot=4,
        default_target="{output}", generation_kwargs=_gen(max_gen_toks), **extra,
    )


def _pair(local: str, online: str, test: str, train: str) -> dict[str, Source]:
    return {"test": Source(local=f"{local}/{test}", online=f"{online}/{test}"),
            "train": Source(local=f"{local}/{train}", online=f"{online}/{train}")}


FAMILY = Family(
    order=60,
    name="llmjp",
    readers={"niilc_xml": read_niilc_xml, "jsem_xml": read_jsem_xml},
    benchmarks=(
        _task("jsts", "JSTS (JGLUE v1.1, CC BY-SA 4.0): sentence-pair similarity 0.0–5.0 generated as a number; "
              "valid-v1.1 (1,457) evaluated", "jsts", convert_jsts,
              {"test": Source(local="jglue/datasets/jsts-v1.1/valid-v1.1.json", online=f"{JGLUE}/jsts-v1.1/valid-v1.1.json"),
               "train": Source(local="jglue/datasets/jsts-v1.1/train-v1.1.json", online=f"{JGLUE}/jsts-v1.1/train-v1.1.json")},
              score_similarity, (Metric("pearson", pearson_agg), Metric("spearman", spearman_agg)),
              Headline("pearson", 100.0, "pearson×100"), 8, version="1.1", display_name="JSTS"),
        _task("jemhopqa", "JEMHopQA v1.0 (RIKEN, CC BY-SA 4.0): multi-hop QA, closed book; dev (120) evaluated",
              "jemhopqa", convert_jemhopqa, dict(_pair("jemhopqa/corpus", JEMHOPQA, "dev.json", "train.json")),
              score_qa, QA, QA_HEADLINE, 48, version="1.0", format="json", display_name="JEMHopQA"),
        _task("niilc", "NIILC-ECQA2015 (CC BY-SA 4.0): encyclopaedic questions, closed book; test (200) evaluated",
              "niilc", convert_niilc,
              _pair("niilc_qa/data", NIILC, "NIILC-ECQA2015_test.xml", "NIILC-ECQA2015_dev.xml"),
              score_qa, QA, QA_HEADLINE, 96, format="niilc_xml", display_name="NIILC"),
        _task("janli", "JaNLI (CC BY-SA 4.0): adversarial NLI, entailment / non-entailment; janli.tsv's split "
              "column gives test (720) and the shot pool", "janli", convert_janli,
              {"all": Source(local="janli/janli.tsv", online=f"{JANLI}/janli.tsv")},
              score_label, EXACT, EXACT_HEADLINE, 16, format="tsv", split=splits.column("split"),
              display_name="JaNLI"),
        _task("jamp", "Jamp (CC BY-SA 4.0): temporal NLI, entailment / contradiction / neutral; test_2 (348) "
              "evaluated", "jamp", convert_jamp, _pair("jamp/dataset", JAMP, "test_2.tsv", "train_all.tsv"),
              score_label, EXACT, EXACT_HEADLINE, 16, format="tsv", display_name="Jamp"),
        _task("jsick", "JSICK (CC BY-SA 4.0): NLI, entailment / contradiction / neutral, Japanese columns only; "
              "test (4,927) evaluated", "jsick", convert_jsick, _pair("jsick/jsick", JSICK, "test.tsv", "train.tsv"),
              score_label, EXACT, EXACT_HEADLINE, 16, format="tsv", display_name="JSICK"),
        _task("jsem", "JSeM v1.0 (BSD-3-Clause style): the NLI problems (yes / no / unknown / undef); no official "
              "split, so sha256(id) mod 1000 < 100 is the evaluated split (about 10%)", "jsem", convert_jsem,
              {name: Source(local=f"jsem/data/v1.0/{name}.xml", online=f"{JSEM}/{name}.xml") for name in JSEM_FILES},
              score_label, EXACT, EXACT_HEADLINE, 16, version="1.0", format="jsem_xml", split=splits.hashed(100),
              display_name="JSeM"),
        _task("mawps_ja", "MAWPS-ja (nlp-waseda chain-of-thought-ja-dataset, Apache-2.0): arithmetic word problems, "
              "answer only; test (1,000) evaluated, shots from the 8 exemplars in file order", "mawps", convert_mawps,
              _pair("mawps_ja/dataset/mawps", MAWPS, "test.json", "shot_example.json"),
              score_number, EXACT, EXACT_HEADLINE, 24, format="json", sampler="first_n", display_name="MAWPS-ja"),
    ),
)
