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
    result = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    assert list(result) == ["results", "versions", "config", "manifest", "timing"]
    assert list(result["results"]) == ["jcommonsenseqa-1.1-0.3", "jsquad-1.1-0.2"]
    assert result["versions"] == {"jcommonsenseqa-1.1-0.3": 1.1, "jsquad-1.1-0.2": 1.1}
    assert result["config"]["num_fewshot"] == [3, 2] and result["config"]["limit"] == [4, 4]
    assert set(result["results"]["jsquad-1.1-0.2"]) == {"exact_match", "f1"}
    assert "fallback" in result["config"]["lm_eval_ja"]["data_sources"]["jsquad-1.1-0.2"]["train"]
    assert "|jcommonsenseqa-1.1-0.3|1.1|acc|" in out
    samples = [json.loads(x) for x in (tmp_path / "result.samples.jsquad-1.1-0.2.jsonl").open(encoding="utf-8")]
    assert len(samples) == 4 and samples[0]["arguments"][0][0].startswith("質問に対する回答を文章から")
    first_samples = (tmp_path / "result.samples.jsquad-1.1-0.2.jsonl").read_bytes()
    # Same inputs, same seed, everything computed again (--fresh): identical result.json but for the timing, and
    # identical per-sample logs.
    code, _, err = run_main(capsys, *argv, "--fresh")
    assert code == 0, err
    again = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    assert again["manifest"].pop("command").endswith(" --fresh") and result["manifest"].pop("command")
    assert {k: v for k, v in again.items() if k != "timing"} == {k: v for k, v in result.items() if k != "timing"}
    assert (tmp_path / "result.samples.jsquad-1.1-0.2.jsonl").read_bytes() == first_samples
    assert oct((tmp_path / "result.json").stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


@needs_shared
def test_missing_data_of_a_later_task_is_found_before_the_model_loads(tmp_path, capsys):
    out = tmp_path / "out" / "result.json"
    code, stdout, err = run_main(
        capsys, "--model", "hf-causal", "--model_args", f"pretrained={TINY_MODEL}", "--device", "cpu",
        "--tasks", "jcommonsenseqa-1.1-0.1,marc_ja-1.1-0.2", "--limit", "2",
        "--data_dir", str(REPO.parent / "shared" / "data"), "--output_path", str(out))
    assert code == 2 and "Traceback" not in err
    assert err.startswith("error: Data file jglue/datasets/marc_ja-v1.1/valid-v1.1.json for marc_ja-1.1-0.2 was not "
                          "found")
    assert "[1/2]" not in stdout and not out.exists()  # nothing was computed


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


# ----------------------------------------------------------------------------- reliability: flags, outputs, resume


@pytest.mark.parametrize("argv, message", [
    (["--limit", "1.5"], "error: --limit '1.5' is not an integer ≥ 1 (the first N documents), a fraction between 0 "
                         "and 1 (e.g. 0.1) or 'all'; give one value, or one per task.\n"),
    (["--limit", "1e2"], "error: --limit '1e2' is not an integer ≥ 1"),
    (["--limit", "0"], "error: --limit '0' is not an integer ≥ 1"),
    (["--limit", "nan"], "error: --limit 'nan' is not an integer ≥ 1"),
    (["--num_fewshot", "-1"], "error: --num_fewshot '-1' is not an integer ≥ 0; give one value, or one per task.\n"),
    (["--bootstrap_iters", "-1"], "error: --bootstrap_iters -1 is negative; give 0 (no bootstrap stderr) or more.\n"),
    (["--bootstrap_iters", "x"], "error: argument --bootstrap_iters: invalid int value: 'x' (see --help).\n"),
    (["--model_args", "pretrained=a,pretrained=b"],
     "error: --model_args gives pretrained twice (pretrained=a and pretrained=b); give each key once.\n"),
    (["--model_args", "pretrained=/nonexistent/model"],
     "error: pretrained=/nonexistent/model: no such folder; point pretrained= at the model's folder or a hub id.\n"),
    (["--output_path", "/proc/x/result.json"], "error: --output_path /proc/x/result.json: cannot create the folder"),
])
def test_every_flag_is_checked_before_anything_runs(capsys, argv, message):
    base = {"--model": "hf-causal", "--model_args": "pretrained=x", "--tasks": "jnli-1.1-0.3"}
    for flag, value in zip(argv[::2], argv[1::2]):
        base[flag] = value
    code, _, err = run_main(capsys, *[x for kv in base.items() for x in kv])
    assert code == 2 and err.startswith(message) and "Traceback" not in err


def test_an_empty_model_folder_is_named(tmp_path, capsys):
    code, _, err = run_main(capsys, "--model", "hf-causal", "--model_args", f"pretrained={tmp_path}", "--tasks",
                            "jnli-1.1-0.3")
    assert code == 2 and err == (f"error: pretrained={tmp_path} is a folder without config.json, so there is no model "
                                 "to load; point pretrained= at the model's folder, or give gguf_file= for a GGUF "
                                 "model.\n")


@needs_shared
def test_data_is_checked_before_the_model_loads(tmp_path, capsys, monkeypatch):
    import lm_eval_ja.run as run_module

    monkeypatch.setattr(run_module, "build_model", lambda *a, **k: pytest.fail("the model was loaded"))
    folder = tmp_path / "jglue" / "datasets" / "jnli-v1.1"
    folder.mkdir(parents=True)
    (folder / "valid-v1.1.json").write_text("")
    code, _, err = run_main(capsys, "--model", "hf-causal", "--model_args", f"pretrained={TINY_MODEL}", "--tasks",
                            "jcommonsenseqa-1.1-0.3,jnli-1.1-0.3", "--data_dir", f"{tmp_path}:{CONFORMANCE_DATA_DIR}")
    assert code == 2 and err == (f"error: Data file {folder}/valid-v1.1.json is empty; replace it with the original "
                                 "file.\n")


def _run_argv(model, out, *extra):
    return ["--model", "hf-causal", "--model_args", f"pretrained={model}", "--device", "cpu", "--tasks",
            "jcommonsenseqa-1.1-0.3,jsquad-1.1-0.2", "--num_fewshot", "1", "--limit", "3", "--data_dir",
            CONFORMANCE_DATA_DIR, "--output_path", str(out), "--bootstrap_iters", "100", *extra]


@needs_shared
def _unfinish(out) -> None:
    """Drop the last task's results from result.json, as a run killed before writing it leaves the file."""
    result = json.loads(out.read_text(encoding="utf-8"))
    result["results"].pop(list(result["results"])[-1])
    out.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")


def test_same_run_resumes_another_is_refused_and_overwrite_replaces(tmp_path, capsys):
    out = tmp_path / "run" / "result.json"
    code, _, err = run_main(capsys, *_run_argv(TINY_MODEL, out, "--log_samples"))
    assert code == 0, err
    first = json.loads(out.read_text(encoding="utf-8"))
    store = out.parent / "result.responses.jsonl"
    assert len(store.read_text(encoding="utf-8").splitlines()) == 1 + 3 * 5 + 3  # header, 15 choices, 3 answers
    _unfinish(out)  # as if killed before the last task was written: the rerun computes from the store
    code, stdout, err = run_main(capsys, *_run_argv(TINY_MODEL, out, "--log_samples"))
    assert code == 0, err
    assert "resuming: 15 of 15 requests already done" in stdout and "resuming: 3 of 3 requests already done" in stdout
    assert json.loads(out.read_text(encoding="utf-8"))["results"] == first["results"]
    # Another configuration at the same path is refused, saying what differs ...
    code, _, err = run_main(capsys, *_run_argv(TINY_MODEL, out, "--seed", "7"))
    assert code == 2 and err == (f"error: {out} holds another run (seed: 7 now, 42 there); pass --overwrite to "
                                 "replace it, its sample files and its store, or choose another --output_path.\n")
    # ... unless --overwrite, which removes that run's sample logs and store first.
    code, stdout, err = run_main(capsys, *_run_argv(TINY_MODEL, out, "--seed", "7", "--overwrite"))
    assert code == 0, err
    assert f"removed {out.parent / 'result.samples.jsquad-1.1-0.2.jsonl'} (--overwrite)" in stdout
    assert sorted(p.name for p in out.parent.iterdir()) == ["result.json", "result.responses.jsonl"]
    assert json.loads(out.read_text(encoding="utf-8"))["config"]["lm_eval_ja"]["seed"] == 7


@needs_shared
def test_two_models_sharing_one_store_each_get_their_own_numbers(tmp_path, capsys, other_tiny_model):
    shared = tmp_path / "shared.jsonl"
    numbers = {}
    for name, model in (("a", TINY_MODEL), ("b", other_tiny_model)):
        for how in ("alone", "shared"):
            out = tmp_path / f"{name}-{how}" / "result.json"
            extra = ["--use_cache", str(shared)] if how == "shared" else []
            code, _, err = run_main(capsys, *_run_argv(model, out, "--log_samples", *extra))
            assert code == 0, err
            rows = [json.loads(line) for line in (out.parent / "result.samples.jcommonsenseqa-1.1-0.3.jsonl").open()]
            numbers[name, how] = (json.loads(out.read_text(encoding="utf-8"))["results"], [r["resps"] for r in rows])
    assert numbers["a", "shared"] == numbers["a", "alone"] and numbers["b", "shared"] == numbers["b", "alone"]
    assert numbers["a", "alone"][1] != numbers["b", "alone"][1]  # the two models do answer differently
    assert len(shared.read_text(encoding="utf-8").splitlines()) == 1 + 2 * (15 + 3)  # both models' responses


@needs_shared
def test_a_killed_run_resumes_with_only_the_rest_computed(tmp_path):
    import signal
    import time

    def argv(out):
        return [sys.executable, str(REPO / "main.py"), "--model", "hf-causal", "--model_args",
                f"pretrained={TINY_MODEL}", "--device", "cpu", "--batch_size", "1", "--tasks", "jsquad-1.1-0.2",
                "--num_fewshot", "1", "--limit", "150", "--data_dir", CONFORMANCE_DATA_DIR, "--output_path", str(out)]

    whole = tmp_path / "whole" / "result.json"
    assert subprocess.run(argv(whole), capture_output=True, text=True).returncode == 0
    out = tmp_path / "killed" / "result.json"
    store = out.parent / "result.responses.jsonl"
    proc = subprocess.Popen(argv(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and (not store.exists() or len(store.read_bytes().splitlines()) < 30):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = len(store.read_bytes().splitlines()) - 1
    assert 20 <= kept < 150 and not out.exists()  # killed in the middle of the task
    rerun = subprocess.run(argv(out), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    done = int(rerun.stdout.split("resuming: ")[1].split(" of 150 requests already done")[0])
    assert kept - 1 <= done <= kept < 150  # at most the request in flight was lost; only the rest was computed
    assert json.loads(out.read_text(encoding="utf-8"))["results"] == \
        json.loads(whole.read_text(encoding="utf-8"))["results"]


@needs_shared
def test_lm_evals_own_hf_model_resumes_too(tmp_path, capsys):
    out = tmp_path / "hf" / "result.json"
    argv = ["--model", "hf", "--model_args", f"pretrained={TINY_MODEL}", "--device", "cpu", "--tasks",
            "jcommonsenseqa-1.1-0.3", "--num_fewshot", "1", "--limit", "3", "--data_dir", CONFORMANCE_DATA_DIR,
            "--output_path", str(out)]
    code, _, err = run_main(capsys, *argv)
    assert code == 0, err
    first = json.loads(out.read_text(encoding="utf-8"))["results"]
    _unfinish(out)
    code, stdout, err = run_main(capsys, *argv)
    assert code == 0, err
    assert "resuming: 15 of 15 requests already done" in stdout
    assert json.loads(out.read_text(encoding="utf-8"))["results"] == first


def test_list_tasks_into_a_closed_pipe_is_not_an_error():
    proc = subprocess.run(f"{sys.executable} {REPO / 'main.py'} --list_tasks | head -1", shell=True,
                          capture_output=True, text=True)
    assert proc.stdout.strip() and proc.stderr == ""


@needs_shared
def test_a_run_prints_its_table_and_where_it_wrote_not_the_whole_file(tmp_path, capsys):
    out = tmp_path / "r" / "result.json"
    code = main(["--model", "hf-causal", "--model_args", f"pretrained={TINY_MODEL},batch_size=4", "--device", "cpu",
                 "--tasks", "jcommonsenseqa-1.1-0.3", "--limit", "2", "--data_dir", CONFORMANCE_DATA_DIR,
                 "--output_path", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and '"manifest"' not in printed and f"wrote {out}" in printed
    assert "batch_size: 4" in printed and "|jcommonsenseqa-1.1-0.3|1.1|acc|" in printed


@needs_shared
def test_a_rerun_of_a_finished_run_loads_no_model(tmp_path, capsys, monkeypatch):
    import lm_eval_ja.run as run_module

    out = tmp_path / "r" / "result.json"
    argv = ["--model", "hf-causal", "--model_args", f"pretrained={TINY_MODEL}", "--device", "cpu", "--tasks",
            "jcommonsenseqa-1.1-0.3", "--limit", "2", "--data_dir", CONFORMANCE_DATA_DIR, "--output_path", str(out)]
    assert main(argv) == 0
    first = out.read_text(encoding="utf-8")
    capsys.readouterr()
    monkeypatch.setattr(run_module, "build_model", lambda *a, **k: pytest.fail("the model was loaded"))
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "already holds every selected task of this run" in printed and "|jcommonsenseqa-1.1-0.3|" in printed
    assert out.read_text(encoding="utf-8") == first  # untouched


def test_system_prompt_is_recorded_in_config_and_run_identity(monkeypatch):
    from lm_eval_ja.evaluator import RunConfig
    from lm_eval_ja.manifest import run_identity
    from lm_eval_ja.results import run_config
    from lm_eval_ja.selection import Selection

    monkeypatch.setenv("SYSTEM_PROMPT", "あなたは厳密な採点者です。")
    cfg = RunConfig(model="hf-causal", model_args="pretrained=x", selection=Selection.of(["jnli-1.1-0.6"]))
    assert run_config(cfg, list(cfg.selection.tasks), {}, None)["lm_eval_ja"]["SYSTEM_PROMPT"] == "あなたは厳密な採点者です。"
    assert run_identity(cfg)["SYSTEM_PROMPT"] == "あなたは厳密な採点者です。"
    monkeypatch.delenv("SYSTEM_PROMPT")
    unset = RunConfig(model="hf-causal", model_args="pretrained=x", selection=Selection.of(["jnli-1.1-0.6"]))
    assert "SYSTEM_PROMPT" not in run_identity(unset)  # an unset variable changes nothing recorded
