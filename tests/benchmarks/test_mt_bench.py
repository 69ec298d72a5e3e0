"""Japanese MT-Bench: FastChat's judge prompts and rating rule, aggregation by hand, end to end with a real judge
server (``transformers serve`` on 127.0.0.1), resume without a second judge call."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from types import SimpleNamespace

from lm_eval_ja.aggregation import metric_results
from lm_eval_ja.benchmarks import mt_bench, registry
from lm_eval_ja.benchmarks.mt_bench import protocols as P
from lm_eval_ja.chat import Answer
from lm_eval_ja.cli import main
from lm_eval_ja.scorers.judge import JudgeSettings
from tests.conftest import DATA, REPO, needs_shared

RECORDED = Path(__file__).parents[1] / "fixtures" / "judge" / "fastchat-ja-gpt-4-single.jsonl"
MT = DATA / "japanese_mt_bench"


FASTCHAT = P.get_protocol("fastchat")


def test_rating_rule_on_recorded_gpt4_judgments():
    rows = [json.loads(line) for line in RECORDED.open(encoding="utf-8")]
    assert len(rows) >= 10
    for row in rows:
        assert P.parse_rating(FASTCHAT, row["judgment"]) == row["score"], row["judgment"][-80:]


@pytest.mark.parametrize("judgment, rating", [
    ("Rating: [[7]]", 7.0), ("評価：[[8.5]]です", 8.5), ("[[3]] と [[9]]", 3.0), ("rating [6] ...", 6.0),
    ("[[10]]", 10.0), ("評価はできません", None), ("[[A]]", None),
])
def test_rating_rule(judgment, rating):
    assert P.parse_rating(FASTCHAT, judgment) == rating


def test_pairwise_verdicts():
    assert [mt_bench.parse_verdict(v) for v in ("[[A]]", "x [[B]]", "[[C]]", "A is better")] == ["A", "B", "tie", None]


def test_every_protocol_is_a_task_version_and_a_group():
    names = set(registry.all_names())
    for protocol in ("fastchat", "stability-fd01e11", "stability-57d3a1a", "swallow", "swallow_fastchat", "nejumi3",
                     "llmjp_judge", "flexeval", "sarashina"):
        assert f"ja_mt_bench-{protocol}" in names and f"ja_mt_bench_math-{protocol}" in names, protocol
        assert registry.resolve(f"ja_mt_bench_math-{protocol}").version.protocol == protocol
    assert registry.group_leaves("ja_mt_bench") == registry.group_leaves("ja_mt_bench-fastchat")
    assert registry.group_leaves("ja_mt_bench-stability") == registry.group_leaves("ja_mt_bench-stability-fd01e11")
    assert registry.resolve("ja_mt_bench_math").prompt_version == "fastchat"
    # one leaderboard column per protocol, whatever name the group was run under
    assert registry.headline("ja_mt_bench")[0] == registry.headline("ja_mt_bench-fastchat")[0] == "ja_mt_bench-fastchat"
    assert registry.headline("ja_mt_bench-swallow")[1].scale == "0.1–1"


class _FakeJudge:
    """Answers judge prompts from a list of outputs, in order; records what it was asked."""

    def __init__(self, outputs):
        self.outputs, self.asked = list(outputs), []

    def ask(self, prompts, indices, params=None):
        self.asked += list(zip(prompts, indices))
        self.params = params
        return [self.outputs.pop(0) for _ in prompts]

    def describe(self):
        return {"model": "local-chat-completions", "model_args": "model=gpt-4,base_url=http://127.0.0.1:1/v1"}


def _task(judge, name="ja_mt_bench_math-fastchat", num_judgments=2):
    from lm_eval_ja.documents import load_documents

    resolved = registry.resolve(name)
    documents = load_documents(name, resolved.benchmark, str(DATA))
    task = SimpleNamespace(extra_data=documents.extra, judging=JudgeSettings(judge, num_judgments=num_judgments),
                           config=SimpleNamespace(task=name), task_version=resolved.version, metrics=resolved.metrics)
    return task, documents


@needs_shared
def test_aggregation_by_hand_turns_failures_samples_and_judgments():
    docs = [{"id": 31, "question_id": 31, "category": "math", "turns": ["Q1", "Q2"]},
            {"id": 32, "question_id": 32, "category": "math", "turns": ["Q1", "Q2"]}]
    answers = [[Answer(["a"], ["a1", "a2"]), Answer(["b"], ["b1", "b2"])], [Answer(["c"], ["c1", "c2"])] * 2]
    # order: doc, sample, turn, judgment (2 judgments)
    outputs = ["[[8]]", "[[6]]", "[[5]]", "no rating",   # doc 0 sample 0: turn 1 (8, 6), turn 2 (5, failed)
               "[[7]]", "[[7]]", "[[3]]", "[[1]]",       # doc 0 sample 1
               "[[10]]", "[[10]]", "[[2]]", "[[2]]",     # doc 1 sample 0
               "[[9]]", "oops", "[[4]]", "[[4]]"]        # doc 1 sample 1
    judge = _FakeJudge(outputs)
    task, _ = _task(judge)
    scorer = mt_bench.MTBenchScorer(task)
    scored = scorer.score(docs, answers)
    assert [j for _, j in judge.asked] == [0, 1] * 8
    assert judge.params == {"model": "gpt-4", "temperature": 0.0, "max_tokens": 2048}
    assert scorer.protocol_facts["comparable"] and scorer.protocol_facts["protocol_judge"] == "gpt-4"
    metrics = metric_results(task.metrics, {m: [s[m] for s in scored] for m in mt_bench.RECORD_METRICS}, 1000)
    assert metrics["score"] == pytest.approx((8 + 6 + 7 + 7 + 5 + 3 + 1 + 10 + 10 + 2 + 2 + 9 + 4 + 4) / 14)
    assert metrics["score_turn1"] == pytest.approx((8 + 6 + 7 + 7 + 10 + 10 + 9) / 7)
    assert metrics["score_turn2"] == pytest.approx((5 + 3 + 1 + 2 + 2 + 4 + 4) / 7)
    mean0, mean1 = (8 + 6 + 7 + 7 + 5 + 3 + 1) / 7, (10 + 10 + 2 + 2 + 9 + 4 + 4) / 7
    assert metrics["score_stderr"] == pytest.approx(abs(mean0 - mean1) / 2)  # two documents: |a - b| / 2
    assert metrics["n_judge_failed"] == 2
    log = scored[0]["_log"][0][1]  # doc 0, sample 0, turn 2
    assert [r["rating"] for r in log] == [5.0, None] and log[1]["output"] == "no rating"


@needs_shared
def test_a_turn_one_protocol_judges_turn_one_only_with_its_own_prompts():
    judge = _FakeJudge(["[[6]]"])
    task, documents = _task(judge, "ja_mt_bench_math-stability-fd01e11", num_judgments=None)
    doc = documents.evaluated[0]
    scorer = mt_bench.MTBenchScorer(task)
    scored = scorer.score([doc], [[Answer(["x"], ["回答"])]])
    ((messages, _),) = judge.asked
    prompts = {r["name"]: r for r in map(json.loads, (MT / "protocols/stability/judge_ja_prompts.fd01e11.jsonl").open())}
    refs = {int(r["question_id"]): r["choices"][0]["turns"] for r in
            map(json.loads, (MT / "protocols/stability/reference_answer/gpt-4.aed16da.jsonl").open())}
    expected = prompts["single-math-v1"]["prompt_template"].format(question=doc["turns"][0], answer="回答",
                                                                   ref_answer_1=refs[doc["id"]][0])
    assert messages == [{"role": "system", "content": prompts["single-math-v1"]["system_prompt"]},
                        {"role": "user", "content": expected}]
    metrics = metric_results(task.metrics, {m: [s[m] for s in scored] for m in mt_bench.RECORD_METRICS}, 0)
    assert metrics["score"] == metrics["score_turn1"] == 6.0 and metrics["score_turn2"] is None


@needs_shared
def test_protocol_plans_send_the_protocols_request_parameters():
    from lm_eval_ja.chat import ChatOptions, max_gen_toks_rule

    stability = SimpleNamespace(task_version=registry.resolve("ja_mt_bench_writing-stability-fd01e11").version)
    plan = mt_bench.ProtocolPlan(stability, ChatOptions(max_gen_toks=64))
    doc = {"question_id": 81, "category": "writing", "turns": ["Q1", "Q2"]}
    assert plan.params(doc) == {"temperature": 0.5, "do_sample": True, "top_p": 0.9, "repetition_penalty": 1.1,
                                "max_new_tokens": 512}
    assert plan.turns(doc) == 1 and plan.num_samples() == 1
    said = []
    rule, record = max_gen_toks_rule(plan, ChatOptions(model_max_gen_toks=64), "t", say=lambda *a, **k: said.append(a))
    assert rule(doc) == 512 and record == {"ignored": 64, "max_gen_toks": 512, "from": "protocol"}
    assert said and "512 new tokens per turn, as its protocol does" in said[0][0]
    rule, record = max_gen_toks_rule(plan, ChatOptions(max_gen_toks=64), "t", say=lambda *a, **k: said.append(a))
    assert rule(doc) == 64 and record == {"overrides": 512, "max_gen_toks": 64, "from": "--max_gen_toks"}
    swallow = SimpleNamespace(task_version=registry.resolve("ja_mt_bench_math-swallow").version)
    plan = mt_bench.ProtocolPlan(swallow, ChatOptions())
    assert plan.messages({**doc, "category": "math"}, [])[0] == {"role": "system",
                                                                  "content": "あなたは誠実で優秀な日本人のアシスタントです。"}
    assert plan.num_samples() == 5 and plan.history(3) == 0
    assert plan.postprocess("<think>r</think>答え" + "x" * 9000) == ("答え" + "x" * 9000)[:8192]
    assert max_gen_toks_rule(plan, ChatOptions(), "t")[0]({**doc, "category": "math"}) == 1024


# --------------------------------------------------------------------------------------------- with real servers


def _argv(model, judge_server, out, *extra):
    return ["--model", "hf-causal", "--model_args", f"pretrained={model}", "--device", "cpu", "--apply_chat_template",
            "--tasks", "ja_mt_bench", "--limit", "1", "--max_gen_toks", "4", "--data_dir", str(DATA),
            "--judge_model", "local-chat-completions", "--judge_model_args", judge_server.judge_args(),
            "--output_path", str(out), *extra]


@needs_shared
def test_end_to_end_against_a_real_judge_server(tmp_path, capsys, chat_model_dir, judge_server):
    out = tmp_path / "mtb" / "result.json"
    before = judge_server.requests()
    code = main(_argv(chat_model_dir, judge_server, out, "--log_samples", "--num_judgments", "2"))
    assert code == 0, capsys.readouterr().err
    assert judge_server.requests() - before == 1 + 8 * 2 * 2  # the judge check, 8 questions x 2 turns x 2
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["results"]["ja_mt_bench"] == {"score": 4.0, "score_stderr": 0.0, "score_turn1": 4.0,
                                                "score_turn2": 4.0, "n_judge_failed": 0}
    categories = {f"ja_mt_bench_{c}-fastchat" for c in mt_bench.CATEGORIES}
    assert set(result["results"]) == {"ja_mt_bench"} | categories  # the group's name as given, members with protocol
    lm_eval_ja = result["config"]["lm_eval_ja"]
    judge = lm_eval_ja["judge"]
    assert (judge["model"], judge["num_judgments"]) == ("local-chat-completions", 2)
    facts = lm_eval_ja["chat_tasks"]["ja_mt_bench_math-fastchat"]
    assert facts["answer_tokens"] == {"max_gen_toks": 4, "from": "--max_gen_toks", "overrides": 1024}
    assert (facts["protocol"], facts["protocol_judge"], facts["comparable"]) == ("fastchat", "gpt-4", False)
    assert facts["not_comparable_because"].endswith("the protocol by 'gpt-4'")
    assert lm_eval_ja["num_samples"] is None  # the protocol's (1)
    row = json.loads((out.parent / "result.samples.ja_mt_bench_math-fastchat.jsonl").read_text(encoding="utf-8"))
    turn2 = row["samples"][0]["turns"][1]
    assert turn2["question"] == row["doc"]["turns"][1] and len(turn2["judgments"]) == 2
    # what the model saw: the rendered chat template with its own first answer, and the request parameters
    assert row["doc"]["turns"][0] in turn2["prompt"] and row["samples"][0]["turns"][0]["answer"] in turn2["prompt"]
    assert turn2["request"] == {"until": [], "max_gen_toks": 4, "temperature": 0.0, "do_sample": False}
    judged = turn2["judgments"][0]
    assert judged["prompt"][0]["content"].startswith("Please act as an impartial judge")  # -multi-turn, math
    assert "### Reference answer:" in judged["prompt"][1]["content"] and judged["rating"] == 4.0
    assert [r["rating"] for r in row["score"]] == [4.0] * 4


@needs_shared
def test_a_run_killed_while_judging_resumes_without_asking_again(tmp_path, chat_model_dir, judge_server):
    out = tmp_path / "killed" / "result.json"
    argv = [sys.executable, str(REPO / "main.py"), *_argv(chat_model_dir, judge_server, out, "--num_judgments", "3")]
    store = out.parent / "result.responses.jsonl"
    before = judge_server.requests()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    # every category's answers (8 x 2 lines; the categories are judged together afterwards) and some judgments
    while time.time() < deadline and (not store.exists() or len(store.read_bytes().splitlines()) < 1 + 16 + 3):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    judged_then = judge_server.requests() - before
    kept = len(store.read_bytes().splitlines()) - 1
    assert kept >= 16 + 3 and judged_then < 8 * 2 * 3
    rerun = subprocess.run(argv, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    asked = judge_server.requests() - before
    # every finished judgment was kept: the judge is asked only for the rest (at most the one in flight again), plus
    # one judge check before each of the two runs
    assert 8 * 2 * 3 + 2 <= asked <= 8 * 2 * 3 + 3
    assert "judge requests already done" in rerun.stdout
    assert json.loads(out.read_text(encoding="utf-8"))["results"]["ja_mt_bench"]["score"] == 4.0


@needs_shared
def test_judged_tasks_refuse_bad_input_before_any_answer(tmp_path, capsys, chat_model_dir, judge_server):
    base = ["--model", "hf-causal", "--model_args", f"pretrained={chat_model_dir}", "--tasks", "ja_mt_bench_writing",
            "--data_dir", str(DATA), "--output_path", str(tmp_path / "r.json")]
    cases = [
        (base, "error: ja_mt_bench_writing is answered as a chat: pass --apply_chat_template"),
        (base + ["--apply_chat_template"], "error: Judged tasks need a judge: pass --judge_model_args"),
        (base + ["--apply_chat_template", "--judge_model_args", "model=gpt-4o,api_key=sk-1"],
         "error: --judge_model_args gives api_key=...; API keys come only from the environment"),
        (base + ["--apply_chat_template", "--judge_model", "local-chat-completions", "--judge_model_args",
                 "model=m,base_url=http://127.0.0.1:9/v1/chat/completions"],
         "error: The judge endpoint http://127.0.0.1:9/v1/chat/completions cannot be reached"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(message) and "Traceback" not in err, err
    assert not (tmp_path / "r.responses.jsonl").exists() or len((tmp_path / "r.responses.jsonl").read_text().splitlines()) == 1
    # an evaluated model without a chat template is refused once it is loaded, before it answers
    from tests.conftest import TINY_MODEL

    code = main(["--model", "hf-causal", "--model_args", f"pretrained={TINY_MODEL}", "--tasks", "ja_mt_bench_writing",
                 "--apply_chat_template", "--data_dir", str(DATA), "--judge_model", "local-chat-completions",
                 "--judge_model_args", judge_server.judge_args()])
    last = capsys.readouterr().err.splitlines()[-1]
    assert code == 2 and last.startswith("error: The evaluated model (") and "has no chat template" in last


@needs_shared
@pytest.mark.parametrize("model", ["hf", "local-chat-completions"])
def test_lm_evals_hf_and_api_models_answer_as_chat_models(tmp_path, capsys, chat_model_dir, judge_server, model):
    model_args = (f"pretrained={chat_model_dir}" if model == "hf" else judge_server.judge_args())
    out = tmp_path / model / "result.json"
    device = ["--device", "cpu"] if model == "hf" else []
    code = main(["--model", model, "--model_args", model_args, *device, "--apply_chat_template", "--tasks",
                 "ja_mt_bench_writing", "--limit", "1", "--max_gen_toks", "4", "--data_dir", str(DATA),
                 "--judge_model", "local-chat-completions", "--judge_model_args", judge_server.judge_args(),
                 "--output_path", str(out), "--log_samples"])
    assert code == 0, capsys.readouterr().err
    row = json.loads((out.parent / "result.samples.ja_mt_bench_writing.jsonl").read_text(encoding="utf-8"))
    answers = [t["answer"] for t in row["samples"][0]["turns"]]
    assert len(answers) == 2
    if model == "local-chat-completions":  # the served fixed-answer model answers both turns the same
        assert answers == ["評価：[[4]]", "評価：[[4]]"]
    assert json.loads(out.read_text(encoding="utf-8"))["results"]["ja_mt_bench_writing"]["score"] == 4.0


@needs_shared
def test_a_judge_that_never_rates_is_counted_never_scored(tmp_path, capsys, chat_model_dir):
    from tests.servers import Server, fixed_answer_model

    with Server(fixed_answer_model(tmp_path / "judge", "採点できません"), tmp_path / "server.log") as server:
        out = tmp_path / "out" / "result.json"
        code = main(["--model", "hf-causal", "--model_args", f"pretrained={chat_model_dir}", "--device", "cpu",
                     "--apply_chat_template", "--tasks", "ja_mt_bench_stem", "--limit", "2", "--max_gen_toks", "4",
                     "--data_dir", str(DATA), "--judge_model", "local-chat-completions", "--judge_model_args",
                     server.judge_args(), "--output_path", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["results"]["ja_mt_bench_stem"] == {
        "score": None, "score_turn1": None, "score_turn2": None, "n_judge_failed": 4}
    warning = ("ja_mt_bench_stem: every one of its 4 judgments failed (the judge never wrote a rating the protocol's "
               "parser reads), so it has no score; look at the judgments in its sample log (--log_samples).")
    assert result["config"]["lm_eval_ja"]["warnings"] == [warning] and f"WARNING: {warning}" in err
