"""Which tasks a run evaluates, each with its few-shot count and limit.

``--tasks`` is a comma list of task names, fnmatch patterns (``jsquad-1.1-*``), groups (``jmmlu-stem-llmjp-1.0``:
their member tasks) and suites (``ja8``: their tasks with the suite's few-shot counts), evaluated in the given order
(a pattern's matches sorted, a task named twice evaluated once). ``--num_fewshot`` and ``--limit`` give one value
for every task or one per selected task; without ``--num_fewshot`` a suite member gets its suite's count and any
other task 0.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any

from lm_eval_ja.benchmarks import registry
from lm_eval_ja.errors import UserError
from lm_eval_ja.names import TaskName


@dataclass(frozen=True)
class SelectedTask:
    name: str
    num_fewshot: int
    #: the first N documents (int) or a fraction of them (float); None: all
    limit: int | float | None = None


@dataclass(frozen=True)
class Selection:
    tasks: tuple[SelectedTask, ...]
    #: the groups named (directly or by a pattern), with the groups nested in them: result.json reports these
    groups: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tasks]

    @property
    def num_fewshot(self) -> list[int]:
        return [t.num_fewshot for t in self.tasks]

    @property
    def limits(self) -> list[int | float | None]:
        return [t.limit for t in self.tasks]

    @classmethod
    def of(cls, names: Sequence[str], num_fewshot: Sequence[int] | int = 0,
           limit: Sequence[int | float | None] | int | float | None = None, groups: Sequence[str] = ()
           ) -> "Selection":
        """A selection of exactly these task names (tests and the Python API), reporting these groups."""
        n = len(names)
        shots = list(num_fewshot) if isinstance(num_fewshot, Sequence) else [num_fewshot] * n
        limits = list(limit) if isinstance(limit, Sequence) else [limit] * n
        return cls(tuple(SelectedTask(t, s, lim) for t, s, lim in zip(names, shots, limits)),
                   tuple(nested_groups(groups)))


def nested_groups(names: Sequence[str]) -> list[str]:
    """These groups and every group nested in them, each once, parents first."""
    out: list[str] = []
    known = registry.groups()
    for name in names:
        if name in known and name not in out:
            out.append(name)
            out += [g for g in nested_groups(list(known[name].members)) if g not in out]
    return out


def available_names(include_builtin: bool = False) -> list[str]:
    """lm-eval-ja's task, group and suite names (plus lm-eval's built-in tasks if asked)."""
    names = registry.all_names()
    if include_builtin:
        from lm_eval_ja.builtin_tasks import task_manager

        names = sorted(set(names) | set(task_manager(True).all_tasks))
    return names


def expand(spec: str, available: Sequence[str]) -> tuple[list[tuple[str, int | None]], list[str]]:
    """Names, patterns, groups and suites → ``(task, suite few-shot count or None)`` in order, and the groups
    named."""
    suites, groups = registry.suites(), registry.groups()
    out: list[tuple[str, int | None]] = []
    named_groups: list[str] = []
    for item in [s.strip() for s in spec.split(",") if s.strip()]:
        matches = sorted(n for n in available if fnmatch.fnmatchcase(n, item))
        if not matches:
            raise UserError(unknown_task_message(item, available))
        for match in matches:
            if match in suites:
                members: list[tuple[str, int | None]] = list(suites[match].members)
            else:
                members = [(leaf, None) for leaf in registry.group_leaves(match)]
                named_groups += [match] if match in groups else []
            for name, shots in members:
                if all(name != seen for seen, _ in out):
                    out.append((name, shots))
    if not out:
        raise UserError("No task given; pass --tasks NAME[,NAME...] (see --list_tasks).")
    return out, nested_groups(named_groups)


def unknown_task_message(name: str, available: Sequence[str]) -> str:
    """One sentence: the prompt versions a known task version supports, or the closest task names."""
    parsed = TaskName.parse(name)
    if parsed.prompt_version is not None:
        family = parsed.versioned_family
        versions = [str(TaskName.parse(n).prompt_version) for n in available
                    if TaskName.parse(n).versioned_family == family and TaskName.parse(n).prompt_version]
        if versions:
            return (f"Task {name!r}: prompt version {parsed.prompt_version!r} is not available for {family}; "
                    f"supported versions: {', '.join(versions)}.")
    close = get_close_matches(name, available, n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"Unknown task {name!r}.{hint} Run with --list_tasks to see every task name."


def parse_limit(value: str) -> int | float | None:
    """``--limit``: an integer ≥ 1 (the first N documents), a fraction 0 < x < 1, or ``all`` (no limit)."""
    text = str(value).strip()
    if text.lower() in ("all", "none"):
        return None
    if text.isdigit() and int(text) >= 1:
        return int(text)
    try:
        fraction = float(text)
    except ValueError:
        fraction = math.nan
    if "." in text and not any(c in text.lower() for c in "en") and 0 < fraction < 1:
        return fraction
    raise UserError(f"--limit {text!r} is not an integer ≥ 1 (the first N documents), a fraction between 0 and 1 "
                    "(e.g. 0.1) or 'all'; give one value, or one per task.")


def parse_num_fewshot(value: str) -> int:
    """``--num_fewshot``: an integer ≥ 0 (whether the shot pool is that large is checked with the data)."""
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    raise UserError(f"--num_fewshot {text!r} is not an integer ≥ 0; give one value, or one per task.")


def per_task(values: Any, n_tasks: int, what: str, parse) -> list[Any]:
    """A comma list (or sequence) with one value per task, or one value for all (the reference required a list)."""
    if values is None:
        return [None] * n_tasks
    items = [str(v).strip() for v in values] if isinstance(values, (list, tuple)) else \
        [v.strip() for v in str(values).split(",")]
    parsed = [parse(v) for v in items]
    if len(parsed) == 1:
        return parsed * n_tasks
    if len(parsed) != n_tasks:
        raise UserError(
            f"--{what} has {len(parsed)} values but {n_tasks} tasks were selected; give one value per task "
            f"(in --tasks order) or a single value for all."
        )
    return parsed


def select(tasks: str | Sequence[str], num_fewshot: Any = None, limit: Any = None,
           include_builtin: bool = False) -> Selection:
    """The run's tasks with one few-shot count and one limit each (see the module docstring)."""
    spec = tasks if isinstance(tasks, str) else ",".join(tasks)
    expanded, groups = expand(spec, available_names(include_builtin))
    if num_fewshot is None:  # suites bring their few-shot counts (ja8: 3,3,3,2,1,1,0,5); other tasks 0
        shots = [s or 0 for _, s in expanded]
    else:
        shots = per_task(num_fewshot, len(expanded), "num_fewshot", parse_num_fewshot)
    limits = per_task(limit, len(expanded), "limit", parse_limit)
    return Selection(tuple(SelectedTask(name, s, lim) for (name, _), s, lim in zip(expanded, shots, limits)),
                     tuple(groups))
