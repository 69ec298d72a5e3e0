"""Every published Japanese MT-Bench protocol by name: data (:class:`Protocol`) and pure functions, no model calls.

"Japanese MT-Bench" is not one protocol (``../shared/data/japanese_mt_bench/protocols/README.md``): the published
numbers differ in judge prompts, references, answer sampling, turns judged, parser and aggregation. Each preset of
:data:`PROTOCOLS` pins all of them to one upstream commit; the functions here produce exactly what that upstream
sent and computed:

* answering: :func:`answer_params` (request parameters per category), :func:`answer_messages` (the chat for the
  next turn), :func:`postprocess_answer` (swallow's ``<think>`` removal and 8192-character cut),
  :func:`distinct_generations` / :func:`history_sample` (swallow's sample quirks);
* judging: :func:`load_questions`, :func:`load_references`, :func:`load_judge_prompts`, :func:`judge_messages`
  (the judge's chat messages byte for byte), :func:`parse_rating`;
* scoring: :func:`aggregate` turns per-judgment records into the protocol's headline score, per-turn and
  per-category scores and ``n_judge_failed``;
* pairwise (Japanese Vicuna QA against text-davinci-003): :func:`pair_judge_messages`, :func:`pair_order`,
  :func:`pair_winners`, :func:`win_rates`.

Presets: :data:`PROTOCOLS` (Japanese MT-Bench, plus ``mt_bench_en``), :data:`ELYZA_PROTOCOLS`,
:data:`VICUNA_PROTOCOLS`; :data:`ALL_PROTOCOLS` holds them all. Nejumi 4 is not a preset: its judge prompt is a
W&B artifact that is not public.

Files are named relative to a data folder laid out like ``../shared/data``; the prompts that exist upstream only
inside jsonnet files ship in ``judge_prompts/*.yaml`` next to this module (tests prove them byte-identical).
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from lm_eval_ja.errors import UserError

CATEGORIES = ("writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities")
#: categories judged with the reference answer (FastChat common.py NEED_REF_CATS; every protocol here agrees)
NEED_REF = ("math", "reasoning", "coding")
#: FastChat's answer temperature per category (common.py temperature_config; gen_model_answer.py: < 1e-4 = greedy)
FASTCHAT_TEMPERATURE = MappingProxyType({"writing": 0.7, "roleplay": 0.7, "extraction": 0.0, "math": 0.0, "coding": 0.0,
                                         "reasoning": 0.0, "stem": 0.1, "humanities": 0.1})
#: Stability-AI/FastChat jp-stable (common.py L37-46): always sampled, with top_p 0.9, repetition_penalty 1.1
STABILITY_TEMPERATURE = MappingProxyType({"writing": 0.5, "roleplay": 0.5, "extraction": 0.2, "math": 0.1,
                                          "coding": 0.1, "reasoning": 0.1, "stem": 0.2, "humanities": 0.2})
PROMPTS_DIR = Path(__file__).resolve().parent / "judge_prompts"

PROMPT_FORMATS = ("fastchat", "llmjp_yaml", "jinja")
RATING_PARSERS = ("fastchat", "llmjp", "last_int", "vicuna", "verdict")
AGGREGATIONS = ("flat", "runs_mean", "swallow_instruct", "per_sample", "category_mean", "mean_with_failed",
                "win_rate")


@dataclass(frozen=True)
class Protocol:
    """One published judging setup. Turn numbers are 0-based (0 = the first user turn)."""

    name: str
    #: one line: what it is, upstream repo@commit
    about: str
    #: the benchmark it judges: ``mt_bench`` (Japanese), ``mt_bench_en``, ``elyza_tasks_100``
    benchmark: str
    #: questions file, relative to the data folder (None: not available locally)
    questions: str | None
    #: reference answers (FastChat answer format: ``choices[0].turns``); None: the questions file holds them
    references: str | None
    #: the upstream judge-prompt file, relative to the data folder (jsonl, llm-jp's YAML, or the jsonnet config
    #: whose prompt text ships in ``packaged_prompts``)
    judge_prompts: str
    #: ``fastchat`` (jsonl rows, ``str.format``), ``llmjp_yaml`` (same, YAML by name), ``jinja`` (flexeval)
    prompt_format: str
    #: for ``jinja``: (file in ``judge_prompts/`` next to this module, key) holding the byte-identical text
    packaged_prompts: tuple[str, str] | None = None
    #: the answering model's system prompt (None: none is sent)
    system_prompt: str | None = None
    #: answer temperature per category; None: not sent (the model's default)
    temperature: Mapping[str, float] | None = None
    #: FastChat's rule: a temperature below this is greedy (do_sample False); None: no such rule
    greedy_below: float | None = 1e-4
    #: True: always sampled (do_sample True whatever the temperature); None: decided by ``greedy_below``, or left
    #: to the model's own generation config where that is None too
    do_sample: bool | None = None
    top_p: float | None = None
    repetition_penalty: float | None = None
    #: new tokens per turn; None: the protocol leaves it to the run
    max_new_tokens: int | None = None
    seed: int | None = None
    #: user turns answered per conversation
    turns_generated: int = 2
    #: turns the judge rates (0-based)
    turns_judged: tuple[int, ...] = (0, 1)
    #: ``single`` (a rating per answer) or ``pairwise`` (verdicts against ``baseline``'s answers, both orders)
    judging: str = "single"
    #: the judge-prompt names without / with the reference (``-multi-turn`` appended for turn 2)
    prompt_names: tuple[str, str] = ("single-v1", "single-math-v1")
    #: pairwise: the baseline model's answers (FastChat answer format), relative to the data folder
    baseline: str | None = None
    #: answers per question (independent conversations) and judgments per answer turn
    num_samples: int = 1
    num_judgments: int = 1
    #: swallow: a category at temperature 0 is generated once per turn and copied to every sample
    greedy_generated_once: bool = False
    #: swallow: every sample's turn 2 continues from sample 0's turn-1 answer (the judge still sees each sample's
    #: own turn-1 answer next to its turn-2 answer)
    later_turns_from_sample0: bool = False
    #: swallow: each turn's answer cut to this many characters (after ``<think>`` removal)
    max_answer_chars: int | None = None
    #: swallow (deepseek_r1_markup parser): keep what follows ``</think>``; no ``<think>…</think>`` pair: the whole
    #: output; a pair with nothing after it: the reasoning counts as the answer
    strip_think: bool = False
    #: categories judged with the reference answer
    need_ref: tuple[str, ...] = NEED_REF
    #: ``fastchat`` (first ``[[n]]``, else first ``[n]``, no range check), ``llmjp`` (``\\[\\[(10|[1-9])\\]\\]``
    #: only), ``last_int`` (flexeval: the last integer in the output, kept if within ``scale``), ``vicuna``
    #: (ku-nlp: ``[[n]]``, else ``[[rating:n]]``, else ``[[rating: n]]``), ``verdict`` (pairwise ``[[A]]``,
    #: ``[[B]]``, ``[[C]]``)
    rating: str = "fastchat"
    scale: tuple[int, int] = (1, 10)
    #: every reported score is divided by this (10: the 0–1 scale of Swallow)
    divisor: float = 1.0
    #: how per-judgment ratings become the headline: see :func:`aggregate`
    aggregation: str = "flat"
    judge_model: str = "gpt-4"
    #: None: the protocol sends none (the API's default applies)
    judge_temperature: float | None = 0.0
    judge_max_tokens: int | None = 2048
    #: what a run under this preset reproduces (for docs)
    reproduces: str = ""
    #: upstream quirks kept on purpose
    quirks: tuple[str, ...] = field(default_factory=tuple)

    @property
    def scale_label(self) -> str:
        if self.divisor == 1:
            return f"{self.scale[0]}–{self.scale[1]}"
        return f"{self.scale[0] / self.divisor:g}–{self.scale[1] / self.divisor:g}"


_MTP = "japanese_mt_bench/protocols"
_SWALLOW_FILES = {
    "questions": "japanese_mt_bench/protocols/swallow-fastchat/question.jsonl",
    "references": "japanese_mt_bench/protocols/swallow-fastchat/reference_answer/gpt-4o-2024-08-06.jsonl",
}

_STABILITY = {
    "benchmark": "mt_bench", "questions": "japanese_mt_bench/protocols/stability/question.aedb44e.jsonl",
    "references": "japanese_mt_bench/protocols/stability/reference_answer/gpt-4.aed16da.jsonl",
    "prompt_format": "fastchat", "temperature": STABILITY_TEMPERATURE, "greedy_below": None, "do_sample": True,
    "top_p": 0.9, "repetition_penalty": 1.1, "max_new_tokens": 512, "turns_generated": 1, "turns_judged": (0,),
    "judge_model": "gpt-4",
    "quirks": (
        ("turn 1 only: no Japanese -multi-turn prompt exists (gen_judgment.py at e37eb28; the quickstart generates "
         "with --max-turns 1); at head the documented command crashes looking up single-v1-multi-turn"),
        "always sampled, even math/coding/reasoning (temperature 0.1)",
    ),
}

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    Protocol(
        name="fastchat", about="FastChat MT-Bench judging on the Japanese questions (lm-sys/FastChat@0e6d3e4)",
        benchmark="mt_bench", questions="japanese_mt_bench/question.jsonl",
        references="japanese_mt_bench/reference_answer/gpt-4.jsonl",
        judge_prompts="japanese_mt_bench/judge_prompts.jsonl", prompt_format="fastchat",
        temperature=FASTCHAT_TEMPERATURE, max_new_tokens=1024, judge_model="gpt-4",
        reproduces="LMSYS MT-Bench's protocol (English prompts) on Japanese MT-Bench; the project's default today"),
    Protocol(
        name="stability-fd01e11",
        about=("Stability-AI/FastChat jp-stable, Japanese judge prompts @fd01e11 (2023-09-14, adds the language "
               "sentence)"),
        judge_prompts="japanese_mt_bench/protocols/stability/judge_ja_prompts.fd01e11.jsonl",
        reproduces="the jp-stable fork's turn-1 scores with the 2023-09 Japanese prompts", **_STABILITY),
    Protocol(
        name="stability-57d3a1a",
        about="Stability-AI/FastChat jp-stable, Japanese judge prompts @57d3a1a (2023-08-20, the first version)",
        judge_prompts="japanese_mt_bench/protocols/stability/judge_ja_prompts.57d3a1a.jsonl",
        reproduces="the jp-stable fork's recorded 2023 GPT-4 judgments (e.g. japanese-stablelm-instruct-alpha-7b 2.60)",
        **_STABILITY),
    Protocol(
        name="swallow",
        about="Swallow LLM Leaderboard v2 (swallow-llm/swallow-evaluation-instruct@3520211, lighteval)",
        benchmark="mt_bench", **_SWALLOW_FILES,
        judge_prompts="japanese_mt_bench/protocols/swallow-instruct/judge_prompts.jsonl", prompt_format="fastchat",
        system_prompt="あなたは誠実で優秀な日本人のアシスタントです。", temperature=FASTCHAT_TEMPERATURE,
        max_new_tokens=None, num_samples=5, greedy_generated_once=True, later_turns_from_sample0=True,
        max_answer_chars=8192, strip_think=True, divisor=10.0, aggregation="swallow_instruct",
        judge_model="gpt-4o-2024-08-06", judge_max_tokens=4096,
        reproduces="Swallow LLM Leaderboard v2 Japanese MT-Bench (0–1); references are the Hugging Face dataset's, "
                   "taken as swallow-fastchat's GPT-4o file",
        quirks=(
            ("single-v1 ends with one extra newline; both -multi-turn system prompts start with a literal '\"'; "
             "single-v1-multi-turn lacks the blank line before the second '### User:' (judge_prompts.jsonl)"),
            ("a failed judgment counts as -1 inside the per-question mean of the 5 samples; only a mean of exactly "
             "-1 is dropped afterwards"),
            ("system prompt: the user's --system-prompt (this is the README's example); max new tokens: the "
             "run's generation parameters (the framework sets none)"),
            ("the litellm backend keeps a None content (no closing </think> from the server's parser) as None, "
             "which the judge prompt shows as 'None'; the vLLM backend (here) uses the reasoning instead"),
            "the judge request also carries response_format=None and n=1 (llm_as_judge.py __call_api)",
        )),
    Protocol(
        name="swallow_fastchat",
        about="Swallow's earlier FastChat-based Japanese MT-Bench (swallow-llm/swallow-evaluation@57c4ecd)",
        benchmark="mt_bench", **_SWALLOW_FILES,
        judge_prompts="japanese_mt_bench/protocols/swallow-fastchat/judge_prompts.jsonl", prompt_format="fastchat",
        temperature=FASTCHAT_TEMPERATURE, max_new_tokens=1024, num_samples=5, divisor=10.0,
        aggregation="per_sample", judge_model="gpt-4o-2024-08-06",
        reproduces="Swallow's earlier Japanese MT-Bench (show_result.py 'result' strings, 0–1)",
        quirks=("system prompt: FastChat's conversation template for the model (none here)",
                "5 independent conversations (--num-choices 5); greedy categories give 5 identical answers")),
    Protocol(
        name="nejumi3", about="Nejumi LLM Leaderboard 3 (wandb/llm-leaderboard v3-maint@174c888)",
        benchmark="mt_bench", questions="japanese_mt_bench/protocols/nejumi3/question.jsonl",
        references="japanese_mt_bench/protocols/nejumi3/reference_answer/base-gpt4o-with-human-annotation.jsonl",
        judge_prompts="japanese_mt_bench/protocols/nejumi3/judge_prompts.jsonl", prompt_format="fastchat",
        temperature=FASTCHAT_TEMPERATURE, max_new_tokens=1024, aggregation="category_mean",
        judge_model="gpt-4o-2024-05-13",
        reproduces="Nejumi 3's AVG_mtbench (1–10; the leaderboard divides by 10 inside its overall average)",
        quirks=("the run downloads the W&B artifact mtbench_ja_prompt:v1 (the vendored copy is used here)",
                "per-turn scores are not published by Nejumi: computed here as the same mean of category means")),
    Protocol(
        name="llmjp_judge", about="llm-jp-judge mt_bench_ja (llm-jp/llm-jp-judge@4392b3b)",
        benchmark="mt_bench", questions="japanese_mt_bench/question.jsonl",
        references=f"{_MTP}/llm-jp-judge/reference_answer/base-gpt4o-with-human-annotation-v0.jsonl",
        judge_prompts="japanese_mt_bench/protocols/llm-jp-judge/mt_bench_ja_prompt_v1.yaml", prompt_format="llmjp_yaml",
        system_prompt="以下は、タスクを説明する指示です。要求を適切に満たす応答を書きなさい。",
        temperature=FASTCHAT_TEMPERATURE, max_new_tokens=1024, rating="llmjp", judge_model="gpt-4o-2024-08-06",
        reproduces="the MT-Bench (ja) numbers of llm-jp model cards",
        quirks=("the -multi-turn system prompts lose FastChat's trailing blank line (YAML |+ at the end of the text)",
                "strict rating regex: [[0]], [[7.5]] and [n] are failed judgments")),
    Protocol(
        name="flexeval", about="flexeval 0.18.3 preset mt-ja + assistant_eval_ja_single_turn (sbintuitions/flexeval)",
        benchmark="mt_bench", questions="japanese_mt_bench/question.jsonl",
        references="japanese_mt_bench/reference_answer/gpt-4.jsonl",
        judge_prompts="../reference/judge/assistant_eval_ja_single_turn.jsonnet", prompt_format="jinja",
        packaged_prompts=("flexeval.yaml", "assistant_eval_ja_single_turn"), temperature=None, greedy_below=None,
        max_new_tokens=1024, seed=42, turns_judged=(0,), rating="last_int", judge_model="gpt-4-turbo-2024-04-09",
        judge_temperature=None, judge_max_tokens=None,
        reproduces="flexeval's Japanese single-answer judging (turn 1 of two generated turns)",
        quirks=("both turns are generated but the template reads messages[1]: turn 1 is judged",
                "the parser takes the last integer anywhere in the output ('[[7]] ... 10点' gives 10; '7.5' gives 5)",
                "no judge temperature is sent: the API default applies")),
    Protocol(
        name="sarashina", about="Sarashina2.2's Japanese MT Bench (flexeval v0.10.1 config sarashina2.2/mt-ja.jsonnet)",
        benchmark="mt_bench", questions="japanese_mt_bench/question.jsonl",
        references="japanese_mt_bench/reference_answer/gpt-4.jsonl",
        judge_prompts="japanese_mt_bench/protocols/sarashina2.2/mt-ja.jsonnet", prompt_format="jinja",
        packaged_prompts=("sarashina2.2.yaml", "mt-ja"),
        temperature=MappingProxyType({c: 0.7 for c in CATEGORIES}), greedy_below=None, do_sample=True, top_p=0.9,
        repetition_penalty=1.05, max_new_tokens=1024, turns_judged=(1,), num_samples=3, num_judgments=3,
        rating="last_int", aggregation="runs_mean", judge_model="gpt-4o-2024-08-06", judge_temperature=None,
        judge_max_tokens=None,
        reproduces="the 'Japanese MT Bench' column of Sarashina2.2's model card (e.g. sarashina2.2-3b-instruct 6.51)",
        quirks=("turn 2 only: the system message asks to rate the answer to the second question",
                "3 x 3 is from the README, encoded in no config; the mean of the 9 runs' means is used",
                "max_new_tokens 1024 from the task config wins over the model config's 2048",
                "judged through the OpenAI Batch API with no temperature")),
    Protocol(
        name="mt_bench_en", about="FastChat MT-Bench, English (lm-sys/FastChat@0e6d3e4)",
        benchmark="mt_bench_en", questions="mt_bench_en/question.jsonl",
        references="mt_bench_en/reference_answer/gpt-4.jsonl",
        judge_prompts="japanese_mt_bench/judge_prompts.jsonl", prompt_format="fastchat",
        temperature=FASTCHAT_TEMPERATURE, max_new_tokens=1024, judge_model="gpt-4",
        reproduces="LMSYS MT-Bench (English) single-answer grading"),
)}

#: ku-nlp/ja-vicuna-qa-benchmark's answer temperature per category (gen_model_answer.py DEFAULT_TEMPERATURE_MAP)
VICUNA_TEMPERATURE = MappingProxyType({"writing": 0.7, "roleplay": 0.7, "knowledge": 0.001, "math": 0.001,
                                       "coding": 0.001, "common-sense": 0.3, "counterfactual": 0.7, "fermi": 0.3,
                                       "generic": 0.1})
_VICUNA = {
    "benchmark": "ja_vicuna_qa", "questions": "ja_vicuna_qa/question.jsonl",
    "references": "ja_vicuna_qa/reference_answer/gpt-4.jsonl", "judge_prompts": "ja_vicuna_qa/judge_prompts.jsonl",
    "prompt_format": "fastchat", "temperature": VICUNA_TEMPERATURE, "greedy_below": None, "turns_generated": 1,
    "turns_judged": (0,), "judge_model": "gpt-4",
}
_VICUNA_QUIRKS = (
    ("the answer temperature is set only when the model config gives none; a config with a generation_config dict "
     "keeps the first question's temperature (generic: 0.1) for every question (the dict is mutated)"),
    "do_sample, max_new_tokens, repetition_penalty come from the model's config (its example: True, 512, 1.1)")

VICUNA_PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    Protocol(
        name="ja_vicuna_qa",
        about="Japanese Vicuna QA, pairwise vs text-davinci-003 (ku-nlp/ja-vicuna-qa-benchmark@128a862)",
        judging="pairwise", prompt_names=("pair", "pair-math"),
        baseline="ja_vicuna_qa/baseline_answer/text-davinci-003.jsonl", rating="verdict", aggregation="win_rate",
        reproduces="ku-nlp's show_result.py --mode pairwise-baseline: win / lose / adjusted win rate (× 100)",
        quirks=(*_VICUNA_QUIRKS, (
            "a question is a win only when both orders pick the model; a tie when either order is a tie or the "
            "orders differ (one 'error' included); both orders 'error' counts for model_2, the id that sorts "
            "second (calculate_win_rate's last branch)")), **_VICUNA),
    Protocol(
        name="ja_vicuna_qa_single",
        about="Japanese Vicuna QA, single-answer grading (ku-nlp/ja-vicuna-qa-benchmark@128a862)",
        prompt_names=("single", "single-math"), rating="vicuna", aggregation="mean_with_failed",
        reproduces="ku-nlp's show_result.py --mode single (1–10)",
        quirks=(*_VICUNA_QUIRKS, "a failed judgment (-1) is averaged in (calculate_average_score)"), **_VICUNA),
)}

ELYZA_PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    Protocol(
        name="elyza_flexeval", about="flexeval 0.18.3 elyza_tasks_100_eval (sbintuitions/flexeval)",
        benchmark="elyza_tasks_100", questions="elyza_tasks_100/test.jsonl", references=None,
        judge_prompts="../reference/judge/elyza_tasks_100_eval.jsonnet", prompt_format="jinja",
        packaged_prompts=("flexeval.yaml", "elyza_tasks_100_eval"), temperature=None, greedy_below=None,
        max_new_tokens=1024, turns_generated=1, turns_judged=(0,), need_ref=("*",), rating="last_int",
        scale=(1, 5), judge_model="gpt-4-turbo-2024-04-09", judge_temperature=None, judge_max_tokens=None,
        reproduces="flexeval's ELYZA-tasks-100 score (1–5)",
        quirks=("no system message; the prompt asks for the digit only; the last integer 1–5 is kept",)),
    Protocol(
        name="elyza_sarashina",
        about="Sarashina2.2's ELYZA-tasks-100 (flexeval v0.10.1 config sarashina2.2/elyza_tasks_100.jsonnet)",
        benchmark="elyza_tasks_100", questions="elyza_tasks_100/test.jsonl", references=None,
        judge_prompts="japanese_mt_bench/protocols/sarashina2.2/elyza_tasks_100.jsonnet", prompt_format="jinja",
        packaged_prompts=("sarashina2.2.yaml", "elyza_tasks_100"),
        temperature=MappingProxyType({"elyza": 0.7}), greedy_below=None, do_sample=True, top_p=0.9,
        repetition_penalty=1.05,
        max_new_tokens=1024, turns_generated=1, turns_judged=(0,), need_ref=("*",), num_samples=3, num_judgments=3,
        rating="last_int", scale=(1, 5), aggregation="runs_mean", judge_model="gpt-4o-2024-08-06",
        judge_temperature=None, judge_max_tokens=None,
        reproduces="the ELYZA-tasks-100 column of Sarashina2.2's model card (1–5, 3 x 3)",
        quirks=("3 x 3 from the README, encoded in no config", "no judge temperature is sent")),
)}

ALL_PROTOCOLS: dict[str, Protocol] = {**PROTOCOLS, **ELYZA_PROTOCOLS, **VICUNA_PROTOCOLS}


def get_protocol(name: str) -> Protocol:
    """The preset called ``name`` (MT-Bench, ELYZA-tasks-100 or Japanese Vicuna QA)."""
    try:
        return ALL_PROTOCOLS[name]
    except KeyError:
        raise UserError(f"Unknown judging protocol {name!r}: use one of {', '.join(ALL_PROTOCOLS)}.") from None


# ------------------------------------------------------------------------------------------------------ answering


def answer_params(protocol: Protocol, category: str) -> dict[str, Any]:
    """The sampling parameters of the answer requests for a question of ``category`` (only those the protocol sets).

    ``temperature`` and ``do_sample`` (False where FastChat goes greedy: temperature below ``greedy_below``),
    ``top_p``, ``repetition_penalty``, ``max_new_tokens``, ``seed``.
    """
    params: dict[str, Any] = {}
    if protocol.temperature is not None:
        temperature = protocol.temperature.get(category, 0.7)  # FastChat: an unknown category samples at 0.7
        greedy = protocol.greedy_below is not None and temperature < protocol.greedy_below and not protocol.do_sample
        params["temperature"] = 0.0 if greedy else temperature
        if protocol.do_sample is not None or protocol.greedy_below is not None:
            params["do_sample"] = not greedy
    for key in ("top_p", "repetition_penalty", "max_new_tokens", "seed"):
        if getattr(protocol, key) is not None:
            params[key] = getattr(protocol, key)
    return params


def answer_messages(protocol: Protocol, question: Mapping[str, Any], previous_answers: Sequence[str]) -> list[dict]:
    """The chat the answering model receives for its next turn: system prompt (if any), then the conversation.

    ``previous_answers``: this conversation's answers so far (under ``later_turns_from_sample0`` pass sample 0's).
    """
    turn = len(previous_answers)
    if turn >= protocol.turns_generated:
        raise UserError(f"Protocol {protocol.name} generates {protocol.turns_generated} turn(s), not {turn + 1}.")
    messages = [{"role": "system", "content": protocol.system_prompt}] if protocol.system_prompt else []
    for i in range(turn + 1):
        messages.append({"role": "user", "content": question["turns"][i]})
        if i < turn:
            messages.append({"role": "assistant", "content": previous_answers[i]})
    return messages


_THINK = re.compile(r"<think>(.*?)</think>(.*)", re.DOTALL)


def strip_think(text: str) -> str:
    """swallow-evaluation-instruct's ``deepseek_r1_markup`` reasoning parser, with its None-content rule.

    ``<think>R</think>C``: C (text before ``<think>`` is dropped too); no such pair (e.g. no closing tag): the whole
    output; a pair with nothing after it: R (the reasoning counts as the answer).
    """
    match = _THINK.search(text)
    if match is None:
        return text
    reasoning, content = match.groups()
    return content if content else reasoning


def postprocess_answer(protocol: Protocol, text: str) -> str:
    """One turn's answer as the protocol keeps it (and as the next turn and the judge see it)."""
    if protocol.strip_think:
        text = strip_think(text)
    if protocol.max_answer_chars is not None:
        text = text[: protocol.max_answer_chars]
    return text


