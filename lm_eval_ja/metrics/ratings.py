"""Aggregations of judge ratings: per-document items are lists of the valid ratings a document received.

A failed judgment (no rating could be read) is not in the list and never counts as a score; it is counted in
``n_judge_failed``. ``score`` is the mean of all valid ratings, ``score_stderr`` the standard error over
documents (of each document's mean rating), as FastChat / flexeval report them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def pooled_mean(items: Iterable[Sequence[float]]) -> float | None:
    """Mean of every rating of every document; None when there is none."""
    ratings = [r for item in items for r in item]
    return sum(ratings) / len(ratings) if ratings else None


def document_stderr(items: Iterable[Sequence[float]]) -> float | None:
    """Sample standard error of the per-document mean ratings (documents without a valid rating left out)."""
    means = [sum(item) / len(item) for item in items if len(item)]
    n = len(means)
    if n < 2:
        return None
    mean = sum(means) / n
    return math.sqrt(sum((m - mean) ** 2 for m in means) / (n - 1) / n)


def total(items: Iterable[int]) -> int:
    return int(sum(items))
