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

from lm_eval_ja.benchmarks import mt_bench
from lm_eval_ja.chat import Answer
from lm_eval_ja.cli import main
from lm_eval_ja.scorers.judge import JudgeSettings
from tests.conftest import DATA, REPO, needs_shared

RECORDED = Path(__file__).parents[1] / "fixtures" / "judge" / "fastchat-ja-gpt-4-single.jsonl"
MT = DATA / "japanese_mt_bench"


def test_rating_rule_on_recorded_gpt4_judgments():
    rows = [json.loads(line) for line in RECORDED.open(encoding="utf-8")]
    assert len(rows) >= 10
    for row in rows:
        assert mt_bench.parse_rating(row["judgment"]) == row["score"], row["judgment"][-80:]


@pytest.mark.parametrize("judgment, rating", [
    ("Rating: [[7]]", 7.0), ("評価：[[8.5]]です", 8.5), ("[[3]] と [[9]]", 3.0), ("rating [6] ...", 6.0),
    ("[[10]]", 10.0), ("評価はできません", None), ("[[A]]", None),
])
def test_rating_rule(judgment, rating):
    assert mt_bench.parse_rating(judgment) == rating


def test_pairwise_verdicts():
    assert [mt_bench.parse_verdict(v) for v in ("[[A]]", "x [[B]]", "[[C]]", "A is better")] == ["A", "B", "tie", None]


def _prompts():
    return {row["name"]: row for row in map(json.loads, (MT / "judge_prompts.jsonl").open(encoding="utf-8"))}