def distinct_generations(protocol: Protocol, category: str) -> int:
    """How many answers to generate per turn; swallow generates a temperature-0 category once, copied to all."""
    if protocol.greedy_generated_once and protocol.temperature is not None \
            and protocol.temperature.get(category, 0.7) == 0:
        return 1
    return protocol.num_samples


def history_sample(protocol: Protocol, sample: int) -> int:
    """Whose earlier answers sample ``sample``'s next turn continues from (swallow: always sample 0's)."""
    return 0 if protocol.later_turns_from_sample0 else sample


# ------------------------------------------------------------------------------------------------------ data


def _find(data_dir: str | os.PathLike | None, relative: str) -> Path:
    folders = [] if data_dir is None else str(data_dir).split(os.pathsep)
    for folder in folders:
        path = Path(folder) / relative
        if path.is_file():
            return path
    raise UserError(f"{relative} is not in the data folder {data_dir}: give --data_dir where it is.")


def _jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def question_id(value: Any) -> Any:
    """Question ids as ints (Stability's 2023 files spell them as strings)."""
    return int(value) if isinstance(value, str) and value.isdigit() else value


def load_questions(protocol: Protocol, data_dir) -> list[dict]:
    """The questions: ``{"question_id": int, "category", "turns": [...]}`` (+ ``eval_aspect``, ``output`` for ELYZA)."""
    if protocol.questions is None:
        raise UserError(f"Protocol {protocol.name} names no local questions file.")
    rows = _jsonl(_find(data_dir, protocol.questions))
    if protocol.benchmark == "elyza_tasks_100":
        return [{"question_id": i + 1, "category": "elyza", "turns": [r["input"]], "output": r["output"],
                 "eval_aspect": r["eval_aspect"]} for i, r in enumerate(rows)]
    return [{**r, "question_id": question_id(r["question_id"])} for r in rows]


