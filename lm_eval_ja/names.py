"""``TaskName``: the one place that splits and joins task names.

Every name lm-eval-ja accepts is ``<benchmark>[-<task version>][-<prompt version>]``:

* jp-stable names: ``jnli-1.1-0.3``, ``jcommonsenseqa-1.1-0.2.1`` (benchmark, task version, prompt version);
* llm-jp style names: ``niilc-llmjp-1.0`` (no task version; prompt version ``llmjp-1.0``),
  ``jsts-1.1-llmjp-1.0``, ``jmmlu_anatomy-llmjp-1.0``;
* plain names: ``jnli``, ``xwinograd_ja`` (an alias or a task without versions).

* protocol names: ``ja_mt_bench_writing-fastchat``, ``ja_mt_bench-stability-fd01e11`` (a task version that
  reproduces a published protocol takes the place of the prompt version: a lower-case word, optionally followed by
  a hyphen and a 7-digit commit).

A prompt version is digits and dots, optionally after a lower-case word and a hyphen (``llmjp-1.0``), or a protocol
name; a task version is digits and dots. A name of any other shape (an lm-eval built-in such as ``gsm8k_cot-self-consistency``)
parses to itself as the benchmark with no versions. Groups and suites are names too, but they are known by the
registry, not by their shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = re.compile(
    r"^(?P<benchmark>[A-Za-z0-9_]+?)"
    r"(?:-(?P<task_version>\d+(?:\.\d+)*))?"
    r"(?:-(?P<prompt_version>(?:[a-z]+-)?\d+(?:\.\d+)*|[a-z][a-z0-9_]*(?:-[0-9a-f]{7})?))?$"
)


@dataclass(frozen=True, order=True)
class TaskName:
    benchmark: str
    task_version: str | None = None
    prompt_version: str | None = None

    @classmethod
    def parse(cls, name: str) -> "TaskName":
        m = _NAME.match(name)
        if m is None:
            return cls(name)
        return cls(m["benchmark"], m["task_version"], m["prompt_version"])

    def __str__(self) -> str:
        return "-".join(p for p in (self.benchmark, self.task_version, self.prompt_version) if p)

    @property
    def is_plain(self) -> bool:
        """A name without versions: an alias (``jnli``) or a task that has none (``xwinograd_ja``)."""
        return self.task_version is None and self.prompt_version is None

    @property
    def versioned_family(self) -> str:
        """``jnli-1.1`` for ``jnli-1.1-0.3``: the name without its prompt version."""
        return "-".join(p for p in (self.benchmark, self.task_version) if p)
