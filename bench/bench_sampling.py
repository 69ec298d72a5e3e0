"""Sampled generation in ``hf-causal``: one request at a time vs batched, same requests and seeds, same run.

```bash
OMP_NUM_THREADS=1 python bench/bench_sampling.py                       # tiny conformance GPT-NeoX
OMP_NUM_THREADS=1 python bench/bench_sampling.py --model gemma --requests 8 --max_gen_toks 32 --reps 2
```

Each repetition runs, in turn (interleaved, so drift on a shared machine hits every mode alike):

* ``legacy``: what ``generate_until`` did before batched sampling — one ``model.generate(do_sample=True)`` per
  request after ``torch.manual_seed(seed)`` (transformers' own sampler; its texts are not comparable to ours);
* ``bs1``: ``hf-causal`` at ``batch_size=1`` (each sampled request alone in the per-row sampling loop);
* ``bsN``: ``hf-causal`` at ``batch_size=N`` (default 8; sampled requests of every seed share batches).

The requests are Japanese MT-Bench first turns (chat-like: ``until=[]``, so each answer runs to the end-of-sequence
token or ``--max_gen_toks``), each with its own seed, temperature from a fixed cycle and, with ``--mixed``, top-p /
top-k / repetition-penalty settings. Printed: the median wall seconds per mode, the ratio bs1 / bsN and legacy / bsN
measured in this run, generated tokens, and the share of answers whose text differs between bs1 and bsN
(0 in exact arithmetic; floating-point differences between batch shapes can flip a draw that lands within rounding of
a token boundary).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TINY = ROOT.parent / "shared" / "conformance" / "models" / "tiny-neox-a"
sys.path.insert(0, str(ROOT / "bench"))
from bench_scoring import resolve_model  # noqa: E402  (tiny, gemma: the fp32 copy made once, or a folder / hub id)
if not TINY.is_dir():
    TINY = Path("/work/shared/conformance/models/tiny-neox-a")
QUESTIONS = [ROOT.parent / "shared" / "data" / "japanese_mt_bench" / "question.jsonl",
             Path("/work/shared/data/japanese_mt_bench/question.jsonl")]
TEMPERATURES = (0.7, 1.0, 0.1, 0.7, 0.5, 1.0, 0.7, 0.3)


def prompts(n: int) -> list[str]:
    path = next((p for p in QUESTIONS if p.is_file()), None)
    turns = [json.loads(line)["turns"][0] for line in path.open(encoding="utf-8")] if path else ["こんにちは。"]
    # A plain chat-like frame (the tiny model and Gemma-270M's GGUF have no chat template).
    return [f"ユーザー: {turns[i % len(turns)]}\nアシスタント: " for i in range(n)]


def build_requests(n: int, max_gen_toks: int, mixed: bool):
    from lm_eval.api.instance import Instance

    requests = []
    for i, context in enumerate(prompts(n)):
        kwargs = {"until": [], "max_gen_toks": max_gen_toks, "do_sample": True,
                  "temperature": TEMPERATURES[i % len(TEMPERATURES)], "seed": 1000 + i}
        if mixed:
            kwargs.update([{}, {"top_p": 0.9}, {"top_k": 20}, {"repetition_penalty": 1.2}][i % 4])
        requests.append(Instance("generate_until", {}, (context, kwargs), i))
    return requests


def legacy(lm, requests) -> list[str]:
    """The previous path: one request per generate() call, global seed, transformers' sampler."""
    import torch

    texts = []
    for req in requests:
        context, kwargs = req.args
        job = lm._job(context, kwargs)
        ids = torch.tensor([job.context], device=lm.device)
        torch.manual_seed(job.sampling.seed)
        with torch.no_grad():
            out = lm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=job.cap,
                                    eos_token_id=list(job.stop_ids), pad_token_id=job.stop_ids[0], do_sample=True,
                                    temperature=job.sampling.temperature)
        texts.append(lm.tokenizer.decode(out[0, ids.shape[1]:].tolist(), skip_special_tokens=True))
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny", help="tiny, gemma, or a model folder / hub id")
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--max_gen_toks", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--mixed", action="store_true", help="also vary top_p / top_k / repetition_penalty")
    parser.add_argument("--no_legacy", action="store_true", help="skip the previous one-generate-per-request path")
    parser.add_argument("--cache_dir", default=str(Path.home() / ".cache" / "lm_eval_ja_bench"))
    parser.add_argument("--json", help="write every number here")
    args = parser.parse_args()

    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    from lm_eval_ja.models import HFCausalLM

    print(f"torch threads {torch.get_num_threads()} (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')})",
          flush=True)
    lm = HFCausalLM(pretrained=resolve_model(args.model, Path(args.cache_dir)), device="cpu", batch_size=1)
    requests = build_requests(args.requests, args.max_gen_toks, args.mixed)
    n = args.batch_size
    modes = (["legacy"] if not args.no_legacy else []) + ["bs1", f"bs{n}"]

    def run(mode):
        if mode == "legacy":
            return legacy(lm, requests)
        lm._batch_size = 1 if mode == "bs1" else n
        return lm.generate_until(requests, disable_tqdm=True)

    times: dict[str, list[float]] = {m: [] for m in modes}
    texts: dict[str, list[list[str]]] = {m: [] for m in modes}
    lm.generate_until(requests[:2], disable_tqdm=True)  # warm-up
    for rep in range(args.reps):
        for mode in modes:
            start = time.perf_counter()
            texts[mode].append(run(mode))
            times[mode].append(time.perf_counter() - start)
        print(f"rep {rep + 1}: " + "  ".join(f"{m} {times[m][-1]:.2f}s" for m in modes), flush=True)

    batched = f"bs{n}"
    tokens = sum(len(lm.tokenizer.encode(t, add_special_tokens=False)) for t in texts[batched][0])
    med = {m: statistics.median(times[m]) for m in modes}
    repeat_same = all(t == texts[m][0] for m in ("bs1", batched) for t in texts[m])
    differ = [i for i in range(len(requests)) if texts["bs1"][0][i] != texts[batched][0][i]]
    print(f"\nmodel {args.model}: {len(requests)} sampled requests, max_gen_toks {args.max_gen_toks}, "
          f"{'mixed settings' if args.mixed else 'temperature only'}, {args.reps} interleaved repetitions")
    print(f"{'mode':>8} {'median s':>9} {'s/answer':>9}")
    for m in modes:
        print(f"{m:>8} {med[m]:9.2f} {med[m] / len(requests):9.3f}")
    print(f"ratio bs1/{batched}: {med['bs1'] / med[batched]:.2f}x")
    if "legacy" in med:
        print(f"ratio legacy/{batched}: {med['legacy'] / med[batched]:.2f}x")
    print(f"generated tokens ({batched}, rep 1): {tokens}")
    print(f"same texts on every repetition (bs1 and {batched}): {repeat_same}")
    print(f"answers whose text differs between bs1 and {batched}: {len(differ)}/{len(requests)} "
          f"({100 * len(differ) / len(requests):.1f}%)" + (f" ids {differ}" if differ else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "times": times, "median": med,
                                               "differ": differ, "repeat_same": repeat_same, "tokens": tokens},
                                              indent=1))


if __name__ == "__main__":
    main()
