"""Suites: ``ja8`` and ``ja8-<prompt>`` expand to the reference's tasks with their few-shot counts."""

from __future__ import annotations

import json
import os

from lm_eval_ja.benchmarks import registry
from lm_eval_ja.cli import build_parser, main
from lm_eval_ja.selection import available_names, expand
from tests.conftest import CONFORMANCE_DATA_DIR, TINY_MODEL, needs_shared

JA8 = [("jcommonsenseqa-1.1-0.3", 3), ("jnli-1.3-0.3", 3), ("marc_ja-1.1-0.3", 3), ("jsquad-1.1-0.3", 2),
       ("jaqket_v2-0.2-0.3", 1), ("xlsum_ja-1.0-0.3", 1), ("xwinograd_ja", 0), ("mgsm-1.0-0.3", 5)]


def test_ja8_members_and_prompt_variants():
    assert expand("ja8", available_names()) == (JA8, [])  # a suite is not a group: it reports no aggregate
    assert dict(expand("ja8-0.2", available_names())[0])["mgsm-1.0-0.0"] == 5  # 0.2 takes MGSM / XLSum at 0.0
    for suite in registry.suites().values():  # every member is a task we define
        assert all(registry.resolve(t) is not None for t, _ in suite.members), suite.name


@needs_shared
def test_main_py_runs_the_ja8_suite(tmp_path, synthetic_dir, capsys):
    out = tmp_path / "result.json"
    # max_gen_toks=16 keeps MGSM's generation short (its cap is the model's max_gen_toks).
    code = main(["--model", "hf-causal", "--model_args", f"pretrained={TINY_MODEL},max_gen_toks=16", "--device", "cpu",
                 "--tasks", "ja8", "--limit", "2", "--bootstrap_iters", "1000", "--output_path", str(out),
                 "--data_dir", os.pathsep.join([str(synthetic_dir), CONFORMANCE_DATA_DIR])])
    assert code == 0, capsys.readouterr().err
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["config"]["num_fewshot"] == [3, 3, 3, 2, 1, 1, 0, 5]
    assert set(result["results"]) == {name for name, _ in JA8}
    assert set(result["results"]["mgsm-1.0-0.3"]) == {"acc", "acc_stderr", "acc_normalized", "acc_normalized_stderr"}
    # An explicit --num_fewshot still wins (one value for every member).
    assert build_parser().parse_args(["--tasks", "ja8"]).num_fewshot is None
