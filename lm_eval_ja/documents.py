"""A task's documents, read without lm-eval: the evaluated ones, the shot pool, and where they came from.

:func:`load_documents` reads a benchmark's sources (:mod:`lm_eval_ja.data`), converts the rows with its converter
and splits them with its split policy (:mod:`lm_eval_ja.splits`); the preflight, the task class and ``pairwise``
all read documents through it. A file or row that cannot be read is one :class:`UserError` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lm_eval_ja.benchmarks import registry
from lm_eval_ja.benchmarks.spec import Benchmark
from lm_eval_ja.data import load_splits, record_location
from lm_eval_ja.errors import UserError
from lm_eval_ja.splits import RowError


@dataclass
class Documents:
    """A task's documents: the evaluated ones in file order, the shot pool, where they came from."""

    evaluated: list[dict[str, Any]]
    pool: list[dict[str, Any]]
    #: split -> {"path", "fallback"?} (recorded in result.json)
    sources: dict[str, dict[str, Any]]
    #: what the split policy says about how it made the documents
    notes: dict[str, Any]
    #: the files read (local paths, or the downloaded copies)
    files: list[str]
    #: rows of the sources that are neither evaluated nor shots (a benchmark's reference answers, judge prompts)
    extra: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def load_documents(name: str, spec: Benchmark, data_dir: str | None) -> Documents:
    """Read, convert and split a task's data; a file or row that cannot be read is one UserError naming it."""
    resolved = registry.resolve(name)
    declared = resolved.sources if resolved is not None and resolved.benchmark is spec else dict(spec.sources)
    loaded = load_splits(name, declared, spec.format, registry.readers(), data_dir)
    sources = {split: src.as_dict() for split, src in loaded.sources.items()}
    paths = {split: src.path for split, src in loaded.sources.items()}
    rows, convert = loaded.splits, spec.convert
    if spec.sampler == "reference":
        # The reference keeps each row's index in its split file (the conformance cases refer to it).
        rows = {split: [{**r, "_raw_index": i} for i, r in enumerate(split_rows)] for split, split_rows in rows.items()}
        convert = _keeping_raw_index(spec.convert)
    try:
        evaluated, pool, notes = spec.split(name, rows, convert, spec.eval_split, spec.train_split, paths)
    except RowError as err:
        source = loaded.sources[err.split]
        where = record_location(source.file or source.path, declared[err.split], spec.format, err.index)
        cause = (f"has no field {err.cause.args[0]!r}" if isinstance(err.cause, KeyError)
                 else f"cannot be read ({type(err.cause).__name__}: {err.cause})")
        raise UserError(f"Data file {source.path}, {where}, {cause}, which {name} needs; replace the file with the "
                        "original one.") from None
    if not evaluated:
        raise UserError(f"{name}: the evaluated split is empty; check the data files under --data_dir.")
    used = set(declared) if spec.split.kind != "files" else {spec.eval_split, spec.train_split}
    extra = {split: rows for split, rows in loaded.splits.items() if split not in used}
    return Documents(evaluated, pool, sources, notes, [src.file or src.path for src in loaded.sources.values()],
                     extra)


def check_num_fewshot(name: str, spec: Benchmark, pool_size: int, num_fewshot: int) -> None:
    """A few-shot count the task can give: 0 for 0-shot-only tasks, at most the size of the shot pool."""
    if num_fewshot and spec.zero_shot_only:
        raise UserError(f"{name} is evaluated 0-shot only (the model scores the bare sentences); "
                        f"use --num_fewshot 0 for it.")
    if num_fewshot and not pool_size:
        raise UserError(f"{name} has no shot pool to draw {num_fewshot} shots from; use --num_fewshot 0.")
    if num_fewshot > pool_size:
        raise UserError(f"{name}: --num_fewshot {num_fewshot} is more than the {pool_size} examples of its shot pool.")


def _keeping_raw_index(convert):
    def converted(row: dict[str, Any]) -> dict[str, Any] | None:
        raw_index = row.pop("_raw_index")
        doc = convert(row)
        return None if doc is None else {**doc, "_raw_index": raw_index}

    return converted
