"""Pairwise comparison of two runs' chat answers by an LLM judge (``lm-eval-ja pairwise A.json B.json``).

For every question both runs answered (sample 0 of their ``--log_samples`` logs) and every turn, the judge compares
the two conversations twice, once in each order (position swap). A verdict that holds in both orders is a win or a
loss; verdicts that disagree count as a tie, as a tie does; a judgment without a verdict is counted and left out.
Reported per category and overall: wins, ties, losses of A, the win rate ``wins / n`` and the adjusted win rate
``(wins + ties / 2) / n`` with a 95% bootstrap interval over the compared turns. The prompts and the verdict rule
are the benchmark's (MT-Bench: FastChat's ``pair-v2`` / ``pair-math-v1`` and their ``-multi-turn`` forms).

Sample logs are read with :func:`lm_eval_ja.jsonl.read_jsonl`. They are written atomically, so a log whose last line
is cut was damaged afterwards (an interrupted copy): that question is left out, with a note on stderr; a damaged
line anywhere else (invalid UTF-8 or JSON) is refused with file and line. ``--resamples`` must be at least 1.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lm_eval_ja.benchmarks import registry
from lm_eval_ja.errors import UserError
from lm_eval_ja.jsonl import read_jsonl
from lm_eval_ja.outputs import RunFiles
from lm_eval_ja.documents import load_documents


@dataclass
class Outcome:
    #: the task (one per category for MT-Bench)
    category: str
    question: Any
    turn: int
    #: from A's side: "win", "tie" or "loss"; None when a judgment had no verdict
    result: str | None
    verdicts: tuple[str | None, str | None]


def _answers(path: Path, say=None) -> dict[Any, tuple[dict, list[str]]]:
    """``{question: (doc, answers of sample 0 per turn)}`` from a chat task's sample log.

    Read with :func:`lm_eval_ja.jsonl.read_jsonl`: a cut last line (the log was damaged after it was written, e.g. an
    interrupted copy; logs are written atomically) leaves that question out with a note on stderr; a damaged line
    anywhere else, or a line that is not a chat sample, is refused with file and line.
    """
    fix = "rerun that task with --log_samples, or copy its sample log again."
    lines = read_jsonl(path, "sample log", fix)
    if lines.cut is not None:
        (say or _note)(f"note: {path} line {lines.cut} is cut short (the file was damaged after it was written); "
                       "that question is left out of the comparison.")
    out = {}
    for line in lines.rows:
        row = line.value
        try:
            doc, answers = row["doc"], [t["answer"] for t in row["samples"][0]["turns"]]
            key = json.dumps(doc, sort_keys=True, ensure_ascii=False)
        except (KeyError, IndexError, TypeError):
            raise UserError(f"{path} line {line.number} is not a chat task's sample (one needs \"doc\" and "
                            f"\"samples\"[0][\"turns\"][...][\"answer\"]); {fix}") from None
        out[key] = (doc, answers)
    return out


def _note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def check_resamples(resamples: int) -> None:
    """``--resamples`` must be a positive count (the bootstrap interval is taken over them)."""
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise UserError(f"--resamples {resamples}: the bootstrap needs at least 1 resample (default 10000); pass "
                        "--resamples 1 or more.")


def comparable_tasks(result_a: Path, result_b: Path) -> list[str]:
    """Tasks that both runs kept sample logs of and that a judge can compare pairwise."""
    def logged(result: Path) -> set[str]:
        files = RunFiles(Path(result))
        prefix = f"{files.result.stem}.samples."
        return {p.name[len(prefix):-len(".jsonl")] for p in files.folder.glob(f"{prefix}*.jsonl")}

    both = logged(result_a) & logged(result_b)
    tasks = [t for t in registry.task_names() if t in both and registry.resolve(t).benchmark.pairwise]
    if not tasks:
        raise UserError(f"{result_a} and {result_b} have no sample logs of a task that can be compared pairwise "
                        "in common; run both with --log_samples on the same chat tasks.")
    return tasks


def compare_runs(result_a: Path, result_b: Path, judge, data_dir: str | None) -> list[Outcome]:
    """Judge every turn both runs answered, in both orders (see the module docstring)."""
    plan, prompts, rules = [], [], []
    for task in comparable_tasks(result_a, result_b):
        bench = registry.resolve(task).benchmark
        extra = load_documents(task, bench, data_dir).extra
        answers_a = _answers(RunFiles(Path(result_a)).samples(task))
        answers_b = _answers(RunFiles(Path(result_b)).samples(task))
        for key, (doc, a) in answers_a.items():
            if key not in answers_b:
                continue
            b = answers_b[key][1]
            for turn in range(min(len(a), len(b))):
                plan.append((task, doc.get("id", key), turn))
                rules.append(bench.pairwise.verdict)
                prompts.append(bench.pairwise.messages(doc, a, b, turn, extra))
                prompts.append(bench.pairwise.messages(doc, b, a, turn, extra))  # position swap
    if not plan:
        raise UserError("The two runs answered no question in common.")
    outputs = judge.ask(prompts, [0] * len(prompts))
    outcomes = []
    for i, ((task, question, turn), verdict) in enumerate(zip(plan, rules)):
        first, swapped = (verdict(o) for o in outputs[2 * i:2 * i + 2])
        outcomes.append(Outcome(task, question, turn, _result(first, swapped), (first, swapped)))
    return outcomes


def _result(first: str | None, swapped: str | None) -> str | None:
    """A's result from a verdict in A-B order and one in B-A order."""
    if first is None or swapped is None:
        return None
    as_a = {"A": "win", "B": "loss", "tie": "tie"}[first]
    as_a_swapped = {"A": "loss", "B": "win", "tie": "tie"}[swapped]
    return as_a if as_a == as_a_swapped else "tie"  # inconsistent verdicts count as ties


