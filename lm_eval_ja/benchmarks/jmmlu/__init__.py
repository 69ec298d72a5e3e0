"""JMMLU (nlp-waseda/JMMLU, 53 CC BY-SA 4.0 subjects): four-way multiple choice by log-likelihood.

One task per subject, ``jmmlu_<subject>-llmjp-1.0``, scored by the log-likelihood of ``A``..``D`` right after
``### 応答:\n`` (``prompt_templates/llmjp-1.0.yaml``, key ``llmjp_jmmlu``; the prompt names the subject in
Japanese). JMMLU has no dev split: the first 5 questions of each subject are its shot pool (the same shots, in
file order, for every question) and are never scored, so 0-shot and 5-shot runs score the same questions.
Groups: one per MMLU category and ``jmmlu-llmjp-1.0`` over all subjects, each reporting ``acc`` (micro: every
question weighs the same) and ``acc_macro`` (macro: every subject weighs the same). See docs/tasks_llmjp.md.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import lm_eval_ja.splits as splits
from lm_eval_ja.benchmarks.spec import Benchmark, Family, Group, Headline, Metric, Source, TaskVersion
from lm_eval_ja.errors import UserError
from lm_eval_ja.scorers import per_document

PROMPT = "llmjp-1.0"
SHOTS = 5  # the first SHOTS questions of each subject are its shot pool and are not scored
COMMIT = "762cbf192c9e4588b574d718f95afd64c96fcbf4"  # nlp-waseda/JMMLU
ONLINE = f"https://raw.githubusercontent.com/nlp-waseda/JMMLU/{COMMIT}/JMMLU"
LETTERS = ("A", "B", "C", "D")
CATEGORIES = ("stem", "humanities", "social_sciences", "other")

#: MMLU's category of each JMMLU subject that is an MMLU subject (lm-eval's tasks/mmlu/_generate_configs.py).
MMLU_CATEGORY = {
    "abstract_algebra": "stem", "anatomy": "stem", "astronomy": "stem", "business_ethics": "other",
    "clinical_knowledge": "other", "college_biology": "stem", "college_chemistry": "stem",
    "college_computer_science": "stem", "college_mathematics": "stem", "college_medicine": "other",
    "college_physics": "stem", "computer_security": "stem", "conceptual_physics": "stem",
    "econometrics": "social_sciences", "electrical_engineering": "stem", "elementary_mathematics": "stem",
    "formal_logic": "humanities", "global_facts": "other", "high_school_biology": "stem",
    "high_school_chemistry": "stem", "high_school_computer_science": "stem",
    "high_school_european_history": "humanities", "high_school_geography": "social_sciences",
    "high_school_macroeconomics": "social_sciences", "high_school_mathematics": "stem",
    "high_school_microeconomics": "social_sciences", "high_school_physics": "stem",
    "high_school_psychology": "social_sciences", "high_school_statistics": "stem", "human_aging": "other",
    "human_sexuality": "social_sciences", "international_law": "humanities", "jurisprudence": "humanities",
    "logical_fallacies": "humanities", "machine_learning": "stem", "management": "other", "marketing": "other",
    "medical_genetics": "other", "miscellaneous": "other", "moral_disputes": "humanities", "nutrition": "other",
    "philosophy": "humanities", "prehistory": "humanities", "professional_accounting": "other",
    "professional_medicine": "other", "professional_psychology": "social_sciences",
    "public_relations": "social_sciences", "security_studies": "social_sciences", "sociology": "social_sciences",
    "virology": "other", "world_religions": "humanities",
}
#: JMMLU subjects that are not MMLU subjects (questions written in Japan; STEP Corporation's copyright, see
#: docs/tasks_llmjp.md). Placed in humanities, as MMLU places its history subjects.
UNMAPPED_CATEGORY = {"japanese_history": "humanities", "world_history": "humanities"}

#: Japanese subject names from JMMLU's README (shown in the prompt), and the number of questions per file.
SUBJECTS = {
    "abstract_algebra": ("抽象代数", 99), "anatomy": ("解剖学", 132), "astronomy": ("天文学", 148),
    "business_ethics": ("ビジネス倫理", 86), "clinical_knowledge": ("臨床知識", 150),
    "college_biology": ("大学生物学", 143), "college_chemistry": ("大学化学", 99),
    "college_computer_science": ("大学コンピュータ科学", 99), "college_mathematics": ("大学数学", 99),
    "college_medicine": ("大学医学", 150), "college_physics": ("大学物理", 100),
    "computer_security": ("コンピュータセキュリティ", 99), "conceptual_physics": ("概念物理学", 150),
    "econometrics": ("計量経済学", 113), "electrical_engineering": ("電気工学", 144),
    "elementary_mathematics": ("初等数学", 150), "formal_logic": ("形式論理", 125), "global_facts": ("世界事実", 97),
    "high_school_biology": ("高校生物学", 148), "high_school_chemistry": ("高校化学", 149),
    "high_school_computer_science": ("高校情報科学", 98), "high_school_european_history": ("高校ヨーロッパ史", 150),
    "high_school_geography": ("高校地理", 150), "high_school_macroeconomics": ("高校マクロ経済学", 148),
    "high_school_mathematics": ("高校数学", 150), "high_school_microeconomics": ("高校ミクロ経済学", 149),
    "high_school_physics": ("高校物理", 150), "high_school_psychology": ("高校心理学", 150),
    "high_school_statistics": ("高校統計学", 150), "human_aging": ("人間の老化", 150),
    "human_sexuality": ("セクシュアリティ", 130), "international_law": ("国際法", 120),
    "japanese_history": ("日本史", 150), "jurisprudence": ("法理学", 107), "logical_fallacies": ("論理学", 150),
    "machine_learning": ("機械学習", 111), "management": ("経営学", 102), "marketing": ("マーケティング", 150),
    "medical_genetics": ("医学遺伝学", 99), "miscellaneous": ("雑学", 150), "moral_disputes": ("倫理的議論", 148),
    "nutrition": ("栄養学", 149), "philosophy": ("哲学", 150), "prehistory": ("先史学", 150),
    "professional_accounting": ("専門会計", 150), "professional_medicine": ("専門医学", 150),
    "professional_psychology": ("専門心理学", 150), "public_relations": ("公共関係", 109),
    "security_studies": ("セキュリティ研究", 150), "sociology": ("社会学", 150), "virology": ("ウイルス学", 150),
    "world_history": ("世界史", 150), "world_religions": ("世界宗教", 147),
}




def category(subject: str) -> str:
    return MMLU_CATEGORY.get(subject) or UNMAPPED_CATEGORY[subject]


def task_name(subject: str) -> str:
    return f"jmmlu_{subject}-{PROMPT}"


def group_name(cat: str | None = None) -> str:
    return f"jmmlu-{cat}-{PROMPT}" if cat else f"jmmlu-{PROMPT}"


def read_jmmlu_csv(path: Path) -> list[dict[str, Any]]:
    """JMMLU: CSV with a byte-order mark and no header; columns question, A, B, C, D, answer.

    Each row gets ``id`` = ``<subject>/<record number from 0>`` (the file name is the subject).
    """
    rows = []
    with path.open(encoding="utf-8-sig", newline="") as fh:  # plain utf-8 keeps the BOM and breaks quoting
        for lineno, values in enumerate(csv.reader(fh), 1):
            if not values:
                continue
            if len(values) != 6 or values[5].strip() not in LETTERS:
                raise UserError(f"Data file {path} is corrupt (record {lineno} is not question,A,B,C,D,answer); "
                                f"replace it with the original file.")
            rows.append({**dict(zip(("question", *LETTERS, "answer"), values)), "id": f"{path.stem}/{len(rows)}"})
    return rows


def convert(row: dict[str, Any]) -> dict[str, Any]:
    answer = row["answer"].strip()
    return {"question": row["question"], **{k: row[k] for k in LETTERS}, "label": LETTERS.index(answer),
            "output": answer, "id": row["id"]}


def score(task, doc, results) -> dict[str, Any]:
    """acc of the most likely letter (ties go to the first); ``acc_macro`` is the same item, averaged by subject
    in the groups."""
    lls = [r[0] for r in results]
    pred = max(range(len(lls)), key=lambda i: lls[i])
    acc = float(pred == int(doc["label"]))
    return {"acc": acc, "acc_macro": acc}


def _subject(subject: str) -> Benchmark:
    ja_name, n = SUBJECTS[subject]
    return Benchmark(
        name=f"jmmlu_{subject}", display_name=f"JMMLU {subject}",
        title=f"JMMLU {subject} ({n} questions; the first {SHOTS} are the shot pool and are not scored)",
        output_type="multiple_choice", convert=convert, format="jmmlu_csv",
        sources={"test": Source(local=f"jmmlu/JMMLU/{subject}.csv", online=f"{ONLINE}/{subject}.csv")},
        eval_split="test", split=splits.head(SHOTS), sampler="first_n", prompt_style="lm-eval", num_fewshot=SHOTS,
        default_target="{output}", scorer=per_document(score),
        metrics=(Metric("acc"), Metric("acc_macro")), headline=Headline("acc", 100.0, "acc×100"),
        versions=(TaskVersion(None, "llmjp_jmmlu", number=1.0, labels=LETTERS,
                              template_fields={"subject": ja_name}),),
    )


_AGGREGATES = (("acc", True), ("acc_macro", False))
_HEADLINE = Headline("acc", 100.0, "acc×100 (micro)")


def _groups() -> tuple[Group, ...]:
    groups = []
    for cat in CATEGORIES:
        members = tuple(task_name(s) for s in SUBJECTS if category(s) == cat)
        groups.append(Group(group_name(cat), cat, members, _AGGREGATES, f"JMMLU {cat} ({len(members)} subjects)",
                            headline=_HEADLINE))
    groups.append(Group(group_name(), "jmmlu", tuple(group_name(c) for c in CATEGORIES), _AGGREGATES,
                        f"JMMLU, all {len(SUBJECTS)} subjects", headline=_HEADLINE))
    return tuple(groups)


FAMILY = Family(
    order=70,
    name="jmmlu",
    readers={"jmmlu_csv": read_jmmlu_csv},
    benchmarks=tuple(_subject(s) for s in SUBJECTS),
    groups=_groups(),
)
