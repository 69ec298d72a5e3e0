"""The one model_args parser: syntax, typing, duplicate keys, booleans."""

from __future__ import annotations

import pytest

from lm_eval_ja.errors import UserError
from lm_eval_ja.modelargs import as_bool, parse_model_args, split_model_args


def test_typed_values():
    assert parse_model_args("pretrained=rinna/x,use_fast=False,batch_size=8,temp=0.5,load_in_8bit=true") == {
        "pretrained": "rinna/x", "use_fast": False, "batch_size": 8, "temp": 0.5, "load_in_8bit": True}
    assert split_model_args("use_fast=False") == {"use_fast": "False"}
    assert parse_model_args("") == {} and parse_model_args(None) == {}
    assert parse_model_args({"max_length": "512", "peft": "a"}) == {"max_length": 512, "peft": "a"}


@pytest.mark.parametrize("text, message", [
    ("pretrained", "Malformed --model_args item 'pretrained': expected key=value pairs"),
    ("=x", "Malformed --model_args item '=x'"),
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
