"""HumanEval / JHumanEval tasks: names, request bytes, stop sequences, samples and seeds, the sandboxed scorer,
pass@k, the refusal without a sandbox, and runs end to end through the CLI with the tiny model."""

from __future__ import annotations

import json

import pytest

from lm_eval_ja.benchmarks import humaneval as he
from lm_eval_ja.benchmarks import registry
from lm_eval_ja.benchmarks.humaneval import programs
from lm_eval_ja.cli import main
from lm_eval_ja.metrics.pass_at_k import aggregate_pass_at_k
from lm_eval_ja.names import TaskName
from lm_eval_ja.scorers import sandbox
from tests.conftest import DATA, TINY_MODEL, make_task

needs_data = pytest.mark.skipif(not (DATA / "humaneval").is_dir() or not (DATA / "jhumaneval").is_dir(),
                                reason=f"{DATA} has no humaneval / jhumaneval")

FORMS = ("completion", "trim", "chat")
NAMES = [f"{b}-{f}" for b in ("jhumaneval", "humaneval") for f in FORMS]
WRONG = "    return None\n"


def _task(name: str, **options):
    return make_task(name, data_dir=DATA, run_options=options or None)


def _doc(task, task_id: str) -> dict:
    return next(d for d in task.eval_docs if d["task_id"] == task_id)


def _docs(task, n: int) -> list[dict]:
    return [task.eval_docs[i] for i in range(n)]


def _isolation_flag() -> list[str]:
    return [] if sandbox.isolation() else ["--confirm_run_unsafe_code"]


def test_task_names_resolve():
    for name in NAMES + ["jhumaneval", "humaneval"]:
        resolved = registry.resolve(name)
        assert resolved is not None, name
        assert resolved.benchmark.name == TaskName.parse(name).benchmark
    assert registry.resolve("jhumaneval").prompt_version == "completion"
    assert registry.resolve("humaneval").prompt_version == "completion"
    assert TaskName.parse("jhumaneval-trim") == TaskName("jhumaneval", None, "trim")
    assert registry.resolve("humaneval-chat").headline.metric == "pass@1"


# ------------------------------------------------------------------------------------------- requests


STRLEN_EN = ('\n\ndef strlen(string: str) -> int:\n    """ Return length of given string\n    >>> strlen(\'\')\n'
             '    0\n    >>> strlen(\'abc\')\n    3\n    """\n')
STRLEN_JA = ('def strlen(string: str) -> int:\n    """引数で与えられた文字列の長さを返す\n    >>> strlen(\'\')\n'
             '    0\n    >>> strlen(\'abc\')\n    3\n    """\n')


@needs_data
@pytest.mark.parametrize("bench, task_id, prompt", [("humaneval", "HumanEval/23", STRLEN_EN),
                                                    ("jhumaneval", "JHumanEval/23", STRLEN_JA)])
def test_exact_request_of_one_problem_in_each_form(bench, task_id, prompt):
    completion = _task(f"{bench}-completion")
    doc = _doc(completion, task_id)
    assert completion.fewshot_context(doc, 0) == prompt
    assert _task(bench).fewshot_context(doc, 0) == prompt  # the alias is the completion form

    trim = _task(f"{bench}-trim")
    assert trim.fewshot_context(_doc(trim, task_id), 0) == prompt.strip()

    chat = _task(f"{bench}-chat")
    if bench == "jhumaneval":
        query = ("以下に与えられる未完成のコードスニペットを、ドックストリングに書かれている仕様や例を満たすように続きを実装し、"
                 "完全な実装を ``` と ``` で囲んで出力してください。\nただし、与えられている関数名や変数名はそのまま使ってください。"
                 "\n\n```\n" + prompt + "\n```\n\n")
    else:
        query = ("Complete the Python starter code below. Implement the missing parts so the behavior matches the "
                 "docstring's specification and examples and passes all tests. Keep all given function and variable "
                 "names and signatures unchanged.\n\nRespond with ONE triple-backticked code block containing the FULL "
                 "final code and nothing else.\n\nStarter code:\n```python\n" + prompt + "\n```\n\n")
    chat_doc = _doc(chat, task_id)
    assert query == programs.chat_request(chat_doc, bench)
    assert chat.fewshot_context(chat_doc, 0) == query
    # with --apply_chat_template: the query is the one user turn
    rendered = chat.fewshot_context(chat_doc, 0, apply_chat_template=True,
                                    chat_template=lambda messages, add_generation_prompt: json.dumps(messages))
    assert json.loads(rendered) == [{"role": "user", "content": query}]


