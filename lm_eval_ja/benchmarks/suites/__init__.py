"""Suites: named task lists with their own few-shot counts.

``ja8`` is the reference's "JP eval 8" (``lm_eval/suites/configs/ja8.conf`` and its README leaderboard) with its
few-shot counts, in leaderboard order; its task versions are ja8.conf's (JNLI 1.3, JAQKET v2 0.2).
``ja8-<prompt version>`` exists for every prompt version that gives all 8 tasks; 0.2 takes XLSum and MGSM at 0.0
(their only non-instruction prompt), as the published base-model rows did. ``ja8`` = ``ja8-0.3`` (ja-alpaca).
"""

from __future__ import annotations

from lm_eval_ja.benchmarks.spec import Family, Suite

JA8 = (("jcommonsenseqa-1.1", 3), ("jnli-1.3", 3), ("marc_ja-1.1", 3), ("jsquad-1.1", 2), ("jaqket_v2-0.2", 1),
       ("xlsum_ja-1.0", 1), ("xwinograd_ja", 0), ("mgsm-1.0", 5))
#: per prompt version, the members that take another prompt version
JA8_PROMPTS = {"0.2": {"xlsum_ja-1.0": "0.0", "mgsm-1.0": "0.0"}, "0.3": {}, "0.4": {}, "0.5": {}, "0.6": {}}
JA8_DEFAULT = "0.3"
#: members without a prompt version (their name has none)
_NO_PROMPT = {"xwinograd_ja"}


def _members(prompt: str) -> tuple[tuple[str, int], ...]:
    return tuple((family if family in _NO_PROMPT else f"{family}-{JA8_PROMPTS[prompt].get(family, prompt)}", shots)
                 for family, shots in JA8)


FAMILY = Family(
    order=100,
    name="suites",
    benchmarks=(),
    suites=tuple(
        [Suite(f"ja8-{p}", _members(p), f"The reference's 8-task JP leaderboard suite, prompt version {p}.")
         for p in JA8_PROMPTS]
        + [Suite("ja8", _members(JA8_DEFAULT), f"The reference's 8-task JP leaderboard suite (ja8.conf) with prompt "
                                               f"version {JA8_DEFAULT}; see ja8-<prompt>.")]
    ),
)
