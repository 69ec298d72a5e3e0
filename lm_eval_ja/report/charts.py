"""Grouped bar chart of a leaderboard: one group per task, one bar per model, stderr error bars.

Japanese labels need a CJK font. The IPAexGothic font shipped in the ``matplotlib-fontja`` package is used first so a
fresh CI machine renders the same as a workstation; installed system fonts are the fallback.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

from lm_eval_ja.benchmarks import registry
from lm_eval_ja.errors import UserError
from lm_eval_ja.report.leaderboard import PERCENT, Leaderboard
from lm_eval_ja.report.results import ResultFile, group_members

# Families installed by distributions or OSes that cover Japanese, tried when the bundled font is absent.
_SYSTEM_CJK_FONTS = (
    "Noto Sans CJK JP",
    "Noto Sans JP",
    "IPAexGothic",
    "IPAGothic",
    "TakaoGothic",
    "VL Gothic",
    "Hiragino Sans",
    "Yu Gothic",
    "Meiryo",
    "MS Gothic",
)


def require_matplotlib(*flags: str) -> None:
    """Refuse a chart flag when matplotlib is not installed: one line naming the flag and the fix (not a traceback).

    Called before anything is read or written; nothing is checked when no chart flag was given.
    """
    if flags and importlib.util.find_spec("matplotlib") is None:
        raise UserError(f"{' and '.join(flags)} {'needs' if len(flags) == 1 else 'need'} matplotlib, which is not "
                        "installed: pip install 'lm-eval-ja[report]' (matplotlib and a Japanese font), or leave out "
                        f"{' and '.join(flags)}.")


def japanese_font() -> str | None:
    """Register and return the name of a font with Japanese glyphs, or None (with a warning) if there is none."""
    from matplotlib import font_manager

    spec = importlib.util.find_spec("matplotlib_fontja")
    # Locate the bundled TTF without importing the package: importing it rewrites the global rcParams.
    if spec is not None and spec.origin is not None:
        ttf = Path(spec.origin).parent / "fonts" / "ipaexg.ttf"
        if ttf.is_file():
            font_manager.fontManager.addfont(str(ttf))
            return font_manager.FontProperties(fname=str(ttf)).get_name()
    installed = {f.name for f in font_manager.fontManager.ttflist}
    for name in _SYSTEM_CJK_FONTS:
        if name in installed:
            return name
    warnings.warn(
        "No Japanese font found, so Japanese text in charts will show as boxes; "
        "install one with `pip install matplotlib-fontja`.",
        stacklevel=2,
    )
    return None


def japanese_rc() -> dict:
    """matplotlib settings for a chart with Japanese labels (the Japanese font first, a plain minus sign)."""
    font = japanese_font()
    return {"font.family": [font, "DejaVu Sans"] if font else ["DejaVu Sans"], "axes.unicode_minus": False}


def plot_leaderboard(
    lb: Leaderboard,
    path: str | Path,
    *,
    models: list[str] | None = None,
    max_models: int | None = 20,
    title: str = "日本語タスク別スコア（見出し指標、0〜100）",
) -> Path:
    """Write a PNG of ``lb`` and return its path.

    Shows ``models`` (default: all) in leaderboard order, at most ``max_models`` of them (more than ~20 bars per
    group cannot be told apart; the title then says how many were left out; None for no limit).
    Error bars are ±1 stderr on the score's scale (acc stderr ×100); tasks whose metric has no stderr (exact match,
    ROUGE-2) get none. A model that did not run a task has no bar there (not a zero bar).
    """
    import matplotlib
    import numpy as np
    from matplotlib.figure import Figure  # not pyplot: leaves the caller's backend and figures alone

    rows = [r for r in lb.rows if models is None or r.model in models]
    if max_models is not None and len(rows) > max_models:
        title = f"{title}\n上位{max_models}モデルを表示（全{len(rows)}モデル、平均の高い順）"
        rows = rows[:max_models]
    # The 0–100 columns only: a score on another scale (a judge's 1–10) would be misread on this axis.
    families = [f for f in lb.families if lb.scale(f) == PERCENT and any(f in r.scores for r in rows)]
    rc = japanese_rc()

    n_models, n_tasks = max(len(rows), 1), max(len(families), 1)
    group_width = 0.8
    bar = group_width / n_models
    with matplotlib.rc_context(rc):
        width = min(22.0, max(8.0, 1.0 + n_tasks * (0.9 + 0.12 * n_models)))
        legend_below = n_models > 10  # a long legend beside the axes would squeeze them
        fig = Figure(figsize=(width, 6.0 + (0.22 * n_models / 3 if legend_below else 0.0)))
        ax = fig.subplots()
        x = np.arange(n_tasks)
        _bars(ax, rows, families, x, group_width, bar)
        ax.set_xticks(x)
        ax.set_xticklabels([_task_label(lb, f) for f in families], fontsize=9)
        ax.set_ylabel("スコア（0〜100）")
        ax.set_ylim(0, 100)
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        ax.set_xlabel("タスクと見出し指標 ／ エラーバー: ±1 標準誤差（報告がある指標のみ）", fontsize=9)
        if legend_below:
            ax.legend(title="モデル", fontsize=8, title_fontsize=9, loc="upper center",
                      bbox_to_anchor=(0.5, -0.12), ncol=3)
        else:
            ax.legend(title="モデル", fontsize=8, title_fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def _bars(ax, rows, families: list[str], x, group_width: float, bar: float) -> None:
    """One bar per model and task (none where the model did not run it), ±1 stderr where one was reported."""
    import numpy as np

    colors = colors_for(len(rows))
    for i, row in enumerate(rows):
        offsets = x - group_width / 2 + bar * (i + 0.5)
        xs, heights, errs = [], [], []
        for j, family in enumerate(families):
            score = row.scores.get(family)
            if score is None:
                continue
            xs.append(offsets[j])
            heights.append(score.value)
            errs.append(score.stderr if score.stderr is not None else np.nan)
        average = "–" if row.average is None else f"{row.average:.2f}"
        label = f"{row.model}（平均 {average}、{row.n_tasks}タスク）"
        ax.bar(xs, heights, width=bar * 0.95, color=colors[i], label=label)
        has_err = [k for k, e in enumerate(errs) if not np.isnan(e)]
        if has_err:
            ax.errorbar(
                [xs[k] for k in has_err], [heights[k] for k in has_err], yerr=[errs[k] for k in has_err],
                fmt="none", ecolor="black", elinewidth=0.8, capsize=2,
            )


def _label(task: str) -> str:
    """A task's benchmark label (by name or by the task it resolves to), else its name."""
    resolved = registry.resolve(task)
    bench = resolved.benchmark if resolved is not None else registry.benchmark(task)
    return bench.label if bench is not None else task


