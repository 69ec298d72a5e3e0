"""Prompt sensitivity of one model: each task's headline score under every prompt version it was run with.

Task results are grouped by their name without the prompt version (``jcommonsenseqa-1.1-0.2`` and ``-0.3`` →
``jcommonsenseqa-1.1``); a group shows the score per version, min / mean / max, spread (max − min), the number of
versions and the best one. Scores are the leaderboard's headlines (:func:`lm_eval_ja.report.leaderboard.headline`),
on the same scale. Names without a prompt version (``xwinograd_ja``, ``ja_mt_bench``) are skipped with a note.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lm_eval_ja.benchmarks import registry
from lm_eval_ja.errors import UserError
from lm_eval_ja.names import TaskName
from lm_eval_ja.report.leaderboard import MISSING, PERCENT, Score, headline, headline_rules
from lm_eval_ja.report.results import ModelIdFrom, ResultFile, load_results

# The registry's own prompt version order (numbers numerically, llm-jp style names after them).
from lm_eval_ja.templates import version_key


@dataclass(frozen=True)
class Sensitivity:
    """One task (benchmark + dataset version) under each prompt version found, versions in ascending order."""

    task: str
    metric: str
    scale: str
    scores: Mapping[str, Score]
    higher_is_better: bool = True

    @property
    def values(self) -> list[float]:
        return [s.value for s in self.scores.values()]

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values)

    @property
    def spread(self) -> float:
        return self.max - self.min

    @property
    def best(self) -> str:
        """The best-scoring version; on a tie the lowest version wins (max/min keep the first of equals)."""
        pick = max if self.higher_is_better else min
        return pick(self.scores, key=lambda v: self.scores[v].value)

    @property
    def shots(self) -> str:
        """Few-shot count(s) of the versions, ``3`` or ``3/2`` when they differ (``?`` = unknown)."""
        counts = dict.fromkeys("?" if s.result.num_fewshot is None else str(s.result.num_fewshot)
                               for s in self.scores.values())
        return "/".join(counts)


@dataclass
class PromptReport:
    model: str
    tasks: list[Sensitivity]
    notes: list[str] = field(default_factory=list)

    @property
    def versions(self) -> list[str]:
        """Every prompt version found, in version order: one column each."""
        return sorted({v for t in self.tasks for v in t.scores}, key=version_key)

    def to_markdown(self) -> str:
        """Rounded to 2 decimals like the leaderboard; "–" for a version the task was not run with."""
        versions = self.versions
        header = ["task", "metric", "shots", *versions, "min", "mean", "max", "spread", "n", "best"]
        lines = ["| " + " | ".join(header) + " |", "|---|---|--:|" + "--:|" * (len(versions) + 5) + "---|"]
        for t in self.tasks:
            cells = [t.task, _metric(t), t.shots]
            cells += [f"{t.scores[v].value:.2f}" if v in t.scores else MISSING for v in versions]
            cells += [f"{x:.2f}" for x in (t.min, t.mean, t.max, t.spread)] + [str(len(t.scores)), t.best]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        legend = (f"model: {self.model}. Scores are the leaderboard's headline metrics; spread = max − min over the "
                  "prompt versions, best = the highest score (the lowest version on a tie).")
        return "\n".join(lines) + "\n\n" + "\n".join(f"* {n}" for n in [legend, *self.notes]) + "\n"

    def to_csv(self, path: str | Path | None = None) -> str:
        """The table's numbers, unrounded; a blank cell for a version the task was not run with."""
        versions = self.versions
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["model", "task", "metric", "scale", "shots", *versions,
                         "min", "mean", "max", "spread", "n_versions", "best"])
        for t in self.tasks:
            writer.writerow([self.model, t.task, next(iter(t.scores.values())).metric, t.scale, t.shots,
                             *(t.scores[v].value if v in t.scores else "" for v in versions),
                             t.min, t.mean, t.max, t.spread, len(t.scores), t.best])
        text = buf.getvalue()
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text


def by_prompt(
    paths_or_files: str | Path | ResultFile | Iterable[str | Path | ResultFile],
    model_id_from: ModelIdFrom = "pretrained",
) -> PromptReport:
    """Build the report from one model's result files (or folders searched like the leaderboard's, or parsed files).

    Models are told apart by ``pretrained=`` by default (not by folder like the leaderboard): one model's prompt
    versions are often run into separate folders. Files of two models, or one task and prompt version with two
    different scores, raise :class:`UserError`; the same score in two files is fine.
    """
    files, skipped = _one_models_files(paths_or_files, model_id_from)
    notes: list[str] = []
    unversioned: dict[str, None] = {}
    groups: dict[str, dict[str, Score]] = {}
    for r in (t for f in files for t in f.tasks):
        if r.prompt_version is None:
            unversioned[r.task] = None
            continue
        score = headline(r)
        if score is None:
            notes.append(f"{r.task} ({r.source}) has none of the headline metrics; left out.")
            continue
        task = TaskName(TaskName.parse(r.task).benchmark, r.dataset_version).versioned_family
        seen = groups.setdefault(task, {}).get(r.prompt_version)
        if seen is not None and seen.value != score.value:
            raise UserError(
                f"{task} prompt version {r.prompt_version} scores {seen.value:g} in {seen.result.source} but "
                f"{score.value:g} in {r.source}; pass one run per prompt version."
            )
        groups[task].setdefault(r.prompt_version, score)

    order = {name: i for i, name in enumerate(registry.column_order())}
    tasks = []
    for task, scores in groups.items():
        first = next(iter(scores.values()))
        rule = next(h for h in headline_rules(first.result) if h.metric == first.metric)
        tasks.append(Sensitivity(task=task, metric=first.label.split(" ")[0], scale=first.range,
                                 scores={v: scores[v] for v in sorted(scores, key=version_key)},
                                 higher_is_better=rule.higher_is_better))
    tasks.sort(key=lambda t: (order.get(next(iter(t.scores.values())).result.family, len(order)), t.task))

    notes += _notes(tasks, list(unversioned), skipped)
    if not tasks:
        raise UserError("None of the results has a prompt version in its task name (e.g. jnli-1.3-0.6); "
                        "pass result files of versioned tasks.")
    return PromptReport(model=files[0].model_id, tasks=tasks, notes=notes)


