"""Compare two runs task by task: headline delta B − A and whether it is more than noise.

With per-sample logs of both runs (lm-eval ``--log_samples`` JSONL), a paired bootstrap over the documents both
runs scored (matched by ``doc_id``) gives a two-sided p-value and a 95% CI; pairing removes the between-document
variance both runs share, so it detects smaller differences than stderrs can. Without logs, the reported stderrs
give z = Δ / √(se_a² + se_b²); that treats the runs as independent, which is conservative for runs on the same
documents. Metrics reported without stderr (exact match, ROUGE-2) and without logs get no significance.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Union

import numpy as np

from lm_eval_ja.errors import UserError
from lm_eval_ja.jsonl import read_jsonl
from lm_eval_ja.report.leaderboard import Score, headline
from lm_eval_ja.report.results import (
    ModelIdFrom,
    ResultFile,
    TaskResult,
    load_result_file,
    task_of_samples_file,
)

ALPHA = 0.05
_Z_975 = 1.959963984540054
# How far the mean of the per-sample values may be from the reported score (0–100 scale) before the log is taken
# to belong to another run.
_SAMPLES_TOLERANCE = 0.01

SamplesArg = Union[None, str, Path, Sequence[Union[str, Path]], Mapping[str, Union[str, Path]]]


@dataclass(frozen=True)
class Delta:
    """One task's difference between run A and run B, on the headline 0–100 scale."""

    family: str
    task_a: str
    task_b: str
    metric: str
    value_a: float
    value_b: float
    delta: float
    method: Literal["paired_bootstrap", "stderr", "none"]
    p_value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    z: float | None = None
    n_docs: int | None = None
    note: str = ""

    @property
    def within_noise(self) -> bool | None:
        """True when the difference is not significant at 5% (or its CI contains 0); None when unknown."""
        if self.p_value is None:
            return None
        ci_has_zero = self.ci_low is not None and self.ci_high is not None and self.ci_low <= 0.0 <= self.ci_high
        return self.p_value >= ALPHA or ci_has_zero


def compare(
    a: str | Path | ResultFile,
    b: str | Path | ResultFile,
    samples_a: SamplesArg = None,
    samples_b: SamplesArg = None,
    *,
    seed: int = 0,
    n_resamples: int = 10_000,
    model_id_from: ModelIdFrom = "dir",
) -> list[Delta]:
    """Deltas for every task the two runs share (same task name, else the same family when each has one).

    ``samples_a``/``samples_b``: per-sample logs — a JSONL file, a folder of ``samples_<task>_<date>.jsonl``, a
    list of those, or a ``{task: path}`` mapping. Deterministic for a given ``seed``.
    """
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise UserError(f"--resamples {n_resamples}: the bootstrap needs at least 1 resample (default 10000); pass "
                        "--resamples 1 or more.")
    run_a = a if isinstance(a, ResultFile) else load_result_file(a, model_id_from)
    run_b = b if isinstance(b, ResultFile) else load_result_file(b, model_id_from)
    logs_a = _samples_by_task(samples_a, run_a)
    logs_b = _samples_by_task(samples_b, run_b)
    deltas = []
    for ta, tb in _pair_tasks(run_a.tasks, run_b.tasks):
        sa, sb = headline(ta), headline(tb)
        if sa is None or sb is None or sa.metric != sb.metric:
            continue
        deltas.append(_delta(sa, sb, logs_a.get(ta.task), logs_b.get(tb.task), seed, n_resamples))
    return deltas