def _task_label(lb: Leaderboard, family: str) -> str:
    labels = {r.scores[family].label.split(" ")[0] for r in lb.rows if family in r.scores}
    bench = registry.benchmark(family)
    return f"{bench.label if bench else family}\n{' / '.join(sorted(labels))}"


def colors_for(n: int) -> list:
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def group_panels(files: list[ResultFile]) -> list[tuple]:
    """``(group, its leaves found, {model: {leaf: result}})`` per group whose members the files hold (one panel
    per set of members: ``ja_mt_bench`` and ``ja_mt_bench-fastchat`` are one); UserError when there is none."""
    panels = []
    seen: set[tuple[str, ...]] = set()
    for group in registry.groups().values():
        leaves = registry.group_leaves(group.name)
        if tuple(leaves) in seen:  # the same members under another name (ja_mt_bench, ja_mt_bench-fastchat)
            continue
        rows = {}
        for f in files:  # {model: {leaf: its result}}, a member found by its name or an alias of it
            by_name = {m.task: m for m in f.members}
            rows[f.model_id] = {leaf: by_name[name] for leaf, name in group_members(group.name, by_name).items()}
        rows = {model: found for model, found in rows.items() if found}
        if rows and group.headline is not None:
            seen.add(tuple(leaves))
            panels.append((group, [t for t in leaves if any(t in found for found in rows.values())], rows))
    if not panels:
        raise UserError("No result file holds the members of a group (e.g. ja_mt_bench's categories); run the "
                        "group's tasks to chart them.")
    return panels


def plot_group_members(files: list[ResultFile], path: str | Path, *, title: str = "グループ内のタスク別スコア") -> Path:
    """Per-member bars of every group whose members the result files hold (MT-Bench categories, JMMLU subjects):
    one panel per group, one bar per model, the y axis on the group's own scale (1–10 for a judge)."""
    import matplotlib
    import numpy as np
    from matplotlib.figure import Figure

    panels = group_panels(files)
    rc = japanese_rc()
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(max(8.0, 1.2 * max(len(p[1]) for p in panels)), 4.5 * len(panels)))
        axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
        for ax, (group, tasks, rows) in zip(axes, panels):
            headline = group.headline
            width = 0.8 / len(rows)
            for i, (model, found) in enumerate(rows.items()):
                xs = [j - 0.4 + width * (i + 0.5) for j, t in enumerate(tasks) if t in found]
                values = [found[t].metrics.get(headline.metric) for t in tasks if t in found]
                errors = [found[t].stderr.get(headline.metric, np.nan) for t in tasks if t in found]
                ax.bar(xs, [v if v is not None else np.nan for v in values], width=width * 0.95,
                       color=colors_for(len(rows))[i], label=model, yerr=errors, capsize=2)
            ax.set_xticks(range(len(tasks)))
            labels = [_label(t) for t in tasks]
            ax.set_xticklabels(labels, fontsize=8, rotation=30 if len(tasks) > 10 else 0)
            low, high = (float(x) for x in headline.scale.split("–")) if "–" in headline.scale else (0.0, 100.0)
            ax.set_ylim(0 if high == 100 else low - 1 if low > 0 else 0, high)
            ax.set_ylabel(f"{headline.label}（{headline.scale}）")
            ax.set_title(f"{group.about}")
            ax.grid(axis="y", alpha=0.3)
            ax.set_axisbelow(True)
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.suptitle(title)
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return path
