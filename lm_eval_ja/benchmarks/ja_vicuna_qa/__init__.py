"""Japanese Vicuna QA (ku-nlp/ja-vicuna-qa-benchmark @128a862, Apache-2.0): 80 questions in 9 categories, one turn.

``ja_vicuna_qa`` (= ``ja_vicuna_qa-pairwise``): ku-nlp's protocol — each answer judged against the shipped
``text-davinci-003`` answers in both orders (``pair`` / ``pair-math`` prompts), a question a win only when both
orders pick the model, a tie when either is a tie or they differ (an ``error`` included), both orders ``error``
counting for the id that sorts second (ku-nlp's quirk); ``win_rate``, ``loss_rate``, ``tie_rate`` and
``adjusted_win_rate`` (× 100, as its ``show_result.py`` prints them). The model's position in the pair follows
ku-nlp's sorted ids: the model's id is its ``pretrained=`` / ``model=`` folder or hub name (run_options'
``model_id``). ``ja_vicuna_qa-single``: the ``single`` / ``single-math`` 1–10 ratings, a failed judgment averaged
in as -1 (ku-nlp's ``calculate_average_score``). Answers at ku-nlp's per-category temperatures.
"""

from __future__ import annotations

from typing import Any

from lm_eval_ja.benchmarks.mt_bench import MTBenchScorer, ProtocolPlan, headline, protocol_facts, protocol_metrics
from lm_eval_ja.benchmarks.mt_bench import protocols as P
from lm_eval_ja.benchmarks.spec import Benchmark, Family, Headline, Metric, Source, TaskVersion
from lm_eval_ja.errors import UserError

PRESETS = {"pairwise": P.VICUNA_PROTOCOLS["ja_vicuna_qa"], "single": P.VICUNA_PROTOCOLS["ja_vicuna_qa_single"]}
BASELINE = "text-davinci-003"
PAIR = PRESETS["pairwise"]
SOURCES = {"test": Source(local=PAIR.questions), "reference": Source(local=PAIR.references),
           "judge_prompts": Source(local=PAIR.judge_prompts), "baseline": Source(local=PAIR.baseline)}


def convert(row: dict[str, Any]) -> dict[str, Any]:
    turns = row["turns"]
    if not isinstance(turns, list) or not turns or not all(isinstance(x, str) for x in turns):
        raise ValueError("turns is not a list of strings")
    qid = int(row["question_id"])
    return {"id": qid, "question_id": qid, "category": row["category"], "turns": list(turns)}


class VicunaPlan(ProtocolPlan):
    presets = PRESETS


class VicunaSingleScorer(MTBenchScorer):
    presets = PRESETS


class VicunaPairScorer:
    """Judges each question's answer (sample 0) against the baseline's, in both orders (g1, g2)."""

    identity = None

    def __init__(self, task):
        if task.judging is None:
            raise UserError(f"{task.config.task} is judged by an LLM: give --judge_model / --judge_model_args.")
        self.judging, self.protocol = task.judging, PAIR
        self.refs = {int(r["question_id"]): list(r["choices"][0]["turns"]) for r in task.extra_data["reference"]}
        self.baseline = {int(r["question_id"]): list(r["choices"][0]["turns"]) for r in task.extra_data["baseline"]}
        self.prompts = {row["name"]: row for row in task.extra_data["judge_prompts"]}
        self.model_is_1 = P.pair_order(str(task.run_options.get("model_id") or "model"), BASELINE)
        self.protocol_facts = {**protocol_facts(PAIR, self.judging, 1), "model_id": task.run_options.get("model_id"),
                               "model_is_model_1": self.model_is_1}

    def judge_requests(self, docs, answers) -> tuple[list, list, dict]:
        """g1 (model_1 as assistant A) and g2 (model_2 as A) of every question, in that order."""
        prompts = []
        for doc, doc_answers in zip(docs, answers):
            ours, theirs = doc_answers[0].text[0], self.baseline[doc["question_id"]][0]
            first, second = (ours, theirs) if self.model_is_1 else (theirs, ours)
            refs = self.refs.get(doc["question_id"])
            prompts += [P.pair_judge_messages(PAIR, self.prompts, doc, first, second, refs),
                        P.pair_judge_messages(PAIR, self.prompts, doc, second, first, refs)]
        self._prompts = prompts
        return prompts, [0] * len(prompts), P.judge_params(PAIR)

    def complete(self, docs, answers, outputs) -> list[dict]:
        out = []
        for i, doc in enumerate(docs):
            g1, g2 = outputs[2 * i], outputs[2 * i + 1]
            winners = P.pair_winners(g1, g2)
            log = [[[{"game": game, "prompt": self._prompts[2 * i + j], "output": text, "winner": winner}
                     for j, (game, text, winner) in enumerate((("g1", g1, winners[0]), ("g2", g2, winners[1])))]]]
            item = {"g1_winner": winners[0], "g2_winner": winners[1],
                    "model": "model_1" if self.model_is_1 else "model_2"}
            out.append({**{m: item for m in PAIR_METRIC_NAMES}, "_log": log + [[]] * (len(answers[i]) - 1)})
        return out

    def score(self, docs, answers):
        prompts, indices, params = self.judge_requests(docs, answers)
        return self.complete(docs, answers, self.judging.judge.ask(prompts, indices, params))


PAIR_METRIC_NAMES = ("win_rate", "loss_rate", "tie_rate", "adjusted_win_rate")


def pair_metrics() -> tuple[Metric, ...]:
    """ku-nlp's rates over the questions' (g1, g2) winners, from the model's side (each item says which it was)."""

    def rate(key: str):
        def aggregate(items: list[dict]) -> float | None:
            if not items:
                return None
            rates = P.win_rates(items, items[0]["model"] == "model_1")
            if key == "tie_rate":
                return rates["n_tie"] / rates["n_questions"] * 100
            return rates["lose_rate" if key == "loss_rate" else key]

        aggregate.__name__ = key
        return aggregate

    return tuple(Metric(name, rate(name), higher_is_better=name != "loss_rate") for name in PAIR_METRIC_NAMES)


def _scorer(task):
    return VicunaPairScorer(task) if task.task_version.protocol == "pairwise" else VicunaSingleScorer(task)


FAMILY = Family(
    name="ja_vicuna_qa", order=87,
    benchmarks=(Benchmark(
        name="ja_vicuna_qa", display_name="Japanese Vicuna QA",
        title="Japanese Vicuna QA (ku-nlp, Apache-2.0): 80 questions, pairwise against text-davinci-003 (win rates "
              "x 100) or single 1-10 ratings",
        output_type="generate_until", convert=convert, sources=SOURCES, eval_split="test", train_split=None,
        sampler="first_n", scorer=_scorer, metrics=pair_metrics(),
        headline=Headline("adjusted_win_rate", 1.0, "adjusted win rate vs text-davinci-003", scale="0–100 (win rate)"),
        versions=(TaskVersion(None, None, number=1.0, protocol="pairwise"),
                  TaskVersion(None, None, number=1.0, protocol="single", metrics=protocol_metrics(PRESETS["single"]),
                              headline=headline(PRESETS["single"]))),
        alias=(None, "pairwise"), conversation=True, conversation_plan=VicunaPlan, judged=True,
    ),),
)
