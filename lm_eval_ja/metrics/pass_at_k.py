"""pass@k: the unbiased estimator of Chen et al. 2021 ("Evaluating Large Language Models Trained on Code", §2.1).

For a problem with ``n`` sampled completions of which ``c`` pass, the probability that at least one of ``k``
completions drawn without replacement from the ``n`` passes is ``1 - C(n-c, k) / C(n, k)``. It is computed in the
paper's numerically stable product form ``1 - prod_{i=n-c+1..n} (1 - k / i)`` (no huge binomials), and is exactly 1
when ``n - c < k`` (every draw of ``k`` contains a passing completion). The benchmark's pass@k is the mean of the
per-problem values (every problem weighs the same).

Which k: every k of :data:`K_VALUES` = (1, 10, 100) with ``k <= n`` — pass@k needs at least ``k`` samples per
problem, so greedy runs (n = 1) report pass@1 only, Swallow's n = 10 sampling reports pass@1 and pass@10 (as
Swallow does), and n >= 100 adds pass@100 (the Codex paper's set). With different ``n`` per problem, ``k`` must be
``<= min(n)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["K_VALUES", "aggregate_pass_at_k", "ks_for", "pass_at_k"]

#: the k reported, each one where every problem has at least k samples
K_VALUES = (1, 10, 100)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one problem with ``n`` samples of which ``c`` passed."""
    n, c, k = int(n), int(c), int(k)
    if n < 1 or k < 1:
        raise ValueError(f"pass@k needs n >= 1 and k >= 1 (n={n}, k={k})")
    if not 0 <= c <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n (n={n}, c={c})")
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples (n={n})")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def ks_for(n: int | Iterable[int], ks: Sequence[int] = K_VALUES) -> list[int]:
    """The k of ``ks`` that ``n`` samples (or the smallest of several per-problem ``n``) allow: ``k <= n``."""
    m = n if isinstance(n, int) else min(n, default=0)
    return [k for k in ks if k <= m]


def aggregate_pass_at_k(results: Sequence[Sequence[bool]], ks: Sequence[int] | None = None) -> dict[str, float]:
    """``{"pass@k": mean over problems}`` from each problem's per-sample pass/fail list.

    ``ks`` defaults to the :data:`K_VALUES` that every problem's sample count allows (:func:`ks_for`); an explicit
    ``k`` larger than some problem's ``n`` raises."""
    if not results:
        return {}
    ns = [len(r) for r in results]
    if min(ns) < 1:
        raise ValueError("pass@k: a problem without samples")
    ks = ks_for(ns) if ks is None else list(ks)
    out = {}
    for k in ks:
        values = [pass_at_k(len(r), sum(bool(x) for x in r), k) for r in results]
        out[f"pass@{k}"] = sum(values) / len(values)
    return out