@needs_shared
def test_fastchat_judge_prompts_exactly():
    prompts = _prompts()
    writing = {"id": 81, "category": "writing", "turns": ["Q1", "Q2"]}
    assert mt_bench.single_messages(writing, ["A1"], 0, {}, prompts, "fastchat") == [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": prompts["single-v1"]["prompt_template"].format(question="Q1", answer="A1")}]
    two = mt_bench.single_messages(writing, ["A1", "A2"], 1, {}, prompts, "fastchat")
    assert two[0]["content"] == prompts["single-v1-multi-turn"]["system_prompt"]
    assert two[1]["content"].endswith("### User:\nQ2\n\n### Assistant A:\nA2\n\n<|The End of Assistant A's "
                                      "Conversation with User|>")
    math = {"id": 111, "category": "math", "turns": ["Q1", "Q2"]}
    refs = {111: ["R1", "R2"]}
    one = mt_bench.single_messages(math, ["A1", "A2"], 0, refs, prompts, "fastchat")[1]["content"]
    assert "[The Start of Reference Answer]\nR1\n[The End of Reference Answer]" in one
    both = mt_bench.single_messages(math, ["A1", "A2"], 1, refs, prompts, "fastchat")[1]["content"]
    assert both.startswith("<|The Start of Reference Answer|>\n\n### User:\nQ1\n\n### Reference answer:\nR1\n\n"
                           "### User:\nQ2\n\n### Reference answer:\nR2")


@needs_shared
def test_japanese_prompt_set_for_turn_one():
    math = {"id": 111, "category": "math", "turns": ["質問1", "質問2"]}
    system, user = mt_bench.single_messages(math, ["回答1", "回答2"], 0, {111: ["参考1", "参考2"]}, _prompts(), "ja")
    assert system == {"role": "system", "content": "あなたは優秀な助手です。"}
    assert user["content"].startswith("[指示]\n以下に表示されるユーザの質問に対するアシスタントの応答の品質を評価してください。"
                                      "評価は正確さと有用性")
    assert user["content"].endswith("[ユーザの質問]\n質問1\n\n[参考回答の開始]\n参考1\n[参考回答の終了]\n"
                                    "[アシスタントの回答開始]\n回答1\n[アシスタントの回答終了]")
    writing = {"id": 81, "category": "writing", "turns": ["質問1", "質問2"]}
    plain = mt_bench.single_messages(writing, ["回答1"], 0, {}, _prompts(), "ja")[1]["content"]
    assert "参考回答" not in plain and "公平に評価してください" in plain
    # flexeval has no multi-turn form: turn 2 keeps FastChat's
    assert mt_bench.single_messages(writing, ["回答1", "回答2"], 1, {}, _prompts(), "ja")[0]["content"] == \
        _prompts()["single-v1-multi-turn"]["system_prompt"]


class _FakeJudge:
    """Answers judge prompts from a list of outputs, in order; records what it was asked."""

    def __init__(self, outputs):
        self.outputs, self.asked = list(outputs), []

    def ask(self, prompts, indices):
        self.asked += list(zip(prompts, indices))
        return [self.outputs.pop(0) for _ in prompts]


class _Task:
    def __init__(self, judge, num_judgments=1):
        from lm_eval_ja.task import load_documents

        documents = load_documents("ja_mt_bench_math", mt_bench.FAMILY.benchmarks[3], str(DATA))
        self.extra_data, self.judging = documents.extra, JudgeSettings(judge, num_judgments=num_judgments)
        self.config = type("C", (), {"task": "ja_mt_bench_math"})


@needs_shared
def test_aggregation_by_hand_turns_failures_samples_and_judgments():
    docs = [{"id": 31, "category": "math", "turns": ["Q1", "Q2"]}, {"id": 32, "category": "math", "turns": ["Q1", "Q2"]}]
    answers = [[Answer(["a"], ["a1", "a2"]), Answer(["b"], ["b1", "b2"])], [Answer(["c"], ["c1", "c2"])] * 2]
    # order: doc, sample, turn, judgment (2 judgments)
    outputs = ["[[8]]", "[[6]]", "[[5]]", "no rating",   # doc 0 sample 0: turn 1 (8, 6), turn 2 (5, failed)
               "[[7]]", "[[7]]", "[[3]]", "[[1]]",       # doc 0 sample 1
               "[[10]]", "[[10]]", "[[2]]", "[[2]]",     # doc 1 sample 0
               "[[9]]", "oops", "[[4]]", "[[4]]"]        # doc 1 sample 1
    judge = _FakeJudge(outputs)
    scored = mt_bench.MTBenchScorer(_Task(judge, num_judgments=2)).score(docs, answers)
    assert [j for _, j in judge.asked] == [0, 1] * 8
    assert scored[0]["score_turn1"] == [8.0, 6.0, 7.0, 7.0] and scored[0]["score_turn2"] == [5.0, 3.0, 1.0]
    assert scored[0]["n_judge_failed"] == 1 and scored[1]["n_judge_failed"] == 1
    items = {m.name: [s[m.name] for s in scored] for m in mt_bench.METRICS}
    metrics = {m.name: m.aggregation(items[m.name]) for m in mt_bench.METRICS}
    assert metrics["score"] == pytest.approx((8 + 6 + 7 + 7 + 5 + 3 + 1 + 10 + 10 + 2 + 2 + 9 + 4 + 4) / 14)
    assert metrics["score_turn1"] == pytest.approx((8 + 6 + 7 + 7 + 10 + 10 + 9) / 7)
    assert metrics["score_turn2"] == pytest.approx((5 + 3 + 1 + 2 + 2 + 4 + 4) / 7)
    mean0, mean1 = (8 + 6 + 7 + 7 + 5 + 3 + 1) / 7, (10 + 10 + 2 + 2 + 9 + 4 + 4) / 7
    assert metrics["score_stderr"] == pytest.approx(abs(mean0 - mean1) / 2)  # two documents: |a - b| / 2
    assert metrics["n_judge_failed"] == 2
    log = scored[0]["_log"][0][1]  # doc 0, sample 0, turn 2
    assert [r["rating"] for r in log] == [5.0, None] and log[1]["output"] == "no rating"


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
    assert judge_server.requests() - before == 8 * 2 * 2  # 8 questions x 2 turns x 2 judgments
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["results"]["ja_mt_bench"] == {"score": 4.0, "score_turn1": 4.0, "score_turn2": 4.0,
                                                "score_stderr": 0.0, "n_judge_failed": 0}
    assert set(result["results"]) == {"ja_mt_bench"} | {f"ja_mt_bench_{c}" for c in mt_bench.CATEGORIES}
    judge = result["config"]["lm_eval_ja"]["judge"]
    assert (judge["model"], judge["prompt_set"], judge["reference_set"], judge["num_judgments"]) == (
        "local-chat-completions", "fastchat", "gpt-4", 2)
    assert result["config"]["lm_eval_ja"]["num_samples"] == 1
    row = json.loads((out.parent / "result.samples.ja_mt_bench_math.jsonl").read_text(encoding="utf-8"))
    turn2 = row["samples"][0]["turns"][1]
    assert turn2["question"] == row["doc"]["turns"][1] and len(turn2["judgments"]) == 2
    judged = turn2["judgments"][0]
    assert judged["prompt"][0]["content"].startswith("Please act as an impartial judge")  # -multi-turn, math
    assert "### Reference answer:" in judged["prompt"][1]["content"] and judged["rating"] == 4.0
    assert row["doc"]["temperature"] == 0.0 and row["score"] == [4.0] * 4


@needs_shared
def test_a_run_killed_while_judging_resumes_without_asking_again(tmp_path, chat_model_dir, judge_server):
    out = tmp_path / "killed" / "result.json"
    argv = [sys.executable, str(REPO / "main.py"), *_argv(chat_model_dir, judge_server, out, "--num_judgments", "3")]
    store = out.parent / "result.responses.jsonl"
    before = judge_server.requests()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    # answers of the first category (2 lines) and some of its 6 judgments
    while time.time() < deadline and (not store.exists() or len(store.read_bytes().splitlines()) < 1 + 2 + 3):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    judged_then = judge_server.requests() - before
    kept = len(store.read_bytes().splitlines()) - 1
    assert kept >= 5 and judged_then < 8 * 2 * 3
    rerun = subprocess.run(argv, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    asked = judge_server.requests() - before
    # every finished judgment was kept: the judge is asked only for the rest (at most the one in flight again)
    assert 8 * 2 * 3 <= asked <= 8 * 2 * 3 + 1
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
    assert code == 0, capsys.readouterr().err
    assert json.loads(out.read_text(encoding="utf-8"))["results"]["ja_mt_bench_stem"] == {
        "score": None, "score_turn1": None, "score_turn2": None, "score_stderr": None, "n_judge_failed": 4}