def load_references(protocol: Protocol, data_dir) -> dict[Any, list[str]]:
    """Reference answer turns by question id (ELYZA: the dataset's ``output``, one turn)."""
    if protocol.benchmark == "elyza_tasks_100":
        return {q["question_id"]: [q["output"]] for q in load_questions(protocol, data_dir)}
    if protocol.references is None:
        return {}
    rows = _jsonl(_find(data_dir, protocol.references))
    return {question_id(r["question_id"]): list(r["choices"][0]["turns"]) for r in rows}


def load_baseline_answers(protocol: Protocol, data_dir) -> dict[Any, list[str]]:
    """Pairwise: the baseline model's answer turns by question id."""
    if protocol.baseline is None:
        raise UserError(f"Protocol {protocol.name} has no baseline answers (it is not pairwise).")
    return {question_id(r["question_id"]): list(r["choices"][0]["turns"]) for r in _jsonl(_find(data_dir, protocol.baseline))}


def load_judge_prompts(protocol: Protocol, data_dir=None) -> dict[str, dict]:
    """The judge prompts by name: FastChat rows (``system_prompt``, ``prompt_template``), llm-jp's YAML entries
    (+ ``regex``), or the packaged Jinja entry (``system`` / ``system_template``, ``template``)."""
    if protocol.prompt_format == "jinja":
        file, key = protocol.packaged_prompts
        with open(PROMPTS_DIR / file, encoding="utf-8") as f:
            return {key: yaml.safe_load(f)[key]}
    path = _find(data_dir, protocol.judge_prompts)
    if protocol.prompt_format == "llmjp_yaml":
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    return {row["name"]: row for row in _jsonl(path)}


