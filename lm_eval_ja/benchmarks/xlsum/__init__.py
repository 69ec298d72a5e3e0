"""XL-Sum ja (BBC Japanese, CC BY-NC-SA 4.0; ``mkshing/xlsum_ja``): news summarisation, evaluated on test (766).

Greedy generation stopped at the template's SEP, capped at the gold summary's token count + 10; an over-long
prompt is shortened sentence-wise with an equal token share per shot (the reference's ``preprocess_ctx``).
``rouge2`` is the reference's number — ROUGE-2 on the evaluated model's tokenizer pieces, bootstrap mid ×100, so it
depends on the tokenizer; ``rouge2_mecab`` is the same on MeCab words (comparable across models). Online only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lm_eval_ja.benchmarks.spec import Benchmark, Family, Headline, Metric, Source, TaskVersion
from lm_eval_ja.errors import UserError
from lm_eval_ja.metrics.rouge import MECAB, rouge2_agg, rouge2_score
from lm_eval_ja.requests import generation
from lm_eval_ja.scorers import per_document

PARQUET = "hf://datasets/mkshing/xlsum_ja@refs%2Fconvert%2Fparquet/default"


def truncate_prompt(ctx: str, max_length: int, encode: Callable[[str], list[int]],
                    decode: Callable[[list[int]], str], *, ctx_prompt: str, summary_prompt: str, sep: str,
                    collapse: tuple[str, str] | None = None) -> str:
    """The reference's XLSum ``preprocess_ctx``: give every shot and the query an equal share of tokens.

    A prompt of at most ``max_length`` tokens is returned unchanged. Otherwise it is cut into pieces at
    ``ctx_prompt`` (a first piece without ``summary_prompt`` is the description and is kept whole); each
    piece's article keeps its leading sentences (split on ``。``) while the joined sentences fit in
    ``max_length // pieces`` tokens, then gets ``。`` + SEP (a first sentence that alone is too long is cut
    token-wise and gets SEP); its summary follows unchanged. ``collapse`` (0.4) then replaces a doubled
    ``<NL>``. Difference from the reference: an article or summary containing ``summary_prompt`` is split
    at its last occurrence instead of crashing.
    """
    if len(encode(ctx)) <= max_length:
        return ctx
    pieces = [ctx_prompt + c for c in ctx.split(ctx_prompt)]
    description = ""
    if summary_prompt not in pieces[0]:
        description = pieces[0].replace(ctx_prompt, "")
        pieces = pieces[1:]
    per_piece = max_length // len(pieces)
    out = description
    for piece in pieces:
        text, _, summary = piece.rpartition(summary_prompt)
        keep: list[str] = []
        for sentence in text.split("。"):
            if len(encode("。".join(keep + [sentence]))) > per_piece:
                if keep:
                    keep[-1] += "。" + sep
                else:
                    keep.append(decode(encode(sentence)[:per_piece]) + sep)
                break
            keep.append(sentence)
        out += "。".join(keep) + summary_prompt + summary
    if collapse is not None:
        out = out.replace(*collapse)
    return out


def request(task, doc, ctx, kwargs):
    """Cap = gold summary tokens + 10; the prompt is shortened to ``max_length - cap`` tokens first."""
    tokenizer = task.facts.tokenizer
    cap = None
    if tokenizer is not None:
        cap = len(task.facts.encode(doc["summary"])) + 10
        extras = task.template.extras
        ctx = truncate_prompt(
            ctx, task.facts.max_length - cap, task.facts.encode,
            lambda ids: tokenizer.decode(ids, skip_special_tokens=True),
            ctx_prompt=extras["ctx_prompt"], summary_prompt=extras["summary_prompt"], sep=task.template.sep,
            collapse=(extras["collapse_from"], extras["collapse_to"]) if "collapse_from" in extras else None,
        )
    return generation(task, doc, ctx, kwargs, [task.template.sep], cap)


def score(task, doc, results) -> dict[str, Any]:
    """Per-document ROUGE-2 (precision, recall, F) items: model-tokenizer pieces and MeCab words."""
    prediction, reference = results[0], doc["summary"]
    out: dict[str, Any] = {}
    if "rouge2" in task.metric_names():
        if task.facts.tokenizer is None:
            raise UserError(f"{task.config.task}: rouge2 is computed with the evaluated model's tokenizer, which "
                            "the task does not know; run it through lm-eval-ja (main.py) or pass "
                            "model_args with pretrained= to lm-eval.")
        out["rouge2"] = rouge2_score(reference, prediction, task.facts.tokenizer)
    if "rouge2_mecab" in task.metric_names():
        out["rouge2_mecab"] = rouge2_score(reference, prediction, MECAB)
    return out


FAMILY = Family(
    order=30,
    name="xlsum",
    benchmarks=(
        Benchmark(
            name="xlsum_ja", display_name="XL-Sum (ja)",
            title="XL-Sum ja (BBC Japanese, CC BY-NC-SA 4.0; mkshing/xlsum_ja): news summarisation, test (766); "
                  "online only (put the parquet files under <data_dir>/xlsum_ja/ to run offline)",
            output_type="generate_until", convert=dict, format="parquet",
            sources={"test": Source(local="xlsum_ja/test.parquet", online=f"{PARQUET}/test/0000.parquet"),
                     "train": Source(local="xlsum_ja/train.parquet", online=f"{PARQUET}/train/0000.parquet")},
            eval_split="test", requests=request, default_target="{summary}",
            generation_kwargs={"until": ["\n"], "do_sample": False},  # "until" replaced by the template's SEP
            scorer=per_document(score),
            metrics=(Metric("rouge2", rouge2_agg), Metric("rouge2_mecab", rouge2_agg)),
            headline=Headline("rouge2", 1.0, "ROUGE-2"),
            versions=(TaskVersion("1.0", "xlsum_ja"),), alias=("1.0", "0.0"), plain_name_prompt="0.0",
        ),
    ),
)
