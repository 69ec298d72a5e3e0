"""Pairwise comparison: verdicts in both orders (inconsistent ones are ties), counts and win rates by hand, and a
real judge server comparing two real runs."""

from __future__ import annotations

import json

import pytest

from lm_eval_ja import pairwise as pw
from lm_eval_ja.cli import main
from lm_eval_ja.errors import UserError
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


@pytest.mark.parametrize("resamples", [0, -1])
def test_resamples_below_one_is_refused_in_one_line(resamples):
    outcomes = [pw.Outcome("t1", 0, 0, "win", ("A", "B"))]
    with pytest.raises(UserError, match=rf"^--resamples {resamples}: the bootstrap needs at least 1 resample"):
        pw.summarize(outcomes, resamples=resamples)  # was an IndexError
    with pytest.raises(UserError):
        pw.check_resamples(resamples)
    assert pw.summarize(outcomes, resamples=1)["overall"]["ci_low"] == 1.0


def _row(i, answers=("a1", "a2")):
    return {"doc_id": i, "doc": {"id": i, "turns": ["Q1", "Q2"]},
            "samples": [{"turns": [{"answer": a} for a in answers]}]}


def _log(path, rows, tail=b""):
    path.write_bytes(b"".join(json.dumps(r, ensure_ascii=False).encode("utf-8") + b"\n" for r in rows) + tail)
    return path


def test_sample_logs_read_with_one_rule(tmp_path):
    notes = []
    full = pw._answers(_log(tmp_path / "ok.jsonl", [_row(1), _row(2, ("答え", "二"))]), notes.append)
    assert [a for _, a in full.values()] == [["a1", "a2"], ["答え", "二"]] and notes == []
    # a log cut mid-line (mid-character even; was a UnicodeDecodeError): that question is left out with a note
    cut = json.dumps(_row(3, ("東京",)), ensure_ascii=False).encode("utf-8")[:-9]
    path = _log(tmp_path / "cut.jsonl", [_row(1), _row(2)], cut)
    assert len(pw._answers(path, notes.append)) == 2
    assert notes == [f"note: {path} line 3 is cut short (the file was damaged after it was written); that question "
                     "is left out of the comparison."]


@pytest.mark.parametrize("tail, rows_after, message", [
    (b'{"doc_id": 3, "doc": {"id": "\xe6\x9d', True, r"bad\.jsonl line 2 is not valid UTF-8 \(byte 30 of the line\)"),
    (b'{"doc_id": 3, "do', True, r"bad\.jsonl line 2 is not valid JSON \(.*\): this sample log is damaged in the "
                                 r"middle or two files were joined; rerun that task with --log_samples"),
    (b'{"doc_id": 3}', True, r"bad\.jsonl line 2 is not a chat task's sample"),
])
def test_a_damaged_sample_log_is_refused_with_file_and_line(tmp_path, tail, rows_after, message):
    path = _log(tmp_path / "bad.jsonl", [_row(1)], tail + b"\n")
    if rows_after:
        with path.open("ab") as fh:
            fh.write(json.dumps(_row(4)).encode("utf-8") + b"\n")
    with pytest.raises(UserError, match=message) as err:
        pw._answers(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)
    with pytest.raises(UserError, match=r"is a folder, not a sample log; give a file path"):
        pw._answers(tmp_path)


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
    assert always_a_judge.requests() - before == 1 + 2 * 2 * 2 * 2  # the check; 2 tasks x 2 questions x 2 turns x 2 orders
    report = json.loads((tmp_path / "pair" / "pairwise.json").read_text(encoding="utf-8"))
    overall = report["summary"]["overall"]
    assert (overall["wins"], overall["ties"], overall["losses"], overall["failed"]) == (0, 8, 0, 0)
    assert overall["win_rate_adjusted"] == 0.5
    assert all(o["verdicts"] == ["A", "A"] for o in report["outcomes"])
    assert "| overall | 0 | 8 | 0 | 0 | 0.000 | 0.500 |" in stdout
    # the math turns used the reference answer (pair-math-v1), the writing ones pair-v2
    store = [json.loads(line) for line in (tmp_path / "pair" / "pairwise.responses.jsonl").open(encoding="utf-8")]
    assert len(store) == 1 + 16
