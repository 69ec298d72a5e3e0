"""Servers that misbehave (stdlib servers on 127.0.0.1, started by the tests): a judge or a served model that fails
is one error line naming the endpoint and what it answered, never a traceback; a judge that fails on some prompts
gives failed judgments and the run finishes; finished work is kept and a rerun resumes."""

from __future__ import annotations

import json

import pytest

from lm_eval_ja.cli import main
from tests.conftest import DATA, needs_shared
from tests.servers import MisbehavingServer


def _run(capsys, model_dir, judge_args, out=None, tasks="ja_mt_bench_writing", limit="2", model=None):
    evaluated = model or ["--model", "hf-causal", "--model_args", f"pretrained={model_dir}", "--device", "cpu"]
    argv = [*evaluated, "--apply_chat_template", "--tasks", tasks, "--limit", limit, "--max_gen_toks", "4",
            "--data_dir", str(DATA), "--judge_model", "local-chat-completions", "--judge_model_args", judge_args]
    code = main(argv + (["--output_path", str(out)] if out else []))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err, captured.err
    return code, captured.err.strip().splitlines()[-1] if captured.err.strip() else "", captured


@needs_shared
@pytest.mark.parametrize("mode, extra, says", [
    ("500", (), "HTTP 500"), ("html", (), "JSONDecodeError"), ("empty", (), ""),
    ("hang", ("timeout=2",), "Timeout"),
])
def test_a_judge_that_cannot_answer_is_refused_before_any_answer(tmp_path, capsys, chat_model_dir, mode, extra, says):
    with MisbehavingServer(mode, tmp_path) as server:
        code, line, _ = _run(capsys, chat_model_dir, server.args(*extra), tmp_path / "out" / "r.json")
    assert code == 2 and line.startswith(f"error: The judge endpoint {server.base}/chat/completions refuses a judge "
                                         "request as the run sends it ("), line
    assert says in line
    assert not (tmp_path / "out").exists()  # refused before anything was written


@needs_shared
def test_a_judge_that_dies_mid_run_is_one_line_and_the_rerun_resumes(tmp_path, capsys, chat_model_dir):
    out = tmp_path / "out" / "result.json"
    with MisbehavingServer("die-after-1", tmp_path) as server:  # the check before the run passes, then HTTP 500
        code, line, _ = _run(capsys, chat_model_dir, server.args(), out)
        port = server.port
    assert code == 2 and line == (
        f"error: The judge endpoint {server.base}/chat/completions failed after lm-eval's retries (HTTP 500: "
        "Internal Server Error); answers finished before it are kept: rerun the same command to resume. "
        "If the server is slow rather than down, raise timeout= in its model_args (default 120 s).")
    stored = out.parent / "result.responses.jsonl"
    kept = len(stored.read_text(encoding="utf-8").splitlines())
    assert kept >= 1 + 4  # the header and the 2 x 2 answers
    with MisbehavingServer("ok", tmp_path, port=port) as server:
        before = server.requests()  # the counter file is the port's, across both servers
        code, _, captured = _run(capsys, chat_model_dir, server.args(), out)
        asked = server.requests() - before
    assert code == 0, captured.err
    assert "resuming: 2 of 2 requests already done" in captured.out  # no answer generated twice
    assert asked == 1 + 2 * 2  # the check, then the 2 questions x 2 turns judged
    assert json.loads(out.read_text(encoding="utf-8"))["results"]["ja_mt_bench_writing"]["score"] == 4.0


@needs_shared
def test_a_judge_failing_on_some_prompts_gives_failed_judgments_and_the_run_finishes(tmp_path, capsys, chat_model_dir):
    out = tmp_path / "out" / "result.json"
    with MisbehavingServer("500-turn2", tmp_path) as server:
        code, _, captured = _run(capsys, chat_model_dir, server.args(), out)
    assert code == 0, captured.err
    scores = json.loads(out.read_text(encoding="utf-8"))["results"]["ja_mt_bench_writing"]
    assert scores["score_turn1"] == 4.0 and scores["score_turn2"] is None and scores["n_judge_failed"] == 2


