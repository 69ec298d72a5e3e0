"""The one parser of ``--model_args`` strings (``key=value,key=value``), for every caller.

:func:`split_model_args` checks the syntax and gives the raw strings; :func:`parse_model_args` also types the
values with one rule: ``True``/``true`` and ``False``/``false`` are booleans, then integers, then floats, else
the string. A key given twice is an error (the reference silently kept the last value).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lm_eval_ja.errors import UserError

_EXAMPLE = "e.g. pretrained=rinna/japanese-gpt-1b,use_fast=False"


def split_model_args(model_args: str | Mapping[str, Any] | None) -> dict[str, str]:
    """``"pretrained=x,use_fast=False"`` → ``{"pretrained": "x", "use_fast": "False"}`` (a mapping is stringified)."""
    if isinstance(model_args, Mapping):
        return {str(k): str(v) for k, v in model_args.items()}
    out: dict[str, str] = {}
    for item in [s for s in str(model_args or "").split(",") if s.strip()]:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"Malformed --model_args item {item!r}: expected key=value pairs separated by commas, "
                            f"{_EXAMPLE}.")
        if key in out:
            raise UserError(f"--model_args gives {key} twice ({key}={out[key]} and {key}={value.strip()}); "
                            "give each key once.")
        out[key] = value.strip()
    return out


def typed_value(value: Any) -> Any:
    """The typing rule of model_args values (non-strings pass through)."""
    if not isinstance(value, str):
        return value
    if value in ("True", "true"):
        return True
    if value in ("False", "false"):
        return False
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def parse_model_args(model_args: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """``key=value`` pairs with typed values (see the module docstring)."""
    if isinstance(model_args, Mapping):
        return {str(k): typed_value(v) for k, v in model_args.items()}
    return {k: typed_value(v) for k, v in split_model_args(model_args).items()}


def as_bool(key: str, value: Any) -> bool:
    """A boolean model_arg given as a bool, 0/1 or a string; anything else is an error naming the key."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise UserError(f"{key}={value!r} is not a boolean; use {key}=True or {key}=False.")


#: model_args whose values are secrets: never written to a result file, a log or a fingerprint.
_SECRET = {"key", "api_key", "token", "hf_token", "auth_token", "access_token", "secret", "password"}


def is_secret(key: str) -> bool:
    key = key.lower()
    return key in _SECRET or key.endswith("api_key") or key.endswith("_secret")


def redacted(args: Mapping[str, Any]) -> dict[str, Any]:
    """model_args with secret values replaced by ``"<redacted>"``."""
    return {k: ("<redacted>" if is_secret(k) else v) for k, v in args.items()}


def redact_model_args(model_args: str) -> str:
    """A ``key=value,...`` string with secret values replaced (left as is when it does not parse)."""
    try:
        args = split_model_args(model_args)
    except UserError:
        return model_args
    return ",".join(f"{k}={v}" for k, v in redacted(args).items())