# ------------------------------------------------------------------------------------------------------ judging

_JINJA_ENV = None


def _jinja_env():
    """flexeval's JINJA2_ENV: sandboxed, StrictUndefined, no autoescape, trailing newline kept."""
    global _JINJA_ENV
    if _JINJA_ENV is None:
        import jinja2
        from jinja2 import sandbox

        _JINJA_ENV = sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False,
                                                           keep_trailing_newline=True)
    return _JINJA_ENV


def needs_reference(protocol: Protocol, category: str) -> bool:
    return "*" in protocol.need_ref or category in protocol.need_ref


def judge_messages(protocol: Protocol, prompts: Mapping[str, dict], question: Mapping[str, Any],
                   answers: Sequence[str], turn: int, references: Sequence[str] | None = None) -> list[dict]:
    """Exactly the chat messages the protocol's judge received for ``answers[turn]`` of one conversation.

    ``question``: ``{"question_id", "category", "turns"}`` (ELYZA: + ``eval_aspect``); ``answers``: the answer text
    per turn (as :func:`postprocess_answer` left it); ``references``: the reference turns (needed for ``need_ref``
    categories, ignored otherwise).
    """
    if protocol.judging != "single":
        raise UserError(f"Protocol {protocol.name} judges pairwise: use pair_judge_messages.")
    if turn not in protocol.turns_judged:
        raise UserError(f"Protocol {protocol.name} judges turn(s) {[t + 1 for t in protocol.turns_judged]}, "
                        f"not turn {turn + 1}.")
    use_ref = needs_reference(protocol, question["category"])
    if use_ref and references is None:
        raise UserError(f"Protocol {protocol.name} judges {question['category']} question {question['question_id']} "
                        "with a reference answer, and none was given.")
    q = question["turns"]
    if protocol.prompt_format == "jinja":
        return _jinja_messages(protocol, prompts, question, answers, list(references) if use_ref else [])
    name = protocol.prompt_names[1 if use_ref else 0] + ("-multi-turn" if turn == 1 else "")
    if name not in prompts:
        raise UserError(f"The judge prompts of {protocol.name} have no {name!r}.")
    prompt = prompts[name]
    if turn == 1:
        kwargs = {"question_1": q[0], "question_2": q[1], "answer_1": answers[0], "answer_2": answers[1]}
        if use_ref:
            kwargs.update(ref_answer_1=references[0], ref_answer_2=references[1])
    else:
        kwargs = {"question": q[0], "answer": answers[0]}
        if use_ref:
            kwargs["ref_answer_1"] = references[0]
    user = prompt["prompt_template"].format(**kwargs)
    return [{"role": "system", "content": prompt["system_prompt"]}, {"role": "user", "content": user}]


