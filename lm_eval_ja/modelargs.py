"""The one parser of ``--model_args`` strings (``key=value,key=value``), for every caller.

:func:`split_model_args` checks the syntax and gives the raw strings; :func:`parse_model_args` also types the
values with one rule: ``True``/``true`` and ``False``/``false`` are booleans, then integers, then floats, else
the string. A key given twice is an error (the reference silently kept the last value).

No message this module builds, and no string :func:`redact_model_args` returns, holds a secret value
(:func:`is_secret` keys such as ``api_key``), whatever the input and the order of the checks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lm_eval_ja.errors import UserError

_EXAMPLE = "e.g. pretrained=rinna/japanese-gpt-1b,use_fast=False"
#: a malformed item shown in an error message as typed: a short identifier (a key that lacks its ``=value``)
_SAFE_ITEM = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,29}")


def _items(model_args: str) -> list[tuple[str, str, str]]:
    """The ``(key, "=", value)`` items of a model_args string (``sep`` is ``""`` for an item without ``=``)."""
    out = []
    for item in [s for s in str(model_args or "").split(",") if s.strip()]:
        key, sep, value = item.partition("=")
        out.append((key.strip(), sep, value.strip()))
    return out


def _shown(item: tuple[str, str, str], after_secret: bool) -> str | None:
    """How a malformed item may be shown (in a message or a redacted string): as typed, or None (hidden).

    An item right after a secret key's may be the rest of that secret (a value with a comma in it), and an item
    without a key may be a secret itself, so only a short identifier-like item (a key without ``=``) is shown.
    """
    key, sep, _ = item
    if not after_secret and not sep and _SAFE_ITEM.fullmatch(key) and not is_secret(key):
        return key
    return None


def split_model_args(model_args: str | Mapping[str, Any] | None, flag: str = "--model_args") -> dict[str, str]:
    """``"pretrained=x,use_fast=False"`` → ``{"pretrained": "x", "use_fast": "False"}`` (a mapping is stringified).

    No error message shows a secret value (:func:`is_secret`), whatever the input; ``flag`` names the option.
    """
    if isinstance(model_args, Mapping):
        return {str(k): str(v) for k, v in model_args.items()}
    out: dict[str, str] = {}
    previous = None
    for number, item in enumerate(_items(model_args), 1):
        key, sep, value = item
        if not sep or not key:
            shown = _shown(item, bool(previous and is_secret(previous)))
            where = [f"after {previous}"] if previous else []
            hidden = "no key before its =, its value not shown" if sep else "not shown: it may be part of a secret"
            what = f"{shown!r}" if shown is not None else f"{number} ({'; '.join(where + [hidden])})"
            raise UserError(f"Malformed {flag} item {what}: expected key=value pairs separated by commas, {_EXAMPLE}.")
        if key in out:
            if is_secret(key):
                raise UserError(f"{flag} gives {key} twice (values not shown: secret); give each key once.")
            raise UserError(f"{flag} gives {key} twice ({key}={out[key]} and {key}={value}); give each key once.")
        out[key] = value
        previous = key
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
    shown = "<redacted>" if is_secret(key) else repr(value)
    raise UserError(f"{key}={shown} is not a boolean; use {key}=True or {key}=False.")


#: model_args whose values are secrets: never written to a result file, a log or a fingerprint.
_SECRET = {"key", "api_key", "token", "hf_token", "auth_token", "access_token", "secret", "password"}


def is_secret(key: str) -> bool:
    key = key.lower()
    return key in _SECRET or key.endswith("api_key") or key.endswith("_secret")


def redacted(args: Mapping[str, Any]) -> dict[str, Any]:
    """model_args with secret values replaced by ``"<redacted>"``."""
    return {k: ("<redacted>" if is_secret(k) else v) for k, v in args.items()}


def redact_model_args(model_args: str) -> str:
    """A ``key=value,...`` string with secret values replaced by ``<redacted>``.

    Works on strings that do not parse too (a repeated key, a malformed item): every secret key's value is
    replaced, and so is a malformed item unless it is a short identifier not right after a secret (it may be a
    secret, or the rest of one that held a comma).
    """
    out, after_secret = [], False
    for key, sep, value in _items(model_args):
        if sep and key and is_secret(key):
            out.append(f"{key}=<redacted>")
            after_secret = True
        elif not sep or not key:  # malformed: kept only when it cannot be (part of) a secret
            shown = _shown((key, sep, value), after_secret)
            out.append("<redacted>" if shown is None else shown)
        else:
            out.append(f"{key}{sep}{value}")
            after_secret = False
    return ",".join(out)