@needs_data
def test_stop_sequences_greedy_and_seeded_samples():
    task = _task("humaneval-trim")
    doc = task.eval_docs[0]
    (one,) = task.construct_requests(doc, "CTX", metadata=("humaneval-trim", 0, 1))
    assert one.arguments == ("CTX", {"until": ["\nclass", "\ndef", "\n#", "\nif", "\nprint"], "max_gen_toks": 1024,
                                     "do_sample": False})
    (chat,) = _task("humaneval-chat").construct_requests(doc, "CTX", metadata=("humaneval-chat", 0, 1))
    assert chat.arguments[1]["until"] == [] and chat.arguments[1]["do_sample"] is False

    three = _task("humaneval-trim", num_samples=3, seed=42).construct_requests(doc, "CTX", metadata=("t", 0, 1))
    assert [r.idx for r in three] == [0, 1, 2]
    kwargs = [r.arguments[1] for r in three]
    assert all(k["do_sample"] is True and k["temperature"] == 0.2 and k["top_p"] == 0.95 for k in kwargs)
    assert all(k["until"] == list(programs.STOP_SEQUENCES) for k in kwargs)
    seeds = [k["seed"] for k in kwargs]
    assert len(set(seeds)) == 3 and seeds == [he.sample_seed(42, doc["task_id"], i) for i in range(3)]
    other = _task("humaneval-trim", num_samples=3, seed=7).construct_requests(doc, "CTX", metadata=("t", 0, 1))
    assert [r.arguments[1]["seed"] for r in other] != seeds
    unseeded = _task("humaneval-trim", num_samples=2, accepts_request_seed=False).construct_requests(
        doc, "CTX", metadata=("t", 0, 1))
    assert all("seed" not in r.arguments[1] for r in unseeded)


# ------------------------------------------------------------------------------------------- scoring


def _aggregate(task, items: list[dict]) -> dict:
    from lm_eval_ja.aggregation import metric_results

    by_metric = {m.name: [i[m.name] for i in items] for m in task.metrics if m.name in items[0]}
    return metric_results(task.metrics, by_metric, bootstrap_iters=0)


@needs_data
def test_scorer_canonical_solutions_pass_and_wrong_ones_fail():
    task = _task("humaneval-completion", confirm_run_unsafe_code=sandbox.isolation() is None)
    docs = _docs(task, 5)
    scorer = task.spec.scorer(task)
    good = scorer.score(docs, [[d["canonical_solution"]] for d in docs])
    assert [i["pass@1"]["pass@1"] for i in good] == [1.0] * 5
    assert _aggregate(task, good)["pass@1"] == 1.0
    assert task.data_sources["sandbox"]["timeout_s"] == he.TIMEOUT
    bad = scorer.score(docs, [[WRONG] for _ in docs])
    assert _aggregate(task, bad) == {"pass@1": 0.0, "pass@1_stderr": 0.0}
    assert all(s["status"] == "failed" and s["detail"].split(":")[0] in ("AssertionError", "TypeError")
               for i in bad for s in i["pass@1"]["samples"])

    chat = _task("jhumaneval-chat", confirm_run_unsafe_code=sandbox.isolation() is None)
    cdocs = _docs(chat, 5)
    answers = [[f"はい。\n```python\n{d['prompt']}{d['canonical_solution']}```\n"] for d in cdocs]
    assert _aggregate(chat, chat.spec.scorer(chat).score(cdocs, answers))["pass@1"] == 1.0
    assert chat.data_sources["sandbox"]["timeout_s"] == he.CHAT_TIMEOUT


