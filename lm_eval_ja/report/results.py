"""Read any result.json — ours (lm-eval 0.4) or the jp-stable harness's published ones — into typed records.

Schemas handled (see the jp-stable protocol §8.3/§8.5):

* jp-stable: ``{"results", "versions", "config"}``; ``config.num_fewshot`` is a list (paired positionally with the
  ``versions`` key order, which is the order the tasks really ran in) or, in older files, one int for every task;
  ``limit`` list/int/null; ``description_dict`` ``{}`` or null; ``results[task]`` may hold a ``details`` list.
* lm-eval 0.4: metric keys carry a filter suffix (``"acc,none"``, ``"acc_stderr,none"``), stderr may be ``"N/A"``,
  few-shot counts are in ``"n-shot"``, group aggregates are listed in ``"group_subtasks"``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lm_eval_ja.benchmarks import registry
from lm_eval_ja.benchmarks.spec import Headline
from lm_eval_ja.errors import UserError
from lm_eval_ja.modelargs import split_model_args
from lm_eval_ja.names import TaskName

#: How a model is named in reports: the result file's parent directory (what the reference's make_leaderboard
#: uses, and stable across runs whose ``pretrained=`` was a local path), or the ``pretrained=`` value of
#: ``model_args`` (falling back to the directory when there is none). A directory with a generic name
#: (:data:`GENERIC_FOLDERS`: ``out/result.json`` as the README writes it) names no model, so ``dir`` falls back to
#: the model the file itself names — ``pretrained=``, else ``model=`` (API models), else lm-eval's
#: ``model_name`` — and keeps the folder name only when the file names none.
ModelIdFrom = Literal["dir", "pretrained"]

#: Folder names that say where results go, not which model made them.
GENERIC_FOLDERS = frozenset({"out", "outs", "output", "outputs", "result", "results", "run", "runs", "eval", "evals",
                             "evaluation", "evaluations", "tmp", "temp", "logs"})

_STDERR_SUFFIX = "_stderr"
_PREFERRED_FILTER = "none"


@dataclass(frozen=True)
class TaskResult:
    """One task's scores for one model, normalised from any result.json schema."""

    model: str
    task: str
    family: str
    dataset_version: str | None
    prompt_version: str | None
    num_fewshot: int | None
    metrics: Mapping[str, float]
    stderr: Mapping[str, float]
    source: Path
    limit: int | float | None = None
    #: lm-eval 0.4 filter the bare metric names come from ("none" usually); None for jp-stable files.
    filter: str | None = None


@dataclass(frozen=True)
class ResultFile:
    """A parsed result.json: who was evaluated, how, and its tasks (in the order they ran)."""

    path: Path
    model_id: str
    model: str | None
    model_args: str
    pretrained: str | None
    schema: Literal["jp-stable", "lm-eval-0.4"]
    tasks: tuple[TaskResult, ...] = field(default_factory=tuple)
    #: results of tasks that a group of the same file stands for on a leaderboard (JMMLU subjects, MT-Bench
    #: categories): not columns of their own, but still read (per-category charts)
    members: tuple[TaskResult, ...] = field(default_factory=tuple)


def known_headline(task: str) -> tuple[str, Headline] | None:
    """``(column, headline)`` the registry declares for a result name; None for a task that is not lm-eval-ja's.

    Tried in order: the name itself (:func:`registry.headline`), the task it resolves to, then the name with its
    trailing ``-<part>`` s removed one by one, so a protocol or version suffix the name parser does not know
    (``ja_mt_bench_writing-fastchat``, ``ja_mt_bench-stability-fd01e11``) still finds its benchmark or group.
    """
    known = registry.headline(task)
    if known:
        return known
    resolved = registry.resolve(task)
    if resolved is not None:
        rule = getattr(resolved, "headline", None) or resolved.benchmark.headline  # a task version's own, if any
        if rule is not None:
            return resolved.benchmark.name, rule
    name = task
    while "-" in name:
        name = name.rsplit("-", 1)[0]
        known = registry.headline(name)
        if known:
            return known
    return None


def task_identity(name: str) -> object:
    """What a result name runs — (benchmark, task version, prompt version) — so an alias (``ja_mt_bench_writing``)
    and the full name (``ja_mt_bench_writing-fastchat``) are told to be one task; the name itself when unknown."""
    resolved = registry.resolve(name)
    if resolved is None:
        return name
    return (resolved.benchmark.name, resolved.version.version, resolved.prompt_version)


