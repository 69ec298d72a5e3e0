"""The llm-jp-style string metrics and correlations, by hand and against the libraries they re-implement."""

from __future__ import annotations

import math

import pytest

from lm_eval_ja.metrics.llmjp import (
    UNPARSED_SIMILARITY,
    char_f1,
    fuzzy_ratio,
    pearson,
    pearson_agg,
    spearman,
    spearman_agg,
)


def test_char_f1_hand_values():
    # pred 東京都 / gold 東京: common 2, P = 2/3, R = 1, F1 = 2 * (2/3) / (5/3) = 0.8
    assert char_f1("東京都", "東京") == pytest.approx(0.8)
    # multiset: pred a,a,b / gold a,b: common 2 (a once), P = 2/3, R = 1
    assert char_f1("aab", "ab") == pytest.approx(0.8)
    # NFKC, case, whitespace and punctuation do not count
    assert char_f1("ヒバ（青森）", "ヒバ、 青森") == 1.0
    assert char_f1("ＡＢＣ", "abc") == 1.0
    assert char_f1("東京", "大阪") == 0.0
    assert char_f1("", "") == 1.0
    assert char_f1("東京", "") == 0.0


def test_fuzzy_ratio_hand_values():
    # 東京 / 東京都: longest common subsequence 2, lengths 2 + 3: 2 * 2 / 5 = 0.8
    assert fuzzy_ratio("東京", "東京都") == 0.8
    # abc / abd (lower-cased): 2 * 2 / 6 = 66.7 %, rounded to a whole percent
    assert fuzzy_ratio("ABC", "abd") == 0.67
    # punctuation splits tokens and tokens are sorted: the order of a list does not matter
    assert fuzzy_ratio("大阪、東京", "東京,大阪") == 1.0
    assert fuzzy_ratio("", "") == 1.0 and fuzzy_ratio("。", "東京") == 0.0


def test_fuzzy_ratio_matches_fuzzywuzzy_when_installed():
    fuzz = pytest.importorskip("fuzzywuzzy.fuzz")
    pytest.importorskip("Levenshtein")
    pairs = [("東京株式会社", "東京"), ("ダイ・ハード", "ダイハード"), ("YES", "yes"), ("ÉcoleÀ b", "ecole"),
             ("青森ヒバ（青森県）、秋田スギ", "秋田スギ,青森ヒバ（青森県）"), ("abc", "")]
    for a, b in pairs:
        assert fuzzy_ratio(a, b) == fuzz.token_sort_ratio(a, b) / 100, (a, b)


def test_pearson_spearman_hand_values():
    xs, ys = [1, 2, 3, 4], [2, 4, 5, 9]
    # deviations (-1.5, -.5, .5, 1.5) and (-3, -1, 0, 4): sxy = 11, sxx = 5, syy = 26
    assert pearson(xs, ys) == pytest.approx(11 / math.sqrt(130))
    assert spearman(xs, ys) == pytest.approx(1.0)  # same order
    # ties get the average rank: x ranks (1, 2.5, 2.5, 4), y ranks (1, 3, 2, 4): rho = 4.5 / sqrt(4.5 * 5)
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(3 / math.sqrt(10))
    assert pearson([3, 3, 3], [1, 2, 3]) == 0.0  # undefined (constant answers) counts as 0, as llm-jp-eval
    assert pearson([1], [2]) == 0.0
    # corpus aggregations take (predicted, gold) items
    assert pearson_agg(list(zip(xs, ys))) == pytest.approx(11 / math.sqrt(130))
    assert spearman_agg([(UNPARSED_SIMILARITY, 1.0), (2.0, 2.0), (3.0, 3.0)]) == pytest.approx(1.0)


def test_pearson_spearman_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    xs = [0.0, 2.5, 2.5, -2.0, 4.0, 5.0, 1.0, 2.5]
    ys = [0.2, 2.8, 3.4, 1.0, 4.6, 4.0, 0.0, 2.2]
    assert pearson(xs, ys) == pytest.approx(stats.pearsonr(xs, ys)[0], abs=1e-12)
    assert spearman(xs, ys) == pytest.approx(stats.spearmanr(xs, ys)[0], abs=1e-12)