def summarize(outcomes: list[Outcome], *, seed: int = 0, resamples: int = 10_000) -> dict[str, dict[str, Any]]:
    """Per category and ``overall``: wins, ties, losses, failed, win rates and the adjusted rate's 95% interval."""
    check_resamples(resamples)
    rng = np.random.default_rng(seed)
    groups = {c: [o for o in outcomes if o.category == c] for c in dict.fromkeys(o.category for o in outcomes)}
    groups["overall"] = outcomes
    out = {}
    for name, group in groups.items():
        valid = [o.result for o in group if o.result is not None]
        wins, ties, losses = (valid.count(r) for r in ("win", "tie", "loss"))
        n = len(valid)
        row: dict[str, Any] = {"wins": wins, "ties": ties, "losses": losses, "failed": len(group) - n}
        if n:
            points = np.array([{"win": 1.0, "tie": 0.5, "loss": 0.0}[r] for r in valid])
            means = points[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
            low, high = np.percentile(means, [2.5, 97.5])
            row.update(win_rate=wins / n, win_rate_adjusted=float(points.mean()), ci_low=float(low),
                       ci_high=float(high))
        out[name] = row
    return out


def to_markdown(summary: dict[str, dict[str, Any]], name_a: str, name_b: str) -> str:
    lines = [f"A = {name_a}, B = {name_b}; each turn judged in both orders (verdicts that disagree are ties).", "",
             "| category | A wins | ties | B wins | failed | win rate (A) | adjusted (A) | 95% CI |",
             "|---|--:|--:|--:|--:|--:|--:|---|"]
    for name, r in summary.items():
        rate = f"{r['win_rate']:.3f}" if "win_rate" in r else "–"
        adjusted = f"{r['win_rate_adjusted']:.3f}" if "win_rate_adjusted" in r else "–"
        ci = f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]" if "ci_low" in r else "–"
        lines.append(f"| {name} | {r['wins']} | {r['ties']} | {r['losses']} | {r['failed']} | {rate} | {adjusted} "
                     f"| {ci} |")
    return "\n".join(lines) + "\n"
