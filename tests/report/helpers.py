"""Helpers of the report tests: result files written in the reference's schema, with sample logs."""

from __future__ import annotations

import json
import math
from pathlib import Path

FIXTURES = Path(__file__).parents[1] / "fixtures" / "report"
PUBLISHED = Path(__file__).parents[2].parent / "shared" / "reference" / "published"
TASK = "jcommonsenseqa-1.1-0.4"


def write_result(path: Path, results: dict, num_fewshot, versions: dict | None = None) -> Path:
    """A jp-stable-schema result.json."""
    default_versions = {"xwinograd_ja": 1.0, "xlsum_ja": 1.0}
    versions = versions or {t: default_versions.get(t, float(t.split("-")[1]) if "-" in t else 1.0) for t in results}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "results": results,
        "versions": versions,
        "config": {"model": "hf-causal", "model_args": f"pretrained=org/{path.parent.name}", "num_fewshot": num_fewshot,
                   "batch_size": None, "device": "cuda", "no_cache": False, "limit": None,
                   "bootstrap_iters": 100000, "description_dict": {}},
    }, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def run_with_samples(tmp_path: Path, name: str, correct: list[int]) -> tuple[Path, Path]:
    """A one-task result.json and its lm-eval samples log, consistent with each other."""
    acc = sum(correct) / len(correct)
    se = math.sqrt(acc * (1 - acc) / (len(correct) - 1))
    result = write_result(tmp_path / name / "result.json", {TASK: {"acc": acc, "acc_stderr": se}}, num_fewshot=[3])
    log = tmp_path / name / f"samples_{TASK}_2025-01-01T00-00-00.000001.jsonl"
    with log.open("w", encoding="utf-8") as fh:
        for i, c in enumerate(correct):
            fh.write(json.dumps({"doc_id": i, "doc": {"q": "問題"}, "target": 0, "arguments": [], "resps": [],
                                 "filtered_resps": [], "filter": "none", "acc": float(c)}, ensure_ascii=False) + "\n")
    return result, log
