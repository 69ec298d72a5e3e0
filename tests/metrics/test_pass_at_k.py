"""pass@k: the unbiased estimator of Chen et al. 2021 and its mean over problems."""

from __future__ import annotations

import math

import pytest

from lm_eval_ja.metrics.pass_at_k import K_VALUES, aggregate_pass_at_k, ks_for, pass_at_k


def test_known_values():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 3, 10) == 1.0
    assert pass_at_k(10, 0, 1) == 0.0 and pass_at_k(10, 0, 10) == 0.0
    assert pass_at_k(1, 1, 1) == 1.0 and pass_at_k(1, 0, 1) == 0.0
    assert pass_at_k(10, 10, 1) == 1.0


@pytest.mark.parametrize("n,c,k", [(10, 3, 2), (10, 3, 5), (20, 7, 10), (200, 13, 100), (200, 1, 1), (5, 4, 2)])
def test_product_form_equals_the_binomial_definition(n, c, k):
    exact = 1 - math.comb(n - c, k) / math.comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(exact, rel=1e-12, abs=1e-12)


def test_large_n_is_numerically_stable():
    # C(1000, 500) overflows a float; the product form does not
    value = pass_at_k(1000, 1, 500)
    assert value == pytest.approx(0.5) and 0 <= pass_at_k(1000, 999, 500) <= 1


def test_invalid_arguments_raise():
    for n, c, k in [(10, 3, 11), (0, 0, 1), (10, 11, 1), (10, -1, 1), (10, 3, 0)]:
        with pytest.raises(ValueError):
            pass_at_k(n, c, k)


def test_k_set_rule_every_k_of_1_10_100_not_above_n():
    assert K_VALUES == (1, 10, 100)
    assert ks_for(1) == [1] and ks_for(9) == [1] and ks_for(10) == [1, 10] and ks_for(200) == [1, 10, 100]
    assert ks_for([10, 20, 5]) == [1]


def test_aggregate_is_the_mean_over_problems():
    results = [[True] * 3 + [False] * 7, [False] * 10, [True] * 10]
    out = aggregate_pass_at_k(results)
    assert set(out) == {"pass@1", "pass@10"}
    assert out["pass@1"] == pytest.approx((0.3 + 0 + 1) / 3)
    assert out["pass@10"] == pytest.approx((1 + 0 + 1) / 3)
    # greedy: one sample per problem, pass@1 only = the fraction solved
    assert aggregate_pass_at_k([[True], [False], [True], [True]]) == {"pass@1": 0.75}
    assert aggregate_pass_at_k([]) == {}
    with pytest.raises(ValueError):
        aggregate_pass_at_k([[True], [False]], ks=[10])