@needs_shared
def test_a_served_model_that_dies_after_its_first_answer_is_one_line(tmp_path, capsys, chat_model_dir):
    with MisbehavingServer("die-after-1", tmp_path) as model, MisbehavingServer("ok", tmp_path) as judge:
        served = ["--model", "local-chat-completions", "--model_args", model.args()]
        code, line, _ = _run(capsys, None, judge.args(), tmp_path / "out" / "r.json", model=served)
    assert code == 2 and line.startswith(f"error: The evaluated model's endpoint {model.base}/chat/completions failed "
                                         "after lm-eval's retries (HTTP 500"), line


@needs_shared
def test_sampled_answers_with_their_own_seeds_go_to_an_api_model_in_parallel_and_are_stored_once(tmp_path, capsys,
                                                                                                  chat_model_dir):
    """Each sampled request is its own lm-eval group (its seed): the store fans the groups out to threads; every
    answer comes back to its own request and is stored once (the bench shows the time: bench/bench_chat.py)."""
    out = tmp_path / "out" / "result.json"
    with MisbehavingServer("ok", tmp_path, latency=0.2) as model, MisbehavingServer("ok", tmp_path) as judge:
        served = ["--model", "local-chat-completions", "--model_args", model.args()]
        code, _, captured = _run(capsys, None, judge.args(), out, tasks="ja_mt_bench_writing", limit="2",
                                 model=served + ["--num_samples", "3"])
        asked = model.requests()
    assert code == 0, captured.err
    # the check, then 2 questions x 3 samples x 2 turns, all sampled (writing: temperature 0.7), each once
    assert asked == 1 + 2 * 3 * 2
    stored = [json.loads(line) for line in (out.parent / "result.responses.jsonl").open(encoding="utf-8")][1:]
    # 12 answers; the server answers every sample alike, so their judge requests are 2 x 2 identical ones: once each
    assert len({row["key"] for row in stored}) == len(stored) == 2 * 3 * 2 + 2 * 2


@needs_shared
def test_a_protocols_answer_parameters_reach_the_server_in_the_request_body(tmp_path, capsys):
    """Stability's protocol samples every answer at its category's temperature with top_p 0.9 and repetition_penalty
    1.1, 512 new tokens, turn 1 only: an OpenAI-compatible server gets exactly that, and the judge its own request."""
    out = tmp_path / "out" / "result.json"
    with MisbehavingServer("ok", tmp_path) as model, MisbehavingServer("ok", tmp_path) as judge:
        code = main(["--model", "local-chat-completions", "--model_args", model.args(), "--apply_chat_template",
                     "--tasks", "ja_mt_bench_writing-stability-fd01e11", "--limit", "2", "--data_dir", str(DATA),
                     "--judge_model", "local-chat-completions", "--judge_model_args", judge.args(),
                     "--output_path", str(out)])
        answers, judged = model.payloads()[1:], judge.payloads()[1:]  # after each endpoint's check
    assert code == 0, capsys.readouterr().err
    assert len(answers) == 2 and len(judged) == 2  # 2 questions, turn 1 only
    for body in answers:
        assert (body["temperature"], body["top_p"], body["repetition_penalty"], body["max_tokens"]) == (0.5, 0.9, 1.1,
                                                                                                        512)
        assert isinstance(body["seed"], int) and body["messages"][-1]["role"] == "user"
    assert len({body["seed"] for body in answers}) == 2  # each answer its own seed
    prompts = {row["name"]: row for row in map(json.loads, (DATA / "japanese_mt_bench/protocols/stability/"
                                                                    "judge_ja_prompts.fd01e11.jsonl").open())}
    assert (judged[0]["temperature"], judged[0]["max_tokens"]) == (0, 2048)
    assert judged[0]["messages"][0] == {"role": "system", "content": prompts["single-v1"]["system_prompt"]}
