"""End to end: the four JGLUE tasks with our ``hf-causal`` against lm-eval's ``hf`` on the same model and documents.

    python bench/bench_suite.py                                 # tiny GPT-NeoX, 200 documents per task
    python bench/bench_suite.py --model gemma --limit 10

Each engine is one ``main.py`` run in its own process, exactly as a user runs it — model loading, data checks,
request building, scoring, metrics and result.json included — on JCommonsenseQA 1.1, JNLI 1.3, MARC-ja 1.1 and
JSQuAD 1.1 at one prompt version with the jp-stable few-shot counts (3, 3, 3, 2). ``upstream`` is lm-eval's
``HFLM`` (``--model hf``, ``add_bos_token=False`` so its inputs start as the reference's), ``ours`` is
``hf-causal``; same batch size, fp32, CPU. Printed: wall time, CPU time and peak RSS of each process (from
``wait4``), seconds per task (result.json's timing), the ratios ours / upstream, and every task's headline metric
for both (upstream tokenises context and continuation jointly, so numbers may differ in the last digits).
MARC-ja reads the synthetic MARC-ja of ../shared/conformance/data (the real one is not redistributable).
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
TASKS = ("jcommonsenseqa-1.1-{v}", "jnli-1.3-{v}", "marc_ja-1.1-{v}", "jsquad-1.1-{v}")
SHOTS = (3, 3, 3, 2)
HEADLINE = {"jcommonsenseqa": "acc", "jnli": "acc", "marc_ja": "acc", "jsquad": "exact_match"}


def run_engine(engine: str, args, pretrained: str, tasks: list[str]) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"suite-{engine}-")) / "result.json"
    model, model_args = ("hf-causal", f"pretrained={pretrained},batch_size={args.batch_size}") if engine == "ours" \
        else ("hf", f"pretrained={pretrained},batch_size={args.batch_size},add_bos_token=False,dtype=float32")
    cmd = [sys.executable, str(REPO / "main.py"), "--model", model, "--model_args", model_args, "--device", "cpu",
           "--tasks", ",".join(tasks), "--num_fewshot", ",".join(map(str, SHOTS)), "--limit", str(args.limit),
           "--data_dir", args.data_dir, "--output_path", str(out), "--bootstrap_iters", "1000"]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), TOKENIZERS_PARALLELISM="false")
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own CPU time and peak RSS
    wall = time.perf_counter() - start
    stderr = proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{engine} failed:\n{stderr[-3000:]}")
    result = json.loads(out.read_text(encoding="utf-8"))
    return {"engine": engine, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mib": usage.ru_maxrss / 1024,
            "tasks": {t: s["seconds"] for t, s in result["timing"]["tasks"].items()}, "results": result["results"]}


def headline(task: str, metrics: dict) -> float:
    return metrics[HEADLINE[task.split("-")[0]]]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny", help="tiny, gemma, or a model folder / hub id")
    p.add_argument("--prompt", default="0.3", help="prompt version of the four tasks (default 0.3)")
    p.add_argument("--limit", type=int, default=200, help="documents per task (default 200)")
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--threads", type=int, default=1, help="OpenMP threads per process (default 1: stable timings)")
    p.add_argument("--data_dir", default=os.pathsep.join([str(SHARED / "conformance" / "data"), str(SHARED / "data")]))
    p.add_argument("--cache_dir", type=Path, default=Path.home() / ".cache" / "lm_eval_ja_bench")
    p.add_argument("--json", type=Path, help="also write every number here")
    args = p.parse_args()
    pretrained = resolve_model(args.model, args.cache_dir)
    tasks = [t.format(v=args.prompt) for t in TASKS]
    ours, upstream = (run_engine(e, args, pretrained, tasks) for e in ("ours", "upstream"))
    print(f"model={args.model} tasks={','.join(tasks)} num_fewshot={','.join(map(str, SHOTS))} limit={args.limit} "
          f"batch_size={args.batch_size} threads={args.threads}\n")
    print("| engine | wall s | CPU s | peak RSS MiB | " + " | ".join(f"{t} s" for t in tasks) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(tasks))
    for r in (ours, upstream):
        print(f"| {r['engine']} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['rss_mib']:,.0f} | "
              + " | ".join(f"{r['tasks'][t]:.1f}" for t in tasks) + " |")
    ratio = {t: ours["tasks"][t] / upstream["tasks"][t] for t in tasks}
    print(f"\n- ours/upstream: wall {ours['wall'] / upstream['wall']:.3f} (speed-up x{upstream['wall'] / ours['wall']:.2f}),"
          f" CPU {ours['cpu'] / upstream['cpu']:.3f}, peak RSS {ours['rss_mib'] / upstream['rss_mib']:.3f}; per task "
          + ", ".join(f"{t} {r:.3f}" for t, r in ratio.items()))
    print("- headline metrics, ours vs upstream: " + ", ".join(
        f"{t} {headline(t, ours['results'][t]):.4f} vs {headline(t, upstream['results'][t]):.4f}" for t in tasks))
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "runs": [ours, upstream]}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