@needs_data
def test_pass_at_k_with_three_samples_per_problem():
    task = _task("jhumaneval-completion", num_samples=3, confirm_run_unsafe_code=sandbox.isolation() is None)
    docs = _docs(task, 3)
    responses = [[docs[0]["canonical_solution"], WRONG, docs[0]["canonical_solution"]],
                 [WRONG, WRONG, docs[1]["canonical_solution"]],
                 [WRONG, "    while True:\n        pass\n", WRONG]]
    items = task.spec.scorer(task).score(docs, responses)
    assert [i["pass@1"]["pass@1"] for i in items] == pytest.approx([2 / 3, 1 / 3, 0.0])
    assert [i["pass@1"]["passed"] for i in items] == [2, 1, 0]
    assert all(set(i) == {"pass@1"} for i in items)  # pass@10 needs n >= 10
    statuses = [s["status"] for s in items[2]["pass@1"]["samples"]]
    assert statuses[0] == "failed" and statuses[1] == "timed out"
    result = _aggregate(task, items)
    assert result["pass@1"] == pytest.approx(1 / 3)
    assert result["pass@1_stderr"] == pytest.approx(((1 / 9 + 0 + 1 / 9) / 2 / 3) ** 0.5)

    # pass@10 over n = 12 samples: the declared aggregation is the unbiased estimator's mean over problems
    lists = [[True] * 3 + [False] * 9, [False] * 12, [True] + [False] * 11]
    agg = {m.name: m for m in task.metrics}
    assert agg["pass@10"].aggregation(lists) == pytest.approx(aggregate_pass_at_k(lists, [10])["pass@10"])
    assert agg["pass@1"].aggregation(lists) == pytest.approx(aggregate_pass_at_k(lists, [1])["pass@1"])
    assert he.problem_items([sandbox.Outcome("passed", "", 0.1)] * 10).keys() == {"pass@1", "pass@10"}


# ------------------------------------------------------------------------------------------- end to end


def _cli(tmp_path, *extra) -> int:
    return main(["--model", "hf-causal", "--model_args", f"pretrained={TINY_MODEL}", "--device", "cpu",
                 "--data_dir", str(DATA), "--output_path", str(tmp_path / "out") + "/", *extra])


@needs_data
def test_end_to_end_tiny_model_fails_every_problem_and_logs_each_completion(tmp_path):
    if not TINY_MODEL.is_dir():
        pytest.skip(f"{TINY_MODEL} not present")
    code = _cli(tmp_path, "--tasks", "jhumaneval", "--limit", "3", "--log_samples", *_isolation_flag())
    assert code == 0
    result = json.loads((tmp_path / "out" / "result.json").read_text(encoding="utf-8"))
    assert result["results"]["jhumaneval"]["pass@1"] == 0.0
    assert "pass@10" not in result["results"]["jhumaneval"]
    box = result["config"]["lm_eval_ja"]["data_sources"]["jhumaneval"]["sandbox"]
    assert box["isolation"] == (sandbox.isolation() or sandbox.UNSAFE_ISOLATION) and box["timeout_s"] == 3.0
    rows = [json.loads(line) for line in (tmp_path / "out" / "result.samples.jhumaneval.jsonl").open(encoding="utf-8")]
    task = _task("jhumaneval")  # --limit 3: the first 3 of the reference's shuffled order (random.Random(42))
    assert [r["doc"]["task_id"] for r in rows] == [task.eval_docs[i]["task_id"] for i in range(3)]
    assert len({r["doc"]["task_id"] for r in rows}) == 3
    for row in rows:
        item = row["pass@1"]
        assert item["pass@1"] == 0.0 and item["n"] == 1
        (sample,) = item["samples"]
        assert sample["status"] in ("failed", "timed out", "error") and sample["detail"]


@needs_data
def test_refused_without_isolation_unless_confirmed(tmp_path, capsys, monkeypatch):
    if not TINY_MODEL.is_dir():
        pytest.skip(f"{TINY_MODEL} not present")
    monkeypatch.setattr(sandbox, "isolation", lambda: None)
    code = _cli(tmp_path, "--tasks", "humaneval-trim", "--limit", "1")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "--confirm_run_unsafe_code" in err[0] and "bubblewrap" in err[0]
    assert not (tmp_path / "out" / "result.json").exists()

    code = _cli(tmp_path, "--tasks", "humaneval-trim", "--limit", "1", "--num_samples", "2", "--log_samples",
                "--confirm_run_unsafe_code")
    assert code == 0, capsys.readouterr().err
    result = json.loads((tmp_path / "out" / "result.json").read_text(encoding="utf-8"))
    assert result["config"]["lm_eval_ja"]["confirm_run_unsafe_code"] is True
    box = result["config"]["lm_eval_ja"]["data_sources"]["humaneval-trim"]["sandbox"]
    assert box["isolation"] == sandbox.UNSAFE_ISOLATION == "none (--confirm_run_unsafe_code)"
    assert result["results"]["humaneval-trim"]["pass@1"] == 0.0
    (row,) = [json.loads(line) for line in (tmp_path / "out" / "result.samples.humaneval-trim.jsonl").open()]
    assert row["pass@1"]["n"] == 2
    assert all(s["status"] != "passed" for s in row["pass@1"]["samples"])
    first, second = (r[0] for r in row["resps"])
    assert first != second  # each sample its own seed
