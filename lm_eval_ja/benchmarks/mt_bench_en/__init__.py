"""English MT-Bench (lm-sys/FastChat, Apache-2.0): 80 two-turn questions judged 1–10 under FastChat's protocol — the
"MT Bench" column of the Sarashina2.2 evaluation.

Tasks ``mt_bench_en_<category>-fastchat`` and the pooled group ``mt_bench_en-fastchat`` (plain names: the same);
answered, judged and aggregated exactly as the Japanese ``fastchat`` protocol (:mod:`lm_eval_ja.benchmarks.mt_bench`),
with the English questions and GPT-4 references of ``mt_bench_en/``.
"""

from __future__ import annotations

from lm_eval_ja.benchmarks.mt_bench import (
    CATEGORIES,
    MTBenchScorer,
    ProtocolPlan,
    converter,
    headline,
    protocol_metrics,
)
from lm_eval_ja.benchmarks.mt_bench import protocols as P
from lm_eval_ja.benchmarks.spec import Benchmark, Family, Group, Source, TaskVersion

PROTOCOL = P.PROTOCOLS["mt_bench_en"]
#: task version name -> protocol
PRESETS = {"fastchat": PROTOCOL}
SOURCES = {"test": Source(local=PROTOCOL.questions), "reference": Source(local=PROTOCOL.references),
           "judge_prompts": Source(local=PROTOCOL.judge_prompts)}


class EnglishPlan(ProtocolPlan):
    presets = PRESETS


class EnglishScorer(MTBenchScorer):
    presets = PRESETS


def _category(category: str) -> Benchmark:
    return Benchmark(
        name=f"mt_bench_en_{category}", display_name=f"{category} (en)",
        title=f"MT-Bench (English), {category} (10 two-turn questions, judged 1–10 as FastChat)",
        output_type="generate_until", convert=converter(category), sources=SOURCES, eval_split="test",
        train_split=None, sampler="first_n", scorer=EnglishScorer, metrics=protocol_metrics(PROTOCOL),
        headline=headline(PROTOCOL), versions=(TaskVersion(None, None, number=1.0, protocol="fastchat"),),
        alias=(None, "fastchat"), conversation=True, conversation_plan=EnglishPlan, judged=True,
    )


_MEMBERS = tuple(f"mt_bench_en_{c}-fastchat" for c in CATEGORIES)
FAMILY = Family(
    name="mt_bench_en", order=85, benchmarks=tuple(_category(c) for c in CATEGORIES),
    groups=tuple(Group(name, name, _MEMBERS, (), "MT-Bench (English), all 8 categories (80 questions), FastChat",
                       headline=headline(PROTOCOL), pooled=True, column="mt_bench_en-fastchat")
                 for name in ("mt_bench_en-fastchat", "mt_bench_en")),
)
