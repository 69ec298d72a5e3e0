"""One row per model, one column per benchmark, scored by the headline each benchmark family declares.

Every benchmark of lm-eval-ja declares its headline metric and scale (:class:`lm_eval_ja.benchmarks.spec.Headline`):
JGLUE accuracies ×100, jasquad exact match as is (already 0–100), XL-Sum ROUGE-2, JCoLA balanced accuracy ×100
(it reports no acc), llm-jp-style metrics ×100 (they are 0–1), NIILC/JEMHopQA char F1. Tasks that are not
lm-eval-ja's (lm-eval built-ins) follow lm-eval's convention of 0–1 metrics: ``acc`` else ``exact_match``, ×100.
Only headlines on the 0–100 scale are averaged; another scale (an LLM judge's 1–10) gets its own labelled column.
Unlike the reference, which only keeps files with exactly 8 tasks, a model's average is the mean over the tasks
present for it, and ``n_tasks`` says how many that is.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lm_eval_ja.benchmarks import registry
from lm_eval_ja.benchmarks.spec import Headline
from lm_eval_ja.report.results import ModelIdFrom, ResultFile, TaskResult, known_headline, load_results

#: Headlines tried, in order, for a task that is not lm-eval-ja's (lm-eval's metrics are 0–1).
FOREIGN_HEADLINES: tuple[Headline, ...] = (
    Headline("acc", 100.0, "acc×100 (lm-eval task)"),
    Headline("exact_match", 100.0, "exact_match×100 (lm-eval task)"),
)

#: The scale whose headlines are averaged together.
PERCENT = "0–100"

MISSING = "–"


#: The headline of a judged chat task the registry does not know (``score`` from an LLM judge; its scale — 1–10,
#: 1–5, 0–1 — is the judge prompt's, unknown here): a labelled column of its own, never averaged.
JUDGED_HEADLINE = Headline("score", 1.0, "judge score (task unknown to lm-eval-ja)", scale="judge's scale")


def headline_rules(result: "TaskResult") -> tuple[Headline, ...]:
    """The headlines tried for a task result: the registry's (by name, resolved task or name prefix), else lm-eval's
    0–1 metrics, else a judge's ``score`` in a column of its own."""
    known = known_headline(result.task)
    return (known[1],) if known else FOREIGN_HEADLINES + (JUDGED_HEADLINE,)


@dataclass(frozen=True)
class Score:
    """A task's headline score on the 0–100 scale, with its stderr on the same scale when the run reported one."""

    result: TaskResult
    metric: str
    label: str
    #: factor from the raw metric (and its per-sample values) to ``value``
    scale: float
    value: float
    stderr: float | None
    #: the scale ``value`` is on ("0–100"; a judge's "1–10" is never averaged with it)
    range: str = PERCENT


def headline(result: TaskResult) -> Score | None:
    """The headline score of one task result, or None when its headline metric is not present."""
    for rule in headline_rules(result):
        if rule.metric in result.metrics:
            se = result.stderr.get(rule.metric)
            return Score(
                result=result,
                metric=rule.metric,
                label=rule.label,
                scale=rule.factor,
                value=result.metrics[rule.metric] * rule.factor,
                stderr=None if se is None else se * rule.factor,
                range=rule.scale,
            )
    return None


@dataclass(frozen=True)
class Row:
    model: str
    scores: Mapping[str, Score]

    @property
    def percent_scores(self) -> list[Score]:
        return [s for s in self.scores.values() if s.range == PERCENT]

    @property
    def n_tasks(self) -> int:
        """Tasks in the average (0–100 headlines)."""
        return len(self.percent_scores)

    @property
    def average(self) -> float | None:
        """Mean over the 0–100 tasks present; a missing task is not a zero (None when there is none)."""
        scores = self.percent_scores
        return sum(s.value for s in scores) / len(scores) if scores else None

    def prompt_summary(self) -> str:
        """``"0.2 (xlsum_ja, mgsm: 0.0)"``: the usual prompt version, with the exceptions named."""
        versions = {f: s.result.prompt_version for f, s in self.scores.items() if s.result.prompt_version}
        if not versions:
            return MISSING
        common = Counter(versions.values()).most_common(1)[0][0]
        others: dict[str, list[str]] = {}
        for family, v in versions.items():
            if v != common:
                others.setdefault(v, []).append(family)
        extra = "; ".join(f"{', '.join(fams)}: {v}" for v, fams in others.items())
        return f"{common} ({extra})" if extra else common


