"""The one model_args parser: syntax, typing, duplicate keys, booleans; no message shows a secret."""

from __future__ import annotations

import pytest

from lm_eval_ja.errors import UserError
from lm_eval_ja.modelargs import as_bool, is_secret, parse_model_args, redact_model_args, split_model_args


def test_typed_values():
    assert parse_model_args("pretrained=rinna/x,use_fast=False,batch_size=8,temp=0.5,load_in_8bit=true") == {
        "pretrained": "rinna/x", "use_fast": False, "batch_size": 8, "temp": 0.5, "load_in_8bit": True}
    assert split_model_args("use_fast=False") == {"use_fast": "False"}
    assert parse_model_args("") == {} and parse_model_args(None) == {}
    assert parse_model_args({"max_length": "512", "peft": "a"}) == {"max_length": 512, "peft": "a"}


@pytest.mark.parametrize("text, message", [
    ("pretrained", "Malformed --model_args item 'pretrained': expected key=value pairs"),
    ("=x", "Malformed --model_args item 1 (no key before its =, its value not shown)"),
    ("pretrained=a,pretrained=b", "--model_args gives pretrained twice (pretrained=a and pretrained=b); "
                                  "give each key once."),
])
def test_errors(text, message):
    with pytest.raises(UserError) as err:
        parse_model_args(text)
    assert str(err.value).startswith(message)


def test_booleans_have_one_rule():
    assert as_bool("k", "False") is False and as_bool("k", "true") is True and as_bool("k", 1) is True
    with pytest.raises(UserError, match=r"k='maybe' is not a boolean; use k=True or k=False."):
        as_bool("k", "maybe")


# Every error path of modelargs, fed secrets in every position (before, after and inside the faulty item).
SECRET_INPUTS = [
    "model=gpt-4o,api_key=sk-A,api_key=sk-B",  # repeated secret key (the reported leak)
    "api_key=sk-A,model=m,api_key=sk-B",
    "token=sk-A,TOKEN=sk-B,token=sk-C",
    "model=m,openai_api_key=sk-A,openai_api_key=sk-B",
    "api_key=sk-A,sk-B",  # a secret with a comma in it: its tail is a malformed item
    "api_key=sk-A,=sk-B",  # a keyless item after a secret
    "=sk-A",  # a keyless secret
    "model=m,sk-A",  # a secret without its key
    "hf_token=sk-A,pretrained",  # a malformed item right after a secret
    "api_key=sk-A,model=a,model=b",  # another key repeated after a secret
    "password=sk-A,,password=sk-B",
]


@pytest.mark.parametrize("text", SECRET_INPUTS)
@pytest.mark.parametrize("flag", ["--model_args", "--judge_model_args"])
def test_no_error_message_shows_a_secret(text, flag):
    with pytest.raises(UserError) as err:
        split_model_args(text, flag)
    message = str(err.value)
    assert "sk-" not in message and message.startswith(("Malformed " + flag, flag)), message
    with pytest.raises(UserError) as err:
        parse_model_args(text)
    assert "sk-" not in str(err.value)
    assert "sk-" not in redact_model_args(text)  # what result files, manifests and logs show of it


def test_secret_values_are_redacted_in_booleans_and_strings():
    assert is_secret("api_key") and is_secret("OPENAI_API_KEY") and is_secret("client_secret") and not is_secret("model")
    with pytest.raises(UserError) as err:
        as_bool("api_key", "sk-A")
    assert "sk-" not in str(err.value) and "api_key=<redacted>" in str(err.value)
    assert redact_model_args("model=m,api_key=sk-A,batch=2") == "model=m,api_key=<redacted>,batch=2"
    assert redact_model_args("pretrained=a,use_fast") == "pretrained=a,use_fast"  # a harmless malformed item stays
