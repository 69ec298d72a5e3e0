"""jasquad EM / F1: protocol examples, exact values, and the reference's per-document and corpus numbers."""

from __future__ import annotations

import math
import sys

import lm_eval.api.metrics as lm_metrics
import pytest

from lm_eval_ja.errors import UserError
from lm_eval_ja.metrics import jasquad
from lm_eval_ja.metrics.jasquad import (
    exact_match_agg,
    exact_match_score,
    f1_agg,
    f1_score,
    jasquad_scores,
)
from tests.conftest import needs_shared
from tests.metrics.helpers import case_names, load_case


@pytest.mark.parametrize(
    "prediction, golds, em, f1",
    [
        (" 東京", ["東京"], 100.0, 100.0),
        ("東京都", ["東京"], 0.0, 66.67),
        ("ＡＢＣ１２３", ["ABC123"], 100.0, 100.0),
        ("「東京」", ["東京"], 0.0, 100.0),
        ("東京。", ["東京"], 0.0, 100.0),
        ("ポルトガル語です", ["ポルトガル語"], 0.0, 80.0),
        ("abc DEF", ["ABC def"], 0.0, 0.0),
        ("", ["東京"], 0.0, 0.0),
    ],
)
def test_jasquad_protocol_examples(prediction, golds, em, f1):
    scores = jasquad_scores(prediction, golds)
    assert scores["exact_match"] == em
    assert round(scores["f1"], 2) == f1


def test_jasquad_exact_values():
    assert jasquad_scores("東京都", ["東京"])["f1"] == 100.0 * (2 * 0.5 * 1.0 / 1.5)
    assert exact_match_score(" 東京", "東京") == 1.0
    assert exact_match_score("東京。", "東京") == 0.0
    assert f1_score("東京。", "東京") == 1.0
    assert f1_score("ポルトガル語です", "ポルトガル語") == pytest.approx(0.8, abs=1e-15)


def test_jasquad_max_over_golds():
    # EM from one gold, F1 from another: each is maximised separately
    scores = jasquad_scores("教育制度", ["教育", "教育制度改革"])
    assert scores["exact_match"] == 0.0
    assert scores["f1"] == pytest.approx(100 * 2 * (2 / 2) * (2 / 3) / (1 + 2 / 3))
    assert jasquad_scores("教育", ["教育制度", "教育"]) == {"exact_match": 100.0, "f1": 100.0}
    assert jasquad_scores("教育", "教育") == {"exact_match": 100.0, "f1": 100.0}  # a bare string is one gold


def test_jasquad_punctuation_only_single_char_tokens():
    assert "。" in jasquad.PUNCTUATION and "!" in jasquad.PUNCTUATION and "…" in jasquad.PUNCTUATION
    assert jasquad._remove_punc(["東京", "。", "「", "...", "!?", "."]) == ["東京", "...", "!?"]
    # only punctuation on one side -> no tokens left -> F1 0
    assert f1_score("。", "東京") == 0.0


def test_jasquad_tagger_is_created_once():
    first = jasquad._get_tagger()
    for _ in range(50):
        f1_score("東京都に住んでいます", "東京")
    assert jasquad._get_tagger() is first


@pytest.mark.parametrize("missing", ["fugashi", "unidic_lite"])
def test_jasquad_missing_dependency_is_a_user_error(monkeypatch, missing):
    monkeypatch.setattr(jasquad, "_tagger", None)
    monkeypatch.setitem(sys.modules, missing, None)  # makes `import <missing>` raise ImportError
    with pytest.raises(UserError, match="pip install fugashi unidic-lite"):
        f1_score("東京", "東京")


def test_jasquad_aggregations():
    assert exact_match_agg([100.0, 0.0, 0.0, 100.0]) == 50.0
    assert f1_agg([100.0, 50.0, 0.0]) == 50.0
    # not lm-eval's `mean`, so lm-eval adds no stderr (the reference reports none for jasquad)
    assert lm_metrics.stderr_for_metric(exact_match_agg, 1000) is None
    assert lm_metrics.stderr_for_metric(f1_agg, 1000) is None


@needs_shared
@pytest.mark.parametrize("case", case_names("jsquad"))
def test_jasquad_matches_reference_per_doc_and_corpus(case):
    records, reference, _ = load_case(case)
    ems, f1s = [], []
    for rec in records:
        scores = jasquad_scores(rec["responses"][0], rec["gold"]["text"])
        # per_doc_jasquad is on the 0..100 scale, like our per-question scores
        assert scores == rec["per_doc_jasquad"], f"{case} doc {rec['doc_index']}"
        ems.append(scores["exact_match"])
        f1s.append(scores["f1"])
    # result.json values are 0..100 too; 100*mean vs mean of x100 can differ in the last bit
    assert math.isclose(exact_match_agg(ems), reference["exact_match"], rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(f1_agg(f1s), reference["f1"], rel_tol=1e-9, abs_tol=1e-12)
