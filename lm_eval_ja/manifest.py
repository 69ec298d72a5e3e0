"""What produced a result: the run manifest and the timing block of result.json.

``manifest`` holds facts that are the same whenever the same inputs are run again — lm-eval-ja's version (and git
commit when run from a checkout), the versions of lm-eval, transformers, torch, peft and Python, the device and
dtype, the number of data-parallel processes, the model fingerprint, every data file's sha256, the command line,
and ``run``, the configuration the overwrite policy compares. ``timing`` holds what changes from run to run (start and end time, wall seconds per
task), so the ``results`` of two runs of the same inputs stay identical.
"""

from __future__ import annotations

import hashlib
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from lm_eval_ja.constants import __version__
from lm_eval_ja.modelargs import redact_model_args

PACKAGES = ("lm_eval", "transformers", "torch", "peft", "accelerate", "datasets")


def run_identity(cfg) -> dict[str, Any]:
    """The configuration that makes a run this run (what a rerun at the same path must match to resume)."""
    return {
        "model": cfg.model,
        "model_args": redact_model_args(cfg.model_args),
        "tasks": cfg.selection.names,
        "num_fewshot": cfg.selection.num_fewshot,
        "limit": cfg.selection.limits,
        "batch_size": cfg.batch_size,
        "device": cfg.device,
        "seed": cfg.seed,
        "bootstrap_iters": cfg.bootstrap_iters,
        "description_dict": cfg.description_dict,
        "apply_chat_template": cfg.apply_chat_template,
        "system_instruction": cfg.system_instruction,
        "fewshot_as_multiturn": cfg.fewshot_as_multiturn,
        # --num_samples / --num_judgments may grow at the same path: what is missing is computed, the rest kept
        **({"judge": cfg.judge} if cfg.judge else {}),
        **({"max_gen_toks": cfg.max_gen_toks, "think_tags": list(cfg.think_tags)}
           if cfg.judge or getattr(cfg, "chat", False) else {}),
        # the SYSTEM_PROMPT environment variable changes the 0.6 prompts (as in the reference): part of the run
        **({"SYSTEM_PROMPT": cfg.system_prompt_env} if getattr(cfg, "system_prompt_env", None) is not None else {}),
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package.replace("_", "-"))
    except metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the lm-eval-ja checkout this runs from (``+dirty`` with uncommitted changes), else None."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (commit + ("+dirty" if dirty else "")) if commit else None


@lru_cache(maxsize=None)
def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def command_line(argv: list[str] | None) -> str | None:
    """The command as typed, secrets in --model_args / --judge_model_args redacted."""
    if argv is None:
        return None
    out, redact_next = [], False
    for arg in argv:
        out.append(redact_model_args(arg) if redact_next else arg)
        redact_next = arg in ("--model_args", "--judge_model_args")
    return shlex.join([Path(sys.argv[0]).name] + out)


def build_manifest(cfg, lm, fingerprint: dict[str, Any], data_files: list[str]) -> dict[str, Any]:
    model = getattr(lm, "model", None)
    return {
        "lm_eval_ja": {"version": __version__, "git_commit": git_commit()},
        "packages": {**{p: _version(p) for p in PACKAGES}, "python": platform.python_version()},
        "device": str(getattr(lm, "device", cfg.device)),
        "processes": getattr(lm, "world_size", 1),  # data-parallel ranks (torchrun / accelerate launch)
        "dtype": str(getattr(model, "dtype", None)) if model is not None else None,
        "model_fingerprint": fingerprint,
        "data_files": {f: sha256_file(f) for f in sorted(set(data_files)) if Path(f).is_file()},
        "command": command_line(cfg.argv),
        "run": run_identity(cfg),
    }


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
