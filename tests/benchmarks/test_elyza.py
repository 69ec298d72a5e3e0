"""ELYZA-tasks-100: flexeval's judge prompt and rating rule, end to end on synthetic rows in the hub's layout."""

from __future__ import annotations

import json

import pytest

from lm_eval_ja.benchmarks import elyza
from lm_eval_ja.cli import main
from tests.conftest import needs_shared

ROWS = [{"input": "次の文を要約してください：今日は晴れです。", "output": "晴れ。", "eval_aspect": "- 要約になっていれば4点"},
        {"input": "1+1は？", "output": "2", "eval_aspect": "- 2と答えれば5点"},
        {"input": "俳句を作ってください。", "output": "古池や…", "eval_aspect": "- 五七五なら4点"}]


@pytest.mark.parametrize("judgment, rating", [("4", 4), ("評価: 3点です", 3), ("1から5で4", 4), ("7", None),
                                              ("5点満点中、2", 2), ("採点できません", None), ("0", None)])
def test_rating_is_the_last_integer_within_1_to_5(judgment, rating):
    assert elyza.parse_rating(judgment) == rating


def test_judge_prompt_exactly():
    from lm_eval_ja.benchmarks.mt_bench import protocols as P

    doc = elyza.convert(ROWS[1])
    protocol = elyza.PRESETS["flexeval"]
    (message,) = P.judge_messages(protocol, P.load_judge_prompts(protocol), doc, ["答えは2です"], 0, doc["references"])
    assert message["role"] == "user"
    assert message["content"] == (
        "あなたは採点者です。\n\n問題, 正解例, 採点基準, 回答 が与えられます。\n\n採点基準と正解例を参考にして、回答を1,2,3,4,5の5段階で"
        "採点し、数字のみを出力してください。\n\n# 問題\n1+1は？\n\n# 正解例\n2\n\n# 採点基準\n基本的な採点基準\n"
        "- 1点: 誤っている、 指示に従えていない\n- 2点: 誤っているが、方向性は合っている\n- 3点: 部分的に誤っている、 部分的に合っている\n"
        "- 4点: 合っている\n- 5点: 役に立つ\n\n基本的な減点項目\n- 不自然な日本語: -1点\n- 部分的に事実と異なる内容を述べている: -1点\n"
        "- 「倫理的に答えられません」のように過度に安全性を気にしてしまっている: 2点にする\n\n問題固有の採点基準\n- 2と答えれば5点\n\n"
        "# 回答\n答えは2です")


@pytest.fixture
def elyza_data(tmp_path):
    folder = tmp_path / "data" / "elyza_tasks_100"
    folder.mkdir(parents=True)
    (folder / "test.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS), encoding="utf-8")
    return tmp_path / "data"


@needs_shared
def test_end_to_end_with_a_real_judge(tmp_path, capsys, chat_model_dir, judge_server, elyza_data):
    out = tmp_path / "out" / "result.json"
    before = judge_server.requests()
    code = main(["--model", "hf-causal", "--model_args", f"pretrained={chat_model_dir}", "--device", "cpu",
                 "--apply_chat_template", "--tasks", "elyza_tasks_100", "--max_gen_toks", "4", "--num_samples", "2",
                 "--data_dir", str(elyza_data), "--judge_model", "local-chat-completions", "--judge_model_args",
                 judge_server.judge_args(), "--output_path", str(out), "--log_samples"])
    assert code == 0, capsys.readouterr().err
    # the judge check, then 3 questions: flexeval's answers are greedy, so the 2 samples' answers and their judge
    # requests are identical, asked once each
    assert judge_server.requests() - before == 1 + 3
    result = json.loads(out.read_text(encoding="utf-8"))
    # the judge says 評価：[[4]]: its last integer, 4, is the rating
    assert result["results"]["elyza_tasks_100"] == {"score": 4.0, "score_stderr": 0.0, "score_turn1": 4.0,
                                                    "score_turn2": None, "n_judge_failed": 0}
    rows = [json.loads(line) for line in (out.parent / "result.samples.elyza_tasks_100.jsonl").open(encoding="utf-8")]
    assert len(rows) == 3 and len(rows[0]["samples"]) == 2
    assert rows[0]["samples"][0]["turns"][0]["judgments"][0]["prompt"][0]["content"].startswith("あなたは採点者です。")
