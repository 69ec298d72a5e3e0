"""bench/gpu_check.sh runs through on a machine without a GPU (DEVICE=cpu): every step reported, none lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import DATA, REPO, TINY_MODEL, needs_shared


@needs_shared
def test_gpu_check_dry_run_reports_every_step(tmp_path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHON": sys.executable, "DEVICE": "cpu", "LIMIT": "2", "OUT": str(tmp_path), "DATA_DIR": str(DATA)}
    proc = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh"), str(TINY_MODEL)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    table = (tmp_path / "gpu_check.md").read_text(encoding="utf-8").splitlines()
    steps = {row.split(" | ")[0].strip("| "): row.split(" | ")[1] for row in table[2:]}
    assert list(steps) == ["hf-causal-bf16", "vllm-bf16", "hf-causal-bf16-peft", "hf-causal-8bit-peft",
                           "hf-causal-4bit-peft", "hf-causal-bf16-2gpu"]
    assert steps["hf-causal-bf16"] == "ok" and steps["hf-causal-bf16-peft"] == "ok"
    # without CUDA, bitsandbytes steps are skipped (not installed) or refused with one error line, never dropped
    assert all(steps[s].startswith(("skipped: ", "failed: error: ")) for s in ("hf-causal-8bit-peft",
                                                                              "hf-causal-4bit-peft"))
    assert steps["hf-causal-bf16-2gpu"] == "skipped: 0 GPU(s) on this machine"
    chat = (tmp_path / "chat.md").read_text(encoding="utf-8").splitlines()
    chat_steps = {row.split(" | ")[0].strip("| "): row.split(" | ")[1] for row in chat[2:]}
    assert chat_steps["chat-hf-causal-bf16"] == "ok", chat_steps
    assert chat_steps["chat-vllm-bf16"].startswith(("skipped: ", "failed: "))
