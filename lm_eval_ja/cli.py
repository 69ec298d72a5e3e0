"""``main.py`` / ``lm-eval-ja``: the jp-stable command line, on lm-eval 0.4.

Accepts the reference's flags (``--model hf-causal --model_args ... --tasks a,b --num_fewshot 3,2
--output_path result.json``) with its bugs fixed: one ``--num_fewshot``/``--limit`` value applies to
every task, ``--output_path`` without a folder works, ``--device cuda:0`` works. Adds ``--data_dir``,
``--log_samples``, ``--seed`` and lm-eval's chat-template flags. Subcommands ``report`` and
``compare`` read result files (see ``lm_eval_ja.report``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

import lm_eval_ja.distributed as distributed
from lm_eval_ja.errors import UserError


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one ``error:`` line with exit status 2, like every other bad input."""

    def error(self, message: str):
        raise UserError(f"{message} (see --help).")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="lm-eval-ja",
        description="Evaluate a language model on Japanese tasks with the jp-stable protocol "
        "(also: `lm-eval-ja report ...`, `lm-eval-ja compare ...`, `lm-eval-ja pairwise ...`).",
    )
    _run_flags(p)
    _output_flags(p)
    _prompt_flags(p)
    _chat_flags(p.add_argument_group("chat tasks (answered as conversations, judged by an LLM)"))
    p.add_argument("--list_tasks", action="store_true", help="print every task name and exit")
    p.add_argument("--tasks_dir", action="store_true", help="print the task folder (for lm_eval --include_path) and exit")
    # Reference flags without an effect here, accepted so old harness.sh files run.
    p.add_argument("--check_integrity", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--decontamination_ngrams_path", default=None, help=argparse.SUPPRESS)
    p.add_argument("--provide_description", action="store_true", help=argparse.SUPPRESS)
    return p


def _run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="model type: hf-causal (alias hf-causal-experimental) or any lm-eval model")
    p.add_argument("--model_args", default="", help="comma-separated key=value pairs, e.g. pretrained=...,peft=...")
    p.add_argument("--tasks", help="comma-separated task names, fnmatch patterns, groups or suites (see --list_tasks)")
    p.add_argument("--num_fewshot", default=None,
                   help="one value for all tasks or one per task (suites expanded), comma-separated; "
                   "default: a suite's own counts, 0 for other tasks")
    p.add_argument("--batch_size", default=None, help="log-likelihood/generation batch size (int or auto)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:0, ...")
    p.add_argument("--limit", default=None,
                   help="first N documents of the reference's shuffled order (or a fraction), one value or one per task")
    p.add_argument("--bootstrap_iters", type=int, default=100000,
                   help="bootstrap resamples for the MCC stderr, 0 for none (reference: 100000)")
    p.add_argument("--data_dir", default=None,
                   help="local dataset folder(s), laid out like ../shared/data (os.pathsep-separated to overlay); "
                   "default: $LM_EVAL_JA_DATA_DIR, else download")
    p.add_argument("--seed", type=int, default=42, help="seed of the shuffle and few-shot draws (reference: 42)")
    p.add_argument("--include_builtin", action="store_true", help="also allow lm-eval's built-in tasks")
    p.add_argument("--confirm_run_unsafe_code", action="store_true",
                   help="run model-written code (code tasks) even where no isolating sandbox is available (lm-eval's "
                   "flag); recorded in result.json")
    p.add_argument("--verbose", action="store_true", help="log at debug level (per-document records: --log_samples)")


def _output_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output_path", default=None,
                   help="write result.json here (folders are created; an existing folder or a trailing / means "
                   "result.json inside); the response store and sample logs go beside it")
    p.add_argument("--log_samples", action="store_true",
                   help="write lm-eval samples JSONL per task next to the output (full prompts and responses)")
    p.add_argument("--no_cache", action="store_true", help="accepted for compatibility; lm-eval-ja does not cache by default")
    p.add_argument("--use_cache", default=None, metavar="PATH",
                   help="keep model responses in this store (JSON Lines, keyed by model fingerprint and request) "
                   "instead of the one beside the output")
    p.add_argument("--fresh", action="store_true", help="do not reuse stored responses (new ones are still stored)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace another run's result.json at --output_path, with its sample logs and store")


def _prompt_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--description_dict_path", default=None,
                   help="JSON {task: description} replacing the template description")
    p.add_argument("--apply_chat_template", nargs="?", const=True, default=False,
                   help="render prompts with the tokenizer's chat template (optionally its name)")
    p.add_argument("--system_instruction", default=None, help="system message (chat) or text prepended to the prompt")
    p.add_argument("--fewshot_as_multiturn", action="store_true", help="with a chat template: one turn per shot")


