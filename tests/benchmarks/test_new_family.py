"""A new benchmark family registered from a test fixture runs end to end without editing any other module."""

from __future__ import annotations

import json
import random

import pytest

from lm_eval_ja.benchmarks import registry
from lm_eval_ja.cli import main
from lm_eval_ja.report import leaderboard
from tests.conftest import TINY_MODEL, needs_shared
from tests.fixtures import toy_family

QUESTIONS = [("日本", "東京"), ("フランス", "パリ"), ("イタリア", "ローマ")]
SHOTS = [("ドイツ", "ベルリン"), ("スペイン", "マドリード")]


@pytest.fixture
def toy(tmp_path):
    registry.register(toy_family.FAMILY)
    folder = tmp_path / "data" / "toy"
    folder.mkdir(parents=True)
    for name, rows in (("questions", QUESTIONS), ("shots", SHOTS)):
        (folder / f"{name}.jsonl").write_text(
            "".join(json.dumps({"q": f"{c}の首都は？", "a": a}, ensure_ascii=False) + "\n" for c, a in rows),
            encoding="utf-8")
    toy_family.CALLS.clear()
    yield tmp_path
    registry.unregister(toy_family.FAMILY)


@needs_shared
def test_registered_family_runs_end_to_end(toy, capsys):
    name = "toy_capital-1.0-toy-1.0"
    assert main(["--list_tasks"]) == 0 and name in capsys.readouterr().out.split()
    out = toy / "out" / "result.json"
    code = main(["--model", "hf-causal", "--model_args", f"pretrained={TINY_MODEL}", "--device", "cpu",
                 "--tasks", name, "--num_fewshot", "1", "--data_dir", str(toy / "data"), "--output_path", str(out),
                 "--log_samples"])
    assert code == 0, capsys.readouterr().err
    result = json.loads(out.read_text(encoding="utf-8"))
    assert set(result["results"][name]) == {"exact_match", "exact_match_stderr"}
    assert result["versions"][name] == 1.0
    assert toy_family.CALLS == [3]  # the scoring stage: one batched call for all documents
    rows = [json.loads(line) for line in (out.parent / f"result.samples.{name}.jsonl").open(encoding="utf-8")]
    # The reference sampler: Random(42) shuffles the 3 questions, then draws each one's shot in that order.
    rnd = random.Random(42)
    order = list(range(3))
    rnd.shuffle(order)
    for pos, row in enumerate(sorted(rows, key=lambda r: r["doc_id"])):
        (shot,) = rnd.sample(range(2), 1)
        country, _ = QUESTIONS[order[pos]]
        s_country, s_answer = SHOTS[shot]
        assert row["arguments"][0][0] == (f"次の質問に一言で答えてください。\n\n質問：{s_country}の首都は？\n答え：{s_answer}"
                                         f"\n\n質問：{country}の首都は？\n答え：")
        assert row["arguments"][0][1] == {"until": ["\n"], "do_sample": False, "max_gen_toks": 8}
        assert row["exact_match"] == float(row["resps"][0][0].strip() == row["doc"]["answer"])
    board = leaderboard(out)
    (row,) = board.rows
    assert board.families == ["toy_capital"]
    assert row.scores["toy_capital"].value == pytest.approx(100 * result["results"][name]["exact_match"])
