"""Split policies: how a task's sources become the evaluated documents and the shot pool.

A benchmark spec names one (:attr:`lm_eval_ja.benchmarks.spec.Benchmark.split`):

* :func:`files` (default): the evaluated split and the shot pool are files of their own;
* :func:`column`: one file (source ``all``) whose ``column`` field says ``test`` or ``train`` (JaNLI);
* :func:`hashed`: every source together, split by a hash of the document id, about ``test_per_mille``/1000 to
  the evaluated split (JSeM has no official split; the hash keeps the split stable however files are read or
  added to);
* :func:`head`: one file whose first ``n`` rows are the shot pool and are not scored (JMMLU has no dev split).

Each policy converts the rows with the benchmark's converter (a row converted to None is not an item and is
counted; a row the converter cannot read raises :class:`RowError`) and returns ``(evaluated documents, shot pool,
notes)``; the notes go into result.json.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Rows = list[dict[str, Any]]
Convert = Callable[[dict[str, Any]], "dict[str, Any] | None"]


class RowError(Exception):
    """A row the converter cannot read: ``split``, ``index`` (0-based record of that split) and the cause."""

    def __init__(self, split: str, index: int, cause: Exception):
        super().__init__(split, index, cause)
        self.split, self.index, self.cause = split, index, cause


def _converted(split: str, rows: Rows, convert: Convert, extra: Mapping[str, Any] | None = None) -> Rows:
    out = []
    for index, row in enumerate(rows):
        try:
            doc = convert({**row, **(extra or {})})
        except (KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
            raise RowError(split, index, exc) from None
        if doc is not None:
            out.append(doc)
    return out


@dataclass(frozen=True)
class SplitPolicy:
    kind: str
    column: str = "split"
    test_value: str = "test"
    train_value: str = "train"
    test_per_mille: int = 100
    n: int = 0

    def __call__(self, task_name: str, rows: Mapping[str, Rows], convert: Convert, eval_split: str,
                 train_split: str | None, paths: Mapping[str, str]) -> tuple[Rows, Rows, dict[str, Any]]:
        return getattr(self, f"_{self.kind}")(task_name, rows, convert, eval_split, train_split, paths)

    def _files(self, task_name, rows, convert, eval_split, train_split, paths):
        evaluated = _converted(eval_split, rows[eval_split], convert)
        pool = _converted(train_split, rows.get(train_split, []), convert) if train_split else []
        notes = {}
        for split, docs in ((eval_split, evaluated), (train_split, pool)):
            if split in rows and len(rows[split]) != len(docs):
                notes[f"{split}_rows_skipped"] = len(rows[split]) - len(docs)
        return evaluated, pool, notes

    def _column(self, task_name, rows, convert, eval_split, train_split, paths):
        docs = _converted("all", rows["all"], convert)
        evaluated = [d for d in docs if d[self.column] == self.test_value]
        pool = [d for d in docs if d[self.column] == self.train_value]
        return evaluated, pool, {"split": f"rows of {paths['all']} by their {self.column!r} column"}

    def _hash(self, task_name, rows, convert, eval_split, train_split, paths):
        docs = []
        for name, file_rows in rows.items():
            docs.extend(_converted(name, file_rows, convert, {"file": name}))
        seen: dict[str, int] = {}
        evaluated, pool = [], []
        for doc in docs:
            # Repeated ids (JSeM has a few) get an occurrence number, so each document has its own key.
            n = seen[doc["id"]] = seen.get(doc["id"], -1) + 1
            key = doc["id"] if n == 0 else f"{doc['id']}#{n}"
            bucket = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % 1000
            (evaluated if bucket < self.test_per_mille else pool).append(doc)
        note = (f"no official split: documents whose sha256(id) mod 1000 < {self.test_per_mille} are the test split "
                f"({len(evaluated)}), the rest the shot pool ({len(pool)})")
        return evaluated, pool, {"split": note}

    def _head(self, task_name, rows, convert, eval_split, train_split, paths):
        docs = _converted(eval_split, rows[eval_split], convert)
        return docs[self.n:], docs[:self.n], {
            "split": f"no dev split: the first {self.n} questions are the shot pool and are not scored"}


def files() -> SplitPolicy:
    return SplitPolicy("files")


def column(column: str = "split", test: str = "test", train: str = "train") -> SplitPolicy:
    return SplitPolicy("column", column=column, test_value=test, train_value=train)


def hashed(test_per_mille: int) -> SplitPolicy:
    return SplitPolicy("hash", test_per_mille=test_per_mille)


def head(n: int) -> SplitPolicy:
    return SplitPolicy("head", n=n)
