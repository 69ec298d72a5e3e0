"""Data parallelism: 2 CPU processes under torchrun (gloo) against one process on the same inputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from lm_eval_ja.distributed import Collectives, launched, shard
from lm_eval_ja.errors import UserError
from tests.conftest import CONFORMANCE_DATA_DIR, DATA, REPO, TINY_MODEL, needs_shared

TASKS = "jcommonsenseqa-1.1-0.3,jsquad-1.1-0.3,jnli-1.1-0.3"


def main_argv(out, *extra, tasks=TASKS, limit="9", model="hf-causal"):
    return ["main.py", "--model", model, "--model_args", f"pretrained={TINY_MODEL}", "--device", "cpu",
            "--tasks", tasks, "--num_fewshot", "2", "--limit", limit, "--data_dir", CONFORMANCE_DATA_DIR,
            "--output_path", str(out), *extra]


#: One thread per process in every layout: a float reduction's order follows the thread count (and, unpinned, the
#: machine's load), so one process and two are only comparable byte for byte with the same threads per process.
THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def one_process(argv, **kw):
    env = {**os.environ, **THREADS}
    return subprocess.run([sys.executable, *argv], cwd=REPO, env=env, capture_output=True, text=True, **kw)


def two_processes(argv, popen=False, **kw):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *argv]
    env = {**os.environ, **THREADS}
    if popen:
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, **kw)


def kill_with_ranks(proc):
    """SIGKILL the ranks and then the launcher (torchrun starts each rank in a session of its own)."""
    ranks = [int(pid) for pid in open(f"/proc/{proc.pid}/task/{proc.pid}/children").read().split()]
    for pid in ranks:
        os.kill(pid, signal.SIGKILL)
    proc.kill()
    proc.wait()
    for pid in ranks:  # gone, not left running on
        while _running(pid):
            time.sleep(0.01)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return "zombie" not in fh.read()
    except FileNotFoundError:
        return False


def numbers(path):
    result = json.loads(path.read_text(encoding="utf-8"))
    return {k: result[k] for k in ("results", "versions", "config")}


def test_one_process_has_rank_0_of_1(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    assert launched() == (0, 1, 0)
    one = Collectives()
    assert one.gather_object({"a": 1}) == [{"a": 1}] and one.rank == 0 and one.world_size == 1
    assert shard(7, 1, 3) == [1, 4] and shard(7, 0, 1) == list(range(7))


@pytest.mark.parametrize("env, missing", [
    ({"WORLD_SIZE": "2"}, "RANK, MASTER_ADDR and MASTER_PORT are not"),
    ({"WORLD_SIZE": "2", "RANK": "0"}, "MASTER_ADDR and MASTER_PORT are not"),
    ({"WORLD_SIZE": "2", "RANK": "1", "MASTER_ADDR": "127.0.0.1"}, "MASTER_PORT is not"),
])
def test_world_size_left_without_a_launcher_is_one_line_naming_what_is_missing(monkeypatch, env, missing):
    from lm_eval_ja.distributed import start

    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    with pytest.raises(UserError) as err:
        start()  # before torch is asked (its ValueError "RANK expected" was a traceback)
    message = str(err.value)
    assert message.startswith(f"WORLD_SIZE=2 is set but {missing}: ") and "torchrun / accelerate launch" in message
    assert message.endswith("for one process, unset WORLD_SIZE.")
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(UserError, match=r"^WORLD_SIZE='two' is not a non-negative integer"):
        start()
    assert launched()[1] == 1  # launched() itself never raises (the CLI asks it while reporting an error)


@needs_shared
def test_a_run_with_world_size_left_set_fails_with_one_error_line(tmp_path, monkeypatch, capsys):
    from lm_eval_ja.cli import main

    for var in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(main_argv(tmp_path / "out" / "result.json", limit="1")[1:]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: WORLD_SIZE=2 is set but RANK, MASTER_ADDR and MASTER_PORT are not") and \
        err.count("\n") == 1 and "Traceback" not in err, err


def test_data_parallel_refuses_a_model_spread_over_gpus(monkeypatch):
    from lm_eval_ja.models.hf_settings import settings

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(UserError, match=r"^device_map=auto spreads one model over several GPUs, but 2 processes"):
        settings(pretrained=str(TINY_MODEL), device="cpu", device_map="auto")
    assert str(settings(pretrained=str(TINY_MODEL), device="cpu").device) == "cpu"


@needs_shared
def test_two_processes_write_one_result_equal_to_one_process(tmp_path):
    # The promise: with --batch_size 1 (the default) and the same threads per process, N processes compute every
    # request exactly as one process does, so result.json's numbers and the sample logs are byte-identical.
    one = one_process(main_argv(tmp_path / "one" / "result.json", "--log_samples"))
    assert one.returncode == 0, one.stderr
    out = tmp_path / "two" / "result.json"
    two = two_processes(main_argv(out, "--log_samples"))
    assert two.returncode == 0, two.stderr[-3000:]
    assert numbers(out) == numbers(tmp_path / "one" / "result.json")
    for task in TASKS.split(","):  # the sample logs are byte for byte the same, in document order
        name = f"result.samples.{task}.jsonl"
        assert (out.parent / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), task
    # rank 0 alone reports and writes; each rank keeps its own responses
    assert two.stdout.count("wrote ") == 1 and two.stdout.count("|jnli-1.1-0.3|") == 1
    assert sorted(p.name for p in out.parent.iterdir() if "samples" not in p.name) == [
        "result.json", "result.responses.jsonl", "result.responses.rank1.jsonl"]
    assert json.loads(out.read_text(encoding="utf-8"))["manifest"]["processes"] == 2
    # one process resumes from both ranks' stores: nothing is computed again (the result made unfinished first, as a
    # kill before its last task leaves it: a finished run's rerun loads no model at all)
    unfinished = json.loads(out.read_text(encoding="utf-8"))
    unfinished["results"].pop(list(unfinished["results"])[-1])
    out.write_text(json.dumps(unfinished), encoding="utf-8")
    rerun = one_process(main_argv(out, "--log_samples"))
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming: 45 of 45 requests already done" in rerun.stdout  # JCommonsenseQA: 9 questions x 5 choices
    assert numbers(out) == numbers(tmp_path / "one" / "result.json")


@needs_shared
def test_a_killed_data_parallel_run_resumes_each_ranks_share(tmp_path):
    argv = main_argv(tmp_path / "whole" / "result.json", "--batch_size", "1", tasks="jsquad-1.1-0.2", limit="120")
    whole = one_process(argv)
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "killed" / "result.json"
    argv = main_argv(out, "--batch_size", "1", tasks="jsquad-1.1-0.2", limit="120")
    stores = [out.parent / "result.responses.jsonl", out.parent / "result.responses.rank1.jsonl"]

    def lines(p):
        return len(p.read_bytes().splitlines()) - 1 if p.exists() else 0

    proc = two_processes(argv, popen=True)
    deadline = time.time() + 180
    while time.time() < deadline and min(lines(p) for p in stores) < 15:
        time.sleep(0.01)
    kill_with_ranks(proc)
    kept = [lines(p) for p in stores]
    assert all(10 <= k < 60 for k in kept) and not out.exists(), kept  # both ranks killed mid-task
    rerun = two_processes(argv)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    done = int(rerun.stdout.split("resuming: ")[1].split(" of 60 requests already done")[0])  # rank 0's share
    assert kept[0] - 1 <= done <= kept[0]
    assert numbers(out)["results"] == numbers(tmp_path / "whole" / "result.json")["results"]


@needs_shared
def test_a_model_that_does_not_split_its_work_is_refused_under_torchrun(tmp_path):
    run = two_processes(main_argv(tmp_path / "hf" / "result.json", model="hf", tasks="jcommonsenseqa-1.1-0.3"))
    assert run.returncode != 0
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert errors == ["error: 2 processes were started (torchrun / accelerate launch), but --model hf does not split "
                      "its work across them here (each would compute everything); use --model hf-causal for data "
                      "parallelism, or run one process."]
    assert not (tmp_path / "hf" / "result.json").exists()


@needs_shared
def test_two_processes_answer_a_judged_task_and_rank_0_alone_asks_the_judge(tmp_path, chat_model_dir, judge_server):
    def argv(out):
        return ["main.py", "--model", "hf-causal", "--model_args", f"pretrained={chat_model_dir}", "--device", "cpu",
                "--apply_chat_template", "--tasks", "ja_mt_bench_writing", "--limit", "3", "--num_samples", "2",
                "--max_gen_toks", "4", "--data_dir", str(DATA), "--judge_model", "local-chat-completions",
                "--judge_model_args", judge_server.judge_args(), "--output_path", str(out), "--log_samples"]

    asked = judge_server.requests()
    one = one_process(argv(tmp_path / "one" / "result.json"))
    assert one.returncode == 0, one.stderr
    per_run = judge_server.requests() - asked
    assert per_run == 1 + 3 * 2 * 2  # the judge check, then questions x samples x turns
    two = two_processes(argv(tmp_path / "two" / "result.json"))
    assert two.returncode == 0, two.stderr[-3000:]
    assert judge_server.requests() - asked == 2 * per_run  # not once per rank
    assert numbers(tmp_path / "two" / "result.json")["results"] == numbers(tmp_path / "one" / "result.json")["results"]
    name = "result.samples.ja_mt_bench_writing.jsonl"  # sampled answers (temperature 0.7): seeded per question
    assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()