@dataclass
class Leaderboard:
    families: list[str]
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)

    def row(self, model: str) -> Row:
        for r in self.rows:
            if r.model == model:
                return r
        raise KeyError(model)

    def column_setup(self, family: str) -> tuple[str | None, int | None]:
        """The most common (dataset version, few-shot) of a column: what its header shows."""
        results = [r.scores[family].result for r in self.rows if family in r.scores]
        return (
            _mode([x.dataset_version for x in results]),
            _mode([x.num_fewshot for x in results]),
        )

    def scale(self, family: str) -> str:
        """The scale of a column's scores (every benchmark declares one)."""
        return next((r.scores[family].range for r in self.rows if family in r.scores), PERCENT)

    def best(self, family: str) -> float | None:
        values = [r.scores[family].value for r in self.rows if family in r.scores]
        return max(values) if values else None

    def to_markdown(self) -> str:
        """Rounded to 2 decimals like the reference; best per column in bold; "–" for a task not run."""
        setups = {f: self.column_setup(f) for f in self.families}
        header = ["model", "average", "n_tasks", "prompt"] + [_column_title(f, *setups[f], self.scale(f)) for f in self.families]
        lines = ["| " + " | ".join(header) + " |", "|---|--:|--:|---|" + "--:|" * len(self.families)]
        best_avg = max((r.average for r in self.rows if r.average is not None), default=None)
        for r in self.rows:
            average = MISSING if r.average is None else _bold(f"{r.average:.2f}", r.average == best_avg)
            cells = [r.model, average, str(r.n_tasks), r.prompt_summary()]
            for f in self.families:
                s = r.scores.get(f)
                if s is None:
                    cells.append(MISSING)
                    continue
                text = _bold(f"{s.value:.2f}", s.value == self.best(f))
                deviation = _deviation(s.result, *setups[f])
                cells.append(f"{text} ({deviation})" if deviation else text)
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        return "\n".join(lines) + "\n\n" + "\n".join(f"* {n}" for n in self._legend() + self.notes) + "\n"

    def to_csv(self, path: str | Path | None = None) -> str:
        """Same numbers, unrounded, with each cell's metric, stderr, task, prompt version, few-shot and source."""
        per_family = ["metric", "stderr", "task", "dataset_version", "prompt_version", "num_fewshot", "limit", "source"]
        header = ["model", "average", "n_tasks", "prompt"]
        for f in self.families:
            header += [f] + [f"{f}_{k}" for k in per_family]
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        for r in self.rows:
            row: list[object] = [r.model, _blank(r.average), r.n_tasks, r.prompt_summary()]
            for f in self.families:
                s = r.scores.get(f)
                if s is None:
                    row += [""] * (1 + len(per_family))
                    continue
                x = s.result
                row += [s.value, s.metric, _blank(s.stderr), x.task, _blank(x.dataset_version),
                        _blank(x.prompt_version), _blank(x.num_fewshot), _blank(x.limit), str(x.source)]
            writer.writerow(row)
        text = buf.getvalue()
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def _legend(self) -> list[str]:
        labels: dict[str, list[str]] = {}
        for f in self.families:
            used = sorted({r.scores[f].label for r in self.rows if f in r.scores})
            labels.setdefault(self.scale(f), []).append(f"{f} {' / '.join(used)}")
        own = [f"On their own scale, never averaged with the 0–100 scores: {'; '.join(v)} ({k})."
               for k, v in labels.items() if k != PERCENT]
        return [
            *(["Scores on 0–100: " + "; ".join(labels[PERCENT]) + "."] if labels.get(PERCENT) else []),
            *own,
            "average = plain mean over the 0–100 tasks present for that model (n_tasks); a task not run (–) is not "
            "counted, so averages over different task sets are not comparable.",
            "Column headers give the most common task version and few-shot count; a cell that differs says how. "
            "prompt = the row's prompt version, with exceptions per task.",
        ]


def leaderboard(
    paths_or_results: str | Path | ResultFile | TaskResult | Iterable[str | Path | ResultFile | TaskResult],
    model_id_from: ModelIdFrom = "dir",
) -> Leaderboard:
    """Build a leaderboard from result files/directories, parsed :class:`ResultFile` s or :class:`TaskResult` s.

    Several files of one model (result.json + result.mgsm.json, ...) are merged. When two of them hold the same task
    family, the one from the file with more tasks wins (the full-suite run, which is what the reference's README was
    built from), then the first path in sorted order; the others are listed in ``notes``.
    """
    single = isinstance(paths_or_results, (str, Path, ResultFile, TaskResult))
    items = [paths_or_results] if single else paths_or_results
    results: list[TaskResult] = []
    paths: list[str | Path] = []
    for item in items:
        if isinstance(item, ResultFile):
            results.extend(item.tasks)
        elif isinstance(item, TaskResult):
            results.append(item)
        else:
            paths.append(item)
    skipped: list[Path] = []
    if paths:
        files, skipped = load_results(paths, model_id_from)
        results.extend(t for f in files for t in f.tasks)
    return _build(results, skipped)


