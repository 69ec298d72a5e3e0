"""The registry of benchmark families: every task, group and suite name lm-eval-ja defines comes from here.

:data:`FAMILY_MODULES` lists the family modules in leaderboard order (the reference's columns first). A test or a
plug-in adds a family with :func:`register`. Lookups:

* :func:`resolve` — a task name to its :class:`ResolvedTask` (benchmark spec, task version, prompt version);
* :func:`task_names`, :func:`groups`, :func:`suites`, :func:`all_names`;
* :func:`readers` — every file format reader (generic ones and the families' own);
* :func:`headline` — what a leaderboard shows for a result name, with its scale.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache

from lm_eval_ja.benchmarks.spec import Benchmark, Family, Group, Headline, Suite, TaskVersion
from lm_eval_ja.names import TaskName

#: Family modules under lm_eval_ja.benchmarks, in leaderboard column order.
FAMILY_MODULES = ("jglue_choice", "extractive_qa", "xlsum", "xwinograd", "mgsm", "llmjp", "jmmlu", "mt_bench", "elyza",
                  "suites")

_extra: list[Family] = []


@lru_cache(maxsize=1)
def _builtin() -> tuple[Family, ...]:
    return tuple(importlib.import_module(f"lm_eval_ja.benchmarks.{m}").FAMILY for m in FAMILY_MODULES)


def families() -> tuple[Family, ...]:
    return _builtin() + tuple(_extra)


def register(family: Family) -> Family:
    """Add a family (its benchmarks, readers, groups and suites) to every lookup; returns it."""
    known = {b.name for f in families() for b in f.benchmarks}
    clash = known & {b.name for b in family.benchmarks}
    if clash:
        raise ValueError(f"benchmark {sorted(clash)[0]!r} is already registered")
    _extra.append(family)
    _clear()
    return family


def unregister(family: Family) -> None:
    _extra.remove(family)
    _clear()


def _clear() -> None:
    for fn in (_tasks, _groups, _suites, readers):
        fn.cache_clear()


# ---------------------------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class ResolvedTask:
    """What a task name stands for."""

    name: str
    benchmark: Benchmark
    version: TaskVersion
    #: None for a benchmark without a prompt (XWinograd)
    prompt_version: str | None


def benchmarks() -> tuple[Benchmark, ...]:
    return tuple(b for f in families() for b in f.benchmarks)


def benchmark(name: str) -> Benchmark | None:
    return next((b for b in benchmarks() if b.name == name), None)


def family_of(bench: Benchmark) -> Family:
    return next(f for f in families() if any(b is bench for b in f.benchmarks))


def prompt_versions(bench: Benchmark, version: TaskVersion) -> list[str | None]:
    """The prompt versions a task version is offered in: every version file defining its template key."""
    if version.template is None:
        return [None]
    from lm_eval_ja.templates import supported_versions

    return list(supported_versions(version.template, family_of(bench).prompt_templates))


@lru_cache(maxsize=1)
def _tasks() -> dict[str, ResolvedTask]:
    out: dict[str, ResolvedTask] = {}
    for bench in benchmarks():
        for version in bench.versions:
            for prompt in prompt_versions(bench, version):
                name = str(TaskName(bench.name, version.version, prompt))
                out[name] = ResolvedTask(name, bench, version, prompt)
                if bench.alias == (version.version, prompt):
                    out[bench.name] = ResolvedTask(bench.name, bench, version, prompt)
    return out


def task_names() -> list[str]:
    """Every task name (aliases included), in registry order."""
    return list(_tasks())


def resolve(name: str) -> ResolvedTask | None:
    return _tasks().get(name)


# ---------------------------------------------------------------------------------------------- groups, suites


@lru_cache(maxsize=1)
def _groups() -> dict[str, Group]:
    return {g.name: g for f in families() for g in f.groups}


@lru_cache(maxsize=1)
def _suites() -> dict[str, Suite]:
    return {s.name: s for f in families() for s in f.suites}


def groups() -> dict[str, Group]:
    return dict(_groups())


def suites() -> dict[str, Suite]:
    return dict(_suites())


def group_leaves(name: str) -> list[str]:
    """The tasks under group ``name``, nested groups expanded, in order (``[name]`` for a task)."""
    found = _groups().get(name)
    if found is None:
        return [name]
    return [leaf for member in found.members for leaf in group_leaves(member)]


def runs_in_lm_eval(name: str) -> bool:
    """Whether plain lm-eval can run the task or group (a conversation task needs lm-eval-ja's run loop)."""
    return not any((resolve(t) is not None and resolve(t).benchmark.conversation) for t in group_leaves(name))


def all_names() -> list[str]:
    """Every task, group and suite name, sorted."""
    return sorted(set(_tasks()) | set(_groups()) | set(_suites()))


# ---------------------------------------------------------------------------------------------- data, reports


@lru_cache(maxsize=1)
def readers() -> dict:
    from lm_eval_ja.data import READERS

    out = dict(READERS)
    for family in families():
        out.update(family.readers)
    return out


def headline(name: str) -> tuple[str, Headline] | None:
    """``(column, headline)`` for a result name: a group's own, else its benchmark's; None if neither is known."""
    group = _groups().get(name)
    if group is not None:
        return (TaskName.parse(name).benchmark, group.headline) if group.headline else None
    bench = benchmark(TaskName.parse(name).benchmark)
    return (bench.name, bench.headline) if bench else None


def column_order() -> list[str]:
    """Leaderboard column order: each family's benchmarks, then its groups' columns, in registry order."""
    out: list[str] = []
    for family in families():
        out += [b.name for b in family.benchmarks]
        out += [TaskName.parse(g.name).benchmark for g in family.groups]
    return list(dict.fromkeys(out))
