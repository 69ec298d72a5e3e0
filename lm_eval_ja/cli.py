"""``main.py`` / ``lm-eval-ja``: the jp-stable command line, on lm-eval 0.4.

Accepts the reference's flags (``--model hf-causal --model_args ... --tasks a,b --num_fewshot 3,2
--output_path result.json``) with its bugs fixed: one ``--num_fewshot``/``--limit`` value applies to
every task, ``--output_path`` without a folder works, ``--device cuda:0`` works. Adds ``--data_dir``,
``--log_samples``, ``--seed`` and lm-eval's chat-template flags. Subcommands ``report`` and
``compare`` read result files (see ``lm_eval_ja.report``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

from lm_eval_ja import distributed
from lm_eval_ja.errors import UserError
from lm_eval_ja.modelargs import parse_model_args, redact_model_args, split_model_args


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one ``error:`` line with exit status 2, like every other bad input."""

    def error(self, message: str):
        raise UserError(f"{message} (see --help).")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="lm-eval-ja",
        description="Evaluate a language model on Japanese tasks with the jp-stable protocol "
        "(also: `lm-eval-ja report ...`, `lm-eval-ja compare ...`).",
    )
    p.add_argument("--model", help="model type: hf-causal (alias hf-causal-experimental) or any lm-eval model")
    p.add_argument("--model_args", default="", help="comma-separated key=value pairs, e.g. pretrained=...,peft=...")
    p.add_argument("--tasks", help="comma-separated task names, fnmatch patterns (jsquad-1.1-*) or suites (ja8, ja8-0.4)")
    p.add_argument("--num_fewshot", default=None,
                   help="one value for all tasks or one per task (suites expanded), comma-separated; "
                   "default: a suite's own counts, 0 for other tasks")
    p.add_argument("--batch_size", default=None, help="log-likelihood/generation batch size (int or auto)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:0, ...")
    p.add_argument("--output_path", default=None,
                   help="write result.json here (folders are created; an existing folder or a trailing / means "
                   "result.json inside); the response store and sample logs go beside it")
    p.add_argument("--limit", default=None,
                   help="first N documents of the reference's shuffled order (or a fraction), one value or one per task")
    p.add_argument("--no_cache", action="store_true", help="accepted for compatibility; lm-eval-ja does not cache by default")
    p.add_argument("--use_cache", default=None, metavar="PATH",
                   help="keep model responses in this store (JSON Lines, keyed by model fingerprint and request) "
                   "instead of the one beside the output")
    p.add_argument("--fresh", action="store_true",
                   help="do not reuse stored responses (new ones are still stored)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace another run's result.json at --output_path, with its sample logs and store")
    p.add_argument("--description_dict_path", default=None,
                   help="JSON {task: description} replacing the template description")
    p.add_argument("--bootstrap_iters", type=int, default=100000,
                   help="bootstrap resamples for the MCC stderr, 0 for none (reference: 100000)")
    p.add_argument("--verbose", action="store_true", help="log at debug level (per-document records: --log_samples)")
    p.add_argument("--data_dir", default=None,
                   help="local dataset folder(s), laid out like ../shared/data (os.pathsep-separated to overlay); "
                   "default: $LM_EVAL_JA_DATA_DIR, else download")
    p.add_argument("--log_samples", action="store_true",
                   help="write lm-eval samples JSONL per task next to the output (full prompts and responses)")
    p.add_argument("--seed", type=int, default=42, help="seed of the shuffle and few-shot draws (reference: 42)")
    p.add_argument("--apply_chat_template", nargs="?", const=True, default=False,
                   help="render prompts with the tokenizer's chat template (optionally its name)")
    p.add_argument("--system_instruction", default=None, help="system message (chat) or text prepended to the prompt")
    p.add_argument("--fewshot_as_multiturn", action="store_true", help="with a chat template: one turn per shot")
    p.add_argument("--include_builtin", action="store_true", help="also allow lm-eval's built-in tasks")
    judged = p.add_argument_group("chat tasks judged by an LLM (ja_mt_bench, elyza_tasks_100)")
    judged.add_argument("--judge_model", default=None,
                        help="the judge: any lm-eval model (default openai-chat-completions, key from OPENAI_API_KEY)")
    judged.add_argument("--judge_model_args", default=None,
                        help="the judge's model_args, e.g. model=gpt-4o-2024-08-06 or "
                        "model=NAME,base_url=http://127.0.0.1:8000/v1/chat/completions,num_concurrent=8")
    judged.add_argument("--judge_prompts", default="fastchat", help="MT-Bench judge prompts: fastchat (default) or ja")
    judged.add_argument("--mt_bench_references", default="gpt-4",
                        help="MT-Bench reference answers: gpt-4 (default, behind published numbers) or gpt-4o-human")
    judged.add_argument("--num_samples", type=int, default=1, help="answers per question (default 1)")
    judged.add_argument("--num_judgments", type=int, default=1, help="judgments per answer (default 1)")
    judged.add_argument("--max_gen_toks", type=int, default=1024, help="new tokens per answer turn (default 1024)")
    judged.add_argument("--think_tags", default="<think>,</think>",
                        help="the tags of a reasoning model's thinking, removed before judging (default <think>,</think>)")
    p.add_argument("--list_tasks", action="store_true", help="print every task name and exit")
    p.add_argument("--tasks_dir", action="store_true", help="print the task folder (for lm_eval --include_path) and exit")
    # Reference flags without an effect here, accepted so old harness.sh files run.
    p.add_argument("--check_integrity", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--decontamination_ngrams_path", default=None, help=argparse.SUPPRESS)
    p.add_argument("--provide_description", action="store_true", help=argparse.SUPPRESS)
    return p


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    from lm_eval_ja import TASKS_DIR
    from lm_eval_ja import evaluator as ev
    from lm_eval_ja import results as res
    from lm_eval_ja.manifest import run_identity
    from lm_eval_ja.outputs import claim, output_files, resolve_output
    from lm_eval_ja.preflight import check_data, load_description_dict
    from lm_eval_ja.selection import available_names, select

    if args.tasks_dir:
        print(TASKS_DIR)
        return 0
    if args.list_tasks:
        print("\n".join(available_names()))
        return 0
    # Everything that can be checked is checked before the model loads.
    if not args.model:
        raise UserError("--model is required, e.g. --model hf-causal --model_args pretrained=<model id or path>.")
    if not args.tasks:
        raise UserError("--tasks is required, e.g. --tasks jcommonsenseqa-1.1-0.3,jnli-1.1-0.3 (see --list_tasks).")
    if args.provide_description:
        raise UserError("--provide_description is not supported (the reference rejected it too); drop it.")
    if args.bootstrap_iters < 0:
        raise UserError(f"--bootstrap_iters {args.bootstrap_iters} is negative; give 0 (no bootstrap stderr) or more.")
    selection = select(args.tasks, args.num_fewshot, args.limit, args.include_builtin)
    description_dict = load_description_dict(args.description_dict_path, selection)
    if args.data_dir:
        from lm_eval_ja.data import data_dirs

        data_dirs(args.data_dir)
    batch_size = args.batch_size
    if batch_size is not None and batch_size != "auto" and not str(batch_size).startswith("auto"):
        try:
            batch_size = int(batch_size)
        except ValueError:
            raise UserError(f"--batch_size {args.batch_size!r} is not an integer or 'auto'.") from None
        if batch_size < 1:
            raise UserError(f"--batch_size {batch_size} is not a positive integer or 'auto'.")
    if args.check_integrity or args.decontamination_ngrams_path:
        print("note: --check_integrity / --decontamination_ngrams_path have no effect in lm-eval-ja", file=sys.stderr)
    split_model_args(args.model_args)  # malformed or repeated keys: before anything else is read
    ev.check_model(args.model, args.model_args, batch_size=batch_size, device=args.device)

    cfg = ev.RunConfig(
        model=args.model, model_args=args.model_args, selection=selection,
        batch_size=batch_size, device=args.device, no_cache=args.use_cache is None,
        bootstrap_iters=args.bootstrap_iters, description_dict=description_dict, seed=args.seed,
        data_dir=args.data_dir, log_samples=args.log_samples, apply_chat_template=args.apply_chat_template,
        system_instruction=args.system_instruction, fewshot_as_multiturn=args.fewshot_as_multiturn,
        verbose=args.verbose, include_builtin=args.include_builtin, argv=argv,
    )
    from lm_eval_ja.models.served import check_served_model, request_kinds

    conversation = request_kinds(selection.names).get("chat", [])
    judging_args = None
    if conversation:
        judging_args = _check_chat_flags(args, conversation)
        cfg.num_samples, cfg.max_gen_toks, cfg.think_tags = args.num_samples, args.max_gen_toks, judging_args["tags"]
        cfg.judge = {k: v for k, v in judging_args.items() if k != "tags"}
    # Under torchrun / accelerate launch: rank 0 alone claims the output and writes it; the others wait for it.
    dp = distributed.start()
    main_rank = dp.rank == 0
    files = resolve_output(args.output_path) if main_rank else output_files(args.output_path)
    if files is not None and main_rank:
        state = claim(files, run_identity(cfg), args.overwrite)
        if state == "resume":
            print(f"{files.result} is this run's: resuming from its stored responses", flush=True)
    dp.barrier()  # no rank reads the store before rank 0 has claimed it (--overwrite removes another run's)
    documents = check_data(selection, args.data_dir)

    store_path = args.use_cache or (files.store if files is not None else None)
    store = None
    if store_path is not None:
        from lm_eval_ja.store import ResponseStore

        store = ResponseStore(store_path, rank=dp.rank)
    elif main_rank:
        print("note: no --output_path, so responses are not stored and an interrupted run cannot resume",
              file=sys.stderr)
    judging = None
    if judging_args is not None and main_rank:  # the judge answers (and takes its key) before any answer is generated
        from lm_eval_ja.scorers.judge import JudgeSettings, build_judge

        judge = build_judge(args.judge_model, args.judge_model_args, store)
        judging = JudgeSettings(judge, args.judge_prompts, args.mt_bench_references, args.num_judgments)

    lm = ev.build_model(args.model, args.model_args, batch_size=batch_size, device=args.device)
    if lm.world_size != dp.world_size and "tp_plan" not in parse_model_args(args.model_args):
        raise UserError(f"{dp.world_size} processes were started (torchrun / accelerate launch), but --model "
                        f"{args.model} does not split its work across them here (each would compute everything); "
                        "use --model hf-causal for data parallelism, or run one process.")
    check_served_model(lm, args.model, selection.names)  # a server: reachable, and answers what the tasks ask
    if conversation:
        from lm_eval_ja.chat import check_chat_model

        check_chat_model(lm)
    if store is not None:
        from lm_eval_ja.store import StoredLM, model_fingerprint

        cfg.fingerprint = model_fingerprint(args.model, args.model_args, batch_size, args.device, lm)
        lm = StoredLM(lm, store, cfg.fingerprint["digest"], read=not args.fresh)

    def save(result, samples):
        if files is not None and main_rank:
            res.write_json_atomic(files.result, result)
            for task, rows in samples.items():
                res.write_samples(files.samples(task), rows)

    result, _ = ev.evaluate_tasks(lm, cfg, on_task_done=save, documents=documents, judging=judging)
    distributed.finish()
    if not main_rank:
        return 0
    print(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"{args.model} ({redact_model_args(args.model_args)}), limit: {args.limit}, "
          f"num_fewshot: {selection.num_fewshot}, batch_size: {args.batch_size}")
    print(res.make_table(result))
    if files is not None:
        print(f"wrote {files.result}")
    return 0


def _check_chat_flags(args: argparse.Namespace, tasks: list[str]) -> dict:
    """The flags of chat tasks, before anything is read or loaded; the judge settings to record."""
    from lm_eval_ja.benchmarks.mt_bench import PROMPT_SETS, REFERENCE_SETS
    from lm_eval_ja.scorers.judge import DEFAULT_JUDGE, check_judge_args

    if not args.apply_chat_template:
        raise UserError(f"{tasks[0]} is answered as a chat: pass --apply_chat_template (the model's chat template "
                        "is applied; API chat models use their server's).")
    for flag in ("num_samples", "num_judgments", "max_gen_toks"):
        if getattr(args, flag) < 1:
            raise UserError(f"--{flag} {getattr(args, flag)} is not a positive integer.")
    if args.judge_prompts not in PROMPT_SETS:
        raise UserError(f"--judge_prompts {args.judge_prompts!r} is not one of {', '.join(PROMPT_SETS)}.")
    if args.mt_bench_references not in REFERENCE_SETS:
        raise UserError(f"--mt_bench_references {args.mt_bench_references!r} is not one of {', '.join(REFERENCE_SETS)}.")
    tags = tuple(t.strip() for t in args.think_tags.split(","))
    if len(tags) != 2 or not all(tags):
        raise UserError(f"--think_tags {args.think_tags!r} is not an opening and a closing tag, e.g. <think>,</think>.")
    check_judge_args(args.judge_model, args.judge_model_args)
    split_model_args(args.judge_model_args)
    return {"model": args.judge_model or DEFAULT_JUDGE, "model_args": redact_model_args(args.judge_model_args),
            "prompt_set": args.judge_prompts, "reference_set": args.mt_bench_references, "tags": tags}


def pairwise(argv: list[str]) -> int:
    """``lm-eval-ja pairwise A.json B.json --judge_model ... --judge_model_args ...``"""
    from lm_eval_ja import pairwise as pw
    from lm_eval_ja.outputs import resolve_output
    from lm_eval_ja.results import write_json_atomic
    from lm_eval_ja.scorers.judge import build_judge

    p = _Parser(prog="lm-eval-ja pairwise", description=pw.__doc__.splitlines()[0])
    p.add_argument("a", metavar="A.json", help="a run's result.json (its --log_samples logs beside it)")
    p.add_argument("b", metavar="B.json", help="the other run's result.json")
    p.add_argument("--judge_model", default=None, help="any lm-eval model (default openai-chat-completions)")
    p.add_argument("--judge_model_args", default=None, help="the judge's model_args (keys only from the environment)")
    p.add_argument("--data_dir", default=None, help="local dataset folder(s) (the reference answers, judge prompts)")
    p.add_argument("--mt_bench_references", default="gpt-4", help="gpt-4 (default) or gpt-4o-human")
    p.add_argument("--output_path", default=None, help="write the comparison JSON here (its judge store beside it)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (default 10000)")
    args = p.parse_args(argv)
    for path in (args.a, args.b):
        if not Path(path).is_file():
            raise UserError(f"{path}: no such result file; pass the result.json of two runs with --log_samples.")
    pw.comparable_tasks(Path(args.a), Path(args.b))
    files = resolve_output(args.output_path)
    store = None
    if files is not None:
        from lm_eval_ja.store import ResponseStore

        store = ResponseStore(files.store)
    judge = build_judge(args.judge_model, args.judge_model_args, store)
    outcomes = pw.compare_runs(Path(args.a), Path(args.b), judge, args.data_dir, args.mt_bench_references)
    summary = pw.summarize(outcomes, seed=args.seed, resamples=args.resamples)
    print(pw.to_markdown(summary, args.a, args.b))
    if files is not None:
        write_json_atomic(files.result, {
            "a": args.a, "b": args.b, "judge": judge.describe(), "reference_set": args.mt_bench_references,
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
        if distributed.is_main_process():  # every rank checks the same input; one line says what is wrong
            print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted; results of finished tasks are in the output file", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