def deltas_to_markdown(deltas: Sequence[Delta], name_a: str = "A", name_b: str = "B") -> str:
    """A table of the deltas, with a verdict per task and the notes underneath."""
    lines = [
        f"A = {name_a}, B = {name_b}; Δ = B − A on the 0–100 headline scale.",
        "",
        "| task | metric | A | B | Δ (B−A) | 95% CI | p | method | verdict |",
        "|---|---|--:|--:|--:|---|--:|---|---|",
    ]
    notes = []
    for d in deltas:
        task = d.task_a if d.task_a == d.task_b else f"{d.task_a} / {d.task_b}"
        ci = f"[{d.ci_low:+.2f}, {d.ci_high:+.2f}]" if d.ci_low is not None and d.ci_high is not None else "–"
        p = "–" if d.p_value is None else ("<0.0001" if d.p_value < 1e-4 else f"{d.p_value:.4f}")
        method = {"paired_bootstrap": f"paired bootstrap (n={d.n_docs})", "stderr": "stderr z", "none": "–"}[d.method]
        lines.append(
            f"| {task} | {d.metric} | {d.value_a:.2f} | {d.value_b:.2f} | {d.delta:+.2f} | {ci} | {p} | {method} "
            f"| {_verdict(d)} |"
        )
        if d.note:
            notes.append(f"* {task}: {d.note}")
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, n_resamples: int = 10_000, seed: int = 0
) -> tuple[float, float, float]:
    """Two-sided p-value and 95% percentile CI of mean(b − a) by resampling documents with replacement.

    The p-value shifts the bootstrap distribution to the null (mean 0): p = P(|d* − d̄| ≥ |d̄|).
    """
    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    n = len(d)
    observed = d.mean()
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    chunk = max(1, 4_000_000 // n)  # bound the (chunk × n) index matrix
    for start in range(0, n_resamples, chunk):
        k = min(chunk, n_resamples - start)
        means[start : start + k] = d[rng.integers(0, n, size=(k, n))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    p = float(np.mean(np.abs(means - observed) >= abs(observed)))
    return p, float(low), float(high)


def stderr_test(delta: float, se_a: float, se_b: float) -> tuple[float, float, float, float]:
    """(z, two-sided normal p, CI low, CI high) for a difference of two independent estimates."""
    se = math.sqrt(se_a**2 + se_b**2)
    z = delta / se
    return z, math.erfc(abs(z) / math.sqrt(2.0)), delta - _Z_975 * se, delta + _Z_975 * se


# ---------------------------------------------------------------------------------------------------------------


def _delta(sa: Score, sb: Score, log_a: Path | None, log_b: Path | None, seed: int, n_resamples: int) -> Delta:
    base = dict(
        family=sa.result.family,
        task_a=sa.result.task,
        task_b=sb.result.task,
        metric=sa.metric,
        value_a=sa.value,
        value_b=sb.value,
        delta=sb.value - sa.value,
    )
    notes = _setup_differences(sa.result, sb.result)
    if log_a is not None and log_b is not None:
        per_doc_a, why_a = _per_doc_scores(log_a, sa)
        per_doc_b, why_b = _per_doc_scores(log_b, sb)
        if per_doc_a is not None and per_doc_b is not None:
            common = sorted(set(per_doc_a) & set(per_doc_b), key=str)
            if common:
                if len(common) < max(len(per_doc_a), len(per_doc_b)):
                    notes.append(f"paired on {len(common)} docs (A has {len(per_doc_a)}, B {len(per_doc_b)})")
                p, low, high = paired_bootstrap(
                    np.array([per_doc_a[k] for k in common]), np.array([per_doc_b[k] for k in common]),
                    n_resamples, seed,
                )
                return Delta(**base, method="paired_bootstrap", p_value=p, ci_low=low, ci_high=high,
                             n_docs=len(common), note="; ".join(notes))
            notes.append("the two sample logs share no doc_id")
        notes += [w for w in (why_a, why_b) if w]
    if sa.stderr is not None and sb.stderr is not None and (sa.stderr > 0 or sb.stderr > 0):
        z, p, low, high = stderr_test(base["delta"], sa.stderr, sb.stderr)
        return Delta(**base, method="stderr", p_value=p, ci_low=low, ci_high=high, z=z, note="; ".join(notes))
    notes.append(f"{sa.metric} is reported without stderr; pass both runs' --log_samples files for a paired test")
    return Delta(**base, method="none", note="; ".join(notes))


def _setup_differences(ta: TaskResult, tb: TaskResult) -> list[str]:
    diffs = []
    if ta.task != tb.task:
        diffs.append(f"different task versions ({ta.task} vs {tb.task})")
    if ta.num_fewshot != tb.num_fewshot:
        diffs.append(f"different few-shot ({ta.num_fewshot} vs {tb.num_fewshot})")
    if ta.limit != tb.limit:
        diffs.append(f"different limit ({ta.limit} vs {tb.limit})")
    return diffs


def _per_doc_scores(path: Path, score: Score) -> tuple[dict[object, float] | None, str]:
    """``{doc_id: per-sample metric × scale}`` from a sample log, or (None, why not)."""
    by_filter: dict[object, dict[object, float]] = {}
    lines = read_jsonl(path, "sample log", "pass the samples_*.jsonl that --log_samples wrote.")
    if lines.cut is not None:  # sample logs are written atomically: a cut one was damaged afterwards
        return None, f"{path.name} line {lines.cut} is cut short (the file was damaged after it was written); used stderr"
    for row in lines.rows:
        lineno, sample = row.number, row.value
        if not isinstance(sample, dict) or "doc_id" not in sample:
            raise UserError(f"{path} line {lineno} has no doc_id; pass the samples_*.jsonl that --log_samples wrote.")
        value = sample.get(score.metric)
        if isinstance(value, bool):
            value = float(value)
        if not isinstance(value, (int, float)):
            return None, (
                f"{path.name} has no numeric per-sample {score.metric} (a corpus-level metric cannot be "
                "resampled per document); used stderr"
            )
        by_filter.setdefault(sample.get("filter"), {})[_hashable(sample["doc_id"])] = float(value) * score.scale
    if not by_filter:
        return None, f"{path.name} is empty"
    wanted = score.result.filter
    per_doc = by_filter.get(wanted) or by_filter.get("none") or next(iter(by_filter.values()))
    mean = sum(per_doc.values()) / len(per_doc)
    if abs(mean - score.value) > _SAMPLES_TOLERANCE and score.result.limit is None:
        return None, (
            f"{path.name} averages {mean:.4f}, not the reported {score.value:.4f}, so it belongs to another run; "
            "used stderr"
        )
    return per_doc, ""


def _hashable(doc_id: object) -> object:
    return json.dumps(doc_id, sort_keys=True) if isinstance(doc_id, (list, dict)) else doc_id


def _samples_by_task(samples: SamplesArg, run: ResultFile) -> dict[str, Path]:
    """Map task name → sample log from whatever form the caller gave."""
    if samples is None:
        return {}
    if isinstance(samples, Mapping):
        mapping = {str(k): Path(v) for k, v in samples.items()}
        for p in mapping.values():
            _require_file(p)
        return mapping
    items = [samples] if isinstance(samples, (str, Path)) else list(samples)
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(set(p.rglob("samples_*.jsonl")) | set(p.rglob("*.samples.*.jsonl")))
            if not found:
                raise UserError(f"{p} contains no samples_*.jsonl files; pass the folder lm-eval --log_samples wrote.")
            files.extend(found)
        else:
            files.append(_require_file(p))
    task_names = [t.task for t in run.tasks]
    out: dict[str, Path] = {}
    for f in files:
        task = task_of_samples_file(f)
        if task is None and len(task_names) == 1:
            task = task_names[0]  # a lone log for a one-task run needs no name
        if task is None:
            raise UserError(
                f"{f}: cannot tell which task this sample log belongs to; name it samples_<task>_<date>.jsonl "
                "as lm-eval does, or pass one log per single-task result file."
            )
        if task not in task_names:
            raise UserError(f"{f} is the sample log of {task}, which {run.path} does not hold; pass the sample logs "
                            "written with that result file.")
        out[task] = f
    return out


def _require_file(p: Path) -> Path:
    if not p.is_file():
        raise UserError(f"{p}: no such sample log; pass the samples_*.jsonl files that lm-eval --log_samples wrote.")
    return p


def _pair_tasks(a: Sequence[TaskResult], b: Sequence[TaskResult]) -> list[tuple[TaskResult, TaskResult]]:
    by_name_b = {t.task: t for t in b}
    pairs = [(t, by_name_b[t.task]) for t in a if t.task in by_name_b]
    paired = {t.task for t, _ in pairs}
    rest_a = [t for t in a if t.task not in paired]
    rest_b = [t for t in b if t.task not in paired]
    for t in rest_a:
        same_a = [x for x in rest_a if x.family == t.family]
        same_b = [x for x in rest_b if x.family == t.family]
        if len(same_a) == 1 and len(same_b) == 1:  # e.g. the same task under two prompt versions
            pairs.append((t, same_b[0]))
    return pairs


def _verdict(d: Delta) -> str:
    if d.within_noise is None:
        return "unknown"
    if d.within_noise:
        return "within noise"
    return "B better" if d.delta > 0 else "A better"
