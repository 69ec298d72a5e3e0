"""M-IFEval-ja as a task: it resolves, its converter reads the real data, its scorer gives the official accuracies
of 3 recorded models, it runs end to end as a chat task without a judge, and bad data is refused before the model
loads."""

from __future__ import annotations

import json
import os

import pytest

from lm_eval_ja.benchmarks import m_ifeval_ja as mif
from lm_eval_ja.benchmarks import registry
from lm_eval_ja.chat import Answer, ChatOptions, max_gen_toks_rule
from tests.conftest import DATA, TINY_MODEL

M_IFEVAL = DATA / "m_ifeval_ja"
MODELS = ["CohereForAI__aya-23-8B", "Qwen__Qwen2.5-7B-Instruct-GPTQ-Int4", "gpt-4o-2024-08-06"]
needs_m_ifeval = pytest.mark.skipif(not (M_IFEVAL / "ja_input_data.jsonl").is_file(),
                                    reason=f"{M_IFEVAL} (shared data) not present")
METRICS = ["prompt_level_strict_acc", "inst_level_strict_acc", "prompt_level_loose_acc", "inst_level_loose_acc"]


def _jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def test_the_task_resolves_as_a_chat_task_without_a_judge():
    resolved = registry.resolve("m_ifeval_ja")
    assert resolved is not None and resolved.prompt_version is None
    bench = resolved.benchmark
    assert bench.conversation and not bench.judged
    assert [m.name for m in resolved.metrics] == METRICS
    aggregations = {m.name: m.aggregation for m in resolved.metrics}
    assert aggregations["prompt_level_strict_acc"] == aggregations["prompt_level_loose_acc"] == "mean"
    assert aggregations["inst_level_strict_acc"] is aggregations["inst_level_loose_acc"] is mif.agg_inst_level_acc
    assert {m.name: m.stderr for m in resolved.metrics} == {"prompt_level_strict_acc": "mean",
                                                            "inst_level_strict_acc": None,
                                                            "prompt_level_loose_acc": "mean",
                                                            "inst_level_loose_acc": None}
    source = resolved.sources["test"]
    assert source.local == "m_ifeval_ja/ja_input_data.jsonl"
    assert source.online == ("https://raw.githubusercontent.com/lightblue-tech/M-IFEval/"
                             "0bc3143a919eef2f9ec64aa26da8a546086653de/data/ja_input_data.jsonl")


def test_without_the_ifeval_extra_the_registry_loads_and_a_run_says_what_to_install(monkeypatch):
    import importlib.util
    import subprocess
    import sys

    code = ("import sys\n"
            "for m in ('janome', 'langdetect', 'ja_sentence_segmenter'): sys.modules[m] = None\n"
            "from lm_eval_ja.benchmarks import registry\n"
            "assert registry.resolve('m_ifeval_ja') is not None and registry.task_names()\n")
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    from lm_eval_ja.errors import UserError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "janome" else real(name, *a))
    with pytest.raises(UserError, match=r"janome, which is not installed: pip install 'lm-eval-ja\[ifeval\]'"):
        registry.resolve("m_ifeval_ja").benchmark.requirements({})


def test_instruction_level_accuracy_pools_every_instruction():
    # lm-eval's agg_inst_level_acc: 3 of 4 instructions, not the mean of the prompts' 1/2 and 2/2
    assert mif.agg_inst_level_acc([[True, False], [True, True]]) == 0.75
    assert mif.agg_inst_level_acc([]) is None


def test_greedy_with_lm_evals_1280_new_tokens_one_answer():
    plan = mif.IFEvalPlan(None, ChatOptions())
    doc = mif.convert({"key": 1, "prompt": "猫について書いてください。", "instruction_id_list": ["ja:punctuation:no_comma"],
                       "kwargs": [{}]})
    assert plan.params(doc) == {"do_sample": False, "temperature": 0.0, "max_new_tokens": 1280}
    assert plan.messages(doc, []) == [{"role": "user", "content": "猫について書いてください。"}]
    assert plan.num_samples() == 1
    tokens, record = max_gen_toks_rule(plan, ChatOptions(), "m_ifeval_ja", say=lambda *a, **k: None)
    assert tokens(doc) == 1280 and record == {"max_gen_toks": 1280, "from": "protocol"}
    # a reasoning model's thinking is not checked
    assert plan.postprocess("<think>考え中、、、</think>猫はかわいい。") == "猫はかわいい。"


@needs_m_ifeval
def test_converter_on_the_real_data():
    resolved = registry.resolve("m_ifeval_ja")
    from lm_eval_ja.documents import load_documents

    documents = load_documents("m_ifeval_ja", resolved.benchmark, str(DATA))
    docs = documents.evaluated
    rows = _jsonl(M_IFEVAL / "ja_input_data.jsonl")
    assert len(docs) == len(rows) == 172
    assert sum(len(d["instruction_id_list"]) for d in docs) == 226
    assert [d["turns"] for d in docs] == [[r["prompt"]] for r in rows]
    assert [d["id"] for d in docs] == [r["key"] for r in rows]
    assert documents.notes["langdetect_seed"] == 0  # recorded in result.json (data_sources ... derived)


