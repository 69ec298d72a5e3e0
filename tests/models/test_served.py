"""Served models: our tasks through lm-eval's API models against a real ``transformers serve`` on 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from lm_eval_ja.cli import main
from lm_eval_ja.errors import UserError
from lm_eval_ja.models.served import check_endpoint, models_url, request_kinds
from tests.conftest import DATA, TINY_MODEL, needs_shared

GENERATION = "jsquad-1.1-0.3,niilc-llmjp-1.0"


def served_args(server, *extra: str) -> str:
    return ",".join([f"model={server.model}", f"base_url={server.base}/completions", "tokenizer_backend=huggingface",
                     f"tokenizer={TINY_MODEL}", *extra])


def run(capsys, model, model_args, tasks, out, *extra):
    code = main(["--model", model, "--model_args", model_args, "--tasks", tasks, "--num_fewshot", "1", "--limit", "3",
                 "--data_dir", str(DATA), "--output_path", str(out), *extra])
    stdout, stderr = capsys.readouterr()
    return code, stdout, stderr


def test_request_kinds_of_the_selected_tasks():
    assert request_kinds(["jcommonsenseqa-1.1-0.3", "jsquad-1.1-0.3", "ja_mt_bench_writing", "niilc-llmjp-1.0"]) == {
        "loglikelihood": ["jcommonsenseqa-1.1-0.3"], "generate_until": ["jsquad-1.1-0.3", "niilc-llmjp-1.0"],
        "chat": ["ja_mt_bench_writing"]}


@needs_shared
def test_generation_tasks_through_a_served_model_answer_as_hf_causal(tmp_path, capsys, completion_server):
    code, _, err = run(capsys, "local-completions", served_args(completion_server, "tokenized_requests=False"),
                       GENERATION, tmp_path / "served" / "result.json", "--log_samples")
    assert code == 0, err
    code, _, err = run(capsys, "hf-causal", f"pretrained={TINY_MODEL}", GENERATION, tmp_path / "hf" / "result.json",
                       "--log_samples", "--device", "cpu")
    assert code == 0, err
    served, local = (json.loads((tmp_path / d / "result.json").read_text(encoding="utf-8")) for d in ("served", "hf"))
    assert served["results"] == local["results"]
    for task in GENERATION.split(","):  # the same prompts, and greedy answers cut at the same stop strings
        rows = [[json.loads(line) for line in (tmp_path / d / f"result.samples.{task}.jsonl").open(encoding="utf-8")]
                for d in ("served", "hf")]
        assert [(r["arguments"][0][0], r["resps"]) for r in rows[0]] == [(r["arguments"][0][0], r["resps"])
                                                                         for r in rows[1]]
    assert completion_server.requests("/v1/completions") >= 6


@needs_shared
def test_loglikelihood_tasks_are_refused_when_the_server_gives_no_prompt_logprobs(tmp_path, capsys,
                                                                                   completion_server):
    out = tmp_path / "ll" / "result.json"
    code, stdout, err = run(capsys, "local-completions", served_args(completion_server, "tokenized_requests=False"),
                            "jcommonsenseqa-1.1-0.3,jsquad-1.1-0.3", out)
    assert code == 2 and "[1/2]" not in stdout and not out.exists()
    assert err.splitlines()[-1] == (
        f"error: jcommonsenseqa-1.1-0.3 is scored by log-likelihood, and the evaluated model's server "
        f"({completion_server.base}/completions) gives no prompt log-probabilities (its answer has no 'logprobs' "
        "field); serve the model with vLLM (its /v1/completions returns them), or select generation tasks only.")
    assert "Traceback" not in err


@needs_shared
def test_a_chat_completions_model_is_refused_for_loglikelihood_tasks(tmp_path, capsys, completion_server):
    code, _, err = run(capsys, "local-chat-completions", f"model={completion_server.model},base_url="
                       f"{completion_server.base}/chat/completions", "jnli-1.1-0.3", tmp_path / "chat" / "result.json")
    assert code == 2
    assert err.splitlines()[-1] == (
        "error: jnli-1.1-0.3 is scored by log-likelihood, which --model local-chat-completions (a chat-completions "
        "API) cannot give; use --model local-completions with base_url=…/v1/completions of a server that returns "
        "prompt log-probabilities (vLLM), or select generation tasks only.")


@needs_shared
def test_a_server_that_refuses_token_prompts_says_which_model_arg_to_set(tmp_path, capsys, completion_server):
    code, _, err = run(capsys, "local-completions", served_args(completion_server), "jsquad-1.1-0.3",
                       tmp_path / "tok" / "result.json")
    assert code == 2
    assert err.splitlines()[-1] == (
        f"error: The evaluated model's server ({completion_server.base}/completions) refuses a generation request of "
        'jsquad-1.1-0.3 as lm-eval sends it (HTTP 400: {"detail":"prompt must be a string."}); a server that takes '
        "only text prompts (transformers serve) needs tokenized_requests=False in --model_args.")


def test_an_unreachable_server_is_one_line(tmp_path, capsys):
    code, _, err = run(capsys, "local-completions", "model=m,base_url=http://127.0.0.1:9/v1/completions,"
                       "tokenizer_backend=huggingface," f"tokenizer={TINY_MODEL}", "jsquad-1.1-0.3",
                       tmp_path / "none" / "result.json")
    assert code == 2
    assert err.splitlines()[-1] == ("error: The evaluated model endpoint http://127.0.0.1:9/v1/completions cannot be "
                                    "reached (ConnectionError); start the server, or fix base_url= in its model_args.")


def test_models_url():
    assert models_url("http://h:1/v1/chat/completions") == "http://h:1/v1/models"
    assert models_url("http://h:1/v1/completions/") == "http://h:1/v1/models"


class _Refusing(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(401)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_an_endpoint_that_refuses_the_key(monkeypatch):
    from lm_eval.models.openai_completions import LocalChatCompletion

    server = http.server.HTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}/v1/chat/completions"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    try:
        with pytest.raises(UserError) as err:
            check_endpoint(LocalChatCompletion(model="m", base_url=base), "judge")
    finally:
        server.shutdown()
    assert str(err.value) == (f"The judge endpoint {base} refuses the API key (HTTP 401); set a valid key in "
                              "OPENAI_API_KEY.")
    assert "sk-wrong" not in str(err.value)


def test_a_server_that_answers_passes(judge_server):
    from lm_eval.models.openai_completions import LocalChatCompletion

    check_endpoint(LocalChatCompletion(model=judge_server.model, base_url=f"{judge_server.base}/chat/completions"))
