"""Bad chat and llm-jp data is found before the model loads (and before the judge is asked): one error line naming
the file, the line or question, and what is wrong."""

from __future__ import annotations

import json
import os
import shutil


from lm_eval_ja.cli import main
from tests.conftest import DATA, TINY_MODEL, needs_shared

MT = DATA / "japanese_mt_bench"
JUDGE = ["--judge_model", "local-chat-completions", "--judge_model_args",
         "model=judge,base_url=http://127.0.0.1:9/v1/chat/completions"]


def _overlay(tmp_path, relative: str, text: str) -> str:
    path = tmp_path / "data" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return os.pathsep.join([str(tmp_path / "data"), str(DATA)])


def _run(capsys, data_dir, tasks, *extra):
    code = main(["--model", "hf-causal", "--model_args", f"pretrained={TINY_MODEL}", "--device", "cpu",
                 "--apply_chat_template", "--tasks", tasks, "--data_dir", data_dir, *extra])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    return err.strip().splitlines()[-1]


def _questions(edit) -> str:
    rows = [json.loads(line) for line in (MT / "question.jsonl").open(encoding="utf-8")]
    edit(rows)
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


@needs_shared
def test_an_unknown_category_is_refused_with_file_and_line(tmp_path, capsys):
    data = _overlay(tmp_path, "japanese_mt_bench/question.jsonl", _questions(lambda rows: rows[4].update(category="poetry")))
    err = _run(capsys, data, "ja_mt_bench", *JUDGE)
    assert err.startswith(f"error: Data file {tmp_path}/data/japanese_mt_bench/question.jsonl, line 5, cannot be read "
                          "(ValueError: category 'poetry' is not an MT-Bench category"), err


@needs_shared
def test_turns_that_are_a_string_are_refused(tmp_path, capsys):
    data = _overlay(tmp_path, "japanese_mt_bench/question.jsonl", _questions(lambda rows: rows[0].update(turns="一問")))
    err = _run(capsys, data, "ja_mt_bench_writing", *JUDGE)
    assert "line 1, cannot be read (ValueError: turns is not a list of strings)" in err, err


@needs_shared
def test_a_missing_reference_answer_is_named_before_the_model_answers(tmp_path, capsys):
    rows = [line for line in (MT / "reference_answer" / "gpt-4.jsonl").open(encoding="utf-8")
            if json.loads(line)["question_id"] != 31]
    data = _overlay(tmp_path, "japanese_mt_bench/reference_answer/gpt-4.jsonl", "".join(rows))
    err = _run(capsys, data, "ja_mt_bench", *JUDGE)
    assert err == (f"error: Data file {tmp_path}/data/japanese_mt_bench/reference_answer/gpt-4.jsonl has no reference "
                   "answer to question 31 (math), which ja_mt_bench_math-fastchat judges with one; replace the file "
                   "with the original one.")


@needs_shared
def test_a_judge_prompt_file_without_a_needed_prompt_is_refused(tmp_path, capsys):
    rows = [line for line in (MT / "judge_prompts.jsonl").open(encoding="utf-8")
            if json.loads(line)["name"] != "single-v1-multi-turn"]
    data = _overlay(tmp_path, "japanese_mt_bench/judge_prompts.jsonl", "".join(rows))
    err = _run(capsys, data, "ja_mt_bench_writing", *JUDGE)
    assert err == (f"error: Data file {tmp_path}/data/japanese_mt_bench/judge_prompts.jsonl has no judge prompt "
                   "'single-v1-multi-turn', which ja_mt_bench_writing uses; replace the file with the original one.")


@needs_shared
def test_a_mawps_gold_answer_with_a_unit_is_refused_with_file_and_line(tmp_path, capsys):
    folder = tmp_path / "data" / "mawps_ja" / "dataset" / "mawps"
    folder.mkdir(parents=True)
    shutil.copy(DATA / "mawps_ja" / "dataset" / "mawps" / "shot_example.json", folder)
    rows = json.loads((DATA / "mawps_ja" / "dataset" / "mawps" / "test.json").read_text(encoding="utf-8"))
    rows[2]["answer"] = "43個"
    (folder / "test.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    code = main(["--model", "hf-causal", "--model_args", f"pretrained={TINY_MODEL}", "--tasks", "mawps_ja-llmjp-1.0",
                 "--data_dir", os.pathsep.join([str(tmp_path / "data"), str(DATA)])])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and err.startswith(f"error: Data file {folder}/test.json, record 3, cannot be read (ValueError: "), err