def pair_judge_messages(protocol: Protocol, prompts: Mapping[str, dict], question: Mapping[str, Any],
                        answer_a: str, answer_b: str, references: Sequence[str] | None = None) -> list[dict]:
    """Pairwise (one-turn): the judge's chat comparing assistant A's and assistant B's answers.

    Both orders are judged: g1 with the first model (see :func:`pair_order`) as A, g2 with it as B.
    """
    if protocol.judging != "pairwise":
        raise UserError(f"Protocol {protocol.name} rates single answers: use judge_messages.")
    use_ref = needs_reference(protocol, question["category"])
    if use_ref and references is None:
        raise UserError(f"Protocol {protocol.name} judges {question['category']} question {question['question_id']} "
                        "with a reference answer, and none was given.")
    prompt = prompts[protocol.prompt_names[1 if use_ref else 0]]
    kwargs = {"question": question["turns"][0], "answer_a": answer_a, "answer_b": answer_b}
    if use_ref:
        kwargs["ref_answer_1"] = references[0]
    return [{"role": "system", "content": prompt["system_prompt"]},
            {"role": "user", "content": prompt["prompt_template"].format(**kwargs)}]


def pair_order(model_id: str, baseline_id: str) -> bool:
    """True when the model is ``model_1`` (ku-nlp pairs the ids in sorted order: ``combinations(sorted(...), 2)``)."""
    return min([model_id, baseline_id]) == model_id


