#!/usr/bin/env python
"""The chat half's scheduling, measured: an MT-Bench subset answered and judged the way FastChat's loop does it (one
request at a time, every sample generated) and the way the harness does it (8 requests in flight, identical
requests generated once), against OpenAI-compatible endpoints on 127.0.0.1 that take a fixed time per request
(``tests/misbehaving_server.py`` in ``ok`` mode), so that only scheduling is measured. Prints wall seconds, the
requests each endpoint received, and the ratios.

    OMP_NUM_THREADS=1 python bench/bench_chat.py [--latency 0.5] [--limit 3] [--samples 3]
    OMP_NUM_THREADS=1 python bench/bench_chat.py --model tiny|gemma [--max_gen_toks 32]   # hf-causal, batch 1 vs 8

Both runs use ``main.py`` end to end (``--model local-chat-completions`` for the evaluated model, the same server
kind for the judge), the ``fastchat`` protocol of the writing and math categories, a fresh output folder each.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.servers import MisbehavingServer  # noqa: E402

DATA = REPO.parent / "shared" / "data"


def run(model: MisbehavingServer, judge: MisbehavingServer, out: Path, concurrent: int | None, args) -> float:
    extra = [f"num_concurrent={concurrent}"] if concurrent else []
    argv = [sys.executable, str(REPO / "main.py"), "--model", "local-chat-completions",
            "--model_args", model.args(*extra), "--apply_chat_template",
            "--tasks", "ja_mt_bench_writing,ja_mt_bench_math", "--limit", str(args.limit),
            "--num_samples", str(args.samples), "--max_gen_toks", "8", "--data_dir", str(DATA),
            "--judge_model", "local-chat-completions", "--judge_model_args", judge.args(*extra),
            "--output_path", str(out)]
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    return time.perf_counter() - start


GEMMA_TEMPLATE = ("{% for m in messages %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else 'user' }}\n"
                  "{{ m['content'] }}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n"
                  "{% endif %}")


def local_model(name: str, folder: Path) -> str:
    """hf-causal model_args of a local chat model: the tiny test model with a chat template, or Gemma-3-270M (fp32
    copy, bench_scoring's) with the template given to it."""
    if name == "tiny":
        from tests.servers import chat_model

        return f"pretrained={chat_model(folder / 'tiny-chat')}"
    sys.path.insert(0, str(REPO / "bench"))
    from bench_scoring import resolve_model

    template = folder / "gemma.jinja"
    template.write_text(GEMMA_TEMPLATE, encoding="utf-8")
    return f"pretrained={resolve_model('gemma', Path.home() / '.cache' / 'lm_eval_ja_bench')},chat_template={template}"


def answers_of(folder: Path) -> list[str]:
    import json

    texts = []
    for log in sorted(folder.glob("result.samples.*.jsonl")):
        for row in map(json.loads, log.open(encoding="utf-8")):
            texts += [t["raw_answer"] for s in row["samples"] for t in s["turns"]]
    return texts


def local_runs(args) -> int:
    """hf-causal answering one request at a time (batch 1) and in batches of 8, the judge a fixed-latency endpoint:
    wall time of each, and the share of sampled answers whose text differs between the two batch sizes."""
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        model_args = local_model(args.model, Path(tmp))
        for batch in (1, 8):
            folder = Path(tmp) / f"batch{batch}"
            folder.mkdir()
            with MisbehavingServer("ok", folder, args.latency) as judge:
                argv = [sys.executable, str(REPO / "main.py"), "--model", "hf-causal",
                        "--model_args", f"{model_args},batch_size={batch}", "--device", "cpu", "--apply_chat_template",
                        "--tasks", "ja_mt_bench_writing,ja_mt_bench_math", "--limit", str(args.limit),
                        "--num_samples", str(args.samples), "--max_gen_toks", str(args.max_gen_toks),
                        "--data_dir", str(DATA), "--judge_model", "local-chat-completions", "--judge_model_args",
                        judge.args(), "--output_path", str(folder / "out" / "result.json"), "--log_samples"]
                start = time.perf_counter()
                proc = subprocess.run(argv, capture_output=True, text=True)
                if proc.returncode != 0:
                    raise SystemExit(proc.stderr[-2000:])
                rows[batch] = (time.perf_counter() - start, answers_of(folder / "out"))
    (slow, one), (fast, eight) = rows[1], rows[8]
    differ = sum(a != b for a, b in zip(one, eight))
    print(f"{args.model}: {args.limit} writing + {args.limit} math questions x 2 turns x {args.samples} samples, "
          f"{args.max_gen_toks} new tokens, judge at {args.latency} s per request\n")
    print(f"| batch size | wall s |\n|--:|--:|\n| 1 | {slow:.1f} |\n| 8 | {fast:.1f} |")
    print(f"\nratio (batch 1 / batch 8): {slow / fast:.2f}x wall; answers whose text differs between batch sizes: "
          f"{differ} of {len(one)}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per request at both endpoints")
    parser.add_argument("--limit", type=int, default=3, help="questions per category (writing, math)")
    parser.add_argument("--samples", type=int, default=3, help="answers per question")
    parser.add_argument("--model", choices=["endpoints", "tiny", "gemma"], default="endpoints",
                        help="who answers: a fixed-latency endpoint (default), or hf-causal on the tiny chat model or "
                        "Gemma-3-270M (batch 1 vs batch 8)")
    parser.add_argument("--max_gen_toks", type=int, default=32, help="new tokens per answer turn (local models)")
    args = parser.parse_args()
    if args.model != "endpoints":
        return local_runs(args)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, concurrent in (("FastChat-style (1 in flight)", 1), ("harness default", None)):
            folder = Path(tmp) / label.split()[0]
            folder.mkdir()
            with MisbehavingServer("ok", folder, args.latency) as model, \
                    MisbehavingServer("ok", folder, args.latency) as judge:
                seconds = run(model, judge, folder / "out" / "result.json", concurrent, args)
                rows[label] = (seconds, model.requests(), judge.requests())
    print(f"{args.limit} writing + {args.limit} math questions x 2 turns x {args.samples} samples, "
          f"{args.latency} s per request at each endpoint\n")
    print("| schedule | wall s | answer requests | judge requests |\n|---|--:|--:|--:|")
    for label, (seconds, answers, judged) in rows.items():
        print(f"| {label} | {seconds:.1f} | {answers} | {judged} |")
    (slow, a1, j1), (fast, a2, j2) = rows.values()
    print(f"\nratio (FastChat-style / harness): {slow / fast:.2f}x wall; answer requests {a1} -> {a2} "
          "(greedy answers of several samples generated once)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
