"""main.py: the reference's flags, bad input (one message, exit 2, no traceback), outputs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lm_eval_ja.cli import main
from tests.conftest import (
    CONFORMANCE_DATA_DIR,
    REPO,
    TINY_MODEL,
    make_task,
    needs_shared,
)


def run_main(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "hf-causal", "--tasks", "jnli-1.1-0.9"],
         "error: Task 'jnli-1.1-0.9': prompt version '0.9' is not available for jnli-1.1; "
         "supported versions: 0.2, 0.3, 0.4, 0.5, 0.6.\n"),
        (["--model", "hf-causal", "--tasks", "jcommonsensqa-1.1-0.3"],
         "error: Unknown task 'jcommonsensqa-1.1-0.3'. Did you mean 'jcommonsenseqa-1.1-0.3'"),
        (["--model", "hf-causal", "--tasks", "jnli-1.1-0.3,jsquad-1.1-0.3", "--num_fewshot", "3,2,1"],
         "error: --num_fewshot has 3 values but 2 tasks were selected; give one value per task (in --tasks order) "
         "or a single value for all.\n"),
        (["--model", "hf-causal", "--tasks", "jnli-1.1-0.3", "--limit", "1,2"],
         "error: --limit has 2 values but 1 tasks were selected"),
        (["--model", "no-such-model", "--tasks", "jnli-1.1-0.3", "--model_args", "pretrained=x"],
         "error: Unknown --model 'no-such-model'."),
        (["--model", "hf-causal", "--tasks", "jnli-1.1-0.3", "--model_args", "pretrained"],
         "error: Malformed --model_args item 'pretrained': expected key=value pairs"),
        (["--model", "hf-causal", "--tasks", "jnli-1.1-0.3", "--data_dir", "/nonexistent/dir"],
         "error: Data folder /nonexistent/dir does not exist"),
        (["--model", "hf-causal"], "error: --tasks is required"),
        (["--model", "hf-causal", "--tasks", "jnli-1.1-0.3", "--model_args", "pretrained=x,load_in_8bit=True"],
         "error: load_in_8bit=True needs a CUDA GPU and the bitsandbytes package"),
        (["--model", "hf-causal", "--tasks", "jnli-1.1-0.3", "--model_args", "pretrained=x,load_in_9bit=True"],
         "error: Unknown model_args key 'load_in_9bit'"),
    ],
)
def test_bad_input_gives_one_message_and_exit_2(capsys, argv, message):
    code, out, err = run_main(capsys, *argv)
    assert code == 2
    assert err.startswith(message)
    assert "Traceback" not in err


def test_tasks_dir_for_plain_lm_eval(capsys):
    code, out, _ = run_main(capsys, "--tasks_dir")
    assert code == 0 and out.strip() == str(REPO / "lm_eval_ja" / "tasks")


@needs_shared
def test_end_to_end_bare_output_path_reproducible_and_samples(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["--model", "hf-causal", "--model_args", f"pretrained={TINY_MODEL}", "--device", "cpu",
            "--tasks", "jcommonsenseqa-1.1-0.3,jsquad-1.1-0.2", "--num_fewshot", "3,2", "--limit", "4",
            "--data_dir", CONFORMANCE_DATA_DIR, "--output_path", "result.json", "--log_samples",
            "--bootstrap_iters", "1000"]
    code, out, err = run_main(capsys, *argv)
    assert code == 0, err
    first = (tmp_path / "result.json").read_text(encoding="utf-8")
    result = json.loads(first)
    assert list(result) == ["results", "versions", "config"]
    assert list(result["results"]) == ["jcommonsenseqa-1.1-0.3", "jsquad-1.1-0.2"]
    assert result["versions"] == {"jcommonsenseqa-1.1-0.3": 1.1, "jsquad-1.1-0.2": 1.1}
    assert result["config"]["num_fewshot"] == [3, 2] and result["config"]["limit"] == [4, 4]
    assert set(result["results"]["jsquad-1.1-0.2"]) == {"exact_match", "f1"}
    assert "fallback" in result["config"]["lm_eval_ja"]["data_sources"]["jsquad-1.1-0.2"]["train"]
    assert "|jcommonsenseqa-1.1-0.3|1.1|acc|" in out
    samples = [json.loads(x) for x in (tmp_path / "result.samples.jsquad-1.1-0.2.jsonl").open(encoding="utf-8")]
    assert len(samples) == 4 and samples[0]["arguments"][0][0].startswith("質問に対する回答を文章から")
    first_samples = (tmp_path / "result.samples.jsquad-1.1-0.2.jsonl").read_bytes()
    # Same inputs, same seed: identical result.json and per-sample logs.
    code, _, err = run_main(capsys, *argv)
    assert code == 0, err
    assert (tmp_path / "result.json").read_text(encoding="utf-8") == first
    assert (tmp_path / "result.samples.jsquad-1.1-0.2.jsonl").read_bytes() == first_samples


@needs_shared
def test_missing_data_keeps_finished_tasks(tmp_path, capsys):
    out = tmp_path / "out" / "result.json"
    code, _, err = run_main(
        capsys, "--model", "hf-causal", "--model_args", f"pretrained={TINY_MODEL}", "--device", "cpu",
        "--tasks", "jcommonsenseqa-1.1-0.1,marc_ja-1.1-0.2", "--limit", "2",
        "--data_dir", str(REPO.parent / "shared" / "data"), "--output_path", str(out))
    assert code == 2
    assert "marc_ja-v1.1/valid-v1.1.json for marc_ja-1.1-0.2 was not found" in err
    assert list(json.loads(out.read_text(encoding="utf-8"))["results"]) == ["jcommonsenseqa-1.1-0.1"]


def test_main_py_runs_as_a_script():
    proc = subprocess.run([sys.executable, str(REPO / "main.py"), "--model", "hf-causal", "--tasks", "nope"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("error: Unknown task 'nope'.")
    assert "Traceback" not in proc.stderr


@needs_shared
def test_description_dict_and_chat_options_shape_the_prompt(tmp_path, capsys):
    desc = tmp_path / "desc.json"
    desc.write_text(json.dumps({"jnli-1.1-0.3": "前提と仮説の関係を答えよ。"}, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "r.json"
    code, _, err = run_main(
        capsys, "--model", "hf-causal", "--model_args", f"pretrained={TINY_MODEL}", "--device", "cpu",
        "--tasks", "jnli-1.1-0.3", "--num_fewshot", "1", "--limit", "2", "--data_dir", CONFORMANCE_DATA_DIR,
        "--description_dict_path", str(desc), "--system_instruction", "あなたは審査員です。",
        "--output_path", str(out), "--log_samples")
    assert code == 0, err
    rows = [json.loads(x) for x in (tmp_path / "r.samples.jnli-1.1-0.3.jsonl").open(encoding="utf-8")]
    # The user description replaces the template's and is followed by the few-shot separator.
    assert rows[0]["arguments"][0][0].startswith("あなたは審査員です。\n\n前提と仮説の関係を答えよ。\n\n### 指示:\n")
    cfg = json.loads(out.read_text(encoding="utf-8"))["config"]
    assert cfg["description_dict"] == {"jnli-1.1-0.3": "前提と仮説の関係を答えよ。"}
    assert cfg["lm_eval_ja"]["system_instruction"] == "あなたは審査員です。"

    # With a chat template: description as the system turn, one user/assistant turn per shot.
    task = make_task("jnli-1.1-0.3")
    seen = []

    def chat_template(messages, add_generation_prompt=True):
        seen.append(messages)
        return "|".join(f"{m['role']}:{m['content']}" for m in messages)

    doc = task.eval_docs[0]
    task.fewshot_context(doc, 2, system_instruction="SYS", apply_chat_template=True, fewshot_as_multiturn=True,
                         chat_template=chat_template)
    roles = [m["role"] for m in seen[-1]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert seen[-1][0]["content"].startswith("SYS\n\n以下は、タスクを説明する指示")
    assert seen[-1][-1]["content"] == task.doc_to_text(doc)
    assert seen[-1][2]["content"] in ("entailment", "contradiction", "neutral")
