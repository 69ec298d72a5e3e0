"""Model facts: from a loaded model, or from model_args for plain lm-eval runs (GGUF tokenizers included)."""

from __future__ import annotations

from lm_eval_ja.models import facts
from lm_eval_ja.models.facts import DEFAULT_MAX_GEN_TOKS, DEFAULT_MAX_LENGTH, ModelFacts
from tests.conftest import TINY_MODEL, needs_shared


def test_model_args_tokenizer_forwards_gguf_file(monkeypatch):
    import transformers

    calls = []
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained",
                        lambda name, **kw: calls.append((name, kw)) or object())
    facts._tokenizer.cache_clear()
    ModelFacts.from_model_args({"pretrained": "/models/gemma", "gguf_file": "g.gguf"}).tokenizer
    assert calls[-1][0] == "/models/gemma" and calls[-1][1]["gguf_file"] == "g.gguf"
    ModelFacts.from_model_args({"pretrained": "/models/gemma", "tokenizer": "tok", "gguf_file": "g.gguf"}).tokenizer
    assert calls[-1][0] == "tok" and "gguf_file" not in calls[-1][1]
    facts._tokenizer.cache_clear()


def test_defaults_without_a_model():
    f = ModelFacts.from_model_args({})
    assert f.tokenizer is None and f.max_length == DEFAULT_MAX_LENGTH and f.max_gen_toks == DEFAULT_MAX_GEN_TOKS
    assert ModelFacts.from_model_args({"max_length": "512", "max_gen_toks": 16}).max_length == 512


@needs_shared
def test_from_lm_and_from_model_args_agree(conformance_lm):
    from_lm = ModelFacts.from_lm(conformance_lm)
    from_args = ModelFacts.from_model_args({"pretrained": str(TINY_MODEL)})
    assert from_lm.max_length == from_args.max_length == conformance_lm.max_length
    assert from_lm.encode("東京は晴れ") == from_args.encode("東京は晴れ")
