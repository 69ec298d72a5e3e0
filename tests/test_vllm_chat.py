"""lm-eval's ``vllm`` model answers chat tasks up to the engine call, on a stand-in of vLLM's Python API
(tests/fixtures/fake_vllm; vLLM itself needs a GPU): every request gets its own SamplingParams with the protocol's
temperature and, when sampled, its own seed; the chat template is the model's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import DATA, REPO, needs_shared
from tests.servers import MisbehavingServer

FAKE_VLLM = REPO / "tests" / "fixtures" / "fake_vllm"


@needs_shared
def test_vllm_answers_chat_tasks_with_per_request_seeds_and_the_protocols_parameters(tmp_path, chat_model_dir):
    log = tmp_path / "sampling.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FAKE_VLLM), str(REPO)]), "FAKE_VLLM_LOG": str(log)}
    out = tmp_path / "out" / "result.json"
    with MisbehavingServer("ok", tmp_path) as judge:
        proc = subprocess.run([sys.executable, str(REPO / "main.py"), "--model", "vllm", "--model_args",
                               f"pretrained={chat_model_dir},max_model_len=2048", "--apply_chat_template",
                               "--tasks", "ja_mt_bench_writing-stability-fd01e11,ja_mt_bench_math", "--limit", "2",
                               "--num_samples", "2", "--data_dir", str(DATA), "--judge_model",
                               "local-chat-completions", "--judge_model_args", judge.args(),
                               "--output_path", str(out), "--log_samples"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    params = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    sampled = [p for p in params if p.get("temperature") == 0.5]  # Stability's writing temperature
    assert len(sampled) == 2 * 2  # 2 questions x 2 samples, turn 1 only
    assert len({p["seed"] for p in sampled}) == 4 and all((p["top_p"], p["repetition_penalty"], p["max_tokens"]) ==
                                                          (0.9, 1.1, 512) for p in sampled)
    greedy = [p for p in params if p.get("temperature") == 0.0]  # FastChat's math: greedy, the 2 samples' once
    assert len(greedy) == 2 * 2 and all("seed" not in p for p in greedy)  # 2 questions x 2 turns
    row = json.loads((out.parent / "result.samples.ja_mt_bench_math.jsonl").read_text(encoding="utf-8").splitlines()[0])
    first = row["samples"][0]["turns"][0]
    assert first["answer"] == "はい、わかりました。"
    assert first["prompt"] == f"user: {row['doc']['turns'][0]}\nassistant: "  # the model's own chat template
