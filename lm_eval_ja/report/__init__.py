"""Reports over result.json files: leaderboard tables, charts and A/B comparisons with significance.

Reads our lm-eval 0.4 result files and the jp-stable harness's published ones of every schema age.
matplotlib is imported only when a chart is drawn.
"""

from lm_eval_ja.report.charts import plot_leaderboard
from lm_eval_ja.report.compare import Delta, compare, deltas_to_markdown
from lm_eval_ja.report.leaderboard import Leaderboard, Score, headline, leaderboard
from lm_eval_ja.report.results import ResultFile, TaskResult, load_result_file, load_results, task_family

__all__ = [
    "Delta",
    "Leaderboard",
    "ResultFile",
    "Score",
    "TaskResult",
    "compare",
    "deltas_to_markdown",
    "headline",
    "leaderboard",
    "load_result_file",
    "load_results",
    "plot_leaderboard",
    "task_family",
]
