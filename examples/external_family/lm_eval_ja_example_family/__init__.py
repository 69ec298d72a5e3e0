"""An example benchmark family that lives outside lm-eval-ja: copy a word, scored by corpus-level chrF.

Two tasks, ``example_copy_kana-1.0-ex-1.0`` and ``example_copy_kanji-1.0-ex-1.0``: the model is shown a word and asked
to write it again; the answer is the generated line. The metric ``chrf`` is corpus-level (sacrebleu's chrF over all of
a task's (answer, word) pairs at once, not a mean of sentence scores), so it declares its own aggregation; the
group ``example_copy-1.0`` pools its two members' documents and computes chrF once over all of them.

Installing this package (``pip install examples/external_family``) is all it takes: its ``pyproject.toml`` names
``FAMILY`` in the entry-point group ``lm_eval_ja.benchmarks``; its prompts are ``prompts/`` beside this module. Data:
``example_copy/{kana,kanji}.jsonl`` and ``example_copy/shots.jsonl`` under ``--data_dir`` (``data/`` beside the
package in the repository).
"""

from __future__ import annotations

from typing import Any

from lm_eval_ja.benchmarks.spec import Benchmark, Family, Group, Headline, Metric, Source, TaskVersion
from lm_eval_ja.requests import generation
from lm_eval_ja.scorers import per_document


def corpus_chrf(items: list[tuple[str, str]]) -> float:
    """sacrebleu's corpus chrF (0–100) over every (answer, reference) pair."""
    import sacrebleu

    return sacrebleu.corpus_chrf([a for a, _ in items], [[r for _, r in items]]).score


def score(task, doc: dict[str, Any], responses) -> dict[str, Any]:
    """The item of one document: its (answer line, word) pair; exact match as a plain mean."""
    answer = responses[0].strip().split("\n")[0]
    return {"chrf": (answer, doc["word"]), "exact_match": float(answer == doc["word"])}


def request(task, doc, ctx, kwargs):
    """Stop at the end of the line, at most 16 new tokens."""
    return generation(task, doc, ctx, kwargs, ["\n"], 16)


def convert(row: dict[str, Any]) -> dict[str, Any]:
    return {"word": row["word"]}


def _task(script: str) -> Benchmark:
    return Benchmark(
        name=f"example_copy_{script}", display_name=f"copy ({script})",
        title=f"Example plug-in: copy a {script} word (corpus chrF)", output_type="generate_until", convert=convert,
        sources={"validation": Source(local=f"example_copy/{script}.jsonl"),
                 "train": Source(local="example_copy/shots.jsonl")},
        scorer=per_document(score), requests=request, default_target="{word}",
        metrics=(Metric("chrf", corpus_chrf), Metric("exact_match")),
        headline=Headline("chrf", 1.0, "chrF (corpus)"), versions=(TaskVersion("1.0", "example_copy"),),
        generation_kwargs={"until": ["\n"], "do_sample": False},
    )


FAMILY = Family(
    name="example_copy",
    benchmarks=(_task("kana"), _task("kanji")),
    groups=(Group("example_copy-1.0", "example_copy", ("example_copy_kana-1.0-ex-1.0", "example_copy_kanji-1.0-ex-1.0"),
                  (), "Both example copy tasks, their documents pooled", pooled=True),),
)