def group_members(group: str, names: Iterable[str]) -> dict[str, str]:
    """``{leaf: result name}`` for the leaves of ``group`` found among ``names``, by name or as an alias of one
    (result files written before a rename, or by ``--tasks`` naming a member by its alias), in the group's order."""
    names = list(names)
    by_identity: dict[object, str] = {}
    for name in names:
        by_identity.setdefault(task_identity(name), name)
    out = {}
    for leaf in registry.group_leaves(group):
        found = leaf if leaf in names else by_identity.get(task_identity(leaf))
        if found is not None:
            out[leaf] = found
    return out


def task_family(task: str) -> str:
    """The leaderboard column of a result name: its benchmark (``jcommonsenseqa-1.1-0.4`` → ``jcommonsenseqa``), or
    the column its group declares (``jmmlu-llmjp-1.0`` → ``jmmlu``)."""
    known = known_headline(task)
    return known[0] if known else TaskName.parse(task).benchmark


def _pretrained(model_args: Any, key: str = "pretrained") -> str | None:
    try:
        return split_model_args(model_args).get(key) or None
    except UserError:  # a published file with a malformed model_args string: no pretrained= to show
        return None


def model_id_of(path: Path, data: dict, model_id_from: ModelIdFrom) -> str:
    """The name a result file's model gets in reports (see :data:`ModelIdFrom`)."""
    model_args = (data.get("config") or {}).get("model_args") or ""
    named = _pretrained(model_args) or _pretrained(model_args, "model") or data.get("model_name") or None
    folder = path.resolve().parent.name
    if model_id_from == "pretrained" or folder.lower() in GENERIC_FOLDERS:
        return str(named) if named else folder
    return folder


