"""Everything that can be checked before the model loads, checked before the model loads.

Flags, the output path and the overwrite policy are checked by the command line (:mod:`lm_eval_ja.outputs`);
here: every selected task's data is read and validated (each file present, non-empty, valid UTF-8 and
JSON/CSV/XML, each row with the fields its converter needs) and every few-shot count fits its task's shot pool,
and the ``--description_dict_path`` file is an object of strings. Each problem is one :class:`UserError`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from lm_eval_ja.benchmarks import registry
from lm_eval_ja.errors import UserError
from lm_eval_ja.selection import Selection
from lm_eval_ja.documents import Documents, check_num_fewshot, load_documents

log = logging.getLogger("lm_eval_ja")


def check_data(selection: Selection, data_dir: str | None, say=print) -> dict[str, Documents]:
    """Read and validate every selected task's data; the documents by task name, for the run to reuse."""
    out: dict[str, Documents] = {}
    for task in selection.tasks:
        resolved = registry.resolve(task.name)
        if resolved is None:  # an lm-eval built-in task: lm-eval reads its data
            continue
        documents = load_documents(task.name, resolved.benchmark, data_dir)
        check_num_fewshot(task.name, resolved.benchmark, len(documents.pool), task.num_fewshot)
        if resolved.benchmark.check_documents is not None:
            resolved.benchmark.check_documents(task.name, resolved, documents)
        out[task.name] = documents
    if out:
        say(f"checked the data of {len(out)} task(s): {sum(len(d.evaluated) for d in out.values())} documents",
            flush=True)
    return out


def load_description_dict(path: str | None, selection: Selection) -> dict[str, str] | None:
    """``--description_dict_path``: a JSON object of task name → description string (unknown names are warned of)."""
    if not path:
        return None
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"--description_dict_path {path}: cannot read a JSON object ({exc}).") from None
    if not isinstance(value, dict):
        raise UserError(f"--description_dict_path {path} holds a JSON {type(value).__name__}, not an object of "
                        'task name to description, e.g. {"jnli-1.1-0.3": "..."}.')
    for key, text in value.items():
        if not isinstance(text, str):
            raise UserError(f"--description_dict_path {path}: the description of {key!r} is a JSON "
                            f"{type(text).__name__}, not a string.")
    unknown = sorted(set(value) - set(selection.names))
    if unknown:
        log.warning("--description_dict_path names tasks that are not selected (ignored): %s", ", ".join(unknown))
        print(f"WARNING: --description_dict_path names tasks that are not selected (ignored): {', '.join(unknown)}",
              flush=True)
    return value
