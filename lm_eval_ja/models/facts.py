"""What tasks need to know about the evaluated model: its tokenizer, context length and generation cap.

Built once per run — from the loaded lm-eval ``LM`` (:meth:`ModelFacts.from_lm`), or, for plain
``lm_eval --include_path`` runs, from the model_args lm-eval passes to tasks as metadata
(:meth:`ModelFacts.from_model_args`) — and handed to every task. Generation caps (JSQuAD's gold-answer length),
prompt budgets (MGSM, JAQKET v2, XL-Sum) and XL-Sum's ROUGE-2 on tokenizer pieces read them; without a tokenizer
those features are off (and said so once).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from lm_eval_ja.modelargs import as_bool, parse_model_args

log = logging.getLogger("lm_eval_ja")

#: What the reference's hf-causal uses when nothing says otherwise.
DEFAULT_MAX_LENGTH = 2048
DEFAULT_MAX_GEN_TOKS = 256


class ModelFacts:
    """The evaluated model's tokenizer (None if unknown), ``max_length`` and ``max_gen_toks``.

    The tokenizer and the context length may be given as zero-argument callables, resolved on first use (a plain
    lm-eval run loads them only if a task needs them).
    """

    def __init__(self, tokenizer: Any = None, max_length: Any = DEFAULT_MAX_LENGTH,
                 max_gen_toks: int = DEFAULT_MAX_GEN_TOKS):
        self._tokenizer, self._max_length = tokenizer, max_length
        self.max_gen_toks = int(max_gen_toks)

    @property
    def tokenizer(self):
        if callable(self._tokenizer) and not hasattr(self._tokenizer, "encode"):
            self._tokenizer = self._tokenizer()
        return self._tokenizer

    @property
    def max_length(self) -> int:
        if callable(self._max_length):
            self._max_length = self._max_length()
        return int(self._max_length)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` under the evaluated model's tokenizer, without special tokens."""
        return self.tokenizer.encode(text, add_special_tokens=False)

    @classmethod
    def from_lm(cls, lm) -> "ModelFacts":
        """Facts of a loaded lm-eval model (API models without a tokenizer give None)."""
        tokenizer = getattr(lm, "tokenizer", None)
        if tokenizer is not None and not hasattr(tokenizer, "encode"):
            tokenizer = None
        return cls(tokenizer, getattr(lm, "max_length", None) or DEFAULT_MAX_LENGTH,
                   getattr(lm, "max_gen_toks", None) or DEFAULT_MAX_GEN_TOKS)

    @classmethod
    def from_model_args(cls, meta: Mapping[str, Any] | None) -> "ModelFacts":
        """Facts from model_args (``pretrained``/``tokenizer``/``gguf_file``/``max_length``/``max_gen_toks``)."""
        args = parse_model_args(dict(meta or {}))
        key = tuple(sorted((k, str(v)) for k, v in args.items()
                           if k in ("pretrained", "tokenizer", "gguf_file", "trust_remote_code", "use_fast",
                                    "max_length", "revision")))
        return cls(lambda: _tokenizer(key), lambda: _max_length(key),
                   int(args.get("max_gen_toks") or DEFAULT_MAX_GEN_TOKS))


@lru_cache(maxsize=8)
def _tokenizer(key: tuple[tuple[str, str], ...]):
    args = dict(key)
    name = args.get("tokenizer") or args.get("pretrained")
    if not name:
        log.warning("No tokenizer known to the tasks: no gold-length generation cap and no prompt budget "
                    "(use lm-eval-ja's main.py or pass model_args with pretrained=).")
        return None
    from transformers import AutoTokenizer

    gguf_file = args.get("gguf_file") if not args.get("tokenizer") else None
    return AutoTokenizer.from_pretrained(
        name, trust_remote_code=as_bool("trust_remote_code", args.get("trust_remote_code", False)),
        use_fast=as_bool("use_fast", args.get("use_fast", True)),
        **({"revision": args["revision"]} if args.get("revision") and not args.get("tokenizer") else {}),
        **({"gguf_file": gguf_file} if gguf_file else {}),
    )


@lru_cache(maxsize=8)
def _max_length(key: tuple[tuple[str, str], ...]) -> int:
    """model_args ``max_length``, else the model's config, else 2048."""
    args = dict(key)
    if args.get("max_length"):
        return int(args["max_length"])
    name = args.get("pretrained")
    if name:
        try:
            from transformers import AutoConfig

            from lm_eval_ja.models.hf_settings import default_max_length

            config = AutoConfig.from_pretrained(
                name, trust_remote_code=as_bool("trust_remote_code", args.get("trust_remote_code", False)),
                **({"gguf_file": args["gguf_file"]} if args.get("gguf_file") else {}))
            return default_max_length(config, _tokenizer(key))
        except (OSError, ValueError) as exc:
            log.warning("Could not read the context length of %s (%s); assuming %d.", name, exc, DEFAULT_MAX_LENGTH)
    return DEFAULT_MAX_LENGTH
