"""``lm-eval-ja report FILES…`` / ``lm-eval-ja compare A.json B.json`` / ``lm-eval-ja report --by-prompt FILES…``
(also ``python -m lm_eval_ja.report leaderboard|compare|by-prompt …``).

Errors in the input — bad flags included — raise :class:`lm_eval_ja.errors.UserError`; the top-level CLI prints
them as one ``error:`` line and exits 2. Everything is checked before an output folder is created or a file written
(a chart flag without matplotlib, a chart with nothing to show, bad input), so a refused report leaves nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from lm_eval_ja.errors import UserError
from lm_eval_ja.report.by_prompt import by_prompt, plot_by_prompt  # matplotlib is imported only inside the plot
from lm_eval_ja.report.compare import compare, deltas_to_markdown
from lm_eval_ja.report.leaderboard import PERCENT, leaderboard
from lm_eval_ja.report.results import load_result_file

_MODEL_ID_HELP = (
    "how models are named and grouped: 'dir' = the result file's folder name (default; what the jp-stable "
    "leaderboard uses; a generic folder such as out/ or results/ gives way to the pretrained= or model= value of "
    "model_args), 'pretrained' = the pretrained= value of model_args (else model=, else the folder name)"
)


#: what each subcommand is called on the command line (``lm-eval-ja report`` is the leaderboard)
PROGS = {"leaderboard": "lm-eval-ja report", "compare": "lm-eval-ja compare", "by-prompt": "lm-eval-ja report --by-prompt"}


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one ``error:`` line with exit status 2 (a UserError), like the main command's."""

    def error(self, message: str):
        raise UserError(f"{self.prog}: {message} (see {self.prog} --help).")


