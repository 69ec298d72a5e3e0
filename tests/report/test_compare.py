"""Comparing two runs: paired bootstrap over sample logs, stderr z-test, verdicts."""

from __future__ import annotations

import pytest

from lm_eval_ja.errors import UserError
from lm_eval_ja.report.compare import compare, deltas_to_markdown, paired_bootstrap
from tests.report.helpers import FIXTURES, TASK, run_with_samples, write_result


def test_compare_identical_logs_is_within_noise(tmp_path):
    correct = [i % 3 == 0 for i in range(400)]
    ra, la = run_with_samples(tmp_path, "a", correct)
    rb, lb_ = run_with_samples(tmp_path, "b", correct)
    (d,) = compare(ra, rb, la, lb_, seed=1)
    assert d.method == "paired_bootstrap" and d.n_docs == 400
    assert d.delta == 0.0 and d.p_value == 1.0 and (d.ci_low, d.ci_high) == (0.0, 0.0)
    assert d.within_noise is True


def test_compare_systematic_difference_is_significant_and_deterministic(tmp_path):
    a_correct = [i % 2 == 0 for i in range(400)]  # 50%
    b_correct = [c or i % 10 in (1, 3) for i, c in enumerate(a_correct)]  # 70%: also right on 80 of A's misses
    ra, la = run_with_samples(tmp_path, "a", a_correct)
    rb, lb_ = run_with_samples(tmp_path, "b", b_correct)
    (d,) = compare(ra, rb, samples_a=tmp_path / "a", samples_b=[lb_], seed=7)
    assert d.delta == pytest.approx(20.0)
    assert d.p_value < 0.01 and d.ci_low > 0 and d.within_noise is False
    assert compare(ra, rb, la, lb_, seed=7) == [d]  # same seed → same answer
    assert "B better" in deltas_to_markdown([d])


def test_compare_from_stderr(tmp_path):
    ra = write_result(tmp_path / "a" / "result.json", {TASK: {"acc": 0.50, "acc_stderr": 0.01}}, num_fewshot=[3])
    rb = write_result(tmp_path / "b" / "result.json", {TASK: {"acc": 0.55, "acc_stderr": 0.01}}, num_fewshot=[3])
    (d,) = compare(ra, rb)
    assert d.method == "stderr"
    assert d.delta == pytest.approx(5.0)
    assert d.z == pytest.approx(3.5355, abs=1e-4)
    assert d.p_value == pytest.approx(0.000407, abs=1e-6)
    assert d.within_noise is False


def test_compare_without_stderr_or_samples_gives_no_verdict():
    a = FIXTURES / "model-a" / "result.json"
    c = FIXTURES / "model-c" / "results_2025-01-01T00-00-00.000001.json"
    by_task = {d.task_a: d for d in compare(a, c)}
    jsquad = by_task["jsquad-1.1-0.4"]
    assert jsquad.method == "none" and jsquad.p_value is None and jsquad.within_noise is None
    assert "--log_samples" in jsquad.note
    assert by_task["jcommonsenseqa-1.1-0.4"].delta == pytest.approx(20.0)


def test_compare_ignores_a_log_of_another_run(tmp_path):
    ra, la = run_with_samples(tmp_path, "a", [i % 2 == 0 for i in range(100)])
    rb, _ = run_with_samples(tmp_path, "b", [i % 4 == 0 for i in range(100)])
    (d,) = compare(ra, rb, la, la)  # B's "log" is A's: does not reproduce B's score
    assert d.method == "stderr" and "another run" in d.note


def test_compare_refuses_the_log_of_another_task(tmp_path):
    ra, la = run_with_samples(tmp_path, "a", [i % 2 == 0 for i in range(10)])
    other = la.with_name("samples_jnli-1.1-0.3_2025-01-01T00-00-00.000001.jsonl")
    other.write_text(la.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(UserError) as err:
        compare(ra, ra, other, la)
    assert str(err.value) == (f"{other} is the sample log of jnli-1.1-0.3, which {ra} does not hold; pass the sample "
                              "logs written with that result file.")


def test_compare_unnamed_log_for_multi_task_run_is_a_user_error(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"doc_id": 0, "acc": 1.0}\n')
    a = FIXTURES / "model-a" / "result.json"
    with pytest.raises(UserError, match="log.jsonl"):
        compare(a, a, samples_a=log, samples_b=log)
    with pytest.raises(UserError, match="missing.jsonl"):
        compare(a, a, samples_a=tmp_path / "missing.jsonl")


def test_paired_bootstrap_p_and_ci_shapes():
    import numpy as np

    p, low, high = paired_bootstrap(np.zeros(50), np.ones(50), n_resamples=2_000, seed=0)
    assert p == 0.0 and low == high == 1.0