def _official(model):
    out = {}
    for mode in ("strict", "loose"):
        rows = _jsonl(M_IFEVAL / "recorded" / f"eval_{model}" / f"eval_results_{mode}.jsonl")
        out[f"prompt_level_{mode}_acc"] = sum(r["follow_all_instructions"] for r in rows) / len(rows)
        flat = [x for r in rows for x in r["follow_instruction_list"]]
        out[f"inst_level_{mode}_acc"] = sum(flat) / len(flat)
    return out


@pytest.fixture(scope="module")
def task():
    from tests.conftest import make_task

    return make_task("m_ifeval_ja", data_dir=DATA)  # the documents as the run loop sees them


@needs_m_ifeval
@pytest.mark.parametrize("model", MODELS)
def test_scorer_gives_the_official_accuracies(model, task):
    from lm_eval_ja.aggregation import metric_results

    responses = {r["prompt"]: r["response"]
                 for r in _jsonl(M_IFEVAL / "recorded" / f"ja_input_response_data_{model}.jsonl")}
    docs = list(task.eval_docs)
    answers = [[Answer(raw=[responses[d["prompt"]]], text=[responses[d["prompt"]]])] for d in docs]
    scored = mif.IFEvalScorer(task).score(docs, answers)
    items = {m: [s[m] for s in scored] for m in METRICS}
    assert all(isinstance(x, bool) for x in items["prompt_level_strict_acc"])
    assert all(isinstance(x, list) and all(isinstance(b, bool) for b in x) for x in items["inst_level_loose_acc"])
    results = metric_results(task.metrics, items, bootstrap_iters=0)
    official = _official(model)
    assert {m: results[m] for m in METRICS} == pytest.approx(official, abs=1e-12)
    print(model, official)


@needs_m_ifeval
def test_end_to_end_with_the_tiny_chat_model(tmp_path, capsys, chat_model_dir):
    from lm_eval_ja.cli import main

    out = tmp_path / "out" / "result.json"
    code = main(["--model", "hf-causal", "--model_args", f"pretrained={chat_model_dir}", "--device", "cpu",
                 "--apply_chat_template", "--tasks", "m_ifeval_ja", "--limit", "3", "--max_gen_toks", "8",
                 "--data_dir", str(DATA), "--output_path", str(out), "--log_samples"])
    assert code == 0, capsys.readouterr().err
    result = json.loads(out.read_text(encoding="utf-8"))
    metrics = result["results"]["m_ifeval_ja"]
    assert [m for m in METRICS if m in metrics] == METRICS
    assert "prompt_level_strict_acc_stderr" in metrics and "inst_level_strict_acc_stderr" not in metrics
    derived = result["config"]["lm_eval_ja"]["data_sources"]["m_ifeval_ja"]["derived"]
    assert derived["langdetect_seed"] == 0
    rows = _jsonl(out.parent / "result.samples.m_ifeval_ja.jsonl")
    assert len(rows) == 3
    for row, key in zip(rows, (1, 2, 3)):
        assert row["doc"]["key"] == key and len(row["samples"]) == 1
        turn = row["samples"][0]["turns"][0]
        assert turn["request"]["max_gen_toks"] == 8 and turn["request"]["do_sample"] is False
        assert isinstance(row["prompt_level_strict_acc"], bool) and isinstance(row["prompt_level_loose_acc"], bool)
        for m in ("inst_level_strict_acc", "inst_level_loose_acc"):
            assert isinstance(row[m], list) and len(row[m]) == len(row["doc"]["instruction_id_list"])
            assert all(isinstance(b, bool) for b in row[m])
        assert row["prompt_level_strict_acc"] == all(row["inst_level_strict_acc"])
        # the verdicts are those of the answer that was logged
        from lm_eval_ja.benchmarks.m_ifeval_ja.checkers import evaluate

        assert evaluate(row["doc"], turn["answer"]) == {m: row[m] for m in METRICS}


@needs_m_ifeval
def test_an_unknown_instruction_id_is_refused_before_the_model_loads(tmp_path, capsys, monkeypatch):
    import lm_eval_ja.run
    from lm_eval_ja.cli import main

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(lm_eval_ja.run, "build_model", no_model)
    lines = (M_IFEVAL / "ja_input_data.jsonl").read_text(encoding="utf-8").split("\n")
    assert "ja:length_constraints:number_sentences" in lines[4]
    lines[4] = lines[4].replace("ja:length_constraints:number_sentences", "ja:length_constraints:number_haiku")
    bad = tmp_path / "data" / "m_ifeval_ja" / "ja_input_data.jsonl"
    bad.parent.mkdir(parents=True)
    bad.write_text("\n".join(lines), encoding="utf-8")
    code = main(["--model", "hf-causal", "--model_args", f"pretrained={TINY_MODEL}", "--device", "cpu",
                 "--apply_chat_template", "--tasks", "m_ifeval_ja", "--limit", "3",
                 "--data_dir", os.pathsep.join([str(tmp_path / "data"), str(DATA)])])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    (line,) = [x for x in err.strip().splitlines() if x.startswith("error:")]
    assert line.startswith(f"error: Data file {bad}, line 5, ")
    assert "'ja:length_constraints:number_haiku'" in line
