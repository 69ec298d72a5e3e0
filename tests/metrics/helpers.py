"""Helpers of the metric tests: the reference's golden conformance cases."""

from __future__ import annotations

import json

from tests.conftest import CONFORMANCE

CASES = CONFORMANCE / "cases"


def load_case(name: str):
    """(per-document records, the reference's metrics, its config) of conformance case ``name``."""
    records = [json.loads(line) for line in (CASES / f"{name}.jsonl").read_text(encoding="utf-8").splitlines() if line]
    reference = json.loads((CASES / f"{name}.result.json").read_text(encoding="utf-8"))
    (task,) = reference["results"]
    return records, reference["results"][task], reference["config"]


def case_names(prefix: str) -> list[str]:
    if not CASES.is_dir():
        return []
    return sorted(p.name[: -len(".jsonl")] for p in CASES.glob(f"{prefix}*.jsonl"))


def metric_items(records, metric):
    return [tuple(rec["metrics"][metric]) for rec in records]
