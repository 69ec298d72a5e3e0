"""Real OpenAI-compatible servers for the tests: ``transformers serve`` on 127.0.0.1, and tiny models to serve.

:func:`fixed_answer_model` builds a tiny GPT-NeoX (the conformance architecture and tokenizer) that answers every chat
with the same text — a judge that always says ``評価：[[4]]``. :class:`Server` starts
``transformers serve`` on a free loopback port, waits for ``/v1/models``, counts the requests it answered (its
access log) and stops it by its process id.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import TINY_MODEL

#: A chat template for the tiny models (a turn per line).
CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant: {% endif %}")


def fixed_answer_model(path: Path, answer: str) -> Path:
    """A tiny chat model that answers ``answer`` to anything, built (not trained) in a second.

    ``answer`` becomes one added token. Every layer's attention and MLP output is zeroed, so the next token depends on
    the current token alone, and the embeddings are set so that after any token but the answer the answer follows,
    and after the answer the end of sequence: whatever the prompt and its length, the reply is ``answer``.
    """
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(TINY_MODEL)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.add_tokens([answer])
    answer_id, eos = tokenizer.convert_tokens_to_ids(answer), tokenizer.eos_token_id
    config = transformers.AutoConfig.from_pretrained(TINY_MODEL)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config)
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    with torch.no_grad():
        for layer in model.gpt_neox.layers:
            for module in (layer.attention.dense, layer.mlp.dense_4h_to_h):
                module.weight.zero_()
                module.bias.zero_()
        hidden = model.config.hidden_size
        shared = torch.zeros(hidden)
        shared[0], shared[1] = 1.0, -1.0  # zero mean: the final layer norm keeps its direction
        embed = model.get_input_embeddings().weight
        embed.copy_(10 * shared + 0.01 * torch.randn_like(embed))
        embed[answer_id] = -10 * shared
        head = model.get_output_embeddings().weight
        head.zero_()
        head[answer_id] = 20 * shared
        head[eos] = -20 * shared
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def chat_model(path: Path, seed: int = 1) -> Path:
    """The tiny conformance architecture with random weights and a chat template (an 'instruction-tuned' model)."""
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(TINY_MODEL)
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    transformers.AutoModelForCausalLM.from_config(transformers.AutoConfig.from_pretrained(TINY_MODEL)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``transformers serve MODEL`` on 127.0.0.1 (CPU), started and stopped by the test."""

    def __init__(self, model: Path, log: Path):
        self.model, self.log = str(model), log
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/v1"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Server":
        cli = Path(sys.executable).with_name("transformers")
        self._fh = self.log.open("w", encoding="utf-8")
        self.proc = subprocess.Popen([str(cli), "serve", self.model, "--host", "127.0.0.1", "--port", str(self.port),
                                      "--device", "cpu"], stdout=self._fh, stderr=subprocess.STDOUT,
                                     start_new_session=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
        deadline = time.time() + 180
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"transformers serve exited: {self.log.read_text(encoding='utf-8')[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.base}/models", timeout=2):
                    return self
            except OSError:
                time.sleep(0.5)
        self.__exit__()
        raise RuntimeError("transformers serve did not answer /v1/models within 180 s")

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._fh.close()

    def requests(self, path: str = "/v1/chat/completions") -> int:
        """How many requests to ``path`` the server has answered (its access log)."""
        return self.log.read_text(encoding="utf-8", errors="replace").count(f'"POST {path} HTTP/1.1" 200')

    def judge_args(self, concurrent: int = 1) -> str:
        # transformers serve answers an empty stop list with an error: lm-eval sends the EOS string instead.
        return (f"model={self.model},base_url={self.base}/chat/completions,num_concurrent={concurrent},"
                "eos_string=<|endoftext|>")


class MisbehavingServer:
    """``tests/misbehaving_server.py`` on 127.0.0.1 in one of its modes, started and stopped by the test (by pid)."""

    def __init__(self, mode: str, folder: Path, latency: float = 0.0, port: int | None = None):
        self.mode, self.folder, self.latency = mode, folder, latency
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> "MisbehavingServer":
        script = Path(__file__).with_name("misbehaving_server.py")
        self.proc = subprocess.Popen([sys.executable, str(script), str(self.port), self.mode, str(self.latency)],
                                     cwd=self.folder, start_new_session=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base}/models", timeout=2):
                    return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("the misbehaving server did not start")

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def requests(self) -> int:
        counter = self.folder / f"{self.port}.count"
        return len(counter.read_text().splitlines()) if counter.exists() else 0

    def payloads(self) -> list[dict]:
        """The bodies of the chat requests received, in order."""
        path = self.folder / f"{self.port}.payloads.jsonl"
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []

    def args(self, *extra: str) -> str:
        return ",".join([f"model=judge,base_url={self.base}/chat/completions,max_retries=1", *extra])
