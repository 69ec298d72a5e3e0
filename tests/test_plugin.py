"""A benchmark family from outside the repository: installed as a package, found through its entry point, run by
main.py (a corpus-level metric, a pooled group); a family that is not valid is refused in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest

from lm_eval_ja.benchmarks import registry
from lm_eval_ja.benchmarks.spec import Headline, Metric
from lm_eval_ja.errors import UserError
from tests.conftest import REPO, TINY_MODEL, needs_shared
from tests.fixtures import toy_family

EXAMPLE = REPO / "examples" / "external_family"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The example package pip-installed (not editable) into a folder of its own, put on the path of main.py."""
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--target", str(target), str(EXAMPLE)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert list(target.glob("lm_eval_ja_example_family-*.dist-info/entry_points.txt"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(REPO)])}
    return env


def main_py(env, *args):
    return subprocess.run([sys.executable, str(REPO / "main.py"), *args], capture_output=True, text=True, env=env,
                          cwd=REPO)


def test_the_installed_family_is_listed(installed):
    listed = main_py(installed, "--list_tasks").stdout.split()
    assert {"example_copy-1.0", "example_copy_kana-1.0-ex-1.0", "example_copy_kanji-1.0-ex-1.0"} <= set(listed)
    assert "example_copy_kana-1.0-ex-1.0" not in registry.all_names()  # not installed in this process


@needs_shared
def test_the_installed_family_runs_with_its_corpus_metric_and_pooled_group(installed, tmp_path):
    import sacrebleu

    out = tmp_path / "result.json"
    proc = main_py(installed, "--model", "hf-causal", "--model_args", f"pretrained={TINY_MODEL}", "--device", "cpu",
                   "--tasks", "example_copy-1.0", "--num_fewshot", "1", "--data_dir", str(EXAMPLE / "data"),
                   "--output_path", str(out), "--log_samples")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text(encoding="utf-8"))
    pairs = {}
    for task in ("example_copy_kana-1.0-ex-1.0", "example_copy_kanji-1.0-ex-1.0"):
        rows = [json.loads(line) for line in open(tmp_path / f"result.samples.{task}.jsonl", encoding="utf-8")]
        pairs[task] = [tuple(row["chrf"]) for row in rows]
        expected = sacrebleu.corpus_chrf([a for a, _ in pairs[task]], [[r for _, r in pairs[task]]]).score
        assert result["results"][task]["chrf"] == expected  # corpus-level, not a mean of sentence scores
    every = pairs["example_copy_kana-1.0-ex-1.0"] + pairs["example_copy_kanji-1.0-ex-1.0"]
    group = result["results"]["example_copy-1.0"]
    assert group["chrf"] == sacrebleu.corpus_chrf([a for a, _ in every], [[r for _, r in every]]).score
    assert group["exact_match"] == sum(a == r for a, r in every) / len(every)
    assert result["versions"]["example_copy-1.0"] == 1.0


def test_an_invalid_family_is_refused_in_one_line():
    bench = toy_family.FAMILY.benchmarks[0]
    bad = replace(toy_family.FAMILY, benchmarks=(replace(bench, headline=Headline("f1", 100.0, "F1")),))
    with pytest.raises(UserError) as err:
        registry.register(bad)
    assert str(err.value) == ("Benchmark family toy: benchmark toy_capital: its headline metric 'f1' is not one of "
                              "its metrics (exact_match).")
    bad = replace(toy_family.FAMILY, benchmarks=(replace(bench, metrics=(Metric("exact_match", "nope"),)),))
    with pytest.raises(UserError, match=r"^Benchmark family toy: benchmark toy_capital: metric exact_match: "
                                        r"aggregation 'nope' is not one of lm-eval's"):
        registry.register(bad)
    taken = replace(toy_family.FAMILY, benchmarks=(replace(bench, name="jnli"),))
    with pytest.raises(UserError, match="the name 'jnli' is already registered by another family"):
        registry.register(taken)
    assert "toy_capital-1.0-toy-1.0" not in registry.all_names()
