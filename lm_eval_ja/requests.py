"""Request builders every family can use: one log-likelihood per choice, or one generation.

A benchmark's ``requests`` callable takes ``(task, doc, ctx, instance_kwargs)`` and returns lm-eval
``Instance`` s; the benchmark-specific ones (stop strings, token caps, prompt truncation) live in the family
modules and build on these.
"""

from __future__ import annotations

from typing import Any

from lm_eval.api.instance import Instance


def loglikelihood_per_choice(task, doc, ctx, kwargs) -> list[Instance]:
    """``loglikelihood(ctx, choice)`` for every choice, in choice order (continuations carry no leading space)."""
    return [
        Instance(request_type="loglikelihood", doc=doc, arguments=(ctx, choice), idx=i, **kwargs)
        for i, choice in enumerate(task.doc_to_choice(doc))
    ]


def generation(task, doc, ctx, kwargs, until: list[str], max_gen_toks: int | None) -> Instance:
    """One ``generate_until`` request: the task's generation kwargs with these stop strings and token cap."""
    gen_kwargs: dict[str, Any] = dict(task.config.generation_kwargs or {})
    gen_kwargs["until"] = list(until)
    if max_gen_toks is not None:
        gen_kwargs["max_gen_toks"] = max_gen_toks
    return Instance(request_type="generate_until", doc=doc, arguments=(ctx, gen_kwargs), idx=0, **kwargs)