def _chat_flags(g) -> None:
    g.add_argument("--judge_model", default=None,
                   help="the judge: any lm-eval model (default openai-chat-completions, key from OPENAI_API_KEY)")
    g.add_argument("--judge_model_args", default=None,
                   help="the judge's model_args, e.g. model=gpt-4o-2024-08-06 or "
                   "model=NAME,base_url=http://127.0.0.1:8000/v1/chat/completions,num_concurrent=8")
    g.add_argument("--num_samples", type=int, default=None,
                   help="answers per question, or completions per problem of a code task (default: the task's "
                   "protocol's, else 1)")
    g.add_argument("--num_judgments", type=int, default=None,
                   help="judgments per answer (default: the task's protocol's, else 1)")
    g.add_argument("--max_gen_toks", type=int, default=None,
                   help="new tokens per answer turn where the task's protocol fixes none (default: max_gen_toks in "
                   "--model_args, else 1024)")
    g.add_argument("--think_tags", default="<think>,</think>",
                   help="the tags of a reasoning model's thinking, removed before judging (default <think>,</think>)")


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    """``main.py``'s job: list, or set up a run (everything checked first) and execute it (:mod:`lm_eval_ja.run`)."""
    if args.tasks_dir:
        from lm_eval_ja.constants import TASKS_DIR

        print(TASKS_DIR)
        return 0
    if args.list_tasks:
        from lm_eval_ja.selection import available_names

        print("\n".join(available_names()))
        return 0
    from lm_eval_ja.run import Run

    return Run.from_args(args, argv).execute()


def pairwise(argv: list[str]) -> int:
    """``lm-eval-ja pairwise A.json B.json --judge_model ... --judge_model_args ...``"""
    import lm_eval_ja.pairwise as pw
    from lm_eval_ja.outputs import resolve_output
    from lm_eval_ja.results import write_json_atomic
    from lm_eval_ja.scorers.judge import build_judge

    p = _Parser(prog="lm-eval-ja pairwise", description=pw.__doc__.splitlines()[0])
    p.add_argument("a", metavar="A.json", help="a run's result.json (its --log_samples logs beside it)")
    p.add_argument("b", metavar="B.json", help="the other run's result.json")
    p.add_argument("--judge_model", default=None, help="any lm-eval model (default openai-chat-completions)")
    p.add_argument("--judge_model_args", default=None, help="the judge's model_args (keys only from the environment)")
    p.add_argument("--data_dir", default=None, help="local dataset folder(s) (the reference answers, judge prompts)")
    p.add_argument("--output_path", default=None, help="write the comparison JSON here (its judge store beside it)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (default 10000)")
    args = p.parse_args(argv)
    pw.check_resamples(args.resamples)  # before any judge call
    for path in (args.a, args.b):
        if not Path(path).is_file():
            raise UserError(f"{path}: no such result file; pass the result.json of two runs with --log_samples.")
    pw.comparable_tasks(Path(args.a), Path(args.b))
    files, store = resolve_output(args.output_path), None
    try:
        if files is not None:
            from lm_eval_ja.store import ResponseStore

            store = ResponseStore(files.store)
        judge = build_judge(args.judge_model, args.judge_model_args, store)
        outcomes = pw.compare_runs(Path(args.a), Path(args.b), judge, args.data_dir)
        summary = pw.summarize(outcomes, seed=args.seed, resamples=args.resamples)
    except UserError:  # refused: leave no empty folder or store behind
        if store is not None:
            store.close()
        if files is not None:
            files.discard_if_empty()
        raise
    print(pw.to_markdown(summary, args.a, args.b))
    if files is not None:
        write_json_atomic(files.result, {
            "a": args.a, "b": args.b, "judge": judge.describe(),
            "summary": summary,
            "outcomes": [{"task": o.category, "question": o.question, "turn": o.turn + 1, "result": o.result,
                          "verdicts": list(o.verdicts)} for o in outcomes]})
        print(f"wrote {files.result}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "pairwise":
            return pairwise(argv[1:])
        if argv and argv[0] in ("report", "compare"):
            from lm_eval_ja.report.__main__ import main as report_main

            if argv[0] == "report" and "--by-prompt" in argv:  # `report --by-prompt FILES...`: prompt sensitivity
                argv = ["by-prompt"] + [a for a in argv[1:] if a != "--by-prompt"]
            elif argv[0] == "report":  # `lm-eval-ja report FILES...` is the leaderboard
                argv = ["leaderboard"] + argv[1 + (argv[1:2] == ["leaderboard"]):]
            return report_main(argv)
        args = build_parser().parse_args(argv)
        if not distributed.is_main_process():  # a data-parallel rank > 0: rank 0 reports for the run
            sys.stdout = open(os.devnull, "w", encoding="utf-8")
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        return run(args, argv)
    except UserError as exc:
        # every rank checks the same input; one line says what is wrong (and a stray launcher variable is said too)
        if distributed.is_main_process() or distributed.launch_problem():
            if type(exc).__name__ == "EndpointFailure":  # mid-run: a progress bar may have the line
                print(file=sys.stderr)
            print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted; results of finished tasks are in the output file", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `lm-eval-ja --list_tasks | head`: the reader went away; nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