def _one_models_files(paths_or_files, model_id_from: ModelIdFrom) -> tuple[list[ResultFile], list[Path]]:
    """The parsed result files (and skipped non-result files); refused unless there are some, all of one model."""
    single = isinstance(paths_or_files, (str, Path, ResultFile))
    items = [paths_or_files] if single else list(paths_or_files)
    files = [f for f in items if isinstance(f, ResultFile)]
    paths = [p for p in items if not isinstance(p, ResultFile)]
    skipped: list[Path] = []
    if paths:
        loaded, skipped = load_results(paths, model_id_from)
        files += loaded
    if not files:
        raise UserError("No result files given; pass one model's result.json files or their folder.")
    for f in files[1:]:
        if f.model_id != files[0].model_id:
            raise UserError(
                f"{files[0].path} and {f.path} are of different models ({files[0].model_id} vs {f.model_id}); a "
                "prompt-sensitivity report is of one model: pass only its result files."
            )
    return files, skipped


def _notes(tasks: list[Sensitivity], unversioned: list[str], skipped: list[Path]) -> list[str]:
    """What the report's reader should know: mixed setups, single versions, what was skipped."""
    notes = []
    for t in tasks:
        setups = {v: _setup(s) for v, s in t.scores.items()}
        if len(set(setups.values())) > 1:
            notes.append(f"{t.task}: the versions ran with different setups ("
                         + ", ".join(f"{v}: {s}" for v, s in setups.items())
                         + "), so its spread mixes prompt and setup effects.")
    single_version = [t.task for t in tasks if len(t.scores) == 1]
    if single_version:
        notes.append(f"Run with one prompt version only (spread 0 says nothing): {', '.join(single_version)}.")
    if unversioned:
        notes.append(f"Skipped, no prompt version in the name: {', '.join(unversioned)}.")
    return notes + [f"Skipped {p}: not a result.json." for p in skipped]


def plot_by_prompt(report: PromptReport, path: str | Path, *, title: str = "プロンプト版によるスコアの違い") -> Path:
    """Write a PNG: per task a line from min to max with a labelled dot per prompt version, the best one ringed.

    Only 0–100 headlines are drawn (one axis); tasks on another scale are named in the title as left out.
    """
    import matplotlib
    from matplotlib.figure import Figure  # not pyplot: leaves the caller's backend and figures alone

    from lm_eval_ja.report.charts import colors_for, japanese_rc

    tasks = [t for t in report.tasks if t.scale == PERCENT]
    if not tasks:
        raise UserError("No task with a 0–100 headline to chart; use the markdown or CSV output.")
    others = [t.task for t in report.tasks if t.scale != PERCENT]
    title = f"{title}：{report.model}（見出し指標、0〜100）"
    if others:
        title += f"\n別尺度のため省略: {', '.join(others)}"
    versions = report.versions
    colors = dict(zip(versions, colors_for(len(versions))))
    rc = japanese_rc()
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(10.0, 1.5 + 0.6 * len(tasks)))
        ax = fig.subplots()
        for y, t in enumerate(reversed(tasks)):
            ax.hlines(y, t.min, t.max, color="0.6", linewidth=2, zorder=1)
            for k, (v, s) in enumerate(sorted(t.scores.items(), key=lambda kv: kv[1].value)):
                ax.scatter(s.value, y, color=colors[v], s=40, zorder=3, label=v)
                # alternate above/below so close scores keep readable labels
                ax.annotate(v, (s.value, y), xytext=(0, 9 if k % 2 == 0 else -15), textcoords="offset points",
                            ha="center", fontsize=7)
            ax.scatter(t.scores[t.best].value, y, s=160, facecolors="none", edgecolors="black", linewidths=1.2,
                       zorder=4, label="最良")
            ax.annotate(f"幅 {t.spread:.2f}", (t.max, y), xytext=(10, -3), textcoords="offset points", fontsize=8)
        ax.set_yticks(range(len(tasks)))
        ax.set_yticklabels([f"{t.task}\n{t.metric}" for t in reversed(tasks)], fontsize=8)
        ax.set_ylim(-0.7, len(tasks) - 0.3)
        low, high = min(t.min for t in tasks), max(t.max for t in tasks)
        pad = max(2.0, 0.1 * (high - low))  # a zoomed axis: prompt effects are often a few points
        ax.set_xlim(max(0.0, low - pad), min(100.0, high + 2 * pad))
        ax.set_xlabel("スコア（0〜100） ／ 点: プロンプト版 ／ 線: 最小〜最大 ／ 丸: 最良の版")
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
        handles = dict(zip(*reversed(ax.get_legend_handles_labels())))  # one legend entry per label
        shown = [v for v in [*versions, "最良"] if v in handles]
        ax.legend([handles[v] for v in shown], shown, title="プロンプト版", fontsize=8, title_fontsize=9,
                  loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.set_title(title)
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def _metric(t: Sensitivity) -> str:
    return t.metric if t.scale == PERCENT else f"{t.metric} [{t.scale}]"


def _setup(s: Score) -> str:
    r = s.result
    shots = "shots unknown" if r.num_fewshot is None else f"{r.num_fewshot}-shot"
    return shots if r.limit is None else f"{shots}, limit {r.limit}"
