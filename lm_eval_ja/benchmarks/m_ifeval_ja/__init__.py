"""M-IFEval-ja (lightblue-tech/M-IFEval, Apache-2.0): the Japanese subset of the multilingual IFEval, 172 prompts
carrying 226 verifiable instructions, scored by rule (no judge) as upstream's ``evaluation_main`` scores them.

Task ``m_ifeval_ja``. Data: ``m_ifeval_ja/ja_input_data.jsonl`` under ``--data_dir``, else upstream's
``data/ja_input_data.jsonl`` at the pinned commit :data:`UPSTREAM_COMMIT` (raw.githubusercontent.com). Every row's
instructions are checked when the data is read: an instruction id with no checker, or arguments a checker cannot
take, refuse the file before the model loads (one line naming the file, the line and the id).

Asking: one chat turn per prompt (the prompt as the user message, the model's chat template applied:
``--apply_chat_template``), greedy, :data:`MAX_NEW_TOKENS` new tokens (lm-eval's ``ifeval``: 1280;
``--max_gen_toks`` overrides it, said once), one answer per prompt. A reasoning model's ``<think>…</think>`` is
removed before checking (``--think_tags``, as in every chat task); the raw answer stays in the sample log.

Scoring (``checkers.evaluate``, which gives upstream's verdicts on its recorded responses): the metrics and the
per-sample fields are lm-eval ``ifeval``'s — ``prompt_level_strict_acc`` / ``prompt_level_loose_acc`` (a bool per
prompt: every instruction followed; the mean over prompts, with its standard error) and ``inst_level_strict_acc`` /
``inst_level_loose_acc`` (a list of bools per prompt; the mean over all instructions pooled, lm-eval's
``agg_inst_level_acc``, no standard error as in lm-eval). The language detector's seed
(``checkers.LANGDETECT_SEED``) and the checkers' upstream commit are recorded in result.json
(``config.lm_eval_ja.data_sources.m_ifeval_ja.derived``). The checkers need the ``ifeval`` extra
(``pip install 'lm-eval-ja[ifeval]'``: langdetect, janome, ja-sentence-segmenter); without it the registry still
loads, and a run of the task stops before anything is read with one line saying what to install. See
``docs/instruction-following.md``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from typing import Any

from lm_eval_ja.benchmarks.spec import (
    Benchmark,
    Family,
    Headline,
    Metric,
    Source,
    TaskVersion,
)
from lm_eval_ja.chat import DefaultPlan
from lm_eval_ja.errors import UserError
from lm_eval_ja.splits import SplitPolicy

#: lightblue-tech/M-IFEval, the commit whose data and checkers this task reproduces.
UPSTREAM_COMMIT = "0bc3143a919eef2f9ec64aa26da8a546086653de"
UPSTREAM = f"https://raw.githubusercontent.com/lightblue-tech/M-IFEval/{UPSTREAM_COMMIT}"

#: New tokens per answer: lm-eval's ``ifeval`` (``max_gen_toks: 1280``, greedy, no stop string).
MAX_NEW_TOKENS = 1280

#: The ``ifeval`` extra: the libraries the checkers use (upstream's), imported only when the task is run.
EXTRA = {"langdetect": "langdetect", "janome": "janome", "ja_sentence_segmenter": "ja-sentence-segmenter"}
INSTALL = "pip install 'lm-eval-ja[ifeval]'"

METRIC_NAMES = ("prompt_level_strict_acc", "inst_level_strict_acc", "prompt_level_loose_acc", "inst_level_loose_acc")


def requirements(run_options: dict[str, Any] | None = None) -> None:
    """The checkers' libraries are installed (checked before anything is read or loaded)."""
    missing = [dist for module, dist in EXTRA.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise UserError(f"m_ifeval_ja checks answers with {', '.join(missing)}, which is not installed: "
                        f"{INSTALL}")


def _checkers():
    """:mod:`.checkers`, imported on first use (the registry imports this module without the extra)."""
    try:
        return importlib.import_module("lm_eval_ja.benchmarks.m_ifeval_ja.checkers")
    except ImportError as exc:
        raise UserError(f"m_ifeval_ja cannot load its checkers ({exc}); {INSTALL}") from None


def agg_inst_level_acc(items: list[list[bool]]) -> float | None:
    """lm-eval ``ifeval``'s instruction-level accuracy: every prompt's instruction verdicts pooled, then the mean."""
    flat = [bool(x) for verdicts in items for x in verdicts]
    return sum(flat) / len(flat) if flat else None


METRICS = (
    Metric("prompt_level_strict_acc", "mean"),
    Metric("inst_level_strict_acc", agg_inst_level_acc),
    Metric("prompt_level_loose_acc", "mean"),
    Metric("inst_level_loose_acc", agg_inst_level_acc),
)


def convert(row: dict[str, Any]) -> dict[str, Any]:
    """A row of ``ja_input_data.jsonl`` (``key``, ``prompt``, ``instruction_id_list``, ``kwargs``) as a one-turn
    conversation; every instruction's checker is built here, so bad data is refused before the model loads."""
    prompt, ids = row["prompt"], row["instruction_id_list"]
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("prompt is not a non-empty string")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise ValueError("instruction_id_list is not a non-empty list of instruction ids")
    checkers = _checkers()
    kwargs = row.get("kwargs")
    kwargs = [{} for _ in ids] if kwargs is None else kwargs
    if not isinstance(kwargs, list) or len(kwargs) != len(ids) or not all(isinstance(k, dict) for k in kwargs):
        raise ValueError(f"kwargs is not a list of {len(ids)} dicts, one per instruction id")
    for instruction_id, arguments in zip(ids, kwargs):
        try:
            checkers.build_checker(instruction_id, arguments)
        except checkers.UnknownInstructionError:
            # a KeyError would read as a missing field: say what it is
            raise ValueError(f"unknown instruction id {instruction_id!r} (no M-IFEval-ja checker has it; the ids "
                             f"are those of upstream's ja registry at {UPSTREAM_COMMIT[:8]})") from None
    return {"id": row["key"], "key": row["key"], "prompt": prompt, "turns": [prompt],
            "instruction_id_list": list(ids), "kwargs": [dict(k) for k in kwargs]}


def facts() -> dict[str, Any]:
    """What result.json records of the scoring: the checkers' upstream and the language detector's seed."""
    return {"checkers": f"lightblue-tech/M-IFEval@{UPSTREAM_COMMIT} ja registry (lm_eval_ja re-implementation)",
            "langdetect_seed": _checkers().LANGDETECT_SEED}


@dataclass(frozen=True)
class _Files(SplitPolicy):
    """The evaluated file as it is (``files``), with the scoring facts in the notes result.json records."""

    kind: str = "files"

    def __call__(self, *args, **kwargs):
        evaluated, pool, notes = super().__call__(*args, **kwargs)
        return evaluated, pool, {**notes, **facts()}


class IFEvalPlan(DefaultPlan):
    """One user turn (the prompt; ``--system_instruction`` as a system message if given), greedy, 1280 new tokens,
    one answer per prompt."""

    def __init__(self, task=None, options=None):
        super().__init__(task, options)
        n = self.options.num_samples
        if n is not None and n != 1:
            print(f"note: {getattr(getattr(task, 'config', None), 'task', 'm_ifeval_ja')} is answered greedily, once "
                  f"per prompt; --num_samples {n} is not used for it", file=sys.stderr, flush=True)

    def params(self, doc: dict[str, Any]) -> dict[str, Any]:
        return {"do_sample": False, "temperature": 0.0, "max_new_tokens": MAX_NEW_TOKENS}

    def num_samples(self) -> int:
        return 1


class IFEvalScorer:
    """Every answer checked against its prompt's instructions (``checkers.evaluate``), strict and loose; a
    document's items are lm-eval ``ifeval``'s per-sample values (a bool per prompt, a list of bools per prompt)."""

    def __init__(self, task=None):
        self.protocol_facts = facts()

    def score(self, docs: list[dict[str, Any]], answers) -> list[dict[str, Any]]:
        checkers = _checkers()
        out = []
        for doc, doc_answers in zip(docs, answers):
            answer = doc_answers[0]
            response = answer.text[0] if answer.text else None
            verdicts = checkers.evaluate(doc, response)
            out.append({**{m: verdicts[m] for m in METRIC_NAMES},
                        "_log": [[[] for _ in a.text] for a in doc_answers]})
        return out


FAMILY = Family(
    order=95,
    name="m_ifeval_ja",
    benchmarks=(Benchmark(
        name="m_ifeval_ja", display_name="M-IFEval-ja",
        title="M-IFEval, Japanese subset (lightblue-tech, Apache-2.0): 172 prompts with 226 verifiable instructions, "
              "checked by rule; prompt- and instruction-level accuracy, strict and loose",
        output_type="generate_until", convert=convert,
        sources={"test": Source(local="m_ifeval_ja/ja_input_data.jsonl",
                                online=f"{UPSTREAM}/data/ja_input_data.jsonl")},
        eval_split="test", train_split=None, split=_Files(), sampler="first_n", zero_shot_only=True,
        scorer=IFEvalScorer, metrics=METRICS,
        headline=Headline("prompt_level_strict_acc", 100.0, "M-IFEval-ja (prompt-level strict acc)"),
        versions=(TaskVersion(None, None, number=1.0),),
        conversation=True, conversation_plan=IFEvalPlan, judged=False, requirements=requirements,
    ),),
)
