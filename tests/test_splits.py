"""Split policies: files (with skipped rows counted), a split column, a hash of the id, the head of a file."""

from __future__ import annotations

from lm_eval_ja import splits


def _convert(row):
    return None if row.get("skip") else {"id": row["id"], **({"split": row["split"]} if "split" in row else {})}


def test_files_counts_rows_that_are_not_items():
    rows = {"test": [{"id": "a"}, {"id": "b", "skip": True}], "train": [{"id": "c"}]}
    evaluated, pool, notes = splits.files()("t", rows, _convert, "test", "train", {})
    assert [d["id"] for d in evaluated] == ["a"] and [d["id"] for d in pool] == ["c"]
    assert notes == {"test_rows_skipped": 1}


def test_column_and_head():
    rows = {"all": [{"id": "a", "split": "test"}, {"id": "b", "split": "train"}, {"id": "c", "split": "dev"}]}
    evaluated, pool, notes = splits.column("split")("t", rows, _convert, "test", "train", {"all": "/x/all.tsv"})
    assert ([d["id"] for d in evaluated], [d["id"] for d in pool]) == (["a"], ["b"])
    assert notes == {"split": "rows of /x/all.tsv by their 'split' column"}
    evaluated, pool, _ = splits.head(2)("t", {"test": [{"id": str(i)} for i in range(5)]}, _convert, "test", None, {})
    assert [d["id"] for d in pool] == ["0", "1"] and [d["id"] for d in evaluated] == ["2", "3", "4"]


def test_hash_split_is_independent_of_file_order():
    from lm_eval_ja.benchmarks.llmjp import convert_jsem

    rows = {f"F{f}": [{"jsem_id": str(i), "answer": "yes", "inference_type": "", "phenomena": "",
                       "premises": ["p"], "hypothesis": "h"} for i in range(300)] for f in range(3)}
    policy = splits.hashed(100)
    test, train, _ = policy("t", rows, convert_jsem, "test", "train", {})
    test_rev, train_rev, _ = policy("t", dict(reversed(rows.items())), convert_jsem, "test", "train", {})
    assert {d["id"] for d in test} == {d["id"] for d in test_rev}
    assert len(test) + len(train) == 900 and 40 < len(test) < 140