def _build(results: Sequence[TaskResult], skipped: list[Path]) -> Leaderboard:
    notes: list[str] = []
    tasks_in_file = Counter((r.model, r.source) for r in results)
    candidates: dict[str, dict[str, list[Score]]] = {}
    for r in results:
        score = headline(r)
        if score is None:
            failed = r.metrics.get("n_judge_failed")
            if failed:  # a judged task whose judge gave no rating at all: say so, not "no headline metric"
                notes.append(f"{r.model}: {r.task} ({r.source.name}) has no score: the judge rated none of its "
                             f"answers (n_judge_failed = {failed:g}); left out.")
            else:
                notes.append(f"{r.model}: {r.task} ({r.source.name}) has none of the headline metrics "
                             f"({' / '.join(h.metric for h in headline_rules(r))}); left out.")
            continue
        candidates.setdefault(r.model, {}).setdefault(r.family, []).append(score)

    short = _shortener([r.source for r in results])
    rows = []
    for model, by_family in candidates.items():
        chosen: dict[str, Score] = {}
        for family, scores in by_family.items():
            scores = sorted(scores, key=lambda s: (-tasks_in_file[(model, s.result.source)], str(s.result.source)))
            chosen[family] = scores[0]
            for other in scores[1:]:
                if (other.result.task, other.value) == (scores[0].result.task, scores[0].value):
                    continue  # the same number copied into two files (e.g. merge_json.py): nothing to report
                notes.append(
                    f"{model}: {family} taken from {scores[0].result.task} in {short(scores[0].result.source)} "
                    f"({scores[0].value:.2f}); also found {other.result.task} in {short(other.result.source)} "
                    f"({other.value:.2f}), not used."
                )
        rows.append(Row(model=model, scores=chosen))
    rows.sort(key=lambda r: (r.average is None, -(r.average or 0.0), -r.n_tasks, r.model))

    present = {f for r in rows for f in r.scores}
    order = registry.column_order()
    families = [f for f in order if f in present] + sorted(present - set(order))
    # Columns on another scale than 0–100 go last, after the ones the average is made of.
    scale = {f: next(r.scores[f].range for r in rows if f in r.scores) for f in families}
    families.sort(key=lambda f: scale[f] != PERCENT)
    notes += [f"Skipped {p}: not a result.json." for p in skipped]
    return Leaderboard(families=families, rows=rows, notes=notes, skipped=skipped)


def _shortener(paths: list[Path]):
    """Paths in notes relative to the folder all inputs share, so the notes stay readable."""
    try:
        root = Path(os.path.commonpath([p.parent for p in paths])) if paths else None
    except ValueError:  # absolute and relative paths mixed
        root = None
    return lambda p: str(p.relative_to(root)) if root is not None and p.is_relative_to(root) else str(p)


def _mode(values: list) -> object:
    known = [v for v in values if v is not None]
    if not known:
        return None
    counts = Counter(known)
    top = max(counts.values())
    return next(v for v in known if counts[v] == top)  # ties: first seen, i.e. the higher-ranked row's


def _column_title(family: str, dataset: str | None, shots: int | None, scale: str = PERCENT) -> str:
    name = f"{family}-{dataset}" if dataset else family
    name = f"{name} ({shots}-shot)" if shots is not None else name
    return name if scale == PERCENT else f"{name} [{scale}]"


def _deviation(result: TaskResult, dataset: str | None, shots: int | None) -> str:
    parts = []
    if result.dataset_version != dataset and result.dataset_version is not None:
        parts.append(f"v{result.dataset_version}")
    if result.num_fewshot != shots:
        parts.append(f"{result.num_fewshot}-shot" if result.num_fewshot is not None else "shots unknown")
    if result.limit is not None:
        parts.append(f"limit {result.limit}")
    return ", ".join(parts)


def _bold(text: str, on: bool) -> str:
    return f"**{text}**" if on else text


def _blank(value: object) -> object:
    return "" if value is None else value
