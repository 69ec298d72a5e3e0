"""The run loop and the Python API; plain lm-eval with our task folder builds the same requests."""

from __future__ import annotations

import pytest

from lm_eval_ja.errors import UserError
from lm_eval_ja.builtin_tasks import task_manager
from lm_eval_ja.models.build import build_model
from tests.conftest import CONFORMANCE_DATA_DIR, TINY_MODEL, needs_shared


@needs_shared
def test_python_api_and_plain_lm_eval_give_the_same_contexts(monkeypatch):
    import lm_eval

    import lm_eval_ja

    result, samples = lm_eval_ja.simple_evaluate("hf-causal", f"pretrained={TINY_MODEL}", ["jsquad-1.1-0.3"], 2,
                                                 3, device="cpu", data_dir=CONFORMANCE_DATA_DIR, log_samples=True)
    assert set(result["results"]["jsquad-1.1-0.3"]) == {"exact_match", "f1"}
    # lm-eval's own evaluator and its stock `hf` model, with our task folder: the same prompts and the
    # gold-length cap from the tokenizer named in model_args (lm-eval passes model_args as task metadata).
    monkeypatch.setenv("LM_EVAL_JA_DATA_DIR", CONFORMANCE_DATA_DIR)
    out = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={TINY_MODEL}", tasks=["jsquad-1.1-0.3"],
                                  num_fewshot=2, limit=3, device="cpu", log_samples=True,
                                  task_manager=task_manager(metadata={"pretrained": str(TINY_MODEL)}))
    plain = sorted(out["samples"]["jsquad-1.1-0.3"], key=lambda r: r["doc_id"])
    ours = sorted(samples["jsquad-1.1-0.3"], key=lambda r: r["doc_id"])
    assert [r["arguments"] for r in plain] == [r["arguments"] for r in ours]


def test_a_model_arg_given_twice_is_an_error():
    with pytest.raises(UserError, match="batch_size is given both in --model_args and as --batch_size"):
        build_model("hf-causal", "pretrained=x,batch_size=4", batch_size=8)
    with pytest.raises(UserError, match=r"Unknown --model 'hf-casual'. Did you mean hf-causal"):
        build_model("hf-casual", "pretrained=x")


def test_an_api_model_without_its_packages_says_which_extra_to_install(monkeypatch):
    import lm_eval.models.api_models as api_models

    real = api_models.find_spec
    monkeypatch.setattr(api_models, "find_spec", lambda pkg: None if pkg == "aiohttp" else real(pkg))
    with pytest.raises(UserError) as err:
        build_model("local-chat-completions", "model=judge,base_url=http://127.0.0.1:9/v1/chat/completions")
    assert str(err.value) == ("--model local-chat-completions is an API model and needs lm-eval's API packages "
                              "(aiohttp, tenacity): pip install 'lm-eval-ja[api]'.")


def test_a_model_whose_tokenizer_cannot_be_found_is_one_error_line(tmp_path):
    with pytest.raises(UserError) as err:
        build_model("local-completions", f"model=m,base_url=http://127.0.0.1:9/v1/completions,"
                    f"tokenizer_backend=huggingface,tokenizer={tmp_path / 'no-tokenizer'}")
    assert str(err.value).startswith("--model local-completions could not be built (")
    assert str(err.value).endswith("); check the paths and hub ids in --model_args.")
