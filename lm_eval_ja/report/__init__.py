"""Reports over result.json files: leaderboard tables, charts, A/B comparisons with significance and one model's
prompt sensitivity (``by-prompt``: scores per prompt version, spread, best version).

Reads our lm-eval 0.4 result files and the jp-stable harness's published ones of every schema age.
matplotlib is imported only when a chart is drawn.
"""

from lm_eval_ja.report.by_prompt import PromptReport, Sensitivity, by_prompt, plot_by_prompt
from lm_eval_ja.report.charts import plot_leaderboard
from lm_eval_ja.report.compare import Delta, compare, deltas_to_markdown
from lm_eval_ja.report.leaderboard import Leaderboard, Score, headline, leaderboard
from lm_eval_ja.report.results import ResultFile, TaskResult, load_result_file, load_results, task_family

__all__ = [
    "Delta",
    "Leaderboard",
    "PromptReport",
    "ResultFile",
    "Score",
    "Sensitivity",
    "TaskResult",
    "by_prompt",
    "compare",
    "deltas_to_markdown",
    "headline",
    "leaderboard",
    "load_result_file",
    "load_results",
    "plot_by_prompt",
    "plot_leaderboard",
    "task_family",
]
