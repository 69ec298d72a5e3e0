"""ROUGE-2 for XL-Sum: per-document scores on a hand-computable tokenizer, the seeded bootstrap mid."""

from __future__ import annotations

import numpy as np
import pytest

from tests.benchmarks.conftest import CharTokenizer


def test_rouge2_on_a_known_pair():
    from lm_eval_ja.metrics.rouge import rouge2_score

    # reference bigrams 東京 京は は晴 晴れ (4), prediction 東京 京は は雨 (3): 2 shared -> P 2/3, R 1/2, F 4/7.
    p, r, f = rouge2_score("東京は晴れ", "東京は雨", CharTokenizer())
    assert (p, r) == pytest.approx((2 / 3, 1 / 2)) and f == pytest.approx(4 / 7)
    assert rouge2_score("東京", "大阪", CharTokenizer()) == (0.0, 0.0, 0.0)


def test_rouge2_bootstrap_mid_seeded_1234():
    from lm_eval_ja.metrics.rouge import rouge2_agg

    items = [(0.5, 0.25, 1 / 3), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), (0.2, 0.4, 0.8 / 3)]
    np.random.seed(7)
    before = np.random.get_state()[1].copy()
    value = rouge2_agg(items)
    assert (np.random.get_state()[1] == before).all()  # the global generator is left as it was
    # Written out: 1000 resamples of the per-document F with numpy seeded 1234, their median, x100.
    rs = np.random.RandomState(1234)
    f = np.array([it[2] for it in items])
    means = [f[rs.choice(np.arange(len(f)), size=len(f))].mean() for _ in range(1000)]
    assert value == pytest.approx(100 * np.percentile(means, 50), abs=1e-12)
    assert rouge2_agg([(0.5, 0.5, 0.5)] * 3) == pytest.approx(50.0)
