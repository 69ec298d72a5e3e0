"""The scoring stage: after the model's responses, before aggregation.

A :class:`Scorer` gets every evaluated document of a task with its responses at once (batched) and returns the
per-document metric items that the task's aggregations turn into scores. A scorer may own resources — an LLM
judge, a code sandbox — and a scorer whose results cost something says so with an ``identity``: the scoring stage
then caches its results like model responses, keyed by that identity and the scored responses.

Most benchmarks score each document on its own (exact match, F1, argmax of log-likelihoods): their family
module gives a function ``(task, doc, responses) -> {metric: item}`` and :func:`per_document` makes the scorer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

#: ``(task, doc, responses) -> {metric: item}``
DocumentScore = Callable[[Any, dict[str, Any], Sequence[Any]], dict[str, Any]]


class Scorer(Protocol):
    #: what the scores depend on besides document and responses (judge model, prompt set); None: not cached
    identity: str | None

    def score(self, docs: Sequence[dict[str, Any]], responses: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        """Per-document metric items; ``responses[i]`` are document ``i``'s filtered responses in request order."""
        ...


@dataclass
class PerDocument:
    """A scorer that scores each document on its own with a :data:`DocumentScore` function."""

    fn: DocumentScore
    task: Any
    identity: str | None = None

    def score(self, docs, responses):
        return [self.fn(self.task, doc, resp) for doc, resp in zip(docs, responses)]


def per_document(fn: DocumentScore) -> Callable[[Any], Scorer]:
    """The scorer factory of a benchmark spec that scores documents one by one with ``fn``."""

    def make(task) -> Scorer:
        return PerDocument(fn, task)

    make.__doc__ = fn.__doc__
    return make
