"""The registry of benchmark families: every task, group and suite name lm-eval-ja defines comes from here.

Families are found, not listed: every package under ``lm_eval_ja/benchmarks/`` with a ``FAMILY`` (its module plus
its prompt files beside it), then every family a package outside this repository declares under the entry-point
group ``lm_eval_ja.benchmarks`` (Python packaging's plug-in convention; the entry point names a ``Family`` or a
function returning one). Each is validated when it is registered (:func:`validate`: one line says what is wrong).
A test adds a family with :func:`register`. Lookups:

* :func:`resolve` — a task name to its :class:`ResolvedTask` (benchmark spec, task version, prompt version);
* :func:`task_names`, :func:`groups`, :func:`suites`, :func:`all_names`;
* :func:`readers` — every file format reader (generic ones and the families' own);
* :func:`headline` — what a leaderboard shows for a result name, with its scale.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lm_eval_ja.benchmarks.spec import Benchmark, Family, Group, Headline, Suite, TaskVersion, validate
from lm_eval_ja.errors import UserError
from lm_eval_ja.names import TaskName

#: The entry-point group through which an installed package adds benchmark families.
ENTRY_POINT_GROUP = "lm_eval_ja.benchmarks"

_extra: list[Family] = []


def _with_prompts_beside(family: Family, module) -> Family:
    """A family whose prompt files are, by default, ``prompts/`` beside its module."""
    if family.prompt_templates is not None or not getattr(module, "__file__", None):
        return family
    return dataclasses.replace(family, prompt_templates=str(Path(module.__file__).resolve().parent / "prompts"))


@lru_cache(maxsize=1)
def _builtin() -> tuple[Family, ...]:
    import lm_eval_ja.benchmarks as package

    found = []
    for info in pkgutil.iter_modules(package.__path__):
        if not info.ispkg:
            continue  # spec.py, registry.py: the registry itself
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if not isinstance(getattr(module, "FAMILY", None), Family):
            raise UserError(f"lm_eval_ja/benchmarks/{info.name}/ has no FAMILY (a benchmarks.spec.Family); every "
                            "package there is a benchmark family.")
        found.append(_with_prompts_beside(module.FAMILY, module))
    return tuple(sorted(found, key=lambda f: (f.order, f.name)))


@lru_cache(maxsize=1)
def _plugins() -> tuple[Family, ...]:
    from importlib.metadata import entry_points

    found = []
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            loaded = entry.load()
        except Exception as exc:  # noqa: BLE001 - a broken plug-in is named, not a traceback
            raise UserError(f"The benchmark plug-in {entry.name} ({entry.value}) cannot be loaded "
                            f"({type(exc).__name__}: {exc}); fix or uninstall that package.") from None
        family = loaded() if callable(loaded) and not isinstance(loaded, Family) else loaded
        if not isinstance(family, Family):
            raise UserError(f"The benchmark plug-in {entry.name} ({entry.value}) gives a {type(family).__name__}, "
                            "not an lm_eval_ja.benchmarks.spec.Family.")
        found.append(_with_prompts_beside(family, importlib.import_module(entry.module)))
    return tuple(sorted(found, key=lambda f: (f.order, f.name)))


@lru_cache(maxsize=1)
def _validated() -> tuple[Family, ...]:
    families: list[Family] = []
    for family in _builtin() + _plugins():
        _check_new(family, families)
        families.append(family)
    return tuple(families)


def families() -> tuple[Family, ...]:
    return _validated() + tuple(_extra)


def _check_new(family: Family, known: list[Family] | tuple[Family, ...]) -> None:
    """A family may join: its spec is valid and none of its names is taken."""
    validate(family, lambda bench, version: prompt_versions(bench, version, family))
    taken = {b.name for f in known for b in f.benchmarks} | {n for f in known for n in _own_names(f)}
    clash = sorted(({b.name for b in family.benchmarks} | set(_own_names(family))) & taken)
    if clash:
        raise UserError(f"Benchmark family {family.name}: the name {clash[0]!r} is already registered by another "
                        "family; rename it.")


def _own_names(family: Family) -> list[str]:
    return [g.name for g in family.groups] + [s.name for s in family.suites]


def register(family: Family) -> Family:
    """Add a family (its benchmarks, readers, groups and suites) to every lookup, validated; returns it."""
    _check_new(family, families())
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

    @property
    def metrics(self) -> tuple:
        """The task version's metrics, else the benchmark's."""
        return self.version.metrics or self.benchmark.metrics

    @property
    def headline(self) -> Headline:
        return self.version.headline or self.benchmark.headline

    @property
    def sources(self) -> dict:
        """The task version's own sources where it has them, else the benchmark's."""
        return dict(self.version.sources if self.version.sources is not None else self.benchmark.sources)


def benchmarks() -> tuple[Benchmark, ...]:
    return tuple(b for f in families() for b in f.benchmarks)


def benchmark(name: str) -> Benchmark | None:
    return next((b for b in benchmarks() if b.name == name), None)


def family_of(bench: Benchmark) -> Family:
    return next(f for f in families() if any(b is bench for b in f.benchmarks))


def prompt_versions(bench: Benchmark, version: TaskVersion, family: Family | None = None) -> list[str | None]:
    """The prompt versions a task version is offered in: its protocol, or every prompt file defining its template
    key."""
    if version.protocol is not None:
        return [version.protocol]
    if version.template is None:
        return [None]
    from lm_eval_ja.templates import supported_versions

    return list(supported_versions(version.template, (family or family_of(bench)).prompt_templates))


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
                for other, target in bench.other_names.items():
                    if tuple(target) == (version.version, prompt):
                        out[other] = ResolvedTask(other, bench, version, prompt)
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
        return (group.column or TaskName.parse(name).benchmark, group.headline) if group.headline else None
    resolved = resolve(name)
    if resolved is not None:
        return task_column(resolved), resolved.headline
    bench = benchmark(TaskName.parse(name).benchmark)
    return (bench.name, bench.headline) if bench else None


def task_column(resolved: ResolvedTask) -> str:
    """A task's leaderboard column: its benchmark, or — for a protocol other than the plain name's — the benchmark
    and the protocol (two protocols never share a column)."""
    bench, protocol = resolved.benchmark, resolved.version.protocol
    if protocol is None or (bench.alias is not None and bench.alias[1] == protocol):
        return bench.name
    return f"{bench.name}-{protocol}"


def column_order() -> list[str]:
    """Leaderboard column order: each family's benchmarks, then its groups' columns, in registry order."""
    out: list[str] = []
    for family in families():
        for b in family.benchmarks:
            out += [b.name] + [f"{b.name}-{v.protocol}" for v in b.versions
                               if v.protocol and not (b.alias and b.alias[1] == v.protocol)]
        out += [g.column or TaskName.parse(g.name).benchmark for g in family.groups]
    return list(dict.fromkeys(out))
