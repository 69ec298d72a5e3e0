"""Acceptance: reproduce the reference harness's golden outputs (../shared/conformance).

For every case (task name × few-shot count): every context byte-identical, every request's
continuation and token ids, log-likelihoods within 1e-4, generations and per-document metrics
equal, and the aggregated result.json numbers equal.
"""

from __future__ import annotations

import json
import math

import pytest

from tests.conftest import CONFORMANCE, CONFORMANCE_DATA_DIR, needs_shared, run_tasks

CASES = sorted(p.name[: -len(".jsonl")] for p in (CONFORMANCE / "cases").glob("*.jsonl")) if (CONFORMANCE / "cases").is_dir() else []


def _load_case(case: str):
    records = [json.loads(line) for line in (CONFORMANCE / "cases" / f"{case}.jsonl").open(encoding="utf-8")]
    result = json.loads((CONFORMANCE / "cases" / f"{case}.result.json").read_text(encoding="utf-8"))
    return records, result


def _close(a, b, tol):
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=tol, abs_tol=tol)
    return a == b


@needs_shared
@pytest.mark.parametrize("case", CASES)
def test_case(case, conformance_lm):
    records, reference = _load_case(case)
    task, shots = case.rsplit("__", 1)
    result, samples = run_tasks(conformance_lm, [task], [int(shots)], len(records), CONFORMANCE_DATA_DIR,
                                bootstrap_iters=reference["config"]["bootstrap_iters"])
    rows = sorted(samples[task], key=lambda r: r["doc_id"])
    assert len(rows) == len(records)
    for rec, row in zip(records, rows):
        where = f"{case} doc {rec['doc_index']}"
        contexts = {args[0] for args in row["arguments"]}
        assert contexts == {rec["context"]}, where
        for req, args, resp in zip(rec["requests"], row["arguments"], row["resps"]):
            if req["type"] == "loglikelihood":
                assert args[1] == req["continuation"], where
                ll, greedy = resp[0]
                assert abs(ll - rec["responses"][rec["requests"].index(req)][0]) < 1e-4, where
                assert greedy == rec["responses"][rec["requests"].index(req)][1], where
            else:
                assert args[1]["until"] == req["until"], where
                assert args[1].get("max_gen_toks") == req["max_tokens"], where
                assert resp[0] == rec["responses"][0], where
        for metric, expected in rec["metrics"].items():
            if metric in ("exact_match", "f1"):
                expected = rec["per_doc_jasquad"][metric]
                expected = expected * 100 if expected <= 1 and row[metric] > 1 else expected
            assert _close(row[metric], expected, 1e-9), f"{where} {metric}: {row[metric]} != {expected}"
    ours, theirs = result["results"][task], reference["results"][task]
    assert set(ours) == set(theirs), (sorted(ours), sorted(theirs))
    for metric, value in theirs.items():
        assert math.isclose(ours[metric], value, rel_tol=1e-9, abs_tol=1e-12), f"{case} {metric}: {ours[metric]} != {value}"
    assert result["versions"] == reference["versions"]