def _count(flag: str, least: int):
    """An argparse type: an integer of at least ``least``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer; pass {flag} N with N ≥ {least}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"{value} is below {least}; pass {flag} N with N ≥ {least}")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m lm_eval_ja.report", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    lb = sub.add_parser("leaderboard", prog=PROGS["leaderboard"],
                        help="table (markdown/CSV) and chart of one or more result files")
    lb.add_argument("paths", nargs="+", metavar="FILES_OR_DIRS",
                    help="result.json files, or folders searched for *.json")
    lb.add_argument("--out-md", type=Path, help="write the markdown table here (it is always printed)")
    lb.add_argument("--out-csv", type=Path, help="write the unrounded CSV here")
    lb.add_argument("--out-png", type=Path, help="write a grouped bar chart here")
    lb.add_argument("--out-categories", type=Path, metavar="PNG",
                    help="write per-member bars of the groups found (MT-Bench categories, JMMLU subjects) here")
    lb.add_argument("--top", type=_count("--top", 0), default=20, help="models shown in the chart (default 20; 0 = all)")
    lb.add_argument("--model-id", choices=["dir", "pretrained"], default="dir", help=_MODEL_ID_HELP)

    cmp = sub.add_parser("compare", prog=PROGS["compare"], help="per-task delta B − A with a significance estimate")
    cmp.add_argument("a", type=Path, metavar="A.json")
    cmp.add_argument("b", type=Path, metavar="B.json")
    cmp.add_argument("--samples-a", nargs="+", action="extend", type=Path, metavar="F.jsonl",
                     help="A's --log_samples files (or their folder) for a paired bootstrap")
    cmp.add_argument("--samples-b", nargs="+", action="extend", type=Path, metavar="G.jsonl",
                     help="B's --log_samples files (or their folder)")
    cmp.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    cmp.add_argument("--resamples", type=_count("--resamples", 1), default=10_000,
                     help="bootstrap resamples (default 10000)")
    cmp.add_argument("--out-md", type=Path, help="also write the markdown here")
    cmp.add_argument("--model-id", choices=["dir", "pretrained"], default="dir", help=_MODEL_ID_HELP)

    bp = sub.add_parser("by-prompt", prog=PROGS["by-prompt"], help="one model's scores per prompt version of each task: min/mean/max, spread, "
                        "best version")
    bp.add_argument("paths", nargs="+", metavar="FILES_OR_DIRS",
                    help="one model's result.json files, or folders searched for *.json")
    bp.add_argument("--out-md", type=Path, help="write the markdown table here (it is always printed)")
    bp.add_argument("--out-csv", type=Path, help="write the unrounded CSV here")
    bp.add_argument("--out-png", type=Path, help="write a chart of each task's scores per prompt version here")
    bp.add_argument("--model-id", choices=["dir", "pretrained"], default="pretrained",
                    help="how files are checked to be of one model: 'pretrained' = the pretrained= value of "
                    "model_args (default; else the folder name), 'dir' = the result file's folder name")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args, extra = build_parser().parse_known_args(argv)
    if extra:  # argparse would name the top-level parser: name the command the user typed
        prog = PROGS[args.command]
        raise UserError(f"{prog}: unrecognized arguments: {' '.join(extra)} (see {prog} --help).")
    if args.command == "leaderboard":
        return _leaderboard(args)
    if args.command == "by-prompt":
        return _by_prompt(args)
    return _compare(args)


def _make_folders(*paths: Path | None) -> None:
    """Output files may go into folders that do not exist yet (as --output_path)."""
    for p in paths:
        if p is not None:
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UserError(f"{p}: cannot create the folder {p.parent} ({exc.strerror}); choose another path.") from None


def _tables(table, args: argparse.Namespace) -> None:
    """The markdown table printed (and written with --out-md), the CSV with --out-csv."""
    text = table.to_markdown()
    sys.stdout.write(text)
    if args.out_md:
        args.out_md.write_text(text, encoding="utf-8")
    if args.out_csv:
        table.to_csv(args.out_csv)


def _leaderboard(args: argparse.Namespace) -> int:
    from lm_eval_ja.report.charts import require_matplotlib

    require_matplotlib(*(f for f, v in (("--out-png", args.out_png), ("--out-categories", args.out_categories)) if v))
    lb = leaderboard(args.paths, model_id_from=args.model_id)
    if args.out_png and not any(lb.scale(f) == PERCENT for f in lb.families):
        raise UserError("--out-png charts 0–100 scores, and these result files hold none (judge scores are on their "
                        "own scale); use --out-categories for judged groups such as ja_mt_bench, or leave out "
                        "--out-png.")
    if args.out_categories:
        from lm_eval_ja.report.charts import group_panels
        from lm_eval_ja.report.results import load_results

        files, _ = load_results(args.paths, args.model_id)
        group_panels(files)  # refused before anything is written when there is no group to chart
    # Everything is checked: only now are output folders created and files written (a refusal leaves none).
    _make_folders(args.out_md, args.out_csv, args.out_png, args.out_categories)
    _tables(lb, args)
    if args.out_png:
        from lm_eval_ja.report.charts import plot_leaderboard  # matplotlib only when a chart is asked for

        plot_leaderboard(lb, args.out_png, max_models=args.top or None)
    if args.out_categories:
        from lm_eval_ja.report.charts import plot_group_members

        plot_group_members(files, args.out_categories)
    return 0


def _by_prompt(args: argparse.Namespace) -> int:
    from lm_eval_ja.report.charts import require_matplotlib

    require_matplotlib(*(["--out-png"] if args.out_png else []))
    report = by_prompt(args.paths, model_id_from=args.model_id)
    _make_folders(args.out_md, args.out_csv, args.out_png)
    _tables(report, args)
    if args.out_png:
        plot_by_prompt(report, args.out_png)
    return 0


def _compare(args: argparse.Namespace) -> int:
    run_a = load_result_file(args.a, args.model_id)
    run_b = load_result_file(args.b, args.model_id)
    deltas = compare(run_a, run_b, args.samples_a, args.samples_b, seed=args.seed, n_resamples=args.resamples)
    _make_folders(args.out_md)
    text = deltas_to_markdown(deltas, f"{run_a.model_id} ({args.a})", f"{run_b.model_id} ({args.b})")
    if not deltas:
        text += "\nThe two runs share no task with a headline metric.\n"
    sys.stdout.write(text)
    if args.out_md:
        args.out_md.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as exc:  # run directly rather than through the top-level CLI: same contract
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