def parse_verdict(text: str | None) -> str | None:
    """``[[A]]``, else ``[[B]]``, else ``[[C]]`` (a tie), checked in that order: ``A``, ``B``, ``tie``; None: error."""
    if text is None:
        return None
    for mark, verdict in (("[[A]]", "A"), ("[[B]]", "B"), ("[[C]]", "tie")):
        if mark in text:
            return verdict
    return None


def pair_winners(g1_judgment: str | None, g2_judgment: str | None) -> tuple[str, str]:
    """ku-nlp MatchPair.play: (g1_winner, g2_winner) among ``model_1``, ``model_2``, ``tie``, ``error``;
    g1 showed model_1 as A, g2 showed model_2 as A."""
    names = {("g1", "A"): "model_1", ("g1", "B"): "model_2", ("g2", "A"): "model_2", ("g2", "B"): "model_1"}
    out = []
    for game, text in (("g1", g1_judgment), ("g2", g2_judgment)):
        verdict = parse_verdict(text)
        out.append("error" if verdict is None else "tie" if verdict == "tie" else names[(game, verdict)])
    return out[0], out[1]


def win_rates(results: Iterable[Mapping[str, str]], model_is_model_1: bool) -> dict[str, float]:
    """ku-nlp show_result.calculate_win_rate from the model's side, × 100 as printed.

    ``results``: per question ``{"g1_winner", "g2_winner"}``. A tie when either order is a tie or the orders differ;
    else model_1 wins when g1 says so, and model_2 otherwise (both ``error`` included: an upstream quirk).
    """
    wins = {"model_1": 0, "model_2": 0}
    ties = n = 0
    for r in results:
        n += 1
        g1, g2 = r["g1_winner"], r["g2_winner"]
        if "tie" in {g1, g2} or g1 != g2:
            ties += 1
        elif g1 == "model_1":
            wins["model_1"] += 1
        else:
            wins["model_2"] += 1
    if n == 0:
        return {"win_rate": None, "lose_rate": None, "adjusted_win_rate": None, "n_tie": 0, "n_questions": 0}
    me, other = ("model_1", "model_2") if model_is_model_1 else ("model_2", "model_1")
    return {"win_rate": wins[me] / n * 100, "lose_rate": wins[other] / n * 100,
            "adjusted_win_rate": (wins[me] + 0.5 * ties) / n * 100, "n_tie": ties, "n_questions": n}


