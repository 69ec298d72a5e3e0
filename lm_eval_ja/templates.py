"""Versioned prompt templates: prompt styles and each family's prompt files, composed into a task's prompt.

Each file in ``prompt_templates/`` is the style of one prompt version (0.1 jgpt, 0.2 fintan, ...): separators and
a skeleton (``description`` and ``text`` with ``{instruction}`` / ``{input}`` slots), naming no benchmark. A
family's ``prompts/<version>.yaml`` (beside its module) gives the ``tasks:`` entries that fill the skeleton, or
entries with their own ``description`` and ``text``.
A version may ``extends:`` another (0.5 is 0.4 with real newlines: ``{NL}`` is the file's
``newline``). Composition yields format strings over a document's fields, rendered with
:meth:`PromptTemplate.doc_to_text` and friends.

A task entry may also name extra strings (any key not in ``_FIELDS``, e.g. XLSum's ``ctx_prompt`` /
``summary_prompt`` used by its prompt truncation). They are composed like the other strings, are available as
``{name}`` slots in the entry's description/text/target, and end up in :attr:`PromptTemplate.extras`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from lm_eval_ja.constants import TEMPLATES_DIR
from lm_eval_ja.errors import UserError

# Keys a task entry may override; everything else in a file is metadata.
_FIELDS = ("description", "text", "target", "sep", "fewshot_sep", "labels", "instruction", "input",
           "system_prompt", "newline")


@dataclass(frozen=True)
class PromptTemplate:
    """One prompt version composed for one task; strings are ``str.format`` templates over doc fields."""

    task_key: str
    prompt_version: str
    name: str
    description: str
    text: str
    target: str
    sep: str
    fewshot_sep: str
    labels: tuple[str, ...] | None = None
    #: Extra composed strings of the task entry (keys outside ``_FIELDS``), e.g. XLSum's truncation markers.
    extras: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)

    def fields(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        """The doc's fields plus ``label0..`` (label strings) and ``gold_choice`` (the gold answer text)."""
        out = dict(doc)
        choices = list(self.labels) if self.labels is not None else doc.get("choices")
        if self.labels is not None:
            out["choices"] = list(self.labels)
            out.update({f"label{i}": lab for i, lab in enumerate(self.labels)})
        if choices is not None and isinstance(doc.get("label"), int):
            out["gold_choice"] = choices[doc["label"]]
        return out

    def render_description(self, doc: Mapping[str, Any] | None = None) -> str:
        return self.description.format_map(self.fields(doc or {}))

    def doc_to_text(self, doc: Mapping[str, Any]) -> str:
        return self.text.format_map(self.fields(doc))

    def doc_to_target(self, doc: Mapping[str, Any]) -> str:
        return self.target.format_map(self.fields(doc))

    def doc_to_choice(self, doc: Mapping[str, Any]) -> list[str]:
        return list(self.labels) if self.labels is not None else list(doc["choices"])


def _read(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _read_folder(folder: Path | None) -> dict[str, dict[str, Any]]:
    raw: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.yaml")) if folder is not None and folder.is_dir() else ():
        data = _read(path) or {}
        data["_path"] = str(path)
        raw[str(data["prompt_version"])] = data
    return raw


@lru_cache(maxsize=None)
def template_files(templates_dir: str | None = None) -> dict[str, dict[str, Any]]:
    """Every prompt version a family can use, keyed by prompt version, with ``extends`` resolved.

    A version is its style (``prompt_templates/<version>.yaml``: separators, description and text skeletons, system
    prompt) with the family's own file of that version (``templates_dir``, the ``prompts/`` folder beside the family
    module: its ``tasks`` entries, and any field it overrides) on top; a version that ``extends`` another starts
    from that one, tasks included.
    """
    styles = _read_folder(TEMPLATES_DIR)
    own = _read_folder(Path(templates_dir)) if templates_dir else {}
    raw = {v: {**styles.get(v, {}), **own.get(v, {}), "tasks": {**(styles.get(v, {}).get("tasks") or {}),
                                                                 **(own.get(v, {}).get("tasks") or {})}}
           for v in {*styles, *own}}

    def resolved(version: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
        data = raw[version]
        parent = data.get("extends")
        if parent is None:
            return data
        if parent in seen or parent not in raw:
            raise ValueError(f"{data['_path']}: cannot extend prompt version {parent!r}")
        merged = dict(resolved(str(parent), seen + (version,)))
        merged.pop("extends", None)
        merged.update({k: v for k, v in data.items() if k != "tasks"})
        merged["tasks"] = {**merged.get("tasks", {}), **(data.get("tasks") or {})}
        return merged

    return {v: resolved(v) for v in sorted(raw)}


def supported_versions(task_key: str, templates_dir: str | None = None) -> list[str]:
    """Prompt versions that define ``task_key``, in version order."""
    files = template_files(templates_dir)
    return sorted((v for v, f in files.items() if task_key in (f.get("tasks") or {})), key=version_key)


def version_key(v: str) -> tuple[tuple[int, int | str], ...]:
    # "0.2.1" sorts numerically; names such as "llmjp-1.0" sort after the jp-stable numbers.
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in v.split("."))


def load_template(
    task_key: str,
    prompt_version: str,
    *,
    default_target: str,
    labels: Sequence[str] | None = None,
    templates_dir: str | None = None,
) -> PromptTemplate:
    """Compose prompt version ``prompt_version`` for ``task_key``.

    ``default_target`` and ``labels`` come from the task (its data); a template may override both.
    """
    files = template_files(templates_dir)
    prompt_version = str(prompt_version)
    spec = files.get(prompt_version)
    if spec is None or task_key not in (spec.get("tasks") or {}):
        known = ", ".join(supported_versions(task_key, templates_dir)) or "none"
        raise UserError(
            f"Prompt version {prompt_version!r} is not defined for {task_key}; supported versions: {known}."
        )
    entry = {k: v for k, v in spec.items() if k in _FIELDS}
    task_entry = spec["tasks"][task_key] or {}
    entry.update({k: v for k, v in task_entry.items() if k in _FIELDS})
    extra_raw = {k: v for k, v in task_entry.items() if k not in _FIELDS and isinstance(v, str)}
    entry.setdefault("target", default_target)
    if labels is not None:
        entry.setdefault("labels", list(labels))

    system_prompt = os.environ.get("SYSTEM_PROMPT", entry.get("system_prompt", ""))
    slots = {
        "{instruction}": entry.get("instruction", ""),
        "{input}": entry.get("input", ""),
        "{system_prompt}": system_prompt.replace("{", "{{").replace("}", "}}"),
    }
    newline = entry.get("newline", "\n")

    def compose(s: str, extras: Mapping[str, str] | None = None) -> str:
        for slot, value in slots.items():
            s = s.replace(slot, value)
        s = s.replace("{NL}", newline)
        for name, value in (extras or {}).items():  # a task entry's extra strings are slots too
            s = s.replace("{" + name + "}", value)
        return s

    extras = {k: compose(v) for k, v in extra_raw.items()}
    compose = partial(compose, extras=extras)

    label_list = entry.get("labels")
    return PromptTemplate(
        task_key=task_key,
        prompt_version=prompt_version,
        name=spec.get("name", ""),
        description=compose(entry.get("description", "")),
        text=compose(entry["text"]),
        target=compose(entry["target"]),
        sep=compose(entry.get("sep", "\n")),
        fewshot_sep=compose(entry.get("fewshot_sep", "\n\n")),
        labels=tuple(compose(lab) for lab in label_list) if label_list is not None else None,
        extras=extras,
    )
