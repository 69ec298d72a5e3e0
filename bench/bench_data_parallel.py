"""Data parallelism on CPU: one process against two (torchrun, gloo) on the same model, tasks and documents.

    python bench/bench_data_parallel.py                       # tiny GPT-NeoX, JCommonsenseQA + JNLI + JSQuAD
    python bench/bench_data_parallel.py --model gemma --workload "jcommonsenseqa-1.1-0.3:3:40"

Three runs, each in fresh processes: one process with one thread, one process with two threads (both cores), and
two processes with one thread each (``python -m torch.distributed.run --nproc_per_node 2``). Every process times
only lm-eval-ja's ``evaluate_tasks`` (wall and process CPU time, all threads), so interpreter and model start-up
are left out. Printed: wall time (the slowest rank), CPU time (summed over ranks), their ratios to the
one-process one-thread run, and whether the results of every run are identical. The goal: the two ranks' CPU
time together at most 1.2x the single process's, the same numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_scoring import resolve_model  # tiny / gemma (its fp32 copy, made once) / a folder or hub id

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DEFAULT_WORKLOAD = "jcommonsenseqa-1.1-0.3:3:all,jnli-1.3-0.3:3:all,jsquad-1.1-0.3:2:200"


def parse_workload(text: str) -> tuple[list[str], list[int], list[int | None]]:
    """``task:shots:limit,...`` (limit ``all`` = every document)."""
    names, shots, limits = [], [], []
    for item in text.split(","):
        name, k, limit = item.split(":")
        names.append(name)
        shots.append(int(k))
        limits.append(None if limit == "all" else int(limit))
    return names, shots, limits


def worker(args) -> None:
    """One process (or one rank): evaluate the workload and write its timings and results."""
    import torch

    torch.set_num_threads(args.threads)
    from lm_eval_ja import distributed
    from lm_eval_ja.evaluator import RunConfig, evaluate_tasks
    from lm_eval_ja.models.build import build_model
    from lm_eval_ja.selection import Selection

    distributed.start()
    model_args = f"pretrained={args.pretrained},batch_size={args.batch_size}"
    lm = build_model("hf-causal", model_args, device="cpu")
    names, shots, limits = parse_workload(args.workload)
    cfg = RunConfig(model="hf-causal", model_args=model_args, selection=Selection.of(names, shots, limits),
                    data_dir=args.data_dir, log_samples=True, bootstrap_iters=1000)
    lm.barrier()  # every rank starts the clock together
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    result, _ = evaluate_tasks(lm, cfg)
    wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    out = {"rank": lm.rank, "world_size": lm.world_size, "wall": wall, "cpu": cpu,
           "results": result.get("results")}
    Path(args.worker, f"rank{lm.rank}.json").write_text(json.dumps(out), encoding="utf-8")
    distributed.finish()


def run(label: str, processes: int, threads: int, args, pretrained: str) -> dict:
    out = Path(tempfile.mkdtemp(prefix="dp-bench-"))
    launcher = [sys.executable] if processes == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    cmd = [*launcher, __file__, "--worker", str(out), "--pretrained", pretrained, "--threads", str(threads),
           "--workload", args.workload, "--batch_size", str(args.batch_size), "--data_dir", args.data_dir]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(f"{label} failed:\n{proc.stderr[-3000:]}")
    ranks = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(out.glob("rank*.json"))]
    assert len(ranks) == processes, ranks
    return {"label": label, "processes": processes, "threads": threads, "wall": max(r["wall"] for r in ranks),
            "cpu": sum(r["cpu"] for r in ranks), "results": next(r["results"] for r in ranks if r["rank"] == 0)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny", help="tiny, gemma, or a model folder / hub id")
    p.add_argument("--workload", default=DEFAULT_WORKLOAD, help=f"task:shots:limit,... (default {DEFAULT_WORKLOAD})")
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--data_dir", default=os.pathsep.join([str(SHARED / "conformance" / "data"), str(SHARED / "data")]))
    p.add_argument("--cache_dir", type=Path, default=Path.home() / ".cache" / "lm_eval_ja_bench")
    p.add_argument("--json", type=Path, help="also write every number here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--pretrained", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    pretrained = resolve_model(args.model, args.cache_dir)
    runs = [run("1 process, 1 thread", 1, 1, args, pretrained),
            run("1 process, 2 threads", 1, 2, args, pretrained),
            run("2 processes, 1 thread each", 2, 1, args, pretrained)]
    base = runs[0]
    print(f"model={args.model} workload={args.workload} batch_size={args.batch_size} cpus={os.cpu_count()}\n")
    print("| run | wall s | CPU s (all ranks) | wall / 1×1 | CPU / 1×1 | results equal to 1×1 |")
    print("|---|---:|---:|---:|---:|---|")
    for r in runs:
        same = "yes" if r["results"] == base["results"] else "**no**"
        print(f"| {r['label']} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['wall'] / base['wall']:.3f} | "
              f"{r['cpu'] / base['cpu']:.3f} | {same} |")
    two = runs[2]
    print(f"\n- 2 processes: CPU time {two['cpu'] / base['cpu']:.3f}x one process's (goal <= 1.2), wall time "
          f"{base['wall'] / two['wall']:.2f}x faster than one thread, {runs[1]['wall'] / two['wall']:.2f}x faster "
          "than one process with two threads")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "runs": runs},
                                        indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