def _jinja_messages(protocol, prompts, question, answers, references) -> list[dict]:
    """flexeval's ChatLLMScore: every generated turn, the last answer as ``lm_output``, the rest as ``messages``."""
    prompt = prompts[protocol.packaged_prompts[1]]
    n = protocol.turns_generated
    if len(answers) < n:
        raise UserError(f"Protocol {protocol.name} judges after {n} generated turn(s); got {len(answers)} answer(s).")
    conversation = []
    for i in range(n):
        conversation += [{"role": "user", "content": question["turns"][i]},
                         {"role": "assistant", "content": answers[i]}]
    inputs = {"lm_output": answers[n - 1], "references": references, "messages": conversation[:-1]}
    if protocol.benchmark == "elyza_tasks_100":
        inputs["eval_aspect"] = question["eval_aspect"]
    else:
        inputs["category"] = question["category"]
    env = _jinja_env()
    messages = [{"role": "user", "content": env.from_string(prompt["template"]).render(inputs)}]
    if prompt.get("system_template"):
        messages.insert(0, {"role": "system", "content": env.from_string(prompt["system_template"]).render(inputs)})
    elif prompt.get("system"):
        messages.insert(0, {"role": "system", "content": prompt["system"]})
    return messages


def judge_params(protocol: Protocol) -> dict[str, Any]:
    """The judge request's parameters (what the protocol sends; None-valued ones are left out)."""
    params: dict[str, Any] = {"model": protocol.judge_model}
    if protocol.judge_temperature is not None:
        params["temperature"] = protocol.judge_temperature
    if protocol.judge_max_tokens is not None:
        params["max_tokens"] = protocol.judge_max_tokens
    return params


_FASTCHAT = re.compile(r"\[\[(\d+\.?\d*)\]\]")
_FASTCHAT_BACKUP = re.compile(r"\[(\d+\.?\d*)\]")
_LLMJP = re.compile(r"\[\[(10|[1-9])\]\]")
_LAST_INT = re.compile(r"(\d+)")
_VICUNA_RATINGS = (re.compile(r"\[\[(\d+\.?\d*)]]"), re.compile(r"\[\[rating:(\d+)]]"),
                   re.compile(r"\[\[rating: (\d+)]]"))


def parse_rating(protocol: Protocol, text: str | None) -> float | None:
    """The rating the protocol read from a judge output; None = a failed judgment (FastChat's -1)."""
    if text is None:
        return None
    if protocol.rating == "fastchat":  # common.py: first [[n]], else first [n]; ast.literal_eval; no range check
        match = _FASTCHAT.search(text) or _FASTCHAT_BACKUP.search(text)
        return float(ast.literal_eval(match.group(1))) if match else None
    if protocol.rating == "llmjp":  # BaseScoreExtractor: re.search of the prompt file's regex, int(group 1)
        match = _LLMJP.search(text)
        return float(int(match.group(1))) if match else None
    if protocol.rating == "last_int":  # flexeval parse_score_from_evaluator_output
        found = _LAST_INT.findall(text)
        if not found:
            return None
        score = int(found[-1])
        return float(score) if protocol.scale[0] <= score <= protocol.scale[1] else None
    if protocol.rating == "vicuna":  # ku-nlp MatchSingle.get_score
        match = next((m for m in (p.search(text) for p in _VICUNA_RATINGS) if m), None)
        return float(ast.literal_eval(match.group(1))) if match else None
    raise ValueError(f"Protocol {protocol.name} is pairwise: use parse_verdict / pair_winners.")


# ------------------------------------------------------------------------------------------------------ scoring


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def _div(value: float | None, divisor: float) -> float | None:
    return None if value is None else value / divisor


def _flat(records: list[dict]) -> float | None:
    return _mean(r["rating"] for r in records if r["rating"] is not None)