def load_result_file(path: str | Path, model_id_from: ModelIdFrom = "dir") -> ResultFile:
    """Parse one result.json; raise :class:`UserError` if it is missing or not a result file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; pass a result.json written by lm-eval(-ja) or jp-stable main.py.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is not valid JSON ({exc}); pass a result.json written by an evaluation run.") from exc
    if not _looks_like_results(data):
        raise UserError(
            f"{path} is not a result.json (no \"results\" object of per-task metrics); "
            "pass the file an evaluation run wrote with --output_path."
        )
    return _parse(data, path, model_id_from)


def is_result_file(path: Path) -> bool:
    """Cheap check used when scanning directories: does this JSON parse into a result file?"""
    try:
        return _looks_like_results(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False


def find_result_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """Expand files and directories (searched recursively for ``*.json``) into (result files, skipped files).

    A file named explicitly must exist (checked later when loaded); inside a directory, JSON files that are not
    result files (configs, tokenizer files, ...) are skipped and reported rather than fatal.
    """
    found: list[Path] = []
    skipped: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            in_dir = sorted(p.rglob("*.json"))
            results = [f for f in in_dir if is_result_file(f)]
            if not results:
                raise UserError(f"{p} contains no result.json files; pass the folder an evaluation run wrote to.")
            found.extend(results)
            skipped.extend(sorted(set(in_dir) - set(results)))
        elif p.exists():
            found.append(p)
        else:
            raise UserError(f"{p}: no such file or directory; pass result.json files or folders that contain them.")
    return found, skipped


def load_results(
    paths: Iterable[str | Path], model_id_from: ModelIdFrom = "dir"
) -> tuple[list[ResultFile], list[Path]]:
    """Load every result file under ``paths``; returns (parsed files, skipped non-result JSON files)."""
    files, skipped = find_result_files(paths)
    return [load_result_file(f, model_id_from) for f in files], skipped


# ---------------------------------------------------------------------------------------------------------------


def _looks_like_results(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and isinstance(data.get("results"), dict)
        and bool(data["results"])
        and all(isinstance(v, dict) for v in data["results"].values())
    )


def _parse(data: dict, path: Path, model_id_from: ModelIdFrom) -> ResultFile:
    config = data.get("config") or {}
    model_args = config.get("model_args") or ""
    pretrained = _pretrained(model_args)
    model_id = model_id_of(path, data, model_id_from)
    schema: Literal["jp-stable", "lm-eval-0.4"] = (
        "lm-eval-0.4" if ("n-shot" in data or "configs" in data or _has_filter_keys(data["results"])) else "jp-stable"
    )
    fewshot = _fewshot_per_task(data, schema)
    limits = _per_task(config.get("limit"), list(data.get("versions") or data["results"]))
    groups = {g for g, subtasks in (data.get("group_subtasks") or {}).items() if subtasks}
    # One of our groups with a headline (JMMLU) stands for its members: they are not columns of their own.
    ours = [g for g in data["results"] if known_headline(g) and g in registry.groups()]
    members = {m for g in ours for m in [*group_members(g, data["results"]).values(), *registry.groups()[g].members]}
    groups -= set(ours)
    members -= set(ours)
    versions = data.get("versions") or {}

    tasks, member_results = [], []
    for name, raw in data["results"].items():
        if name in groups:  # an aggregate over its subtasks, which are listed themselves
            continue
        metrics, stderr, filt = _split_metrics(raw)
        parsed = TaskName.parse(name)
        dataset, prompt = parsed.task_version, parsed.prompt_version
        if dataset is None and parsed.is_plain and name in versions:
            dataset = str(versions[name])
        if prompt is None and parsed.is_plain:
            bench = registry.benchmark(name)
            prompt = bench.plain_name_prompt if bench else None
        (member_results if name in members else tasks).append(
            TaskResult(
                model=model_id,
                task=name,
                family=task_family(name),
                dataset_version=dataset,
                prompt_version=prompt,
                num_fewshot=fewshot.get(name),
                metrics=metrics,
                stderr=stderr,
                source=path,
                limit=limits.get(name),
                filter=filt,
            )
        )
    return ResultFile(
        path=path,
        model_id=model_id,
        model=config.get("model"),
        model_args=model_args if isinstance(model_args, str) else ",".join(f"{k}={v}" for k, v in model_args.items()),
        pretrained=pretrained,
        schema=schema,
        tasks=tuple(tasks),
        members=tuple(member_results),
    )


def _has_filter_keys(results: dict) -> bool:
    return any("," in k for metrics in results.values() for k in metrics)


def _fewshot_per_task(data: dict, schema: str) -> dict[str, int | None]:
    if schema == "lm-eval-0.4":
        nshot = data.get("n-shot") or {}
        configs = data.get("configs") or {}
        out = {}
        for task in data["results"]:
            n = nshot.get(task, (configs.get(task) or {}).get("num_fewshot"))
            out[task] = int(n) if isinstance(n, (int, float)) else None
        return out
    # jp-stable: the versions key order is the order the tasks ran in, which is what num_fewshot lines up
    # with (§8.5); the results key order is not.
    order = list(data.get("versions") or data["results"])
    return _per_task((data.get("config") or {}).get("num_fewshot"), order)


def _per_task(value: Any, order: list[str]) -> dict[str, Any]:
    """Pair a per-task list positionally with ``order``; broadcast a scalar; unknown (absent) on a mismatch."""
    if isinstance(value, list):
        if len(value) != len(order):
            return {}
        return dict(zip(order, value))
    if value is None:
        return {}
    return {t: value for t in order}


def _split_metrics(raw: dict) -> tuple[dict[str, float], dict[str, float], str | None]:
    """Separate values from stderrs and strip lm-eval 0.4 filter suffixes.

    Bare names come from the "none" filter when there is one, else from the first filter seen; values under other
    filters stay available as ``"metric,filter"``.
    """
    by_filter: dict[str | None, tuple[dict[str, float], dict[str, float]]] = {}
    for key, value in raw.items():
        if not _is_number(value):  # "details" lists, "alias" strings, "N/A" stderrs
            continue
        name, _, filt = key.partition(",")
        values, errors = by_filter.setdefault(filt or None, ({}, {}))
        if name.endswith(_STDERR_SUFFIX):
            errors[name[: -len(_STDERR_SUFFIX)]] = float(value)
        else:
            values[name] = float(value)
    if not by_filter:
        return {}, {}, None
    chosen = _PREFERRED_FILTER if _PREFERRED_FILTER in by_filter else next(iter(by_filter))
    metrics, stderr = dict(by_filter[chosen][0]), dict(by_filter[chosen][1])
    for filt, (values, errors) in by_filter.items():
        if filt != chosen:
            metrics.update({f"{k},{filt}": v for k, v in values.items()})
            stderr.update({f"{k},{filt}": v for k, v in errors.items()})
    return metrics, stderr, chosen


def _is_number(value: Any) -> bool:
    # bool is an int subclass; a bare true/false is a per-doc flag, not a score
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# lm-eval 0.4 names per-task sample logs samples_<task>_<ISO date with ':' replaced by '-'>.jsonl
SAMPLES_NAME = re.compile(r"^samples_(?P<task>.+)_(?P<date>\d{4}-\d{2}-\d{2}T[0-9.\-]+)\.jsonl$")


# lm-eval-ja's main.py names them <result stem>.samples.<task>.jsonl (no date: reruns are byte-identical)
OUR_SAMPLES_NAME = re.compile(r"^.+\.samples\.(?P<task>[^/]+)\.jsonl$")


def task_of_samples_file(path: Path) -> str | None:
    """The task name in an lm-eval ``samples_<task>_<date>.jsonl`` or our ``<stem>.samples.<task>.jsonl`` name."""
    m = SAMPLES_NAME.match(path.name) or OUR_SAMPLES_NAME.match(path.name)
    return m.group("task") if m else None
