"""lm_eval_ja.normalize: the jasquad normalisation, NFKC helpers, answer lines, numbers."""

from __future__ import annotations

import pytest

from lm_eval_ja.normalize import (
    answer_line,
    first_number,
    fullwidth_digits_to_ascii,
    last_number,
    nfkc,
    normalize_answer,
    normalize_label,
    normalize_numbers,
    numbers_equal,
    remove_emoji,
    white_space_fix,
)


def test_white_space_fix():
    assert white_space_fix("  a \t b\n\u3000c  ") == "a b c"
    assert white_space_fix("") == ""


@pytest.mark.parametrize(
    "text, expected",
    [
        ("東京😀タワー", "東京タワー"),  # U+1F600, emoticons
        ("🇯🇵日本", "日本"),  # regional-indicator flag
        # per character, as the reference does: U+2600 goes, the variation selector U+FE0F stays
        ("晴れ\u2600\ufe0f", "晴れ\ufe0f"),
        ("はさみ✂です", "はさみです"),  # U+2702, dingbats range
        ("➰", ""),  # U+27B0, last code point of the dingbats range
        ("普通の文章です。", "普通の文章です。"),
        ("©ABC", "ABC"),  # emoji.is_emoji("©") is true
    ],
)
def test_remove_emoji(text, expected):
    assert remove_emoji(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("  ｱｲｳ　テスト  ～〜 ", "アイウテスト"),  # the protocol's executed example
        ("ＡＢＣ１２３", "ABC123"),  # width folding
        (" 東京", "東京"),
        ("abc DEF", "abc DEF"),  # no lower-casing, space between Latin words kept
        ("「東京」。", "「東京」。"),  # punctuation is not removed here
        ("東京 タワー", "東京タワー"),  # neologdn drops spaces between Japanese characters
        ("😀東京😀", "東京"),
        ("", ""),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_fullwidth_digits_to_ascii():
    assert fullwidth_digits_to_ascii("答えは１８です。") == "答えは18です。"
    assert fullwidth_digits_to_ascii("０１２３４５６７８９") == "0123456789"
    # only digits: full-width comma / letters stay
    assert fullwidth_digits_to_ascii("１，２３４Ａ") == "1，234Ａ"


def test_nfkc():
    assert nfkc("１，２３４Ａ") == "1,234A"
    assert nfkc("ｱｲｳ") == "アイウ"


def test_number_normalisation():
    assert last_number("よって、答えは１２６です。") == 126
    assert last_number("16 + 11 = 27") == 27 and first_number("16 + 11 = 27") == 16
    assert last_number("1,000円") == 1000 and last_number("−5") == -5 and last_number("わからない") is None
    assert numbers_equal(last_number("43.0"), float("43"))
    assert numbers_equal(last_number("0.50"), 0.5)
    assert numbers_equal(last_number("2/3"), float("0.6666666666666666"))
    assert not numbers_equal(last_number("0.67"), float("0.6666666666666666"))  # rounded answers do not count
    assert not numbers_equal(None, 1.0)


def test_answer_extraction_and_labels():
    assert answer_line("\n  entailment \n### 入力:\n...") == "entailment"
    assert answer_line("") == ""
    assert normalize_label("Ｅｎｔａｉｌｍｅｎｔ。") == "entailment"
    assert normalize_label("non entailment") != normalize_label("non-entailment")


def test_numbers_with_japanese_units():
    assert normalize_numbers("１，２３４円") == "1,234円"
    assert normalize_numbers("3億5千万人、2.5万円、−５度") == "350000000人、25000円、-5度"
    assert normalize_numbers("十二個") == "十二個"  # kanji numerals without digits are left alone
