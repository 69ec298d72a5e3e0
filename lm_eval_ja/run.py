"""A run of ``main.py``, set up in the order that loses nothing: everything checkable is checked before the model loads.

:meth:`Run.from_args` checks the flags, selects the tasks, reads the description dict, checks the model's name and
arguments and the chat flags — no file is written. :meth:`Run.execute` then claims the output path (rank 0 alone
under a launcher), reads and validates every selected task's data, opens the response store, builds the judge
(its endpoint checked), loads the model (a server checked with one request of every kind the tasks send), and
hands everything to the run loop (:func:`lm_eval_ja.evaluator.evaluate_tasks`), writing result.json and the sample
logs after every task.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any

import lm_eval_ja.distributed as distributed
from lm_eval_ja.errors import UserError
from lm_eval_ja.evaluator import RunConfig, evaluate_tasks
from lm_eval_ja.modelargs import parse_model_args, redact_model_args, split_model_args
from lm_eval_ja.models.build import build_model, check_model
from lm_eval_ja.models.served import guard, request_kinds
from lm_eval_ja.outputs import RunFiles


def check_batch_size(value: str | None) -> int | str | None:
    """``--batch_size``: a positive integer or ``auto`` (lm-eval's ``auto:N`` too)."""
    if value is None or value == "auto" or str(value).startswith("auto"):
        return value
    try:
        size = int(value)
    except ValueError:
        raise UserError(f"--batch_size {value!r} is not an integer or 'auto'.") from None
    if size < 1:
        raise UserError(f"--batch_size {size} is not a positive integer or 'auto'.")
    return size


def check_flags(args: argparse.Namespace) -> None:
    """The flags that need no file and no model: given, in range, supported."""
    if not args.model:
        raise UserError("--model is required, e.g. --model hf-causal --model_args pretrained=<model id or path>.")
    if not args.tasks:
        raise UserError("--tasks is required, e.g. --tasks jcommonsenseqa-1.1-0.3,jnli-1.1-0.3 (see --list_tasks).")
    if args.provide_description:
        raise UserError("--provide_description is not supported (the reference rejected it too); drop it.")
    if args.bootstrap_iters < 0:
        raise UserError(f"--bootstrap_iters {args.bootstrap_iters} is negative; give 0 (no bootstrap stderr) or more.")
    for flag in ("num_samples", "num_judgments", "max_gen_toks"):
        if getattr(args, flag, None) is not None and getattr(args, flag) < 1:
            raise UserError(f"--{flag} {getattr(args, flag)} is not a positive integer.")
    if args.check_integrity or args.decontamination_ngrams_path:
        print("note: --check_integrity / --decontamination_ngrams_path have no effect in lm-eval-ja", file=sys.stderr)


def judged_tasks(tasks: list[str]) -> list[str]:
    """The chat tasks scored by an LLM judge (``judged`` in their spec); the others (M-IFEval-ja) need none."""
    from lm_eval_ja.benchmarks import registry

    return [t for t in tasks if registry.resolve(t) is not None and registry.resolve(t).benchmark.judged]


def check_chat_flags(args: argparse.Namespace, tasks: list[str]) -> tuple[str, str]:
    """The flags of chat tasks, before anything is read or loaded; the thinking tags."""
    from lm_eval_ja.scorers.judge import check_judge_args

    if not args.apply_chat_template:
        raise UserError(f"{tasks[0]} is answered as a chat: pass --apply_chat_template (the model's chat template "
                        "is applied; API chat models use their server's).")
    tags = tuple(t.strip() for t in args.think_tags.split(","))
    if len(tags) != 2 or not all(tags):
        raise UserError(f"--think_tags {args.think_tags!r} is not an opening and a closing tag, e.g. <think>,</think>.")
    if judged_tasks(tasks):
        check_judge_args(args.judge_model, args.judge_model_args)
        split_model_args(args.judge_model_args, "--judge_model_args")
    return tags[0], tags[1]


def check_requirements(cfg: RunConfig) -> None:
    """What each selected task needs from the machine (a sandbox for code), before anything is loaded."""
    from lm_eval_ja.benchmarks import registry
    from lm_eval_ja.evaluator import run_options

    for name in cfg.selection.names:
        resolved = registry.resolve(name)
        if resolved is not None and resolved.benchmark.requirements is not None:
            resolved.benchmark.requirements(run_options(cfg))


@dataclass
class Run:
    """One run's checked configuration and, once executing, what it opened (see the module docstring)."""

    args: argparse.Namespace
    cfg: RunConfig
    #: the chat tasks selected (answered as conversations and judged)
    chat_tasks: list[str] = field(default_factory=list)
    files: RunFiles | None = None
    store: Any = None
    judging: Any = None

    @classmethod
    def from_args(cls, args: argparse.Namespace, argv: list[str] | None = None) -> "Run":
        """Check everything that needs no output file and no model (see the module docstring)."""
        from lm_eval_ja.preflight import load_description_dict
        from lm_eval_ja.selection import select

        check_flags(args)
        selection = select(args.tasks, args.num_fewshot, args.limit, args.include_builtin)
        description_dict = load_description_dict(args.description_dict_path, selection)
        if args.data_dir:
            from lm_eval_ja.data import data_dirs

            data_dirs(args.data_dir)
        batch_size = check_batch_size(args.batch_size)
        split_model_args(args.model_args)  # malformed or repeated keys: before anything else is read
        check_model(args.model, args.model_args, batch_size=batch_size, device=args.device)
        cfg = RunConfig(
            model=args.model, model_args=args.model_args, selection=selection, batch_size=batch_size,
            device=args.device, no_cache=args.use_cache is None, bootstrap_iters=args.bootstrap_iters,
            description_dict=description_dict, seed=args.seed, data_dir=args.data_dir, log_samples=args.log_samples,
            apply_chat_template=args.apply_chat_template, system_instruction=args.system_instruction,
            fewshot_as_multiturn=args.fewshot_as_multiturn, verbose=args.verbose,
            include_builtin=args.include_builtin, argv=argv, num_samples=args.num_samples,
            confirm_run_unsafe_code=args.confirm_run_unsafe_code)
        check_requirements(cfg)
        run = cls(args, cfg, chat_tasks=request_kinds(selection.names).get("chat", []))
        if run.chat_tasks:
            cfg.think_tags = check_chat_flags(args, run.chat_tasks)
            cfg.max_gen_toks = args.max_gen_toks
            # --num_samples / --num_judgments may grow at the same path (what is missing is computed): not identity
            cfg.chat = True
            if judged_tasks(run.chat_tasks):
                cfg.judge = {"model": args.judge_model or "openai-chat-completions",
                             "model_args": redact_model_args(args.judge_model_args)}
        return run

    def claim_outputs(self, dp) -> None:
        """Rank 0 checks and claims the output path (the overwrite policy); every rank waits for it."""
        from lm_eval_ja.manifest import run_identity
        from lm_eval_ja.outputs import claim, output_files, resolve_output

        main_rank = dp.rank == 0
        self.files = resolve_output(self.args.output_path) if main_rank else output_files(self.args.output_path)
        if self.files is not None and main_rank:
            if claim(self.files, run_identity(self.cfg), self.args.overwrite) == "resume":
                print(f"{self.files.result} is this run's: resuming from its stored responses", flush=True)
        dp.barrier()  # no rank reads the store before rank 0 has claimed it (--overwrite removes another run's)

    def open_store(self, dp) -> None:
        """The response store (``--use_cache`` or beside the output); none without an output path."""
        path = self.args.use_cache or (self.files.store if self.files is not None else None)
        if path is not None:
            from lm_eval_ja.store import ResponseStore

            self.store = ResponseStore(path, rank=dp.rank)
        elif dp.rank == 0:
            print("note: no --output_path, so responses are not stored and an interrupted run cannot resume",
                  file=sys.stderr)

    def build_judge(self, dp) -> None:
        """The judge of chat tasks (rank 0 alone asks it): built and its endpoint checked before any answer."""
        if judged_tasks(self.chat_tasks) and dp.rank == 0:
            from lm_eval_ja.scorers.judge import JudgeSettings, build_judge

            judge = build_judge(self.args.judge_model, self.args.judge_model_args, self.store)
            self.judging = JudgeSettings(judge, self.args.num_judgments)

    def load_model(self, dp):
        """The evaluated model, checked against the launch, its server and the chat tasks; wrapped in the store."""
        from lm_eval_ja.models.served import check_served_model

        args = self.args
        lm = build_model(args.model, args.model_args, batch_size=self.cfg.batch_size, device=args.device)
        if lm.world_size != dp.world_size and "tp_plan" not in parse_model_args(args.model_args):
            raise UserError(f"{dp.world_size} processes were started (torchrun / accelerate launch), but --model "
                            f"{args.model} does not split its work across them here (each would compute everything); "
                            "use --model hf-causal for data parallelism, or run one process.")
        check_served_model(lm, args.model, self.cfg.selection.names)  # a server answers what the tasks ask
        if self.chat_tasks:
            from lm_eval_ja.chat import check_chat_model

            check_chat_model(lm)
        lm = guard(lm, "evaluated model's", resumable=self.store is not None)
        if self.store is None:
            return lm
        from lm_eval_ja.store import StoredLM, model_fingerprint

        self.cfg.fingerprint = model_fingerprint(args.model, args.model_args, self.cfg.batch_size, args.device, lm)
        return StoredLM(lm, self.store, self.cfg.fingerprint["digest"], read=not args.fresh)

    def execute(self) -> int:
        """Claim, check the data, open the store, build the judge and the model, evaluate, report."""
        from lm_eval_ja.preflight import check_data

        dp = distributed.start()
        try:
            self.claim_outputs(dp)
            documents = check_data(self.cfg.selection, self.args.data_dir)
            finished = self.finished_result(documents) if dp.world_size == 1 else None
            if finished is not None:  # a rerun of a run that is done: nothing to compute, no model to load
                print(f"{self.files.result} already holds every selected task of this run, from the same data; "
                      "nothing to compute (--fresh or --overwrite computes it again)", flush=True)
                self.report(finished)
                return 0
            self.open_store(dp)
            self.build_judge(dp)
            lm = self.load_model(dp)
        except UserError:  # refused before anything was computed: leave no empty folder or store behind
            if self.store is not None:
                self.store.close()
            if self.files is not None and dp.rank == 0:
                self.files.discard_if_empty()
            raise
        result, _ = evaluate_tasks(lm, self.cfg, on_task_done=self.save if dp.rank == 0 else None,
                                   documents=documents, judging=self.judging)
        distributed.finish()
        if dp.rank == 0:
            self.report(result)
        return 0

    def finished_result(self, documents: dict) -> dict | None:
        """The result.json at the output path when this same run finished there (every selected task, its sample
        logs if asked for, the same data files by sha256), else None."""
        import json

        from lm_eval_ja.manifest import sha256_file

        if self.files is None or self.args.fresh or not self.files.result.is_file():
            return None
        try:
            result = json.loads(self.files.result.read_text(encoding="utf-8"))
            done, recorded = result["results"], result["manifest"]["data_files"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        names = self.cfg.selection.names
        files = {f for d in documents.values() for f in d.files}
        if not all(n in done for n in names) or set(recorded) != {str(f) for f in files if Path(f).is_file()}:
            return None
        if any(sha256_file(f) != digest for f, digest in recorded.items()):
            return None
        if self.cfg.log_samples and not all(self.files.samples(n).is_file() for n in names):
            return None
        return result

    def save(self, result: dict, samples: dict) -> None:
        """result.json and the sample logs so far, written atomically (after every task)."""
        if self.files is None:
            return
        from lm_eval_ja.results import write_json_atomic, write_samples

        write_json_atomic(self.files.result, result)
        for task, rows in samples.items():
            write_samples(self.files.samples(task), rows)

    def report(self, result: dict) -> None:
        """The run's summary on stdout: what was run, the reference's table, where it was written (the whole
        result.json only without an output path, as it is then nowhere else)."""
        import json

        from lm_eval_ja.results import make_table

        args = self.args
        if self.files is None:
            print(json.dumps(result, indent=2, ensure_ascii=False))
        batch_size = args.batch_size or parse_model_args(args.model_args).get("batch_size")
        print(f"{args.model} ({redact_model_args(args.model_args)}), limit: {args.limit}, "
              f"num_fewshot: {self.cfg.selection.num_fewshot}, batch_size: {batch_size}")
        print(make_table(result))
        for warning in result.get("config", {}).get("lm_eval_ja", {}).get("warnings", []):
            print(f"WARNING: {warning}", file=sys.stderr)
        if self.files is not None:
            print(f"wrote {self.files.result}")
