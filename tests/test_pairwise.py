"""Pairwise comparison: verdicts in both orders (inconsistent ones are ties), counts and win rates by hand, and a
real judge server comparing two real runs."""

from __future__ import annotations

import json

import pytest

from lm_eval_ja import pairwise as pw
from lm_eval_ja.cli import main
from tests.conftest import DATA, needs_shared


@pytest.mark.parametrize("first, swapped, result", [
    ("A", "B", "win"), ("B", "A", "loss"), ("tie", "tie", "tie"),
    ("A", "A", "tie"), ("B", "B", "tie"), ("A", "tie", "tie"),  # inconsistent: a tie
    (None, "A", None), ("B", None, None),                       # no verdict: left out
])
def test_a_verdict_holds_only_in_both_orders(first, swapped, result):
    assert pw._result(first, swapped) == result


def test_summary_by_hand():
    outcomes = [pw.Outcome("t1", q, 0, r, (None, None)) for q, r in
                enumerate(["win", "win", "tie", "loss", None])] + [pw.Outcome("t2", 9, 1, "loss", (None, None))]
    summary = pw.summarize(outcomes, seed=3, resamples=2000)
    t1, overall = summary["t1"], summary["overall"]
    assert (t1["wins"], t1["ties"], t1["losses"], t1["failed"]) == (2, 1, 1, 1)
    assert t1["win_rate"] == 0.5 and t1["win_rate_adjusted"] == pytest.approx(2.5 / 4)
    assert 0 <= t1["ci_low"] <= t1["win_rate_adjusted"] <= t1["ci_high"] <= 1
    assert (overall["wins"], overall["losses"], overall["failed"]) == (2, 2, 1)
    assert overall["win_rate_adjusted"] == pytest.approx(2.5 / 5)
    assert pw.summarize(outcomes, seed=3, resamples=2000) == summary  # deterministic for a seed
    assert "| t1 | 2 | 1 | 1 | 1 | 0.500 | 0.625 |" in pw.to_markdown(summary, "a", "b")


@pytest.fixture(scope="module")
def always_a_judge(tmp_path_factory):
    """A judge that always answers [[A]]: the position swap turns its bias into ties."""
    from tests.conftest import TINY_MODEL
    from tests.servers import Server, fixed_answer_model

    if not TINY_MODEL.is_dir():
        pytest.skip("conformance model not present")
    root = tmp_path_factory.mktemp("judge-a")
    with Server(fixed_answer_model(root / "model", "[[A]]"), root / "server.log") as server:
        yield server


@needs_shared
def test_pairwise_of_two_real_runs(tmp_path, capsys, chat_model_dir, judge_server, always_a_judge):
    from tests.servers import chat_model

    results = []
    for name, model in (("a", chat_model_dir), ("b", chat_model(tmp_path / "model-b", seed=5))):
        out = tmp_path / name / "result.json"
        code = main(["--model", "hf-causal", "--model_args", f"pretrained={model}", "--device", "cpu",
                     "--apply_chat_template", "--tasks", "ja_mt_bench_writing,ja_mt_bench_math", "--limit", "2",
                     "--max_gen_toks", "4", "--data_dir", str(DATA), "--judge_model", "local-chat-completions",
                     "--judge_model_args", judge_server.judge_args(), "--output_path", str(out), "--log_samples"])
        assert code == 0, capsys.readouterr().err
        results.append(out)
    capsys.readouterr()
    before = always_a_judge.requests()
    code = main(["pairwise", str(results[0]), str(results[1]), "--judge_model", "local-chat-completions",
                 "--judge_model_args", always_a_judge.judge_args(), "--data_dir", str(DATA),
                 "--output_path", str(tmp_path / "pair" / "pairwise.json")])
    stdout = capsys.readouterr().out
    assert code == 0
    assert always_a_judge.requests() - before == 2 * 2 * 2 * 2  # 2 tasks x 2 questions x 2 turns x 2 orders
    report = json.loads((tmp_path / "pair" / "pairwise.json").read_text(encoding="utf-8"))
    overall = report["summary"]["overall"]
    assert (overall["wins"], overall["ties"], overall["losses"], overall["failed"]) == (0, 8, 0, 0)
    assert overall["win_rate_adjusted"] == 0.5
    assert all(o["verdicts"] == ["A", "A"] for o in report["outcomes"])
    assert "| overall | 0 | 8 | 0 | 0 | 0.000 | 0.500 |" in stdout
    # the math turns used the reference answer (pair-math-v1), the writing ones pair-v2
    store = [json.loads(line) for line in (tmp_path / "pair" / "pairwise.responses.jsonl").open(encoding="utf-8")]
    assert len(store) == 1 + 16