def _runs_mean(records: list[dict]) -> float | None:
    """Sarashina's 3 x 3: one flexeval run per (sample, judgment), each the mean of its valid scores; their mean."""
    runs: dict[tuple, list[float]] = defaultdict(list)
    for r in records:
        if r["rating"] is not None:
            runs[(r.get("sample", 0), r.get("judgment", 0))].append(r["rating"])
    return _mean(_mean(v) for v in runs.values())


def _swallow_question_turns(records: list[dict]) -> dict[tuple, float]:
    """Per (question, turn): np.mean over the samples' scores, a failed judgment counting as -1."""
    cells: dict[tuple, list[float]] = defaultdict(list)
    for r in records:
        cells[(r["question_id"], r["turn"])].append(-1.0 if r["rating"] is None else r["rating"])
    return {key: sum(v) / len(v) for key, v in cells.items()}


def _swallow_instruct(records: list[dict], turn: int | None) -> float | None:
    """mt_bench_corpus_level_fn over per-question values: drop those == -1, mean (÷ 10 applied by the caller)."""
    cells = _swallow_question_turns(records)
    questions = sorted({q for q, _ in cells}, key=str)
    if turn is not None:
        values = [cells[(q, turn)] for q in questions if (q, turn) in cells]
    else:  # judge_score_avg = (turn-1 avg + turn-2 avg) / 2 per question
        values = [(cells[(q, 0)] + cells[(q, 1)]) / 2 for q in questions if (q, 0) in cells and (q, 1) in cells]
    return _mean(v for v in values if v != -1)


def _per_sample(records: list[dict]) -> float | None:
    """swallow-evaluation show_result.calculate_averages: per sample, the mean of its valid scores over the rows;
    then the mean over samples (a sample with no valid score gives nan, as numpy does)."""
    by_sample: dict[int, list[float]] = defaultdict(list)
    samples = set()
    for r in records:
        samples.add(r.get("sample", 0))
        if r["rating"] is not None and r["rating"] != -1:
            by_sample[r.get("sample", 0)].append(r["rating"])
    if not samples:
        return None
    means = [_mean(by_sample[k]) if by_sample[k] else math.nan for k in sorted(samples)]
    return sum(means) / len(means)


def _category_mean(records: list[dict]) -> float | None:
    """Nejumi 3: valid scores only; mean per (question, turn) over judgments; mean per category; mean of those."""
    cells: dict[tuple, list[float]] = defaultdict(list)
    for r in records:
        if r["rating"] is not None and r["rating"] != -1:
            cells[(r["category"], r["question_id"], r["turn"])].append(r["rating"])
    by_category: dict[str, list[float]] = defaultdict(list)
    for (category, _, _), values in cells.items():
        by_category[category].append(sum(values) / len(values))
    return _mean(_mean(v) for v in by_category.values())


def _score(protocol: Protocol, records: list[dict], turn: int | None) -> float | None:
    if turn is not None:
        if turn not in protocol.turns_judged:
            return None
        subset = [r for r in records if r["turn"] == turn]
    else:
        subset = [r for r in records if r["turn"] in protocol.turns_judged]
    if protocol.aggregation == "flat":
        return _flat(subset)
    if protocol.aggregation == "runs_mean":
        return _runs_mean(subset)
    if protocol.aggregation == "swallow_instruct":
        return _swallow_instruct(subset, turn)
    if protocol.aggregation == "per_sample":
        return _per_sample(subset)
    if protocol.aggregation == "category_mean":
        return _category_mean(subset)
    if protocol.aggregation == "mean_with_failed":  # ku-nlp calculate_average_score: -1 averaged in
        return _mean(-1.0 if r["rating"] is None else r["rating"] for r in subset)
    raise ValueError(protocol.aggregation)


def aggregate(protocol: Protocol, records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The protocol's scores from per-judgment records.

    A record: ``{"question_id", "category", "turn" (0-based), "sample" (default 0), "judgment" (default 0),
    "rating" (float, or None for a failed judgment)}``. Returns ``score`` (the headline), ``score_turn1``,
    ``score_turn2`` (None where the turn is not judged), ``categories`` (category -> score, the headline's rule
    within the category), ``n_judge_failed``, ``n_judgments`` and ``scale``; every score divided by ``divisor``.

    Aggregations: ``flat`` (FastChat, Stability, llm-jp-judge, flexeval): the mean of all valid judgments;
    ``runs_mean`` (Sarashina): the mean over (sample, judgment) runs of each run's flat mean; ``swallow_instruct``:
    per question and turn the mean of the samples with -1 for a failed judgment, then the mean over questions of
    that (turn scores) or of (turn 1 + turn 2) / 2 (headline), values equal to -1 dropped; ``per_sample``
    (swallow-evaluation): per sample the mean of its valid scores, then the mean over samples; ``category_mean``
    (Nejumi 3): per (question, turn) the mean of valid judgments, per category their mean, then the mean of the
    categories.
    """
    if protocol.judging != "single":
        raise UserError(f"Protocol {protocol.name} judges pairwise: use win_rates.")
    records = [dict(r) for r in records]
    judged = [r for r in records if r["turn"] in protocol.turns_judged]
    d = protocol.divisor
    order = {c: i for i, c in enumerate(CATEGORIES)}
    categories = sorted({r["category"] for r in judged}, key=lambda c: (order.get(c, len(order)), c))
    return {
        "score": _div(_score(protocol, records, None), d),
        "score_turn1": _div(_score(protocol, records, 0), d),
        "score_turn2": _div(_score(protocol, records, 1), d),
        "categories": {c: _div(_score(protocol, [r for r in records if r["category"] == c], None), d)
                       for c in categories},
        "n_judge_failed": sum(r["rating"] is None for r in judged),
        "n_judgments": len(judged),
        "scale": protocol.scale_label,
    }
